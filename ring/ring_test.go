package ring_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/app/wire"
	"github.com/shmring/shmring/internal/platform/fence"
	"github.com/shmring/shmring/ring"
)

// heapRing makes a ring over ordinary memory (the race detector sees it)
// and claims both roles.
func heapRing(t testing.TB, cfg ring.Config) (*ring.Ring, *ring.Producer, *ring.Consumer) {
	t.Helper()
	cfg.Liveness = max(cfg.Liveness, 50*time.Millisecond)
	r, err := ring.New(cfg)
	require.NoError(t, err)
	p, err := r.Producer()
	require.NoError(t, err)
	c, err := r.Consumer()
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close() })
	return r, p, c
}

// Test messages are the commands' (internal/app/wire): a CRC32C over a
// sequence number, a send time (0 here) and filler, at least
// wire.HeaderSize bytes.
func fill(msg []byte, seq uint64) {
	wire.Fill(msg)
	wire.Put(msg, seq, 0)
}

// check verifies a message written by fill for the expected sequence number.
func check(msg []byte, want uint64) error {
	seq, _, ok := wire.Check(msg)
	switch {
	case !ok:
		return fmt.Errorf("message %d: CRC32C mismatch, or %d bytes: too short", want, len(msg))
	case seq != want:
		return fmt.Errorf("got message %d, want %d", seq, want)
	}
	return nil
}

// TestSendRecvWrap fills each ring to a different depth every round, so the
// cursors cross the wrap point at every offset, with every message length
// the slot holds; a full ring refuses TrySend and an empty one TryRecv.
func TestSendRecvWrap(t *testing.T) {
	ctx := context.Background()
	for _, slots := range []int{2, 4, 8, 64, 1024} {
		t.Run(fmt.Sprint(slots), func(t *testing.T) {
			_, p, c := heapRing(t, ring.Config{SlotSize: 32, Slots: slots})
			buf := make([]byte, 28)
			msg := make([]byte, 28)
			var sent, got int
			for round := range 2*slots + 7 {
				k := 1 + (round*7)%slots
				if round%5 == 0 {
					k = slots
				}
				for range k {
					m := msg[:sent%29]
					for j := range m {
						m[j] = byte(sent + j)
					}
					require.NoError(t, p.Send(ctx, m))
					sent++
				}
				if k == slots {
					require.ErrorIs(t, p.TrySend([]byte{1}), ring.ErrFull)
				}
				for range k {
					n, err := c.Recv(ctx, buf)
					require.NoError(t, err)
					if n != got%29 {
						t.Fatalf("message %d: length %d, want %d", got, n, got%29)
					}
					for j := range n {
						if buf[j] != byte(got+j) {
							t.Fatalf("message %d: byte %d is %d, want %d", got, j, buf[j], byte(got+j))
						}
					}
					got++
				}
				_, err := c.TryRecv(buf)
				require.ErrorIs(t, err, ring.ErrEmpty)
			}
		})
	}
}

func TestMessageTooLargeAndShortBuffer(t *testing.T) {
	ctx := context.Background()
	_, p, c := heapRing(t, ring.Config{SlotSize: 16, Slots: 4})
	require.Equal(t, 12, p.MaxMessage())
	err := p.Send(ctx, make([]byte, 13))
	require.ErrorIs(t, err, ring.ErrMessageTooLarge)
	require.Contains(t, err.Error(), "13 bytes")
	require.ErrorIs(t, p.TrySend(make([]byte, 13)), ring.ErrMessageTooLarge)
	_, err = p.Reserve(ctx, 13)
	require.ErrorIs(t, err, ring.ErrMessageTooLarge)
	_, err = p.SendBatch(ctx, [][]byte{{1}, make([]byte, 20)})
	require.ErrorIs(t, err, ring.ErrMessageTooLarge)
	require.Contains(t, err.Error(), "message 1")

	require.NoError(t, p.Send(ctx, []byte("hello world!")))
	n, err := c.Recv(ctx, make([]byte, 5))
	require.ErrorIs(t, err, io.ErrShortBuffer)
	require.Equal(t, 12, n, "short buffer reports the length needed")
	buf := make([]byte, 12)
	n, err = c.Recv(ctx, buf) // the message stayed
	require.NoError(t, err)
	require.Equal(t, "hello world!", string(buf[:n]))
}

