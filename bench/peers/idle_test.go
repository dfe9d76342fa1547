package peers

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/shmring/shmring/conn"
	"github.com/shmring/shmring/internal/app/hist"
	"github.com/shmring/shmring/internal/platform/monotime"
	"github.com/shmring/shmring/internal/platform/proc"
	"github.com/shmring/shmring/internal/testsupport/benchkit"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
)

// idleOptions shape the idle-clients experiment.
type idleOptions struct {
	clients int
	// settle: after every client's first round trip, how long before
	// anything is read, so that every side has gone past its polling
	// (about 70 µs) to sleep on its eventfd.
	settle time.Duration
	// window: how long the server's CPU is watched while nobody speaks.
	window time.Duration
	// wakes round trips on one connection, gap apart.
	wakes int
	gap   time.Duration
}

// The experiment of BenchmarkIdleClients, and of its -short form, which
// times fewer wake-ups. The window is one liveness period
// (conn.DefaultLiveness): a sleeping side wakes once in each to check on
// its peer, so a shorter window would miss that cost (it did: 0% over 2 s
// where 6 s showed 2.3%), and a whole one takes it at its steady rate.
var (
	idleFull  = idleOptions{clients: 1000, settle: 200 * time.Millisecond, window: conn.DefaultLiveness, wakes: 50, gap: 100 * time.Millisecond}
	idleShort = idleOptions{clients: 1000, settle: 200 * time.Millisecond, window: conn.DefaultLiveness, wakes: 20, gap: 100 * time.Millisecond}
)

// The idle server's rings: 16 slots of 256 bytes each way. 2000 rings of
// conn's default 512 KiB would take a gigabyte.
var idleRings = serverOptions{slots: 16, slotSize: 256}

type idleResult struct {
	idleWindow
	threadsAfter int // the server's, after the wake-ups
	wake         *hist.Histogram
}

// idleWindow is what a window in which nobody speaks shows of a server
// and of this process, which holds its clients.
type idleWindow struct {
	threads     int           // the server's, at the start
	serverTicks int64         // its utime+stime over the window
	clientTicks int64         // this process's
	wall        time.Duration // the window as it was
}

// watchIdle sleeps for window, and returns what it saw of server pid and
// of this process meanwhile.
func watchIdle(h testing.TB, pid int, window time.Duration) idleWindow {
	h.Helper()
	w := idleWindow{threads: threads(h, pid)}
	s0, c0 := cpuTicks(h, pid), cpuTicks(h, os.Getpid())
	start := time.Now()
	time.Sleep(window)
	s1, c1 := cpuTicks(h, pid), cpuTicks(h, os.Getpid())
	w.wall = time.Since(start)
	w.serverTicks, w.clientTicks = s1-s0, c1-c0
	return w
}

// worstIdle is the worst of idle windows: the most threads (at the start
// or threadsAfter), the most CPU of the server and of the clients' process.
type worstIdle struct {
	threads              int
	serverPct, clientPct float64
}

func (w *worstIdle) add(iw idleWindow, threadsAfter int) {
	w.threads = max(w.threads, iw.threads, threadsAfter)
	w.serverPct = max(w.serverPct, pct(iw.serverTicks, iw.wall))
	w.clientPct = max(w.clientPct, pct(iw.clientTicks, iw.wall))
}

// report reports the worst as server-threads, server-cpu-pct,
// client-cpu-pct, and the window as window-s.
func (w *worstIdle) report(b *testing.B, window time.Duration) {
	b.ReportMetric(float64(w.threads), "server-threads")
	b.ReportMetric(w.serverPct, "server-cpu-pct")
	b.ReportMetric(w.clientPct, "client-cpu-pct")
	b.ReportMetric(window.Seconds(), "window-s")
}

