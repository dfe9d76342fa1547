package ringtest_test

import (
	"flag"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring/ringtest"
)

// shortBenchtime makes testing.Benchmark run a fixed, small number of
// iterations until the test ends (go test's -benchtime is a flag of the
// testing package, and testing.Benchmark reads it).
func shortBenchtime(t *testing.T, n string) {
	t.Helper()
	f := flag.Lookup("test.benchtime")
	require.NotNil(t, f)
	old := f.Value.String()
	require.NoError(t, f.Value.Set(n))
	t.Cleanup(func() { _ = f.Value.Set(old) })
}

// failed explains a benchmark that testing.Benchmark reports with N = 0.
const failed = "%s failed; testing.Benchmark drops its output: go test -run '^$' -bench %[1]s ./ring/ringtest/ shows it"

// TestBenchmarks runs the example's benchmarks as go test -bench would,
// with 200 messages, and checks the figures they report: all there, and
// consistent with each other. That the peer ran the sink and the
// responder, and that they found every order, is checked by the
// benchmarks themselves: they fail otherwise (N is 0 then). No segment and
// no process may be left afterwards.
func TestBenchmarks(t *testing.T) {
	shmtest.NoLeaks(t)
	shortBenchtime(t, "200x")

	r := testing.Benchmark(BenchmarkOrderThroughput)
	require.Equal(t, 200, r.N, failed, "BenchmarkOrderThroughput")
	ns, rate, mbs := r.Extra["ns/msg"], r.Extra["msgs/s"], r.Extra["MB/s"]
	assert.Positive(t, ns)
	assert.InEpsilon(t, 1e9, ns*rate, 1e-9, "ns/msg %v and msgs/s %v disagree", ns, rate)
	assert.InEpsilon(t, rate*orderSize/1e6, mbs, 1e-9, "MB/s %v is not msgs/s %v times %d bytes", mbs, rate, orderSize)
	assert.Positive(t, r.T)

	r = testing.Benchmark(BenchmarkOrderRoundTrip)
	require.Equal(t, 200, r.N, failed, "BenchmarkOrderRoundTrip")
	p50, p99, p999 := r.Extra["p50-ns"], r.Extra["p99-ns"], r.Extra["p99.9-ns"]
	assert.Positive(t, p50)
	assert.LessOrEqual(t, p50, p99)
	assert.LessOrEqual(t, p99, p999)
	assert.False(t, math.IsInf(p999, 0) || math.IsNaN(p999))
	assert.Positive(t, r.T)

	assert.Empty(t, ringtest.Children(t), "a peer process outlived its benchmark")
}
