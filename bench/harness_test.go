package bench

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/loov/hrtime/hrtesting"

	"github.com/shmring/shmring/internal/app/hist"
	"github.com/shmring/shmring/internal/testsupport/benchkit"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
)

// harness is benchkit's, under a short name for the many signatures of
// measurements.
type harness = benchkit.Harness

// result is what one measurement of n messages (or n round trips) gives.
type result struct {
	elapsed time.Duration // the transfer alone
	// external: the C program timed itself; ns/op and MB/s must be taken
	// from elapsed, not from the benchmark's clock (which saw exec too).
	external bool
	// Round trips: latency percentiles in ns.
	p50, p99, p999 float64
	// More figures, by unit (benchstat style: "futex/1000msg").
	metrics map[string]float64
}

// Message sizes of every comparison, and their names in benchmark names.
var sizes = []int{8, 64, 256, 1 << 10, 4 << 10, 64 << 10}

// slotsFor is the ring capacity for size-byte messages in every comparison
// (the Go ring, the C ring and the channel's buffer): 4096 slots, halved
// until the slots take at most 16 MiB (2048 slots of 4 KiB, 128 of 64 KiB).
func slotsFor(size int) int {
	n, ss := 4096, ring.SlotSizeFor(size)
	for n > 64 && n*ss > 16<<20 {
		n /= 2
	}
	return n
}

// batchFor is how many size-byte messages the batched paths (Reserve/Commit,
// the C ring) publish with one cursor store: 64, or fewer so that a batch
// holds at most batchBytes. Batching by count alone starves the consumer
// when messages are large: 64 messages of 64 KiB take the producer about
// 100 us to write, longer than the consumer polls before it sleeps, so every
// batch would cost a futex wait and a wake. This is the policy the ring's
// docs recommend to users.
func batchFor(size int) int {
	return max(1, min(64, batchBytes/max(size, 1)))
}

const batchBytes = 32 << 10

// peerTimeout bounds a peer's life: a wedged peer is killed, its stdout
// closes, and the benchmark fails instead of hanging.
const peerTimeout = 10 * time.Minute

// peer is a child process playing a role, with its stdout for the
// handshake ("ready") and its report ("done ...").
type peer struct {
	benchkit.Peer
	watch *procWatch
}

// startPeer re-executes the benchmark binary as role, hands it files as fd
// 3, 4, ... (closing the parent's copies), and waits for its "ready" line.
// The child is killed when the test or benchmark ends.
func startPeer(h testing.TB, role string, files []*os.File, args ...string) *peer {
	h.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
	h.Cleanup(cancel)
	cmd := shmtest.Child(h, ctx, role, args...)
	// A race-enabled binary sleeps a second at exit (GORACE
	// atexit_sleep_ms): a peer needs no grace period to report races.
	cmd.Env = append(cmd.Env, "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	return startCmd(h, role, cmd, files)
}

// startCmd starts cmd, a peer named role, with files as fd 3, 4, ...
// (closing the parent's copies), and waits for its "ready" line.
func startCmd(h testing.TB, role string, cmd *exec.Cmd, files []*os.File) *peer {
	h.Helper()
	cmd.ExtraFiles = files
	out, err := cmd.StdoutPipe()
	if err != nil {
		h.Fatal(err)
	}
	err = cmd.Start()
	for _, f := range files {
		_ = f.Close()
	}
	if err != nil {
		h.Fatalf("start %s: %v", role, err)
	}
	shmtest.Track(cmd.Process.Pid)
	p := &peer{Peer: benchkit.Peer{Name: "peer " + role, Cmd: cmd, Lines: bufio.NewReader(out)}, watch: watchProc(h, cmd.Process.Pid)}
	if l := p.Line(h); l != "ready" {
		h.Fatalf("peer %s: got %q, want \"ready\"", role, l)
	}
	return p
}

// measureRoundTrips runs roundTrip a few times to warm up, then n times
// under the timer, each one timed (benchkit.TimeEach): elapsed is the sum
// of the laps.
func measureRoundTrips(h harness, n int, roundTrip func()) (r result, warm int) {
	warm = benchkit.WarmFor(n)
	for range warm {
		roundTrip()
	}
	if hb, ok := h.(hrBench); ok {
		return measureHRTime(hb.B, n, roundTrip), warm
	}
	laps := benchkit.TimeEach(h, n, roundTrip)
	r = result{elapsed: laps.Clock, metrics: map[string]float64{"allocs/1000rt": laps.Allocs}}
	r.p50, r.p99, r.p999 = benchkit.Percentiles(laps.Hist)
	return r, warm
}

// hrBench is a benchmark whose round trips hrtime times, for
// BenchmarkRoundTripHRTime: measureRoundTrips hands its loop to hrtesting.
type hrBench struct{ *testing.B }

// measureHRTime times n round trips with hrtime's benchmark timer and
// reports its percentiles as benchmark metrics (hrtesting's Report:
// ns/p50, ns/p90, ns/p99). result's percentiles are internal/app/hist's of the
// same laps, so that a difference from BenchmarkRoundTrip's is the clock's
// and not the histogram's.
//
// hrtime's laps differ from measureRoundTrips' in two ways, which the
// cross-check in docs/BENCHMARKS.md measures: its clock is time.Now's wall
// clock (UnixNano, which an NTP step would skew), read twice per lap (Next
// reads it before checking whether it is done, then again to start the
// lap), where measureRoundTrips reads CLOCK_MONOTONIC once.
func measureHRTime(b *testing.B, n int, roundTrip func()) result {
	if n != b.N {
		b.Fatalf("hrtime times b.N round trips: asked for %d, b.N is %d", n, b.N)
	}
	b.StopTimer()
	b.ResetTimer()
	hb := hrtesting.NewBenchmark(b) // the laps, allocated with the timer off
	allocs := benchkit.HeapAllocs()
	for hb.Next() {
		roundTrip()
	}
	allocs = benchkit.HeapAllocs() - allocs
	hb.Report()

	laps := hb.Float64s() // none when built with -tags nohrtime
	lat := new(hist.Histogram)
	var total float64
	for _, l := range laps {
		lat.Record(int64(l))
		total += l
	}
	r := result{elapsed: time.Duration(total), metrics: map[string]float64{"allocs/1000rt": benchkit.Per1000(allocs, n)}}
	r.p50, r.p99, r.p999 = benchkit.Percentiles(lat)
	return r
}
