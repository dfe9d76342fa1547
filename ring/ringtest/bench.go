package ringtest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/shmring/shmring/internal/app/hist"
	"github.com/shmring/shmring/internal/platform/monotime"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

// harness is what a measurement needs of its benchmark: a *testing.B, or in
// this package's tests a *testing.T whose timer calls do nothing.
type harness interface {
	Helper()
	Cleanup(func())
	Logf(format string, args ...any)
	ResetTimer()
	StopTimer()
}

// errNoMain: the test binary's TestMain does not call Main or Run, so a
// peer would run the tests instead of its part.
var errNoMain = errors.New("ringtest: TestMain must call ringtest.Main(m) (or ringtest.Run): " +
	"the peer is this test binary started again, and Main is where it finds its part")

// Throughput sends b.N messages to a peer process, which hands each to
// sink (nil: it only counts them), and reports ns/msg, msgs/s and MB/s of
// payload; b's ns/op is per message too. produce builds message i in
// buf, which has length 0 and capacity cfg.MaxMessage and is reused for
// every message, and returns it; it may return a slice of its own instead
// (a message made in advance). The benchmark fails if the peer received
// other than what was sent, or if produce, the peer or the sink fail.
func Throughput(b *testing.B, cfg Config, produce func(i int, buf []byte) []byte, sink *Sink) {
	b.Helper()
	b.ReportAllocs()
	r, err := throughput(b, cfg, b.N, produce, sink)
	if err != nil {
		b.Fatal(err)
	}
	ns := float64(r.elapsed) / float64(b.N)
	b.ReportMetric(ns, "ns/msg")
	b.ReportMetric(1e9/ns, "msgs/s")
	b.ReportMetric(float64(r.bytes)*1e3/float64(r.elapsed), "MB/s")
}

// RoundTrip sends b.N messages to a peer process one at a time, each after
// the answer to the one before, and reports b's ns/op as the mean round
// trip and p50-ns, p99-ns and p99.9-ns as its percentiles (within about 3%:
// internal/app/hist). produce builds request i as for [Throughput]; the peer
// answers with resp's reply (nil: the request itself); check, if not nil,
// judges reply i, which is valid only until check returns. A few round
// trips run untimed first, with i counting from 0 again afterwards.
func RoundTrip(b *testing.B, cfg Config, produce func(i int, buf []byte) []byte, resp *Responder,
	check func(i int, reply []byte) error) {
	b.Helper()
	b.ReportAllocs()
	r, err := roundTrip(b, cfg, b.N, produce, resp, check)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(r.hist.Quantile(0.5)), "p50-ns")
	b.ReportMetric(float64(r.hist.Quantile(0.99)), "p99-ns")
	b.ReportMetric(float64(r.hist.Quantile(0.999)), "p99.9-ns")
}

// throughputResult is one Throughput run: elapsed ns for the messages and
// their payload bytes.
type throughputResult struct {
	elapsed int64
	bytes   uint64
}

func throughput(h harness, cfg Config, n int, produce func(int, []byte) []byte, sink *Sink) (throughputResult, error) {
	h.Helper()
	if produce == nil {
		return throughputResult{}, errors.New("ringtest: Throughput: produce is nil")
	}
	name := ""
	if sink != nil {
		name = sink.name
	}
	l, err := connect(h, roleSink, name, cfg, ringConfig(ackSize, 2, cfg.Wait))
	if err != nil {
		return throughputResult{}, err
	}
	ctx := l.pr.ctx
	buf := make([]byte, 0, l.p.MaxMessage())
	var sent ack
	var reply [ackSize]byte
	h.ResetTimer()
	start := monotime.Now()
	for i := range n {
		msg := produce(i, buf[:0])
		if err := l.p.Send(ctx, msg); err != nil {
			return throughputResult{}, l.pr.fail(fmt.Errorf("ringtest: send message %d (%d bytes): %w", i, len(msg), err))
		}
		sent.sum += ends(msg)
		sent.bytes += uint64(len(msg))
	}
	sent.count = uint64(n)
	// The peer reads io.EOF after the last message, and answers.
	err = l.p.Close()
	var k int
	if err == nil {
		k, err = l.c.Recv(ctx, reply[:])
	}
	elapsed := max(monotime.Now()-start, 1)
	h.StopTimer()
	if err != nil {
		return throughputResult{}, l.pr.fail(fmt.Errorf("ringtest: wait for the peer's count: %w", err))
	}
	got, err := decodeAck(reply[:k])
	if err != nil {
		return throughputResult{}, fmt.Errorf("ringtest: %w", err)
	}
	if got != sent {
		return throughputResult{}, fmt.Errorf("ringtest: the peer received %d messages, %d bytes, checksum %d; "+
			"%d, %d and %d were sent", got.count, got.bytes, got.sum, sent.count, sent.bytes, sent.sum)
	}
	return throughputResult{elapsed: elapsed, bytes: sent.bytes}, l.finish(h)
}

