package futex_test

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/futex"
)

// slack is how late a timed wait may return (RELIABILITY item 7).
const slack = 50 * time.Millisecond

// wakeUntilWoken calls Wake until it reports a waiter woken: a goroutine
// that is about to call Wait is not yet queued in the kernel, and there is
// no way to know when it is. It returns the first non-zero count.
func wakeUntilWoken(t *testing.T, word *uint32, n int) int {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		woken, err := futex.Wake(word, n)
		require.NoError(t, err)
		if woken != 0 {
			return woken
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatal("no waiter showed up in the kernel within 5s")
	return 0
}

// waiter starts a goroutine that waits on word until it is non-zero,
// looping on spurious returns. The returned channel yields Wait's first
// error, or nil once the word changed.
func waiter(word *uint32) <-chan error {
	done := make(chan error, 1)
	go func() {
		for atomic.LoadUint32(word) == 0 {
			if err := futex.Wait(word, 0, time.Time{}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	return done
}

// release sets word and wakes every waiter, then checks the waiter ended
// cleanly.
func release(t *testing.T, word *uint32, done <-chan error) {
	t.Helper()
	atomic.StoreUint32(word, 1)
	_, err := futex.Wake(word, 1<<30)
	require.NoError(t, err)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("waiter not released within 5s")
	}
}

func TestWakeNobody(t *testing.T) {
	word := new(uint32)
	for _, n := range []int{1, 2, math.MaxInt, 0, -1} {
		woken, err := futex.Wake(word, n)
		require.NoError(t, err, "n=%d", n)
		require.Zero(t, woken, "n=%d", n)
	}
}

func TestWakeCountsWoken(t *testing.T) {
	word := new(uint32)
	done := waiter(word)
	require.Equal(t, 1, wakeUntilWoken(t, word, 1))
	release(t, word, done)
}

func TestWakeAtMostN(t *testing.T) {
	word := new(uint32)
	const waiters = 3
	dones := make([]<-chan error, waiters)
	for i := range dones {
		dones[i] = waiter(word)
	}
	// Wake(1) wakes one: the waiter goes back to sleep (the word is
	// still 0), so each call finds at most one.
	for range 10 {
		woken := wakeUntilWoken(t, word, 1)
		require.Equal(t, 1, woken)
	}
	for _, done := range dones {
		release(t, word, done)
	}
}

func TestWaitValueMismatch(t *testing.T) {
	word := new(uint32)
	*word = 5
	for _, deadline := range []time.Time{{}, time.Now().Add(time.Hour)} {
		start := time.Now()
		require.NoError(t, futex.Wait(word, 4, deadline))
		require.Less(t, time.Since(start), slack)
	}
}

func TestWaitTimeout(t *testing.T) {
	for _, d := range []time.Duration{time.Millisecond, 10 * time.Millisecond, 100 * time.Millisecond} {
		t.Run(d.String(), func(t *testing.T) {
			word := new(uint32)
			start := time.Now()
			deadline := start.Add(d)
			err := waitSameDeadline(word, deadline, nil)
			elapsed := time.Since(start)
			require.ErrorIs(t, err, os.ErrDeadlineExceeded)
			require.True(t, os.IsTimeout(err), "os.IsTimeout(%v)", err)
			require.GreaterOrEqual(t, elapsed, d)
			require.LessOrEqual(t, elapsed, d+slack)
		})
	}
}

func TestWaitPastDeadline(t *testing.T) {
	word := new(uint32)
	for _, deadline := range []time.Time{
		time.Now(),
		time.Now().Add(-time.Hour),
		time.Unix(1, 0), // no monotonic reading, long past
	} {
		start := time.Now()
		err := futex.Wait(word, 0, deadline)
		require.ErrorIs(t, err, os.ErrDeadlineExceeded)
		require.Less(t, time.Since(start), slack)
	}
}

func TestWaitFarDeadline(t *testing.T) {
	// A deadline centuries away (time.Until saturates) must neither
	// overflow into the past nor be refused: the value mismatch returns.
	word := new(uint32)
	*word = 1
	require.NoError(t, futex.Wait(word, 0, time.Unix(1<<62, 0)))

	// And a matching value sleeps until woken.
	*word = 0
	done := make(chan error, 1)
	go func() { done <- futex.Wait(word, 0, time.Unix(1<<62, 0)) }()
	require.Equal(t, 1, wakeUntilWoken(t, word, 1))
	require.NoError(t, <-done)
}

// waitSameDeadline waits on a word nobody changes until the deadline,
// looping on spurious (nil) returns with the same absolute deadline, as the
// package doc says callers must. It counts the spurious returns in spurious
// if not nil.
func waitSameDeadline(word *uint32, deadline time.Time, spurious *int) error {
	for {
		if err := futex.Wait(word, 0, deadline); err != nil {
			return err
		}
		if spurious != nil {
			*spurious++
		}
	}
}

// TestWaitDoesNotStallScheduler: a waiter blocked in the kernel at
// GOMAXPROCS=1 must give up its P (Syscall, not RawSyscall), so other
// goroutines and the garbage collector run (RELIABILITY item 5). With
// RawSyscall6 this test cannot fail by itself: nothing else gets the P, so it
// hangs until go test's -timeout kills the binary.
func TestWaitDoesNotStallScheduler(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))

	word := new(uint32)
	done := waiter(word)
	// With one P, sleeping hands it to the waiter, which then blocks.
	time.Sleep(10 * time.Millisecond)

	gcDone := make(chan struct{})
	go func() {
		defer close(gcDone)
		for range 100 {
			runtime.GC()
		}
	}()
	select {
	case <-gcDone:
	case <-time.After(30 * time.Second):
		t.Fatal("100 GCs did not finish within 30s with a waiter blocked")
	}
	select {
	case err := <-done:
		t.Fatalf("waiter returned before it was woken: %v", err)
	default:
	}
	require.Equal(t, 1, wakeUntilWoken(t, word, 1))
	release(t, word, done)
}

func TestUnaligned(t *testing.T) {
	buf := make([]byte, 16)
	off := 1
	if (uintptr(unsafe.Pointer(&buf[0]))+1)%4 == 0 {
		off = 2
	}
	misaligned := (*uint32)(unsafe.Pointer(&buf[off]))

	for _, word := range []*uint32{misaligned, nil} {
		addr := fmt.Sprintf("%p", word)

		err := futex.Wait(word, 0, time.Time{})
		require.ErrorIs(t, err, futex.ErrUnaligned)
		require.Contains(t, err.Error(), addr)

		err = futex.Wait(word, 0, time.Now().Add(time.Hour))
		require.ErrorIs(t, err, futex.ErrUnaligned)

		for _, n := range []int{1, 0} {
			woken, err := futex.Wake(word, n)
			require.ErrorIs(t, err, futex.ErrUnaligned)
			require.Contains(t, err.Error(), addr)
			require.Zero(t, woken)
		}
	}
}

func TestAllocs(t *testing.T) {
	word := new(uint32)
	*word = 1
	for _, c := range []struct {
		name string
		f    func()
	}{
		{"Wake/no waiters", func() { _, _ = futex.Wake(word, 1) }},
		{"Wait/mismatch/no deadline", func() { _ = futex.Wait(word, 0, time.Time{}) }},
		{"Wait/mismatch/deadline", func() { _ = futex.Wait(word, 0, time.Now().Add(time.Hour)) }},
		{"Wait/past deadline", func() { _ = futex.Wait(word, 1, time.Now().Add(-time.Second)) }},
		{"Wait/timeout", func() { _ = futex.Wait(word, 1, time.Now().Add(time.Microsecond)) }},
	} {
		require.Zero(t, testing.AllocsPerRun(100, c.f), c.name)
	}
}
