package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// gRPC and HTTP over package conn, against a Unix socket and TCP
// (bench/peers' BenchmarkGRPC* and BenchmarkHTTP, issue 22).
var (
	grpcTransports = []transport{
		{"conn", "conn", colRing},
		{"unix", "Unix socket", colSocket},
		{"tcp", "TCP loopback", colPipe},
	}
	grpcUnarySizes        = []int{64, 1 << 10}
	grpcStreamSizes       = []int{1 << 10, 64 << 10, 1 << 20}
	httpSizes             = []int{64, 64 << 10}
	grpcProfileSize       = 1 << 10
	grpcStreamProfileSize = 1 << 20
	grpcProfileNames      = []string{"conn", "unix"}
)

// The goals of issue 22.
const (
	grpcUnaryWant  = 0.6 // unary p50 at 1 KiB: conn's over the Unix socket's, at most
	grpcStreamWant = 3   // stream MB/s of 1 MiB messages: conn's over the Unix socket's, at least
	grpcIdleCPU    = 1   // % of a core, below, for the server of the idle connections
	// A server holding a thread per idle connection would have more
	// threads than connections; a quarter of them is far from that and
	// far above the handful a Go server has.
	grpcIdleThreadsPer = 4
)

func grpcUnaryName(t string, size int) string {
	return "BenchmarkGRPCUnary/" + t + "/" + sizeName(size)
}
func grpcStreamName(t string, size int) string {
	return "BenchmarkGRPCStream/" + t + "/" + sizeName(size)
}
func httpName(t string, size int) string { return "BenchmarkHTTP/" + t + "/" + sizeName(size) }
func grpcProfileName(t string) string {
	return "BenchmarkGRPCProfile/" + t + "/" + sizeName(grpcProfileSize)
}
func grpcStreamProfileName(t string) string {
	return "BenchmarkGRPCStreamProfile/" + t + "/" + sizeName(grpcStreamProfileSize)
}

// grpcIdleName is the idle gRPC benchmark's name in rs
// ("BenchmarkGRPCIdle/conn/conns=100"), whatever its connection count.
func grpcIdleName(rs *Results) (string, bool) {
	for _, n := range rs.Names() {
		if strings.HasPrefix(n, "BenchmarkGRPCIdle/conn/") {
			return n, true
		}
	}
	return "", false
}

// grpcNoun names transport t in a sentence: "over the Unix socket".
func grpcNoun(t string) string {
	if t == "conn" {
		return t
	}
	return "the " + grpcLabel(t)
}

func grpcLabel(t string) string {
	for _, g := range grpcTransports {
		if g.name == t {
			return g.label
		}
	}
	return t
}

// hasGRPC reports whether rs holds any figure of the gRPC and HTTP
// benchmarks.
func hasGRPC(rs *Results) bool {
	for _, n := range rs.Names() {
		if strings.HasPrefix(n, "BenchmarkGRPC") || strings.HasPrefix(n, "BenchmarkHTTP/") {
			return true
		}
	}
	return false
}