func TestReserveCommit(t *testing.T) {
	ctx := context.Background()
	_, p, c := heapRing(t, ring.Config{SlotSize: 16, Slots: 4})
	// A batch of three reservations, invisible until Commit.
	for i := range 3 {
		b, err := p.Reserve(ctx, 4)
		require.NoError(t, err)
		require.Len(t, b, 4)
		binary.LittleEndian.PutUint32(b, uint32(i))
	}
	_, err := c.TryRecv(make([]byte, 12))
	require.ErrorIs(t, err, ring.ErrEmpty, "reserved messages are not visible before Commit")
	b, err := p.Reserve(ctx, 0)
	require.NoError(t, err)
	require.Empty(t, b)
	// Full with reservations pending: ErrFull, not a wait.
	_, err = p.Reserve(ctx, 4)
	require.ErrorIs(t, err, ring.ErrFull)
	require.NoError(t, p.Commit())
	require.NoError(t, p.Commit(), "committing nothing is fine")
	buf := make([]byte, 12)
	for i := range 3 {
		n, err := c.Recv(ctx, buf)
		require.NoError(t, err)
		require.Equal(t, 4, n)
		require.Equal(t, uint32(i), binary.LittleEndian.Uint32(buf))
	}
	n, err := c.Recv(ctx, buf)
	require.NoError(t, err)
	require.Zero(t, n)
}

func TestReserveBatch(t *testing.T) {
	ctx := context.Background()
	_, p, c := heapRing(t, ring.Config{SlotSize: 16, Slots: 8})
	buf := make([]byte, 12)
	recv := func(wantLen int, want byte) {
		t.Helper()
		n, err := c.Recv(ctx, buf)
		require.NoError(t, err)
		require.Equal(t, wantLen, n)
		if n > 0 {
			require.Equal(t, want, buf[0])
		}
	}

	// Each slot is exactly n bytes, capacity included: an append cannot
	// reach the next slot. Nothing is visible before Commit.
	b, err := p.ReserveBatch(ctx, 3, 4)
	require.NoError(t, err)
	require.Equal(t, 3, b.Len())
	for i := range b.Len() {
		s := b.Slot(i)
		require.Len(t, s, 4)
		require.Equal(t, 4, cap(s))
		s[0] = byte(10 + i)
	}
	_, err = c.TryRecv(buf)
	require.ErrorIs(t, err, ring.ErrEmpty, "reserved messages are not visible before Commit")

	// Asked for more than is free: what is free, after a Reserve.
	one, err := p.Reserve(ctx, 2)
	require.NoError(t, err)
	one[0] = 13
	b, err = p.ReserveBatch(ctx, 100, 1)
	require.NoError(t, err)
	require.Equal(t, 4, b.Len())
	for i := range b.Len() {
		b.Slot(i)[0] = byte(14 + i)
	}
	// Full with reservations pending: ErrFull, not a wait.
	_, err = p.ReserveBatch(ctx, 1, 1)
	require.ErrorIs(t, err, ring.ErrFull)
	require.NoError(t, p.Commit())
	for i := range 3 {
		recv(4, byte(10+i))
	}
	recv(2, 13)
	for i := range 4 {
		recv(1, byte(14+i))
	}

	// k <= 0: every free slot; zero-length messages.
	b, err = p.ReserveBatch(ctx, 0, 0)
	require.NoError(t, err)
	require.Equal(t, 8, b.Len())
	require.Empty(t, b.Slot(7))
	require.NoError(t, p.Commit())
	for range 8 {
		recv(0, 0)
	}

	// An index out of range panics, as a slice's does, and says which.
	require.PanicsWithError(t, "ring: Batch.Slot(8) of a batch of 8 slots", func() { b.Slot(8) })
	require.PanicsWithError(t, "ring: Batch.Slot(-1) of a batch of 8 slots", func() { b.Slot(-1) })
	require.Panics(t, func() { ring.Batch{}.Slot(0) })

	_, err = p.ReserveBatch(ctx, 1, 13)
	require.ErrorIs(t, err, ring.ErrMessageTooLarge)
	require.Contains(t, err.Error(), "13 bytes")
	_, err = p.ReserveBatch(ctx, 1, -1)
	require.ErrorIs(t, err, ring.ErrMessageTooLarge)
	require.NoError(t, p.Close())
	_, err = p.ReserveBatch(ctx, 1, 1)
	require.ErrorIs(t, err, ring.ErrClosed)
}

// TestReserveBatchWrap: batches of every size start at every offset, so
// they cross the end of the ring at every point, and every message arrives
// intact and in order.
func TestReserveBatchWrap(t *testing.T) {
	ctx := context.Background()
	for _, slots := range []int{2, 4, 8, 64} {
		t.Run(fmt.Sprint(slots), func(t *testing.T) {
			_, p, c := heapRing(t, ring.Config{SlotSize: 40, Slots: slots})
			buf := make([]byte, 36)
			var sent, got uint64
			for round := range 3*slots + 5 {
				want := 1 + round%slots
				size := wire.HeaderSize + round%17
				b, err := p.ReserveBatch(ctx, want, size)
				require.NoError(t, err)
				require.Equal(t, want, b.Len(), "an empty ring grants the whole batch")
				for i := range b.Len() {
					fill(b.Slot(i), sent)
					sent++
				}
				require.NoError(t, p.Commit())
				for got < sent {
					n, err := c.Recv(ctx, buf)
					require.NoError(t, err)
					require.Equal(t, size, n)
					require.NoError(t, check(buf[:n], got))
					got++
				}
			}
		})
	}
}

