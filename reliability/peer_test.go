package reliability_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"

	procfs "github.com/shmring/shmring/internal/platform/proc"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/reliability/internal/stream"
	"github.com/shmring/shmring/ring"
)

// Offsets of the role owners in the header (docs/LAYOUT.md): an identity
// is the pid in the low 22 bits and the start time (clock ticks since boot,
// /proc/PID/stat field 22) above.
var (
	offProducerOwner = ring.FieldOffset("producer.owner")
	offConsumerOwner = ring.FieldOffset("consumer.owner")
)

const pidBits = 22

// startTime reads a process's start time.
func startTime(t testing.TB, pid int) uint64 {
	t.Helper()
	st, err := procfs.ReadStat(pid)
	require.NoError(t, err)
	return st.Start
}

// forgeOwner writes an identity into a role's owner word, as a process
// with write access to the segment could.
func forgeOwner(t testing.TB, r *ring.Ring, off int, pid int, start uint64) {
	t.Helper()
	b, err := r.Segment().Bytes()
	require.NoError(t, err)
	(*atomic.Uint64)(unsafe.Pointer(&b[off])).Store(start<<pidBits | uint64(pid))
}

// slowRuns is how many runs a test whose runs take most of a second does:
// one, or in the long form SHMRING_FAULT_RUNS/div.
func slowRuns(t testing.TB, div int64) int {
	if long(envFaultRuns) {
		return int(max(knob(t, envFaultRuns, 0, 0)/div, 1))
	}
	return 1
}

// TestPeerKilledAnyWaitMode (RELIABILITY item 10) extends
// ring.TestPeerKilled (default wait mode) to every wait mode: a side
// blocked on an empty ring (consumer) or a full one (producer) returns
// ErrPeerDead after its peer is killed, within twice the liveness interval
// (asserted with a second of slack for a loaded machine; the worst seen is
// logged), never hanging.
func TestPeerKilledAnyWaitMode(t *testing.T) {
	const liveness = 300 * time.Millisecond
	runs := slowRuns(t, 20)
	for _, mode := range []ring.WaitMode{ring.WaitAdaptive, ring.WaitSpin, ring.WaitYield, ring.WaitFutex} {
		for _, blockedOn := range []string{"empty", "full"} {
			t.Run(mode.String()+"/"+blockedOn, func(t *testing.T) {
				shmtest.NoLeaks(t)
				var worst time.Duration
				for range runs {
					r, key := newRing(t, ring.Config{SlotSize: 32, Slots: 4,
						Options: ring.Options{Liveness: liveness, Wait: ring.WaitStrategy{Mode: mode}}})
					role := "producer"
					if blockedOn == "full" {
						role = "consumer"
					}
					h := startPeer(t, nil, "hold", key, "-role", role)
					h.ready(t)
					var blocked func() error
					if blockedOn == "empty" {
						c, err := r.Consumer()
						require.NoError(t, err)
						blocked = func() error { _, err := c.Recv(context.Background(), make([]byte, 28)); return err }
					} else {
						p, err := r.Producer()
						require.NoError(t, err)
						for range 4 {
							require.NoError(t, p.Send(context.Background(), []byte{1}))
						}
						blocked = func() error { return p.Send(context.Background(), []byte{2}) }
					}
					done := make(chan error, 1)
					go func() { done <- blocked() }()
					time.Sleep(50 * time.Millisecond)
					h.kill()
					killed := time.Now()
					select {
					case err := <-done:
						d := time.Since(killed)
						worst = max(worst, d)
						require.ErrorIs(t, err, ring.ErrPeerDead)
						require.Contains(t, err.Error(), fmt.Sprintf("pid %d", h.pid()))
						require.Less(t, d, 2*liveness+time.Second)
					case <-time.After(time.Minute):
						t.Fatal("the blocked call did not notice its dead peer within a minute")
					}
					require.NoError(t, r.Close())
				}
				t.Logf("%d runs: ErrPeerDead at worst %v after the kill (liveness %v)", runs, worst, liveness)
			})
		}
	}
}

