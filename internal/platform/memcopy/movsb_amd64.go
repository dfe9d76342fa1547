//go:build amd64 && !race && !msan && !asan

package memcopy

import (
	"unsafe"

	"golang.org/x/sys/cpu"
)

// useMovsb: an Intel CPU with ERMS and FSRM, the CPUs where Go's runtime
// prefers REP MOVS too (runtime/cpuflags_amd64.go). Elsewhere REP MOVSB
// was not measured; copy stays.
var useMovsb = cpu.X86.HasERMS && isIntel() && hasFSRM()

// isIntel reports a CPU whose vendor string is GenuineIntel (CPUID leaf 0).
func isIntel() bool {
	_, b, c, d := cpuid(0, 0)
	return b == 0x756e6547 && d == 0x49656e69 && c == 0x6c65746e // "Genu" "ineI" "ntel"
}

// hasFSRM reports fast short REP MOVSB (CPUID leaf 7, EDX bit 4). Only
// asked after cpu.X86.HasERMS, which comes from leaf 7 too: the leaf is
// there.
func hasFSRM() bool {
	_, _, _, d := cpuid(7, 0)
	return d&(1<<4) != 0
}

// cpuid executes CPUID for leaf (EAX) and sub-leaf (ECX).
func cpuid(leaf, sub uint32) (a, b, c, d uint32)

// movsb copies n bytes from src to dst with REP MOVSB, forward: dst and
// src must not overlap.
//
//go:noescape
func movsb(dst, src unsafe.Pointer, n uintptr)

// movsbAligned copies src to dst, of the same length (at least 64 bytes,
// not overlapping): up to dst's next cache-line boundary with copy, the
// rest with REP MOVSB, as glibc does.
func movsbAligned(dst, src []byte) int {
	a := int(-uintptr(unsafe.Pointer(unsafe.SliceData(dst))) & 63)
	copy(dst[:a], src[:a])
	movsb(unsafe.Pointer(unsafe.SliceData(dst[a:])), unsafe.Pointer(unsafe.SliceData(src[a:])), uintptr(len(dst)-a))
	return len(dst)
}

// overlap reports whether a and b, both not empty, share a byte.
func overlap(a, b []byte) bool {
	pa, pb := uintptr(unsafe.Pointer(unsafe.SliceData(a))), uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return pa < pb+uintptr(len(b)) && pb < pa+uintptr(len(a))
}
