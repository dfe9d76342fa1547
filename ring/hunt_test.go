//go:build unix

package ring_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/shmring/shmring/internal/platform/fence"
	"github.com/shmring/shmring/ring"
)

// envHuntRounds sets TestWakeupHunt's rounds per case (make soak raises it).
const envHuntRounds = "SHMRING_HUNT_ROUNDS"

// TestWakeupHunt hunts for lost wake-ups where they hide: in the few
// nanoseconds where a side that is about to sleep raises its flag and looks
// at the ring while the other side publishes and looks at the flag. That is
// the store-buffering race the protocol in wait.go closes (a store, then a
// load of the other side's word, on both sides); a fence missing on either
// side shows up only when the four accesses overlap.
//
// A ping-pong makes them overlap rarely (about once per 10^6 to 10^7 round
// trips): the waker publishes while the sleeper is still being woken. Here
// the waker instead waits until the sleeper has finished its previous call
// and is heading into its next wait, then waits a delay before it publishes,
// and tunes the delay after every round to sit on the edge between the two
// outcomes: a delay after which the sleeper found the message without
// sleeping grows, one after which the waker had to wake it shrinks. A
// random part spreads the rounds around the edge.
//
// It runs over ordinary memory, so the race detector's build of the
// atomics is the one tested: make test runs it with -race, where Go's
// atomic stores are release stores only (see internal/platform/fence.StoreFull32).
// Cases: both directions (the consumer sleeping on an empty ring, the
// producer on a full one), both fence modes, futex-only and adaptive
// waits. The ring's own timeouts are an hour away; a watchdog plays the
// timeout: when a sleeper's flag is up and what it waits for has been in
// the ring for a second, a wake-up was lost while data was present. It
// records that, wakes the sleeper, and the test fails. Each case runs
// SHMRING_HUNT_ROUNDS rounds (make soak raises it).
func TestWakeupHunt(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 || runtime.NumCPU() < 2 {
		t.Skip("the race needs two sides running at once: GOMAXPROCS and CPUs >= 2")
	}
	// A loaded machine stretches every round (both sides must run at
	// once): the short form stops a case after budget, the long form
	// (the variable set) runs every round.
	rounds, budget := 100_000, 15*time.Second
	if testing.Short() {
		rounds = 20_000
	}
	if v := os.Getenv(envHuntRounds); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		require.NoError(t, err, "%s=%q", envHuntRounds, v)
		rounds, budget = int(f), time.Duration(math.MaxInt64)
	}
	for _, dir := range []string{"empty", "full"} {
		for _, symmetric := range []bool{false, true} {
			for _, mode := range []ring.WaitMode{ring.WaitFutex, ring.WaitAdaptive} {
				name := fmt.Sprintf("%s/%s/%s", dir, fencesName(symmetric), mode)
				t.Run(name, func(t *testing.T) { hunt(t, dir, symmetric, mode, rounds, budget) })
			}
		}
	}
}

// mappedRing is heapRing over memory outside the Go heap, as a SysV
// segment is: an anonymous shared mapping. The difference matters under the
// race detector: an atomic store to the Go heap runs inside the race
// runtime's bookkeeping, which ends with a read-modify-write, a full fence;
// one to memory the race runtime does not track is the bare release store
// (on amd64 a plain MOV, which a later load may pass).
func mappedRing(t *testing.T, cfg ring.Config) (*ring.Ring, *ring.Producer, *ring.Consumer) {
	t.Helper()
	size, err := ring.SegmentSize(cfg.SlotSize, cfg.Slots)
	require.NoError(t, err)
	buf, err := unix.Mmap(-1, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_SHARED)
	require.NoError(t, err)
	r, err := ring.NewIn(buf, cfg)
	if err != nil {
		_ = unix.Munmap(buf)
		require.NoError(t, err)
	}
	t.Cleanup(func() {
		_ = r.Close()
		_ = unix.Munmap(buf)
	})
	p, err := r.Producer()
	require.NoError(t, err)
	c, err := r.Consumer()
	require.NoError(t, err)
	return r, p, c
}