// TestStoppedPeer (RELIABILITY item 11): a peer stopped by SIGSTOP.
//
// short: stopped for 150 ms, with a liveness interval of 2 s, while this
// side waits on it (the producer side on a full ring, the consumer side on
// an empty one): no error at all, and the stream completes.
//
// long: stopped until the waiting side reports it; liveness 300 ms. The
// blocked call returns ErrPeerUnresponsive (not ErrPeerDead), no sooner
// than one liveness interval after the stop and within a generous bound,
// having moved nothing; a call made again while the peer is still stopped
// waits at least an interval before it reports the same; after SIGCONT,
// calling again carries on and the stream completes with every message
// checked.
func TestStoppedPeer(t *testing.T) {
	runs := slowRuns(t, 10)
	for _, c := range []struct {
		name     string
		liveness time.Duration
		stop     time.Duration // 0: until reported
	}{
		{"short", 2 * time.Second, 150 * time.Millisecond},
		{"long", 300 * time.Millisecond, 0},
	} {
		for _, stopped := range []string{"consumer", "producer"} {
			t.Run(c.name+"/"+stopped, func(t *testing.T) {
				shmtest.NoLeaks(t)
				stoppedPeer(t, stopped, c.liveness, c.stop, runs)
			})
		}
	}
}

func stoppedPeer(t *testing.T, stopped string, liveness, stop time.Duration, runs int) {
	r, key := newRing(t, ring.Config{SlotSize: 40, Slots: 16, Options: ring.Options{Liveness: liveness}})
	sz := stream.Upto(36)
	const perRun = 2000
	total := uint64(perRun * (runs + 1))
	args := []string{"-max", "36", "-liveness", liveness.String()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	// call is one blocking call of this side: a Send of message next, or a
	// Recv checked against it; it reports whether it moved the message.
	var call func(next uint64) (bool, error)
	var peer *proc
	var counted func() uint64 // this side's cursor
	if stopped == "consumer" {
		peer = startPeer(t, nil, "consume", key, args...)
		s := newSender(t, r, sz)
		call = func(next uint64) (bool, error) {
			if err := s.p.Send(ctx, sz.Put(s.buf, next)); err != nil {
				return false, err
			}
			return true, nil
		}
		counted = func() uint64 { return r.Stats().Producer.Messages }
	} else {
		peer = startPeer(t, nil, "produce", key, append(args, "-count", fmt.Sprint(total))...)
		rc := newReceiver(t, r, sz)
		call = func(next uint64) (bool, error) {
			n, err := rc.c.Recv(ctx, rc.buf)
			if err != nil {
				return false, err
			}
			require.NoError(t, sz.Check(rc.buf[:n], next))
			return true, nil
		}
		counted = func() uint64 { return r.Stats().Consumer.Messages }
	}
	peer.ready(t)

	var next uint64
	move := func(n uint64) {
		for end := next + n; next < end; next++ {
			ok, err := call(next)
			require.NoError(t, err, "message %d", next)
			require.True(t, ok)
		}
	}
	var slowest time.Duration
	for run := range runs {
		move(perRun / 2)
		stoppedAt := stopProcess(t, peer)
		if stop > 0 {
			// Resume it from the side while this side blocks on it.
			resumed := make(chan struct{})
			time.AfterFunc(stop, func() {
				_ = peer.cmd.Process.Signal(syscall.SIGCONT)
				close(resumed)
			})
			move(perRun / 2)
			<-resumed
			continue
		}
		// Block on the stopped peer until it is reported.
		for {
			before := counted()
			ok, err := call(next)
			if ok {
				require.NoError(t, err)
				next++ // the ring still had room (or messages): go on
				continue
			}
			d := time.Since(stoppedAt)
			require.ErrorIs(t, err, ring.ErrPeerUnresponsive, "run %d", run)
			require.NotErrorIs(t, err, ring.ErrPeerDead)
			require.Contains(t, err.Error(), fmt.Sprintf("pid %d", peer.pid()))
			require.Equal(t, before, counted(), "run %d: the call that reports a stopped peer moves nothing", run)
			require.GreaterOrEqual(t, d, liveness, "run %d: a stop shorter than the liveness interval is never reported", run)
			require.Less(t, d, 10*liveness+10*time.Second, "run %d: reported within a generous bound", run)
			slowest = max(slowest, d)
			// Calling again while it is still stopped waits again,
			// at least an interval, and reports it again.
			again := time.Now()
			ok, err = call(next)
			require.False(t, ok)
			require.ErrorIs(t, err, ring.ErrPeerUnresponsive, "run %d, called again", run)
			require.GreaterOrEqual(t, time.Since(again), liveness, "run %d: calling again after ErrPeerUnresponsive waits again", run)
			require.Equal(t, before, counted(), "run %d: nor does the next", run)
			break
		}
		peer.signal(t, syscall.SIGCONT)
		move(perRun / 2)
	}
	if stopped == "consumer" {
		move(total - next)
		require.NoError(t, r.Close()) // closes the producer: the peer reads to the end
		require.Equal(t, total, number(t, peer.line(t, "eof", time.Minute), 1))
	} else {
		move(total - next)
		_, err := call(next)
		require.ErrorIs(t, err, io.EOF)
	}
	peer.waitOK(t, time.Minute)
	if stop > 0 {
		t.Logf("%d stops of %v (liveness %v) of the %s while this side waited on it: no error; %d messages checked",
			runs, stop, liveness, stopped, total)
	} else {
		t.Logf("%d stops of the %s until reported: ErrPeerUnresponsive at worst %v after the stop (liveness %v); after SIGCONT %d messages checked",
			runs, stopped, slowest.Round(time.Millisecond), liveness, total)
	}
}

// stopProcess sends SIGSTOP to p and waits until every thread of it has
// stopped: kill(2) returns before the signal is acted on, and a busy thread
// on a loaded machine may run on for a millisecond or more. It returns the
// time the signal was sent.
func stopProcess(t testing.TB, p *proc) time.Time {
	t.Helper()
	sent := time.Now()
	p.signal(t, syscall.SIGSTOP)
	for deadline := sent.Add(time.Minute); ; {
		threads, err := procfs.Threads(p.pid())
		require.NoError(t, err)
		require.NotEmpty(t, threads, "%s: gone", p)
		all := true
		for _, th := range threads {
			all = all && th.State == 'T'
		}
		if all {
			return sent
		}
		require.True(t, time.Now().Before(deadline), "%s: not stopped a minute after SIGSTOP", p)
		time.Sleep(50 * time.Microsecond)
	}
}

// TestPidReuse (RELIABILITY item 12): a role owner recorded in the header
// whose pid now belongs to an unrelated live process is dead: a side
// waiting on it gets ErrPeerDead, and a new process takes the role over.
// ring.TestIdentity checks the identity itself (pid and start time); here
// the whole ring, across processes.
func TestPidReuse(t *testing.T) {
	runs := slowRuns(t, 10)
	// forged: the owner word names a live unrelated process (sleep) with
	// a start time that is not its own, as after pid reuse.
	t.Run("forged", func(t *testing.T) {
		shmtest.NoLeaks(t)
		for i := range runs {
			t.Run(fmt.Sprint(i), pidReuseForged)
		}
		t.Logf("%d runs", runs)
	})

	// real: the owner is killed, and its very pid is handed to a new,
	// unrelated process (through /proc/sys/kernel/ns_last_pid, as root).
	t.Run("real", func(t *testing.T) {
		if os.Geteuid() != 0 {
			t.Skip("not root: cannot steer pid allocation through /proc/sys/kernel/ns_last_pid")
		}
		shmtest.NoLeaks(t)
		for i := range runs {
			t.Run(fmt.Sprint(i), pidReuseReal)
		}
		t.Logf("%d runs", runs)
	})
}

func pidReuseForged(t *testing.T) {
	r, key := newRing(t, ring.Config{SlotSize: 40, Slots: 16, Options: ring.Options{Liveness: 200 * time.Millisecond}})
	other := shmtest.Sleeper(t)
	pid := other.Process.Pid
	real := startTime(t, pid)
	forgeOwner(t, r, offProducerOwner, pid, real+1)
	st := r.Stats().Producer
	require.Equal(t, pid, st.PID)
	require.False(t, st.Alive, "a live pid with another start time is not the owner")
	rc := newReceiver(t, r, stream.Upto(36))
	_, err := rc.c.Recv(context.Background(), rc.buf)
	require.ErrorIs(t, err, ring.ErrPeerDead)
	require.Contains(t, err.Error(), fmt.Sprintf("pid %d", pid))
	p := startPeer(t, nil, "produce", key, "-count", "100", "-max", "36")
	require.Equal(t, uint64(0), p.ready(t), "took the role over")
	rc.toEOF(time.Minute)
	require.Equal(t, uint64(100), rc.next)
	p.waitOK(t, time.Minute)

	// The control: the same pid with its real start time is alive,
	// and its role is not taken.
	r2, key2 := newRing(t, ring.Config{SlotSize: 40, Slots: 16})
	forgeOwner(t, r2, offConsumerOwner, pid, real)
	require.True(t, r2.Stats().Consumer.Alive)
	c := startPeer(t, nil, "consume", key2, "-max", "36")
	require.Error(t, c.wait(t, time.Minute))
	require.Contains(t, c.stderr.String(), fmt.Sprintf("role is held by a live process: consumer is held by pid %d", pid))
}

func pidReuseReal(t *testing.T) {
	r, key := newRing(t, ring.Config{SlotSize: 40, Slots: 16, Options: ring.Options{Liveness: 200 * time.Millisecond}})
	h := startPeer(t, nil, "hold", key, "-role", "producer")
	h.ready(t)
	pid := h.pid()
	owner := startTime(t, pid)
	h.kill()
	// Start times count clock ticks (10 ms at USER_HZ 100): a pid
	// reused within the tick its owner started in would look like
	// the owner. Ordinary allocation cannot do that (it would take
	// pid_max forks in one tick); steering ns_last_pid can, so wait
	// for the next tick.
	time.Sleep(30 * time.Millisecond)
	other, err := reusePid(pid)
	if err != nil {
		t.Skipf("could not hand pid %d to a new process: %v", pid, err)
	}
	t.Cleanup(func() { _ = other.Process.Kill(); _ = other.Wait() })
	require.NotEqual(t, owner, startTime(t, pid), "start times of the owner and of the process that got its pid")
	st := r.Stats().Producer
	require.Equal(t, pid, st.PID, "the header still names the killed owner's pid")
	require.False(t, st.Alive, "pid %d is alive again, as another process: not the owner", pid)
	rc := newReceiver(t, r, stream.Upto(36))
	_, err = rc.c.Recv(context.Background(), rc.buf)
	require.ErrorIs(t, err, ring.ErrPeerDead)
	p := startPeer(t, nil, "produce", key, "-count", "100", "-max", "36")
	require.Equal(t, uint64(0), p.ready(t))
	rc.toEOF(time.Minute)
	require.Equal(t, uint64(100), rc.next)
	p.waitOK(t, time.Minute)
	t.Logf("pid %d: killed owner, then given to %v; seen as dead, role taken over", pid, other.Args)
}

// reusePid starts a process (sleep) with the given pid, which must be free:
// it sets ns_last_pid to pid-1 just before the fork. Other processes may
// fork in between, so it tries a number of times.
func reusePid(pid int) (*exec.Cmd, error) {
	var err error
	for range 200 {
		if err = os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(pid-1)), 0); err != nil {
			return nil, err
		}
		cmd := exec.Command("sleep", "3600")
		if err = cmd.Start(); err != nil {
			return nil, err
		}
		if cmd.Process.Pid == pid {
			return cmd, nil
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		err = fmt.Errorf("got pid %d", cmd.Process.Pid)
	}
	return nil, err
}

// TestPeerLargeMessages: the peer's consumer, on a ring whose max_message
// is the default 1 GiB, receives messages of up to 300 KiB, larger than
// its first buffer (64 KiB), which it grows on io.ErrShortBuffer rather
// than allocating max_message at the start; every message checks.
func TestPeerLargeMessages(t *testing.T) {
	shmtest.NoLeaks(t)
	r, key := newRing(t, ring.Config{SlotSize: 16 << 10, Slots: 64, MaxMessage: ring.DefaultMaxMessage})
	sz := stream.Upto(300 << 10)
	s := newSender(t, r, sz)
	const count = 40
	c := startPeer(t, nil, "consume", key, "-count", fmt.Sprint(count), "-max", fmt.Sprint(sz.Max))
	c.ready(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for s.next < count {
		require.NoError(t, s.p.Send(ctx, s.sz.Put(s.buf, s.next)), "message %d", s.next)
		s.next++
	}
	c.waitOK(t, time.Minute)
}
