//go:build !race

package fence

import "sync/atomic"

// StoreFull64 stores v in *a and orders the store before every later load:
// the store of a Dekker pair (store your word, then load the other side's)
// for a side whose peer does not make up for it with Heavy.
//
// Outside the race detector this is a's Store, which Go makes sequentially
// consistent (an XCHG on amd64; on arm64 an STLR, which a later LDAR
// cannot pass). Under the race detector it is a's Swap: there an atomic
// store to memory the race runtime does not track, which a shared segment
// is, is only a release store (a plain MOV on amd64), and a later load may
// be satisfied before the store is visible to another CPU. A swap is a
// read-modify-write, a full fence in every build.
func StoreFull64(a *atomic.Uint64, v uint64) { a.Store(v) }

// StoreFull32 is StoreFull64 for a 32-bit word.
func StoreFull32(a *atomic.Uint32, v uint32) { a.Store(v) }
