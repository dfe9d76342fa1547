package ring

// Every unsafe.Pointer conversion of the package is in this file.

import (
	"fmt"
	"sync/atomic"
	"unsafe"
)

// headerOf returns the header at the start of buf. buf must be at least
// HeaderSize bytes and 8-byte aligned (the 64-bit atomics need it).
func headerOf(buf []byte) (*header, error) {
	if len(buf) < int(unsafe.Sizeof(header{})) {
		return nil, fmt.Errorf("%w: memory is %d bytes, the header alone is %d", ErrLayout, len(buf), HeaderSize)
	}
	p := unsafe.Pointer(unsafe.SliceData(buf))
	if a := uintptr(p) % 8; a != 0 {
		return nil, fmt.Errorf("%w: memory at %p is not 8-byte aligned", ErrLayout, p)
	}
	return (*header)(p), nil
}

// u64 returns the address of a 64-bit word for internal/platform/fence.
func u64(w *atomic.Uint64) *uint64 {
	return (*uint64)(unsafe.Pointer(w))
}

// word returns the address of a futex word for the futex package.
// atomic.Uint32 is a struct holding exactly one uint32 (and zero-size
// markers), so its address is the word's.
func word(w *atomic.Uint32) *uint32 {
	return (*uint32)(unsafe.Pointer(w))
}

// lenWord returns the address of the length word at the start of slot s
// (a slot from slots.at: 8-byte aligned, at least MinSlotSize bytes), for
// the atomic accesses of its lap mark (lapBit).
func lenWord(s []byte) *uint32 {
	return (*uint32)(unsafe.Pointer(unsafe.SliceData(s)))
}

// secondLine returns the address of byte 64 of slot s, the first byte of
// its second cache line where slots are 64-byte aligned, for
// fence.Prefetch. s must be longer than 64 bytes.
func secondLine(s []byte) unsafe.Pointer {
	return unsafe.Pointer(&s[64])
}
