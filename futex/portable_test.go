package futex

import (
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The portable Wait and Wake, called directly: they are what Wait and Wake
// are on every platform but 64-bit Linux, and this file runs them on
// Linux. (The package's other tests run them through Wait and Wake when
// built with -tags shmring_portable_futex.)

// noPolling makes only a Wake end a portable wait whose word is unchanged:
// a lost Wake shows as a wait that runs to its deadline.
var noPolling = polling{min: time.Hour, max: time.Hour}

// liveness bounds what should take microseconds; reaching it is a failure,
// not a slow machine.
const liveness = 10 * time.Second

// queued reports how many portable waiters are queued on word.
func queued(word *uint32) int {
	waiters.mu.Lock()
	defer waiters.mu.Unlock()
	n := 0
	for w := waiters.q[word]; w != nil; w = w.next {
		n++
	}
	return n
}

// waitQueued waits until n waiters are queued on word.
func waitQueued(t *testing.T, word *uint32, n int) {
	t.Helper()
	require.Eventually(t, func() bool { return queued(word) == n }, liveness, 100*time.Microsecond,
		"%d waiters queued, want %d", queued(word), n)
}

// TestPortableWake: a Wake ends a wait whose word did not change (only a
// Wake can: polling is off), wakes at most n, the longest waiting first,
// and counts what it woke.
func TestPortableWake(t *testing.T) {
	word := new(uint32)
	const n = 3
	done := make([]chan error, n)
	for i := range done {
		done[i] = make(chan error, 1)
		go func() { done[i] <- waitPortable(word, 0, time.Now().Add(liveness), noPolling) }()
		waitQueued(t, word, i+1) // queued in order 0, 1, 2
	}
	woken, err := wakePortable(word, 2)
	require.NoError(t, err)
	require.Equal(t, 2, woken)
	for i := range 2 {
		select {
		case err := <-done[i]:
			require.NoError(t, err, "waiter %d", i)
		case <-time.After(liveness):
			t.Fatalf("waiter %d not woken within %v", i, liveness)
		}
	}
	require.Equal(t, 1, queued(word), "the third waiter is still queued")
	select {
	case err := <-done[2]:
		t.Fatalf("third waiter returned before its Wake: %v", err)
	default:
	}
	woken, err = wakePortable(word, math.MaxInt)
	require.NoError(t, err)
	require.Equal(t, 1, woken)
	require.NoError(t, <-done[2])
	require.Zero(t, queued(word))

	for _, n := range []int{1, 0, -1} {
		woken, err := wakePortable(word, n)
		require.NoError(t, err)
		require.Zero(t, woken, "Wake(%d) with nobody waiting", n)
	}
}

// TestPortablePolls: a change of the word that no Wake of this process
// follows, as when another process that maps the memory makes it, ends the
// wait by polling.
func TestPortablePolls(t *testing.T) {
	word := new(uint32)
	done := make(chan error, 1)
	go func() { done <- waitPortable(word, 0, time.Time{}, defaultPolling) }()
	waitQueued(t, word, 1)
	atomic.StoreUint32(word, 1)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(liveness):
		t.Fatalf("a changed word not seen within %v", liveness)
	}
	require.Zero(t, queued(word))
}

