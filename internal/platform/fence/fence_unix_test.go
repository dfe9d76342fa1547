//go:build unix

package fence

import (
	"runtime"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// TestStoreFullDekker: StoreFull64 on both sides, no Heavy, over memory
// outside the Go heap (a shared anonymous mapping, as a SysV segment is):
// the store-buffering outcome never happens, in race builds too. There a
// plain atomic store to such memory is a release store, and the outcome
// shows (logged, not required: a loaded machine may never show it).
func TestStoreFullDekker(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 || runtime.NumCPU() < 2 {
		t.Skip("needs two CPUs running at once")
	}
	mem, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_SHARED)
	require.NoError(t, err)
	defer func() { require.NoError(t, unix.Munmap(mem)) }()
	// x and y on lines of their own, as the ring's words are.
	x := (*atomic.Uint64)(unsafe.Pointer(&mem[0]))
	y := (*atomic.Uint64)(unsafe.Pointer(&mem[128]))
	n := 200_000
	if testing.Short() {
		n = 20_000
	}
	full := func(w *atomic.Uint64) { StoreFull64(w, 1) }
	if got := litmus(t, n, x, y, full, full, false); got != 0 {
		t.Errorf("with StoreFull64, both loads saw 0 in %d of %d rounds", got, n)
	}
	if !testing.Short() {
		plain := func(w *atomic.Uint64) { w.Store(1) }
		t.Logf("with atomic stores (race build: %v), both loads saw 0 in %d of %d rounds",
			raceEnabled, litmus(t, n, x, y, plain, plain, false), n)
	}
}
