package main

import (
	"regexp"
	"strings"
	"testing"
)

// grpcSample is go test output of bench/peers' gRPC and HTTP benchmarks,
// trimmed, with BenchmarkGRPCProfile/conn twice (two passes), each
// profile's log as go test prints it (a line a round), and
// BenchmarkGRPCStreamProfile's figures, the layers of each process
// summing to 100%.
const grpcSample = `pkg: github.com/shmring/shmring/bench/peers
BenchmarkGRPCUnary/conn/64B-2	300	700000 ns/op	400000 client-cpu-ns/rpc	800000 cpu-ns/rpc	700000 p50-ns	2500000 p99-ns	7700000 p99.9-ns	400000 server-cpu-ns/rpc
BenchmarkGRPCUnary/conn/1KiB-2	300	700000 ns/op	300000 client-cpu-ns/rpc	600000 cpu-ns/rpc	600000 p50-ns	2000000 p99-ns	2400000 p99.9-ns	300000 server-cpu-ns/rpc
BenchmarkGRPCUnary/unix/1KiB-2	1000	180000 ns/op	100000 client-cpu-ns/rpc	200000 cpu-ns/rpc	150000 p50-ns	760000 p99-ns	2100000 p99.9-ns	100000 server-cpu-ns/rpc
BenchmarkGRPCUnary/tcp/1KiB-2	1000	160000 ns/op	90000 client-cpu-ns/rpc	180000 cpu-ns/rpc	120000 p50-ns	880000 p99-ns	5300000 p99.9-ns	90000 server-cpu-ns/rpc
BenchmarkGRPCStream/conn/1MiB-2	76	3500000 ns/op	300.00 MB/s	2600000 client-cpu-ns/msg	4000000 cpu-ns/msg	285 msgs/s	3500000 ns/msg	1400000 server-cpu-ns/msg
BenchmarkGRPCStream/unix/1MiB-2	129	2000000 ns/op	500.00 MB/s	1400000 client-cpu-ns/msg	2000000 cpu-ns/msg	500 msgs/s	2000000 ns/msg	600000 server-cpu-ns/msg
BenchmarkGRPCStream/tcp/1KiB-2	48920	5800 ns/op	176.30 MB/s	4300 client-cpu-ns/msg	6700 cpu-ns/msg	172173 msgs/s	5800 ns/msg	2400 server-cpu-ns/msg
BenchmarkHTTP/conn/64B-2	4000	150000 ns/op	100000 client-cpu-ns/req	200000 cpu-ns/req	20000 p50-ns	1200000 p99-ns	3600000 p99.9-ns	100000 server-cpu-ns/req
BenchmarkHTTP/unix/64B-2	1000	250000 ns/op	150000 client-cpu-ns/req	300000 cpu-ns/req	180000 p50-ns	2800000 p99-ns	4000000 p99.9-ns	150000 server-cpu-ns/req
BenchmarkGRPCIdle/conn/conns=100-2	1	31000000000 ns/op	0.2 client-cpu-pct	100 conns	30 liveness-s	0.1 server-cpu-pct	7 server-threads	30 window-s
BenchmarkGRPCProfile/conn/1KiB-2	300	850000 ns/op	5 client-http2-pct	3 client-grpc-pct	2 client-protobuf-pct	10 client-transport-pct	17 client-syscall-pct	58 client-yield-pct	5 client-runtime-pct	0 client-other-pct	125 client-samples	250000 client-sampled-ns/rpc	300000 client-cpu-ns/rpc	600000 cpu-ns/rpc	8 server-http2-pct	2 server-grpc-pct	0 server-protobuf-pct	20 server-transport-pct	10 server-syscall-pct	55 server-yield-pct	5 server-runtime-pct	0 server-other-pct	140 server-samples	250000 server-sampled-ns/rpc	300000 server-cpu-ns/rpc
--- BENCH: BenchmarkGRPCProfile/conn/1KiB-2
    profile_test.go:491: profile N=1 client: server:
    profile_test.go:491: profile N=100 client: 50.0% runtime.futex server: 100.0% runtime.futex
    profile_test.go:491: profile N=300 client: 29.2% runtime.nanotime | 12.5% runtime.lock2 server: 20.0% runtime.unlock2 | 10.0% google.golang.org/grpc/internal/transport.(*http2Server).write
BenchmarkGRPCProfile/unix/1KiB-2	1000	160000 ns/op	18 client-http2-pct	10 client-grpc-pct	2 client-protobuf-pct	1 client-transport-pct	50 client-syscall-pct	9 client-yield-pct	10 client-runtime-pct	0 client-other-pct	168 client-samples	50000 client-sampled-ns/rpc	100000 client-cpu-ns/rpc	200000 cpu-ns/rpc	20 server-http2-pct	8 server-grpc-pct	2 server-protobuf-pct	0 server-transport-pct	53 server-syscall-pct	7 server-yield-pct	10 server-runtime-pct	0 server-other-pct	154 server-samples	50000 server-sampled-ns/rpc	100000 server-cpu-ns/rpc
--- BENCH: BenchmarkGRPCProfile/unix/1KiB-2
    profile_test.go:491: profile N=1000 client: 34.4% internal/runtime/syscall/linux.Syscall6 | 12.5% runtime.futex server: 40.0% internal/runtime/syscall/linux.Syscall6
BenchmarkGRPCProfile/conn/1KiB-2	400	850000 ns/op	5 client-http2-pct	3 client-grpc-pct	2 client-protobuf-pct	10 client-transport-pct	17 client-syscall-pct	58 client-yield-pct	5 client-runtime-pct	0 client-other-pct	125 client-samples	250000 client-sampled-ns/rpc	300000 client-cpu-ns/rpc	600000 cpu-ns/rpc	8 server-http2-pct	2 server-grpc-pct	0 server-protobuf-pct	20 server-transport-pct	10 server-syscall-pct	55 server-yield-pct	5 server-runtime-pct	0 server-other-pct	140 server-samples	250000 server-sampled-ns/rpc	300000 server-cpu-ns/rpc
--- BENCH: BenchmarkGRPCProfile/conn/1KiB-2
    profile_test.go:491: profile N=1 client: server:
    profile_test.go:491: profile N=400 client: 30.1% runtime.goschedImpl | 11.0% runtime.nanotime server: 21.0% runtime.unlock2
BenchmarkGRPCStreamProfile/conn/1MiB-2	300	1800000 ns/op	580.00 MB/s	1500000 client-cpu-ns/msg	10 client-grpc-pct	5 client-http2-pct	5 client-other-pct	30 client-protobuf-pct	10 client-runtime-pct	700000 client-sampled-ns/msg	300 client-samples	15 client-syscall-pct	15 client-transport-pct	10 client-yield-pct	2400000 cpu-ns/msg	555 msgs/s	1800000 ns/msg	900000 server-cpu-ns/msg	5 server-grpc-pct	10 server-http2-pct	1 server-other-pct	10 server-protobuf-pct	4 server-runtime-pct	350000 server-sampled-ns/msg	150 server-samples	15 server-syscall-pct	30 server-transport-pct	25 server-yield-pct
--- BENCH: BenchmarkGRPCStreamProfile/conn/1MiB-2
    profile_test.go:550: profile N=1 client: 50.0% runtime.madvise server:
    profile_test.go:550: profile N=300 client: 46.6% runtime.memmove | 6.0% runtime.futex server: 33.9% runtime.memmove | 5.4% github.com/shmring/shmring/ring.(*Producer).putFragments
BenchmarkGRPCStreamProfile/unix/1MiB-2	300	1900000 ns/op	550.00 MB/s	1800000 client-cpu-ns/msg	15 client-grpc-pct	5 client-http2-pct	1 client-other-pct	30 client-protobuf-pct	14 client-runtime-pct	800000 client-sampled-ns/msg	400 client-samples	30 client-syscall-pct	0 client-transport-pct	5 client-yield-pct	2600000 cpu-ns/msg	526 msgs/s	1900000 ns/msg	800000 server-cpu-ns/msg	5 server-grpc-pct	15 server-http2-pct	2 server-other-pct	10 server-protobuf-pct	8 server-runtime-pct	280000 server-sampled-ns/msg	130 server-samples	60 server-syscall-pct	0 server-transport-pct	0 server-yield-pct
--- BENCH: BenchmarkGRPCStreamProfile/unix/1MiB-2
    profile_test.go:550: profile N=300 client: 32.5% runtime.memmove server: 42.9% internal/runtime/syscall/linux.Syscall6
`

