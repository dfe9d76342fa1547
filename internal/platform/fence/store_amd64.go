//go:build amd64 && gc && !race

package fence

// Store64 stores v at *addr with release ordering: every load and store
// before it in program order is visible to another CPU before v is. It is
// no full fence: a load after it may be satisfied before v is visible,
// which is what Heavy, run by the other side, makes up for. addr must be
// 8-byte aligned.
//
// On amd64 every store is a release store, so this is a plain Go store,
// which the compiler inlines to one MOV: the ring's publication step, which
// ends in it, then inlines into every call that publishes. The gc compiler
// keeps a store in program order with the loads and stores around it,
// atomic ones included: in its SSA form every memory operation is a link
// in one chain of memory states, and the atomic load of the peer's flag
// that follows the store takes the state the store made. It does not drop
// the store either: a store is dead only if another store to the same
// address follows with no load in between, and the flag load is one. That
// is gc's behaviour, not a promise of the Go memory model: other compilers
// (gccgo, which may sink a plain store below an atomic load) build
// store_atomic.go instead, and ring's TestStoreOrder checks gc's output.
func Store64(addr *uint64, v uint64) { *addr = v }

// Store32 is Store64 for a 32-bit word (4-byte aligned).
func Store32(addr *uint32, v uint32) { *addr = v }
