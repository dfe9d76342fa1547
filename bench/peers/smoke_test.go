package peers

import (
	"fmt"
	"testing"
	"time"

	"github.com/shmring/shmring/internal/testsupport/benchkit"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
)

// TestSmoke runs every measurement of every transport in this build with a
// few messages: what "go test ./..." here checks, so that a broken
// benchmark shows up without running them. The servers count what they
// received (startPeer's done), so a message lost or a connection not
// served fails.
func TestSmoke(t *testing.T) {
	for _, size := range roundTripSizes {
		for _, tr := range available(roundTripNames) {
			t.Run("roundtrip/"+tr.name+"/"+benchkit.SizeName(size), func(t *testing.T) {
				shmtest.NoLeaks(t)
				r := roundTrip(benchkit.Smoke{T: t}, tr, size, 100)
				if !(r.p50 > 0 && r.p50 <= r.p99 && r.p99 <= r.p999) {
					t.Errorf("p50 %v, p99 %v, p99.9 %v", r.p50, r.p99, r.p999)
				}
			})
		}
	}
	for _, slot := range slotStrides {
		t.Run(fmt.Sprintf("roundtrip/conn/slot-%d", slot), func(t *testing.T) {
			shmtest.NoLeaks(t)
			o := serverOptions{slots: slotStrideRing / slot, slotSize: slot}
			if r := roundTripOn(benchkit.Smoke{T: t}, transports["conn"], 64, 100, o); r.p50 <= 0 {
				t.Errorf("p50 %v", r.p50)
			}
		})
	}
	for _, size := range throughputSizes {
		for _, tr := range available(throughputNames) {
			t.Run("throughput/"+tr.name+"/"+benchkit.SizeName(size), func(t *testing.T) {
				shmtest.NoLeaks(t)
				n := max(3, (4<<20)/size) // 4 MiB, and at least a few messages
				if r := throughput(benchkit.Smoke{T: t}, tr, size, min(n, 2000)); r.elapsed <= 0 {
					t.Errorf("elapsed %v", r.elapsed)
				}
			})
		}
	}
	for _, tr := range available(setupNames) {
		t.Run("setup/"+tr.name, func(t *testing.T) {
			shmtest.NoLeaks(t)
			r := setup(benchkit.Smoke{T: t}, tr, 10)
			if !(r.p50 > 0 && r.p50 <= r.p99) {
				t.Errorf("p50 %v, p99 %v", r.p50, r.p99)
			}
		})
	}
}

// TestIdleClients runs the idle-clients experiment with 200 clients and
// checks what the conn package promises of it: a sleeping side holds no
// thread, so the server has far fewer threads than clients. (A side that
// slept in a blocking futex wait would hold one each: 200 or more.)
func TestIdleClients(t *testing.T) {
	shmtest.NoLeaks(t)
	o := idleOptions{clients: 200, settle: 50 * time.Millisecond, window: 100 * time.Millisecond, wakes: 3, gap: 20 * time.Millisecond}
	r := idleClients(t, o)
	t.Logf("%d clients: server threads %d then %d; CPU over %v: server %d ticks, client %d; wake-up round trip p50 %d ns",
		o.clients, r.threads, r.threadsAfter, r.wall.Round(time.Millisecond), r.serverTicks, r.clientTicks, r.wake.Quantile(0.5))
	if limit := o.clients / 4; r.threads >= limit || r.threadsAfter >= limit {
		t.Errorf("the server has %d threads (%d after the wake-ups) for %d idle clients; want fewer than %d",
			r.threads, r.threadsAfter, o.clients, limit)
	}
	if got := r.wake.Count(); got != uint64(o.wakes) {
		t.Errorf("%d wake-up round trips timed, want %d", got, o.wakes)
	}
}

