package monotime_test

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/shmring/shmring/internal/platform/monotime"
)

// TestSameClockAsClockGettime: Now must be CLOCK_MONOTONIC itself (another
// process compares our timestamps with its own), not some other clock that
// merely runs at the same rate. A reading of clock_gettime taken between two
// calls to Now must fall between them; a millisecond of slack allows for
// descheduling between the calls.
func TestSameClockAsClockGettime(t *testing.T) {
	const slack = 1_000_000 // ns
	for range 100 {
		before := monotime.Now()
		var ts unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
			t.Fatal(err)
		}
		after := monotime.Now()
		sys := ts.Nano()
		if sys < before-slack || sys > after+slack {
			t.Fatalf("clock_gettime(CLOCK_MONOTONIC) = %d, not within 1ms of [%d, %d]", sys, before, after)
		}
		if after < before {
			t.Fatalf("Now went back: %d then %d", before, after)
		}
	}
}

func BenchmarkClockGettime(b *testing.B) {
	var ts unix.Timespec
	for b.Loop() {
		_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	}
}
