package bench

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"
)

// histogram counts latencies in log-linear buckets: exact below 128 ns,
// then 128 buckets per power of two, so a value is known to within 1/128
// (0.8%) at any scale, in fixed memory, with no allocation per sample.
// cref/cring.c uses the same buckets, so the Go and C percentiles are
// comparable to the last digit.
//
//	index:  0 .. 127 | 128 .. 255 | 256 .. 383 | ...
//	value:  0 .. 127 | 128 .. 255 | 256 .. 510 | 512 .. 1020 ...
//	width:  1        | 1          | 2          | 4
type histogram struct {
	counts [histBuckets]uint64
	total  uint64
}

const (
	histSubBits = 7
	histSub     = 1 << histSubBits
	// 42 powers of two reach past 2^48 ns (three days): anything larger
	// lands in the last bucket.
	histBuckets = histSub * 42
)

func (h *histogram) record(ns int64) {
	h.counts[bucketOf(uint64(max(ns, 0)))]++
	h.total++
}

func bucketOf(v uint64) int {
	if v < histSub {
		return int(v)
	}
	shift := bits.Len64(v) - 1 - histSubBits
	i := histSub + shift*histSub + int(v>>shift) - histSub
	return min(i, histBuckets-1)
}

// bucketValue is the middle of bucket i.
func bucketValue(i int) float64 {
	if i < histSub {
		return float64(i)
	}
	shift := (i - histSub) / histSub
	low := uint64((i-histSub)%histSub+histSub) << shift
	return float64(low) + float64(uint64(1)<<shift)/2
}

// quantile returns the value below or at which a fraction q of the samples
// lie: the sample of rank ceil(q*total).
func (h *histogram) quantile(q float64) float64 {
	if h.total == 0 {
		return math.NaN()
	}
	rank := max(uint64(math.Ceil(q*float64(h.total))), 1)
	var seen uint64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			return bucketValue(i)
		}
	}
	return bucketValue(histBuckets - 1)
}

func TestHistogramBuckets(t *testing.T) {
	// Exact below 128; then every value falls in a bucket whose middle is
	// within 1/256 of it, and buckets are in order.
	for _, v := range []uint64{0, 1, 127} {
		if got := bucketValue(bucketOf(v)); got != float64(v) {
			t.Errorf("value %d: bucket middle %v", v, got)
		}
	}
	prev := -1
	for v := uint64(128); v < 1<<40; v += v/97 + 1 {
		i := bucketOf(v)
		if i < prev {
			t.Fatalf("value %d: bucket %d after %d", v, i, prev)
		}
		prev = i
		if got := bucketValue(i); math.Abs(got-float64(v))/float64(v) > 1.0/256 {
			t.Fatalf("value %d: bucket %d middle %v, off by more than 1/256", v, i, got)
		}
	}
	if i := bucketOf(math.MaxUint64); i != histBuckets-1 {
		t.Errorf("max value: bucket %d, want the last", i)
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	if !math.IsNaN(h.quantile(0.5)) {
		t.Error("empty histogram: want NaN")
	}
	// Exact values below 128: the quantile is the sample of that rank.
	for v := range int64(100) {
		h.record(v + 1) // 1..100
	}
	for _, c := range []struct {
		q    float64
		want float64
	}{{0.5, 50}, {0.99, 99}, {0.999, 100}, {0.01, 1}, {0, 1}} {
		if got := h.quantile(c.q); got != c.want {
			t.Errorf("1..100: quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	// Random latencies against the sorted samples: within 1%.
	var g histogram
	rng := rand.New(rand.NewPCG(1, 2))
	samples := make([]int64, 100000)
	for i := range samples {
		samples[i] = int64(200 + rng.ExpFloat64()*3000)
		g.record(samples[i])
	}
	slices.Sort(samples)
	for _, q := range []float64{0.5, 0.99, 0.999} {
		want := float64(samples[int(math.Ceil(q*float64(len(samples))))-1])
		if got := g.quantile(q); math.Abs(got-want)/want > 0.01 {
			t.Errorf("exponential: quantile(%v) = %v, sorted samples say %v", q, got, want)
		}
	}
}
