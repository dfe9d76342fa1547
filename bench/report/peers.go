package main

import (
	"fmt"
	"math"
	"strings"
)

// The comparison of package conn with other transports (bench/peers, a
// module of its own, which the run adds as a go test run in its directory:
// options.peers).
var (
	peerTransports = []transport{
		{"conn", "conn Send/Recv", colRing},
		{"conn-call", "conn Client.Call", colRing2},
		{"unix", "Unix socket (stream)", colSocket},
		{"tcp", "TCP loopback", colPipe},
		{"shmipc", "shmipc-go Stream", colC},
	}
	peerRoundTripSizes  = []int{64, 4 << 10}
	peerThroughputSizes = []int{64, 64 << 10, 1 << 20}
)

// peersDir is the module of the comparison, relative to the checkout.
const peersDir = "bench/peers"

// The goals of the comparison (issue 21).
const (
	peerRTTWant  = 50 // request-response p50 at 64 B: others' over conn's, at least
	peerTputWant = 10 // 64 B msgs/s: conn's over shmipc-go's, at least
	idleCPUWant  = 1  // % of a core, below
)

func peerRTTName(t string, size int) string {
	return "BenchmarkPeerRoundTrip/" + t + "/" + sizeName(size)
}
func peerTputName(t string, size int) string {
	return "BenchmarkPeerThroughput/" + t + "/" + sizeName(size)
}
func peerSetupName(t string) string { return "BenchmarkPeerSetup/" + t }

// idleName is the idle-clients benchmark's name in rs
// ("BenchmarkIdleClients/conn/clients=1000"), whatever its client count.
func idleName(rs *Results) (string, bool) {
	for _, n := range rs.Names() {
		if strings.HasPrefix(n, "BenchmarkIdleClients/conn/") {
			return n, true
		}
	}
	return "", false
}

func peerLabel(t string) string {
	for _, p := range peerTransports {
		if p.name == t {
			return p.label
		}
	}
	return t
}

// peerTargets evaluates the comparison's goals, by the median of the
// per-pass ratios as the ring's targets against the C ring are.
func peerTargets(rs *Results) []target {
	var ts []target
	get := rs.Get
	for _, c := range []string{"conn", "conn-call"} {
		for _, vs := range []string{"shmipc", "unix"} {
			t := target{what: fmt.Sprintf("Request-response p50, 64B, %s (adaptive wait) vs %s (how many times lower)", peerLabel(c), peerLabel(vs)),
				want: fmt.Sprintf("≥ %d×", peerRTTWant)}
			a, b := peerRTTName(c, 64), peerRTTName(vs, 64)
			g, ok1 := get(a, "p50-ns")
			o, ok2 := get(b, "p50-ns")
			if ok1 && ok2 {
				t.got, t.status = vsPasses(rs.PassRatios(b, a, "p50-ns"), fmt.Sprintf("%s vs %s", ns(g), ns(o)),
					func(r float64) bool { return r >= peerRTTWant })
			}
			ts = append(ts, t)
		}
	}
	{
		t := target{what: "Throughput, 64B, conn Send/Recv vs shmipc-go Stream (msgs/s)", want: fmt.Sprintf("≥ %d×", peerTputWant)}
		a, b := peerTputName("conn", 64), peerTputName("shmipc", 64)
		g, ok1 := get(a, "msgs/s")
		o, ok2 := get(b, "msgs/s")
		if ok1 && ok2 {
			t.got, t.status = vsPasses(rs.PassRatios(a, b, "msgs/s"), fmt.Sprintf("%s vs %s msgs/s", num(g), num(o)),
				func(r float64) bool { return r >= peerTputWant })
		}
		ts = append(ts, t)
	}
	{
		t := target{what: "CPU of a conn server while its clients are idle", want: fmt.Sprintf("< %d%% of a core", idleCPUWant)}
		if name, ok := idleName(rs); ok {
			c, ok1 := get(name, "server-cpu-pct")
			n, _ := get(name, "clients")
			th, _ := get(name, "server-threads")
			w, _ := get(name, "window-s")
			if ok1 {
				t.got = fmt.Sprintf("%s%% with %s clients over %s s (utime+stime; the server had %s threads)", num(c), whole(n), whole(w), whole(th))
				t.status = verdict(c < idleCPUWant)
			}
		}
		ts = append(ts, t)
	}
	return ts
}

