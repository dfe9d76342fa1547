//go:build !gc || !(amd64 || arm64)

package fence

import "unsafe"

// Pause delays for about n spin-wait hints. This platform, or a compiler
// other than gc, has no assembly version: it is an empty loop.
func Pause(n int) {
	for i := 0; i < n; i++ {
	}
}

// Prefetch does nothing: this platform, or a compiler other than gc, has
// no assembly version.
func Prefetch(p unsafe.Pointer) {}
