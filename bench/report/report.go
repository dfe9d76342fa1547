package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// Transports as the benchmarks name them, in the order the tables show
// them, with the label a reader sees.
var (
	throughputTransports = []transport{
		{"ring-batch", "ring ReserveBatch+Commit, ≤64 msgs or 32 KiB", colRing},
		{"ring-send", "ring Send", colRing2},
		{"ring-sendbatch-spin", "ring SendBatch+RecvBatch, spin", colRing3},
		{"ring-send-spin", "ring Send+Recv, spin", colRing4},
		{"cring-batch", "C ring (limit)", colC},
		{"cring-each", "C ring, every message", colC2},
		{"pipe", "pipe", colPipe},
		{"unix-stream", "Unix socket (stream)", colSocket},
		{"chan", "Go channel", colChan},
	}
	roundTripTransports = []transport{
		{"ring-spin", "ring, spin", colRing},
		{"ring-futex", "ring, futex only", colRing2},
		{"cring-spin", "C ring, spin (limit)", colC},
		{"futex-bare", "bare futex", colFutex},
		{"spin-bare", "bare spin, no message", colFloor},
		{"pipe", "pipe", colPipe},
		{"unix-stream", "Unix socket (stream)", colSocket},
		{"chan", "Go channel", colChan},
	}
	sizes      = []int{8, 64, 256, 1 << 10, 4 << 10, 64 << 10}
	scaleSizes = []int{8, 64, 1 << 10, 4 << 10}
	scaleSlots = []int{64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20}
)

// The large-message benchmarks (bench/large_test.go): messages of
// largeSizes in fragments through 4096 slots of each of largeSlotSizes,
// against a pipe and a Unix socket. The run gives them a -benchtime of
// their own (options.large).
const largeBenchmarks = "^Benchmark(Throughput|RoundTrip)Large$"

var (
	largeSizes     = []int{64 << 10, 1 << 20, 16 << 20}
	largeSlotSizes = []int{1 << 10, 16 << 10}
)

// largeName names a large-message benchmark: kind "Throughput" or
// "RoundTrip"; slot 0 for a transport without slots (pipe, socket).
func largeName(kind, t string, size, slot int) string {
	n := "Benchmark" + kind + "Large/" + t + "/" + sizeName(size)
	if slot > 0 {
		n += "/slot=" + sizeName(slot)
	}
	return n
}

type transport struct {
	name, label string
	color       int // index into palette (plot.go)
}

func tputName(t string, size int) string { return "BenchmarkThroughput/" + t + "/" + sizeName(size) }
func rttName(t string, size int) string  { return "BenchmarkRoundTrip/" + t + "/" + sizeName(size) }
func hrtimeName(t string) string         { return "BenchmarkRoundTripHRTime/" + t + "/64B" }
func scaleName(size, slots int) string {
	return fmt.Sprintf("BenchmarkScale/ring-batch/%s/slots=%d", sizeName(size), slots)
}

// Machine describes where the figures come from.
type Machine struct {
	CPU    string
	Cores  int
	Kernel string
	Go     string
	OSArch string
	Load   string // /proc/loadavg's 1, 5 and 15 minute averages when the run started
}

// Report is everything the markdown page is made of.
type Report struct {
	Machine  Machine
	Date     time.Time
	Command  string
	Duration time.Duration // of the run; 0 if the output was read from a file
	RawFile  string        // the raw go test output, relative to the page
	RunError string        // how the run failed, if it did
	Plots    []Plot        // relative to the page
	Results  *Results
}

// Plot is an SVG written next to the page.
type Plot struct{ File, Title string }

// status is a target's verdict.
type status int

const (
	notMeasured status = iota
	met
	missed
)

func (s status) String() string {
	switch s {
	case met:
		return "met"
	case missed:
		return "**MISSED**"
	}
	return "not measured"
}

// target is one line of the targets table.
type target struct {
	what, want, got string
	status          status
}

// ratio formats a ratio as "0.93×".
func ratio(v float64) string { return fmt.Sprintf("%.2f×", v) }

// num formats a figure with about three significant digits.
func num(v float64) string {
	a := math.Abs(v)
	switch {
	case math.IsNaN(v):
		return "–"
	case a == 0:
		return "0"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	case a >= 0.01:
		return fmt.Sprintf("%.3f", v)
	}
	return fmt.Sprintf("%.2g", v)
}

// ns formats nanoseconds, switching to µs from 10 µs.
func ns(v float64) string {
	if v >= 10000 {
		return num(v/1000) + " µs"
	}
	return num(v) + " ns"
}

// vsPasses judges a comparison with the C ring by the median of its
// per-pass ratios: the two figures of one pass were taken seconds apart,
// while the medians of each may come from different passes, and the C
// ring, like the ring, moves between a fast and a slow mode from run to
// run. With passes enough it gives benchmath's confidence interval of that
// median. figures are the medians, for the reader.
func vsPasses(rs []float64, figures string, ok func(float64) bool) (string, status) {
	per := make([]string, len(rs))
	for i, r := range rs {
		per[i] = ratio(r)
	}
	s := summarize(slices.Clone(rs))
	ci := ""
	if finiteCI(s) {
		ci = fmt.Sprintf("%.0f%% CI %s–%s; ", 100*s.Confidence, ratio(s.Lo), ratio(s.Hi))
	}
	return fmt.Sprintf("%s (%sper pass %s; medians %s)", ratio(s.Center), ci, strings.Join(per, ", "), figures), verdict(ok(s.Center))
}