// roundTripResult is one RoundTrip run: every timed round trip, in ns.
type roundTripResult struct {
	hist *hist.Histogram
}

func roundTrip(h harness, cfg Config, n int, produce func(int, []byte) []byte, resp *Responder,
	check func(int, []byte) error) (roundTripResult, error) {
	h.Helper()
	if produce == nil {
		return roundTripResult{}, errors.New("ringtest: RoundTrip: produce is nil")
	}
	name := ""
	if resp != nil {
		name = resp.name
	}
	l, err := connect(h, roleRespond, name, cfg, ringConfig(cfg.MaxMessage, cfg.Slots, cfg.Wait))
	if err != nil {
		return roundTripResult{}, err
	}
	ctx := l.pr.ctx
	buf := make([]byte, 0, l.p.MaxMessage())
	one := func(i int) error {
		msg := produce(i, buf[:0])
		if err := l.p.Send(ctx, msg); err != nil {
			return l.pr.fail(fmt.Errorf("ringtest: send request %d (%d bytes): %w", i, len(msg), err))
		}
		reply, err := l.c.Peek(ctx)
		if err != nil {
			return l.pr.fail(fmt.Errorf("ringtest: wait for reply %d: %w", i, err))
		}
		if check != nil {
			if err := check(i, reply); err != nil {
				return fmt.Errorf("ringtest: check reply %d: %w", i, err)
			}
		}
		return l.c.Release()
	}
	// The first round trips fault in the slots and the code: bench's
	// warm-up, so that the two report the same thing.
	for i := range min(1000, n/10+1) {
		if err := one(i); err != nil {
			return roundTripResult{}, err
		}
	}
	hg := new(hist.Histogram)
	h.ResetTimer()
	// One clock read per round trip: the end of one is the start of the
	// next.
	last := monotime.Now()
	for i := range n {
		if err := one(i); err != nil {
			return roundTripResult{}, err
		}
		t := monotime.Now()
		hg.Record(t - last)
		last = t
	}
	h.StopTimer()
	if err := l.p.Close(); err != nil {
		return roundTripResult{}, l.pr.fail(fmt.Errorf("ringtest: close: %w", err))
	}
	return roundTripResult{hist: hg}, l.finish(h)
}

// link is a measurement's two rings and its peer: messages go out through
// p, and the peer answers through c.
type link struct {
	p  *ring.Producer
	c  *ring.Consumer
	pr *peer
}

// connect makes the two rings, the outgoing one for cfg and the answers'
// one for back, and starts the peer in role with name's function.
func connect(h harness, role, name string, cfg Config, back ring.Config) (link, error) {
	if !mainStarted() {
		return link{}, errNoMain
	}
	out, err := newRing(h, ringConfig(cfg.MaxMessage, cfg.Slots, cfg.Wait))
	if err != nil {
		return link{}, err
	}
	in, err := newRing(h, back)
	if err != nil {
		return link{}, err
	}
	var l link
	if l.p, err = out.Producer(); err != nil {
		return link{}, err
	}
	if l.c, err = in.Consumer(); err != nil {
		return link{}, err
	}
	l.pr, err = startPeer(h, peerSpec{Role: role, Name: name,
		In: out.Segment().ID(), Out: in.Segment().ID(), Wait: cfg.Wait})
	if err != nil {
		return link{}, fmt.Errorf("ringtest: %w", err)
	}
	return l, nil
}

// finish waits for the peer to end and logs what it printed.
func (l link) finish(h harness) error {
	if err := l.pr.wait(); err != nil {
		return fmt.Errorf("ringtest: %w", err)
	}
	if o := l.pr.output(); o != "" {
		h.Logf("ringtest: %s", o)
	}
	return nil
}

// newRing makes a ring in a new private segment and marks the segment for
// removal at once: the kernel frees it when the last process detaches,
// however the benchmark and its peer end, and the peer can still attach it
// by ID (Linux allows that while a process has it attached).
func newRing(h harness, cfg ring.Config) (*ring.Ring, error) {
	r, err := ring.Create(shmseg.IPCPrivate, cfg)
	if err != nil {
		return nil, fmt.Errorf("ringtest: %w", err)
	}
	h.Cleanup(func() { _ = r.Close() })
	if err := r.Segment().Remove(); err != nil {
		return nil, fmt.Errorf("ringtest: %w", err)
	}
	return r, nil
}