// TestGRPC: issue 22's targets from the gRPC and HTTP figures, each way
// (met, missed), the section of the page, and the profiles' top
// functions read from the benchmark's log.
func TestGRPC(t *testing.T) {
	const (
		unary  = "gRPC unary call p50, 1KiB, conn vs Unix socket (conn's over the socket's)"
		stream = "gRPC server stream of 1MiB messages, conn vs Unix socket (MB/s)"
		idle   = "Idle gRPC connections over conn: CPU and threads of their server"
	)
	check := func(t *testing.T, sample string, want map[string]status, prefix map[string]string) *Results {
		t.Helper()
		rs := parse(t, sample)
		got := targetsOf(rs)
		for what, st := range want {
			checkTarget(t, got, what, st, prefix[what])
		}
		return rs
	}

	rs := check(t, grpcSample, map[string]status{unary: missed, stream: missed, idle: met}, map[string]string{
		unary:  "4.00× (per pass 4.00×; medians 600 µs vs 150 µs)",
		stream: "0.60× (per pass 0.60×; medians 300 vs 500 MB/s)",
		idle:   "0.100% over 30 s (utime+stime), 7 threads, with 100 connections",
	})
	// The other way: conn fast enough; a thread per four connections is
	// too many; a -short window, which the target says.
	flipped := strings.NewReplacer(
		"600000 cpu-ns/rpc	600000 p50-ns", "600000 cpu-ns/rpc	80000 p50-ns",
		"300.00 MB/s", "1600.00 MB/s",
		"7 server-threads	30 window-s", "25 server-threads	5 window-s",
	).Replace(grpcSample)
	short := check(t, flipped, map[string]status{unary: met, stream: met, idle: missed}, map[string]string{
		unary: "0.53×", stream: "3.20×", idle: "0.100% over 5 s (utime+stime), 25 threads, with 100 connections; the window was shorter than one liveness interval (30 s)",
	})

	// The profiles' top functions: the last round of the last run.
	top, ok := rs.profileTops["BenchmarkGRPCProfile/conn/1KiB"]
	if !ok || top.n != 400 || len(top.client) != 2 || len(top.server) != 1 ||
		top.client[0] != (topFunc{30.1, "runtime.goschedImpl"}) || top.server[0] != (topFunc{21.0, "runtime.unlock2"}) {
		t.Errorf("conn's profile: %+v, %v", top, ok)
	}
	if top := rs.profileTops["BenchmarkGRPCProfile/unix/1KiB"]; top.n != 1000 || len(top.client) != 2 || top.client[0].fn != "internal/runtime/syscall/linux.Syscall6" {
		t.Errorf("the Unix socket's profile: %+v", top)
	}

	page := render(t, rs)
	checkPage(t, page, []string{
		"## gRPC and HTTP over conn",
		"| conn | 700 µs | 2500 µs | 800 µs | 600 µs | 2000 µs | 600 µs |",
		"| Unix socket | – | – | – | 150 µs | 760 µs | 200 µs |",
		"| 1KiB | 4.00× | 5.00× | 3.00× | 3.33× |",
		"| 1MiB | 300 | 500 | – | 0.60× | – | 4000 µs | 2000 µs | – |",
		"| 1KiB | – | – | 176 | – | – | – | – | 6700 ns |",
		"| conn | 20.0 µs | 1200 µs | 200 µs | – | – | – |",
		"conn's p50 over the Unix socket's: 0.11× at 64B, – at 64KiB.",
		"| 100 | 7 | 0.100% | 0.200% | 30 s |",
		"The window is one liveness interval (conn.DefaultLiveness, 30 s)",
		"### Where a gRPC call's time goes",
		"| yields (runtime.Gosched): conn's adaptive wait, gRPC's writer loop | 58.0% | 55.0% | 9.0% | 7.0% |",
		"| samples | 125 | 140 | 168 | 154 |",
		// 250 µs × 10% + 250 µs × 10% of 500 µs; 50 µs × 30% + 50 µs × 30% of 100 µs.
		"- Over conn, gRPC's own layers (its HTTP/2 transport, the rest of gRPC, protobuf) took 10% of both\n" +
			"  processes' samples: 50.0 µs of the 500 µs of CPU per call they stand for. utime+stime counted 600 µs per\n" +
			"  call in the same run: the profile caught 83% of it.",
		"- Over the Unix socket, gRPC's own layers (its HTTP/2 transport, the rest of gRPC, protobuf) took 30% of both\n" +
			"  processes' samples: 30.0 µs of the 100 µs",
		"- So a transport that cost nothing could take at most 70% off the CPU of a call over the Unix\n" +
			"  socket: gRPC's own work stays. Unprofiled (`BenchmarkGRPCUnary`, utime+stime), a call over conn cost 600 µs of\n" +
			"  CPU, 3.00× the Unix socket's 200 µs.",
		"over conn, from the last profile (a run of 400 calls)",
		"- gRPC over conn: in the 1KiB unary call's profiles, yields (runtime.Gosched, which conn's adaptive wait\n" +
			"  calls between polls before it sleeps) took 58% of the client's samples and 55% of the server's, against 9% and 7% over the Unix socket",
		"| 30.1% | `runtime.goschedImpl` | 21.0% | `runtime.unlock2` |",
		"| 11.0% | `runtime.nanotime` |  |  |",
		"- gRPC and HTTP (`bench/peers`",
		"### Where a 1MiB stream's time goes",
		"CPU profiles (500 Hz) of both processes of the server stream of 1MiB messages, `BenchmarkGRPCStreamProfile`: each",
		"| protobuf | 30.0% | 10.0% | 30.0% | 10.0% |",
		"| system calls | 15.0% | 15.0% | 30.0% | 60.0% |",
		"| samples | 300 | 150 | 400 | 130 |",
		"| sampled CPU per message | 700 µs | 350 µs | 800 µs | 280 µs |",
		// own: http2+grpc+protobuf; transport and system calls: transport+syscall.
		"- Over conn (580 MB/s, profiled):\n" +
			"  the client's 700 µs of sampled CPU per message went 45% to gRPC's own layers, 30% to the\n" +
			"  transport and system calls;\n" +
			"  the server's 350 µs of sampled CPU per message went 25% to gRPC's own layers, 45% to the\n" +
			"  transport and system calls.",
		"- Over the Unix socket (550 MB/s, profiled):\n" +
			"  the client's 800 µs of sampled CPU per message went 50% to gRPC's own layers, 30% to the",
		"over conn, from the last profile (a run of 300 messages)",
		"| 46.6% | `runtime.memmove` | 33.9% | `runtime.memmove` |",
		"| 6.0% | `runtime.futex` | 5.4% | `github.com/shmring/shmring/ring.(*Producer).putFragments` |",
		"| 32.5% | `runtime.memmove` | 42.9% | `internal/runtime/syscall/linux.Syscall6` |",
		// The client is the busier (800 µs against 280), on a CPU 1.8 ms of
		// the 1.9 ms a message took (95%); without its 30% of transport
		// and system calls, 1/0.7 = 1.43× as fast.
		"- gRPC's server stream of 1MiB messages: gRPC's own layers (its HTTP/2 transport, the rest of gRPC,\n" +
			"  protobuf) took 45% of the client's samples and 25% of the server's over conn (the transport and system\n" +
			"  calls 30% and 45%), 50% and 30% over the Unix socket (the transport and system calls 30%\n" +
			"  and 60%). The client did the most work,\n" +
			"  800 µs of sampled CPU per message against 280 µs, its utime+stime 95% of the stream's time per message: it paces the\n" +
			"  stream. A transport that cost nothing would take at most the transport's 30% off it: a stream\n" +
			"  at most 1.43× as fast as over the socket, short of the 3.00× goal. gRPC's own work, not the transport, bounds it\n" +
			"  (\"Where a 1MiB stream's time goes\").\n",
	})

	page = render(t, short)
	if !strings.Contains(page, "The window is shorter than one liveness interval (conn.DefaultLiveness, 30 s): a -short run") {
		t.Errorf("a -short window, and the page does not say so")
	}
	if strings.Contains(page, "- gRPC's server stream of 1MiB messages") {
		t.Errorf("the stream's target is met, and \"Why\" explains it")
	}

	// The transport the bound: the socket's client in system calls 80%
	// of its samples (1/0.2 = 5×), on a CPU half the stream's time, so
	// not said to pace it.
	bound := strings.NewReplacer(
		"30 client-syscall-pct	0 client-transport-pct", "80 client-syscall-pct	0 client-transport-pct",
		"1900000 ns/msg", "3600000 ns/msg",
	).Replace(grpcSample)
	checkPage(t, renderSample(t, bound), []string{
		"its utime+stime 50% of the stream's time per message. If it paces the\n" +
			"  stream, a transport that cost nothing would take at most the transport's 80% off it: a stream\n" +
			"  at most 5.00× as fast as over the socket, which leaves room for the 3.00× goal: the transport's share is the bound\n",
	})

	// Nor a section without the gRPC figures.
	small := parse(t, peersSample)
	if page := render(t, small); strings.Contains(page, "## gRPC and HTTP") || strings.Contains(page, "- gRPC and HTTP") {
		t.Error("a page without the gRPC figures has their section")
	}
	for _, tg := range targets(small) {
		if strings.Contains(tg.what, "gRPC") && tg.status != notMeasured {
			t.Errorf("%s: %v without gRPC figures", tg.what, tg.status)
		}
	}
}

