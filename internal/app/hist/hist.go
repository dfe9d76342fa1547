// Package hist is a log-linear histogram of non-negative integers
// (latencies in nanoseconds): constant memory, constant-time Record, and
// quantiles within about 3% of the true value at any magnitude.
//
// Why not github.com/loov/hrtime's Histogram: it is built from a slice of
// every sample, which it copies and sorts, so 10^7 latencies would cost
// 160 MB and a sort at the end; this one is 15 KB and a few instructions per
// sample, whatever the count, and two processes' histograms merge. hrtime
// is the right tool where the samples are few and in one process: bench's
// BenchmarkRoundTripHRTime times b.N round trips with it, and
// docs/BENCHMARKS.md sets its percentiles beside this package's.
//
// Buckets: values below 2^(subBits+1) each have their own bucket (exact).
// Above, every power of two [2^e, 2^(e+1)) is split into 2^subBits equal
// buckets, so a bucket is at most 1/2^subBits of the values in it wide:
//
//	value:   0 1 ... 63 | 64 66 ... 126 | 128 132 ... 252 | ...
//	width:   1          | 2             | 4               | ...
//
// The benchmarks (bench/) time round trips into it, and the C reference
// ring they measure against carries a port of Record and Quantile
// (bench/cref/cring.c): a change here must be made there too, or bench's
// TestCRingHistogram fails.
package hist

import "math/bits"

const (
	subBits = 5
	sub     = 1 << subBits
	// buckets: values < 2*sub exactly, then sub buckets for each of the
	// remaining 64-subBits-1 powers of two.
	buckets = (64 - subBits + 1) << subBits
)

// Histogram counts values. The zero value is empty and ready to use. It is
// not safe for concurrent use.
type Histogram struct {
	counts   [buckets]uint64
	n        uint64
	sum      float64
	min, max uint64
}

// index returns the bucket of v: the top subBits+1 significant bits of v and
// how far they were shifted.
func index(v uint64) int {
	shift := max(bits.Len64(v)-subBits-1, 0)
	return shift<<subBits + int(v>>shift)
}

// bounds returns the smallest value of bucket i and its width.
func bounds(i int) (low, width uint64) {
	if i < 2*sub {
		return uint64(i), 1
	}
	shift := i>>subBits - 1
	m := uint64(i - shift<<subBits)
	return m << shift, 1 << shift
}

// Record adds one value. Negative values count as zero.
func (h *Histogram) Record(v int64) {
	u := uint64(max(v, 0))
	h.counts[index(u)]++
	if h.n == 0 || u < h.min {
		h.min = u
	}
	h.max = max(h.max, u)
	h.n++
	h.sum += float64(u)
}

// RecordN adds the same value n times (a batch that arrived together).
func (h *Histogram) RecordN(v int64, n int) {
	if n <= 0 {
		return
	}
	u := uint64(max(v, 0))
	h.counts[index(u)] += uint64(n)
	if h.n == 0 || u < h.min {
		h.min = u
	}
	h.max = max(h.max, u)
	h.n += uint64(n)
	h.sum += float64(u) * float64(n)
}

// Count returns the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Max returns the largest value recorded, exactly (0 if none).
func (h *Histogram) Max() uint64 { return h.max }

// Min returns the smallest value recorded, exactly (0 if none).
func (h *Histogram) Min() uint64 { return h.min }

// Mean returns the average of the values recorded (0 if none).
func (h *Histogram) Mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}

// Quantile returns an estimate of the value below which a fraction q of the
// values lie (q in [0, 1]; Quantile(0.99) is p99): the middle of the bucket
// that holds that rank, clamped to the exact minimum and maximum. It returns
// 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) uint64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5) // 1-based rank of the value wanted
	rank = max(rank, 1)
	if rank >= h.n {
		return h.max
	}
	var seen uint64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			low, width := bounds(i)
			return min(max(low+(width-1)/2, h.min), h.max)
		}
	}
	return h.max
}

// Merge adds every value of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}