// TestReserveBatchWaits: on a full ring with nothing reserved, ReserveBatch
// waits for space as Reserve does, and ends as Reserve does.
func TestReserveBatchWaits(t *testing.T) {
	ctx := context.Background()
	_, p, c := heapRing(t, ring.Config{SlotSize: 16, Slots: 2})
	require.NoError(t, p.Send(ctx, []byte{1}))
	require.NoError(t, p.Send(ctx, []byte{2}))
	go func() {
		time.Sleep(20 * time.Millisecond)
		_, _ = c.Recv(ctx, make([]byte, 16))
	}()
	b, err := p.ReserveBatch(ctx, 2, 1)
	require.NoError(t, err)
	require.Equal(t, 1, b.Len(), "one slot freed, one granted")
	b.Slot(0)[0] = 3
	require.NoError(t, p.Commit())

	tctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	_, err = p.ReserveBatch(tctx, 2, 1)
	require.ErrorIs(t, err, context.DeadlineExceeded)

	go func() {
		time.Sleep(20 * time.Millisecond)
		_ = c.Close()
	}()
	_, err = p.ReserveBatch(ctx, 2, 1)
	require.ErrorIs(t, err, ring.ErrPeerClosed)
	require.Contains(t, err.Error(), "consumer has closed")
}

func TestPeekRelease(t *testing.T) {
	ctx := context.Background()
	_, p, c := heapRing(t, ring.Config{SlotSize: 16, Slots: 4})
	for i := range 4 {
		require.NoError(t, p.Send(ctx, []byte{byte(i)}))
	}
	for i := range 4 {
		m, err := c.Peek(ctx)
		require.NoError(t, err)
		require.Equal(t, []byte{byte(i)}, m)
	}
	// Everything peeked, nothing released: the ring is still full for the
	// producer, and Peek does not wait.
	require.ErrorIs(t, p.TrySend([]byte{9}), ring.ErrFull)
	_, err := c.Peek(ctx)
	require.ErrorIs(t, err, ring.ErrEmpty)
	require.NoError(t, c.Release())
	require.NoError(t, c.Release())
	require.NoError(t, p.TrySend([]byte{9}))
	m, err := c.Peek(ctx)
	require.NoError(t, err)
	require.Equal(t, []byte{9}, m)
	require.NoError(t, c.Release())
}

func TestBatches(t *testing.T) {
	ctx := context.Background()
	_, p, c := heapRing(t, ring.Config{SlotSize: 24, Slots: 8})
	const total = 1000
	msgs := make([][]byte, total)
	for i := range msgs {
		msgs[i] = make([]byte, 20)
		fill(msgs[i], uint64(i))
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		n, err := p.SendBatch(ctx, msgs)
		if err != nil || n != total {
			t.Errorf("SendBatch: %d, %v", n, err)
		}
		_ = p.Close()
	}()
	var got uint64
	for {
		n, err := c.RecvBatch(ctx, 5, func(msg []byte) error { defer func() { got++ }(); return check(msg, got) })
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		require.LessOrEqual(t, n, 5)
	}
	wg.Wait()
	require.Equal(t, uint64(total), got)
}

func TestRecvBatchStopsOnError(t *testing.T) {
	ctx := context.Background()
	_, p, c := heapRing(t, ring.Config{SlotSize: 16, Slots: 8})
	_, err := p.SendBatch(ctx, [][]byte{{0}, {1}, {2}, {3}})
	require.NoError(t, err)
	stop := errors.New("stop")
	n, err := c.RecvBatch(ctx, 0, func(msg []byte) error {
		if msg[0] == 1 {
			return stop
		}
		return nil
	})
	require.ErrorIs(t, err, stop)
	require.Equal(t, 2, n)
	buf := make([]byte, 12)
	n, err = c.Recv(ctx, buf)
	require.NoError(t, err)
	require.Equal(t, byte(2), buf[0], "the message fn failed on counts as received")
	require.Equal(t, 1, n)
}

func TestCloseDrainEOF(t *testing.T) {
	ctx := context.Background()
	_, p, c := heapRing(t, ring.Config{SlotSize: 16, Slots: 8})
	for i := range 5 {
		require.NoError(t, p.Send(ctx, []byte{byte(i)}))
	}
	require.NoError(t, p.Close())
	require.ErrorIs(t, p.Close(), ring.ErrClosed)
	require.ErrorIs(t, p.Send(ctx, []byte{1}), ring.ErrClosed)
	buf := make([]byte, 12)
	for i := range 5 {
		n, err := c.Recv(ctx, buf)
		require.NoError(t, err)
		require.Equal(t, byte(i), buf[:n][0])
	}
	for range 2 {
		_, err := c.Recv(ctx, buf)
		require.ErrorIs(t, err, io.EOF)
		_, err = c.TryRecv(buf)
		require.ErrorIs(t, err, io.EOF)
	}
	require.NoError(t, c.Close())
	_, err := c.Recv(ctx, buf)
	require.ErrorIs(t, err, ring.ErrClosed)
}

