package ring_test

import (
	"context"
	"encoding/json"
	"expvar"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
)

var _ expvar.Var = ring.StatsVar{}

// TestStatsJSON pins the JSON names of Stats and SideStats, which
// docs/OPERATIONS.md documents and scrapers depend on: a renamed field
// fails here, not in someone's dashboard. Every field is set, each to a
// value of its own, so a missing tag shows too.
func TestStatsJSON(t *testing.T) {
	st := ring.Stats{
		SlotSize: 72, Slots: 4096, Fill: 3, MaxMessage: 1 << 30,
		Created:          time.Date(2026, 12, 1, 10, 20, 30, 123456789, time.UTC),
		Label:            "conn:kv/s2c",
		Ready:            true,
		AsymmetricFences: true,
		ProducerClosed:   true,
		ConsumerClosed:   false,
		Producer:         ring.SideStats{PID: 41, Alive: false, Messages: 10, Bytes: 640, Stalls: 2, Waits: 1, Wakes: 5},
		Consumer:         ring.SideStats{PID: 42, Alive: true, Messages: 7, Bytes: 448, Stalls: 6, Waits: 4, Wakes: 9},
	}
	b, err := json.Marshal(st)
	require.NoError(t, err)
	require.JSONEq(t, `{
		"slot_size": 72, "slots": 4096, "fill": 3, "max_message": 1073741824,
		"created": "2026-12-01T10:20:30.123456789Z", "label": "conn:kv/s2c",
		"ready": true, "asymmetric_fences": true,
		"producer_closed": true, "consumer_closed": false,
		"producer": {"pid": 41, "alive": false, "messages": 10, "bytes": 640, "stalls": 2, "waits": 1, "wakes": 5},
		"consumer": {"pid": 42, "alive": true, "messages": 7, "bytes": 448, "stalls": 6, "waits": 4, "wakes": 9}
	}`, string(b))

	var back ring.Stats
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, st, back)
}

// published counts expvar names, so that -count=N publishes new ones
// (expvar.Publish panics on a name taken).
var published atomic.Int64

// TestStatsVar publishes a live ring's Stats, reads them back through
// expvar as /debug/vars would, and checks that a closed ring's var says
// null instead of reading an unmapped header.
func TestStatsVar(t *testing.T) {
	ctx := context.Background()
	r, p, c := heapRing(t, ring.Config{SlotSize: 16, Slots: 4})
	for range 3 {
		require.NoError(t, p.Send(ctx, []byte("abcd")))
	}
	_, err := c.Recv(ctx, make([]byte, 16))
	require.NoError(t, err)

	name := fmt.Sprintf("%s-%d", t.Name(), published.Add(1))
	expvar.Publish(name, r.StatsVar())
	v := expvar.Get(name)
	require.NotNil(t, v)
	var st ring.Stats
	require.NoError(t, json.Unmarshal([]byte(v.String()), &st), v.String())
	require.Equal(t, 16, st.SlotSize)
	require.Equal(t, 4, st.Slots)
	require.Equal(t, 2, st.Fill)
	require.True(t, st.Ready)
	require.Equal(t, uint64(3), st.Producer.Messages)
	require.Equal(t, uint64(1), st.Consumer.Messages)
	require.Equal(t, os.Getpid(), st.Producer.PID)
	require.True(t, st.Producer.Alive)
	require.True(t, st.Consumer.Alive)
	require.False(t, st.ProducerClosed)
	require.True(t, st.Created.Equal(r.Stats().Created), "created %v, ring says %v", st.Created, r.Stats().Created)

	direct, ok := r.StatsVar().Stats()
	require.True(t, ok)
	require.Equal(t, 2, direct.Fill)

	require.NoError(t, r.Close())
	require.Equal(t, "null", v.String())
	_, ok = r.StatsVar().Stats()
	require.False(t, ok)
}

// TestStatsVarClose reads a shared ring's StatsVar while the ring is
// closed: a read that reached the header after Close unmapped it would
// fault and end the test binary. Every read before the close must be a
// ring's stats, every read after it null.
func TestStatsVarClose(t *testing.T) {
	shmtest.NoLeaks(t)
	r, _ := shmRing(t, ring.Config{SlotSize: 16, Slots: 8})
	v := r.StatsVar()
	done := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		for i := 0; ; i++ {
			s := v.String()
			if i == 0 {
				close(started)
			}
			if s == "null" {
				done <- nil
				return
			}
			var st ring.Stats
			if err := json.Unmarshal([]byte(s), &st); err != nil || st.Slots != 8 {
				done <- fmt.Errorf("read %d: %q (%v)", i, s, err)
				return
			}
		}
	}()
	<-started
	require.NoError(t, r.Close())
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("the reader never saw the ring closed")
	}
}

// A ring's Stats as an expvar: here in a Map of its own, one key per
// ring, which expvar.Publish("shmring", &rings) would serve at
// /debug/vars.
func ExampleRing_StatsVar() {
	r, _ := ring.New(ring.Config{MaxMessage: 32, Slots: 8})
	p, _ := r.Producer()
	_ = p.Send(context.Background(), []byte("hello"))

	var rings expvar.Map
	rings.Set("orders", r.StatsVar())

	var st ring.Stats
	_ = json.Unmarshal([]byte(rings.Get("orders").String()), &st)
	fmt.Println("slots", st.Slots, "fill", st.Fill, "producer messages", st.Producer.Messages)

	_ = r.Close()
	fmt.Println("closed:", rings.Get("orders"))
	// Output:
	// slots 8 fill 1 producer messages 1
	// closed: null
}
