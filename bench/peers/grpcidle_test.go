package peers

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/shmring/shmring/conn"
	"github.com/shmring/shmring/internal/testsupport/benchkit"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
)

// grpcIdleOptions shape the idle gRPC connections' experiment.
type grpcIdleOptions struct {
	conns int
	// settle: after every connection's first call, how long before
	// anything is read, for every side to go past its polling to sleep.
	settle time.Duration
	// window: how long the CPU is watched while nobody calls.
	window time.Duration
}

// The experiment of BenchmarkGRPCIdle, and of its -short form. The full
// window is one liveness interval (conn.DefaultLiveness), in which each
// sleeping side wakes once to check on its peer, as BenchmarkIdleClients'
// is; -short watches a shorter one, which may end before those wake-ups
// and says so (window-s against liveness-s).
var (
	grpcIdleFull  = grpcIdleOptions{conns: 100, settle: 200 * time.Millisecond, window: conn.DefaultLiveness}
	grpcIdleShort = grpcIdleOptions{conns: 100, settle: 200 * time.Millisecond, window: 5 * time.Second}
)

type grpcIdleResult struct {
	idleWindow
	threadsAfter int // the server's, after the second calls
}

// grpcIdle starts a gRPC server over conn (conn's default rings, as a
// gRPC service would have them), makes o.conns client connections to it
// from this process, one call each, lets them fall asleep, and measures
// the server's threads and both processes' CPU while nobody calls; then
// every connection calls once more, which each must answer.
func grpcIdle(h testing.TB, o grpcIdleOptions) grpcIdleResult {
	h.Helper()
	p := startPeer(h, transports["conn"], modeGRPC, setupSize, 0, serverOptions{})
	ctx := context.Background()
	req, resp := wrapperspb.Bytes(benchkit.Payload(setupSize)), new(wrapperspb.BytesValue)
	ccs := make([]*grpc.ClientConn, 0, o.conns)
	defer func() {
		for _, cc := range ccs {
			_ = cc.Close()
		}
	}()
	callAll := func(what string) {
		for i, cc := range ccs {
			if err := grpcEcho(ctx, cc, req, resp); err != nil {
				h.Fatalf("idle gRPC connections: %s call of connection %d: %v", what, i, err)
			}
		}
	}
	for range o.conns {
		ccs = append(ccs, newGRPCClient(h, p))
	}
	callAll("the first") // each connects on its first call
	time.Sleep(o.settle)

	r := grpcIdleResult{idleWindow: watchIdle(h, p.Pid(), o.window)}
	callAll("the second")
	r.threadsAfter = threads(h, p.Pid())
	for _, cc := range ccs {
		if err := cc.Close(); err != nil {
			h.Fatal(err)
		}
	}
	ccs = nil
	p.stop(h, 2*o.conns)
	return r
}

// BenchmarkGRPCIdle: a gRPC server over conn with 100 client connections
// that say nothing (grpcIdleOptions). One op is the whole experiment; go
// test's default -benchtime runs it once, as any -benchtime of a duration
// does. -short watches 5 s, not a liveness interval.
//
//	server-threads  the server's threads (/proc/PID/status), the larger
//	                of before the window and after every connection's
//	                second call
//	server-cpu-pct  its utime+stime over the window, in % of a core
//	client-cpu-pct  the same of this process, which holds the clients
//	window-s        the window; liveness-s: conn.DefaultLiveness
func BenchmarkGRPCIdle(b *testing.B) {
	o := grpcIdleFull
	if testing.Short() {
		o = grpcIdleShort
	}
	b.Run(fmt.Sprintf("conn/conns=%d", o.conns), func(b *testing.B) {
		if listOnly {
			return
		}
		shmtest.NoLeaks(b)
		var worst worstIdle
		for range b.N {
			r := grpcIdle(b, o)
			worst.add(r.idleWindow, r.threadsAfter)
		}
		b.ReportMetric(float64(o.conns), "conns")
		worst.report(b, o.window)
		b.ReportMetric(conn.DefaultLiveness.Seconds(), "liveness-s")
	})
}
