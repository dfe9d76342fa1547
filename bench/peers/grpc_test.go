// gRPC over conn, a Unix socket and TCP: the same service, server and
// client settings over each, only the listener and the dialer differ.

package peers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/shmring/shmring/conn"
	"github.com/shmring/shmring/internal/testsupport/benchkit"
)

// The service, written by hand as protoc-gen-go-grpc would (no protoc
// here), as examples/grpc/echo is; its own because Download's messages
// there are always 64 KiB. In proto:
//
//	service Bench {
//	  // Echo returns its request.
//	  rpc Echo(google.protobuf.BytesValue) returns (google.protobuf.BytesValue);
//	  // Download sends the number of messages asked for, each of the
//	  // server's message size (its command line).
//	  rpc Download(google.protobuf.UInt64Value) returns (stream google.protobuf.BytesValue);
//	}
const (
	benchService   = "shmring.bench.peers.Bench"
	echoMethod     = "/" + benchService + "/Echo"
	downloadMethod = "/" + benchService + "/Download"
)

// benchServer serves the service with messages of one size, and counts
// what it answered: calls of Echo and messages of Download.
type benchServer struct {
	msg   *wrapperspb.BytesValue // every message of Download
	count atomic.Int64
}

var benchDesc = grpc.ServiceDesc{
	ServiceName: benchService,
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{{MethodName: "Echo", Handler: func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
		in := new(wrapperspb.BytesValue)
		if err := dec(in); err != nil {
			return nil, err
		}
		srv.(*benchServer).count.Add(1)
		return in, nil
	}}},
	Streams: []grpc.StreamDesc{{StreamName: "Download", ServerStreams: true, Handler: func(srv any, stream grpc.ServerStream) error {
		s := srv.(*benchServer)
		n := new(wrapperspb.UInt64Value)
		if err := stream.RecvMsg(n); err != nil {
			return err
		}
		for range n.Value {
			if err := stream.SendMsg(s.msg); err != nil {
				return err
			}
			s.count.Add(1)
		}
		return nil
	}}},
}

// grpcMaxMessage is both sides' limit on a message, each way: above the
// 1 MiB messages of the streams and their framing (gRPC's default receive
// limit of 4 MiB would do, but the comparison should not rest on a
// default), the same for every transport.
const grpcMaxMessage = 8 << 20

// serveGRPC serves the service on l with Download messages of size bytes
// until ctx ends, and returns what it answered. The server is gRPC's
// default but for the message limits.
func serveGRPC(ctx context.Context, l net.Listener, size int) (int, error) {
	s := grpc.NewServer(grpc.MaxRecvMsgSize(grpcMaxMessage), grpc.MaxSendMsgSize(grpcMaxMessage))
	srv := &benchServer{msg: wrapperspb.Bytes(benchkit.Payload(size))}
	s.RegisterService(&benchDesc, srv)
	stop := context.AfterFunc(ctx, s.Stop)
	defer stop()
	err := s.Serve(l) // nil once Stop was called
	return int(srv.count.Load()), err
}

// netListener is a server whose listener is a net.Listener (conn's, the
// sockets'), which gRPC and net/http serve on.
type netListener interface{ listener() net.Listener }

func (s connServer) listener() net.Listener { return s.l }
func (s netServer) listener() net.Listener  { return s.l }

// netDial is how a client of transport name dials a net.Conn: conn.Dial
// with conn's defaults, or Go's net.
var netDial = map[string]func(ctx context.Context, addr string) (net.Conn, error){
	"conn": func(ctx context.Context, addr string) (net.Conn, error) { return conn.Dial(ctx, addr, conn.Config{}) },
	"unix": func(ctx context.Context, addr string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", addr)
	},
	"tcp": func(ctx context.Context, addr string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	},
}

// The transports that gRPC and HTTP run over, in the tables' order.
var (
	grpcNames = []string{"conn", "unix", "tcp"}
	httpNames = []string{"conn", "unix"}
)

// newGRPCClient makes a client connection to p: gRPC's defaults, plaintext,
// the "passthrough" resolver handing p's address to the transport's dialer
// as it is, and the message limits. It connects on its first call.
func newGRPCClient(h testing.TB, p *peer) *grpc.ClientConn {
	h.Helper()
	cc, err := grpc.NewClient("passthrough:///"+p.addr,
		grpc.WithContextDialer(netDial[p.t.name]),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(grpcMaxMessage), grpc.MaxCallSendMsgSize(grpcMaxMessage)),
	)
	if err != nil {
		h.Fatalf("gRPC client of %s at %s: %v", p.t.name, p.addr, err)
	}
	return cc
}

// grpcEcho calls Echo with req and checks the reply's length into resp.
func grpcEcho(ctx context.Context, cc *grpc.ClientConn, req, resp *wrapperspb.BytesValue) error {
	if err := cc.Invoke(ctx, echoMethod, req, resp); err != nil {
		return err
	}
	if len(resp.Value) != len(req.Value) {
		return fmt.Errorf("a %d-byte reply to %d bytes", len(resp.Value), len(req.Value))
	}
	return nil
}

