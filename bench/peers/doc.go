// Package peers measures package conn against what a program would use
// instead: a Unix stream socket, TCP over loopback, and shmipc-go
// (github.com/cloudwego/shmipc-go, through its Stream API), all in one
// "go test -bench" run. It holds no code: everything is in its tests and
// benchmarks, and bench/report sets their figures in docs/BENCHMARKS.md.
//
// It is a module of its own so that shmipc-go stays out of the library's
// module graph; "replace github.com/shmring/shmring => ../.." makes it
// measure the checkout it sits in.
//
// Every figure comes from two OS processes: the benchmark binary re-executes
// itself as the server (internal/testsupport/shmtest.Child) and is the
// client. Messages are whole: conn's Send and Recv; the sockets frame each
// with a 4-byte length (one write per message, a buffered reader); so does
// shmipc-go, in its stream's shared-memory buffers. Every receiver copies
// each message out.
//
//	BenchmarkPeerRoundTrip   request and echoed reply, 64 B and 4 KiB, with
//	                         p50/p99/p99.9: conn Send/Recv, conn's
//	                         Client.Call against Serve, the others
//	BenchmarkSlotStride      conn's round trip of 16 and 64 B (Send/Recv,
//	                         Client.Call) with the server's rings in
//	                         512 B and 1 KiB slots (docs/DESIGN.md,
//	                         "Smaller choices")
//	BenchmarkPeerThroughput  one-way stream of 64 B, 64 KiB and 1 MiB
//	                         messages, timed until the server's
//	                         acknowledgement of the last: MB/s, msgs/s
//	BenchmarkPeerSetup       Dial to the reply to a first 64-byte message,
//	                         a new connection each time, p50/p99; a
//	                         shmipc-go set-up that never completes (its
//	                         first reply never comes) is bounded at 1 s,
//	                         counted (lost-conns, of b.N) and left out
//	BenchmarkIdleClients     a conn server with 1000 clients that say
//	                         nothing: its threads (/proc/PID/status), its
//	                         CPU over a few seconds (utime+stime, and the
//	                         scheduler's exact figure), and the round trip
//	                         of one client that speaks every 100 ms, long
//	                         enough for both sides to sleep on their
//	                         eventfds
//	BenchmarkGRPCUnary       gRPC's unary call (Echo) of 64 B and 1 KiB
//	                         over conn, a Unix socket and TCP: p50/p99,
//	                         and the CPU of both processes per call
//	BenchmarkGRPCStream      a gRPC server stream of 1 KiB, 64 KiB and
//	                         1 MiB messages: MB/s, CPU per message
//	BenchmarkHTTP            an HTTP/1.1 POST of 64 B and 64 KiB echoed,
//	                         over conn and a Unix socket: p50/p99, CPU
//	BenchmarkGRPCProfile     the 1 KiB unary call under a CPU profile of
//	                         both processes, over conn and a Unix socket:
//	                         the share of each layer (gRPC's HTTP/2
//	                         transport, the rest of gRPC, protobuf, the
//	                         transport, system calls, yields, the
//	                         runtime) and the top functions
//	BenchmarkGRPCStreamProfile  the same of the server stream of 1 MiB
//	                         messages: each layer's share of each
//	                         process's CPU, and that CPU per message
//	BenchmarkGRPCIdle        a gRPC server over conn with 100 client
//	                         connections that say nothing: its threads,
//	                         both processes' CPU over a liveness interval
//
// conn runs with its defaults (conn.Config{}): the adaptive wait, which
// polls for about 70 µs before sleeping, and rings of 512 slots of 1 KiB,
// so that a 4 KiB or 1 MiB message goes in fragments. The idle clients'
// server makes rings of 16 slots of 256 bytes: two thousand rings of the
// default 512 KiB would be a gigabyte. A process of either side then holds
// about 5000 descriptors (a socket and four eventfds per connection); Go
// raises the soft limit of open files to the hard one at start (since Go
// 1.19), which is enough wherever the hard limit is the usual 2^20 or the
// 20000 of this project's machines.
//
// # gRPC and HTTP
//
// The same service (grpc_test.go: Echo, and Download, a server stream),
// with gRPC's default server and client but for the message limits (8 MiB
// each way, for the 1 MiB messages), plaintext, and the transport's
// dialer through grpc.WithContextDialer; conn's Listener and Conn are the
// net.Listener and net.Conn it runs on, with conn's defaults. HTTP is
// net/http's server on the listener and its client's Transport with the
// transport's DialContext, one connection kept alive. CPU per call is
// utime+stime of both processes (/proc/PID/stat, in 10 ms ticks) over the
// timed calls, divided by their count. bench/report runs these
// benchmarks apart from the others, with a -benchtime of their own, but
// for the profiles (BenchmarkGRPCProfile, BenchmarkGRPCStreamProfile): a profile's samples come at 500 a second of
// CPU at most, and it needs more than the others' few tenths of a second.
//
// # shmipc-go
//
// Its transport is in shmipc_test.go: v0.2.0, the one version the Go
// module proxy serves here (@latest is refused), as its examples use it: a
// SessionManager of one session over a Unix socket, its buffers in a memfd.
// It logs a warning on stdout when a session's buffers are cleaned, which
// the harness keeps out of its protocol with the peer process.
//
// Run everything with "go test -run '^$' -bench . ./..." here, or through
// "make bench-report", which runs this module after the suite of bench/.
// "go test ./..." alone runs TestSmoke: every transport, a few messages,
// a few seconds.
package peers
