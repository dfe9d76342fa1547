// Package benchkit is the measuring kit that the benchmarks of bench and of
// bench/peers (a module of its own) share: a [Harness] that is a
// *testing.B or a test run as a smoke check ([Smoke]), a timed [Span] that
// also counts heap allocations, [TimeEach] for per-operation latencies, the
// line protocol of the [Peer] process ("done COUNT"), and the reporters of
// the metric units that bench/report parses ("p50-ns", "ns/msg", ...). It
// lives outside a _test.go file so that both can import it; bench/peers
// reaches it through its replace directive.
//
// What a measurement does with a transport stays in its own package: this
// one only holds the clock, the counters and the names, so that a figure
// of bench and one of bench/peers are taken and printed the same way.
package benchkit

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shmring/shmring/internal/app/hist"
	"github.com/shmring/shmring/internal/platform/monotime"
)

// Harness is what a measurement needs from its caller: a *testing.B, or a
// *testing.T wrapped in [Smoke], whose timer calls do nothing.
// Measurements time themselves and call ResetTimer/StopTimer so that the
// benchmark's own ns/op covers the same span.
type Harness interface {
	testing.TB
	ResetTimer()
	StopTimer()
}

// Smoke runs a measurement as a plain test, with a few operations, to check
// that it works and that its figures are sane.
type Smoke struct{ *testing.T }

// ResetTimer does nothing: a test has no benchmark timer.
func (Smoke) ResetTimer() {}

// StopTimer does nothing: a test has no benchmark timer.
func (Smoke) StopTimer() {}

// Span is one timed stretch of a measurement: the benchmark's timer, a
// clock, and the heap allocations made meanwhile (by this process: a
// peer's are its own), so that "0 allocations per message" can be checked
// to better than allocs/op's whole numbers.
type Span struct {
	h      Harness
	start  time.Time
	allocs uint64
}

// allocSample is read by every HeapAllocs: one slice, so that counting
// allocations allocates nothing. Measurements run one at a time.
var allocSample = []metrics.Sample{{Name: "/gc/heap/allocs:objects"}}

// HeapAllocs returns the heap objects this process has allocated so far.
// The runtime counts a span's objects when its per-P cache lets the span
// go, so the count lags by up to a span per size class (128 objects of
// 64 B): figures per 1000 operations want some thousands of operations.
func HeapAllocs() uint64 {
	metrics.Read(allocSample)
	return allocSample[0].Value.Uint64()
}

// Begin resets the benchmark's timer and starts a span.
func Begin(h Harness) Span {
	h.ResetTimer()
	return Span{h: h, start: time.Now(), allocs: HeapAllocs()}
}

// End stops the timer and returns the time since Begin and the allocations
// per 1000 operations of n.
func (s Span) End(n int) (time.Duration, float64) {
	elapsed := time.Since(s.start)
	allocs := HeapAllocs() - s.allocs
	s.h.StopTimer()
	return elapsed, Per1000(allocs, n)
}

// Per1000 is count per 1000 operations of n; n below 1 counts as 1, so
// that a measurement of nothing reports its count rather than dividing by
// zero.
func Per1000(count uint64, n int) float64 {
	return float64(count) * 1000 / float64(max(n, 1))
}

// Laps is what TimeEach measured.
type Laps struct {
	// Hist holds every operation's time in ns.
	Hist *hist.Histogram
	// Clock is the laps' sum: from the start of the first operation to
	// the end of the last, by the clock the laps were read from.
	Clock time.Duration
	// Span is Begin to End by time.Now: the laps and the clock and
	// counter reads around them.
	Span time.Duration
	// Allocs is the heap allocations per 1000 operations.
	Allocs float64
}

// TimeEach runs op n times in a Span, each one timed into a histogram
// (internal/app/hist's, the one bench/cref/cring.c ports). Warming up is
// the caller's, before it calls. Each lap reads the clock once: the end of
// one operation is the start of the next.
func TimeEach(h Harness, n int, op func()) Laps {
	lat := new(hist.Histogram)
	s := Begin(h)
	// One clock read per operation, as the C reference makes: time.Now
	// reads two clocks (wall and monotonic), about 24 ns more on this VM,
	// which would be charged to every round trip of the Go transports.
	base := monotime.Now()
	last := base
	for range n {
		op()
		t := monotime.Now()
		lat.Record(t - last)
		last = t
	}
	span, allocs := s.End(n)
	return Laps{Hist: lat, Clock: time.Duration(last - base), Span: span, Allocs: allocs}
}