// TestPortableReturns: a word that does not hold expected returns at once,
// a deadline passes with os.ErrDeadlineExceeded itself, a Wake that came
// too late is not left in the waiter for its next wait, and nothing stays
// queued.
func TestPortableReturns(t *testing.T) {
	word := new(uint32)
	*word = 5
	require.NoError(t, waitPortable(word, 4, time.Time{}, noPolling))
	require.NoError(t, waitPortable(word, 4, time.Now().Add(time.Hour), noPolling))

	require.ErrorIs(t, waitPortable(word, 5, time.Now().Add(-time.Second), noPolling), os.ErrDeadlineExceeded)
	start := time.Now()
	err := waitPortable(word, 5, start.Add(20*time.Millisecond), noPolling)
	require.True(t, errors.Is(err, os.ErrDeadlineExceeded) && os.IsTimeout(err), "got %v", err)
	require.GreaterOrEqual(t, time.Since(start), 20*time.Millisecond)
	require.Zero(t, queued(word))

	var zero *uint32
	require.ErrorIs(t, waitPortable(zero, 0, time.Time{}, noPolling), ErrUnaligned)
	_, err = wakePortable(zero, 1)
	require.ErrorIs(t, err, ErrUnaligned)

	// A Wake that signals a waiter whose wait is returning another way
	// (its deadline passed) leaves the signal in the waiter's channel:
	// release must empty it, or the recycled waiter's next wait would
	// return at once.
	w := waiterPool.Get().(*waiter)
	enqueue(word, w)
	woken, err := wakePortable(word, 1)
	require.NoError(t, err)
	require.Equal(t, 1, woken)
	release(w)
	require.Zero(t, len(w.ch), "signal left in a released waiter")
	require.Zero(t, queued(word))
}

// TestPortableNoLostWakeup runs the package doc's contract between two
// goroutines, each waiting in turn for the other's count to move, with
// polling off: a Wake lost between a waiter's comparison and its sleep
// would leave a side asleep until its deadline. It runs at GOMAXPROCS 1
// too, where the two interleave only at the scheduler's will.
func TestPortableNoLostWakeup(t *testing.T) {
	rounds := 20000
	if testing.Short() {
		rounds = 2000
	}
	for _, procs := range []int{runtime.GOMAXPROCS(0), 1} {
		prev := runtime.GOMAXPROCS(procs)
		pingPong(t, rounds)
		runtime.GOMAXPROCS(prev)
	}
}

// pingPong makes two goroutines take turns: each publishes its next count
// and then waits for the other's, sleeping on its own sequence word.
func pingPong(t *testing.T, rounds int) {
	t.Helper()
	var a, b side
	errs := make(chan error, 1)
	go func() {
		for n := uint32(1); n <= uint32(rounds); n++ {
			if err := b.await(&a, n); err != nil {
				errs <- fmt.Errorf("b waiting for a's %d: %w", n, err)
				return
			}
			b.publish(&a, n)
		}
		errs <- nil
	}()
	for n := uint32(1); n <= uint32(rounds); n++ {
		a.publish(&b, n)
		if err := a.await(&b, n); err != nil {
			t.Fatalf("GOMAXPROCS=%d: a waiting for b's %d (a lost wake-up): %v", runtime.GOMAXPROCS(0), n, err)
		}
	}
	require.NoError(t, <-errs, "GOMAXPROCS=%d", runtime.GOMAXPROCS(0))
	require.Zero(t, queued(&a.seq))
	require.Zero(t, queued(&b.seq))
}

// side is one goroutine's end of pingPong: the count it publishes, its
// sequence word and its sleeping flag, as in the package doc. Plain words
// with sync/atomic's functions, because Wait takes a *uint32.
type side struct {
	count, seq, sleeping uint32
}

// await is the doc's waiter: it returns once peer's count reaches want.
func (s *side) await(peer *side, want uint32) error {
	deadline := time.Now().Add(liveness)
	for {
		v := atomic.LoadUint32(&s.seq)
		atomic.StoreUint32(&s.sleeping, 1)
		if atomic.LoadUint32(&peer.count) >= want {
			atomic.StoreUint32(&s.sleeping, 0)
			return nil
		}
		err := waitPortable(&s.seq, v, deadline, noPolling)
		atomic.StoreUint32(&s.sleeping, 0)
		if err != nil {
			return err
		}
	}
}

// publish is the doc's waker: it moves this side's count and wakes peer
// if it announced that it sleeps.
func (s *side) publish(peer *side, n uint32) {
	atomic.StoreUint32(&s.count, n)
	if atomic.LoadUint32(&peer.sleeping) != 0 {
		atomic.StoreUint32(&peer.sleeping, 0)
		atomic.AddUint32(&peer.seq, 1)
		_, _ = wakePortable(&peer.seq, 1)
	}
}
