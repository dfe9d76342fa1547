//go:build linux && (amd64 || arm64) && !shmring_portable_futex

package futex_test

import (
	"errors"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/shmring/shmring/futex"
)

// kernelFutex: this build's Wait and Wake are futex(2), which reaches
// waiters in other processes.
const kernelFutex = true

// TestOtherErrnoWrapped: an errno other than EAGAIN, EINTR and ETIMEDOUT
// is returned, wrapped, not looped on. A page the kernel cannot read
// (PROT_NONE) gives EFAULT.
func TestOtherErrnoWrapped(t *testing.T) {
	page, err := unix.Mmap(-1, 0, os.Getpagesize(), unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	require.NoError(t, err)
	defer func() { require.NoError(t, unix.Munmap(page)) }()
	word := (*uint32)(unsafe.Pointer(unsafe.SliceData(page)))

	err = futex.Wait(word, 0, time.Now().Add(5*time.Second))
	require.ErrorIs(t, err, unix.EFAULT)
	require.False(t, errors.Is(err, os.ErrDeadlineExceeded))
	require.Contains(t, err.Error(), "futex: wait")

	_, err = futex.Wake(word, 1)
	require.ErrorIs(t, err, unix.EFAULT)
	require.Contains(t, err.Error(), "futex: wake")
}

// TestWaitSignalsDoNotStretch sends SIGUSR1 at 1 kHz to the very thread
// blocked in a 200 ms wait: whether the kernel restarts the call or it
// returns EINTR (a nil return, looped on with the same deadline), the wait
// ends within [200 ms, 250 ms] (RELIABILITY item 7).
func TestWaitSignalsDoNotStretch(t *testing.T) {
	const d = 200 * time.Millisecond

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGUSR1)
	defer signal.Stop(sigs)
	var received atomic.Int64
	stopCount := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-sigs:
				received.Add(1)
			case <-stopCount:
				return
			}
		}
	})
	defer wg.Wait()
	defer close(stopCount)

	type result struct {
		err      error
		elapsed  time.Duration
		spurious int
	}
	tids := make(chan int, 1)
	results := make(chan result, 1)
	go func() {
		// Pin the goroutine so the signals reach the thread in futex().
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tids <- unix.Gettid()
		time.Sleep(5 * time.Millisecond) // the sender starts first
		word := new(uint32)
		var r result
		start := time.Now()
		r.err = waitSameDeadline(word, start.Add(d), &r.spurious)
		r.elapsed = time.Since(start)
		results <- r
	}()

	pid, tid := unix.Getpid(), <-tids
	sent := 0
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var r result
loop:
	for {
		select {
		case r = <-results:
			break loop
		case <-tick.C:
			require.NoError(t, unix.Tgkill(pid, tid, unix.SIGUSR1))
			sent++
		}
	}

	require.ErrorIs(t, r.err, os.ErrDeadlineExceeded)
	require.GreaterOrEqual(t, r.elapsed, d)
	require.LessOrEqual(t, r.elapsed, d+slack)
	// The ticker drops ticks when the process is slow; at least some
	// signals must have been sent for the test to mean anything.
	require.Greater(t, sent, 50, "signals sent during the wait")
	t.Logf("wait took %v; %d signals sent, %d received so far, %d spurious returns",
		r.elapsed, sent, received.Load(), r.spurious)
}