func TestConsumerCloseStopsProducer(t *testing.T) {
	ctx := context.Background()
	_, p, c := heapRing(t, ring.Config{SlotSize: 16, Slots: 2})
	require.NoError(t, p.Send(ctx, []byte{1}))
	require.NoError(t, p.Send(ctx, []byte{2}))
	done := make(chan error)
	go func() { done <- p.Send(ctx, []byte{3}) }() // blocks: full
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, c.Close())
	select {
	case err := <-done:
		require.ErrorIs(t, err, ring.ErrPeerClosed)
		require.NotErrorIs(t, err, ring.ErrClosed, "the producer did not close")
		require.Contains(t, err.Error(), "consumer has closed")
	case <-time.After(10 * time.Second):
		t.Fatal("blocked Send not woken by the consumer's Close")
	}
}

// A Close from another goroutine wakes a call blocked in each wait mode.
func TestCloseWakesBlocked(t *testing.T) {
	for _, mode := range []ring.WaitMode{ring.WaitAdaptive, ring.WaitSpin, ring.WaitYield, ring.WaitFutex} {
		t.Run(mode.String(), func(t *testing.T) {
			r, _, c := heapRing(t, ring.Config{SlotSize: 16, Slots: 2, Options: ring.Options{Wait: ring.WaitStrategy{Mode: mode}}})
			done := make(chan error)
			go func() {
				_, err := c.Recv(context.Background(), make([]byte, 16))
				done <- err
			}()
			time.Sleep(20 * time.Millisecond)
			require.NoError(t, r.Close()) // closes both roles, waits for the blocked Recv
			select {
			case err := <-done:
				require.ErrorIs(t, err, ring.ErrClosed)
			case <-time.After(10 * time.Second):
				t.Fatal("blocked Recv not woken by Close")
			}
			require.ErrorIs(t, r.Close(), ring.ErrClosed)
		})
	}
}

func TestContext(t *testing.T) {
	for _, mode := range []ring.WaitMode{ring.WaitAdaptive, ring.WaitSpin, ring.WaitFutex} {
		t.Run(mode.String(), func(t *testing.T) {
			_, p, c := heapRing(t, ring.Config{SlotSize: 16, Slots: 2, Options: ring.Options{Wait: ring.WaitStrategy{Mode: mode}}})
			// Cancellation while blocked on empty.
			ctx, cancel := context.WithCancel(context.Background())
			go func() { time.Sleep(20 * time.Millisecond); cancel() }()
			start := time.Now()
			_, err := c.Recv(ctx, make([]byte, 16))
			require.ErrorIs(t, err, context.Canceled)
			require.Less(t, time.Since(start), 5*time.Second)

			// A deadline while blocked on full.
			require.NoError(t, p.Send(context.Background(), []byte{1}))
			require.NoError(t, p.Send(context.Background(), []byte{2}))
			start = time.Now() // before the deadline is set, so it is at least 30ms later
			ctx, cancel = context.WithTimeout(context.Background(), 30*time.Millisecond)
			defer cancel()
			err = p.Send(ctx, []byte{3})
			require.ErrorIs(t, err, context.DeadlineExceeded)
			require.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond)

			// The ring still works afterwards.
			n, err := c.Recv(context.Background(), make([]byte, 16))
			require.NoError(t, err)
			require.Equal(t, 1, n)
		})
	}
}

func TestRoles(t *testing.T) {
	r, p, _ := heapRing(t, ring.Config{SlotSize: 16, Slots: 2})
	_, err := r.Producer()
	require.ErrorIs(t, err, ring.ErrRoleTaken)
	require.Contains(t, err.Error(), "this process")
	_, err = r.Consumer()
	require.ErrorIs(t, err, ring.ErrRoleTaken)
	require.NoError(t, p.Close())
	_, err = r.Producer()
	require.ErrorIs(t, err, ring.ErrRingClosed, "a closed role is not claimed again")
}

func TestStats(t *testing.T) {
	ctx := context.Background()
	r, p, c := heapRing(t, ring.Config{SlotSize: 16, Slots: 4})
	for range 3 {
		require.NoError(t, p.Send(ctx, []byte("abcd")))
	}
	_, err := c.Recv(ctx, make([]byte, 16))
	require.NoError(t, err)
	st := r.Stats()
	require.Equal(t, 2, st.Fill)
	require.Equal(t, uint64(3), st.Producer.Messages)
	require.Equal(t, uint64(1), st.Consumer.Messages)
	require.True(t, st.Producer.Alive)
	require.True(t, st.Ready)
	require.Equal(t, 16, st.SlotSize)
	require.Equal(t, 4, st.Slots)
	// Counters reach the header before a side waits.
	_, err = c.Recv(ctx, make([]byte, 16))
	require.NoError(t, err)
	_, err = c.Recv(ctx, make([]byte, 16))
	require.NoError(t, err)
	tctx, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
	defer cancel()
	_, err = c.Recv(tctx, make([]byte, 16))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	st = r.Stats()
	require.Equal(t, uint64(12), st.Consumer.Bytes)
	require.Equal(t, uint64(1), st.Consumer.Stalls)
}

