//go:build gc && (amd64 || arm64)

package fence

import "unsafe"

// Pause executes the CPU's spin-wait hint n times (PAUSE on amd64, YIELD on
// arm64): a short delay that touches no memory and, on a CPU shared with
// another hardware thread, leaves it the core. It does nothing if n <= 0.
func Pause(n int)

// Prefetch asks the CPU to bring the cache line at p into its cache for
// reading (PREFETCHT0 on amd64, PRFM PLDL1KEEP on arm64): a hint, which
// never faults, blocks or changes memory. A side that waits for a line its
// peer is about to write calls it at each poll, so that the line is
// fetched again soon after the peer has written it.
//
//go:noescape
func Prefetch(p unsafe.Pointer)
