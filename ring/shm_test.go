package ring_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/app/wire"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

// Cross-process tests: the test binary re-executes itself as the peer,
// which plays one of child's roles; each prints nothing on success and
// exits non-zero with a message on failure.
func TestMain(m *testing.M) { shmtest.Main(m.Run, child) }

func child(role string, args []string) error {
	if role == roleSegment {
		return makeSegment(args)
	}
	key, err := strconv.ParseInt(args[0], 0, 64)
	if err != nil {
		return err
	}
	ctx := context.Background()
	opts := &ring.Options{ReadyTimeout: 10 * time.Second, Liveness: 200 * time.Millisecond}
	if len(args) > 2 {
		mode, err := ring.ParseWaitMode(args[2])
		if err != nil {
			return err
		}
		opts.Wait.Mode = mode
	}
	r, err := ring.Open(shmseg.Key(key), *opts)
	if err != nil {
		return err
	}
	defer r.Close()
	n := 0
	if len(args) > 1 {
		if n, err = strconv.Atoi(args[1]); err != nil {
			return err
		}
	}
	switch role {
	case "consume": // receive and verify n messages, then expect EOF
		c, err := r.Consumer()
		if err != nil {
			return err
		}
		buf := make([]byte, c.MaxMessage())
		for want := uint64(0); ; want++ {
			m, err := c.Recv(ctx, buf)
			if errors.Is(err, io.EOF) {
				if want != uint64(n) {
					return fmt.Errorf("EOF after %d messages, want %d", want, n)
				}
				return nil
			}
			if err != nil {
				return fmt.Errorf("message %d: %w", want, err)
			}
			if err := check(buf[:m], want); err != nil {
				return err
			}
		}
	case "pong": // echo every message of ring key back on ring key+1
		c, err := r.Consumer()
		if err != nil {
			return err
		}
		r2, err := ring.Open(shmseg.Key(key+1), *opts)
		if err != nil {
			return err
		}
		defer r2.Close()
		p, err := r2.Producer()
		if err != nil {
			return err
		}
		buf := make([]byte, c.MaxMessage())
		for {
			m, err := c.Recv(ctx, buf)
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := p.Send(ctx, buf[:m]); err != nil {
				return err
			}
		}
	case "produce": // claim the producer (taking over if need be), send from where the cursor is, n messages
		p, err := r.Producer()
		if err != nil {
			return err
		}
		msg := make([]byte, 32)
		start := r.Stats().Producer.Messages
		for i := start; i < start+uint64(n); i++ {
			fill(msg, i)
			if err := p.Send(ctx, msg); err != nil {
				return err
			}
		}
		if len(args) > 3 && args[3] == "crash" {
			os.Exit(0) // without closing: a dead producer
		}
		return p.Close()
	case "hold-producer", "hold-consumer": // claim a role and do nothing until killed
		if role == "hold-producer" {
			_, err = r.Producer()
		} else {
			_, err = r.Consumer()
		}
		if err != nil {
			return err
		}
		fmt.Println("ready")
		select {}
	}
	return fmt.Errorf("unknown role %q", role)
}

// shmRing creates a ring at a fresh key, removed when the test ends.
func shmRing(t *testing.T, cfg ring.Config) (*ring.Ring, shmseg.Key) {
	t.Helper()
	key := shmseg.Key(shmtest.Key(t))
	cfg.ReadyTimeout = 10 * time.Second
	r, err := ring.Create(key, cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = r.Segment().Remove()
		_ = r.Close()
	})
	return r, key
}

func keyArg(k shmseg.Key) string { return fmt.Sprintf("%#x", uint32(k)) }