// TestTrailing follows the consumer's trailing state (consumer.go,
// "Trailing a producer that keeps pace"): catch-ups (calls whose cached
// cursor ran out) that find a message already published count up to
// TrailAfter, in every receiving call; a trailing catch-up that finds
// several messages goes on trailing, one that finds a single message stops,
// and one that has to wait starts the count again.
func TestTrailing(t *testing.T) {
	ctx := context.Background()
	_, p, c := heapRing(t, ring.Config{SlotSize: 16, Slots: 64})
	msg, buf := make([]byte, 8), make([]byte, 8)
	send := func(k int) {
		for range k {
			require.NoError(t, p.Send(ctx, msg))
		}
	}
	recv := func(k int) {
		for range k {
			_, err := c.Recv(ctx, buf)
			require.NoError(t, err)
		}
	}
	for i := 1; i <= ring.TrailAfter; i++ {
		send(1)
		recv(1)
		require.Equal(t, min(i, ring.TrailAfter), c.Paced(), "after %d catch-ups that found a message", i)
	}
	send(3)
	recv(3) // one catch-up, which trails and finds three
	require.Equal(t, ring.TrailAfter, c.Paced(), "a trailing catch-up that found three messages")
	send(1)
	recv(1)
	require.Equal(t, 0, c.Paced(), "a trailing catch-up that found one message")

	// Peek and RecvBatch catch up the same way.
	send(1)
	_, err := c.Peek(ctx)
	require.NoError(t, err)
	require.NoError(t, c.Release())
	require.Equal(t, 1, c.Paced(), "Peek")
	send(1)
	_, err = c.RecvBatch(ctx, 0, func([]byte) error { return nil })
	require.NoError(t, err)
	require.Equal(t, 2, c.Paced(), "RecvBatch")

	short, cancel := context.WithTimeout(ctx, time.Millisecond)
	defer cancel()
	_, err = c.Recv(short, buf)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, 0, c.Paced(), "a catch-up that had to wait")

	// With NoTrail a consumer never trails, so a catch-up that finds a
	// single message after trailAfter others does not end anything.
	cfg := ring.Config{SlotSize: 16, Slots: 64, Options: ring.Options{Wait: ring.WaitStrategy{NoTrail: true}}}
	_, p, c = heapRing(t, cfg)
	for range ring.TrailAfter + 1 {
		send(1)
		recv(1)
	}
	require.Equal(t, ring.TrailAfter, c.Paced(), "NoTrail")
}

// TestFetchNext follows when a wait asks for the second line of the slot it
// waits for (consumer.go, fetchNext): in a ping-pong (one slot taken since
// the last wait), after a message that spilled into that line and is at
// most FetchMax bytes, in slots longer than FetchSlot. Never after a
// message that fits the first line, a longer one, a fragmented one or two
// messages, nor in shorter slots, nor in a wait with nothing taken since
// the last, nor in RecvBatch polling the producer's cursor; and a wait
// leaves it off when it ends.
func TestFetchNext(t *testing.T) {
	cases := []struct {
		name           string
		slotSize, size int
		messages       int
		fetch          bool
	}{
		{"64B", 1024, 64, 1, true},
		{"61B", 1024, 61, 1, true},
		{"60B", 1024, 60, 1, false},
		{"FetchMax", 1024, ring.FetchMax, 1, true},
		{"FetchMax+1", 1024, ring.FetchMax + 1, 1, false},
		{"fragmented", 1024, 1100, 1, false},
		{"two", 1024, 64, 2, false},
		{"FetchSlot", ring.FetchSlot, 64, 1, false},
		{"FetchSlot+8", ring.FetchSlot + 8, 64, 1, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, p, c := heapRing(t, ring.Config{SlotSize: tc.slotSize, Slots: 64, MaxMessage: 1 << 20})
			cancelled, cancel := context.WithCancel(context.Background())
			cancel()
			buf := make([]byte, tc.size)
			wait := func() {
				t.Helper()
				_, err := c.Recv(cancelled, buf)
				require.ErrorIs(t, err, context.Canceled)
				require.False(t, c.Fetching(), "after a wait")
			}
			require.False(t, c.WouldFetch(), "the first wait")
			wait()
			for range tc.messages {
				require.NoError(t, p.Send(context.Background(), buf))
			}
			for range tc.messages {
				n, err := c.Recv(context.Background(), buf)
				require.NoError(t, err)
				require.Equal(t, tc.size, n)
			}
			require.Equal(t, tc.fetch, c.WouldFetch(), "the wait after %d messages of %d bytes in %d-byte slots", tc.messages, tc.size, tc.slotSize)
			require.False(t, c.WouldFetchBatch(), "a wait of RecvBatch, which polls the producer's cursor")
			if tc.name == "fragmented" {
				// Its last slot holds 88 bytes: in range but for
				// its fragment flags.
				require.False(t, c.LastFetchable(), "a message's last fragment")
			}
			wait()
			require.False(t, c.WouldFetch(), "a wait with nothing taken since the last")
		})
	}
}

