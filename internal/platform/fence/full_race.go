//go:build race

package fence

import "sync/atomic"

// StoreFull64 stores v in *a and orders the store before every later load.
// This is the race build's: a swap, because an atomic store to memory the
// race runtime does not track (a shared segment) is only a release store
// there (full_norace.go has the whole story).
func StoreFull64(a *atomic.Uint64, v uint64) { a.Swap(v) }

// StoreFull32 is StoreFull64 for a 32-bit word.
func StoreFull32(a *atomic.Uint32, v uint32) { a.Swap(v) }