// TestSmokeGRPC runs every gRPC and HTTP measurement over each of its
// transports with a few calls, as TestSmoke does the others; the servers
// count the calls, requests and streamed messages they answered.
func TestSmokeGRPC(t *testing.T) {
	perOp := func(t *testing.T, r result, per string) {
		t.Helper()
		for _, u := range []string{"cpu-ns/", "client-cpu-ns/", "server-cpu-ns/"} {
			if v, ok := r.metrics[u+per]; !ok || v < 0 {
				t.Errorf("%s%s: %v, %v", u, per, v, ok)
			}
		}
	}
	for _, size := range grpcUnarySizes {
		for _, tr := range available(grpcNames) {
			t.Run("grpc-unary/"+tr.name+"/"+benchkit.SizeName(size), func(t *testing.T) {
				shmtest.NoLeaks(t)
				r := grpcUnary(benchkit.Smoke{T: t}, tr, size, 50, serverOptions{})
				if !(r.p50 > 0 && r.p50 <= r.p99 && r.p99 <= r.p999) {
					t.Errorf("p50 %v, p99 %v, p99.9 %v", r.p50, r.p99, r.p999)
				}
				perOp(t, r, "rpc")
			})
		}
	}
	for _, size := range grpcStreamSizes {
		for _, tr := range available(grpcNames) {
			t.Run("grpc-stream/"+tr.name+"/"+benchkit.SizeName(size), func(t *testing.T) {
				shmtest.NoLeaks(t)
				r := grpcStream(benchkit.Smoke{T: t}, tr, size, min(2000, max(3, (4<<20)/size)), serverOptions{})
				if r.elapsed <= 0 {
					t.Errorf("elapsed %v", r.elapsed)
				}
				perOp(t, r, "msg")
			})
		}
	}
	for _, size := range httpSizes {
		for _, tr := range available(httpNames) {
			t.Run("http/"+tr.name+"/"+benchkit.SizeName(size), func(t *testing.T) {
				shmtest.NoLeaks(t)
				r := httpRoundTrip(benchkit.Smoke{T: t}, tr, size, 50)
				if !(r.p50 > 0 && r.p50 <= r.p99) {
					t.Errorf("p50 %v, p99 %v", r.p50, r.p99)
				}
				perOp(t, r, "req")
			})
		}
	}
	checkProfiles := func(t *testing.T, profiles ...profileSummary) {
		t.Helper()
		for _, s := range profiles {
			if s.samples == 0 {
				continue // a few calls may take less than a sample's 2 ms
			}
			sum := 0.0
			for _, l := range layers {
				sum += s.share[l]
			}
			if sum < 99.9 || sum > 100.1 || len(s.top) == 0 {
				t.Errorf("%d samples: layers' shares sum to %v%%, %d functions", s.samples, sum, len(s.top))
			}
		}
	}
	for _, size := range profileSizes {
		for _, tr := range available(profileNames) {
			t.Run("grpc-profile/"+tr.name+"/"+benchkit.SizeName(size), func(t *testing.T) {
				shmtest.NoLeaks(t)
				_, client, server := profiledUnary(benchkit.Smoke{T: t}, tr, size, 200)
				checkProfiles(t, client, server)
			})
		}
	}
	for _, size := range streamProfileSizes {
		for _, tr := range available(profileNames) {
			t.Run("grpc-stream-profile/"+tr.name+"/"+benchkit.SizeName(size), func(t *testing.T) {
				shmtest.NoLeaks(t)
				r, client, server := profiledStream(benchkit.Smoke{T: t}, tr, size, max(3, (4<<20)/size))
				if r.elapsed <= 0 {
					t.Errorf("elapsed %v", r.elapsed)
				}
				checkProfiles(t, client, server)
			})
		}
	}
}

// TestGRPCIdle runs the idle gRPC connections' experiment with a short
// window, and checks what conn promises of it: a sleeping connection
// holds no thread (a side blocked in a futex wait would hold one each:
// 100 or more), and every connection answers after the window.
func TestGRPCIdle(t *testing.T) {
	shmtest.NoLeaks(t)
	o := grpcIdleOptions{conns: 100, settle: 50 * time.Millisecond, window: 100 * time.Millisecond}
	r := grpcIdle(t, o)
	t.Logf("%d gRPC connections: server threads %d then %d; CPU over %v: server %d ticks, client %d",
		o.conns, r.threads, r.threadsAfter, r.wall.Round(time.Millisecond), r.serverTicks, r.clientTicks)
	if limit := o.conns / 4; r.threads >= limit || r.threadsAfter >= limit {
		t.Errorf("the server has %d threads (%d after the second calls) for %d idle gRPC connections; want fewer than %d",
			r.threads, r.threadsAfter, o.conns, limit)
	}
}
