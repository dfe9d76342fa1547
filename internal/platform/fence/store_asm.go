//go:build arm64 && gc && !race

package fence

// Store64 stores v at *addr with release ordering: every load and store
// before it in program order is visible to another CPU before v is. It is
// no full fence: a load after it may be satisfied before v is visible,
// which is what Heavy, run by the other side, makes up for. On arm64 it is
// an STLR, in assembly, which the compiler neither inlines nor reorders
// memory operations across. addr must be 8-byte aligned.
//
//go:noescape
func Store64(addr *uint64, v uint64)

// Store32 is Store64 for a 32-bit word (4-byte aligned).
//
//go:noescape
func Store32(addr *uint32, v uint32)
