package bench

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shmring/shmring/internal/app/hist"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
)

// The C reference ring, cref/cring.c, built once per test binary with the
// system's C compiler (shmtest.Build).

//go:embed cref/cring.c
var cringSource []byte

// cringBin returns the path of the built C reference, building it the first
// time. Without a C compiler it skips the caller: the C reference ring is
// not measured.
func cringBin(h testing.TB) string {
	h.Helper()
	return cBin(h, "cring", cringSource, "-O2")
}

// cBin returns the path of the C program name, built from src with flags by
// the system's C compiler the first time a test of this binary asks for
// it. Without a compiler it skips the caller.
func cBin(h testing.TB, name string, src []byte, flags ...string) string {
	h.Helper()
	cc := shmtest.CC(h)
	dir := shmtest.Build(h, name, func(dir string) error {
		file := filepath.Join(dir, name+".c")
		if err := os.WriteFile(file, src, 0o600); err != nil {
			return err
		}
		return shmtest.Compile(cc, append(flags, "-o", filepath.Join(dir, name), file)...)
	})
	return filepath.Join(dir, name)
}

// runCRing runs the C reference with args and returns its "name value"
// lines. It forks its own peer; both die if the benchmark kills it. A
// "ready" line (ftput, frtt, copy: set up, peer included) restarts the
// benchmark's timer, as a Go peer's does, so that the iteration count
// go test derives from it is not steered by setting up large segments.
func runCRing(h testing.TB, args ...string) map[string]float64 {
	h.Helper()
	bin := cringBin(h)
	ctx, cancel := context.WithTimeout(context.Background(), peerTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		h.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		h.Fatalf("cring %s: %v", strings.Join(args, " "), err)
	}
	shmtest.Track(cmd.Process.Pid)
	var lines []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if l := sc.Text(); l != "ready" {
			lines = append(lines, l)
		} else if t, ok := h.(interface{ ResetTimer() }); ok {
			t.ResetTimer()
		}
	}
	if err := cmd.Wait(); err != nil {
		h.Fatalf("cring %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	figs := make(map[string]float64)
	for _, l := range lines {
		name, val, ok := strings.Cut(l, " ")
		v, err := strconv.ParseFloat(val, 64)
		if !ok || err != nil {
			h.Fatalf("cring %s: bad line %q", strings.Join(args, " "), l)
		}
		figs[name] = v
	}
	return figs
}

func cringFigure(h testing.TB, figs map[string]float64, name string) float64 {
	h.Helper()
	v, ok := figs[name]
	if !ok {
		h.Fatalf("cring printed no %q (got %v)", name, figs)
	}
	return v
}

// cringThroughput has the C ring send n messages, with the Go ring's slot
// size and count, publishing (and releasing) every batch messages.
func cringThroughput(h harness, size, slots, batch, n int) result {
	figs := runCRing(h, "tput", strconv.Itoa(size), strconv.Itoa(slots),
		strconv.Itoa(ring.SlotSizeFor(size)), strconv.Itoa(batch), strconv.Itoa(n))
	return cringStreamResult(h, figs, n)
}

// cringStreamResult is the result of a C stream of n messages (tput,
// ftput, copy), from its figures.
func cringStreamResult(h testing.TB, figs map[string]float64, n int) result {
	if got := cringFigure(h, figs, "msgs"); got != float64(n) {
		h.Fatalf("cring sent %v messages, want %d", got, n)
	}
	ns := cringFigure(h, figs, "ns/msg")
	return result{elapsed: time.Duration(ns * float64(n)), external: true}
}

// cringRoundTrip has the C ring make n round trips with the Go ring's
// geometry, spinning.
func cringRoundTrip(h harness, size, n int) result {
	figs := runCRing(h, "rtt", strconv.Itoa(size), strconv.Itoa(slotsFor(size)),
		strconv.Itoa(ring.SlotSizeFor(size)), strconv.Itoa(n))
	return cringRoundTripResult(h, figs, n)
}

// cringLineRoundTrip has the C program make n round trips of a bare word
// each way, spinning: no ring and no message.
func cringLineRoundTrip(h harness, n int) result {
	return cringRoundTripResult(h, runCRing(h, "line", strconv.Itoa(n)), n)
}

// cringRoundTripResult is the result of n C round trips (rtt, frtt, line),
// from its figures.
func cringRoundTripResult(h testing.TB, figs map[string]float64, n int) result {
	if got := cringFigure(h, figs, "rts"); got != float64(n) {
		h.Fatalf("cring made %v round trips, want %d", got, n)
	}
	return result{
		elapsed:  time.Duration(cringFigure(h, figs, "ns/rt") * float64(n)),
		external: true,
		p50:      cringFigure(h, figs, "p50-ns"),
		p99:      cringFigure(h, figs, "p99-ns"),
		p999:     cringFigure(h, figs, "p99.9-ns"),
	}
}

// TestCRingHistogram: the C reference's round-trip percentiles come from a
// port of internal/app/hist (cref/cring.c), so that the ratios against it
// compare like with like. Fed the same values, the two must give the same
// quantiles, to the nanosecond: bucket edges, ties, the rank rule, the
// clamp to the exact minimum and maximum.
func TestCRingHistogram(t *testing.T) {
	bin := cringBin(t)
	r := rand.New(rand.NewPCG(3, 4))
	vals := []int64{0, 1, 31, 32, 63, 64, 65, 127, 128, 129, 1000, 1 << 20, 1<<40 + 12345, math.MaxInt64}
	for e := range 63 {
		vals = append(vals, 1<<e-1, 1<<e, 1<<e+1)
	}
	for range 50_000 {
		// Round trips: about 250 ns with a long tail, and a few 10^5.
		vals = append(vals, int64(math.Exp(r.NormFloat64()*0.6+5.5)), int64(r.ExpFloat64()*20_000))
	}
	quantiles := []float64{0, 0.001, 0.25, 0.5, 0.9, 0.99, 0.999, 0.9999, 1}
	// A small histogram too, where every rank is near an edge.
	for _, in := range [][]int64{vals, vals[:5], {7}} {
		var h hist.Histogram
		var stdin strings.Builder
		for _, v := range in {
			h.Record(v)
			fmt.Fprintln(&stdin, v)
		}
		args := []string{"hist"}
		for _, q := range quantiles {
			args = append(args, strconv.FormatFloat(q, 'g', -1, 64))
		}
		cmd := exec.Command(bin, args...)
		cmd.Stdin = strings.NewReader(stdin.String())
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("cring hist (%d values): %v", len(in), err)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) != len(quantiles) {
			t.Fatalf("cring hist (%d values): %d lines for %d quantiles:\n%s", len(in), len(lines), len(quantiles), out)
		}
		for i, q := range quantiles {
			want := fmt.Sprintf("%s %d", args[i+1], h.Quantile(q))
			if lines[i] != want {
				t.Errorf("%d values, quantile %v: C says %q, internal/app/hist %q", len(in), q, lines[i], want)
			}
		}
	}
}

// The C header's echo, cref/hecho.c, built once per test binary against
// include/shmring.h.

//go:embed cref/hecho.c
var hechoSource []byte

// hechoBin returns the path of the built echo, building it the first time.
// Without a C compiler it skips the caller.
func hechoBin(h testing.TB) string {
	h.Helper()
	return cBin(h, "hecho", hechoSource, "-std=c11", "-O2", "-I", filepath.Join(shmtest.RepoRoot(h), "include"))
}