// TestCrossProcessStream: a child process consumes 10^7 messages of varying
// sizes across the wrap, each carrying a sequence number and CRC32C.
func TestCrossProcessStream(t *testing.T) {
	shmtest.NoLeaks(t)
	total := 10_000_000
	if testing.Short() {
		total = 1_000_000
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	r, key := shmRing(t, ring.Config{SlotSize: 64, Slots: 1024})
	p, err := r.Producer()
	require.NoError(t, err)
	cmd := shmtest.Child(t, ctx, "consume", keyArg(key), strconv.Itoa(total))
	require.NoError(t, cmd.Start())

	var batch [8][]byte
	var store [8][60]byte
	for i := 0; i < total; {
		// Alternate single sends and batches of up to 8.
		k := 1 + i%8
		if i%16 < 8 || i+k > total {
			k = 1
		}
		for j := range k {
			m := store[j][:wire.HeaderSize+(i+j)%41]
			fill(m, uint64(i+j))
			batch[j] = m
		}
		if k == 1 {
			require.NoError(t, p.Send(ctx, batch[0]))
		} else {
			n, err := p.SendBatch(ctx, batch[:k])
			require.NoError(t, err)
			require.Equal(t, k, n)
		}
		i += k
	}
	require.NoError(t, p.Close())
	require.NoError(t, cmd.Wait(), "consumer child failed")
	st := r.Stats()
	require.Equal(t, uint64(total), st.Consumer.Messages)
	require.NoError(t, r.Close())
	_, err = shmseg.Stat(r.Segment().ID())
	require.ErrorIs(t, err, shmseg.ErrNotExist, "both sides closed: the segment is gone")
}

// TestPingPongFutex: one message in flight, so a side sleeps on the futex
// every time; no round trip may take a second (a lost wake-up would wait
// for the liveness timeout instead). With asymmetric fences (the default)
// every sleep goes through membarrier; with symmetric ones through a full
// fence on the waker's side.
func TestPingPongFutex(t *testing.T) {
	for _, symmetric := range []bool{false, true} {
		t.Run(fencesName(symmetric), func(t *testing.T) { pingPongFutex(t, symmetric) })
	}
}

func pingPongFutex(t *testing.T, symmetric bool) {
	shmtest.NoLeaks(t)
	total := 1_000_000
	if testing.Short() {
		total = 20_000
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	futexOnly := ring.Options{Wait: ring.WaitStrategy{Mode: ring.WaitFutex}, Liveness: 2 * time.Second}
	cfg := ring.Config{SlotSize: 24, Slots: 2, SymmetricFences: symmetric, Options: futexOnly}
	ping, key := shmRing(t, cfg)
	requireFences(t, ping, symmetric)
	pong, err := ring.Create(key+1, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = pong.Segment().Remove(); _ = pong.Close() })
	p, err := ping.Producer()
	require.NoError(t, err)
	c, err := pong.Consumer()
	require.NoError(t, err)
	cmd := shmtest.Child(t, ctx, "pong", keyArg(key), "0", "futex")
	require.NoError(t, cmd.Start())

	msg, buf := make([]byte, wire.HeaderSize), make([]byte, wire.HeaderSize)
	var worst time.Duration
	for i := range total {
		fill(msg, uint64(i))
		start := time.Now()
		require.NoError(t, p.Send(ctx, msg))
		n, err := c.Recv(ctx, buf)
		require.NoError(t, err)
		worst = max(worst, time.Since(start))
		require.NoError(t, check(buf[:n], uint64(i)))
	}
	require.NoError(t, p.Close())
	require.NoError(t, cmd.Wait())
	st := ping.Stats()
	t.Logf("%d round trips, worst %v; consumer futex waits %d, producer wakes %d", total, worst, pong.Stats().Consumer.Waits, st.Producer.Wakes)
	require.Less(t, worst, time.Second)
	require.NotZero(t, st.Producer.Wakes, "futex-only mode must have slept and been woken")
}

// sideOfHeldRing makes a 4-slot ring whose other side a child process
// holds, claims this side and, with blockedOn "full", fills the ring. It
// returns the child and a call that blocks: a Recv on the empty ring, or a
// Send on the full one.
func sideOfHeldRing(t *testing.T, blockedOn string, liveness time.Duration) (*exec.Cmd, func(ctx context.Context) error) {
	t.Helper()
	r, key := shmRing(t, ring.Config{SlotSize: 16, Slots: 4, Options: ring.Options{Liveness: liveness}})
	holder := "hold-producer"
	if blockedOn == "full" {
		holder = "hold-consumer"
	}
	cmd := shmtest.Child(t, context.Background(), holder, keyArg(key))
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	_, err = io.ReadFull(out, make([]byte, 6))
	require.NoError(t, err)

	if blockedOn == "empty" {
		c, err := r.Consumer()
		require.NoError(t, err)
		return cmd, func(ctx context.Context) error { _, err := c.Recv(ctx, make([]byte, 16)); return err }
	}
	p, err := r.Producer()
	require.NoError(t, err)
	for range 4 {
		require.NoError(t, p.Send(context.Background(), []byte{1}))
	}
	return cmd, func(ctx context.Context) error { return p.Send(ctx, []byte{2}) }
}

// TestPeerKilled: a side blocked on an empty ring (consumer) and on a full
// one (producer) returns ErrPeerDead within twice the liveness interval
// after its peer is killed with SIGKILL.
func TestPeerKilled(t *testing.T) {
	for _, blockedOn := range []string{"empty", "full"} {
		t.Run(blockedOn, func(t *testing.T) {
			shmtest.NoLeaks(t)
			const liveness = 300 * time.Millisecond
			cmd, call := sideOfHeldRing(t, blockedOn, liveness)
			done := make(chan error, 1)
			go func() { done <- call(context.Background()) }()
			time.Sleep(100 * time.Millisecond) // let it block
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			killed := time.Now()
			select {
			case err := <-done:
				require.ErrorIs(t, err, ring.ErrPeerDead)
				require.Contains(t, err.Error(), fmt.Sprintf("pid %d", cmd.Process.Pid))
				require.Less(t, time.Since(killed), 2*liveness)
			case <-time.After(30 * time.Second):
				t.Fatal("blocked call did not notice the dead peer")
			}
			_ = cmd.Wait()
		})
	}
}

// TestPeerKilledShortCalls: a side that waits in calls shorter than the
// liveness interval, one after another (a context deadline of a quarter of
// it, in a loop, as a service that polls for shutdown would), still learns
// that its peer died: the schedule of checks runs across the calls. With a
// schedule that started again with each call, no call ever reached its
// first check.
func TestPeerKilledShortCalls(t *testing.T) {
	for _, blockedOn := range []string{"empty", "full"} {
		t.Run(blockedOn, func(t *testing.T) {
			shmtest.NoLeaks(t)
			const liveness = 200 * time.Millisecond
			cmd, call := sideOfHeldRing(t, blockedOn, liveness)
			require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
			_ = cmd.Wait()
			killed := time.Now()
			for calls := 1; ; calls++ {
				ctx, cancel := context.WithTimeout(context.Background(), liveness/4)
				err := call(ctx)
				cancel()
				if errors.Is(err, context.DeadlineExceeded) {
					if time.Since(killed) > 30*time.Second {
						t.Fatalf("%d calls over %v all timed out: the dead peer was never checked", calls, time.Since(killed))
					}
					continue
				}
				require.ErrorIs(t, err, ring.ErrPeerDead, "call %d", calls)
				require.Contains(t, err.Error(), fmt.Sprintf("pid %d", cmd.Process.Pid))
				require.Greater(t, calls, 1, "the first call cannot outlast the interval")
				break
			}
			// After the report, a call starts a schedule of its own:
			// it waits an interval before it reports the death again.
			again := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			require.ErrorIs(t, call(ctx), ring.ErrPeerDead)
			require.GreaterOrEqual(t, time.Since(again), liveness, "calling again after ErrPeerDead waits again")
		})
	}
}

// TestPeerDeadAsDeadlinePasses: a call whose context ends while the check
// that finds the peer dead reads /proc (held there by a test hook) still
// reports ErrPeerDead, and the next call waits an interval of its own
// before it reports it again. Deciding by ctx.Err() rather than by the
// error, the wait kept the reporting call's schedule, and the next call
// reported the death early, by however long the check had taken: 1.2 ms
// short of the interval in a fresh clone's make test.
func TestPeerDeadAsDeadlinePasses(t *testing.T) {
	shmtest.NoLeaks(t)
	const liveness = 200 * time.Millisecond
	cmd, call := sideOfHeldRing(t, "empty", liveness)
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
	ring.SetFoundHook(func() { time.Sleep(liveness / 2) })
	for calls := 1; ; calls++ {
		ctx, cancel := context.WithTimeout(context.Background(), liveness/4)
		err := call(ctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			require.Less(t, calls, 1000, "the dead peer was never checked")
			continue
		}
		require.ErrorIs(t, err, ring.ErrPeerDead, "call %d", calls)
		break
	}
	ring.SetFoundHook(nil)
	again := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.ErrorIs(t, call(ctx), ring.ErrPeerDead)
	require.GreaterOrEqual(t, time.Since(again), liveness, "calling again after ErrPeerDead waits a whole interval again")
}

// TestTakeover: a producer that dies without closing leaves its role to the
// next process, which resumes at the committed cursor; the consumer sees
// one unbroken sequence. While the first holds the role, nobody else gets it.
func TestTakeover(t *testing.T) {
	shmtest.NoLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r, key := shmRing(t, ring.Config{SlotSize: 40, Slots: 64})
	c, err := r.Consumer()
	require.NoError(t, err)

	holder := shmtest.Child(t, ctx, "hold-producer", keyArg(key))
	out, err := holder.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, holder.Start())
	_, err = io.ReadFull(out, make([]byte, 6))
	require.NoError(t, err)
	_, err = r.Producer()
	require.ErrorIs(t, err, ring.ErrRoleTaken)
	require.Contains(t, err.Error(), fmt.Sprintf("pid %d", holder.Process.Pid))
	require.NoError(t, holder.Process.Kill())
	_ = holder.Wait()

	// First producer: takes over from the killed holder, sends 1000, dies.
	first := shmtest.Child(t, ctx, "produce", keyArg(key), "1000", "adaptive", "crash")
	require.NoError(t, first.Start())
	buf := make([]byte, 40)
	for want := uint64(0); want < 1000; want++ {
		n, err := c.Recv(ctx, buf)
		require.NoError(t, err)
		require.NoError(t, check(buf[:n], want))
	}
	require.NoError(t, first.Wait())
	// Second producer: takes over from the dead one, continues at 1000.
	second := shmtest.Child(t, ctx, "produce", keyArg(key), "1000")
	require.NoError(t, second.Start())
	for want := uint64(1000); ; want++ {
		n, err := c.Recv(ctx, buf)
		if errors.Is(err, io.EOF) {
			require.Equal(t, uint64(2000), want)
			break
		}
		require.NoError(t, err)
		require.NoError(t, check(buf[:n], want))
	}
	require.NoError(t, second.Wait())
}

