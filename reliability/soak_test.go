package reliability_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/reliability/internal/stream"
	"github.com/shmring/shmring/ring"
)

// soakConfig is one ring geometry and one way of driving it.
type soakConfig struct {
	slotSize, slots int
	sizes           stream.Sizes
	papi, capi      string // peer -api of the producer and the consumer
	batch           int
	wait            string
	share           float64 // of the soak's messages
	max             int64   // at most this many messages (large ones are slow)
}

func (c soakConfig) String() string {
	return fmt.Sprintf("%dx%d/%s/%s-%s/%s", c.slots, c.slotSize, c.sizes, c.papi, c.capi, c.wait)
}

// soakConfigs go from the smallest ring that carries a checked message (2
// slots of 24 bytes: the 20-byte wire header and the length) to 2^20
// slots, with message sizes that vary within each slot, every API on both
// sides, and every wait mode. The shares are set so that each takes a
// similar time (measured on 2 cores).
var soakConfigs = []soakConfig{
	{slotSize: 24, slots: 2, sizes: stream.Fixed(20), papi: "send", capi: "recv", wait: "adaptive", share: 0.02},
	{slotSize: 32, slots: 4, sizes: stream.Upto(28), papi: "batch", capi: "batch", batch: 3, wait: "yield", share: 0.04},
	{slotSize: 40, slots: 16, sizes: stream.Upto(36), papi: "send", capi: "peek", batch: 5, wait: "futex", share: 0.02},
	{slotSize: 72, slots: 64, sizes: stream.Upto(68), papi: "reserve", capi: "peek", batch: 16, wait: "adaptive", share: 0.10},
	{slotSize: 72, slots: 4096, sizes: stream.Fixed(64), papi: "send", capi: "recv", wait: "adaptive", share: 0.14},
	{slotSize: 72, slots: 4096, sizes: stream.Upto(68), papi: "reserve", capi: "batch", batch: 64, wait: "spin", share: 0.20},
	{slotSize: 264, slots: 1024, sizes: stream.Upto(260), papi: "batch", capi: "recv", batch: 32, wait: "adaptive", share: 0.10},
	{slotSize: 4104, slots: 256, sizes: stream.Upto(4100), papi: "reserve", capi: "batch", batch: 8, wait: "adaptive", share: 0.02, max: 20_000_000},
	{slotSize: 65544, slots: 16, sizes: stream.Sizes{Min: 60000, Max: 65540}, papi: "send", capi: "peek", batch: 4, wait: "adaptive", share: 0.001, max: 1_000_000},
	{slotSize: 32, slots: 1 << 20, sizes: stream.Upto(28), papi: "reserve", capi: "batch", batch: 256, wait: "adaptive", share: 0.20},
	{slotSize: 24, slots: 1 << 20, sizes: stream.Fixed(20), papi: "reservebatch", capi: "recv", batch: 256, wait: "adaptive", share: 0.159},
}

// TestSoak (RELIABILITY item 1): for each configuration, a producer process
// and a consumer process (both peers; this process only made the ring)
// stream messages; the consumer checks that it receives exactly 0..N-1, in
// order, each of the length and CRC32C it was sent with, and then io.EOF.
// The short form moves 4*10^6 messages (10^6 under -short) over all
// configurations, on top of ring.TestCrossProcessStream's 10^7 over one;
// SHMRING_SOAK_MESSAGES sets the total (make soak: 10^9).
func TestSoak(t *testing.T) {
	total := knob(t, envSoakMessages, 4_000_000, 1_000_000)
	var sum, sumFutex uint64
	start := time.Now()
	for _, cfg := range soakConfigs {
		n := int64(float64(total) * cfg.share)
		if cfg.max > 0 && n > cfg.max {
			n = cfg.max
		}
		// Whatever the total, each ring goes around at least 3 times.
		n = max(n, 3*int64(cfg.slots)+7)
		t.Run(cfg.String(), func(t *testing.T) {
			st, d := soak(t, cfg, uint64(n))
			calls := st.Producer.Waits + st.Producer.Wakes + st.Consumer.Waits + st.Consumer.Wakes
			sum += uint64(n)
			sumFutex += calls
			t.Logf("%d messages in %v (%.2f M/s); futex calls %d (%.3f per 1000); stalls producer %d consumer %d",
				n, d.Round(time.Millisecond), float64(n)/d.Seconds()/1e6, calls, float64(calls)*1000/float64(n),
				st.Producer.Stalls, st.Consumer.Stalls)
		})
	}
	t.Logf("soak: %d messages over %d configurations in %v; zero lost, duplicated, reordered or corrupt (each consumer checks every message)",
		sum, len(soakConfigs), time.Since(start).Round(time.Second))
}

// soak streams n messages through a new ring of cfg between two peers and
// returns the ring's final counters and the time taken.
func soak(t *testing.T, cfg soakConfig, n uint64) (ring.Stats, time.Duration) {
	shmtest.NoLeaks(t)
	r, key := newRing(t, ring.Config{SlotSize: cfg.slotSize, Slots: cfg.slots})
	sizes := []string{"-min", fmt.Sprint(cfg.sizes.Min), "-max", fmt.Sprint(cfg.sizes.Max),
		"-batch", fmt.Sprint(max(cfg.batch, 1)), "-wait", cfg.wait, "-liveness", "1s"}
	t0 := time.Now()
	c := startPeer(t, nil, "consume", key, append([]string{"-api", cfg.capi}, sizes...)...)
	p := startPeer(t, nil, "produce", key, append([]string{"-api", cfg.papi, "-count", fmt.Sprint(n)}, sizes...)...)
	// Generous: a slow machine moves a million small messages a second.
	timeout := 5*time.Minute + time.Duration(n/100_000)*time.Second
	require.Equal(t, n, number(t, c.line(t, "eof", timeout), 1), "consumer reached the end of the stream after exactly n messages")
	d := time.Since(t0)
	c.waitOK(t, time.Minute)
	p.waitOK(t, time.Minute)
	require.Equal(t, n, number(t, p.line(t, "done", time.Second), 1))
	st := r.Stats()
	require.Equal(t, n, st.Producer.Messages)
	require.Equal(t, n, st.Consumer.Messages)
	require.True(t, st.ProducerClosed && st.ConsumerClosed)
	return st, d
}
