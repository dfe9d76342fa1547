package benchkit_test

import (
	"bufio"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/app/hist"
	"github.com/shmring/shmring/internal/testsupport/benchkit"
)

// Both callers a measurement has.
var (
	_ benchkit.Harness = benchkit.Smoke{}
	_ benchkit.Harness = (*testing.B)(nil)
)

// TestTimeEach: one lap per operation, and the laps add up to Clock (each
// lap ends where the next begins), which lies within the Span.
func TestTimeEach(t *testing.T) {
	const n = 200
	calls := 0
	laps := benchkit.TimeEach(benchkit.Smoke{T: t}, n, func() {
		calls++
		time.Sleep(time.Microsecond)
	})
	require.Equal(t, n, calls)
	require.Equal(t, uint64(n), laps.Hist.Count())
	require.Greater(t, laps.Clock, time.Duration(n)*time.Microsecond, "each op sleeps 1us")
	require.LessOrEqual(t, laps.Clock, laps.Span)
	require.InDelta(t, float64(laps.Clock), laps.Hist.Mean()*n, 1, "the laps' sum")
}

// sink makes allocate's object escape to the heap.
var sink *[64]byte

func allocate() { sink = new([64]byte) }

// TestAllocsPer1000: one heap object per operation is 1000 per 1000
// operations, none is about none. Not exactly: the runtime counts a span's
// objects when it swaps the span out of its cache (128 objects of 64 B),
// and other goroutines of the test binary may allocate a few (under -race,
// in make test, 1010.6 per 1000 was seen). 10% still tells one object per
// operation from none or two.
func TestAllocsPer1000(t *testing.T) {
	const n = 100000
	laps := benchkit.TimeEach(benchkit.Smoke{T: t}, n, allocate)
	require.InEpsilon(t, 1000, laps.Allocs, 0.1)

	s := benchkit.Begin(benchkit.Smoke{T: t})
	sum := 0
	for i := range n {
		sum += i
	}
	_, allocs := s.End(n)
	require.Equal(t, n*(n-1)/2, sum)
	require.Less(t, allocs, 10.0)
}

func TestPer1000(t *testing.T) {
	require.Equal(t, 250.0, benchkit.Per1000(1, 4))
	require.Equal(t, 3000.0, benchkit.Per1000(3, 1))
	require.Equal(t, 3000.0, benchkit.Per1000(3, 0), "n below 1 counts as 1")
}

// TestPercentiles: 1 to 1000 once each; hist is exact to 3%, and a
// percentile out of order or of the wrong quantile is further off than
// that.
func TestPercentiles(t *testing.T) {
	lat := new(hist.Histogram)
	for v := range 1000 {
		lat.Record(int64(v + 1))
	}
	p50, p99, p999 := benchkit.Percentiles(lat)
	require.InEpsilon(t, 500, p50, 0.03)
	require.InEpsilon(t, 990, p99, 0.03)
	require.InEpsilon(t, 999, p999, 0.03)
	require.Less(t, p50, p99)
	require.LessOrEqual(t, p99, p999)

	p50, p99, p999 = benchkit.Percentiles(new(hist.Histogram))
	require.Equal(t, [3]float64{}, [3]float64{p50, p99, p999}, "no laps")
}

func TestWarmFor(t *testing.T) {
	for _, c := range []struct{ n, want int }{
		{0, 1}, {9, 1}, {10, 2}, {200, 21}, {9990, 1000}, {1e7, 1000},
	} {
		require.Equal(t, c.want, benchkit.WarmFor(c.n), "n %d", c.n)
	}
}

// TestSizeName: the names bench/report looks benchmarks up by.
func TestSizeName(t *testing.T) {
	for _, c := range []struct {
		n    int
		want string
	}{
		{0, "0B"}, {8, "8B"}, {64, "64B"}, {1000, "1000B"}, {1 << 10, "1KiB"},
		{1536, "1536B"}, {4 << 10, "4KiB"}, {64 << 10, "64KiB"}, {1 << 20, "1MiB"},
		{3 << 19, "1536KiB"}, {16 << 20, "16MiB"},
	} {
		require.Equal(t, c.want, benchkit.SizeName(c.n), "n %d", c.n)
	}
}

func TestPayload(t *testing.T) {
	require.Empty(t, benchkit.Payload(0))
	require.Equal(t, []byte{1, 8, 15, 22}, benchkit.Payload(4))
	p := benchkit.Payload(300)
	require.Len(t, p, 300)
}

// TestPeer: a peer's lines come without their newline, and Done takes the
// count from "done COUNT" and reaps the process.
func TestPeer(t *testing.T) {
	cmd := exec.Command("sh", "-c", `echo ready; echo "done 3"`)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	p := &benchkit.Peer{Name: "peer sh", Cmd: cmd, Lines: bufio.NewReader(out)}
	require.Positive(t, p.Pid())
	require.Equal(t, "ready", p.Line(t))
	p.Done(t, 3)
	require.NotNil(t, cmd.ProcessState, "Done waits for the peer")
}

// fatalTB records a Fatalf instead of stopping.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper()                           {}
func (f *fatalTB) Fatalf(format string, args ...any) { f.msg = fmt.Sprintf(format, args...) }

// TestPeerDoneWithin: a count from lo to hi passes, one outside fails
// naming the range.
func TestPeerDoneWithin(t *testing.T) {
	for _, c := range []struct {
		lo, hi int
		fail   string
	}{
		{1, 3, ""}, {3, 5, ""}, {0, 2, "peer sh: counted 3, want 0 to 2"}, {4, 9, "peer sh: counted 3, want 4 to 9"},
	} {
		cmd := exec.Command("sh", "-c", `echo "done 3"`)
		out, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		p := &benchkit.Peer{Name: "peer sh", Cmd: cmd, Lines: bufio.NewReader(out)}
		h := &fatalTB{TB: t}
		p.DoneWithin(h, c.lo, c.hi)
		require.Equal(t, c.fail, h.msg, "%d to %d", c.lo, c.hi)
	}
}