// TestContextAfterClose: a wait under a cancellable context leaves a
// registration behind for the next wait; Ring.Close must drop it, or the
// context ending later would write to the unmapped futex word (SIGSEGV).
func TestContextAfterClose(t *testing.T) {
	shmtest.NoLeaks(t)
	key := shmseg.Key(shmtest.Key(t))
	cfg := ring.Config{SlotSize: 16, Slots: 2, Options: ring.Options{Wait: ring.WaitStrategy{Mode: ring.WaitFutex}}}
	r, err := ring.Create(key, cfg)
	require.NoError(t, err)
	p, err := r.Producer()
	require.NoError(t, err)
	c, err := r.Consumer()
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		time.Sleep(20 * time.Millisecond) // let the consumer sleep first
		_ = p.Send(context.Background(), []byte("x"))
	}()
	_, err = c.Recv(ctx, make([]byte, 16))
	require.NoError(t, err)
	require.NoError(t, r.Close())
	cancel()
	time.Sleep(20 * time.Millisecond) // an AfterFunc left armed would run now
}

func TestOpenErrors(t *testing.T) {
	shmtest.NoLeaks(t)
	key := shmseg.Key(shmtest.Key(t))
	_, err := ring.Open(key, ring.Options{})
	require.ErrorIs(t, err, shmseg.ErrNotExist)

	// A segment that is not a ring, and one of zeros: a ring being made.
	notRing := shmtest.PlainSegment(t, 4096, func(b []byte) { copy(b, "not a ring") })
	_, err = ring.Open(notRing, ring.Options{ReadyTimeout: 10 * time.Millisecond})
	require.ErrorIs(t, err, ring.ErrBadMagic)
	zeros := shmtest.PlainSegment(t, 4096, func([]byte) {})
	_, err = ring.Open(zeros, ring.Options{ReadyTimeout: 10 * time.Millisecond})
	require.ErrorIs(t, err, ring.ErrNotReady)

	// Every user may write it: refused unless asked for.
	key2 := shmseg.Key(shmtest.Key(t))
	r, err := ring.Create(key2, ring.Config{Mode: 0o666, SlotSize: 16, Slots: 2})
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Segment().Remove(); _ = r.Close() })
	_, err = ring.Open(key2, ring.Options{})
	require.ErrorIs(t, err, ring.ErrInsecure)
	require.Contains(t, err.Error(), "666")
	r2, err := ring.Open(key2, ring.Options{AllowInsecure: true})
	require.NoError(t, err)
	require.NoError(t, r2.Close())
}

