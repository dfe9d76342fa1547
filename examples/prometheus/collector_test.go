package main

import (
	"context"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

// heapRing makes a ring of 4 slots of 16 bytes in this process's memory,
// with 3 messages sent and 1 received: fill 2.
func heapRing(t *testing.T) *ring.Ring {
	t.Helper()
	r, err := ring.New(ring.Config{MaxMessage: 12, Slots: 4})
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close() })
	p, err := r.Producer()
	require.NoError(t, err)
	c, err := r.Consumer()
	require.NoError(t, err)
	ctx := context.Background()
	for range 3 {
		require.NoError(t, p.Send(ctx, []byte("abcd")))
	}
	_, err = c.Recv(ctx, make([]byte, 16))
	require.NoError(t, err)
	return r
}

// The metrics whose values a heap ring fixes; the others (bytes, stalls,
// futex calls) depend on when each side last copied its counters to the
// header, and created on the clock.
var exact = []string{"shmring_open", "shmring_slots", "shmring_slot_size_bytes", "shmring_fill",
	"shmring_ready", "shmring_alive", "shmring_closed", "shmring_messages_total"}

const exactText = `
# HELP shmring_alive 1 while the side's holder process exists.
# TYPE shmring_alive gauge
shmring_alive{ring="test",side="consumer"} 1
shmring_alive{ring="test",side="producer"} 1
# HELP shmring_closed 1 once the side has closed the ring.
# TYPE shmring_closed gauge
shmring_closed{ring="test",side="consumer"} 0
shmring_closed{ring="test",side="producer"} 0
# HELP shmring_fill Messages published and not yet released.
# TYPE shmring_fill gauge
shmring_fill{ring="test"} 2
# HELP shmring_messages_total Messages published (producer) or released (consumer).
# TYPE shmring_messages_total counter
shmring_messages_total{ring="test",side="consumer"} 1
shmring_messages_total{ring="test",side="producer"} 3
# HELP shmring_open 1 while this process has the ring open; the other metrics only then.
# TYPE shmring_open gauge
shmring_open{ring="test"} 1
# HELP shmring_ready 1 once the ring's header is initialised.
# TYPE shmring_ready gauge
shmring_ready{ring="test"} 1
# HELP shmring_slot_size_bytes Bytes per slot, the 4-byte length included.
# TYPE shmring_slot_size_bytes gauge
shmring_slot_size_bytes{ring="test"} 16
# HELP shmring_slots Slots in the ring.
# TYPE shmring_slots gauge
shmring_slots{ring="test"} 4
`

// TestCollector: every metric is there, each with its help and type, the
// ones a heap ring fixes with their values, created within a minute of
// now.
func TestCollector(t *testing.T) {
	r := heapRing(t)
	c := NewCollector("test", r)
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(exactText), exact...))
	// open, 5 gauges of the ring, 7 metrics of each side.
	require.Equal(t, 1+5+2*7, testutil.CollectAndCount(c))

	text, err := testutil.CollectAndFormat(c, expfmt.TypeTextPlain, "shmring_created_timestamp_seconds")
	require.NoError(t, err)
	m := regexp.MustCompile(`shmring_created_timestamp_seconds\{ring="test"\} (\S+)`).FindSubmatch(text)
	require.NotNil(t, m, "%s", text)
	secs, err := strconv.ParseFloat(string(m[1]), 64)
	require.NoError(t, err)
	require.InDelta(t, float64(time.Now().Unix()), secs, 60)

	problems, err := testutil.CollectAndLint(c)
	require.NoError(t, err)
	require.Empty(t, problems, "the metrics break Prometheus' naming conventions")
}

// TestCollectorClosed: a closed ring is scraped safely and reports only
// that it is closed.
func TestCollectorClosed(t *testing.T) {
	r := heapRing(t)
	c := NewCollector("test", r)
	require.NoError(t, r.Close())
	require.NoError(t, testutil.CollectAndCompare(c, strings.NewReader(`
# HELP shmring_open 1 while this process has the ring open; the other metrics only then.
# TYPE shmring_open gauge
shmring_open{ring="test"} 0
`)))
}

// TestMetricsEndpoint scrapes /metrics over HTTP, as Prometheus does.
func TestMetricsEndpoint(t *testing.T) {
	r := heapRing(t)
	srv := httptest.NewServer(handler("test", r))
	defer srv.Close()
	require.NoError(t, testutil.ScrapeAndCompare(srv.URL+"/metrics", strings.NewReader(exactText), exact...))
}

// TestOpenRing: -key attaches a ring of other processes read-only, under
// its key as the ring label; a bad key is refused.
func TestOpenRing(t *testing.T) {
	shmtest.NoLeaks(t)
	ctx := context.Background()
	key := shmseg.Key(shmtest.Key(t))
	owner, err := ring.Create(key, ring.Config{SlotSize: 16, Slots: 8})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = owner.Segment().Remove()
		_ = owner.Close()
	})

	r, name, err := openRing(ctx, key.String())
	require.NoError(t, err)
	require.Equal(t, key.String(), name)
	st, ok := r.StatsVar().Stats()
	require.True(t, ok)
	require.Equal(t, 8, st.Slots)
	_, err = r.Producer()
	require.ErrorContains(t, err, "read-only")
	require.NoError(t, r.Close())

	for _, bad := range []string{"zz", "0", "0x123456789"} {
		_, _, err := openRing(ctx, bad)
		require.ErrorContains(t, err, "want a nonzero hex key", bad)
	}
}

// TestDemoRing: the demo ring's traffic moves the counters, and stops
// with its context: the producer closes.
func TestDemoRing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, err := demoRing(ctx)
	require.NoError(t, err)
	defer r.Close()
	require.Eventually(t, func() bool { return r.Stats().Consumer.Messages >= 4000 },
		30*time.Second, time.Millisecond, "two bursts received")
	cancel()
	require.Eventually(t, func() bool { return r.Stats().ProducerClosed },
		30*time.Second, time.Millisecond, "the producer closes at the context's end")
}
