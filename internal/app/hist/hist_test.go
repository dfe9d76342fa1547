package hist

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestBuckets: every value falls in the bucket whose bounds hold it, buckets
// are contiguous and ordered, and none is wider than 1/32 of its values.
func TestBuckets(t *testing.T) {
	vals := []uint64{0, 1, 2, 31, 32, 63, 64, 65, 127, 128, 1000, 1 << 20, 1<<40 + 12345, math.MaxUint64 - 1, math.MaxUint64}
	for e := range 64 {
		vals = append(vals, 1<<e-1, 1<<e, 1<<e+1)
	}
	for _, v := range vals {
		i := index(v)
		require.Less(t, i, buckets, "value %d", v)
		low, width := bounds(i)
		require.LessOrEqual(t, low, v, "value %d bucket %d", v, i)
		require.LessOrEqual(t, v-low, width-1, "value %d bucket %d [%d,+%d)", v, i, low, width)
		if v >= 2*sub {
			require.LessOrEqual(t, width, low/sub, "value %d: bucket too wide", v)
		}
	}
	next := uint64(0)
	for i := range index(math.MaxUint64) + 1 {
		low, width := bounds(i)
		require.Equal(t, next, low, "bucket %d", i)
		next = low + width
	}
	require.Equal(t, uint64(0), next, "the last bucket ends at 2^64")
}

// TestQuantiles against exact quantiles of a sorted sample, for a few
// distributions: within 1/32 (the bucket width) of the truth.
func TestQuantiles(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	dists := map[string]func() int64{
		"uniform":     func() int64 { return r.Int64N(1_000_000) },
		"exponential": func() int64 { return int64(r.ExpFloat64() * 5000) },
		"small":       func() int64 { return r.Int64N(40) },
		"lognormal":   func() int64 { return int64(math.Exp(r.NormFloat64()*2 + 8)) },
	}
	for name, gen := range dists {
		t.Run(name, func(t *testing.T) {
			var h Histogram
			vals := make([]int64, 100_000)
			for i := range vals {
				vals[i] = gen()
				h.Record(vals[i])
			}
			slices.Sort(vals)
			require.Equal(t, uint64(len(vals)), h.Count())
			require.Equal(t, uint64(vals[len(vals)-1]), h.Max())
			require.Equal(t, uint64(vals[0]), h.Min())
			for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 1} {
				want := float64(vals[max(int(q*float64(len(vals))+0.5)-1, 0)])
				got := float64(h.Quantile(q))
				require.InDelta(t, want, got, want/32+1, "q %v", q)
			}
		})
	}
}

func TestEmptyAndEdges(t *testing.T) {
	var h Histogram
	require.Zero(t, h.Quantile(0.5))
	require.Zero(t, h.Max())
	require.Zero(t, h.Mean())
	h.Record(-5) // counts as 0
	require.Equal(t, uint64(0), h.Quantile(0.5))
	h.Record(math.MaxInt64)
	require.Equal(t, uint64(math.MaxInt64), h.Quantile(1))
	require.Equal(t, uint64(2), h.Count())
}

func TestRecordNAndMerge(t *testing.T) {
	var a, b, c Histogram
	a.RecordN(100, 3)
	a.RecordN(7, 0)
	for range 3 {
		b.Record(100)
	}
	require.Equal(t, b, a)
	c.Record(5)
	c.Merge(&a)
	require.Equal(t, uint64(4), c.Count())
	require.Equal(t, uint64(5), c.Min())
	require.Equal(t, uint64(100), c.Max())
	require.InDelta(t, 76.25, c.Mean(), 1e-9)
}

func BenchmarkRecord(b *testing.B) {
	var h Histogram
	for i := 0; b.Loop(); i++ {
		h.Record(int64(i & 0xfffff))
	}
}
