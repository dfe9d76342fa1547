// Command report runs shmring's benchmark suite and writes
// docs/BENCHMARKS.md: the machine, the command, tables of absolute figures
// and of the ratios the project targets, and SVG plots.
//
// It is a module of its own, so that its dependencies (gonum's plotting,
// golang.org/x/perf) stay out of the module graph of every program that
// embeds shmring. Run it from its directory ("make bench-report" does):
//
//	cd bench/report
//	go run .                                          # everything (several minutes)
//	go run . -benchtime 3s                            # steadier figures, longer run
//	go run . -in ../../docs/benchmarks.txt            # redo the page from a saved run
//	go run . -short -noplots -out /tmp/b.md -raw ""   # a quick look: every benchmark, briefly
//
// It runs the suite in the shmring checkout that holds the current
// directory (the nearest go.mod of module github.com/shmring/shmring above
// it), or in -root. While the suite runs, a line on stderr says which
// benchmark is running and how many are left.
//
// After the suite of bench/ and ring/ it runs bench/peers, the comparison
// of package conn with a Unix socket, TCP and shmipc-go (a module of its
// own: go test runs in its directory), and then its gRPC and HTTP
// benchmarks apart, at -grpc-benchtime; -peers=false leaves it all out.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	var o options
	flag.StringVar(&o.bench, "bench", ".", "benchmarks to run (go test -bench)")
	flag.StringVar(&o.benchtime, "benchtime", "", "go test -benchtime (default: go test's, 1s)")
	flag.IntVar(&o.count, "count", 1, "go test -count: runs of each benchmark; the page shows medians")
	flag.IntVar(&o.passes, "passes", 1, "run the whole suite this many times, one after the other; the page shows medians\n"+
		"(spreads the repetitions over time, unlike -count)")
	flag.StringVar(&o.large, "large", largeBenchmarks, "with -bench . (the whole suite): the large-message benchmarks, run apart at -large-benchtime\n"+
		"(\"\": with the rest, at -benchtime)")
	flag.StringVar(&o.largeBenchtime, "large-benchtime", "0.25s", "go test -benchtime of the -large benchmarks (a 16 MiB message takes milliseconds)")
	flag.StringVar(&o.timeout, "timeout", "60m", "go test -timeout")
	flag.StringVar(&o.out, "out", "docs/BENCHMARKS.md", "the page to write, relative to the module root unless absolute")
	flag.StringVar(&o.raw, "raw", "docs/benchmarks.txt", "where to keep go test's output (for benchstat), relative to the module root unless absolute; empty: nowhere")
	flag.StringVar(&o.in, "in", "", "read go test's output from this file instead of running the suite")
	flag.BoolVar(&o.noPlots, "noplots", false, "write no SVG plots")
	flag.StringVar(&o.root, "root", "", "the shmring checkout to run the suite in (default: the one holding the current directory)")
	flag.BoolVar(&o.peers, "peers", true, "also run bench/peers (conn against a Unix socket, TCP and shmipc-go), in its own directory")
	flag.StringVar(&o.peersBenchtime, "peers-benchtime", "", "go test -benchtime of bench/peers (default: go test's, 1s)")
	flag.StringVar(&o.grpcBenchtime, "grpc-benchtime", "0.2s", "go test -benchtime of bench/peers' gRPC and HTTP benchmarks, which a run of the whole suite runs apart\n"+
		"(\"\": with the rest of bench/peers, at -peers-benchtime)")
	flag.StringVar(&o.peersTags, "peers-tags", "", "go test -tags of bench/peers")
	flag.BoolVar(&o.short, "short", false, "a short run, for a look and not for the record: -benchtime "+shortBenchtime+", -large-benchtime "+shortLargeBenchtime+
		", -peers-benchtime and -grpc-benchtime "+shortBenchtime+" unless given,\nand bench/peers with go test -short (fewer wake-ups of its idle clients timed, idle gRPC connections watched 5 s)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run . [flags] [packages]   (in bench/report)\n\n"+
			"Runs go test -run '^$' -bench on the packages (default ./bench/ ./ring/, relative\n"+
			"to the shmring checkout) and writes the results as markdown, with SVG plots beside it.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	o.shorten(set)
	o.pkgs = flag.Args()
	if len(o.pkgs) == 0 {
		o.pkgs = []string{"./bench/", "./ring/"}
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench/report:", err)
		os.Exit(1)
	}
}

// shorten sets a -short run's benchmark times where the flags named in set
// (those given) do not.
func (o *options) shorten(set map[string]bool) {
	if !o.short {
		return
	}
	for name, v := range map[string]*string{"benchtime": &o.benchtime, "peers-benchtime": &o.peersBenchtime, "grpc-benchtime": &o.grpcBenchtime,
		"large-benchtime": &o.largeBenchtime} {
		if !set[name] {
			*v = shortBenchtime
			if name == "large-benchtime" {
				*v = shortLargeBenchtime
			}
		}
	}
}

// A -short run's benchmark times: enough for every benchmark to run and
// print its figures, far too little for figures worth keeping.
const (
	shortBenchtime      = "0.1s"
	shortLargeBenchtime = "0.05s"
)
