package bench

import "golang.org/x/sys/unix"

// populate maps every page of b (a whole segment, so page-aligned) with
// one madvise, writable or readable, which makes prefault's touches cheap.
// A kernel without MADV_POPULATE_* (before 5.14) refuses it, and prefault
// touches every page alone.
func populate(b []byte, write bool) {
	advice := unix.MADV_POPULATE_READ
	if write {
		advice = unix.MADV_POPULATE_WRITE
	}
	_ = unix.Madvise(b, advice)
}
