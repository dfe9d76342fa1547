//go:build !(amd64 || arm64)

package fence

// Pause delays for about n spin-wait hints. This platform has no assembly
// version: it is an empty loop.
func Pause(n int) {
	for i := 0; i < n; i++ {
	}
}