// idleClients starts a conn server, connects o.clients clients to it from
// this process, lets them all fall asleep, and measures the server: its
// threads, its CPU while nobody speaks, and the round trip of one client
// that speaks every o.gap.
func idleClients(h testing.TB, o idleOptions) idleResult {
	h.Helper()
	p := startPeer(h, transports["conn"], modeMany, setupSize, 0, idleRings)
	ctx := context.Background()
	req, resp := benchkit.Payload(setupSize), make([]byte, setupSize)
	eps := make([]endpoint, 0, o.clients)
	defer func() {
		for _, ep := range eps {
			_ = ep.close()
		}
	}()
	roundTrip := func(ep endpoint) {
		if m, err := callFunc(ep, false)(ctx, req, resp); err != nil || m != setupSize {
			h.Fatalf("idle clients: round trip: a %d-byte reply, %v", m, err)
		}
	}
	for range o.clients {
		ep := p.dial(h, ctx)
		eps = append(eps, ep)
		roundTrip(ep) // the server's side of it is up and waiting
	}
	time.Sleep(o.settle)

	r := idleResult{idleWindow: watchIdle(h, p.Pid(), o.window), wake: new(hist.Histogram)}
	ep := eps[len(eps)/2]
	for range o.wakes {
		time.Sleep(o.gap)
		t0 := monotime.Now()
		roundTrip(ep)
		r.wake.Record(monotime.Now() - t0)
	}
	r.threadsAfter = threads(h, p.Pid())
	for _, ep := range eps {
		if err := ep.close(); err != nil {
			h.Fatal(err)
		}
	}
	eps = nil
	p.stop(h, o.clients)
	return r
}

// BenchmarkIdleClients: a conn server with 1000 clients that say nothing
// (idleOptions). One op is the whole experiment; go test's default
// -benchtime runs it once. -short times 20 wake-ups instead of 50.
//
//	server-threads     the server's threads (/proc/PID/status), the
//	                   larger of before and after the wake-ups
//	server-cpu-pct     its utime+stime over the window, in % of a core
//	client-cpu-pct     the same of this process, which holds the clients
//	wake-p50-ns ...    the round trip of one client speaking every 100 ms
func BenchmarkIdleClients(b *testing.B) {
	o := idleFull
	if testing.Short() {
		o = idleShort
	}
	b.Run(fmt.Sprintf("conn/clients=%d", o.clients), func(b *testing.B) {
		if listOnly {
			return
		}
		shmtest.NoLeaks(b)
		all := new(hist.Histogram)
		var worst worstIdle
		for range b.N {
			r := idleClients(b, o)
			worst.add(r.idleWindow, r.threadsAfter)
			all.Merge(r.wake)
		}
		b.ReportMetric(float64(o.clients), "clients")
		worst.report(b, o.window)
		b.ReportMetric(float64(all.Quantile(0.5)), "wake-p50-ns")
		b.ReportMetric(float64(all.Quantile(0.99)), "wake-p99-ns")
		b.ReportMetric(float64(all.Max()), "wake-max-ns")
	})
}

// clockTick is USER_HZ, the unit of utime and stime: 100 on every Linux
// that shmring runs on.
const clockTick = 100

// pct is CPU ticks over wall, in percent of one core.
func pct(ticks int64, wall time.Duration) float64 {
	return float64(ticks) / clockTick / wall.Seconds() * 100
}

// cpuTicks returns utime+stime of process pid (all its threads) in clock
// ticks.
func cpuTicks(h testing.TB, pid int) int64 {
	h.Helper()
	st, err := proc.ReadStat(pid)
	if err != nil {
		h.Fatal(err)
	}
	return int64(st.UTime + st.STime)
}

// threads returns the Threads: line of /proc/PID/status.
func threads(h testing.TB, pid int) int {
	h.Helper()
	n, err := statusThreads(pid)
	if err != nil {
		h.Fatal(err)
	}
	return n
}

func statusThreads(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range bytes.Split(b, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(l, []byte("Threads:")); ok {
			return strconv.Atoi(string(bytes.TrimSpace(rest)))
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no Threads line", pid)
}
