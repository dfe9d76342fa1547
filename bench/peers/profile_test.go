// CPU profiles of gRPC's unary calls, client and server, summed up by
// layer: where the time of a call goes, and so how much of it a faster
// transport can take away.

package peers

import (
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/shmring/shmring/internal/testsupport/benchkit"
)

// profileHz is the profiles' sampling rate: above pprof's 100 Hz, so that
// the second a report gives the benchmark (go test's default -benchtime)
// makes some hundreds of samples a process rather than dozens.
const profileHz = 500

// startProfile starts a CPU profile of this process into a new file at
// path, and returns what stops it and closes the file.
//
// runtime/pprof has no rate of its own to set: startProfile sets the
// runtime's first, and StartCPUProfile, finding it set, keeps it and
// prints "runtime: cannot set cpu profile rate ..." on descriptor 2. go
// test merges a test binary's stderr into its stdout, where that line
// would cut the benchmark's result line in two (its name is printed
// before it runs, its figures after) and the report would lose it; the
// server's stderr is the benchmark's. So descriptor 2 points at /dev/null
// for the time of the call.
func startProfile(path string) (stop func() error, err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	runtime.SetCPUProfileRate(profileHz)
	err = withoutStderr(func() error { return pprof.StartCPUProfile(f) })
	if err != nil {
		// Someone profiles already (go test -cpuprofile), so the
		// rate above changed nothing: leave theirs alone.
		return nil, errors.Join(fmt.Errorf("CPU profile: %w", err), f.Close(), os.Remove(path))
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

// withoutStderr runs f with descriptor 2 on /dev/null, and puts it back.
func withoutStderr(f func() error) error {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	saved, err := unix.Dup(2)
	if err != nil {
		return fmt.Errorf("dup stderr: %w", err)
	}
	defer unix.Close(saved)
	if err := unix.Dup3(int(null.Fd()), 2, 0); err != nil {
		return fmt.Errorf("stderr to %s: %w", os.DevNull, err)
	}
	ferr := f()
	if err := unix.Dup3(saved, 2, 0); err != nil {
		return errors.Join(ferr, fmt.Errorf("stderr back: %w", err))
	}
	return ferr
}

// A stack is one sample's functions, innermost first (inlined calls
// included), how many times the profile caught them, and their CPU time
// in ns.
type stack struct {
	funcs []string
	count int64
	ns    int64
}

// readProfile reads the samples of a CPU profile written by runtime/pprof:
// gzipped protobuf, profile.proto of github.com/google/pprof, of which
// it needs the samples, locations, functions and strings (numbers below).
func readProfile(path string) ([]stack, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	b, err := io.ReadAll(z)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	st, err := parseProfile(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

func parseProfile(b []byte) ([]stack, error) {
	type sample struct{ locs, values []uint64 }
	var (
		valueTypes []uint64 // each value's type, an index into strs
		samples    []sample
		locs       = map[uint64][]uint64{} // location id: function ids, innermost first
		funcs      = map[uint64]uint64{}   // function id: its name's index into strs
		strs       []string
	)
	err := fields(b, func(num protowire.Number, typ protowire.Type, v uint64, m []byte) error {
		var err error
		switch num {
		case 1: // sample_type: ValueType{type = 1, unit = 2}
			var t uint64
			err = fields(m, func(num protowire.Number, _ protowire.Type, v uint64, _ []byte) error {
				if num == 1 {
					t = v
				}
				return nil
			})
			valueTypes = append(valueTypes, t)
		case 2: // sample: Sample{location_id = 1, value = 2}, both repeated
			var s sample
			err = fields(m, func(num protowire.Number, typ protowire.Type, v uint64, m []byte) error {
				var err error
				switch num {
				case 1:
					s.locs, err = appendUints(s.locs, typ, v, m)
				case 2:
					s.values, err = appendUints(s.values, typ, v, m)
				}
				return err
			})
			samples = append(samples, s)
		case 4: // location: Location{id = 1, line = 4: Line{function_id = 1}}
			var id uint64
			var fns []uint64
			err = fields(m, func(num protowire.Number, _ protowire.Type, v uint64, m []byte) error {
				switch num {
				case 1:
					id = v
				case 4:
					return fields(m, func(num protowire.Number, _ protowire.Type, v uint64, _ []byte) error {
						if num == 1 {
							fns = append(fns, v)
						}
						return nil
					})
				}
				return nil
			})
			locs[id] = fns
		case 5: // function: Function{id = 1, name = 2}
			var id, name uint64
			err = fields(m, func(num protowire.Number, _ protowire.Type, v uint64, _ []byte) error {
				switch num {
				case 1:
					id = v
				case 2:
					name = v
				}
				return nil
			})
			funcs[id] = name
		case 6: // string_table
			strs = append(strs, string(m))
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	str := func(i uint64) string {
		if i < uint64(len(strs)) {
			return strs[i]
		}
		return "?"
	}
	// A sample's values are of the types of sample_type, in order:
	// runtime/pprof's CPU profiles have "samples" (a count, a stack
	// caught many times being one sample) and "cpu" (nanoseconds).
	count := slices.IndexFunc(valueTypes, func(t uint64) bool { return str(t) == "samples" })
	cpu := slices.IndexFunc(valueTypes, func(t uint64) bool { return str(t) == "cpu" })
	if count < 0 || cpu < 0 {
		return nil, fmt.Errorf("sample types %q, want \"samples\" and \"cpu\": not a CPU profile", func() []string {
			var ts []string
			for _, t := range valueTypes {
				ts = append(ts, str(t))
			}
			return ts
		}())
	}
	out := make([]stack, 0, len(samples))
	for i, s := range samples {
		if len(s.values) != len(valueTypes) {
			return nil, fmt.Errorf("sample %d: %d values, want %d", i, len(s.values), len(valueTypes))
		}
		st := stack{count: int64(s.values[count]), ns: int64(s.values[cpu])}
		for _, l := range s.locs {
			fns, ok := locs[l]
			if !ok {
				return nil, fmt.Errorf("sample %d: no location %d", i, l)
			}
			for _, fn := range fns {
				st.funcs = append(st.funcs, str(funcs[fn]))
			}
		}
		out = append(out, st)
	}
	return out, nil
}

// fields calls f with each field of the protobuf message b: its number,
// its wire type, and its value (varint) or bytes (length-delimited).
// Fields of other types are skipped.
func fields(b []byte, f func(num protowire.Number, typ protowire.Type, v uint64, m []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var (
			v uint64
			m []byte
		)
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			m, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if typ == protowire.VarintType || typ == protowire.BytesType {
			if err := f(num, typ, v, m); err != nil {
				return err
			}
		}
	}
	return nil
}

// appendUints appends a repeated integer field's values: one (varint), or
// packed (bytes of varints), as runtime/pprof writes lists of more than
// two.
func appendUints(to []uint64, typ protowire.Type, v uint64, m []byte) ([]uint64, error) {
	if typ == protowire.VarintType {
		return append(to, v), nil
	}
	for len(m) > 0 {
		v, n := protowire.ConsumeVarint(m)
		if n < 0 {
			return to, protowire.ParseError(n)
		}
		to, m = append(to, v), m[n:]
	}
	return to, nil
}

// The layers a sample's time is put in, by the innermost of its functions
// that belongs to one; so the time of a function of no layer (bufio, a
// memmove, the allocator, a GC assist) counts for the layer that called
// it. A system call counts as one whoever made it, but for a yield's.
//
// A yield (runtime.Gosched) is a layer of its own: the scheduler's round
// it costs runs on another stack (mcall), whose samples do not show who
// yielded. Two do here: conn's adaptive wait, which polls with Gosched
// in between for 50 µs or more (ring.DefaultYield) before it sleeps, and
// gRPC's writer loop, once before it flushes a small batch.
const (
	layYield     = "yield"     // the scheduler's round of a runtime.Gosched, system calls included
	laySyscall   = "syscall"   // in a system call (the innermost function is one)
	layTransport = "transport" // conn's ring, doorbells and socket (shmring), or Go's net and its poller
	layHTTP2     = "http2"     // gRPC's HTTP/2 transport: framing, flow control, its writer loop (grpc/internal/transport, x/net/http2)
	layGRPC      = "grpc"      // the rest of gRPC: calls, streams, codec, buffers
	layProtobuf  = "protobuf"  // protobuf's marshalling
	layRuntime   = "runtime"   // Go's runtime of its own: scheduler, GC workers, the netpoller
	layOther     = "other"     // the benchmark itself (its clock reads and histogram), anything else
)

// layers are the layers in the order the report shows them.
var layers = []string{layHTTP2, layGRPC, layProtobuf, layTransport, laySyscall, layYield, layRuntime, layOther}

// shmringPath is the library's import path: its packages are the transport,
// but for the benchmarks' own and their helpers.
const shmringPath = "github.com/shmring/shmring/"

// layerOf returns the layer of function fn, "" for one of none.
func layerOf(fn string) string {
	switch {
	case strings.HasPrefix(fn, "google.golang.org/grpc/internal/transport."), strings.HasPrefix(fn, "golang.org/x/net/http2"):
		return layHTTP2
	case strings.HasPrefix(fn, "google.golang.org/grpc"):
		return layGRPC
	case strings.HasPrefix(fn, "google.golang.org/protobuf/"):
		return layProtobuf
	case strings.HasPrefix(fn, shmringPath+"bench/"), strings.HasPrefix(fn, shmringPath+"internal/app/"),
		strings.HasPrefix(fn, shmringPath+"internal/testsupport/"):
		return layOther
	case strings.HasPrefix(fn, shmringPath+"internal/platform/monotime."):
		return "" // the ring's clock, and the benchmark's: its caller says which
	case strings.HasPrefix(fn, shmringPath), strings.HasPrefix(fn, "net."), strings.HasPrefix(fn, "internal/poll."):
		return layTransport
	}
	return ""
}

// isSyscall reports whether fn makes a system call: the syscall package's
// and the runtime's entries into the kernel.
func isSyscall(fn string) bool {
	for _, p := range []string{"syscall.", "internal/runtime/syscall", "runtime/internal/syscall", "golang.org/x/sys/unix.Syscall", "golang.org/x/sys/unix.RawSyscall"} {
		if strings.HasPrefix(fn, p) {
			return true
		}
	}
	return runtimeSyscalls[fn]
}

// runtimeSyscalls are the runtime's own system calls on Linux
// (runtime/sys_linux_*.s) that a profile shows as the innermost function.
var runtimeSyscalls = map[string]bool{
	"runtime.futex": true, "runtime.write1": true, "runtime.read": true, "runtime.usleep": true,
	"runtime.osyield": true, "runtime.madvise": true, "runtime.mmap": true, "runtime.munmap": true,
	"runtime.nanosleep": true, "runtime.tgkill": true, "runtime.raise": true, "runtime.rtsigprocmask": true,
	"runtime.timer_settime": true, "runtime.setitimer": true, "runtime.clone": true, "runtime.sched_getaffinity": true,
	"runtime.epollwait": true, "runtime.epollctl": true, "runtime.gettid": true, "runtime.getpid": true,
}

// layerOfStack returns the layer a sample's time counts for.
func layerOfStack(funcs []string) string {
	for _, fn := range funcs {
		if fn == "runtime.gosched_m" || fn == "runtime.goschedImpl" {
			return layYield
		}
	}
	if len(funcs) > 0 && isSyscall(funcs[0]) {
		return laySyscall
	}
	runtimeSeen := false
	for _, fn := range funcs {
		if l := layerOf(fn); l != "" {
			return l
		}
		runtimeSeen = runtimeSeen || strings.HasPrefix(fn, "runtime.")
	}
	if runtimeSeen {
		return layRuntime
	}
	return layOther
}

// profileSummary is a profile summed up: its samples and their CPU time,
// the share of it in each layer (percent), and its functions by the time
// spent in them (flat), largest first.
type profileSummary struct {
	samples int
	ns      int64
	share   map[string]float64
	top     []flat
}

type flat struct {
	fn  string
	pct float64
}

func summarize(stacks []stack) profileSummary {
	s := profileSummary{share: map[string]float64{}}
	var total int64
	byLayer, byFunc := map[string]int64{}, map[string]int64{}
	for _, st := range stacks {
		s.samples += int(st.count)
		s.ns += st.ns
		total += st.ns
		byLayer[layerOfStack(st.funcs)] += st.ns
		if len(st.funcs) > 0 {
			byFunc[st.funcs[0]] += st.ns
		}
	}
	if total == 0 {
		return s
	}
	for _, l := range layers {
		s.share[l] = 100 * float64(byLayer[l]) / float64(total)
	}
	for fn, ns := range byFunc {
		s.top = append(s.top, flat{fn, 100 * float64(ns) / float64(total)})
	}
	slices.SortFunc(s.top, func(a, b flat) int {
		if a.pct != b.pct {
			if a.pct > b.pct {
				return -1
			}
			return 1
		}
		return strings.Compare(a.fn, b.fn)
	})
	return s
}

// profileTop is how many functions of each profile the benchmark logs.
const profileTop = 10

// profiled runs measure, which starts its server with the options it is
// given, with a CPU profile of each process: this one's, and the
// server's written by it. Each covers its process's whole part (the
// connection, the warm-up and the timed part), the timed part being most
// of it but in the shortest runs.
func profiled(h harness, measure func(serverOptions) result) (result, profileSummary, profileSummary) {
	h.Helper()
	dir := h.TempDir()
	if strings.ContainsAny(dir, " \t\n") {
		h.Fatalf("the temporary directory %q holds a space, which the server's arguments cannot", dir)
	}
	clientFile, serverFile := filepath.Join(dir, "client.pprof"), filepath.Join(dir, "server.pprof")
	stop, err := startProfile(clientFile)
	if err != nil {
		h.Fatal(err)
	}
	r := measure(serverOptions{cpuProfile: serverFile})
	if err := stop(); err != nil {
		h.Fatal(err)
	}
	var sums [2]profileSummary
	for i, file := range []string{clientFile, serverFile} {
		st, err := readProfile(file)
		if err != nil {
			h.Fatal(err)
		}
		sums[i] = summarize(st)
	}
	return r, sums[0], sums[1]
}

// profiledUnary runs grpcUnary under profiled.
func profiledUnary(h harness, t transport, size, n int) (result, profileSummary, profileSummary) {
	h.Helper()
	return profiled(h, func(o serverOptions) result { return grpcUnary(h, t, size, n, o) })
}

// profiledStream runs grpcStream under profiled.
func profiledStream(h harness, t transport, size, n int) (result, profileSummary, profileSummary) {
	h.Helper()
	return profiled(h, func(o serverOptions) result { return grpcStream(h, t, size, n, o) })
}

// Sizes and transports of BenchmarkGRPCProfile and
// BenchmarkGRPCStreamProfile.
var (
	profileSizes       = []int{1 << 10}
	streamProfileSizes = []int{1 << 20}
	profileNames       = []string{"conn", "unix"}
)

// skipProfiledAlready skips b if go test profiles this process itself:
// one CPU profile at a time.
func skipProfiledAlready(b *testing.B) {
	if f := flag.Lookup("test.cpuprofile"); f != nil && f.Value.String() != "" {
		b.Skip("go test -cpuprofile profiles this process already")
	}
}

// reportProfiles reports the profiles of a run of ops operations, the
// warm-up ones included (per names one: "rpc", "msg"), and logs their top
// functions, as BenchmarkGRPCProfile says.
func reportProfiles(b *testing.B, per string, ops int, client, server profileSummary) {
	b.Helper()
	line := fmt.Sprintf("profile N=%d", b.N)
	for _, side := range []struct {
		name string
		s    profileSummary
	}{{"client", client}, {"server", server}} {
		b.ReportMetric(float64(side.s.samples), side.name+"-samples")
		b.ReportMetric(float64(side.s.ns)/float64(ops), side.name+"-sampled-ns/"+per)
		for _, l := range layers {
			b.ReportMetric(side.s.share[l], side.name+"-"+l+"-pct")
		}
		line += " " + side.name + ":"
		for i, f := range side.s.top[:min(profileTop, len(side.s.top))] {
			if i > 0 {
				line += " |"
			}
			line += fmt.Sprintf(" %.1f%% %s", f.pct, f.fn)
		}
	}
	b.Log(line)
}

// BenchmarkGRPCProfile: BenchmarkGRPCUnary under a CPU profile of both
// processes. For each, client- and server-: the share of CPU time of each
// layer in percent (LAYER-pct, layerOfStack), the samples, the CPU time
// they stand for per call profiled (sampled-ns/rpc: the warm-up calls and
// the timed ones), and on its log the functions with the most time of
// their own, in one line:
//
//	profile N=<b.N> client: <percent>% <function> | ... server: <percent>% <function> | ...
//
// bench/report reads it. go test prints the log of every round (b.N) of a
// benchmark, the last round's last, and no more than ten lines of it: one
// line a round keeps the last round's in. Its times, profiled, are not
// the unary calls' own.
func BenchmarkGRPCProfile(b *testing.B) {
	benchEach(b, profileSizes, profileNames, func(b *testing.B, t transport, size int) {
		skipProfiledAlready(b)
		r, client, server := profiledUnary(b, t, size, b.N)
		b.ReportMetric(r.p50, "p50-ns")
		report(b, r) // utime+stime per call of the same run: what the samples may be held against
		reportProfiles(b, "rpc", benchkit.WarmFor(b.N)+b.N, client, server)
	})
}

// BenchmarkGRPCStreamProfile: BenchmarkGRPCStream of 1 MiB messages under
// a CPU profile of both processes, reported as BenchmarkGRPCProfile's are
// but per message (sampled-ns/msg: the warm-up stream's messages and the
// timed ones), with the stream's own figures of the same run (MB/s,
// cpu-ns/msg). Where a message's CPU goes says how much of it a faster
// transport could take away: at 1 MiB, gRPC copies each message several
// times in its own layers (protobuf's marshalling, HTTP/2's framing, the
// reassembly of the frames), which no transport removes.
func BenchmarkGRPCStreamProfile(b *testing.B) {
	benchEach(b, streamProfileSizes, profileNames, func(b *testing.B, t transport, size int) {
		skipProfiledAlready(b)
		b.SetBytes(int64(size))
		r, client, server := profiledStream(b, t, size, b.N)
		reportStream(b, r)
		reportProfiles(b, "msg", streamWarm(size, b.N)+b.N, client, server)
	})
}
