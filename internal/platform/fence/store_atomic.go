//go:build !gc || !(amd64 || arm64) || race

package fence

import "sync/atomic"

// Store64 stores v at *addr with (at least) release ordering. This build
// uses Go's atomic store: under the race detector, so that it sees the
// store as the synchronisation it is (assembly is invisible to it), and on
// platforms without an assembly version. Under the race detector that is
// no stronger than release ordering on memory the race runtime does not
// track (a shared segment): a store that must not be passed by a later
// load is StoreFull64, never this.
func Store64(addr *uint64, v uint64) { atomic.StoreUint64(addr, v) }

// Store32 is Store64 for a 32-bit word.
func Store32(addr *uint32, v uint32) { atomic.StoreUint32(addr, v) }