func TestOpenOrCreate(t *testing.T) {
	shmtest.NoLeaks(t)
	key := shmseg.Key(shmtest.Key(t))
	cfg := ring.Config{SlotSize: 16, Slots: 8}
	a, created, err := ring.OpenOrCreate(key, cfg)
	require.NoError(t, err)
	require.True(t, created)
	t.Cleanup(func() { _ = a.Segment().Remove(); _ = a.Close() })
	b, created, err := ring.OpenOrCreate(key, cfg)
	require.NoError(t, err)
	require.False(t, created)
	require.NoError(t, b.Close())
	_, _, err = ring.OpenOrCreate(key, ring.Config{SlotSize: 24, Slots: 8})
	require.ErrorIs(t, err, ring.ErrLayout)
	require.Contains(t, err.Error(), "existing ring has 8 slots of 16 bytes, messages of up to 12, asked for 8 slots of 24 bytes, messages of up to 20")
	_, _, err = ring.OpenOrCreate(key, ring.Config{SlotSize: 16, Slots: 8, MaxMessage: 100})
	require.ErrorIs(t, err, ring.ErrLayout, "the same slots, but for longer messages")
	require.Contains(t, err.Error(), "messages of up to 12, asked for 8 slots of 16 bytes, messages of up to 100")

	// Read-only: stats, but no role.
	ro, err := ring.Open(key, ring.Options{ReadOnly: true})
	require.NoError(t, err)
	defer ro.Close()
	require.Equal(t, 8, ro.Stats().Slots)
	_, err = ro.Producer()
	require.ErrorContains(t, err, "read-only")
}