// grpcDownload asks for n messages and receives them, checking each one's
// length and ends.
func grpcDownload(ctx context.Context, cc *grpc.ClientConn, size, n int) error {
	stream, err := cc.NewStream(ctx, &benchDesc.Streams[0], downloadMethod)
	if err != nil {
		return err
	}
	if err := stream.SendMsg(wrapperspb.UInt64(uint64(n))); err != nil {
		return err
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	want := benchkit.Payload(size)
	m := new(wrapperspb.BytesValue)
	for i := range n {
		if err := stream.RecvMsg(m); err != nil {
			return fmt.Errorf("message %d of %d: %w", i, n, err)
		}
		if b := m.Value; len(b) != size || b[0] != want[0] || b[size-1] != want[size-1] {
			return fmt.Errorf("message %d: %d bytes, want %d of the pattern", i, len(b), size)
		}
	}
	if err := stream.RecvMsg(m); !errors.Is(err, io.EOF) {
		return fmt.Errorf("after %d messages: %v, want io.EOF", n, err)
	}
	return nil
}

// grpcUnary calls Echo with size bytes n times (after a warm-up, the
// first call of which connects), each call timed, and the CPU of both
// processes over the timed calls.
func grpcUnary(h harness, t transport, size, n int, o serverOptions) result {
	h.Helper()
	p := startPeer(h, t, modeGRPC, size, 0, o)
	cc := newGRPCClient(h, p)
	ctx := context.Background()
	req, resp := wrapperspb.Bytes(benchkit.Payload(size)), new(wrapperspb.BytesValue)
	warm := benchkit.WarmFor(n)
	var cpu cpuMeter
	r := timeEach(h, warm, n, "rpc", func() {
		if err := grpcEcho(ctx, cc, req, resp); err != nil {
			h.Fatalf("gRPC over %s, Echo of %d bytes: %v", t.name, size, err)
		}
	}, func() { cpu = startCPU(h, p.Pid()) })
	cpu.add(h, r.metrics, n, "rpc")
	if err := cc.Close(); err != nil {
		h.Fatal(err)
	}
	p.stop(h, warm+n)
	return r
}

// streamWarm is how many messages of size bytes grpcStream's untimed
// stream takes before a timed one of n: at most 4 MiB, for 1 MiB
// messages take a while.
func streamWarm(size, n int) int { return min(benchkit.WarmFor(n), max(1, (4<<20)/size)) }

// grpcStream downloads n messages of size bytes on one server stream,
// timed from the call to the end of the stream, after a connecting call
// of Echo and a shorter stream untimed (streamWarm).
func grpcStream(h harness, t transport, size, n int, o serverOptions) result {
	h.Helper()
	p := startPeer(h, t, modeGRPC, size, 0, o)
	cc := newGRPCClient(h, p)
	ctx := context.Background()
	if err := grpcEcho(ctx, cc, wrapperspb.Bytes(nil), new(wrapperspb.BytesValue)); err != nil {
		h.Fatalf("gRPC over %s, the first call: %v", t.name, err)
	}
	warm := streamWarm(size, n)
	if err := grpcDownload(ctx, cc, size, warm); err != nil {
		h.Fatalf("gRPC over %s, warm-up stream of %d-byte messages: %v", t.name, size, err)
	}
	cpu := startCPU(h, p.Pid())
	s := benchkit.Begin(h)
	if err := grpcDownload(ctx, cc, size, n); err != nil {
		h.Fatalf("gRPC over %s, stream of %d-byte messages: %v", t.name, size, err)
	}
	elapsed, allocs := s.End(n)
	r := result{elapsed: elapsed, metrics: map[string]float64{"allocs/1000msg": allocs}}
	cpu.add(h, r.metrics, n, "msg")
	if err := cc.Close(); err != nil {
		h.Fatal(err)
	}
	p.stop(h, 1+warm+n)
	return r
}

// Sizes of the gRPC comparisons.
var (
	grpcUnarySizes  = []int{64, 1 << 10}
	grpcStreamSizes = []int{1 << 10, 64 << 10, 1 << 20}
)

// BenchmarkGRPCUnary: b.N calls of Echo, one after the other, each timed
// (p50-ns, p99-ns, p99.9-ns); cpu-ns/rpc is the utime+stime of both
// processes over them (client-, server-: each's), per call.
func BenchmarkGRPCUnary(b *testing.B) {
	benchEach(b, grpcUnarySizes, grpcNames, func(b *testing.B, t transport, size int) {
		reportLatency(b, grpcUnary(b, t, size, b.N, serverOptions{}))
	})
}

// BenchmarkGRPCStream: a server stream of b.N messages; MB/s counts
// payload, cpu-ns/msg both processes' CPU per message.
func BenchmarkGRPCStream(b *testing.B) {
	benchEach(b, grpcStreamSizes, grpcNames, func(b *testing.B, t transport, size int) {
		b.SetBytes(int64(size))
		reportStream(b, grpcStream(b, t, size, b.N, serverOptions{}))
	})
}
