//go:build amd64 || arm64

package fence

import "unsafe"

// Pause executes the CPU's spin-wait hint n times (PAUSE on amd64, YIELD on
// arm64): a short delay that touches no memory and, on a CPU shared with
// another hardware thread, leaves it the core. It does nothing if n <= 0.
func Pause(n int)

// Prefetch asks the CPU to bring the cache line at p into its cache for
// reading (PREFETCHT0 on amd64, PRFM PLDL1KEEP on arm64): a hint, which
// never faults, blocks or changes memory. A side waiting for a line its
// peer is about to write uses it to have the line on its way as soon as
// the peer has written it.
func Prefetch(p unsafe.Pointer)
