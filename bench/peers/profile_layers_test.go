package peers

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLayerOfStack: each sample goes to the innermost function's layer
// that has one, a system call to syscall whoever made it.
func TestLayerOfStack(t *testing.T) {
	for _, c := range []struct {
		name  string
		funcs []string // innermost first
		want  string
	}{
		{"a write from gRPC's writer", []string{"internal/runtime/syscall/linux.Syscall6", "syscall.Syscall", "syscall.write", "internal/poll.(*FD).Write", "net.(*conn).Write", "bufio.(*Writer).Flush", "google.golang.org/grpc/internal/transport.(*loopyWriter).run"}, laySyscall},
		{"a runtime futex", []string{"runtime.futex", "runtime.futexsleep", "runtime.notesleep", "runtime.stopm", "runtime.findRunnable", "runtime.schedule"}, laySyscall},
		{"framing", []string{"golang.org/x/net/http2.(*Framer).WriteData", "google.golang.org/grpc/internal/transport.(*loopyWriter).processData"}, layHTTP2},
		{"hpack", []string{"golang.org/x/net/http2/hpack.(*Decoder).Write", "golang.org/x/net/http2.(*Framer).readMetaFrame"}, layHTTP2},
		{"a memmove of the ring", []string{"runtime.memmove", "github.com/shmring/shmring/ring.(*Producer).Send", "github.com/shmring/shmring/conn.(*Conn).Write", "bufio.(*Writer).Flush", "google.golang.org/grpc/internal/transport.(*bufWriter).Flush"}, layTransport},
		{"a memmove of conn's reader", []string{"runtime.memmove", "github.com/shmring/shmring/ring.(*MessageReader).Read", "github.com/shmring/shmring/conn.(*Conn).Read", "bufio.(*Reader).Read", "google.golang.org/grpc/internal/transport.(*http2Client).reader"}, layTransport},
		{"a memmove of gRPC's writer", []string{"runtime.memmove", "google.golang.org/grpc/internal/transport.(*bufWriter).Write", "golang.org/x/net/http2.(*Framer).WriteData"}, layHTTP2},
		{"a memmove of a message's frames put together", []string{"runtime.memmove", "google.golang.org/grpc/mem.BufferSlice.CopyTo", "google.golang.org/grpc.recvAndDecompress"}, layGRPC},
		{"protobuf's copy of a bytes field", []string{"runtime.memmove", "google.golang.org/protobuf/internal/impl.consumeBytesNoZero", "google.golang.org/protobuf/internal/impl.(*MessageInfo).unmarshalPointer", "google.golang.org/grpc/encoding/proto.(*codecV2).Unmarshal"}, layProtobuf},
		{"the ring's clock", []string{"github.com/shmring/shmring/internal/platform/monotime.Now", "github.com/shmring/shmring/ring.(*waiter).wait"}, layTransport},
		{"the benchmark's clock", []string{"github.com/shmring/shmring/internal/platform/monotime.Now", "github.com/shmring/shmring/bench/peers.timeEach"}, layOther},
		{"a socket's Go side", []string{"internal/poll.(*FD).Read", "net.(*conn).Read", "bufio.(*Reader).Read", "google.golang.org/grpc/internal/transport.(*http2Client).reader"}, layTransport},
		{"allocation by protobuf", []string{"runtime.mallocgc", "google.golang.org/protobuf/internal/impl.(*MessageInfo).unmarshalPointer", "google.golang.org/grpc/encoding/proto.(*codecV2).Unmarshal"}, layProtobuf},
		{"gRPC's call", []string{"runtime.mallocgc", "google.golang.org/grpc.(*clientStream).SendMsg", "google.golang.org/grpc.invoke"}, layGRPC},
		{"a yield", []string{"runtime.nanotime", "runtime.findRunnable", "runtime.schedule", "runtime.goschedImpl", "runtime.gosched_m", "runtime.mcall"}, layYield},
		{"a yield's wake-up of another thread", []string{"runtime.futex", "runtime.futexwakeup", "runtime.notewakeup", "runtime.startm", "runtime.wakep", "runtime.goschedImpl", "runtime.gosched_m"}, layYield},
		{"the scheduler", []string{"runtime.findRunnable", "runtime.schedule", "runtime.park_m"}, layRuntime},
		{"GC", []string{"runtime.scanobject", "runtime.gcDrain", "runtime.gcBgMarkWorker"}, layRuntime},
		{"nothing known", []string{"main.f"}, layOther},
		{"no stack", nil, layOther},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.Equal(t, c.want, layerOfStack(c.funcs))
		})
	}
}

//go:noinline
func burn(n int) (x uint64) {
	for i := range n {
		x = x*6364136223846793005 + uint64(i)
	}
	return x
}

var burnt uint64

// TestProfileOfThisProcess profiles this process while it spins in burn,
// and reads the profile back: burn must have most of the samples, and
// their layer is "other". It spins for 200 ms of its own CPU time, however
// long a loaded machine takes to give it that.
func TestProfileOfThisProcess(t *testing.T) {
	file := filepath.Join(t.TempDir(), "cpu.pprof")
	stop, err := startProfile(file)
	require.NoError(t, err)
	start, deadline := cpuTicks(t, os.Getpid()), time.Now().Add(time.Minute)
	for cpuTicks(t, os.Getpid())-start < clockTick/5 && time.Now().Before(deadline) {
		burnt += burn(1 << 20)
	}
	require.NoError(t, stop())
	st, err := readProfile(file)
	require.NoError(t, err)
	s := summarize(st)
	t.Logf("%d samples, %d ns; top %v; layers %v", s.samples, func() (ns int64) {
		for _, x := range st {
			ns += x.ns
		}
		return ns
	}(), s.top[:min(3, len(s.top))], s.share)
	require.GreaterOrEqual(t, s.samples, 10, "200 ms of CPU at %d Hz", profileHz)
	require.True(t, strings.HasSuffix(s.top[0].fn, "bench/peers.burn"), "the top function: %v", s.top[0])
	require.Greater(t, s.top[0].pct, 50.0)
	require.Greater(t, s.share[layOther], 50.0)

	// Not a profile.
	_, err = parseProfile([]byte{0xff, 0xff})
	require.Error(t, err)
	bad := filepath.Join(t.TempDir(), "bad.pprof")
	require.NoError(t, os.WriteFile(bad, []byte("not gzip"), 0o644))
	_, err = readProfile(bad)
	require.Error(t, err)
}