// hasPeers reports whether rs holds any figure of bench/peers.
func hasPeers(rs *Results) bool {
	for _, n := range rs.Names() {
		if strings.HasPrefix(n, "BenchmarkPeer") || strings.HasPrefix(n, "BenchmarkIdleClients/") {
			return true
		}
	}
	return false
}

// renderPeers shows the comparison: round trips, throughput, set-up, and
// the idle clients.
func renderPeers(p printer, rs *Results) {
	if !hasPeers(rs) {
		return
	}
	p("## Connections: conn against sockets and shmipc-go\n\n")
	p("Package conn (its defaults: adaptive wait, rings of 512 slots of 1 KiB each way) against a Unix\n")
	p("stream socket, TCP over loopback and shmipc-go's Stream API, from `bench/peers`: the client is the\n")
	p("benchmark process, the server another process.\n\n")
	if !rs.Has(peerRTTName("shmipc", 64)) && !rs.Has(peerTputName("shmipc", 64)) {
		p("shmipc-go is not in this run (its transport failed, or the run was cut short): its rows read \"not measured\".\n\n")
	}

	p("Request and echoed reply (medians over the passes; ± as in \"Round trip\" above):\n\n")
	latencyTable(p, rs, peerTransports, peerRoundTripSizes, peerRTTName, "p99.9", "p99.9-ns")
	p("\np50 of each over conn Send/Recv's (above 1: conn is faster):\n\n")
	tableHead(p, "size", labels(peerTransports[1:]))
	for _, size := range peerRoundTripSizes {
		p("| %s |", sizeName(size))
		for _, t := range peerTransports[1:] {
			p(" %s |", peerRatio(rs, peerRTTName(t.name, size), peerRTTName("conn", size), "p50-ns"))
		}
		p("\n")
	}

	tput := without(peerTransports, "conn-call")
	cols := labels(tput)
	p("\nOne-way stream, until the server acknowledges the last message. MB/s of payload:\n\n")
	tableHead(p, "size", cols)
	for _, size := range peerThroughputSizes {
		p("| %s |", sizeName(size))
		for _, t := range tput {
			p(" %s |", cellCI(rs, peerTputName(t.name, size), "MB/s", num))
		}
		p("\n")
	}
	p("\nMessages per second, and conn's over each other's:\n\n")
	cols = append(cols[:len(cols):len(cols)], "conn / Unix socket", "conn / TCP", "conn / shmipc-go")
	tableHead(p, "size", cols)
	for _, size := range peerThroughputSizes {
		p("| %s |", sizeName(size))
		for _, t := range tput {
			p(" %s |", cell(rs, peerTputName(t.name, size), "msgs/s", num))
		}
		for _, vs := range []string{"unix", "tcp", "shmipc"} {
			p(" %s |", peerRatio(rs, peerTputName("conn", size), peerTputName(vs, size), "msgs/s"))
		}
		p("\n")
	}

	p("\nConnection set-up: from the start of Dial to the reply to a first 64-byte message (the\n")
	p("connection is closed after the clock stops). shmipc-go now and then never answers a new\n")
	p("session's first message (bench/peers, shmipc_test.go): each of its set-ups is bounded at 1 s,\n")
	p("and those lost are counted, over all passes, and left out of its figures.\n\n")
	tableHead(p, "transport", []string{"p50", "p99", "mean", "set-ups lost"})
	for _, t := range tput {
		n := peerSetupName(t.name)
		p("| %s | %s | %s | %s | %s |\n", t.label, cellCI(rs, n, "p50-ns", duration), cell(rs, n, "p99-ns", duration), cell(rs, n, "setup-ns", duration),
			lostCell(rs, n))
	}

	if name, ok := idleName(rs); ok {
		pct := func(v float64) string { return num(v) + "%" }
		p("\nA conn server with idle clients (rings of 16 slots of 256 bytes each way). The server's threads\n")
		p("(/proc/PID/status); its CPU and the clients' process's (utime+stime) over a window in which nobody\n")
		p("speaks, one liveness period (conn.DefaultLiveness), in which each sleeping side wakes once to check\n")
		p("on its peer; and the round trip of one client that speaks every 100 ms while the others stay idle:\n")
		p("each side's wait has ended in a sleep on its eventfd by then.\n\n")
		tableHead(p, "clients", []string{"server threads", "server CPU", "clients' process CPU", "window", "wake-up round trip p50", "p99", "max"})
		p("| %s | %s | %s | %s | %s | %s | %s | %s |\n", cell(rs, name, "clients", whole),
			cell(rs, name, "server-threads", whole), cell(rs, name, "server-cpu-pct", pct), cell(rs, name, "client-cpu-pct", pct),
			cell(rs, name, "window-s", func(v float64) string { return whole(v) + " s" }),
			cell(rs, name, "wake-p50-ns", duration), cell(rs, name, "wake-p99-ns", duration), cell(rs, name, "wake-max-ns", duration))
	}
	p("\n")
}