// grpcTargets evaluates issue 22's goals, the comparisons by the median of
// their per-pass ratios as the others are.
func grpcTargets(rs *Results) []target {
	var ts []target
	{
		t := target{what: "gRPC unary call p50, 1KiB, conn vs Unix socket (conn's over the socket's)", want: "≤ " + ratio(grpcUnaryWant)}
		a, b := grpcUnaryName("conn", 1<<10), grpcUnaryName("unix", 1<<10)
		g, ok1 := rs.Get(a, "p50-ns")
		o, ok2 := rs.Get(b, "p50-ns")
		if ok1 && ok2 {
			t.got, t.status = vsPasses(rs.PassRatios(a, b, "p50-ns"), fmt.Sprintf("%s vs %s", duration(g), duration(o)),
				func(r float64) bool { return r <= grpcUnaryWant })
		}
		ts = append(ts, t)
	}
	{
		t := target{what: "gRPC server stream of 1MiB messages, conn vs Unix socket (MB/s)", want: "≥ " + ratio(grpcStreamWant)}
		a, b := grpcStreamName("conn", 1<<20), grpcStreamName("unix", 1<<20)
		g, ok1 := rs.Get(a, "MB/s")
		o, ok2 := rs.Get(b, "MB/s")
		if ok1 && ok2 {
			t.got, t.status = vsPasses(rs.PassRatios(a, b, "MB/s"), fmt.Sprintf("%s vs %s MB/s", num(g), num(o)),
				func(r float64) bool { return r >= grpcStreamWant })
		}
		ts = append(ts, t)
	}
	{
		t := target{what: "Idle gRPC connections over conn: CPU and threads of their server",
			want: fmt.Sprintf("< %d%% of a core; threads < connections/%d (none per connection)", grpcIdleCPU, grpcIdleThreadsPer)}
		if name, ok := grpcIdleName(rs); ok {
			c, ok1 := rs.Get(name, "server-cpu-pct")
			th, ok2 := rs.Get(name, "server-threads")
			n, _ := rs.Get(name, "conns")
			w, _ := rs.Get(name, "window-s")
			if ok1 && ok2 {
				t.got = fmt.Sprintf("%s%% over %s s (utime+stime), %s threads, with %s connections", num(c), whole(w), whole(th), whole(n))
				if l, short := idleWindowShort(rs, name); short {
					t.got += fmt.Sprintf("; the window was shorter than one liveness interval (%s s): a -short run", whole(l))
				}
				t.status = verdict(c < grpcIdleCPU && th < n/grpcIdleThreadsPer)
			}
		}
		ts = append(ts, t)
	}
	return ts
}

// idleWindowShort returns the liveness interval of the idle benchmark
// name (liveness-s), and whether it watched for less (window-s): a -short
// run, whose window may miss the liveness checks' wake-ups.
func idleWindowShort(rs *Results, name string) (liveness float64, short bool) {
	w, ok1 := rs.Get(name, "window-s")
	l, ok2 := rs.Get(name, "liveness-s")
	return l, ok1 && ok2 && w < l
}

// The layers of BenchmarkGRPCProfile (bench/peers/profile_test.go), in its
// order, with what each holds.
var profileLayers = []struct{ name, label string }{
	{"http2", "gRPC's HTTP/2 transport: framing, flow control, its writer loop"},
	{"grpc", "the rest of gRPC: calls, streams, codec, buffers"},
	{"protobuf", "protobuf"},
	{"transport", "the transport: conn's ring, doorbells and socket, or Go's net"},
	{"syscall", "system calls"},
	{"yield", "yields (runtime.Gosched): conn's adaptive wait, gRPC's writer loop"},
	{"runtime", "the rest of Go's runtime: scheduler, GC"},
	{"other", "the benchmark's own code, and the rest"},
}

// gRPC's own layers, which a transport does not take away.
var grpcOwnLayers = []string{"http2", "grpc", "protobuf"}

// profileTop is the top functions of one BenchmarkGRPCProfile or
// BenchmarkGRPCStreamProfile run, as its log gives them: the run of n
// calls or messages.
type profileTop struct {
	n              int
	client, server []topFunc
}

type topFunc struct {
	pct float64
	fn  string
}

// profileLine is a line of the log of BenchmarkGRPCProfile and
// BenchmarkGRPCStreamProfile, as go test prints it: indented, the file and line, then
// "profile N=<n> client: <pct>% <function> | ... server: <pct>% <function> | ...".
var profileLine = regexp.MustCompile(`^\s+\S+:\d+: profile N=(\d+) client:(.*) server:(.*)$`)

