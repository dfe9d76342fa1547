package main

import (
	"bytes"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/perf/benchfmt"
	"golang.org/x/perf/benchmath"
)

// confidence is the level of the intervals the page gives around a median:
// 90%, the highest that the five passes of "make bench-report" allow.
// benchmath makes no assumption about the distribution (the VM's figures
// are bimodal), and its interval for a median at 95% needs six runs.
const confidence = 0.9

// Result is one benchmark's figures, each run (-count, -passes) kept.
type Result struct {
	Name  string // without the GOMAXPROCS suffix: "BenchmarkThroughput/ring-send/64B"
	Pkg   string
	Procs int // GOMAXPROCS it ran with
	Runs  int
	runs  []map[string]float64 // by unit, in the order go test printed them
	iters []int                // each run's iteration count (b.N), by run
}

// Summary returns the median of unit over the runs that report it, with
// its confidence interval.
func (r *Result) Summary(unit string) (benchmath.Summary, bool) {
	var vs []float64
	for _, m := range r.runs {
		if v, ok := m[unit]; ok {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return benchmath.Summary{}, false
	}
	return summarize(vs), true
}

// summarize returns the median of vs and its confidence interval, from
// benchmath, which sorts vs in place.
func summarize(vs []float64) benchmath.Summary {
	return benchmath.AssumeNothing.Summary(benchmath.NewSample(vs, &benchmath.DefaultThresholds), confidence)
}

// finiteCI reports whether s has a confidence interval: with too few runs
// benchmath's bounds are infinite.
func finiteCI(s benchmath.Summary) bool { return !math.IsInf(s.Lo, 0) && !math.IsInf(s.Hi, 0) }

// Results is a parsed "go test -bench" output.
type Results struct {
	byName map[string]*Result
	order  []string
	Failed []string // benchmarks and packages reported as failing
	CPU    string   // the "cpu:" configuration of the first result
	// profileTops are the top functions of the profiles of
	// BenchmarkGRPCProfile and BenchmarkGRPCStreamProfile, by
	// benchmark, from their logs.
	profileTops map[string]profileTop
}

// Get returns the median figure of benchmark name in unit.
func (rs *Results) Get(name, unit string) (float64, bool) {
	s, ok := rs.Summary(name, unit)
	return s.Center, ok
}

// Summary returns the median figure of benchmark name in unit and its
// confidence interval.
func (rs *Results) Summary(name, unit string) (benchmath.Summary, bool) {
	r, ok := rs.byName[name]
	if !ok {
		return benchmath.Summary{}, false
	}
	return r.Summary(unit)
}

// PassRatios returns, for each pass (run) in which both benchmarks report
// unit, a's figure over b's. Runs pair up in the order they appear: with
// -passes, run i of each benchmark comes from pass i, minutes apart at
// most, where medians of a and b may come from different passes.
func (rs *Results) PassRatios(a, b, unit string) []float64 {
	ra, rb := rs.byName[a], rs.byName[b]
	if ra == nil || rb == nil {
		return nil
	}
	var out []float64
	for i := range min(len(ra.runs), len(rb.runs)) {
		x, ok1 := ra.runs[i][unit]
		y, ok2 := rb.runs[i][unit]
		if ok1 && ok2 && y != 0 {
			out = append(out, x/y)
		}
	}
	return out
}

// PassFigures returns, for each pass (run) in which every one of names
// reports unit, their figures in the order of names. Runs pair up by
// order, as in PassRatios; unless every one of names ran as many times,
// which pass a run came from is not known, and it returns nil.
func (rs *Results) PassFigures(unit string, names ...string) [][]float64 {
	n := -1
	for _, name := range names {
		r := rs.byName[name]
		if r == nil || n >= 0 && len(r.runs) != n {
			return nil
		}
		n = len(r.runs)
	}
	var out [][]float64
	for i := range max(n, 0) {
		fs := make([]float64, len(names))
		all := true
		for j, name := range names {
			fs[j], all = rs.byName[name].runs[i][unit]
			if !all {
				break
			}
		}
		if all {
			out = append(out, fs)
		}
	}
	return out
}

// Has reports whether benchmark name produced a result.
func (rs *Results) Has(name string) bool { _, ok := rs.byName[name]; return ok }

// Names returns the benchmarks in the order they first appeared.
func (rs *Results) Names() []string { return slices.Clone(rs.order) }

// Result returns benchmark name's result.
func (rs *Results) Result(name string) (*Result, bool) {
	r, ok := rs.byName[name]
	return r, ok
}

// splitName splits "BenchmarkX/y-2" into "BenchmarkX/y" and 2, the
// GOMAXPROCS that go test appends when it is not 1.
func splitName(s string) (string, int) {
	_, parts := benchfmt.Name(s).Parts()
	if n := len(parts); n > 0 && strings.HasPrefix(string(parts[n-1]), "-") {
		if procs, err := strconv.Atoi(string(parts[n-1][1:])); err == nil {
			return s[:len(s)-len(parts[n-1])], procs
		}
	}
	return s, 1
}

// Parse reads go test's benchmark output with benchfmt, which keeps the
// configuration lines ("pkg:", "cpu:") and skips what is not a result (test
// logs, a child's stderr, a benchmark line cut short by its failure).
// Failures, which benchfmt does not report, are read from the same lines.
func Parse(r io.Reader) (*Results, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	rs := &Results{byName: map[string]*Result{}, Failed: failures(data), profileTops: profileTops(data)}
	br := benchfmt.NewReader(bytes.NewReader(data), "go test output")
	for br.Scan() {
		res, ok := br.Result().(*benchfmt.Result)
		if !ok {
			continue // *benchfmt.SyntaxError, *benchfmt.UnitMetadata
		}
		if rs.CPU == "" {
			rs.CPU = res.GetConfig("cpu")
		}
		// benchfmt scales values to base units (ns/op to sec/op); the
		// page speaks in the units the benchmarks report.
		m := make(map[string]float64, len(res.Values))
		for _, v := range res.Values {
			if v.OrigUnit != "" {
				m[v.OrigUnit] = v.OrigValue
			} else {
				m[v.Unit] = v.Value
			}
		}
		name, procs := splitName("Benchmark" + res.Name.String())
		r, seen := rs.byName[name]
		if !seen {
			r = &Result{Name: name, Pkg: res.GetConfig("pkg"), Procs: procs}
			rs.byName[name] = r
			rs.order = append(rs.order, name)
		}
		r.runs = append(r.runs, m)
		r.iters = append(r.iters, res.Iters)
		r.Runs = len(r.runs)
	}
	return rs, br.Err()
}

// failures returns the benchmarks ("--- FAIL: Name", which may follow a
// benchmark's name printed before it failed) and packages ("FAIL\tpkg")
// that go test reported as failing.
func failures(data []byte) []string {
	var failed []string
	for _, line := range strings.Split(string(data), "\n") {
		if pkg, ok := strings.CutPrefix(line, "FAIL\t"); ok {
			if f := strings.Fields(pkg); len(f) > 0 {
				failed = append(failed, f[0])
			}
			continue
		}
		if _, after, ok := strings.Cut(line, "--- FAIL: "); ok {
			if f := strings.Fields(after); len(f) > 0 {
				name, _ := splitName(f[0])
				failed = append(failed, name)
			}
		}
	}
	return failed
}

// sizeOf parses a message size as the benchmarks name it: "64B", "4KiB".
func sizeOf(s string) (int, bool) {
	mult := 1
	switch {
	case strings.HasSuffix(s, "KiB"):
		s, mult = strings.TrimSuffix(s, "KiB"), 1<<10
	case strings.HasSuffix(s, "MiB"):
		s, mult = strings.TrimSuffix(s, "MiB"), 1<<20
	case strings.HasSuffix(s, "B"):
		s = strings.TrimSuffix(s, "B")
	default:
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, false
	}
	return n * mult, true
}

// sizeName is the inverse of sizeOf.
func sizeName(n int) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return strconv.Itoa(n>>20) + "MiB"
	}
	if n >= 1<<10 && n%(1<<10) == 0 {
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}
