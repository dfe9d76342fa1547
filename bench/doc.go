// Package bench measures shmring against what it replaces and against the
// limit of the hardware. It holds no library code: everything is in its
// tests, benchmarks and the report program in bench/report.
//
// Every figure comes from two OS processes, the way the ring is used: the
// benchmark binary re-executes itself as the peer (see
// internal/testsupport/shmtest.Child), so the peer's work is real but its allocations
// are not counted (allocs/op are the benchmark process's).
//
//	BenchmarkThroughput  one-way streams: ring Send, ring Reserve/Commit in
//	                     batches, ring SendBatch/RecvBatch and Send/Recv
//	                     spinning through exported calls only, the C
//	                     reference ring, a pipe, a Unix stream socket, a
//	                     Go channel; 8 B to 64 KiB
//	BenchmarkRoundTrip   ping-pong with p50/p99/p99.9: ring spinning, ring
//	                     on futexes only, the C ring, a bare futex
//	                     ping-pong, a bare spin ping-pong of one word each
//	                     way and no message, a pipe, a Unix stream socket,
//	                     a channel
//	BenchmarkRoundTripHRTime
//	                     the same at 64 B, for the transports timed in
//	                     this process, with github.com/loov/hrtime's timer
//	                     and percentiles: a cross-check of the clock and of
//	                     internal/app/hist
//	BenchmarkThroughputLarge, BenchmarkRoundTripLarge
//	                     messages of 64 KiB, 1 MiB and 16 MiB, in
//	                     fragments through 4096 slots of 1 KiB and of
//	                     16 KiB: ring Send and Recv, the C ring splitting
//	                     them the same way, a pipe, a Unix stream socket;
//	                     one way also a bare copy through two whole-message
//	                     buffers, no ring
//	BenchmarkSecondLine  ring and C ring round trips of 16 and 64 B, each
//	                     reply copied out, in slots of 512 B and 1 KiB, and
//	                     the ring's against an echo written with the C
//	                     header (docs/DESIGN.md, the second-line fetch)
//	BenchmarkScale       batched throughput from 64 to 2^20 slots
//	BenchmarkRSS         resident memory of both processes as the message
//	                     count grows 100x (TestRSSFlat asserts it)
//	BenchmarkIdle        CPU of a consumer waiting on an empty ring for 1 s
//	BenchmarkRingtest    ring-send, ring-spin and ring-futex at 64 B again,
//	                     through ring/ringtest (the helper users time
//	                     their own messages with), to check it against
//	                     the suite
//
// The C reference (cref/cring.c) and the C header's echo (cref/hecho.c,
// against include/shmring.h) are compiled with the system's cc at run
// time; without a compiler their benchmarks are skipped. The baselines use
// raw blocking read(2)/write(2), one call per message per side, so they
// measure the kernel path and not Go's poller. The socket is SOCK_STREAM.
//
// Run it with "go test -run '^$' -bench . ./bench/", or through "make
// bench-report" (bench/report, a module of its own so that its plotting
// dependencies stay out of the library's), which runs the suite and writes
// docs/BENCHMARKS.md.
// "go test ./bench/" alone runs TestSmoke and TestSmokeLarge (every
// transport, a few messages) and TestRSSFlat in a few seconds.
//
// Package conn, the connections over rings, is measured against a Unix
// socket, TCP over loopback and shmipc-go in bench/peers, and so are gRPC
// and HTTP over it, a module of its own so that shmipc-go and gRPC stay
// out of the library's go.mod; bench/report runs it after this suite.
package bench
