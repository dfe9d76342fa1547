//go:build !amd64 || race

package fence

// Mark32 stores v at *addr with release ordering: Store32 here (an STLR on
// arm64; under the race detector an atomic store, which it sees).
func Mark32(addr *uint32, v uint32) { Store32(addr, v) }