// hunt runs one case: the sleeper side runs its calls in a loop; the waker
// side makes one call per round, after the sleeper is done with its last.
func hunt(t *testing.T, dir string, symmetric bool, mode ring.WaitMode, rounds int, budget time.Duration) {
	const slots = 2
	wait := ring.WaitStrategy{Mode: mode, Spin: time.Nanosecond, Yield: time.Nanosecond}
	r, p, c := mappedRing(t, ring.Config{SlotSize: 16, Slots: slots, SymmetricFences: symmetric,
		Options: ring.Options{Wait: wait, Liveness: time.Hour}})
	requireFences(t, r, symmetric)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	// The sleeper's calls and the waker's, with lead: how many calls the
	// sleeper completes before its next one must wait for the waker's.
	send := func(ctx context.Context, i int) error { return p.Send(ctx, []byte{byte(i)}) }
	recv := func(ctx context.Context, i int) error {
		var b [16]byte
		n, err := c.Recv(ctx, b[:])
		if err == nil && (n != 1 || b[0] != byte(i)) {
			err = fmt.Errorf("message %d: got %d bytes %x", i, n, b[:n])
		}
		return err
	}
	sleeperCall, wakerCall, lead, sleeperRounds := recv, send, 0, rounds
	slept := func() uint64 { n, _ := r.Sleeps(); return n }
	woke := func() uint64 { _, n := r.Wakes(); return n }
	if dir == "full" {
		sleeperCall, wakerCall, lead, sleeperRounds = send, recv, slots, rounds+slots
		slept = func() uint64 { _, n := r.Sleeps(); return n }
		woke = func() uint64 { n, _ := r.Wakes(); return n }
	}
	// lost: the sleeper's flag is up while what it waits for is there.
	lost := func() bool {
		cs, ps := r.Sleeping()
		fill := r.Stats().Fill
		if dir == "empty" {
			return cs && fill > 0
		}
		return ps && fill < slots
	}

	var (
		done       atomic.Int64 // sleeper calls completed
		failed     atomic.Bool  // the sleeper's call failed: sleeperErr is set
		sleeperErr error
		// Negative delays: pauses the sleeper makes after a call, for
		// when the waker, at once, is still too late.
		sleeperDelay atomic.Int64
		wg           sync.WaitGroup
	)
	// The sleeper's context ends if the budget stops the hunt early.
	sleeperCtx, stopSleeper := context.WithCancel(ctx)
	defer stopSleeper()
	wg.Go(func() {
		for i := range sleeperRounds {
			if err := sleeperCall(sleeperCtx, i); err != nil {
				sleeperErr = err
				failed.Store(true)
				return
			}
			done.Store(int64(i + 1))
			fence.Pause(int(sleeperDelay.Load()))
		}
	})

	var (
		stalls         []string
		delay          int // pauses before the waker's call if > 0, after the sleeper's if < 0; tuned
		early, late    int // rounds the sleeper did not sleep, and rounds it was woken
		played         int // rounds the waker played
		sleeps0, wake0 = slept(), woke()
	)
	rng := rand.New(rand.NewPCG(1, 2))
	began := time.Now()
	for i := 0; i < rounds && !failed.Load(); i++ {
		if i&1023 == 0 && time.Since(began) > budget {
			t.Logf("stopped after %d rounds: the budget of %v is spent (a loaded machine)", i, budget)
			stopSleeper()
			break
		}
		// Wait for the sleeper to finish its call before this round's:
		// it is on its way into the next wait. A second with the flag
		// up and data there is a lost wake-up.
		since := time.Now()
		for spins := 0; done.Load() < int64(i+lead) && !failed.Load(); spins++ {
			if spins&1023 != 1023 {
				continue
			}
			runtime.Gosched()
			if time.Since(since) < time.Second {
				continue
			}
			if lost() {
				stalls = append(stalls, fmt.Sprintf("round %d: the sleeper's flag up and data there for %v (delay %d pauses)",
					i, time.Since(since).Round(time.Millisecond), delay))
				r.Rescue()
			}
			since = time.Now()
		}
		// Tune on the previous round's outcome.
		s, w := slept(), woke()
		switch {
		case w != wake0:
			late++
			delay--
		case s == sleeps0:
			early++
			delay++
		}
		sleeps0, wake0 = s, w
		jitter := rng.IntN(8)
		sleeperDelay.Store(int64(-delay - jitter))
		fence.Pause(delay + jitter)
		require.NoError(t, wakerCall(ctx, i))
		played++
	}
	if dir == "full" && played == rounds {
		for i := rounds; i < rounds+slots && !failed.Load(); i++ {
			require.NoError(t, recv(ctx, i))
		}
	}
	wg.Wait()
	if played < rounds && errors.Is(sleeperErr, context.Canceled) {
		sleeperErr = nil // stopped by the budget
	}
	require.NoError(t, sleeperErr)
	t.Logf("%d rounds: the sleeper slept and was woken in %d, found the message without sleeping in %d; final delay %d pauses",
		played, late, early, delay)
	require.Empty(t, stalls, "wake-ups lost while data was present")
	require.NotZero(t, late, "no round slept: the hunt did not reach the sleep path")
	require.NotZero(t, early, "every round slept: the hunt never reached the edge")
}