// TestCommandLineGRPC: with the whole suite, bench/peers runs in two: the
// rest at -peers-benchtime, then the gRPC and HTTP benchmarks (but the
// profile) at -grpc-benchtime; with part of the suite, in one, as asked.
func TestCommandLineGRPC(t *testing.T) {
	o := options{bench: ".", timeout: "60m", count: 1, pkgs: []string{"./bench/"}, peers: true, peersBenchtime: "1s", grpcBenchtime: "0.2s", short: true}
	invs := o.invocations()
	if len(invs) != 3 || invs[1].dir != "bench/peers" || invs[2].dir != "bench/peers" {
		t.Fatalf("with gRPC apart: %q", invs)
	}
	for i, want := range []string{
		"(cd bench/peers && go test -run '^$' -bench . -skip '^Benchmark(GRPCUnary|GRPCStream|GRPCIdle|HTTP)$' -benchtime 1s -short -timeout 60m ./...)",
		"(cd bench/peers && go test -run '^$' -bench '^Benchmark(GRPCUnary|GRPCStream|GRPCIdle|HTTP)$' -benchtime 0.2s -short -timeout 60m ./...)",
	} {
		if got := invs[1+i].String(); got != want {
			t.Errorf("got  %s\nwant %s", got, want)
		}
	}
	for name, apart := range map[string]bool{"BenchmarkGRPCStream": true, "BenchmarkGRPCProfile": false, "BenchmarkGRPCStreamProfile": false} {
		if got := regexp.MustCompile(grpcBenchmarks).MatchString(name); got != apart {
			t.Errorf("%s run apart at -grpc-benchtime: %v, want %v", name, got, apart)
		}
	}
	o.bench = "GRPC"
	if invs := o.invocations(); len(invs) != 2 || invs[1].String() != "(cd bench/peers && go test -run '^$' -bench GRPC -benchtime 1s -short -timeout 60m ./...)" {
		t.Errorf("-bench GRPC: %q", invs)
	}
	o.bench, o.grpcBenchtime = ".", ""
	if invs := o.invocations(); len(invs) != 2 || strings.Contains(invs[1].String(), "-skip") {
		t.Errorf("-grpc-benchtime \"\": %q", invs)
	}

	// -short shortens it too, unless it is given.
	s := options{short: true, grpcBenchtime: "0.2s"}
	if s.shorten(nil); s.grpcBenchtime != shortBenchtime {
		t.Errorf("-short: -grpc-benchtime %q", s.grpcBenchtime)
	}
	s = options{short: true, grpcBenchtime: "0.5s"}
	if s.shorten(map[string]bool{"grpc-benchtime": true}); s.grpcBenchtime != "0.5s" {
		t.Errorf("-short -grpc-benchtime 0.5s: %q", s.grpcBenchtime)
	}
}
