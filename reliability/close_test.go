package reliability_test

import (
	"context"
	"encoding/binary"
	"io"
	"os"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/reliability/internal/stream"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

// TestCloseAcrossProcesses (RELIABILITY item 8): ring.TestCloseWakesBlocked
// and TestConsumerCloseStopsProducer close from another goroutine; here the
// peer is another process. A consumer process that closes wakes this
// process's producer blocked on a full ring (ErrPeerClosed); a producer process
// that closes wakes this process's consumer blocked on an empty ring, which
// drains and gets io.EOF. Both promptly: far sooner than a liveness
// interval (an hour here, so only the wake-up can end the wait). Later
// calls return the same error.
func TestCloseAcrossProcesses(t *testing.T) {
	opts := ring.Options{Liveness: time.Hour}
	sz := stream.Upto(36)

	t.Run("consumer-closes", func(t *testing.T) {
		shmtest.NoLeaks(t)
		r, key := newRing(t, ring.Config{SlotSize: 40, Slots: 8, Options: opts})
		s := newSender(t, r, sz)
		c := startPeer(t, nil, "consume", key, "-count", "20", "-max", "36", "-liveness", "1h")
		c.ready(t)
		var err error
		for err == nil {
			if err = s.p.Send(context.Background(), s.sz.Put(s.buf, s.next)); err == nil {
				s.next++
			}
		}
		require.ErrorIs(t, err, ring.ErrPeerClosed)
		require.Contains(t, err.Error(), "consumer has closed")
		require.GreaterOrEqual(t, s.next, uint64(20), "20 read")
		require.LessOrEqual(t, s.next, uint64(20+8), "20 read, at most 8 left in the ring")
		c.waitOK(t, time.Minute)
		for range 2 {
			require.ErrorIs(t, s.p.Send(context.Background(), []byte("late")), ring.ErrPeerClosed,
				"every send after the consumer closed fails")
		}
	})

	t.Run("producer-closes", func(t *testing.T) {
		shmtest.NoLeaks(t)
		r, key := newRing(t, ring.Config{SlotSize: 40, Slots: 8, Options: opts})
		rc := newReceiver(t, r, sz)
		// The peer sends 20, waits a moment (so that this side blocks on
		// the empty ring), then closes.
		p := startPeer(t, nil, "produce", key, "-count", "20", "-max", "36", "-liveness", "1h", "-sleep", "200ms")
		p.ready(t)
		start := time.Now()
		rc.toEOF(time.Minute)
		require.Equal(t, uint64(20), rc.next)
		require.Less(t, time.Since(start), time.Minute)
		for range 2 {
			_, err := rc.c.Recv(context.Background(), rc.buf)
			require.ErrorIs(t, err, io.EOF)
			_, err = rc.c.TryRecv(rc.buf)
			require.ErrorIs(t, err, io.EOF)
		}
		p.waitOK(t, time.Minute)
	})
}

// TestUseAfterClose (RELIABILITY item 8): after Ring.Close the segment is
// unmapped; every method of the producer and the consumer it handed out
// returns ErrClosed without touching it (a touch would fault: SIGSEGV).
func TestUseAfterClose(t *testing.T) {
	shmtest.NoLeaks(t)
	r, _ := newRing(t, ring.Config{SlotSize: 40, Slots: 8})
	p, err := r.Producer()
	require.NoError(t, err)
	c, err := r.Consumer()
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, p.Send(ctx, []byte("before")))
	require.NoError(t, r.Close())
	_, err = r.Segment().Bytes()
	require.ErrorIs(t, err, shmseg.ErrDetached, "unmapped")
	buf := make([]byte, 36)

	calls := map[string]func() error{
		"Send":         func() error { return p.Send(ctx, buf) },
		"TrySend":      func() error { return p.TrySend(buf) },
		"SendBatch":    func() error { _, err := p.SendBatch(ctx, [][]byte{buf}); return err },
		"Reserve":      func() error { _, err := p.Reserve(ctx, 4); return err },
		"ReserveBatch": func() error { _, err := p.ReserveBatch(ctx, 2, 4); return err },
		"Commit":       p.Commit,
		"P.Close":      p.Close,
		"Recv":         func() error { _, err := c.Recv(ctx, buf); return err },
		"TryRecv":      func() error { _, err := c.TryRecv(buf); return err },
		"Peek":         func() error { _, err := c.Peek(ctx); return err },
		"Release":      c.Release,
		"RecvBatch":    func() error { _, err := c.RecvBatch(ctx, 0, func([]byte) error { return nil }); return err },
		"C.Close":      c.Close,
		"R.Close":      r.Close,
		"Producer":     func() error { _, err := r.Producer(); return err },
		"Consumer":     func() error { _, err := r.Consumer(); return err },
	}
	for name, call := range calls {
		for range 2 {
			require.ErrorIs(t, call(), ring.ErrClosed, name)
		}
	}
}

