package peers

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shmring/shmring/internal/app/hist"
	"github.com/shmring/shmring/internal/platform/monotime"
	"github.com/shmring/shmring/internal/testsupport/benchkit"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
)

// Message sizes of each comparison.
var (
	roundTripSizes  = []int{64, 4 << 10}
	throughputSizes = []int{64, 64 << 10, 1 << 20}
)

// setupSize is the first message of a new connection.
const setupSize = 64

// roundTrip sends a size-byte request n times (after a warm-up) and waits
// for each reply: the server echoes it.
func roundTrip(h harness, t transport, size, n int) result {
	h.Helper()
	return roundTripOn(h, t, size, n, serverOptions{})
}

// roundTripOn is roundTrip against a server started with o.
func roundTripOn(h harness, t transport, size, n int, o serverOptions) result {
	h.Helper()
	p := startPeer(h, t, modeEcho, size, 0, o)
	ctx := context.Background()
	ep := p.dial(h, ctx)
	call := callFunc(ep, t.call)
	req, resp := benchkit.Payload(size), make([]byte, size)
	warm := benchkit.WarmFor(n)
	var before *ring.Stats
	r := timeEach(h, warm, n, "rt", func() {
		if m, err := call(ctx, req, resp); err != nil || m != size {
			h.Fatalf("%s round trip of %d bytes: a %d-byte reply, %v", t.name, size, m, err)
		}
	}, func() { before = statsOf(ep) })
	addRingMetrics(r.metrics, before, statsOf(ep), n, "rt")
	if err := ep.close(); err != nil {
		h.Fatal(err)
	}
	p.Done(h, warm+n)
	return r
}

// throughput sends n messages of size bytes one way, and stops the clock
// when the server acknowledges the last.
func throughput(h harness, t transport, size, n int) result {
	h.Helper()
	p := startPeer(h, t, modeSink, size, n, serverOptions{})
	ctx := context.Background()
	ep := p.dial(h, ctx)
	msg, ack := benchkit.Payload(size), make([]byte, 1)
	before := statsOf(ep)
	s := benchkit.Begin(h)
	for i := range n {
		if err := ep.send(ctx, msg); err != nil {
			h.Fatalf("%s: message %d of %d bytes: %v", t.name, i, size, err)
		}
	}
	if m, err := ep.recv(ctx, ack); err != nil || m != 1 {
		h.Fatalf("%s: the acknowledgement: %d bytes, %v", t.name, m, err)
	}
	elapsed, allocs := s.End(n)
	r := result{elapsed: elapsed, metrics: map[string]float64{"allocs/1000msg": allocs}}
	addRingMetrics(r.metrics, before, statsOf(ep), n, "msg")
	if err := ep.close(); err != nil {
		h.Fatal(err)
	}
	p.Done(h, n)
	return r
}

// statsOf returns the counters of the ring ep sends on, if it is conn's.
func statsOf(ep endpoint) *ring.Stats {
	if rs, ok := ep.(ringStats); ok {
		st := rs.sendStats()
		return &st
	}
	return nil
}

// addRingMetrics adds, for a conn endpoint, the futex waits and wakes of
// both sides of the ring it sent on between before and after (which count
// its sleeps on eventfds too) and its stalls (a side found the ring full
// or empty and waited), per 1000 of n operations.
func addRingMetrics(m map[string]float64, before, after *ring.Stats, n int, per string) {
	if before == nil || after == nil {
		return
	}
	calls := func(st *ring.Stats) uint64 {
		return st.Producer.Waits + st.Producer.Wakes + st.Consumer.Waits + st.Consumer.Wakes
	}
	stalls := func(st *ring.Stats) uint64 { return st.Producer.Stalls + st.Consumer.Stalls }
	m["futex/1000"+per] = float64(calls(after)-calls(before)) * 1000 / float64(n)
	m["stalls/1000"+per] = float64(stalls(after)-stalls(before)) * 1000 / float64(n)
}

// setup makes n connections (after a few untimed), each timed from the
// start of its dial to the reply to its first 64-byte message, and closed
// outside the clock. For a transport that loses first messages (loses),
// and only for it, a set-up (dial and first round trip) not done within
// firstTripBound is counted (lost-conns, of the b.N) and left out of the
// latencies, which are then those of the connections that worked; ns/op
// and the allocations count every attempt, a lost one's wait included.
// Any other transport's failure fails the benchmark.
func setup(h harness, t transport, n int) result {
	h.Helper()
	p := startPeer(h, t, modeMany, setupSize, 0, serverOptions{})
	req, resp := benchkit.Payload(setupSize), make([]byte, setupSize)
	lost := 0
	one := func() (int64, bool) {
		// Only a transport that loses set-ups gets a bound: the
		// others have never hung here, and under a loaded make test
		// a bound would be one more way to fail for nothing.
		ctx, cancel := context.Background(), context.CancelFunc(func() {})
		if t.loses {
			ctx, cancel = context.WithTimeout(ctx, firstTripBound)
		}
		defer cancel()
		t0 := monotime.Now()
		ep, err := p.t.dial(ctx, p.addr)
		if err != nil {
			if t.loses && ctx.Err() != nil {
				lost++
				return 0, false
			}
			h.Fatalf("dial %s at %s: %v", t.name, p.addr, err)
		}
		m, err := callFunc(ep, t.call)(ctx, req, resp)
		d := monotime.Now() - t0
		switch {
		case t.loses && errors.Is(err, context.DeadlineExceeded):
			lost++
		case err != nil || m != setupSize:
			h.Fatalf("%s: first round trip: a %d-byte reply, %v", t.name, m, err)
		}
		if err := ep.close(); err != nil {
			h.Fatal(err)
		}
		return d, err == nil
	}
	warm := min(10, n/10+1)
	for range warm {
		one()
	}
	warmLost := lost
	lost = 0
	lat := new(hist.Histogram)
	s := benchkit.Begin(h)
	var total int64
	for range n {
		if d, ok := one(); ok {
			lat.Record(d)
			total += d
		}
	}
	elapsed, allocs := s.End(n)
	if t.loses {
		p.stopLosing(h, warm+n, warmLost+lost)
	} else {
		p.stop(h, warm+n)
	}
	if lost == n {
		h.Fatalf("%s: all %d set-ups lost", t.name, n)
	}
	m := map[string]float64{"setup-ns": float64(total) / float64(n-lost), "allocs/1000conn": allocs}
	if t.loses {
		m["lost-conns"] = float64(lost)
	}
	return result{
		elapsed: elapsed,
		p50:     float64(lat.Quantile(0.5)),
		p99:     float64(lat.Quantile(0.99)),
		metrics: m,
	}
}

