package bench

import (
	"errors"
	"flag"
	"testing"

	"github.com/shmring/shmring/internal/testsupport/benchkit"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/ring/ringtest"
)

// ringtestSize is the message size of BenchmarkRingtest: the size of the
// README's table.
const ringtestSize = 64

// ringtestConfig is the one place this file builds a ringtest.Config: the
// rings of the suite's own measurements at this size.
func ringtestConfig(mode ring.WaitMode) ringtest.Config {
	return ringtest.Config{MaxMessage: ringtestSize, Slots: slotsFor(ringtestSize),
		Wait: ring.WaitStrategy{Mode: mode}}
}

// ringtests are BenchmarkRingtest's measurements. Their peer makes the
// same calls on the same rings as the suite's: Send and Recv for send,
// like BenchmarkThroughput/ring-send; Send, Peek and a slot-to-slot echo
// for spin and futex, like BenchmarkRoundTrip's ring-spin and ring-futex.
var ringtests = []struct {
	name string
	run  func(b *testing.B)
}{
	{"send", func(b *testing.B) {
		msg := benchkit.Payload(ringtestSize)
		ringtest.Throughput(b, ringtestConfig(ring.WaitAdaptive), func(int, []byte) []byte { return msg }, nil)
	}},
	{"spin", func(b *testing.B) { ringtestRoundTrip(b, ring.WaitSpin) }},
	{"futex", func(b *testing.B) { ringtestRoundTrip(b, ring.WaitFutex) }},
}

func ringtestRoundTrip(b *testing.B, mode ring.WaitMode) {
	msg := benchkit.Payload(ringtestSize)
	sum := 0
	// As ringRoundTrip does: the length, and one byte read in place.
	check := func(_ int, reply []byte) error {
		if len(reply) != ringtestSize {
			return errors.New("echo of another size")
		}
		sum += int(reply[0])
		return nil
	}
	ringtest.RoundTrip(b, ringtestConfig(mode), func(int, []byte) []byte { return msg }, nil, check)
}

// BenchmarkRingtest measures the ring at 64 bytes through ring/ringtest,
// the package users time their own messages with. It makes the suite's
// calls (see ringtests), so its figures should agree with theirs within
// the noise: a gap is what the helper costs or hides.
func BenchmarkRingtest(b *testing.B) {
	for _, r := range ringtests {
		b.Run(r.name+"/"+benchkit.SizeName(ringtestSize), func(b *testing.B) {
			if listOnly {
				return
			}
			shmtest.NoLeaks(b)
			r.run(b)
		})
	}
}

// TestRingtestSmoke runs each of BenchmarkRingtest's measurements with 100
// messages, as TestSmoke runs the others: that they still work, and leave
// nothing behind. (A sub-benchmark's failure does not reach the result of
// testing.Benchmark on its parent: each runs on its own.)
func TestRingtestSmoke(t *testing.T) {
	shmtest.NoLeaks(t)
	f := flag.Lookup("test.benchtime")
	old := f.Value.String()
	if err := f.Value.Set("100x"); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Value.Set(old) }()
	for _, r := range ringtests {
		if res := testing.Benchmark(r.run); res.N != 100 {
			t.Errorf("%s: the benchmark failed (testing.Benchmark drops its output: "+
				"go test -run '^$' -bench Ringtest/%s ./bench/ shows it)", r.name, r.name)
		}
	}
}