// TestBackoff: each wait mode's phases (wait.go, newBackoff). WaitSpin
// never stops spinning and WaitYield never stops yielding, so neither
// sleeps; WaitFutex sleeps at once; only WaitAdaptive stretches.
func TestBackoff(t *testing.T) {
	const spin, yield = 5 * time.Microsecond, 7 * time.Microsecond
	for _, tc := range []struct {
		mode        ring.WaitMode
		spinArg     time.Duration // WaitStrategy.Spin
		first       int
		spin, yield time.Duration
		adapt       bool
	}{
		{ring.WaitAdaptive, spin, ring.FirstPolls, spin, yield, true},
		{ring.WaitAdaptive, 3 * time.Microsecond, 0, 3 * time.Microsecond, yield, true}, // too short for first polls
		{ring.WaitSpin, spin, ring.FirstPolls, ring.Forever, 0, false},
		{ring.WaitYield, spin, ring.FirstPolls, spin, ring.Forever, false},
		{ring.WaitYield, 0, 0, 0, ring.Forever, false},
		{ring.WaitFutex, spin, 0, 0, 0, false},
	} {
		f, s, y, a := ring.Backoff(ring.WaitStrategy{Mode: tc.mode, Spin: tc.spinArg, Yield: yield})
		require.Equal(t, []any{tc.first, tc.spin, tc.yield, tc.adapt}, []any{f, s, y, a}, "%v spin %v", tc.mode, tc.spinArg)
	}
}

// TestAdapt: a sleep that a woken side could have avoided by polling one or
// two doublings longer stretches its yield phase, up to MaxStretch
// doublings; any other (longer, or to its deadline) shrinks it (wait.go,
// adapt).
func TestAdapt(t *testing.T) {
	ws := ring.WaitStrategy{Mode: ring.WaitAdaptive, Spin: 20 * time.Microsecond, Yield: 50 * time.Microsecond}
	polled := func(k uint) time.Duration { return ws.Spin + ws.Yield<<k } // 70, 120, 220, 420 µs
	k := uint(0)
	for want := uint(1); want <= ring.MaxStretch; want++ {
		k = ring.Adapt(k, 2*polled(k), true, ws)
		require.Equal(t, want, k, "a sleep twice as long as the polling before it")
	}
	require.Equal(t, uint(ring.MaxStretch), ring.Adapt(k, time.Microsecond, true, ws), "past MaxStretch")
	k = ring.Adapt(k, 2*polled(k)+2*time.Nanosecond, true, ws)
	require.Equal(t, uint(ring.MaxStretch-1), k, "a sleep longer than twice the polling")
	k = ring.Adapt(k, time.Microsecond, false, ws)
	require.Equal(t, uint(ring.MaxStretch-2), k, "a sleep to its deadline, however short")
	require.Equal(t, uint(0), ring.Adapt(0, time.Hour, false, ws), "below zero")

	// A steady gap between messages (the whole wait, polling and sleep):
	// the stretch settles where polling covers the gap, if sleeps short
	// enough lead there, and at zero if not; from the top it stays while
	// the sleeps stay under twice the polling.
	for _, tc := range []struct {
		from uint
		gap  time.Duration
		want uint
	}{
		{0, 60 * time.Microsecond, 0},
		{0, 100 * time.Microsecond, 1},
		{0, 200 * time.Microsecond, 2},
		{0, 400 * time.Microsecond, 0},
		{0, time.Millisecond, 0},
		{ring.MaxStretch, time.Millisecond, ring.MaxStretch},
		{ring.MaxStretch, 1500 * time.Microsecond, 0},
	} {
		k := tc.from
		for range 10 {
			if tc.gap > polled(k) {
				k = ring.Adapt(k, tc.gap-polled(k), true, ws)
			}
		}
		require.Equal(t, tc.want, k, "gap %v from %d", tc.gap, tc.from)
	}

	// Durations so long that doubling them overflows count as for ever.
	huge := ring.WaitStrategy{Mode: ring.WaitAdaptive, Spin: math.MaxInt64, Yield: math.MaxInt64}
	require.Equal(t, uint(1), ring.Adapt(0, time.Hour, true, huge))
	require.Equal(t, uint(ring.MaxStretch), ring.Adapt(ring.MaxStretch, time.Hour, true, huge))
}

// TestHugeWaitDurations: a Spin or Yield of hundreds of years means spin or
// yield for ever, not a deadline that overflows into the past and sleeps at
// once.
func TestHugeWaitDurations(t *testing.T) {
	for _, ws := range []ring.WaitStrategy{
		{Mode: ring.WaitAdaptive, Spin: math.MaxInt64},
		{Mode: ring.WaitAdaptive, Spin: time.Nanosecond, Yield: math.MaxInt64},
	} {
		r, _, c := heapRing(t, ring.Config{SlotSize: 16, Slots: 2, Options: ring.Options{Wait: ws}})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		_, err := c.Recv(ctx, make([]byte, 16))
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Zero(t, r.Stats().Consumer.Waits, "futex sleeps with Spin %v, Yield %v", ws.Spin, ws.Yield)
	}
}

