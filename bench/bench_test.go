package bench

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/shmring/shmring/internal/testsupport/benchkit"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
)

// listOnly (SHMRING_BENCH_LIST=1) makes every sub-benchmark return at once:
// bench/report runs the suite so first, with -benchtime 1x, to count what
// it will run.
var listOnly = os.Getenv("SHMRING_BENCH_LIST") != ""

// A transport's measurements, as the benchmarks and TestSmoke run them.
type (
	throughputFunc func(h harness, size, n int) result
	roundTripFunc  func(h harness, size, n int) result
)

var throughputs = []struct {
	name string
	run  throughputFunc
}{
	{"ring-send", func(h harness, size, n int) result { return ringThroughput(h, apiSend, size, slotsFor(size), n) }},
	{"ring-batch", func(h harness, size, n int) result { return ringThroughput(h, apiBatch, size, slotsFor(size), n) }},
	// The copying calls of a program with its messages in hand, both
	// sides spinning, through exported calls only (public_test.go).
	{"ring-sendbatch-spin", func(h harness, size, n int) result { return publicThroughput(h, apiSendBatch, size, n) }},
	{"ring-send-spin", func(h harness, size, n int) result { return publicThroughput(h, apiSendRecv, size, n) }},
	{"cring-batch", func(h harness, size, n int) result {
		return cringThroughput(h, size, slotsFor(size), batchFor(size), n)
	}},
	// The C ring publishing and releasing every message, as Send and Recv
	// do: what per-message publication costs the reference itself.
	{"cring-each", func(h harness, size, n int) result { return cringThroughput(h, size, slotsFor(size), 1, n) }},
	{"pipe", func(h harness, size, n int) result { return fdThroughput(h, fdPipe, size, n) }},
	{"unix-stream", func(h harness, size, n int) result { return fdThroughput(h, fdSocket, size, n) }},
	{"chan", chanThroughput},
}

var roundTrips = []struct {
	name string
	run  roundTripFunc
	// external: the C program times itself (BenchmarkRoundTripHRTime
	// leaves it out).
	external bool
}{
	{"ring-spin", func(h harness, size, n int) result { return ringRoundTrip(h, ring.WaitSpin, size, n) }, false},
	{"ring-futex", func(h harness, size, n int) result { return ringRoundTrip(h, ring.WaitFutex, size, n) }, false},
	{"cring-spin", cringRoundTrip, true},
	{"futex-bare", futexRoundTrip, false},
	// One word each way, no message: what a spinning round trip costs
	// here with nothing to carry (cref/cring.c, line).
	{"spin-bare", func(h harness, _, n int) result { return cringLineRoundTrip(h, n) }, true},
	{"pipe", func(h harness, size, n int) result { return fdRoundTrip(h, fdPipe, size, n) }, false},
	{"unix-stream", func(h harness, size, n int) result { return fdRoundTrip(h, fdSocket, size, n) }, false},
	{"chan", chanRoundTrip, false},
}

// BenchmarkThroughput streams b.N messages one way. ns/op is per message;
// MB/s counts payload bytes. The consumer is another process, except for
// chan (another goroutine).
//
// Sizes are the outer loop, so that the transports compared at one size
// run within seconds of each other: on a virtual machine the host's
// placement of the two vCPUs drifts, and with it every figure.
func BenchmarkThroughput(b *testing.B) {
	for _, size := range sizes {
		for _, t := range throughputs {
			b.Run(t.name+"/"+benchkit.SizeName(size), func(b *testing.B) {
				if listOnly {
					return
				}
				shmtest.NoLeaks(b)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				reportThroughput(b, t.run(b, size, b.N), size)
			})
		}
	}
}

func reportThroughput(b *testing.B, r result, size int) {
	ns := float64(r.elapsed.Nanoseconds()) / float64(b.N)
	if r.external {
		b.ReportMetric(ns, "ns/op")
		b.ReportMetric(float64(size)*1e3/ns, "MB/s")
	}
	benchkit.ReportStream(b, ns)
	benchkit.ReportMetrics(b, r.metrics)
}

// BenchmarkRoundTrip sends a message and waits for its echo, b.N times.
// ns/op is the mean round trip; p50-ns, p99-ns and p99.9-ns come from a
// histogram of every round trip.
// Sizes are the outer loop, as in BenchmarkThroughput.
func BenchmarkRoundTrip(b *testing.B) {
	for _, size := range sizes {
		for _, t := range roundTrips {
			b.Run(t.name+"/"+benchkit.SizeName(size), func(b *testing.B) {
				if listOnly {
					return
				}
				shmtest.NoLeaks(b)
				b.ReportAllocs()
				reportRoundTrip(b, t.run(b, size, b.N))
			})
		}
	}
}

