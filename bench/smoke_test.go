package bench

import (
	"flag"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/shmring/shmring/internal/testsupport/benchkit"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
)

func itoa(n int) string { return strconv.Itoa(n) }

// TestSmoke runs every transport of the benchmarks once, with a few
// messages, at the smallest and largest sizes: what "go test ./bench/"
// checks so that a broken benchmark shows up without running the suite.
func TestSmoke(t *testing.T) {
	for _, size := range []int{8, 64 << 10} {
		for _, c := range throughputs {
			t.Run("throughput/"+c.name+"/"+benchkit.SizeName(size), func(t *testing.T) {
				shmtest.NoLeaks(t)
				r := c.run(benchkit.Smoke{T: t}, size, 3000)
				if r.elapsed <= 0 {
					t.Errorf("elapsed %v", r.elapsed)
				}
			})
		}
		for _, c := range roundTrips {
			t.Run("roundtrip/"+c.name+"/"+benchkit.SizeName(size), func(t *testing.T) {
				shmtest.NoLeaks(t)
				r := c.run(benchkit.Smoke{T: t}, size, 200)
				if r.elapsed <= 0 || !(r.p50 > 0 && r.p50 <= r.p99 && r.p99 <= r.p999) {
					t.Errorf("elapsed %v, p50 %v, p99 %v, p99.9 %v", r.elapsed, r.p50, r.p99, r.p999)
				}
			})
		}
	}
	t.Run("scale/ring-batch/64B/slots=64", func(t *testing.T) {
		shmtest.NoLeaks(t)
		ringThroughput(benchkit.Smoke{T: t}, apiBatch, 64, 64, 3000)
	})
}

// TestProc checks the /proc readers on this process.
func TestProc(t *testing.T) {
	pid := os.Getpid()
	if kib, err := rssKiB(pid); err != nil || kib <= 0 {
		t.Errorf("rssKiB: %d, %v", kib, err)
	}
	if _, err := cpuTicks(pid); err != nil {
		t.Errorf("cpuTicks: %v", err)
	}
	if ns, err := onCPUNanos(pid); err != nil || ns <= 0 {
		t.Errorf("onCPUNanos: %d, %v", ns, err)
	}

	cmd := shmtest.Sleeper(t)
	w := watchProc(t, cmd.Process.Pid)
	if !w.alive() {
		t.Error("procWatch: a running child is not alive")
	}
	if n := testing.AllocsPerRun(100, func() { w.alive() }); n != 0 {
		t.Errorf("procWatch.alive: %v allocations per call, want 0", n)
	}
	_ = cmd.Process.Kill()
	for i := 0; w.alive(); i++ { // a zombie until reaped, then gone
		if i == 1000 {
			t.Fatal("procWatch: a killed child still alive after 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = cmd.Wait() // reaped: the descriptor's process is gone
	if w.alive() {
		t.Error("procWatch: a reaped child is alive")
	}
}

// TestRoundTripHRTime runs BenchmarkRoundTripHRTime's measurement of the
// spinning ring for 300 round trips (testing.Benchmark, with -benchtime
// set to 300x meanwhile): hrtime's timer must have run the loop and
// reported its percentiles, and internal/app/hist's of the same laps must be
// there beside them.
func TestRoundTripHRTime(t *testing.T) {
	f := flag.Lookup("test.benchtime")
	if f == nil {
		t.Fatal("no -test.benchtime flag")
	}
	old := f.Value.String()
	if err := f.Value.Set("300x"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Value.Set(old) })

	var failed bool
	res := testing.Benchmark(func(b *testing.B) {
		defer func() { failed = failed || b.Failed() }()
		shmtest.NoLeaks(b)
		reportRoundTrip(b, ringRoundTrip(hrBench{b}, ring.WaitSpin, hrtimeSize, b.N))
	})
	if failed {
		t.Fatal("the benchmark failed")
	}
	if res.N != 300 {
		t.Fatalf("ran %d round trips, want 300", res.N)
	}
	for _, pair := range [][2]string{{"ns/p50", "ns/p99"}, {"ns/p50", "ns/p90"}, {"p50-ns", "p99-ns"}, {"p99-ns", "p99.9-ns"}} {
		lo, ok1 := res.Extra[pair[0]]
		hi, ok2 := res.Extra[pair[1]]
		if !ok1 || !ok2 || !(lo > 0 && lo <= hi) {
			t.Errorf("%s %v (%v), %s %v (%v): want both, 0 < the first <= the second (metrics %v)",
				pair[0], lo, ok1, pair[1], hi, ok2, res.Extra)
		}
	}
	if res.T <= 0 {
		t.Errorf("hrtime's timer ran for %v", res.T)
	}
}