// latencyTable writes a table of a row per transport of ts and, per size,
// three columns of the benchmark name(t, size): the p50 (with its ±), the
// p99, and the figure of unit, its columns headed by label.
func latencyTable(p printer, rs *Results, ts []transport, sizes []int, name func(t string, size int) string, label, unit string) {
	var cols []string
	for _, size := range sizes {
		cols = append(cols, sizeName(size)+" p50", sizeName(size)+" p99", sizeName(size)+" "+label)
	}
	tableHead(p, "transport", cols)
	for _, t := range ts {
		p("| %s |", t.label)
		for _, size := range sizes {
			n := name(t.name, size)
			p(" %s | %s | %s |", cellCI(rs, n, "p50-ns", duration), cell(rs, n, "p99-ns", duration), cell(rs, n, unit, duration))
		}
		p("\n")
	}
}

// whole formats a count: clients, threads, seconds.
func whole(v float64) string { return fmt.Sprintf("%.0f", v) }

// peerRatio is a's figure over b's, of their medians.
func peerRatio(rs *Results, a, b, unit string) string {
	x, ok1 := rs.Get(a, unit)
	y, ok2 := rs.Get(b, unit)
	if !ok1 || !ok2 || y == 0 {
		return "–"
	}
	return ratio(x / y)
}

// renderPeersHow says how bench/peers measures, for "How it is measured".
func renderPeersHow(p printer, rs *Results) {
	if !hasPeers(rs) {
		return
	}
	p("- Connections (`bench/peers`): the benchmark process dials a server process it started. conn is\n")
	p("  `conn.Dial`/`Listen` with `conn.Config{}`; \"Send/Recv\" echoes with `Send` and `Recv`, \"Client.Call\"\n")
	p("  with `Client.Call` against `conn.Serve`. The sockets are Go's `net` (SOCK_STREAM; the Unix one in\n")
	p("  the abstract namespace, TCP on 127.0.0.1), each message behind a 4-byte length in one write, read\n")
	p("  through a 64 KiB `bufio.Reader`. shmipc-go: a SessionManager of one session over a Unix socket,\n")
	p("  shared memory by memfd, one Stream; each message behind its length in the stream's buffer, one\n")
	p("  `Flush` per message. Every receiver copies each message out. Round trips are timed one by one\n")
	p("  into internal/app/hist; throughput stops the clock at the server's one-byte acknowledgement of\n")
	p("  the last message.\n")
}

