package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

type options struct {
	bench, benchtime, timeout string
	// large: the large-message benchmarks, which a run of the whole
	// suite (-bench .) runs apart, at largeBenchtime: a 16 MiB message
	// takes milliseconds, and at go test's 1 s they would add minutes
	// per pass.
	large, largeBenchtime string
	count, passes         int
	out, raw, in          string
	root                  string // the shmring checkout; "": found from the current directory
	noPlots               bool
	pkgs                  []string
	// peers: the comparison of package conn with other transports
	// (bench/peers, a module of its own, so go test runs in its
	// directory), after the rest, at peersBenchtime, built with
	// peersTags (shmipc: with shmipc-go), with go test's -short if
	// short (20 wake-ups of its idle clients timed, not 50).
	peers                     bool
	peersBenchtime, peersTags string
	// grpcBenchtime: with the whole suite, bench/peers' gRPC and HTTP
	// benchmarks (grpcBenchmarks) run apart at it, which keeps their
	// share of a report small: there are many, and each of them starts
	// a server and a gRPC connection.
	grpcBenchtime string
	short         bool
}

// The gRPC and HTTP benchmarks of bench/peers (issue 22), which a run of
// the whole suite runs apart, at options.grpcBenchtime; all but
// BenchmarkGRPCProfile and BenchmarkGRPCStreamProfile, whose profiles need
// the samples of the longer -peers-benchtime (500 a second of CPU at
// most). The anchors keep BenchmarkGRPCStream from taking its profile along.
const grpcBenchmarks = "^Benchmark(GRPCUnary|GRPCStream|GRPCIdle|HTTP)$"

// invocation is one "go test" run: its arguments, and the directory it
// runs in relative to the checkout ("": the checkout).
type invocation struct {
	dir  string
	args []string
}

// String is the invocation in shell form.
func (inv invocation) String() string {
	if inv.dir == "" {
		return commandLine(inv.args)
	}
	return "(cd " + shellQuote(inv.dir) + " && " + commandLine(inv.args) + ")"
}

// invocations are the "go test" runs that make one pass of the suite:
// one, or for the whole suite with large set, the rest at -benchtime and
// then the large-message benchmarks at -large-benchtime; then, with peers,
// the comparison in bench/peers: for the whole suite with grpcBenchtime
// set, the rest at -peers-benchtime and then the gRPC and HTTP
// benchmarks at -grpc-benchtime.
func (o options) invocations() []invocation {
	var invs []invocation
	if o.bench != "." || o.large == "" {
		invs = []invocation{{args: o.goTestArgs(o.bench, "", o.benchtime)}}
	} else {
		invs = []invocation{{args: o.goTestArgs(o.bench, o.large, o.benchtime)}, {args: o.goTestArgs(o.large, "", o.largeBenchtime)}}
	}
	switch {
	case !o.peers:
	case o.bench != "." || o.grpcBenchtime == "":
		invs = append(invs, invocation{dir: peersDir, args: o.peersArgs(o.bench, "", o.peersBenchtime)})
	default:
		invs = append(invs, invocation{dir: peersDir, args: o.peersArgs(o.bench, grpcBenchmarks, o.peersBenchtime)},
			invocation{dir: peersDir, args: o.peersArgs(grpcBenchmarks, "", o.grpcBenchtime)})
	}
	return invs
}

// peersArgs are the arguments of "go test" in bench/peers for the
// benchmarks matching bench and not skip, at benchtime.
func (o options) peersArgs(bench, skip, benchtime string) []string {
	args := []string{"test", "-run", "^$", "-bench", bench}
	if skip != "" {
		args = append(args, "-skip", skip)
	}
	if benchtime != "" {
		args = append(args, "-benchtime", benchtime)
	}
	if o.count > 1 {
		args = append(args, "-count", strconv.Itoa(o.count))
	}
	if o.short {
		args = append(args, "-short")
	}
	if o.peersTags != "" {
		args = append(args, "-tags", o.peersTags)
	}
	return append(args, "-timeout", o.timeout, "./...")
}

// goTestArgs are the arguments of "go test" for the benchmarks matching
// bench and not skip, at benchtime ("": go test's default).
func (o options) goTestArgs(bench, skip, benchtime string) []string {
	args := []string{"test", "-run", "^$", "-bench", bench}
	if skip != "" {
		args = append(args, "-skip", skip)
	}
	if benchtime != "" {
		args = append(args, "-benchtime", benchtime)
	}
	if o.count > 1 {
		args = append(args, "-count", strconv.Itoa(o.count))
	}
	args = append(args, "-timeout", o.timeout)
	return append(args, o.pkgs...)
}