// targets evaluates the targets against one run.
func targets(rs *Results) []target {
	var ts []target
	get := rs.Get

	// Throughput against the C ring: a throughput ratio, C's ns over ours.
	// cring is the C ring's transport, vs its label.
	vsC := func(api, label, cring, vs string, want float64, sizes ...int) {
		for _, size := range sizes {
			t := target{what: fmt.Sprintf("%s throughput vs %s, %s", label, vs, sizeName(size)), want: "≥ " + ratio(want)}
			g, ok1 := get(tputName(api, size), "ns/msg")
			c, ok2 := get(tputName(cring, size), "ns/msg")
			if ok1 && ok2 {
				t.got, t.status = vsPasses(rs.PassRatios(tputName(cring, size), tputName(api, size), "ns/msg"),
					fmt.Sprintf("%s vs %s per message", ns(g), ns(c)), func(r float64) bool { return r >= want })
			}
			ts = append(ts, t)
		}
	}
	vsC("ring-batch", "Batched (ReserveBatch+Commit, ≤64 msgs or 32 KiB)", "cring-batch", "C ring", 0.9, 8, 64, 1024)
	vsC("ring-send", "Per-message Send", "cring-batch", "C ring", 0.5, 8, 64, 1024)
	// The copying calls through exported calls alone, both sides
	// spinning (issue 18, "The public batch calls"): SendBatch against
	// the C ring publishing as often, Send against the C ring
	// publishing every message, as Send does.
	vsC("ring-sendbatch-spin", "SendBatch+RecvBatch (≤64 msgs or 32 KiB, spin)", "cring-batch", "C ring", 0.9, 8, 64, 1024)
	vsC("ring-send-spin", "Send+Recv (spin)", "cring-each", "C ring publishing every message", 0.5, 8)

	// Large messages (issue 20): MB/s at 1 MiB against the C ring
	// splitting them the same way, and against a Unix socket, for each
	// slot size, by the median of the per-pass ratios.
	for _, slot := range largeSlotSizes {
		ring := largeName("Throughput", "ring-send", 1<<20, slot)
		for _, vs := range []struct {
			name, label string
			want        float64
		}{
			{largeName("Throughput", "cring", 1<<20, slot), "C ring", 0.8},
			{largeName("Throughput", "unix-stream", 1<<20, 0), "Unix socket", largeVsSocketWant},
		} {
			t := target{what: fmt.Sprintf("Send+Recv MB/s of 1MiB messages, %s slots, vs %s", sizeName(slot), vs.label), want: "≥ " + ratio(vs.want)}
			g, ok1 := get(ring, "MB/s")
			o, ok2 := get(vs.name, "MB/s")
			if ok1 && ok2 {
				t.got, t.status = vsPasses(rs.PassRatios(ring, vs.name, "MB/s"),
					fmt.Sprintf("%s vs %s MB/s", num(g), num(o)), func(r float64) bool { return r >= vs.want })
			}
			ts = append(ts, t)
		}
	}

	// Round trips against the C ring.
	for _, q := range []struct {
		unit, label string
		want        float64
	}{{"p50-ns", "p50", 1.2}, {"p99-ns", "p99", 2}} {
		t := target{what: "Round trip " + q.label + ", spin, vs C ring, 64B", want: "≤ " + ratio(q.want)}
		g, ok1 := get(rttName("ring-spin", 64), q.unit)
		c, ok2 := get(rttName("cring-spin", 64), q.unit)
		if ok1 && ok2 {
			t.got, t.status = vsPasses(rs.PassRatios(rttName("ring-spin", 64), rttName("cring-spin", 64), q.unit),
				fmt.Sprintf("%s vs %s", ns(g), ns(c)), func(r float64) bool { return r <= q.want })
		}
		ts = append(ts, t)
	}

	// Futex-mode round trip against a pipe's.
	{
		t := target{what: "Round trip p50, futex only, vs pipe, 64B", want: "≤ 1.00×"}
		f, ok1 := get(rttName("ring-futex", 64), "p50-ns")
		p, ok2 := get(rttName("pipe", 64), "p50-ns")
		if ok1 && ok2 {
			t.got = fmt.Sprintf("%s (%s vs %s)", ratio(f/p), ns(f), ns(p))
			t.status = verdict(f <= p)
		}
		ts = append(ts, t)
	}

	// Throughput against a pipe's.
	for _, api := range []struct{ name, label string }{{"ring-batch", "batched"}, {"ring-send", "per-message Send"}} {
		t := target{what: "Throughput vs pipe, 64B, " + api.label, want: "≥ 30×"}
		g, ok1 := get(tputName(api.name, 64), "ns/msg")
		p, ok2 := get(tputName("pipe", 64), "ns/msg")
		if ok1 && ok2 {
			t.got = fmt.Sprintf("%s (%s vs %s per message)", ratio(p/g), ns(g), ns(p))
			t.status = verdict(p/g >= 30)
		}
		ts = append(ts, t)
	}

	// Spin round trip against a pipe's.
	{
		t := target{what: "Round trip p50, spin, vs pipe, 64B (how many times lower)", want: "≥ 100×"}
		g, ok1 := get(rttName("ring-spin", 64), "p50-ns")
		p, ok2 := get(rttName("pipe", 64), "p50-ns")
		if ok1 && ok2 {
			t.got = fmt.Sprintf("%s (%s vs %s)", ratio(p/g), ns(g), ns(p))
			t.status = verdict(p/g >= 100)
		}
		ts = append(ts, t)
	}

	// Allocations: every benchmark of the ring, both units.
	{
		t := target{what: "Allocations per message (ring benchmarks, benchmark process)", want: "0"}
		var n int
		var worstOp, worstK float64
		var worstName string
		for _, name := range rs.Names() {
			if !isRingBench(name) {
				continue
			}
			if v, ok := get(name, "allocs/op"); ok {
				n++
				worstOp = max(worstOp, v)
			}
			for _, u := range []string{"allocs/1000msg", "allocs/1000rt"} {
				if v, ok := get(name, u); ok && v > worstK {
					worstK, worstName = v, name
				}
			}
		}
		if n > 0 {
			t.got = fmt.Sprintf("allocs/op at most %s (%d benchmarks); most per 1000: %s", num(worstOp), n, num(worstK))
			if worstName != "" {
				t.got += " (" + strings.TrimPrefix(worstName, "Benchmark") + ")"
			}
			t.status = verdict(worstOp == 0 && worstK == 0)
		}
		ts = append(ts, t)
	}

	// Futex syscalls under saturation.
	{
		t := target{what: "Futex syscalls per 1000 messages, saturated stream (all sizes, both APIs)", want: "≤ 1"}
		worst, name := -1.0, ""
		for _, api := range []string{"ring-send", "ring-batch"} {
			for _, size := range sizes {
				if v, ok := get(tputName(api, size), "futex/1000msg"); ok && v > worst {
					worst, name = v, tputName(api, size)
				}
			}
		}
		if worst >= 0 {
			t.got = fmt.Sprintf("at most %s (%s)", num(worst), strings.TrimPrefix(name, "Benchmark"))
			t.status = verdict(worst <= 1)
		}
		ts = append(ts, t)
	}

	// Idle consumer.
	{
		t := target{what: "CPU of an idle futex-mode consumer over 1 s", want: "< 1% of a core"}
		c, ok1 := get("BenchmarkIdle/ring-futex", "cpu-pct")
		o, ok2 := get("BenchmarkIdle/ring-futex", "oncpu-pct")
		if ok1 && ok2 {
			t.got = fmt.Sprintf("%s%% (utime+stime), %s%% (schedstat)", num(c), num(o))
			t.status = verdict(c < 1 && o < 1)
		}
		ts = append(ts, t)
	}

	// Resident memory.
	{
		t := target{what: "Resident memory growth while messages grow 100×, either process", want: "< 4 MiB"}
		worst, have := 0.0, false
		for _, api := range []string{"ring-send", "ring-batch"} {
			for _, u := range []string{"parent-growth-KiB", "child-growth-KiB"} {
				if v, ok := get("BenchmarkRSS/"+api+"/64B", u); ok {
					worst, have = max(worst, v), true
				}
			}
		}
		if have {
			t.got = fmt.Sprintf("at most %s KiB", num(worst))
			t.status = verdict(worst < 4<<10)
		}
		ts = append(ts, t)
	}
	ts = append(ts, peerTargets(rs)...)
	return append(ts, grpcTargets(rs)...)
}

