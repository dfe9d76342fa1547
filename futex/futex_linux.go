//go:build linux && (amd64 || arm64) && !shmring_portable_futex

package futex

import (
	"fmt"
	"math"
	"os"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Operations from <linux/futex.h>; golang.org/x/sys/unix does not export
// them. FUTEX_PRIVATE_FLAG (128) is deliberately absent: the words live in
// memory shared by two processes, and a private futex is keyed by the
// caller's address space, so a wake from the other process would never find
// the waiter. FUTEX_CLOCK_REALTIME (256) is absent too: without it the
// absolute timeout of FUTEX_WAIT_BITSET is measured on CLOCK_MONOTONIC.
const (
	opWaitBitset = 9 // FUTEX_WAIT_BITSET: absolute timeout
	opWake       = 1 // FUTEX_WAKE: same as FUTEX_WAKE_BITSET with all bits

	bitsetMatchAny = 0xffffffff // FUTEX_BITSET_MATCH_ANY
)

// Wait blocks the calling goroutine's thread while *word == expected, until a Wake
// on the same word (from any process mapping it), a spurious wake-up, or the
// absolute deadline. A zero deadline means no deadline.
//
// The comparison and the sleep are one atomic step in the kernel: a Wake
// that follows a change of *word cannot slip in between. Wait returns nil
// when it was woken, when *word != expected on entry (EAGAIN) and when a
// signal interrupted it (EINTR): callers must re-check their condition and
// call Wait again, with the same deadline. When the deadline passes it
// returns os.ErrDeadlineExceeded itself (so errors.Is and os.IsTimeout both
// hold); a deadline already past returns it without a system call. Any
// other error is returned wrapped with the operation and the address, and
// matches its errno with errors.Is (unix.EFAULT for unmapped memory).
//
// The deadline is read on the monotonic clock: it is converted on each call
// to CLOCK_MONOTONIC as now + time.Until(deadline).
//
// Wait does not allocate on success, on a spurious return or on timeout.
// The word must stay mapped for the duration of the call.
func Wait(word *uint32, expected uint32, deadline time.Time) error {
	if err := checkWord("wait", word); err != nil {
		return err
	}
	var ts unix.Timespec
	var tsp unsafe.Pointer // nil: no timeout
	if !deadline.IsZero() {
		d := time.Until(deadline)
		if d <= 0 {
			return os.ErrDeadlineExceeded
		}
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
			return fmt.Errorf("futex: wait on %p: clock_gettime: %w", word, err)
		}
		// In seconds and nanoseconds, not a single int64 of nanoseconds:
		// a deadline centuries away (time.Until saturates near 292 years)
		// must not overflow. The kernel saturates large values.
		ts.Sec += int64(d / time.Second)
		ts.Nsec += int64(d % time.Second)
		if ts.Nsec >= int64(time.Second) {
			ts.Sec++
			ts.Nsec -= int64(time.Second)
		}
		tsp = unsafe.Pointer(&ts)
	}
	// Syscall6, not RawSyscall6: the thread may block for a long time, and
	// the runtime must know it left Go code so that it hands the P to
	// another thread and lets the garbage collector stop the world.
	_, _, errno := unix.Syscall6(unix.SYS_FUTEX,
		uintptr(unsafe.Pointer(word)), opWaitBitset, uintptr(expected),
		uintptr(tsp), 0, bitsetMatchAny)
	switch errno {
	case 0, unix.EAGAIN, unix.EINTR:
		return nil
	case unix.ETIMEDOUT:
		return os.ErrDeadlineExceeded
	default:
		return fmt.Errorf("futex: wait on %p: %w", word, errno)
	}
}

// Wake wakes at most n waiters blocked on word and reports how many it woke.
//
// Waiters in any process that maps the same memory are found, wherever the
// memory is mapped there. n <= 0 wakes nobody and makes no system call; n
// above math.MaxInt32 is taken as math.MaxInt32 (the kernel's "all").
// Errors are wrapped with the operation and the address. Wake does not
// allocate unless it returns an error.
func Wake(word *uint32, n int) (woken int, err error) {
	if err := checkWord("wake", word); err != nil {
		return 0, err
	}
	if n <= 0 {
		return 0, nil
	}
	n = min(n, math.MaxInt32)
	r, _, errno := unix.Syscall6(unix.SYS_FUTEX,
		uintptr(unsafe.Pointer(word)), opWake, uintptr(n), 0, 0, 0)
	if errno != 0 {
		return 0, fmt.Errorf("futex: wake %p: %w", word, errno)
	}
	return int(r), nil
}