// TestCloseWaitsForWokenCall: a Send blocked on a full ring is woken, and
// Ring.Close starts while it is still writing the slot it waited for (the
// hook holds it there). Close must wait for it: unmapping then would make
// the Send fault on the segment.
func TestCloseWaitsForWokenCall(t *testing.T) {
	shmtest.NoLeaks(t)
	key := shmseg.Key(shmtest.Key(t))
	r, err := ring.Create(key, ring.Config{SlotSize: 16, Slots: 2})
	require.NoError(t, err)
	p, err := r.Producer()
	require.NoError(t, err)
	c, err := r.Consumer()
	require.NoError(t, err)
	ctx := context.Background()
	for range 2 {
		require.NoError(t, p.Send(ctx, []byte("full")))
	}
	const hold = 200 * time.Millisecond
	woken := make(chan time.Time, 1)
	ring.SetTestHooks(nil, func() {
		woken <- time.Now()
		time.Sleep(hold)
	})
	sent := make(chan error, 1)
	go func() { sent <- p.Send(ctx, []byte("after")) }()
	time.Sleep(20 * time.Millisecond) // let it block (it also works if not yet)
	_, err = c.TryRecv(make([]byte, 16))
	require.NoError(t, err)
	at := <-woken
	require.NoError(t, r.Close())
	require.GreaterOrEqual(t, time.Since(at), hold, "Close returned while the woken Send was still in the segment")
	require.NoError(t, <-sent)
	ring.SetTestHooks(nil, nil)
}

// roleSegment makes a segment as another program would, or as a creator
// that stops inside ring.Create leaves it. Arguments: KEY SIZE MODE HOW.
// HOW "zeros" exits after shmget; "magic" writes the ring's magic (a
// creator's first store) and exits; "hang" exits after shmget too, but
// only once killed: it says "ready" and waits.
const roleSegment = "segment"