// TestBlockedWaiterDoesNotStallRuntime (RELIABILITY item 5, on the ring):
// futex.TestWaitDoesNotStallScheduler shows it for a bare futex wait; here
// a consumer blocked in Recv on a shared ring, in futex mode, at
// GOMAXPROCS=1, while another goroutine runs the garbage collector and
// other work.
func TestBlockedWaiterDoesNotStallRuntime(t *testing.T) {
	shmtest.NoLeaks(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	r, _ := newRing(t, ring.Config{SlotSize: 40, Slots: 8, Options: ring.Options{
		Wait: ring.WaitStrategy{Mode: ring.WaitFutex}, Liveness: time.Hour}})
	p, err := r.Producer()
	require.NoError(t, err)
	c, err := r.Consumer()
	require.NoError(t, err)
	got := make(chan error, 1)
	go func() {
		_, err := c.Recv(context.Background(), make([]byte, 36))
		got <- err
	}()
	time.Sleep(20 * time.Millisecond) // the Recv goroutine gets the P, and sleeps
	gcDone := make(chan int)
	go func() {
		sum := 0
		for i := range 50 {
			runtime.GC()
			sum += len(make([]byte, 1<<10+i))
		}
		gcDone <- sum
	}()
	select {
	case <-gcDone:
	case <-time.After(time.Minute):
		t.Fatal("50 GCs did not finish in a minute with a consumer blocked in Recv")
	}
	select {
	case err := <-got:
		t.Fatalf("Recv returned before a message was sent: %v", err)
	default:
	}
	require.NoError(t, p.Send(context.Background(), []byte("wake")))
	select {
	case err := <-got:
		require.NoError(t, err)
	case <-time.After(time.Minute):
		t.Fatal("Recv not woken by Send")
	}
}

// TestOpenRealSegment (RELIABILITY item 15): ring.TestValidate corrupts
// headers in ordinary memory; here through Open on real segments, where the
// size that counts is the kernel's: a header that claims more slots than
// the segment holds, a segment smaller than a header, and a segment of
// zeros made by this process (a creator that has not published it yet:
// ring.TestOpenNotRing has the creators that are gone). Each fails with
// its own error and nothing panics.
func TestOpenRealSegment(t *testing.T) {
	shmtest.NoLeaks(t)
	opts := &ring.Options{ReadyTimeout: 20 * time.Millisecond}
	segment := func(size int, fill func(b []byte)) shmseg.Key { return shmtest.PlainSegment(t, size, fill) }
	// A real header for 16 slots of 64 bytes, in a segment made for 8.
	good, err := ring.SegmentSize(64, 8)
	require.NoError(t, err)
	key := segment(good, func(b []byte) {
		src, err := ring.SegmentSize(64, 16)
		require.NoError(t, err)
		copy(b, make16(t, src)[:ring.HeaderSize])
	})
	_, err = ring.Open(key, *opts)
	require.ErrorIs(t, err, ring.ErrLayout)
	require.Contains(t, err.Error(), "memory is 1536")

	key = segment(100, func([]byte) {})
	_, err = ring.Open(key, *opts)
	require.ErrorIs(t, err, ring.ErrLayout)
	require.Contains(t, err.Error(), "100")

	key = segment(good, func([]byte) {})
	_, err = ring.Open(key, *opts)
	require.ErrorIs(t, err, ring.ErrNotReady)
}

// make16 returns the memory of a fresh ring of 16 slots of 64 bytes.
func make16(t testing.TB, size int) []byte {
	buf := make([]byte, size)
	_, err := ring.NewIn(buf, ring.Config{SlotSize: 64, Slots: 16})
	require.NoError(t, err)
	return buf
}

// TestSegmentAlignment (RELIABILITY item 19, the part ring.TestLayout
// cannot see): the kernel maps a segment on a page boundary, so every
// offset TestLayout pins (cursors 8-aligned, futex words 4-aligned, each on
// a 128-byte block of its own) holds in memory, in every process.
func TestSegmentAlignment(t *testing.T) {
	shmtest.NoLeaks(t)
	for _, slots := range []int{2, 4096} {
		r, key := newRing(t, ring.Config{SlotSize: 72, Slots: slots})
		r2, err := ring.Open(key, ring.Options{})
		require.NoError(t, err)
		for _, rr := range []*ring.Ring{r, r2} {
			b, err := rr.Segment().Bytes()
			require.NoError(t, err)
			base := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
			require.Zero(t, base%uintptr(os.Getpagesize()), "segment base %#x", base)
			require.Equal(t, ring.Magic, binary.LittleEndian.Uint64(b[ring.FieldOffset("magic"):]), "the magic where the layout puts it")
		}
		require.NoError(t, r2.Close())
	}
}