// renderWhyPeers says, when a request-response target against the Unix
// socket is missed, how many times lower than the socket's round trip the
// C ring's and the ring's own spin round trips were in the same run:
// whether the goal is within what a ring's round trip reaches on this
// machine, before conn adds anything, and what conn and Client.Call add;
// and, when the run has it, the bare spin ping-pong's: what a spinning
// round trip costs here with nothing to carry, and whether that alone is
// within the target's bound.
func renderWhyPeers(p func(string, ...any), rs *Results) {
	missedAny := false
	for _, t := range peerTargets(rs) {
		missedAny = missedAny || t.status == missed && strings.HasPrefix(t.what, "Request-response") && strings.HasSuffix(t.what, "vs Unix socket (stream) (how many times lower)")
	}
	sock, ok1 := rs.Get(peerRTTName("unix", 64), "p50-ns")
	cring, ok2 := rs.Get(rttName("cring-spin", 64), "p50-ns")
	if !missedAny || !ok1 || !ok2 || cring <= 0 {
		return
	}
	p("- Against the Unix socket's round trip (%s p50 at 64B): the C ring's own spin round trip, %s, was %s lower in this run",
		ns(sock), ns(cring), ratio(sock/cring))
	if r, ok := rs.Get(rttName("ring-spin", 64), "p50-ns"); ok && r > 0 {
		p(", and the ring's, %s, %s lower", ns(r), ratio(sock/r))
	}
	p("; a target of %d× asks for a round trip of %s at most", peerRTTWant, ns(sock/peerRTTWant))
	if f, ok := rs.Get(rttName("spin-bare", 64), "p50-ns"); ok && f > 0 {
		within := "within it"
		if f > sock/peerRTTWant {
			within = "already over it"
		}
		p(", and a bare spin ping-pong, one word each way and no message at all, timed as the others, took %s (%s lower, %s)",
			ns(f), ratio(sock/f), within)
	}
	if c, ok := rs.Get(peerRTTName("conn", 64), "p50-ns"); ok {
		p(". conn's Send/Recv took %s", ns(c))
		if k, ok := rs.Get(peerRTTName("conn-call", 64), "p50-ns"); ok {
			p(" and Client.Call %s", ns(k))
		}
	}
	p(". The ring's round trip moves with the VM's two modes (\"Noise\" above), and the target with it")
	renderPeerPasses(p, rs)
	p(".\n")
}

// renderPeerPasses adds to the socket's Why line, when the run has the
// bare spin ping-pong and more than one pass, how the target fared pass by
// pass: the socket's p50 moves more between passes than the rings' do, and
// a pass where the bare ping-pong, which carries nothing, is not 50× lower
// than it asks a ring that carries a message to beat it.
func renderPeerPasses(p func(string, ...any), rs *Results) {
	lower := func(x, v float64) bool { return x > 0 && v/x >= peerRTTWant }
	s := splitPasses(rs, "p50-ns", peerRTTName("unix", 64), rttName("spin-bare", 64), lower,
		passCand{peerRTTName("conn", 64), "conn's Send/Recv"}, passCand{peerRTTName("conn-call", 64), "Client.Call"})
	if s.passes < 2 || len(s.labels) == 0 {
		return
	}
	p(". Pass by pass the socket moved more than the rings: its p50 ran from %s to %s in the %d passes, and the bare ping-pong (in bench/, run apart from the socket's in each pass) was at least %d× lower than it in %d of them",
		ns(s.vsLo), ns(s.vsHi), s.passes, peerRTTWant, s.floorReached)
	if s.floorReached == 0 {
		return
	}
	p("; in those %d, %s", s.floorReached, s.each("%s met it in %d"))
}

// lostCell is a set-up benchmark's set-ups lost over all its runs, of how
// many ("3 of 894"): a loss is a rare event, which a median of per-run
// rates would hide. "–" for a transport that never loses one. Each run
// made b.N set-ups (its iteration count); runs before lost-conns reported
// lost/1000conn, a rate of them.
func lostCell(rs *Results, name string) string {
	r, ok := rs.Result(name)
	if !ok {
		return "–"
	}
	var lost, of float64
	seen := false
	for i, m := range r.runs {
		n := float64(r.iters[i])
		l, ok := m["lost-conns"]
		if rate, old := m["lost/1000conn"]; old && !ok {
			l, ok = math.Round(rate*n/1000), true
		}
		if ok {
			lost, of, seen = lost+l, of+n, true
		}
	}
	if !seen {
		return "–"
	}
	return fmt.Sprintf("%.0f of %.0f", lost, of)
}
