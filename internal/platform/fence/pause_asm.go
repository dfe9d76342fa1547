//go:build amd64 || arm64

package fence

// Pause executes the CPU's spin-wait hint n times (PAUSE on amd64, YIELD on
// arm64): a short delay that touches no memory and, on a CPU shared with
// another hardware thread, leaves it the core. It does nothing if n <= 0.
func Pause(n int)