func makeSegment(args []string) error {
	if len(args) != 4 {
		return fmt.Errorf("want KEY SIZE MODE HOW, got %q", args)
	}
	key, err1 := strconv.ParseUint(args[0], 0, 32)
	size, err2 := strconv.Atoi(args[1])
	mode, err3 := strconv.ParseUint(args[2], 8, 32)
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}
	id, err := shmseg.Create(shmseg.Key(int32(uint32(key))), size, &shmseg.CreateOptions{Mode: os.FileMode(mode)})
	if err != nil {
		return err
	}
	switch args[3] {
	case "zeros":
		return nil
	case "hang":
		fmt.Println("ready")
		select {}
	case "magic":
		seg, err := shmseg.Attach(id, nil)
		if err != nil {
			return err
		}
		b, err := seg.Bytes()
		if err != nil {
			return err
		}
		binary.LittleEndian.PutUint64(b, ring.Magic)
		return seg.Detach()
	}
	return fmt.Errorf("unknown HOW %q", args[3])
}

// segmentOf runs roleSegment in a child and returns the segment's key and
// the child, which has exited unless how is "hang". The segment is removed
// when the test ends.
func segmentOf(t *testing.T, size int, mode, how string) (shmseg.Key, *exec.Cmd) {
	t.Helper()
	key := shmseg.Key(shmtest.Key(t))
	cmd := shmtest.Child(t, context.Background(), roleSegment, keyArg(key), strconv.Itoa(size), mode, how)
	if how == "hang" {
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		line, err := bufio.NewReader(out).ReadString('\n')
		require.Equal(t, "ready\n", line, "%v", err)
	} else {
		require.NoError(t, cmd.Run())
	}
	id, err := shmseg.Open(key)
	require.NoError(t, err)
	t.Cleanup(func() { _ = shmseg.Remove(id) })
	info, err := shmseg.Stat(id)
	require.NoError(t, err)
	require.Equal(t, cmd.Process.Pid, info.CPID)
	return key, cmd
}

// TestOpenNotRing: Open waits for a ring's header only while a creator
// could still write it. A page of zeros left by a creator that has exited
// (as "ipcmk -M 4096" leaves one: mode 0644) is no ring, and Open says so
// at once with ErrNotRing, naming its size, owner, mode and creator pid;
// so does a segment of no ring's size, whoever made it. The same zeros
// made by a live process, and the magic left by a creator that is gone,
// are waited for, up to ReadyTimeout; a creator that dies during that wait
// ends it.
func TestOpenNotRing(t *testing.T) {
	shmtest.NoLeaks(t)
	const long = 10 * time.Second
	open := func(key shmseg.Key, timeout time.Duration, ro bool) (time.Duration, error) {
		start := time.Now()
		r, err := ring.Open(key, ring.Options{ReadyTimeout: timeout, ReadOnly: ro})
		if err == nil {
			_ = r.Close()
		}
		return time.Since(start), err
	}

	t.Run("zeros, creator gone", func(t *testing.T) {
		key, cmd := segmentOf(t, 4096, "0644", "zeros")
		for _, ro := range []bool{false, true} {
			took, err := open(key, long, ro)
			require.ErrorIs(t, err, ring.ErrNotRing)
			require.Less(t, took, time.Second, "at once, not after ReadyTimeout")
			require.Contains(t, err.Error(), fmt.Sprintf("no ring magic, and its creator (pid %d) is gone: "+
				"4096 bytes, owner uid %d, mode 0644, creator pid %d", cmd.Process.Pid, os.Geteuid(), cmd.Process.Pid))
		}
	})
	t.Run("no ring's size, creator alive", func(t *testing.T) {
		key := shmseg.Key(shmtest.Key(t))
		id, err := shmseg.Create(key, 4100, nil) // by this process
		require.NoError(t, err)
		t.Cleanup(func() { _ = shmseg.Remove(id) })
		took, err := open(key, long, false)
		require.ErrorIs(t, err, ring.ErrNotRing)
		require.Less(t, took, time.Second)
		require.Contains(t, err.Error(), "no ring is 4100 bytes")
	})
	t.Run("zeros, creator alive", func(t *testing.T) {
		key := shmseg.Key(shmtest.Key(t))
		id, err := shmseg.Create(key, 4096, nil)
		require.NoError(t, err)
		t.Cleanup(func() { _ = shmseg.Remove(id) })
		took, err := open(key, 50*time.Millisecond, false)
		require.ErrorIs(t, err, ring.ErrNotReady)
		require.GreaterOrEqual(t, took, 50*time.Millisecond)
		require.Contains(t, err.Error(), "state 0x0 after 50ms")
	})
	t.Run("magic, creator gone", func(t *testing.T) {
		key, _ := segmentOf(t, 4096, "0600", "magic")
		took, err := open(key, 50*time.Millisecond, false)
		require.ErrorIs(t, err, ring.ErrNotReady)
		require.GreaterOrEqual(t, took, 50*time.Millisecond)
	})
	t.Run("creator dies while waited for", func(t *testing.T) {
		key, cmd := segmentOf(t, 4096, "0600", "hang")
		time.AfterFunc(100*time.Millisecond, func() { _ = cmd.Process.Kill() })
		took, err := open(key, long, false)
		require.ErrorIs(t, err, ring.ErrNotRing)
		require.GreaterOrEqual(t, took, 100*time.Millisecond)
		require.Less(t, took, 2*time.Second)
		_ = cmd.Wait()
	})
}

