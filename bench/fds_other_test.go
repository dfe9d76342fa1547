//go:build !linux

package bench

import (
	"os"
	"testing"
)

// newFDs skips: the baselines are measured on Linux (pipe2(2) and
// SOCK_CLOEXEC are Linux's), like the ring they are compared with. This
// file lets the package's tests build elsewhere (go vet on macOS).
func newFDs(h testing.TB, kind string) (*fds, []*os.File) {
	h.Helper()
	h.Skipf("the %s baseline is measured on Linux only", kind)
	return nil, nil
}