func TestZeroAllocs(t *testing.T) {
	ctx := context.Background()
	_, p, c := heapRing(t, ring.Config{SlotSize: 72, Slots: 64})
	msg, buf := make([]byte, 64), make([]byte, 64)
	msgs := [][]byte{msg, msg, msg, msg}
	fn := func([]byte) error { return nil }
	allocs := testing.AllocsPerRun(1000, func() {
		_ = p.Send(ctx, msg)
		_, _ = c.Recv(ctx, buf)
		_ = p.TrySend(msg)
		_, _ = c.TryRecv(buf)
		b, _ := p.Reserve(ctx, 64)
		copy(b, msg)
		_ = p.Commit()
		_, _ = c.Peek(ctx)
		_ = c.Release()
		_, _ = p.SendBatch(ctx, msgs)
		_, _ = c.RecvBatch(ctx, 0, fn)
		bt, _ := p.ReserveBatch(ctx, 4, 64)
		for i := range bt.Len() {
			copy(bt.Slot(i), msg)
		}
		_ = p.Commit()
		_, _ = c.RecvBatch(ctx, 0, fn)
	})
	require.Zero(t, allocs)
}

// TestZeroAllocsWaiting: the paths that wait (spin, yield, futex sleep and
// wake) allocate nothing either. An echo goroutine bounces each message back
// over a second ring, so every round trip makes both sides wait.
func TestZeroAllocsWaiting(t *testing.T) {
	cancellable, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, tc := range []struct {
		mode ring.WaitMode
		ctx  context.Context
	}{
		{ring.WaitAdaptive, context.Background()},
		{ring.WaitYield, context.Background()},
		{ring.WaitFutex, context.Background()},
		// A context that can end is registered once, not per sleep.
		{ring.WaitFutex, cancellable},
	} {
		mode, ctx := tc.mode, tc.ctx
		t.Run(fmt.Sprintf("%s/cancellable=%t", mode, ctx.Done() != nil), func(t *testing.T) {
			cfg := ring.Config{SlotSize: 72, Slots: 2, Options: ring.Options{Wait: ring.WaitStrategy{Mode: mode}}}
			_, p1, c1 := heapRing(t, cfg)
			_, p2, c2 := heapRing(t, cfg)
			done := make(chan struct{})
			go func() {
				defer close(done)
				buf := make([]byte, 64)
				for {
					n, err := c1.Recv(ctx, buf)
					if err != nil {
						return
					}
					if p2.Send(ctx, buf[:n]) != nil {
						return
					}
				}
			}()
			msg, buf := make([]byte, 64), make([]byte, 64)
			var failed error
			allocs := testing.AllocsPerRun(2000, func() {
				if err := p1.Send(ctx, msg); err != nil && failed == nil {
					failed = err
				}
				if _, err := c2.Recv(ctx, buf); err != nil && failed == nil {
					failed = err
				}
			})
			require.NoError(t, p1.Close())
			<-done
			require.NoError(t, failed)
			require.Zero(t, allocs, "allocations per round trip")
		})
	}
}

// TestStream moves messages between two goroutines in every wait mode,
// with both kinds of fences, verifying sequence and CRC, at the current
// GOMAXPROCS and at 1.
func TestStream(t *testing.T) {
	const total = 200_000
	for _, procs := range []int{runtime.GOMAXPROCS(0), 1} {
		for _, mode := range []ring.WaitMode{ring.WaitAdaptive, ring.WaitSpin, ring.WaitYield, ring.WaitFutex} {
			for _, symmetric := range []bool{false, true} {
				t.Run(fmt.Sprintf("procs=%d/%s/%s", procs, mode, fencesName(symmetric)), func(t *testing.T) {
					defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
					n := total
					if mode == ring.WaitFutex || testing.Short() {
						n = total / 10
					}
					r, p, c := heapRing(t, ring.Config{SlotSize: 64, Slots: 16, SymmetricFences: symmetric,
						Options: ring.Options{Wait: ring.WaitStrategy{Mode: mode}}})
					requireFences(t, r, symmetric)
					streamN(t, p, c, n)
				})
			}
		}
	}
}

func fencesName(symmetric bool) string {
	if symmetric {
		return "symmetric"
	}
	return "asymmetric"
}

// requireFences checks that a ring uses the fences asked for. Asymmetric
// fences need membarrier(2); where the kernel refuses it, the ring falls
// back to symmetric ones, and a test that wants asymmetric skips.
func requireFences(t *testing.T, r *ring.Ring, symmetric bool) {
	t.Helper()
	got := r.Stats().AsymmetricFences
	switch {
	case symmetric:
		require.False(t, got, "Config.SymmetricFences was set")
	case !got:
		if err := fence.Register(); err != nil {
			t.Skipf("asymmetric fences unavailable: %v", err)
		}
		t.Fatal("membarrier works here, yet the ring uses symmetric fences")
	}
}

