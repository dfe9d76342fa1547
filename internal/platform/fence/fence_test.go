package fence

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

func u64(w *atomic.Uint64) *uint64 { return (*uint64)(unsafe.Pointer(w)) }

func TestStore(t *testing.T) {
	var w64 [2]uint64
	var w32 [2]uint32
	Store64(&w64[1], 0x0123456789abcdef)
	Store32(&w32[1], 0x89abcdef)
	if w64 != [2]uint64{0, 0x0123456789abcdef} || w32 != [2]uint32{0, 0x89abcdef} {
		t.Fatalf("stores wrote %#x and %#x", w64, w32)
	}
}

func TestHeavy(t *testing.T) {
	if err := Register(); err != nil {
		t.Skipf("no expedited membarrier here: %v", err)
	}
	if err := Register(); err != nil {
		t.Fatalf("second Register: %v", err)
	}
	if err := Heavy(); err != nil {
		t.Fatal(err)
	}
}

// sb runs the store-buffering litmus test n times on two threads: A stores x
// then loads y, B stores y, optionally calls Heavy, then loads x. It returns
// how often both loads saw 0, the outcome a Dekker handshake must exclude.
// A stores with Store64, B with an atomic store; the words are on the Go
// heap.
func sb(t *testing.T, n int, heavy bool) int {
	var x, y atomic.Uint64
	storeA := func(w *atomic.Uint64) { Store64(u64(w), 1) }
	storeB := func(w *atomic.Uint64) { w.Store(1) }
	return litmus(t, n, &x, &y, storeA, storeB, heavy)
}

// litmus is sb with the words and the two sides' stores given.
func litmus(t *testing.T, n int, x, y *atomic.Uint64, storeA, storeB func(*atomic.Uint64), heavy bool) int {
	var (
		r1, r2       uint64
		start, ended atomic.Int64
		wg           sync.WaitGroup
		both0        int
	)
	wg.Add(2)
	go func() { // A: the waker
		defer wg.Done()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		for i := int64(1); i <= int64(n); i++ {
			for start.Load() < i {
			}
			storeA(x)
			r1 = y.Load()
			ended.Add(1)
		}
	}()
	go func() { // B: the sleeper, which also starts each round
		defer wg.Done()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		for i := int64(1); i <= int64(n); i++ {
			x.Store(0)
			y.Store(0)
			start.Store(i)
			storeB(y)
			if heavy {
				if err := Heavy(); err != nil {
					t.Error(err)
					return
				}
			}
			r2 = x.Load()
			for ended.Load() < i {
			}
			if r1 == 0 && r2 == 0 {
				both0++
			}
		}
	}()
	wg.Wait()
	return both0
}

// TestDekker: with Heavy on the sleeper's side, the store-buffering outcome
// never happens. Without it, it may (x86 lets a load pass an earlier store
// to another address); that run is reported, not required, because a
// loaded machine may never show it, but when it shows, it proves the
// litmus test can see what Heavy prevents.
func TestDekker(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 || runtime.NumCPU() < 2 {
		t.Skip("needs two CPUs running at once")
	}
	if err := Register(); err != nil {
		t.Skipf("no expedited membarrier here: %v", err)
	}
	n := 20000
	if testing.Short() {
		n = 2000
	}
	if got := sb(t, n, true); got != 0 {
		t.Errorf("with Heavy, both loads saw 0 in %d of %d rounds", got, n)
	}
	if !testing.Short() && !raceEnabled {
		t.Logf("without Heavy, both loads saw 0 in %d of %d rounds", sb(t, n*10, false), n*10)
	}
}

// TestPause: a count of zero or less is no pause (an assembly loop that
// decremented first would run 2^64 times), and a long one returns.
func TestPause(t *testing.T) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		Pause(0)
		Pause(-1)
		Pause(1 << 10)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Pause(0), Pause(-1) or Pause(1024) did not return in 30 s")
	}
}