// profileTops reads the profiles' top functions from go test's output: of
// each benchmark, the line of the last round of its last run (go test
// prints a benchmark's log after its "--- BENCH: NAME" line, a line a
// round, the last round's last).
func profileTops(data []byte) map[string]profileTop {
	tops := map[string]profileTop{}
	bench := ""
	for _, line := range strings.Split(string(data), "\n") {
		if name, ok := strings.CutPrefix(line, "--- BENCH: "); ok {
			bench, _ = splitName(strings.TrimSpace(name))
			continue
		}
		m := profileLine.FindStringSubmatch(line)
		if m == nil || bench == "" {
			continue
		}
		n, err := strconv.Atoi(m[1])
		if err != nil {
			continue
		}
		tops[bench] = profileTop{n: n, client: topFuncs(m[2]), server: topFuncs(m[3])}
	}
	return tops
}

// topFuncs parses " 12.3% fn | 4.5% fn": entries that do not parse are
// left out.
func topFuncs(s string) []topFunc {
	var fs []topFunc
	for _, e := range strings.Split(s, " | ") {
		pct, fn, ok := strings.Cut(strings.TrimSpace(e), "% ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(pct, 64)
		if err != nil {
			continue
		}
		fs = append(fs, topFunc{v, fn})
	}
	return fs
}

// renderGRPC shows gRPC and HTTP over conn against the sockets, the idle
// connections, and where a call's time goes.
func renderGRPC(p printer, rs *Results) {
	if !hasGRPC(rs) {
		return
	}
	p("## gRPC and HTTP over conn\n\n")
	p("The same gRPC service (`bench/peers`, grpc_test.go) over conn (a `conn.Listener` and `conn.Dial`\n")
	p("with conn's defaults), a Unix socket and TCP over loopback; gRPC's default server and client,\n")
	p("plaintext, message limits of 8 MiB each way. The client is the benchmark process, the server\n")
	p("another. CPU is utime+stime of both processes over the timed calls, per call (10 ms ticks).\n\n")

	p("Unary call (Echo), one at a time (medians over the passes):\n\n")
	latencyTable(p, rs, grpcTransports, grpcUnarySizes, grpcUnaryName, "CPU per call", "cpu-ns/rpc")
	p("\nconn's over each socket's (below 1: conn is faster or cheaper):\n\n")
	tableHead(p, "size", []string{"p50 / Unix socket", "p50 / TCP", "CPU / Unix socket", "CPU / TCP"})
	for _, size := range grpcUnarySizes {
		c := grpcUnaryName("conn", size)
		p("| %s | %s | %s | %s | %s |\n", sizeName(size),
			peerRatio(rs, c, grpcUnaryName("unix", size), "p50-ns"), peerRatio(rs, c, grpcUnaryName("tcp", size), "p50-ns"),
			peerRatio(rs, c, grpcUnaryName("unix", size), "cpu-ns/rpc"), peerRatio(rs, c, grpcUnaryName("tcp", size), "cpu-ns/rpc"))
	}

	p("\nA server stream (Download) of messages of each size, MB/s of payload, conn's over the sockets'\n")
	p("(above 1: conn is faster), and CPU per message:\n\n")
	cols := append(labels(grpcTransports), "conn / Unix socket", "conn / TCP")
	for _, t := range grpcTransports {
		cols = append(cols, t.label+" CPU per message")
	}
	tableHead(p, "size", cols)
	for _, size := range grpcStreamSizes {
		p("| %s |", sizeName(size))
		for _, t := range grpcTransports {
			p(" %s |", cellCI(rs, grpcStreamName(t.name, size), "MB/s", num))
		}
		c := grpcStreamName("conn", size)
		p(" %s | %s |", peerRatio(rs, c, grpcStreamName("unix", size), "MB/s"), peerRatio(rs, c, grpcStreamName("tcp", size), "MB/s"))
		for _, t := range grpcTransports {
			p(" %s |", cell(rs, grpcStreamName(t.name, size), "cpu-ns/msg", duration))
		}
		p("\n")
	}

	p("\nHTTP/1.1: a POST whose body the server sends back, net/http on both sides, one connection kept\n")
	p("alive:\n\n")
	latencyTable(p, rs, without(grpcTransports, "tcp"), httpSizes, httpName, "CPU per request", "cpu-ns/req")
	p("\nconn's p50 over the Unix socket's:")
	for i, size := range httpSizes {
		if i > 0 {
			p(",")
		}
		p(" %s at %s", peerRatio(rs, httpName("conn", size), httpName("unix", size), "p50-ns"), sizeName(size))
	}
	p(".\n")

	if name, ok := grpcIdleName(rs); ok {
		pct := func(v float64) string { return num(v) + "%" }
		p("\nIdle gRPC connections over conn (conn's default rings): each made one call, then nobody calls\n")
		p("while the server's threads (/proc/PID/status) and both processes' CPU (utime+stime) are watched;\n")
		p("then every connection calls once more, and each answers.\n\n")
		tableHead(p, "connections", []string{"server threads", "server CPU", "clients' process CPU", "window"})
		p("| %s | %s | %s | %s | %s |\n", cell(rs, name, "conns", whole), cell(rs, name, "server-threads", whole),
			cell(rs, name, "server-cpu-pct", pct), cell(rs, name, "client-cpu-pct", pct),
			cell(rs, name, "window-s", func(v float64) string { return whole(v) + " s" }))
		if l, short := idleWindowShort(rs, name); short {
			p("\nThe window is shorter than one liveness interval (conn.DefaultLiveness, %s s): a -short run,\n", whole(l))
			p("which may miss the wake-up in which each sleeping side checks on its peer once an interval.\n")
		} else if l > 0 {
			p("\nThe window is one liveness interval (conn.DefaultLiveness, %s s), in which each sleeping side wakes\n", whole(l))
			p("once to check on its peer.\n")
		}
	}
	renderGRPCProfile(p, rs)
	p("\n")
}

// A profiled benchmark of bench/peers: BenchmarkGRPCProfile (a unary
// call) or BenchmarkGRPCStreamProfile (a message of a server stream).
type profiled struct {
	name  func(t string) string // its name over transport t
	per   string                // what its sampled-ns/PER counts: "rpc", "msg"
	noun  string                // that, in words: "call", "message"
	title string                // its section's
	what  string                // what it profiles, in the section's first sentence
}

var (
	unaryProfile = profiled{grpcProfileName, "rpc", "call", "Where a gRPC call's time goes",
		"the " + sizeName(grpcProfileSize) + " unary call, `BenchmarkGRPCProfile`"}
	streamProfile = profiled{grpcStreamProfileName, "msg", "message", "Where a " + sizeName(grpcStreamProfileSize) + " stream's time goes",
		"the server stream of " + sizeName(grpcStreamProfileSize) + " messages, `BenchmarkGRPCStreamProfile`"}
)

// names returns the transports of grpcProfileNames that pr has figures of.
func (pr profiled) names(rs *Results) []string {
	var names []string
	for _, t := range grpcProfileNames {
		if rs.Has(pr.name(t)) {
			names = append(names, t)
		}
	}
	return names
}

// renderGRPCProfile says where a unary call's CPU goes, from the profiles
// of BenchmarkGRPCProfile, and so how much of it a transport can take
// away; then the same of a 1 MiB stream's message.
func renderGRPCProfile(p printer, rs *Results) {
	if names := unaryProfile.names(rs); len(names) > 0 {
		renderProfileTable(p, rs, unaryProfile, names)
		for _, t := range names {
			own, all, ok := grpcOwnCPU(rs, unaryProfile, t)
			if !ok || all == 0 {
				continue
			}
			p("- Over %s, gRPC's own layers (its HTTP/2 transport, the rest of gRPC, protobuf) took %.0f%% of both\n", grpcNoun(t), 100*own/all)
			p("  processes' samples: %s of the %s of CPU per call they stand for.", duration(own), duration(all))
			if ticks, ok := rs.Get(grpcProfileName(t), "cpu-ns/rpc"); ok && ticks > 0 {
				p(" utime+stime counted %s per\n  call in the same run: the profile caught %.0f%% of it.", duration(ticks), 100*all/ticks)
			}
			p("\n")
		}
		if own, all, ok := grpcOwnCPU(rs, unaryProfile, "unix"); ok && all > 0 {
			p("- So a transport that cost nothing could take at most %.0f%% off the CPU of a call over the Unix\n", 100*(all-own)/all)
			p("  socket: gRPC's own work stays.")
			c, ok1 := rs.Get(grpcUnaryName("conn", grpcProfileSize), "cpu-ns/rpc")
			u, ok2 := rs.Get(grpcUnaryName("unix", grpcProfileSize), "cpu-ns/rpc")
			if ok1 && ok2 && u > 0 {
				p(" Unprofiled (`BenchmarkGRPCUnary`, utime+stime), a call over conn cost %s of\n  CPU, %s the Unix socket's %s.", duration(c), ratio(c/u), duration(u))
			}
			p("\n")
		}
		renderProfileTops(p, rs, unaryProfile, names)
	}
	if names := streamProfile.names(rs); len(names) > 0 {
		renderProfileTable(p, rs, streamProfile, names)
		for _, t := range names {
			n := grpcStreamProfileName(t)
			mbs := ""
			if v, ok := rs.Get(n, "MB/s"); ok {
				mbs = fmt.Sprintf(" (%s MB/s, profiled)", num(v))
			}
			p("- Over %s%s:", grpcNoun(t), mbs)
			for i, side := range []string{"client", "server"} {
				own, tr, ns, ok := sideShares(rs, n, "msg", side)
				if !ok {
					continue
				}
				if i > 0 {
					p(";")
				}
				p("\n  the %s's %s of sampled CPU per message went %.0f%% to gRPC's own layers, %.0f%% to the\n  transport and system calls", side, duration(ns), own, tr)
			}
			p(".\n")
		}
		renderProfileTops(p, rs, streamProfile, names)
	}
}

// renderProfileTable heads pr's section and gives each layer's share of
// each process's samples over each of names, and the samples.
func renderProfileTable(p printer, rs *Results, pr profiled, names []string) {
	p("\n### %s\n\n", pr.title)
	p("CPU profiles (500 Hz) of both processes of %s: each\n", pr.what)
	p("sample counts for the innermost of its functions that belongs to a layer, so a memmove or an\n")
	p("allocation counts for the layer that made it; a system call counts as one whoever made it. A\n")
	p("yield is a layer of its own: the profile cannot tell whose it was. Shares of each process's\n")
	p("samples, medians over the passes:\n\n")
	var cols []string
	for _, t := range names {
		cols = append(cols, grpcLabel(t)+" client", grpcLabel(t)+" server")
	}
	tableHead(p, "layer", cols)
	pct := func(v float64) string { return fmt.Sprintf("%.1f%%", v) }
	row := func(label string, unit func(side string) string, f func(float64) string) {
		p("| %s |", label)
		for _, t := range names {
			n := pr.name(t)
			p(" %s | %s |", cell(rs, n, unit("client"), f), cell(rs, n, unit("server"), f))
		}
		p("\n")
	}
	for _, l := range profileLayers {
		row(l.label, func(side string) string { return side + "-" + l.name + "-pct" }, pct)
	}
	row("samples", func(side string) string { return side + "-samples" }, whole)
	row("sampled CPU per "+pr.noun, func(side string) string { return side + "-sampled-ns/" + pr.per }, duration)
	p("\n")
}

// renderProfileTops gives the functions with the most samples of their
// own in pr's last profile over each of names.
func renderProfileTops(p printer, rs *Results, pr profiled, names []string) {
	for _, t := range names {
		top, ok := rs.profileTops[pr.name(t)]
		if !ok {
			continue
		}
		p("\nThe functions with the most samples of their own over %s, from the last profile (a run of %d %ss):\n\n", grpcNoun(t), top.n, pr.noun)
		p("| client | | server | |\n|---|---|---|---|\n")
		for i := range max(len(top.client), len(top.server)) {
			cf, sf, cp, sp := "", "", "", ""
			if i < len(top.client) {
				cf, cp = "`"+top.client[i].fn+"`", fmt.Sprintf("%.1f%%", top.client[i].pct)
			}
			if i < len(top.server) {
				sf, sp = "`"+top.server[i].fn+"`", fmt.Sprintf("%.1f%%", top.server[i].pct)
			}
			p("| %s | %s | %s | %s |\n", cp, cf, sp, sf)
		}
	}
}

// The layers that are the transport's: its own code, and the system
// calls (over a socket, the kernel's copy; over conn, its doorbells).
var transportLayers = []string{"transport", "syscall"}

// sideShares returns one process's (side: client, server) figures of
// the profiled benchmark name: the share of its samples in gRPC's own
// layers and in the transport's (percent), and the CPU per operation
// (per: rpc, msg) its samples stand for.
func sideShares(rs *Results, name, per, side string) (own, transport, ns float64, ok bool) {
	sum := func(ls []string) (float64, bool) {
		total := 0.0
		for _, l := range ls {
			v, ok := rs.Get(name, side+"-"+l+"-pct")
			if !ok {
				return 0, false
			}
			total += v
		}
		return total, true
	}
	ns, ok1 := rs.Get(name, side+"-sampled-ns/"+per)
	own, ok2 := sum(grpcOwnLayers)
	transport, ok3 := sum(transportLayers)
	return own, transport, ns, ok1 && ok2 && ok3
}

// grpcOwnCPU returns the CPU per operation that pr's samples stand for
// over t, both processes (all), and how much of it was gRPC's own layers
// (own): each side's sampled-ns, and its share of them. The samples, not
// utime+stime: the profile catches a part of what the kernel counts, and
// not the same part over every transport on the project's VM, so own and
// all are taken from the same count.
func grpcOwnCPU(rs *Results, pr profiled, t string) (own, all float64, ok bool) {
	for _, side := range []string{"client", "server"} {
		share, _, ns, ok := sideShares(rs, pr.name(t), pr.per, side)
		if !ok {
			return 0, 0, false
		}
		own += ns * share / 100
		all += ns
	}
	return own, all, true
}

// renderWhyGRPC adds to "Why, as far as is known" what the profiles say
// of a gRPC target missed: the yields' share over conn, against the Unix
// socket's; and what bounds the 1 MiB stream.
func renderWhyGRPC(p printer, rs *Results) {
	missedAny, streamMissed := false, false
	for _, t := range grpcTargets(rs) {
		missedAny = missedAny || t.status == missed
		streamMissed = streamMissed || t.status == missed && strings.HasPrefix(t.what, "gRPC server stream")
	}
	if !missedAny {
		return
	}
	cy, ok1 := rs.Get(grpcProfileName("conn"), "client-yield-pct")
	sy, ok2 := rs.Get(grpcProfileName("conn"), "server-yield-pct")
	if ok1 && ok2 {
		p("- gRPC over conn: in the %s unary call's profiles, yields (runtime.Gosched, which conn's adaptive wait\n", sizeName(grpcProfileSize))
		p("  calls between polls before it sleeps) took %.0f%% of the client's samples and %.0f%% of the server's", cy, sy)
		uc, ok1 := rs.Get(grpcProfileName("unix"), "client-yield-pct")
		us, ok2 := rs.Get(grpcProfileName("unix"), "server-yield-pct")
		if ok1 && ok2 {
			p(", against %.0f%% and %.0f%% over the Unix socket, where only gRPC's writer loop yields", uc, us)
		}
		p(" (\"Where a gRPC call's time goes\").\n")
	}
	if streamMissed {
		renderWhyStream(p, rs)
	}
}

// renderWhyStream says what bounds the server stream of 1 MiB messages,
// from BenchmarkGRPCStreamProfile: gRPC's own layers' share of each
// process over each transport, and, over the Unix socket, how much
// faster the busier process would be were the transport's share gone:
// it paces the stream, the two processes working in parallel.
func renderWhyStream(p printer, rs *Results) {
	type shares struct{ own, transport, ns float64 }
	get := func(t string) (c, s shares, ok bool) {
		n := grpcStreamProfileName(t)
		var ok1, ok2 bool
		c.own, c.transport, c.ns, ok1 = sideShares(rs, n, "msg", "client")
		s.own, s.transport, s.ns, ok2 = sideShares(rs, n, "msg", "server")
		return c, s, ok1 && ok2
	}
	uc, us, ok := get("unix")
	if !ok {
		return
	}
	p("- gRPC's server stream of %s messages: gRPC's own layers (its HTTP/2 transport, the rest of gRPC,\n", sizeName(grpcStreamProfileSize))
	p("  protobuf) took ")
	if cc, cs, ok := get("conn"); ok {
		p("%.0f%% of the client's samples and %.0f%% of the server's over conn (the transport and system\n", cc.own, cs.own)
		p("  calls %.0f%% and %.0f%%), ", cc.transport, cs.transport)
	}
	p("%.0f%% and %.0f%% over the Unix socket (the transport and system calls %.0f%%\n", uc.own, us.own, uc.transport)
	p("  and %.0f%%). ", us.transport)
	side, busy, other := "client", uc, us
	if us.ns > uc.ns {
		side, busy, other = "server", us, uc
	}
	p("The %s did the most work,\n  %s of sampled CPU per message against %s", side, duration(busy.ns), duration(other.ns))
	n := grpcStreamProfileName("unix")
	cpu, ok1 := rs.Get(n, side+"-cpu-ns/msg")
	wall, ok2 := rs.Get(n, "ns/msg")
	paces := ok1 && ok2 && wall > 0 && cpu/wall >= busyPaces
	if ok1 && ok2 && wall > 0 {
		p(", its utime+stime %.0f%% of the stream's time per message", 100*cpu/wall)
	}
	a := "A"
	if paces {
		p(": it paces the\n  stream. ")
	} else {
		p(". If it paces the\n  stream, ")
		a = "a"
	}
	if busy.transport >= 100 {
		p("%s transport is all of its work: the transport is the bound.\n", strings.ToLower(a))
		return
	}
	gain := 100 / (100 - busy.transport)
	p("%s transport that cost nothing would take at most the transport's %.0f%% off it: a stream\n", a, busy.transport)
	p("  at most %s as fast as over the socket", ratio(gain))
	if gain < grpcStreamWant {
		p(", short of the %s goal. gRPC's own work, not the transport, bounds it\n", ratio(grpcStreamWant))
	} else {
		p(", which leaves room for the %s goal: the transport's share is the bound\n", ratio(grpcStreamWant))
	}
	p("  (\"%s\").\n", streamProfile.title)
}

// busyPaces is the share of a stream's time a process must be on a CPU
// (utime+stime) for the report to say it paces the stream: the other,
// less busy, waits for it rather than it for the other.
const busyPaces = 0.8

// renderGRPCHow says how the gRPC and HTTP benchmarks measure, for "How
// it is measured".
func renderGRPCHow(p printer, rs *Results) {
	if !hasGRPC(rs) {
		return
	}
	p("- gRPC and HTTP (`bench/peers`, run apart with a `-benchtime` of their own: the command above):\n")
	p("  one hand-written service (Echo; Download, a server stream of N messages of the server's size),\n")
	p("  `grpc.NewServer` and `grpc.NewClient` with their defaults but for 8 MiB message limits,\n")
	p("  plaintext, `grpc.WithContextDialer` with `conn.Dial` or Go's `net.Dialer`; the server serves on a\n")
	p("  `*conn.Listener` or a `net.Listener`. A unary call is timed from its start to its reply; a stream\n")
	p("  from the call to its end. HTTP/1.1: `http.Server` on the listener, `http.Transport` with the\n")
	p("  transport's `DialContext`. CPU per call: utime+stime (/proc/PID/stat) of both processes before\n")
	p("  and after the timed calls, over their count. The idle connections' window is one\n")
	p("  `conn.DefaultLiveness`. The profiles run at 500 Hz and count CPU as the kernel's timer signals\n")
	p("  catch it; each covers its process's whole part of the run, the connection and warm-up calls too.\n")
}