func streamN(t *testing.T, p *ring.Producer, c *ring.Consumer, total int) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		msg := make([]byte, 60)
		for i := 0; i < total; i++ {
			m := msg[:wire.HeaderSize+i%41]
			fill(m, uint64(i))
			var err error
			switch i % 4 {
			case 0:
				err = p.Send(ctx, m)
			case 1:
				var b []byte
				if b, err = p.Reserve(ctx, len(m)); err == nil {
					copy(b, m)
					err = p.Commit()
				}
			case 2:
				_, err = p.SendBatch(ctx, [][]byte{m})
			default:
				// Up to 5 messages of m's length, as many as are free.
				var b ring.Batch
				if b, err = p.ReserveBatch(ctx, min(5, total-i), len(m)); err == nil {
					for j := range b.Len() {
						fill(b.Slot(j), uint64(i+j))
					}
					i += b.Len() - 1
					err = p.Commit()
				}
			}
			if err != nil {
				errc <- fmt.Errorf("send %d: %w", i, err)
				return
			}
		}
		errc <- p.Close()
	}()
	buf := make([]byte, 60)
	for want := uint64(0); ; want++ {
		n, err := c.Recv(ctx, buf)
		if errors.Is(err, io.EOF) {
			require.Equal(t, uint64(total), want)
			break
		}
		require.NoError(t, err)
		require.NoError(t, check(buf[:n], want))
	}
	require.NoError(t, <-errc)
}

// TestCancelBeforeSleep: the context ends, and its wake-up bumps the word,
// in the moment between the waiting side's last look at the context and
// its reading of the word it sleeps on (the hook puts it there). The futex
// would then sleep until the next liveness check (an hour here); the wait
// must see the cancellation instead.
func TestCancelBeforeSleep(t *testing.T) {
	_, _, c := heapRing(t, ring.Config{SlotSize: 16, Slots: 2, Options: ring.Options{
		Wait: ring.WaitStrategy{Mode: ring.WaitFutex}, Liveness: time.Hour}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	ring.SetTestHooks(func(seq *atomic.Uint32) {
		once.Do(func() {
			v := seq.Load()
			cancel()
			for seq.Load() == v { // the context's AfterFunc bumps it
				runtime.Gosched()
			}
		})
	}, nil)
	done := make(chan error, 1)
	go func() {
		_, err := c.Recv(ctx, make([]byte, 16))
		done <- err
	}()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
	case <-time.After(time.Minute):
		t.Fatal("Recv slept through the cancellation of its context")
	}
	ring.SetTestHooks(nil, nil)
}

// TestConfigMaxMessage: a Config written in message sizes gets the slot
// that holds them; a size that does not fit, or makes no slot, is refused
// with ErrLayout naming the field and the value.
func TestConfigMaxMessage(t *testing.T) {
	tests := []struct {
		name     string
		cfg      ring.Config
		slotSize int    // 0: refused
		msg      string // in the error
	}{
		{"message size", ring.Config{MaxMessage: 64}, 72, ""},
		{"rounded up to 8", ring.Config{MaxMessage: 61}, 72, ""},
		{"a tiny message gets the smallest slot", ring.Config{MaxMessage: 1}, ring.MinSlotSize, ""},
		{"neither: the default", ring.Config{}, ring.DefaultSlotSize, ""},
		{"slot alone", ring.Config{SlotSize: 32}, 32, ""},
		{"both, fitting", ring.Config{MaxMessage: 60, SlotSize: 64}, 64, ""},
		{"both, in fragments", ring.Config{MaxMessage: 61, SlotSize: 64}, 64, ""},
		{"both, too large for a slot too small to fragment", ring.Config{MaxMessage: 13, SlotSize: 8}, 0, "max_message 13 is longer than a 8-byte slot holds"},
		{"negative", ring.Config{MaxMessage: -1}, 0, "Config.MaxMessage -1 is negative"},
		{"larger than the slots it derives", ring.Config{MaxMessage: ring.MaxSlotSize}, ring.SlotSizeFor(ring.DefaultMaxSlotPayload), ""},
		{"beyond the limit", ring.Config{MaxMessage: ring.MaxMessageLimit + 1}, 0, fmt.Sprintf("Config.MaxMessage %d", ring.MaxMessageLimit+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Slots = 4
			r, err := ring.New(tt.cfg)
			if tt.slotSize == 0 {
				require.ErrorIs(t, err, ring.ErrLayout)
				require.Contains(t, err.Error(), tt.msg)
				return
			}
			require.NoError(t, err)
			defer r.Close()
			require.Equal(t, tt.slotSize, r.SlotSize())
			require.GreaterOrEqual(t, r.MaxMessage(), tt.cfg.MaxMessage)
		})
	}
}