// firstTripBound is how long setup waits for a new connection's dial and
// first reply: over a thousand times conn's set-up p50 here (under 1 ms),
// and some 17 times shmipc-go's p99 (about 60 ms); far above what a
// transport that works takes.
const firstTripBound = time.Second

// BenchmarkPeerRoundTrip: a request and its echoed reply, b.N times.
// p50-ns, p99-ns and p99.9-ns come from a histogram of every round trip.
// Sizes are the outer loop, so the transports compared at one size run
// within seconds of each other.
func BenchmarkPeerRoundTrip(b *testing.B) {
	benchEach(b, roundTripSizes, roundTripNames, func(b *testing.B, t transport, size int) {
		reportLatency(b, roundTrip(b, t, size, b.N))
	})
}

// BenchmarkSlotStride: conn's round trip, Send/Recv and Client.Call, of
// 16 and 64 bytes, with the server's rings in slots of 512 B and of 1 KiB
// (conn's default), 512 KiB a ring either way: what docs/DESIGN.md
// ("Smaller choices", conn's 1 KiB slots) compares. A 64-byte message
// spills into its slot's second cache line, a 16-byte one does not.
func BenchmarkSlotStride(b *testing.B) {
	for _, size := range []int{16, 64} {
		for _, slot := range slotStrides {
			o := serverOptions{slots: slotStrideRing / slot, slotSize: slot}
			for _, t := range available([]string{"conn", "conn-call"}) {
				b.Run(fmt.Sprintf("%s/%s/slot-%d", t.name, benchkit.SizeName(size), slot), func(b *testing.B) {
					if listOnly {
						return
					}
					shmtest.NoLeaks(b)
					b.ReportAllocs()
					reportLatency(b, roundTripOn(b, t, size, b.N, o))
				})
			}
		}
	}
}

// The slot sizes BenchmarkSlotStride compares, and the bytes of each of
// its rings.
var slotStrides = []int{512, 1024}

const slotStrideRing = 512 << 10

// BenchmarkPeerThroughput: b.N messages one way. ns/msg is per message,
// MB/s counts payload.
func BenchmarkPeerThroughput(b *testing.B) {
	benchEach(b, throughputSizes, throughputNames, func(b *testing.B, t transport, size int) {
		b.SetBytes(int64(size))
		reportStream(b, throughput(b, t, size, b.N))
	})
}

// BenchmarkPeerSetup: b.N new connections, each timed from Dial to the
// reply to its first message (p50-ns, p99-ns; setup-ns is their mean).
// ns/op adds closing the connection, and the bounded wait of each set-up
// lost (shmipc-go's: lost-conns of the b.N; see setup).
func BenchmarkPeerSetup(b *testing.B) {
	for _, t := range available(setupNames) {
		b.Run(t.name, func(b *testing.B) {
			if listOnly {
				return
			}
			shmtest.NoLeaks(b)
			b.ReportAllocs()
			r := setup(b, t, b.N)
			b.ReportMetric(r.p50, "p50-ns")
			b.ReportMetric(r.p99, "p99-ns")
			report(b, r)
		})
	}
}

func report(b *testing.B, r result) { benchkit.ReportMetrics(b, r.metrics) }

// benchEach runs f as a sub-benchmark "TRANSPORT/SIZE" of each size and
// each transport of names in this build, sizes the outer loop, so that
// the transports compared at one size run within seconds of each other.
// Each checks that it leaves no segment behind and reports allocations.
func benchEach(b *testing.B, sizes []int, names []string, f func(b *testing.B, t transport, size int)) {
	for _, size := range sizes {
		for _, t := range available(names) {
			b.Run(t.name+"/"+benchkit.SizeName(size), func(b *testing.B) {
				if listOnly {
					return
				}
				shmtest.NoLeaks(b)
				b.ReportAllocs()
				f(b, t, size)
			})
		}
	}
}

// reportLatency reports r's percentiles (p50-ns, p99-ns, p99.9-ns) and
// its metrics.
func reportLatency(b *testing.B, r result) {
	benchkit.ReportLatency(b, r.p50, r.p99, r.p999)
	report(b, r)
}

// reportStream reports a stream of b.N messages that took r.elapsed:
// ns/msg and msgs/s, and r's metrics.
func reportStream(b *testing.B, r result) {
	ns := float64(r.elapsed.Nanoseconds()) / float64(b.N)
	benchkit.ReportStream(b, ns)
	report(b, r)
}
