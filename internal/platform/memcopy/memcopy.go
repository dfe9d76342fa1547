// Package memcopy copies the long runs of bytes that go into and out of a
// ring's slots as the C library's memcpy copies mid-sized runs, on CPUs
// where that is faster than Go's copy.
//
// On Intel CPUs with ERMS and FSRM, glibc's memcpy copies a long run with
// REP MOVSB from a destination aligned to a cache line (up to its
// non-temporal threshold, a fraction of the L3 cache, beyond which it
// uses non-temporal stores; Copy has no such path, and copies of several
// MiB, from slots that large, still take REP MOVSB). Go's copy takes
// REP MOVSQ there, and only to a 16-byte-aligned destination; a slot's
// payload starts 4 bytes into the slot, and a fragment lands at any
// offset of the buffer a message is joined in, so the ring's long copies
// took Go's AVX loop. Through memory that is not in cache, that held
// the ring's 1 MiB messages in 16 KiB slots (a 64 MiB ring) to a median
// 0.69x of the C reference ring's throughput, against 0.78x with Copy
// (docs/DESIGN.md, "Copies").
//
// Elsewhere, and in builds with the race detector, msan or asan (which do
// not see memory that assembly writes), Copy is copy.
package memcopy

// Long is the length from which Copy may differ from copy. glibc, with
// FSRM, takes REP MOVSB from about 2 KiB; here the threshold is measured:
// in cache REP MOVSB does no better than copy, and worse for some lengths
// and alignments (2 KiB took 2.5x as long in BenchmarkMovsb), and its gain
// is through memory, for the long copies of large messages.
const Long = 4096

// Copy is copy(dst, src): it copies min(len(dst), len(src)) bytes and
// returns that number. Overlapping slices are copied as copy does. It
// inlines: a short copy costs a comparison more than copy.
func Copy(dst, src []byte) int {
	if len(dst) < Long || len(src) < Long || !useMovsb {
		return copy(dst, src)
	}
	return copyLong(dst, src)
}

// copyLong is Copy of at least Long bytes, where REP MOVSB is in use.
func copyLong(dst, src []byte) int {
	n := min(len(dst), len(src))
	if overlap(dst[:n], src[:n]) {
		return copy(dst, src)
	}
	return movsbAligned(dst[:n], src[:n])
}

// Append is append(dst, src...), with Copy when dst has room for src.
func Append(dst, src []byte) []byte {
	n := len(dst)
	if cap(dst)-n < len(src) {
		return append(dst, src...)
	}
	dst = dst[:n+len(src)]
	Copy(dst[n:], src)
	return dst
}