// commandLines is the shell form of invocations, joined by " && ".
func (o options) commandLines() string {
	var lines []string
	for _, inv := range o.invocations() {
		lines = append(lines, inv.String())
	}
	return strings.Join(lines, " && ")
}

// shellQuote quotes an argument for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func commandLine(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return "go " + strings.Join(q, " ")
}

func run(o options) error {
	root := o.root
	var err error
	if root == "" {
		root, err = findRoot(".")
	} else if modulePath(filepath.Join(root, "go.mod")) != shmringModule {
		err = fmt.Errorf("-root %s: no go.mod of module %s there", root, shmringModule)
	}
	if err != nil {
		return err
	}
	// An absolute -out or -raw (a page for a look, outside the
	// checkout), relative to the checkout as the rest of run takes them.
	if root, err = filepath.Abs(root); err != nil {
		return err
	}
	for _, p := range []*string{&o.out, &o.raw} {
		if filepath.IsAbs(*p) {
			if *p, err = filepath.Rel(root, *p); err != nil {
				return err
			}
		}
	}
	rep := &Report{Date: time.Now(), Command: o.commandLines()}
	load := ""
	if b, err := os.ReadFile("/proc/loadavg"); err == nil && o.in == "" {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			load = strings.Join(f[:3], " ")
		}
	}
	if o.passes > 1 {
		rep.Command = fmt.Sprintf("%s   # %d times; the page shows medians", rep.Command, o.passes)
	}
	var output []byte
	if o.in != "" {
		if output, err = os.ReadFile(o.in); err != nil {
			return err
		}
		if st, err := os.Stat(o.in); err == nil {
			rep.Date = st.ModTime()
		}
	} else {
		names, err := listBenchmarks(root, o)
		if err != nil {
			return err
		}
		total := len(names) * max(o.count, 1) * max(o.passes, 1)
		fmt.Fprintf(os.Stderr, "bench/report: %d benchmarks to run: %s\n", total, rep.Command)
		start := time.Now()
		var out bytes.Buffer
		prog := &progress{w: os.Stderr, total: total, start: start}
	passes:
		for pass := 1; pass <= max(o.passes, 1); pass++ {
			for _, inv := range o.invocations() {
				cmd := exec.Command("go", inv.args...)
				cmd.Dir = filepath.Join(root, inv.dir)
				cmd.Stdout = io.MultiWriter(&out, prog)
				cmd.Stderr = os.Stderr
				if err := cmd.Run(); err != nil {
					rep.RunError = fmt.Sprintf("`%s` (pass %d) exited with %v", inv, pass, err)
					break passes
				}
			}
		}
		prog.finish()
		rep.Duration = time.Since(start)
		output = out.Bytes()
	}
	switch {
	case o.in != "":
		if abs, err := filepath.Abs(o.in); err == nil {
			if rel, err := filepath.Rel(root, abs); err == nil && filepath.IsLocal(rel) {
				rep.RawFile = relTo(o.out, rel)
			}
		}
	case o.raw != "":
		if err := os.WriteFile(filepath.Join(root, o.raw), output, 0o644); err != nil {
			return err
		}
		rep.RawFile = relTo(o.out, o.raw)
	}
	rs, err := Parse(bytes.NewReader(output))
	if err != nil {
		return err
	}
	if len(rs.Names()) == 0 {
		return errors.New("no benchmark results in the output")
	}
	rep.Results = rs
	rep.Machine = machine(rs)
	rep.Machine.Load = load

	outPath := filepath.Join(root, o.out)
	if !o.noPlots {
		for _, pl := range plots {
			p, err := pl.make(rs)
			if err != nil {
				return fmt.Errorf("plot %s: %w", pl.file, err)
			}
			if p == nil {
				continue
			}
			var buf bytes.Buffer
			if err := writeSVG(&buf, p); err != nil {
				return fmt.Errorf("plot %s: %w", pl.file, err)
			}
			if err := os.WriteFile(filepath.Join(filepath.Dir(outPath), pl.file), buf.Bytes(), 0o644); err != nil {
				return err
			}
			rep.Plots = append(rep.Plots, Plot{File: pl.file, Title: pl.title})
		}
	}
	var page bytes.Buffer
	if err := Render(&page, rep); err != nil {
		return err
	}
	if err := os.WriteFile(outPath, page.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench/report: wrote %s (%d benchmarks, %d plots)\n", outPath, len(rs.Names()), len(rep.Plots))
	if rep.RunError != "" {
		return errors.New(rep.RunError)
	}
	return nil
}

