package peers

import (
	"bufio"
	"context"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shmring/shmring/internal/testsupport/benchkit"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
)

// listOnly (SHMRING_BENCH_LIST=1) makes every benchmark return at once:
// bench/report runs the suites so first, with -benchtime 1x, to count what
// it will run.
var listOnly = os.Getenv("SHMRING_BENCH_LIST") != ""

// harness is benchkit's, under a short name for the many signatures of
// measurements.
type harness = benchkit.Harness

// peerTimeout bounds a server's life: a wedged one is killed, its
// descriptor 3 closes, and the benchmark fails instead of hanging.
const peerTimeout = 10 * time.Minute

// peer is a server process (serve), with the pipe it reports on. A server
// of one connection stops by itself once the connection closes (Done), one
// of many when told to (stop).
type peer struct {
	benchkit.Peer
	t     transport
	stdin io.WriteCloser
	addr  string
}

// startPeer starts a server of transport t in mode, and waits until it
// listens. It is killed, if still running, when the test ends.
func startPeer(h testing.TB, t transport, mode string, size, n int, o serverOptions) *peer {
	h.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
	h.Cleanup(cancel)
	args := []string{t.name, mode, itoa(size), itoa(n), itoa(o.slots), itoa(o.slotSize)}
	if o.cpuProfile != "" {
		args = append(args, o.cpuProfile)
	}
	cmd := shmtest.Child(h, ctx, "serve", args...)
	// Its stdout is not ours: benchmark output is parsed, and a library
	// that logs to stdout (shmipc-go does) would mix into it.
	cmd.Stdout = os.Stderr
	r, w, err := os.Pipe()
	if err != nil {
		h.Fatal(err)
	}
	defer w.Close()
	h.Cleanup(func() { _ = r.Close() })
	cmd.ExtraFiles = []*os.File{w}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		h.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		h.Fatalf("start the %s server: %v", t.name, err)
	}
	shmtest.Track(cmd.Process.Pid) // conn's segments are the child's, under no key
	p := &peer{Peer: benchkit.Peer{Name: t.name + " server", Cmd: cmd, Lines: bufio.NewReader(r)}, t: t, stdin: stdin}
	l := p.Line(h)
	addr, ok := strings.CutPrefix(l, "ready ")
	if !ok {
		h.Fatalf("%s server: got %q, want \"ready ADDR\"", t.name, l)
	}
	p.addr = addr
	return p
}

// stop tells a server of many connections to stop (its standard input
// closes), and then is done.
func (p *peer) stop(h testing.TB, want int) {
	h.Helper()
	_ = p.stdin.Close()
	p.Done(h, want)
}

// stopLosing is stop for a server whose transport may lose a new
// connection's first message (transport.loses): it may have counted any
// number from want-lost to want, for a connection whose first message
// never reached it is never handed to it.
func (p *peer) stopLosing(h testing.TB, want, lost int) {
	h.Helper()
	_ = p.stdin.Close()
	p.DoneWithin(h, want-lost, want)
}

// dial connects to p, failing the test if it cannot.
func (p *peer) dial(h testing.TB, ctx context.Context) endpoint {
	h.Helper()
	ep, err := p.t.dial(ctx, p.addr)
	if err != nil {
		h.Fatalf("dial %s at %s: %v", p.t.name, p.addr, err)
	}
	return ep
}

// result is what one measurement gives.
type result struct {
	elapsed time.Duration // the timed stretch
	// Latencies (round trips, set-ups) in ns.
	p50, p99, p999 float64
	// More figures, by unit.
	metrics map[string]float64
}

// timeEach runs op n times under the timer, each one timed
// (benchkit.TimeEach), after warm runs untimed and then started. It
// returns the percentiles, with allocs/1000 of unit per.
func timeEach(h harness, warm, n int, per string, op, started func()) result {
	for range warm {
		op()
	}
	started()
	laps := benchkit.TimeEach(h, n, op)
	r := result{elapsed: laps.Span, metrics: map[string]float64{"allocs/1000" + per: laps.Allocs}}
	r.p50, r.p99, r.p999 = benchkit.Percentiles(laps.Hist)
	return r
}

func itoa(n int) string { return strconv.Itoa(n) }

// cpuMeter is the CPU time (utime+stime, /proc/PID/stat) of this process
// and a server's at the start of a timed stretch.
type cpuMeter struct {
	server         int
	client, served int64 // ticks
}

func startCPU(h testing.TB, server int) cpuMeter {
	h.Helper()
	return cpuMeter{server: server, client: cpuTicks(h, os.Getpid()), served: cpuTicks(h, server)}
}

// add puts the CPU time since the start, per op of n, in m: cpu-ns/PER
// for both processes, client-cpu-ns/PER and server-cpu-ns/PER for each.
// The kernel counts it in ticks of 10 ms (clockTick): a stretch should
// take some tenths of a second of CPU for the figure to be good to a few
// percent.
func (c cpuMeter) add(h testing.TB, m map[string]float64, n int, per string) {
	h.Helper()
	client, served := cpuTicks(h, os.Getpid())-c.client, cpuTicks(h, c.server)-c.served
	perOp := func(ticks int64) float64 { return float64(ticks) * (1e9 / clockTick) / float64(max(n, 1)) }
	m["cpu-ns/"+per] = perOp(client + served)
	m["client-cpu-ns/"+per] = perOp(client)
	m["server-cpu-ns/"+per] = perOp(served)
}
