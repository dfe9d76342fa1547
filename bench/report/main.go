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
//
// It runs the suite in the shmring checkout that holds the current
// directory (the nearest go.mod of module github.com/shmring/shmring above
// it), or in -root. While the suite runs, a line on stderr says which
// benchmark is running and how many are left.
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
	flag.StringVar(&o.out, "out", "docs/BENCHMARKS.md", "the page to write, relative to the module root")
	flag.StringVar(&o.raw, "raw", "docs/benchmarks.txt", "where to keep go test's output (for benchstat); empty: nowhere")
	flag.StringVar(&o.in, "in", "", "read go test's output from this file instead of running the suite")
	flag.BoolVar(&o.noPlots, "noplots", false, "write no SVG plots")
	flag.StringVar(&o.root, "root", "", "the shmring checkout to run the suite in (default: the one holding the current directory)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: go run . [flags] [packages]   (in bench/report)\n\n"+
			"Runs go test -run '^$' -bench on the packages (default ./bench/ ./ring/, relative\n"+
			"to the shmring checkout) and writes the results as markdown, with SVG plots beside it.\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	o.pkgs = flag.Args()
	if len(o.pkgs) == 0 {
		o.pkgs = []string{"./bench/", "./ring/"}
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench/report:", err)
		os.Exit(1)
	}
}
