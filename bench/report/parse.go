package main

import (
	"bufio"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Result is one benchmark's figures: the median of each unit over the
// runs (-count) that produced it.
type Result struct {
	Name    string // without the GOMAXPROCS suffix: "BenchmarkThroughput/ring-send/64B"
	Pkg     string
	Procs   int // GOMAXPROCS it ran with
	Runs    int
	Metrics map[string]float64 // by unit: "ns/op", "MB/s", "p50-ns", ...
}

// Results is a parsed "go test -bench" output.
type Results struct {
	byName map[string]*Result
	runs   map[string][]map[string]float64
	order  []string
	Failed []string // benchmarks and packages reported as failing
	CPU    string   // the "cpu:" header line of the first package
}

// Get returns the figure of benchmark name in unit.
func (rs *Results) Get(name, unit string) (float64, bool) {
	r, ok := rs.byName[name]
	if !ok {
		return 0, false
	}
	v, ok := r.Metrics[unit]
	return v, ok
}

// PassRatios returns, for each pass (run) in which both benchmarks report
// unit, a's figure over b's. Runs pair up in the order they appear: with
// -passes, run i of each benchmark comes from pass i, minutes apart at
// most, where medians of a and b may come from different passes.
func (rs *Results) PassRatios(a, b, unit string) []float64 {
	ra, rb := rs.runs[a], rs.runs[b]
	var out []float64
	for i := range min(len(ra), len(rb)) {
		x, ok1 := ra[i][unit]
		y, ok2 := rb[i][unit]
		if ok1 && ok2 && y != 0 {
			out = append(out, x/y)
		}
	}
	return out
}

// median returns the median of vs (NaN if empty); vs is sorted in place.
func median(vs []float64) float64 {
	n := len(vs)
	if n == 0 {
		return math.NaN()
	}
	slices.Sort(vs)
	if n%2 == 1 {
		return vs[n/2]
	}
	return (vs[n/2-1] + vs[n/2]) / 2
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

// procsSuffix is the "-N" that go test appends to a benchmark name when
// GOMAXPROCS is not 1.
var procsSuffix = regexp.MustCompile(`-(\d+)$`)

// splitName splits "BenchmarkX/y-2" into "BenchmarkX/y" and 2.
func splitName(s string) (string, int) {
	if m := procsSuffix.FindStringSubmatch(s); m != nil {
		n, _ := strconv.Atoi(m[1])
		return s[:len(s)-len(m[0])], n
	}
	return s, 1
}

// Parse reads go test's benchmark output. Lines it does not know (test
// logs, a child's stderr) are skipped; a line reporting a result is
//
//	BenchmarkName-2   	 1000	  123.4 ns/op	  56.7 MB/s	  0 allocs/op
//
// that is, a name, an iteration count, then value-unit pairs.
func Parse(r io.Reader) (*Results, error) {
	rs := &Results{byName: map[string]*Result{}, runs: map[string][]map[string]float64{}}
	pkg := ""
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "pkg: "):
			pkg = strings.TrimPrefix(line, "pkg: ")
			continue
		case strings.HasPrefix(line, "cpu: "):
			if rs.CPU == "" {
				rs.CPU = strings.TrimPrefix(line, "cpu: ")
			}
			continue
		case strings.HasPrefix(line, "FAIL\t"):
			rs.Failed = append(rs.Failed, strings.Fields(line)[1])
			continue
		}
		if i := strings.Index(line, "--- FAIL: "); i >= 0 {
			f := strings.Fields(line[i+len("--- FAIL: "):])
			if len(f) > 0 {
				name, _ := splitName(f[0])
				rs.Failed = append(rs.Failed, name)
			}
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			continue
		}
		m := make(map[string]float64, len(f)/2)
		ok := true
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				ok = false
				break
			}
			m[f[i+1]] = v
		}
		if !ok {
			continue
		}
		name, procs := splitName(f[0])
		if _, seen := rs.byName[name]; !seen {
			rs.order = append(rs.order, name)
			rs.byName[name] = &Result{Name: name, Pkg: pkg, Procs: procs}
		}
		rs.runs[name] = append(rs.runs[name], m)
		res := rs.byName[name]
		res.Runs = len(rs.runs[name])
		res.Metrics = medians(rs.runs[name])
	}
	return rs, sc.Err()
}

// medians returns, for each unit, the median over the runs that report it.
func medians(runs []map[string]float64) map[string]float64 {
	vals := map[string][]float64{}
	for _, m := range runs {
		for u, v := range m {
			vals[u] = append(vals[u], v)
		}
	}
	out := make(map[string]float64, len(vals))
	for u, vs := range vals {
		out[u] = median(vs)
	}
	return out
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
	if n >= 1<<10 && n%(1<<10) == 0 {
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}