func verdict(ok bool) status {
	if ok {
		return met
	}
	return missed
}

func isRingBench(name string) bool {
	for _, p := range []string{"BenchmarkThroughput/ring-", "BenchmarkRoundTrip/ring-", "BenchmarkScale/", "BenchmarkHeap/",
		"BenchmarkThroughputLarge/ring-", "BenchmarkRoundTripLarge/ring-"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// Render writes the markdown page.
func Render(w io.Writer, r *Report) error {
	var b strings.Builder
	rs := r.Results
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }

	p("# Benchmarks\n\n")
	p("Generated by bench/report (`make bench-report`) on %s; do not edit by hand.\n", r.Date.UTC().Format("2006-01-02 15:04 MST"))
	p("Every figure is from the one run below, so ratios compare figures taken minutes apart on the\n")
	p("same machine. Benchmarks on a shared or virtual machine are noisy: rerun before concluding\n")
	p("anything from a few percent, and compare runs with `benchstat` on the raw output.\n\n")
	if r.RunError != "" {
		p("> **The run did not finish cleanly:** %s. Figures below are what it printed before that.\n\n", r.RunError)
	}
	if len(rs.Failed) > 0 {
		p("> **Failed:** %s\n\n", strings.Join(rs.Failed, ", "))
	}

	p("## Machine and command\n\n")
	p("| | |\n|---|---|\n")
	p("| CPU | %s |\n| cores | %d |\n| kernel | %s |\n| Go | %s (%s) |\n", r.Machine.CPU, r.Machine.Cores, r.Machine.Kernel, r.Machine.Go, r.Machine.OSArch)
	if r.Machine.Load != "" {
		p("| load average at start | %s (1, 5, 15 min; anything else running skews every figure) |\n", r.Machine.Load)
	}
	p("| date | %s |\n", r.Date.UTC().Format(time.RFC3339))
	if r.Duration > 0 {
		p("| run time | %s |\n", r.Duration.Round(time.Second))
	}
	p("\n```\n%s\n```\n\n", r.Command)
	if r.RawFile != "" {
		p("The raw output is in [%s](%s) (`benchstat %s` reads it).\n\n", r.RawFile, r.RawFile, r.RawFile)
	}

	p("## Targets\n\n")
	p("The issue's targets, from this run. They are reported, not asserted in tests.\n\n")
	p("| target | want | measured | verdict |\n|---|---|---|---|\n")
	var missedAny []string
	for _, t := range targets(rs) {
		got := t.got
		if got == "" {
			got = "–"
		}
		p("| %s | %s | %s | %s |\n", t.what, t.want, got, t.status)
		if t.status == missed {
			missedAny = append(missedAny, t.what)
		}
	}
	if len(missedAny) > 0 {
		p("\nMissed in this run: %s.\n", strings.Join(missedAny, "; "))
		renderWhy(p, rs)
		renderWhyPeers(p, rs)
		renderWhyGRPC(p, rs)
	}
	p("\n")

	renderThroughput(p, rs)
	renderRoundTrip(p, rs)
	renderLarge(p, rs)
	renderPeers(p, rs)
	renderGRPC(p, rs)
	renderCrossCheck(p, rs)
	renderScale(p, rs)
	renderResources(p, rs)
	renderHeap(p, rs)

	if len(r.Plots) > 0 {
		p("## Plots\n\n")
		for _, pl := range r.Plots {
			p("### %s\n\n![%s](%s)\n\n", pl.Title, pl.Title, pl.File)
		}
	}

	p("## How it is measured\n\n")
	p("- Two OS processes for everything but the channel: the benchmark binary re-executes itself as\n")
	p("  the peer (bench/, `shmtest.Child`). Timing starts after the peer reports ready and ends when\n")
	p("  the consumer has released the last message (its cursor in the segment, or its \"done\" line\n")
	p("  for pipes and sockets). Sizes are the outer loop, so the transports compared at one size run\n")
	p("  within seconds of each other.\n")
	p("- Allocations count the benchmark process only. allocs/op is rounded down to a whole number by\n")
	p("  `go test`, so 0.9 allocations per message shows as 0; allocs/1000msg and allocs/1000rt (from\n")
	p("  runtime/metrics over the timed stretch) are exact.\n")
	p("- Ring geometry, the same for the Go ring, the C ring and the channel's buffer: slot size\n")
	p("  `ring.SlotSizeFor(size)`, 4096 slots, halved until the slots take at most 16 MiB (2048 for\n")
	p("  4 KiB, 128 for 64 KiB).\n")
	p("- Throughput consumers read each message: `Recv` copies it out; `RecvBatch`, the C ring and the\n")
	p("  channel read its first and last byte in place. Producers copy the message in.\n")
	p("- The throughput benchmarks run the ring with its default adaptive wait (spin, yield, then futex);\n")
	p("  futex/1000msg counts both sides' futex waits and wakes from the ring's own counters.\n")
	p("- \"spin\" throughput rows are a program with its messages in hand: `SendBatch` of ≤64 messages or\n")
	p("  32 KiB (as many as the C ring publishes at once) with `RecvBatch` of as many, or `Send` with `Recv`,\n")
	p("  both sides `WaitSpin`, through exported calls alone: the clock stops when the consumer's\n")
	p("  acknowledgement of the last message arrives on a second ring. `SendBatch` is compared with the\n")
	p("  batched C ring, `Send` with the C ring publishing every message.\n")
	p("- Round trips: the parent copies a message in and reads the echo in place; the peer copies it slot\n")
	p("  to slot (`Peek`, `Reserve`, `Commit`, `Release`; the C ring the same). Each round trip is timed\n")
	p("  with one monotonic clock reading into internal/app/hist's log-linear histogram (buckets at most\n")
	p("  1/32 of their values wide), which cring.c ports (`TestCRingHistogram` checks that both give the\n")
	p("  same percentiles for the same values). \"spin\" is `WaitSpin` on both sides, \"futex only\" is\n")
	p("  `WaitFutex` on both sides.\n")
	p("- The C ring (bench/cref/cring.c) is built at run time with `cc -O2`: cached peer cursors, C11\n")
	p("  release stores and acquire loads, publication once per 64 messages, busy-wait with the pause\n")
	p("  instruction (`yield` on arm64). It is the limit every ratio is taken against. \"C ring, every\n")
	p("  message\" is the same program publishing and releasing each message, as `Send` and `Recv` do.\n")
	p("- Pipes and sockets: raw blocking read(2)/write(2), one write per message, reads of exactly one\n")
	p("  message. The socket is AF_UNIX SOCK_STREAM. The bare futex ping-pong always wakes and sleeps\n")
	p("  on a word in a SysV segment: the kernel's part of any futex handoff. The bare spin ping-pong\n")
	p("  (cring.c's `line`) carries no message: one word each way, each in a 128-byte block of its own,\n")
	p("  both sides spinning as the C ring does (the pause instruction in each poll), timed as the C\n")
	p("  ring is. It moves one cache line each way and nothing else: what a spinning round trip costs\n")
	p("  here with nothing to carry. It runs the same at every size.\n")
	p("- Large messages (64 KiB, 1 MiB, 16 MiB) go in fragments through 4096 slots of 1 KiB (a 4 MiB\n")
	p("  ring) or of 16 KiB (64 MiB): the ring with `Send` and `Recv` (throughput: adaptive wait, as\n")
	p("  shipped; round trip: spin, the echo receiving each message whole and sending it back); the C ring\n")
	p("  (cring.c `ftput`, `frtt`) splitting them into the same fragments, copying each in from the\n")
	p("  sender's buffer and out into the receiver's, publishing and releasing every 32 KiB of slots, at\n")
	p("  the end of each message and before it waits, spinning; a bare copy (cring.c `copy`, one way\n")
	p("  only): no ring, slots or fragments, each message copied whole into one of two message-sized\n")
	p("  buffers in a segment and out again, one handoff per message, the simplest design that copies\n")
	p("  in and out; a pipe and a Unix socket, one write(2)\n")
	p("  per message. Both processes touch every page of the rings before the clock starts (a ring in\n")
	p("  use has its pages; a fresh 64 MiB one spends a quarter of a second of its first lap in page\n")
	p("  faults on this VM). They run apart from the rest, with `-benchtime` of their own (the command\n")
	p("  above).\n")
	p("- Idle CPU: utime+stime of the consumer process from /proc/PID/stat (10 ms ticks), and the exact\n")
	p("  on-CPU time of its threads from /proc/PID/task/*/schedstat, over 1 s of waiting.\n")
	p("- Resident memory: VmRSS of both processes after 65,536 messages and again after 100× more.\n")
	renderPeersHow(p, rs)
	renderGRPCHow(p, rs)

	_, err := io.WriteString(w, b.String())
	return err
}

type printer func(format string, args ...any)

func cell(rs *Results, name, unit string, f func(float64) string) string {
	if v, ok := rs.Get(name, unit); ok {
		return f(v)
	}
	return "–"
}

// cellCI is cell with the half-width of the median's confidence interval,
// as benchstat prints it ("250 ns ±3%"), where the runs allow one.
func cellCI(rs *Results, name, unit string, f func(float64) string) string {
	s, ok := rs.Summary(name, unit)
	if !ok {
		return "–"
	}
	if finiteCI(s) {
		return f(s.Center) + " ±" + s.PctRangeString()
	}
	return f(s.Center)
}

func renderThroughput(p printer, rs *Results) {
	p("## Throughput\n\n")
	p("One-way stream, nanoseconds per message (lower is better):\n\n")
	tableHead(p, "size", labels(throughputTransports))
	for _, size := range sizes {
		p("| %s |", sizeName(size))
		for _, t := range throughputTransports {
			p(" %s |", cell(rs, tputName(t.name, size), "ns/msg", num))
		}
		p("\n")
	}
	p("\nMB/s of payload (higher is better):\n\n")
	tableHead(p, "size", labels(throughputTransports))
	for _, size := range sizes {
		p("| %s |", sizeName(size))
		for _, t := range throughputTransports {
			p(" %s |", cell(rs, tputName(t.name, size), "MB/s", num))
		}
		p("\n")
	}
	p("\nThroughput ratios (above 1: the ring moves more messages per second):\n\n")
	p("| size | batched / C ring | Send / C ring | Send / C ring every message | SendBatch spin / C ring | Send spin / C ring every message | batched / pipe | Send / pipe | batched / socket | batched / channel |\n")
	p("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, size := range sizes {
		p("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", sizeName(size),
			tputRatio(rs, "ring-batch", "cring-batch", size),
			tputRatio(rs, "ring-send", "cring-batch", size),
			tputRatio(rs, "ring-send", "cring-each", size),
			tputRatio(rs, "ring-sendbatch-spin", "cring-batch", size),
			tputRatio(rs, "ring-send-spin", "cring-each", size),
			tputRatio(rs, "ring-batch", "pipe", size),
			tputRatio(rs, "ring-send", "pipe", size),
			tputRatio(rs, "ring-batch", "unix-stream", size),
			tputRatio(rs, "ring-batch", "chan", size))
	}
	p("\nThe ring's own counters during those streams, per 1000 messages (futex syscalls of both sides;\n")
	p("stalls: a side found the ring full or empty and had to wait) and heap allocations:\n\n")
	p("| size | Send futex | Send stalls | Send allocs | batched futex | batched stalls | batched allocs |\n")
	p("|---|---|---|---|---|---|---|\n")
	for _, size := range sizes {
		s, bt := tputName("ring-send", size), tputName("ring-batch", size)
		p("| %s | %s | %s | %s | %s | %s | %s |\n", sizeName(size),
			cell(rs, s, "futex/1000msg", num), cell(rs, s, "stalls/1000msg", num), cell(rs, s, "allocs/1000msg", num),
			cell(rs, bt, "futex/1000msg", num), cell(rs, bt, "stalls/1000msg", num), cell(rs, bt, "allocs/1000msg", num))
	}
	p("\n")
}

func tputRatio(rs *Results, a, b string, size int) string {
	x, ok1 := rs.Get(tputName(a, size), "ns/msg")
	y, ok2 := rs.Get(tputName(b, size), "ns/msg")
	if !ok1 || !ok2 || x == 0 {
		return "–"
	}
	return ratio(y / x)
}

// tableHead writes a table's head: its first column and cols.
func tableHead(p printer, first string, cols []string) {
	p("| %s |", first)
	for _, c := range cols {
		p(" %s |", c)
	}
	p("\n|---|")
	for range cols {
		p("---|")
	}
	p("\n")
}

// labels are the transports' labels, a table's columns.
func labels(ts []transport) []string {
	var ls []string
	for _, t := range ts {
		ls = append(ls, t.label)
	}
	return ls
}

// without is ts but the transport named name.
func without(ts []transport, name string) []transport {
	var rest []transport
	for _, t := range ts {
		if t.name != name {
			rest = append(rest, t)
		}
	}
	return rest
}

// sizeNames are the sizes' names, a table's columns.
func sizeNames(sizes []int) []string {
	var ns []string
	for _, size := range sizes {
		ns = append(ns, sizeName(size))
	}
	return ns
}

func renderRoundTrip(p printer, rs *Results) {
	p("## Round trip\n\n")
	p("Ping-pong of a 64-byte message (medians over the passes; ± is the larger half of benchmath's\n")
	p("confidence interval of the median, at %.0f%% or more, where there are passes enough: with five\n", 100*confidence)
	p("passes it spans the fastest to the slowest):\n\n")
	p("| transport | mean | p50 | p99 | p99.9 | p50 vs C ring | p99 vs C ring |\n|---|---|---|---|---|---|---|\n")
	for _, t := range roundTripTransports {
		n := rttName(t.name, 64)
		p("| %s | %s | %s | %s | %s | %s | %s |\n", t.label,
			cellCI(rs, n, "ns/op", ns), cellCI(rs, n, "p50-ns", ns), cellCI(rs, n, "p99-ns", ns), cellCI(rs, n, "p99.9-ns", ns),
			rttRatio(rs, t.name, "cring-spin", 64, "p50-ns"), rttRatio(rs, t.name, "cring-spin", 64, "p99-ns"))
	}
	for _, q := range []struct{ unit, label string }{{"p50-ns", "p50"}, {"p99-ns", "p99"}, {"p99.9-ns", "p99.9"}} {
		p("\n%s round trip by message size:\n\n", q.label)
		tableHead(p, "size", labels(roundTripTransports))
		for _, size := range sizes {
			p("| %s |", sizeName(size))
			for _, t := range roundTripTransports {
				p(" %s |", cell(rs, rttName(t.name, size), q.unit, ns))
			}
			p("\n")
		}
	}
	p("\n")
}

// renderCrossCheck sets the 64-byte round trips as BenchmarkRoundTrip times
// them (one CLOCK_MONOTONIC read per round trip, internal/app/hist) beside
// BenchmarkRoundTripHRTime's (github.com/loov/hrtime's timer and exact
// percentiles, and internal/app/hist's of the same laps).
func renderCrossCheck(p printer, rs *Results) {
	var ts []transport
	for _, t := range roundTripTransports {
		if rs.Has(hrtimeName(t.name)) {
			ts = append(ts, t)
		}
	}
	if len(ts) == 0 {
		return
	}
	p("## Cross-check: hrtime against internal/app/hist\n\n")
	p("The 64-byte round trips measured two ways. *One clock read*: `BenchmarkRoundTrip`, one\n")
	p("CLOCK_MONOTONIC read per round trip into internal/app/hist. *hrtime*: `BenchmarkRoundTripHRTime`,\n")
	p("github.com/loov/hrtime's benchmark timer (hrtesting), which keeps every lap and takes exact\n")
	p("percentiles from them sorted; *internal/app/hist of hrtime's laps*: the same laps summarised by\n")
	p("internal/app/hist. Columns of the same laps differ by the histogram alone (a bucket is at most\n")
	p("1/32 of its values wide; hrtime takes the sample of rank round(q·n)+1, internal/app/hist of rank\n")
	p("round(q·n)). Columns of the two benchmarks differ by the clock too: hrtime reads time.Now's\n")
	p("wall clock twice per lap, and each lap pays for both reads.\n\n")
	p("| transport | mean, one clock read | mean, hrtime | p50, one clock read | p50, hrtime | p50, internal/app/hist of hrtime's laps | p99, one clock read | p99, hrtime | p99, internal/app/hist of hrtime's laps | hrtime p90 |\n")
	p("|---|---|---|---|---|---|---|---|---|---|\n")
	for _, t := range ts {
		one, hr := rttName(t.name, 64), hrtimeName(t.name)
		p("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", t.label,
			cell(rs, one, "ns/op", ns), cell(rs, hr, "ns/op", ns),
			cell(rs, one, "p50-ns", ns), cell(rs, hr, "ns/p50", ns), cell(rs, hr, "p50-ns", ns),
			cell(rs, one, "p99-ns", ns), cell(rs, hr, "ns/p99", ns), cell(rs, hr, "p99-ns", ns),
			cell(rs, hr, "ns/p90", ns))
	}
	p("\n")
}

func rttRatio(rs *Results, a, b string, size int, unit string) string {
	x, ok1 := rs.Get(rttName(a, size), unit)
	y, ok2 := rs.Get(rttName(b, size), unit)
	if !ok1 || !ok2 || y == 0 {
		return "–"
	}
	return ratio(x / y)
}

// renderLarge shows the large-message benchmarks: MB/s one way and the
// round trip, by message size, for each transport and slot size.
func renderLarge(p printer, rs *Results) {
	type col struct {
		t, label string
		slot     int
	}
	var tput, rtt []col
	for _, slot := range largeSlotSizes {
		tput = append(tput, col{"ring-send", "ring Send+Recv, " + sizeName(slot) + " slots", slot},
			col{"cring", "C ring, " + sizeName(slot) + " slots", slot})
		rtt = append(rtt, col{"ring-spin", "ring, spin, " + sizeName(slot) + " slots", slot},
			col{"cring-spin", "C ring, spin, " + sizeName(slot) + " slots", slot})
	}
	tput = append(tput, col{"copy-bare", "bare copy in and out, no ring", 0})
	for _, t := range []struct{ name, label string }{{"pipe", "pipe"}, {"unix-stream", "Unix socket (stream)"}} {
		tput = append(tput, col{t.name, t.label, 0})
		rtt = append(rtt, col{t.name, t.label, 0})
	}
	have := false
	for _, size := range largeSizes {
		for _, c := range tput {
			have = have || rs.Has(largeName("Throughput", c.t, size, c.slot)) || rs.Has(largeName("RoundTrip", c.t, size, c.slot))
		}
	}
	if !have {
		return
	}
	head := func(cols []col) {
		var ls []string
		for _, c := range cols {
			ls = append(ls, c.label)
		}
		tableHead(p, "size", ls)
	}
	p("## Large messages\n\n")
	p("Messages larger than a slot, in fragments through 4096 slots of 1 KiB (4 MiB) or 16 KiB (64 MiB);\n")
	p("a 16 MiB message is larger than either ring. One-way MB/s of payload (higher is better):\n\n")
	head(tput)
	for _, size := range largeSizes {
		p("| %s |", sizeName(size))
		for _, c := range tput {
			p(" %s |", cellCI(rs, largeName("Throughput", c.t, size, c.slot), "MB/s", num))
		}
		p("\n")
	}
	p("\nThe ring's MB/s over the others' (medians of each):\n\n")
	var cols []string
	for _, slot := range largeSlotSizes {
		cols = append(cols, sizeName(slot)+" slots: / C ring", "/ pipe", "/ Unix socket")
	}
	tableHead(p, "size", cols)
	for _, size := range largeSizes {
		p("| %s |", sizeName(size))
		for _, slot := range largeSlotSizes {
			ring := largeName("Throughput", "ring-send", size, slot)
			for _, vs := range []string{largeName("Throughput", "cring", size, slot),
				largeName("Throughput", "pipe", size, 0), largeName("Throughput", "unix-stream", size, 0)} {
				x, ok1 := rs.Get(ring, "MB/s")
				y, ok2 := rs.Get(vs, "MB/s")
				c := "–"
				if ok1 && ok2 && y != 0 {
					c = ratio(x / y)
				}
				p(" %s |", c)
			}
		}
		p("\n")
	}
	for _, q := range []struct{ unit, label string }{{"ns/op", "Mean"}, {"p99-ns", "p99"}} {
		p("\n%s round trip (the message there and back):\n\n", q.label)
		head(rtt)
		for _, size := range largeSizes {
			p("| %s |", sizeName(size))
			for _, c := range rtt {
				p(" %s |", cell(rs, largeName("RoundTrip", c.t, size, c.slot), q.unit, duration))
			}
			p("\n")
		}
	}
	p("\n")
}

// passSplit is a run read pass by pass against a target (splitPasses).
type passSplit struct {
	passes, floorReached int     // passes read; those in which the floor reached the target
	vsLo, vsHi           float64 // the least and most of vs's figure
	labels               []string
	met                  []int // by labels: passes of floorReached in which the candidate did too
}

// passCand is a benchmark set against the target, and its label.
type passCand struct{ name, label string }

// splitPasses reads the passes that ran vs, floor and every one of cands
// that ran at all (unit): in how many floor's figure reached the target
// against vs's (reach), and, of those, in how many each candidate did.
func splitPasses(rs *Results, unit, vs, floor string, reach func(x, v float64) bool, cands ...passCand) passSplit {
	names := []string{vs, floor}
	var s passSplit
	for _, c := range cands {
		if rs.Has(c.name) {
			names, s.labels = append(names, c.name), append(s.labels, c.label)
		}
	}
	figs := rs.PassFigures(unit, names...)
	s.passes, s.met = len(figs), make([]int, len(s.labels))
	for i, f := range figs {
		v := f[0]
		if i == 0 || v < s.vsLo {
			s.vsLo = v
		}
		if i == 0 || v > s.vsHi {
			s.vsHi = v
		}
		if !reach(f[1], v) {
			continue
		}
		s.floorReached++
		for j := range s.met {
			if reach(f[2+j], v) {
				s.met[j]++
			}
		}
	}
	return s
}

// each is format (its label, then its count) for each candidate, joined
// with "and".
func (s passSplit) each(format string) string {
	got := make([]string, len(s.labels))
	for i, l := range s.labels {
		got[i] = fmt.Sprintf(format, l, s.met[i])
	}
	return strings.Join(got, " and ")
}

// renderLargePasses follows the 1 MiB Why line, when the run has the bare
// copy and more than one pass, with how the target fared pass by pass:
// the socket's MB/s moves between passes more than the rings' do, and a
// pass where the bare copy, the simplest design that copies in and out,
// does not reach 5× the socket's asks a ring to beat it.
func renderLargePasses(p func(string, ...any), rs *Results) {
	var cands []passCand
	for _, slot := range largeSlotSizes {
		cands = append(cands, passCand{largeName("Throughput", "ring-send", 1<<20, slot), sizeName(slot) + " slots"})
	}
	reach := func(x, v float64) bool { return v > 0 && x/v >= largeVsSocketWant }
	s := splitPasses(rs, "MB/s", largeName("Throughput", "unix-stream", 1<<20, 0), largeName("Throughput", "copy-bare", 1<<20, 0), reach, cands...)
	if s.passes < 2 || len(s.labels) == 0 {
		return
	}
	p("  Pass by pass the socket moved more than the rings: it ran from %s to %s MB/s in the %d passes, and the bare copy reached %s its MB/s in %d of them",
		num(s.vsLo), num(s.vsHi), s.passes, ratio(largeVsSocketWant), s.floorReached)
	if s.floorReached > 0 {
		p("; in those %d, the ring reached it %s", s.floorReached, s.each("in %[2]d with %[1]s"))
	}
	p(".\n")
}

// renderWhyLarge says, when a 1 MiB target against the Unix socket is
// missed, how many times the socket's MB/s the C ring itself reached with
// each slot size, and a bare double-buffered copy with no ring at all:
// whether the goal is within what a ring, or the simplest design, that
// copies each message in and out reaches on this machine.
func renderWhyLarge(p func(string, ...any), rs *Results) {
	missedAny := false
	for _, t := range targets(rs) {
		missedAny = missedAny || t.status == missed && strings.HasPrefix(t.what, "Send+Recv MB/s of 1MiB messages") && strings.HasSuffix(t.what, "vs Unix socket")
	}
	sock, ok := rs.Get(largeName("Throughput", "unix-stream", 1<<20, 0), "MB/s")
	if !missedAny || !ok || sock <= 0 {
		return
	}
	var got []string
	reaches := 0
	for _, slot := range largeSlotSizes {
		c, ok := rs.Get(largeName("Throughput", "cring", 1<<20, slot), "MB/s")
		if !ok {
			continue
		}
		got = append(got, fmt.Sprintf("%s with %s slots", ratio(c/sock), sizeName(slot)))
		if c/sock >= largeVsSocketWant {
			reaches++
		}
	}
	if len(got) == 0 {
		return
	}
	p("- Against the Unix socket at 1 MiB: the C ring itself, splitting each message into the same slots, moved %s the socket's MB/s in this run (%s MB/s)", strings.Join(got, " and "), num(sock))
	bare, okBare := rs.Get(largeName("Throughput", "copy-bare", 1<<20, 0), "MB/s")
	if okBare {
		p("; a bare double-buffered copy, each message copied whole into one of two buffers and out again, with no ring, slots or fragments, moved %s (%s MB/s)", ratio(bare/sock), num(bare))
	}
	bareReaches := okBare && bare/sock >= largeVsSocketWant
	switch {
	case reaches == 0 && okBare && !bareReaches:
		p(". By this run's medians, a target of %s is beyond what the C ring and a bare copy in and out reach, not only beyond this ring.\n", ratio(largeVsSocketWant))
	case reaches == 0 && bareReaches:
		p(". By this run's medians, a bare copy reaches the %s target, a ring of these slots does not.\n", ratio(largeVsSocketWant))
	case reaches == 0:
		p(". A target of %s is beyond what a ring that copies each message in and out reaches on this machine, not only beyond this ring.\n", ratio(largeVsSocketWant))
	case reaches == len(got):
		p(": a copying ring reaches the %s target on this machine.\n", ratio(largeVsSocketWant))
	default:
		p(": a copying ring reaches the %s target on this machine with some slot sizes only.\n", ratio(largeVsSocketWant))
	}
	renderLargePasses(p, rs)
}

// duration formats nanoseconds as ns, switching to µs from 10 µs and to ms
// from 10 ms.
func duration(v float64) string {
	if v >= 10e6 {
		return num(v/1e6) + " ms"
	}
	return ns(v)
}

func renderScale(p printer, rs *Results) {
	p("## Scale: ring capacity\n\n")
	p("Batched throughput (ReserveBatch+Commit, ≤64 msgs or 32 KiB, RecvBatch), ns per message, by number of slots. A blank\n")
	p("is a ring over 256 MiB, not run.\n\n")
	tableHead(p, "slots", sizeNames(scaleSizes))
	for _, slots := range scaleSlots {
		p("| %d |", slots)
		for _, size := range scaleSizes {
			n := scaleName(size, slots)
			c := "–"
			if v, ok := rs.Get(n, "ns/msg"); ok {
				c = num(v)
				if mb, ok := rs.Get(n, "MB/s"); ok {
					c += fmt.Sprintf(" (%s MB/s)", num(mb))
				}
			}
			p(" %s |", c)
		}
		p("\n")
	}
	p("\n")
}

func renderResources(p printer, rs *Results) {
	p("## Memory and idle CPU\n\n")
	p("| benchmark | parent VmRSS | child VmRSS | parent growth | child growth | messages |\n|---|---|---|---|---|---|\n")
	for _, api := range []string{"ring-send", "ring-batch"} {
		n := "BenchmarkRSS/" + api + "/64B"
		kib := func(v float64) string { return num(v) + " KiB" }
		p("| %s | %s | %s | %s | %s | %s |\n", strings.TrimPrefix(n, "Benchmark"),
			cell(rs, n, "parent-rss-KiB", kib), cell(rs, n, "child-rss-KiB", kib),
			cell(rs, n, "parent-growth-KiB", kib), cell(rs, n, "child-growth-KiB", kib),
			cell(rs, n, "msgs", num))
	}
	p("\n| idle consumer | CPU (utime+stime) | CPU (schedstat) |\n|---|---|---|\n")
	for _, mode := range []string{"futex", "adaptive"} {
		n := "BenchmarkIdle/ring-" + mode
		pct := func(v float64) string { return num(v) + "%" }
		p("| %s | %s | %s |\n", mode, cell(rs, n, "cpu-pct", pct), cell(rs, n, "oncpu-pct", pct))
	}
	p("\n")
}

func renderHeap(p printer, rs *Results) {
	var names []string
	for _, n := range rs.Names() {
		if strings.HasPrefix(n, "BenchmarkHeap/") {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return
	}
	p("## ring package: two goroutines over a heap ring\n\n")
	p("`BenchmarkHeap` in ring/: the ring's own cost without a second process.\n\n")
	p("| benchmark | ns/msg | MB/s | futex/1000msg | allocs/op |\n|---|---|---|---|---|\n")
	for _, n := range names {
		p("| %s | %s | %s | %s | %s |\n", strings.TrimPrefix(n, "Benchmark"),
			cell(rs, n, "ns/op", num), cell(rs, n, "MB/s", num), cell(rs, n, "futex/1000msg", num), cell(rs, n, "allocs/op", num))
	}
	p("\n")
}

// largeVsSocketWant is issue 20's goal for 1 MiB messages: the ring's
// MB/s over the Unix socket's, at least.
const largeVsSocketWant = 5

// renderWhy says what is known of why targets are missed: what the C ring
// itself reaches against the pipe and, for 1 MiB messages, against the
// Unix socket (bounds no ring can beat by much), and the causes that do
// not change from run to run.
func renderWhy(p func(string, ...any), rs *Results) {
	p("\nWhy, as far as is known:\n\n")
	c, ok1 := rs.Get(tputName("cring-batch", 64), "ns/msg")
	pipe, ok2 := rs.Get(tputName("pipe", 64), "ns/msg")
	if ok1 && ok2 {
		p("- Against the pipe: the C ring itself moved 64-byte messages only %s faster than the pipe in this run", ratio(pipe/c))
		crt, ok3 := rs.Get(rttName("cring-spin", 64), "p50-ns")
		prt, ok4 := rs.Get(rttName("pipe", 64), "p50-ns")
		if ok3 && ok4 {
			p(", and its spin round trip was %s lower than the pipe's", ratio(prt/crt))
		}
		p(". Targets of 30× and 100× over this machine's pipe are beyond the hardware's limit as the C ring measures it, not only beyond this ring.\n")
	}
	renderWhyLarge(p, rs)
	if each, ok1 := rs.Get(tputName("cring-each", 64), "ns/msg"); ok1 {
		p("- Per-message Send: a publication per message moves the head cursor's cache line to the consumer and back for every message, and the slots' lines with it. The C ring doing the same (publishing and releasing every message) took %s per 64-byte message", ns(each))
		if c, ok2 := rs.Get(tputName("cring-batch", 64), "ns/msg"); ok2 {
			p(", %s its batched figure", ratio(each/c))
		}
		if g, ok3 := rs.Get(tputName("ring-send", 64), "ns/msg"); ok3 {
			p("; Send took %s, %s the C ring's per-message speed", ns(g), ratio(each/g))
		}
		p(". The 0.5× target is measured against the batched C ring. The consumer trails a producer that keeps pace, which cuts that traffic but cannot remove it (docs/DESIGN.md, \"Per-message sends\").\n")
	}
	p("- The round trip: a publication is a plain store, as in the C ring (asymmetric fences, docs/DESIGN.md); what is left is Go's per-call cost on the path from seeing a message to publishing the answer (Peek, Reserve, Commit, Release on the echoing side; a memmove call per copy), where the C ring's loop is inlined.\n")
	p("- Noise: the two vCPUs are placed by the host, and the same benchmark, the C ring's included, moves between two modes (for example 9 or 35 ns per 8-byte message for the C ring) from one run to the next. Comparisons with the C ring are judged by the median of the per-pass ratios, which the table lists; benchmarks.txt has every run. The load average above says what else ran.\n")
	p("- Futex calls at 64 KiB: a message takes about 1.8 µs to write; a producer descheduled for longer than the consumer's spin and yield phases (70 µs, stretched up to 420 µs once such sleeps keep ending soon) makes the consumer sleep, and each such pause costs a wait and a wake. The VM's slow phases, when every message takes several times as long, make such pauses frequent.\n")
}
