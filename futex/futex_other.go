//go:build !linux || !(amd64 || arm64) || shmring_portable_futex

package futex

import "time"

// Wait blocks the calling goroutine while *word == expected, until a Wake
// on the same word from this process, a spurious wake-up, or the absolute
// deadline (zero: none). This build makes no futex(2) call: it waits as
// "Other platforms" in the package doc says, and a Wake in another process
// does not reach it (it sees the word change within 10 ms instead).
//
// The returns are those of Wait on Linux: nil to look again (woken, the
// word changed or did not hold expected on entry), os.ErrDeadlineExceeded
// itself when the deadline passes (at once, for one already past), and
// ErrUnaligned for a nil or misaligned word. Once its pool holds a waiter,
// Wait allocates nothing.
func Wait(word *uint32, expected uint32, deadline time.Time) error {
	return waitPortable(word, expected, deadline, defaultPolling)
}

// Wake wakes at most n waiters of this process blocked on word and reports
// how many it woke; n <= 0 wakes nobody. Waiters in other processes are
// not found, and not counted. It returns ErrUnaligned for a nil or
// misaligned word.
func Wake(word *uint32, n int) (woken int, err error) {
	return wakePortable(word, n)
}
