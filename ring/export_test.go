package ring

import (
	"sync/atomic"
	"time"
)

// SetTestHooks sets the hooks of hooks.go; nil clears one. Call it only
// while no Producer or Consumer call runs.
func SetTestHooks(snapshot func(seq *atomic.Uint32), waited func()) {
	hookSnapshot, hookWaited = snapshot, waited
}

// TrailAfter is trailAfter, for the trailing tests.
const TrailAfter = trailAfter

// Paced is the consumer's count of catch-ups in a row that found a message
// already published.
func (c *Consumer) Paced() int { return c.paced }

// QuickPollsFor is quickPollsFor, and QuickPollCount quickPollCount, for
// TestQuickPolls.
var QuickPollsFor = quickPollsFor

const QuickPollCount = quickPollCount

// Adapt runs a side's adapt on a stretch after one sleep and returns the
// stretch it leaves.
func Adapt(stretch uint, slept time.Duration, woken bool, ws WaitStrategy) uint {
	s := slots{stretch: stretch}
	s.adapt(int64(slept), woken, ws)
	return s.stretch
}

const MaxStretch = maxStretch