// TestClosePolicy: Ring.Close removes the segment exactly when nobody will
// use it again (Close's doc), and Abandon when a producer gives up on its
// messages.
func TestClosePolicy(t *testing.T) {
	shmtest.NoLeaks(t)
	gone := func(r *ring.Ring) bool {
		_, err := shmseg.Stat(r.Segment().ID())
		return errors.Is(err, shmseg.ErrNotExist)
	}
	send := func(t *testing.T, r *ring.Ring, n int) {
		p, err := r.Producer()
		require.NoError(t, err)
		for range n {
			require.NoError(t, p.Send(context.Background(), []byte{1}))
		}
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, r *ring.Ring)
		close func(r *ring.Ring) error
		gone  bool
	}{
		{"no role claimed", func(*testing.T, *ring.Ring) {}, (*ring.Ring).Close, false},
		{"producer, messages for a consumer yet to come", func(t *testing.T, r *ring.Ring) { send(t, r, 2) }, (*ring.Ring).Close, false},
		{"producer abandons them", func(t *testing.T, r *ring.Ring) { send(t, r, 2) }, (*ring.Ring).Abandon, true},
		{"producer, nothing sent, no consumer", func(t *testing.T, r *ring.Ring) { send(t, r, 0) }, (*ring.Ring).Close, true},
		{"consumer, no producer", func(t *testing.T, r *ring.Ring) {
			_, err := r.Consumer()
			require.NoError(t, err)
		}, (*ring.Ring).Close, true},
		{"producer, consumer's process died, messages for a takeover", func(t *testing.T, r *ring.Ring) {
			send(t, r, 2)
			holdAndKill(t, r, "hold-consumer")
		}, (*ring.Ring).Close, false},
		{"producer abandons them to a dead consumer", func(t *testing.T, r *ring.Ring) {
			send(t, r, 2)
			holdAndKill(t, r, "hold-consumer")
		}, (*ring.Ring).Abandon, true},
		{"producer, consumer's process died, nothing left", func(t *testing.T, r *ring.Ring) {
			send(t, r, 0)
			holdAndKill(t, r, "hold-consumer")
		}, (*ring.Ring).Close, true},
		{"consumer, producer's process died", func(t *testing.T, r *ring.Ring) {
			holdAndKill(t, r, "hold-producer")
			_, err := r.Consumer()
			require.NoError(t, err)
		}, (*ring.Ring).Close, true},
		{"producer, consumer alive", func(t *testing.T, r *ring.Ring) {
			send(t, r, 2)
			c, err := ring.Open(r.Segment().Key(), ring.Options{})
			require.NoError(t, err)
			_, err = c.Consumer()
			require.NoError(t, err)
			t.Cleanup(func() { _ = c.Close() })
		}, (*ring.Ring).Close, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, _ := shmRing(t, ring.Config{SlotSize: 16, Slots: 4})
			tc.setup(t, r)
			require.NoError(t, tc.close(r))
			require.Equal(t, tc.gone, gone(r), "segment removed")
		})
	}
}

// holdAndKill has a child process claim role ("hold-producer" or
// "hold-consumer") in r's segment, then kills it: the role is left held by a
// dead process.
func holdAndKill(t *testing.T, r *ring.Ring, role string) {
	t.Helper()
	cmd := shmtest.Child(t, context.Background(), role, keyArg(r.Segment().Key()))
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	_, err = io.ReadFull(out, make([]byte, 6))
	require.NoError(t, err)
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	_ = cmd.Wait()
}