// BenchmarkRoundTripHRTime is BenchmarkRoundTrip at 64 bytes, for the
// transports timed in this process, with github.com/loov/hrtime's
// benchmark timer (hrtesting) in place of one monotonic clock read per
// round trip. It reports hrtime's percentiles (ns/p50, ns/p90, ns/p99,
// exact, from every lap sorted) and internal/app/hist's of the same laps
// (p50-ns, p99-ns, p99.9-ns): the report sets both beside
// BenchmarkRoundTrip's as a cross-check of the clock and of the histogram.
//
// hrtime keeps every lap (8 bytes each, b.N of them) and sorts them at the
// end: right for a benchmark's b.N; internal/app/hist's package doc says why
// the programs' 10^7-message streams use internal/app/hist instead.
func BenchmarkRoundTripHRTime(b *testing.B) {
	for _, t := range roundTrips {
		if t.external {
			continue
		}
		b.Run(t.name+"/"+benchkit.SizeName(hrtimeSize), func(b *testing.B) {
			if listOnly {
				return
			}
			shmtest.NoLeaks(b)
			b.ReportAllocs()
			reportRoundTrip(b, t.run(hrBench{b}, hrtimeSize, b.N))
		})
	}
}

// hrtimeSize is the message size of BenchmarkRoundTripHRTime: the size of
// the report's round-trip table and targets.
const hrtimeSize = 64

func reportRoundTrip(b *testing.B, r result) {
	if r.external {
		b.ReportMetric(float64(r.elapsed.Nanoseconds())/float64(b.N), "ns/op")
	}
	benchkit.ReportLatency(b, r.p50, r.p99, r.p999)
	benchkit.ReportMetrics(b, r.metrics)
}

// Capacities and sizes of BenchmarkScale. A combination whose slots would
// take more than scaleMaxBytes is left out.
var (
	scaleSlots    = []int{64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20}
	scaleSizes    = []int{8, 64, 1 << 10, 4 << 10}
	scaleMaxBytes = 256 << 20
)

// BenchmarkScale is batched throughput against ring capacity and message
// size.
func BenchmarkScale(b *testing.B) {
	for _, size := range scaleSizes {
		for _, slots := range scaleSlots {
			if slots*ring.SlotSizeFor(size) > scaleMaxBytes {
				continue
			}
			b.Run(fmt.Sprintf("ring-batch/%s/slots=%d", benchkit.SizeName(size), slots), func(b *testing.B) {
				if listOnly {
					return
				}
				shmtest.NoLeaks(b)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				reportThroughput(b, ringThroughput(b, apiBatch, size, slots, b.N), size)
			})
		}
	}
}

// BenchmarkRSS: one op sends rssWarm messages, reads the resident memory
// of both processes, sends 100 times as many, and reads it again. It
// reports the largest growth seen in any op.
func BenchmarkRSS(b *testing.B) {
	for _, api := range []string{apiSend, apiBatch} {
		name := "ring-" + api
		b.Run(name+"/64B", func(b *testing.B) {
			if listOnly {
				return
			}
			shmtest.NoLeaks(b)
			var worst rssGrowth
			for range b.N {
				g := rssExperiment(b, api, 64, rssWarm)
				worst.parent = max(worst.parent, g.parent)
				worst.child = max(worst.child, g.child)
				worst.parentBefore, worst.childBefore = g.parentBefore, g.childBefore
			}
			b.ReportMetric(float64(worst.parentBefore), "parent-rss-KiB")
			b.ReportMetric(float64(worst.childBefore), "child-rss-KiB")
			b.ReportMetric(float64(worst.parent), "parent-growth-KiB")
			b.ReportMetric(float64(worst.child), "child-growth-KiB")
			b.ReportMetric(float64(rssWarm*101), "msgs")
		})
	}
}

// BenchmarkIdle: a consumer waits on an empty ring; one op is one second of
// that. cpu-pct is utime+stime of the consumer process over the second
// (10 ms resolution), oncpu-pct the same from the scheduler's exact
// per-thread counters.
func BenchmarkIdle(b *testing.B) {
	for _, mode := range []ring.WaitMode{ring.WaitFutex, ring.WaitAdaptive} {
		b.Run("ring-"+mode.String(), func(b *testing.B) {
			if listOnly {
				return
			}
			shmtest.NoLeaks(b)
			ticks, nanos, wall := idleCPU(b, mode, time.Duration(b.N)*time.Second)
			b.ReportMetric(float64(ticks)/clockTick/wall.Seconds()*100, "cpu-pct")
			b.ReportMetric(float64(nanos)/float64(wall.Nanoseconds())*100, "oncpu-pct")
		})
	}
}