// WarmFor is how many untimed operations come before n timed ones: a
// tenth, at least one, at most 1000.
func WarmFor(n int) int { return min(1000, n/10+1) }

// Percentiles returns lat's p50, p99 and p99.9, the latencies every
// benchmark reports (ReportLatency).
func Percentiles(lat *hist.Histogram) (p50, p99, p999 float64) {
	return float64(lat.Quantile(0.5)), float64(lat.Quantile(0.99)), float64(lat.Quantile(0.999))
}

// ReportLatency reports latency percentiles in ns as p50-ns, p99-ns and
// p99.9-ns, the units bench/report reads.
func ReportLatency(b *testing.B, p50, p99, p999 float64) {
	b.ReportMetric(p50, "p50-ns")
	b.ReportMetric(p99, "p99-ns")
	b.ReportMetric(p999, "p99.9-ns")
}

// ReportStream reports a stream that took ns per message as ns/msg and
// msgs/s, the units bench/report reads.
func ReportStream(b *testing.B, ns float64) {
	b.ReportMetric(ns, "ns/msg")
	b.ReportMetric(1e9/ns, "msgs/s")
}

// ReportMetrics reports every figure of m under its unit ("futex/1000msg").
func ReportMetrics(b *testing.B, m map[string]float64) {
	for unit, v := range m {
		b.ReportMetric(v, unit)
	}
}

// Payload returns a message of size bytes with a recognisable pattern.
func Payload(size int) []byte {
	m := make([]byte, size)
	for i := range m {
		m[i] = byte(i*7 + 1)
	}
	return m
}

// SizeName names a size as the benchmark names do, and bench/report after
// them: "64B", "4KiB", "1MiB"; a size that is not a whole number of KiB
// or MiB in bytes or KiB.
func SizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.Itoa(n>>20) + "MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.Itoa(n>>10) + "KiB"
	default:
		return strconv.Itoa(n) + "B"
	}
}

// Peer is the other process of a measurement, which reports on a pipe a
// line at a time: a handshake first (its format is the caller's), "done
// COUNT" last, before it exits.
type Peer struct {
	// Name says which peer a failure is about: "peer ring-consume",
	// "conn server".
	Name  string
	Cmd   *exec.Cmd     // started
	Lines *bufio.Reader // the pipe it reports on
}

// Pid returns the peer's process id.
func (p *Peer) Pid() int { return p.Cmd.Process.Pid }

// Line returns the peer's next line, failing h if the peer exits first.
func (p *Peer) Line(h testing.TB) string {
	h.Helper()
	l, err := p.Lines.ReadString('\n')
	if err != nil {
		if err == io.EOF {
			err = fmt.Errorf("exited early (%v)", p.Cmd.Wait())
		}
		h.Fatalf("%s: %v", p.Name, err)
	}
	return strings.TrimSuffix(l, "\n")
}

// Done reads the peer's "done COUNT" line, waits for it to exit, and
// checks that it counted want messages (or round trips, or connections).
func (p *Peer) Done(h testing.TB, want int) {
	h.Helper()
	p.DoneWithin(h, want, want)
}

// DoneWithin is Done for a count anywhere from lo to hi.
func (p *Peer) DoneWithin(h testing.TB, lo, hi int) {
	h.Helper()
	l := p.Line(h)
	var got int
	if _, err := fmt.Sscanf(l, "done %d", &got); err != nil {
		h.Fatalf("%s: got %q, want \"done N\"", p.Name, l)
	}
	if err := p.Cmd.Wait(); err != nil {
		h.Fatalf("%s: %v", p.Name, err)
	}
	switch {
	case lo == hi && got != lo:
		h.Fatalf("%s: counted %d, want %d", p.Name, got, lo)
	case got < lo || got > hi:
		h.Fatalf("%s: counted %d, want %d to %d", p.Name, got, lo, hi)
	}
}
