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

// SetFoundHook sets hookFound; nil clears it. Call it only while no
// Producer or Consumer call runs.
func SetFoundHook(fn func()) { hookFound = fn }

// SetStreamHook sets hookStreamStore; nil clears it. Call it only while no
// Producer or Consumer call runs.
func SetStreamHook(fn func(producer bool, cursor uint64)) { hookStreamStore = fn }

// LapBit is lapBit, a slot's lap mark, for tests that read or write
// slots by hand.
const LapBit = lapBit

// TrailAfter is trailAfter, for the trailing tests.
const TrailAfter = trailAfter

// Paced is the consumer's count of catch-ups in a row that found a message
// already published.
func (c *Consumer) Paced() int { return c.paced }

// Fetching reports whether a wait of the consumer is asking for the second
// line of the slot it waits for (fetchNext).
func (c *Consumer) Fetching() bool { return c.fetch }

// WouldFetch reports whether the consumer's next wait would ask for it.
func (c *Consumer) WouldFetch() bool { return c.fetching() }

// WouldFetchBatch is WouldFetch for a wait of RecvBatch polling the
// producer's cursor (batch).
func (c *Consumer) WouldFetchBatch() bool {
	c.batch = true
	defer func() { c.batch = false }()
	return c.fetching()
}

// LastFetchable is lastFetchable: is the message last taken one after
// which a wait fetches?
func (c *Consumer) LastFetchable() bool { return c.lastFetchable() }

// FetchSlot and FetchMax are fetchSlot and fetchMax.
const (
	FetchSlot = fetchSlot
	FetchMax  = fetchMax
)

// Backoff is the backoff a side chooses for ws: how long it spins, then
// yields (Forever: that phase does not end), and whether it stretches its
// yield phase.
func Backoff(ws WaitStrategy) (first int, spin, yield time.Duration, adapt bool) {
	b := newBackoff(ws)
	return b.first, time.Duration(b.spin), time.Duration(b.yield), b.adapt
}

const FirstPolls = firstPolls

const Forever = time.Duration(forever)

// Adapt runs a side's adapt on a stretch after one sleep and returns the
// stretch it leaves.
func Adapt(stretch uint, slept time.Duration, woken bool, ws WaitStrategy) uint {
	w := waiter{b: newBackoff(ws), stretch: stretch}
	w.adapt(int64(slept), woken)
	return w.stretch
}

const MaxStretch = maxStretch

// Rescue is a spurious wake-up of both sides: it bumps both sequence words
// and wakes their sleepers, as the protocol allows anyone to. The lost
// wake-up hunt's watchdog calls it after it has recorded a stall.
func (r *Ring) Rescue() {
	r.dataWords().wake()
	r.spaceWords().wake()
}

// Sleeping reports the two sleeping flags: the consumer's (on an empty
// ring) and the producer's (on a full one).
func (r *Ring) Sleeping() (consumer, producer bool) {
	return r.h.consumerSleeping.Load() != 0, r.h.producerSleeping.Load() != 0
}

// Sleeps returns how many futex waits the consumer and the producer have
// made, and Wakes how many wake calls each has made to the other: the
// header's exact counters, read without the /proc look that Stats makes.
func (r *Ring) Sleeps() (consumer, producer uint64) {
	return r.h.cons.waits.Load(), r.h.prod.waits.Load()
}

func (r *Ring) Wakes() (consumer, producer uint64) {
	return r.h.cons.wakes.Load(), r.h.prod.wakes.Load()
}
