package cinterop_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

// TestCFetching: the C consumer's wait fetches the second cache line of the
// slot it waits for under the Go consumer's conditions (shmring__fetching;
// Go: TestFetchNext in ring): one slot taken since its last wait began, a
// message of 61 to 256 bytes in it (one that spilled into its slot's
// second line), slots longer than 768 bytes. Each case receives a
// 64-byte message without waiting (so that the wait after it, not the
// ring's start, is the last), times out a wait on the empty ring, then
// receives what the Go producer sent without waiting, and asks whether the
// next wait would fetch.
func TestCFetching(t *testing.T) {
	for _, c := range []struct {
		name  string
		slot  int
		sizes []int // sent, and received, after the wait
		want  int
	}{
		{"ping-pong", 1024, []int{64}, 1},
		{"first-line", 1024, []int{60}, 0}, // its word and payload fill the first line
		{"spilled", 1024, []int{61}, 1},
		{"longest", 1024, []int{256}, 1},
		{"long", 1024, []int{257}, 0},
		{"slot-768", 768, []int{64}, 0},
		{"slot-776", 776, []int{64}, 1},
		{"two-taken", 1024, []int{64, 64}, 0},
		{"none-taken", 1024, nil, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, key, p := fetchCase(t, c.slot)
			s := startScript(t, ctx)
			s.ok(fmt.Sprintf("open %d", key), "consumer")
			require.NoError(t, p.Send(ctx, make([]byte, 64)))
			s.ok("recv 0")
			require.Equal(t, cTimeout, s.do("recv "+wait), "C recv on an empty ring")
			for _, n := range c.sizes {
				require.NoError(t, p.Send(ctx, bytes.Repeat([]byte("m"), n)))
			}
			for range c.sizes {
				s.ok("recv 0")
			}
			require.Equal(t, c.want, s.do("fetching"))
			require.NoError(t, p.Close())
			s.ok("close")
		})
	}
}

// TestCFetchingAfterTakeover: a consumer that takes the role over has
// waited for nothing yet, whatever its predecessor took: its first wait
// does not fetch (Go: a Consumer's waited starts at tail). Here it claims
// at tail 1, after a 64-byte message, in 1 KiB slots.
func TestCFetchingAfterTakeover(t *testing.T) {
	ctx, key, p := fetchCase(t, 1024)
	first := startScript(t, ctx)
	first.ok(fmt.Sprintf("open %d", key), "consumer")
	require.NoError(t, p.Send(ctx, make([]byte, 64)))
	first.ok("recv 0")
	first.kill()
	second := startScript(t, ctx)
	second.ok(fmt.Sprintf("open %d", key), "consumer") // the first is dead: a takeover
	require.Equal(t, 0, second.do("fetching"))
	require.NoError(t, p.Close())
	second.ok("close")
}

// fetchCase makes a Go ring of 8 slots of slot bytes, and its producer.
func fetchCase(t *testing.T, slot int) (context.Context, int32, *ring.Producer) {
	t.Helper()
	shmtest.NoLeaks(t)
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	key := shmtest.Key(t)
	r, err := ring.Create(shmseg.Key(key), ring.Config{SlotSize: slot, Slots: 8})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = r.Segment().Remove()
		closeRing(t, r)
	})
	p, err := r.Producer()
	require.NoError(t, err)
	return ctx, key, p
}