// relTo returns target's path relative to the directory of page (both
// relative to the module root).
func relTo(page, target string) string {
	r, err := filepath.Rel(filepath.Dir(page), target)
	if err != nil {
		return target
	}
	return filepath.ToSlash(r)
}

// shmringModule is the module whose suite the report runs.
const shmringModule = "github.com/shmring/shmring"

// findRoot returns the shmring checkout: the nearest directory at or above
// dir whose go.mod declares shmringModule. "go env GOMOD" will not do: the
// report is a module of its own (bench/report/go.mod, which keeps its
// plotting dependencies out of the library's module graph), so from here
// it names the report's go.mod.
func findRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if modulePath(filepath.Join(d, "go.mod")) == shmringModule {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod of module %s at or above %s: run inside the shmring checkout, or pass -root", shmringModule, dir)
		}
	}
}

// modulePath returns the module path a go.mod file declares, or "" if
// there is no such file or no module line.
func modulePath(gomod string) string {
	b, err := os.ReadFile(gomod)
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}

// listBenchmarks runs the suite with SHMRING_BENCH_LIST=1 and -benchtime 1x:
// the bench package's benchmarks return at once, the others run one
// iteration. It returns the names, to count what the real run will do.
func listBenchmarks(root string, o options) ([]string, error) {
	lo := o
	lo.benchtime, lo.largeBenchtime, lo.peersBenchtime, lo.grpcBenchtime, lo.count = "1x", "1x", "1x", "1x", 1
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var names []string
	for _, inv := range lo.invocations() {
		cmd := exec.CommandContext(ctx, "go", inv.args...)
		cmd.Dir = filepath.Join(root, inv.dir)
		cmd.Env = append(os.Environ(), "SHMRING_BENCH_LIST=1")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("listing the benchmarks: %v\n%s%s", err, out, stderr.Bytes())
		}
		rs, err := Parse(bytes.NewReader(out))
		if err != nil {
			return nil, err
		}
		names = append(names, rs.Names()...)
	}
	return names, nil
}

// progress watches go test's output as it streams and says on w which
// benchmark runs and how many are left. go test prints a benchmark's name
// (and a tab) once its first one-iteration run is done, and the figures
// when it has finished: a partial line starting with "Benchmark" is the one
// running.
type progress struct {
	w         io.Writer
	total     int
	done      int
	start     time.Time
	line      []byte
	announced bool
}

func (p *progress) Write(b []byte) (int, error) {
	for _, c := range b {
		if c == '\n' {
			p.endLine()
			continue
		}
		p.line = append(p.line, c)
		if !p.announced && c == '\t' && bytes.HasPrefix(p.line, []byte("Benchmark")) {
			p.announced = true
			name, _ := splitName(string(bytes.TrimSpace(p.line)))
			fmt.Fprintf(p.w, "bench/report: [%d/%d] %s (%d left after it, %s so far)\n",
				p.done+1, p.total, name, max(p.total-p.done-1, 0), time.Since(p.start).Round(time.Second))
		}
	}
	return len(b), nil
}

func (p *progress) endLine() {
	if p.announced {
		p.done++
	}
	line := string(p.line)
	p.line, p.announced = p.line[:0], false
	if strings.HasPrefix(line, "ok ") || strings.HasPrefix(line, "FAIL") || strings.Contains(line, "--- FAIL") {
		fmt.Fprintf(p.w, "bench/report: %s\n", line)
	}
}

func (p *progress) finish() {
	fmt.Fprintf(p.w, "bench/report: %d of %d benchmarks done in %s\n", p.done, p.total, time.Since(p.start).Round(time.Second))
}

// machine describes this machine: CPU model and cores from /proc/cpuinfo,
// the kernel release, and the Go toolchain that ran the suite.
func machine(rs *Results) Machine {
	m := Machine{CPU: rs.CPU, Cores: runtime.NumCPU(), OSArch: runtime.GOOS + "/" + runtime.GOARCH}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		cores := 0
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if !ok {
				continue
			}
			switch strings.TrimSpace(k) {
			case "processor":
				cores++
			case "model name":
				if m.CPU == "" || m.CPU == rs.CPU {
					m.CPU = strings.TrimSpace(v)
				}
			}
		}
		if cores > 0 {
			m.Cores = cores
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(b))
	}
	m.Go = runtime.Version()
	if out, err := exec.Command("go", "env", "GOVERSION").Output(); err == nil {
		m.Go = strings.TrimSpace(string(out))
	}
	return m
}
