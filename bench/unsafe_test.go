package bench

// Every unsafe.Pointer conversion of the package is in this file: words of
// shared memory that are read and written atomically, by this process and
// another.

import (
	"fmt"
	"unsafe"
)

// word32 returns the 4-byte-aligned word at off in shared memory b.
func word32(b []byte, off int) *uint32 {
	_ = b[off+3]
	p := unsafe.Pointer(&b[off])
	if uintptr(p)%4 != 0 {
		panic(fmt.Sprintf("bench: word32 at %p is not 4-byte aligned", p))
	}
	return (*uint32)(p)
}

// word64 returns the 8-byte-aligned word at off in shared memory b.
func word64(b []byte, off int) *uint64 {
	_ = b[off+7]
	p := unsafe.Pointer(&b[off])
	if uintptr(p)%8 != 0 {
		panic(fmt.Sprintf("bench: word64 at %p is not 8-byte aligned", p))
	}
	return (*uint64)(p)
}
