package ring

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// Review of layout 4.0 lap marks: a lone Reserve keeps its length in the
// Producer (held) until markRun writes it, but putRun, putFragments and
// publishWhole write slots after it without writing the held word first,
// so markRun's writeHeld then writes heldLen into the last slot of the run
// (head-1), not the reservation's slot.

func recvAll(t *testing.T, c *Consumer, k int) [][]byte {
	t.Helper()
	var got [][]byte
	buf := make([]byte, 4096)
	for range k {
		n, err := c.TryRecv(buf)
		require.NoError(t, err)
		got = append(got, bytes.Clone(buf[:n]))
	}
	return got
}

func reserveABC(t *testing.T, p *Producer) {
	t.Helper()
	s, err := p.Reserve(context.Background(), 3)
	require.NoError(t, err)
	copy(s, "abc")
}

// TestReviewReserveThenSendBatch: SendBatch publishes pending
// reservations with its messages (Send's doc); each must keep its length.
func TestReviewReserveThenSendBatch(t *testing.T) {
	r, p := fragRing(t)
	c, err := r.Consumer()
	require.NoError(t, err)
	reserveABC(t, p)
	n, err := p.SendBatch(context.Background(), [][]byte{[]byte("hello world")})
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Equal(t, [][]byte{[]byte("abc"), []byte("hello world")}, recvAll(t, c, 2))
}

// TestReviewReserveThenSendFragmented: the same with a message sent in
// fragments, published in one run (putFragments, publishLarge).
func TestReviewReserveThenSendFragmented(t *testing.T) {
	r, p := fragRing(t)
	c, err := r.Consumer()
	require.NoError(t, err)
	reserveABC(t, p)
	msg := bytes.Repeat([]byte("x"), 100) // two fragments of 64-byte slots
	require.NoError(t, p.Send(context.Background(), msg))
	require.Equal(t, [][]byte{[]byte("abc"), msg}, recvAll(t, c, 2))
}

// TestReviewReserveThenWriter: the same with a MessageWriter that fits
// the ring ("Pending reservations are published with the message").
func TestReviewReserveThenWriter(t *testing.T) {
	r, p := fragRing(t)
	c, err := r.Consumer()
	require.NoError(t, err)
	reserveABC(t, p)
	w, err := p.Writer(context.Background(), 5)
	require.NoError(t, err)
	_, err = w.Write([]byte("hello"))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	require.Equal(t, [][]byte{[]byte("abc"), []byte("hello")}, recvAll(t, c, 2))
}

// TestReviewTakeoverAfterCutClear: a taker killed while it clears a cut
// run's marks must leave marks the next taker finds. start clears them
// from the last back, so a killed taker leaves a shorter run right after
// head, which the next one clears. (Cleared front to back, as first
// written, a killed taker left slot head+1 clear and the rest marked; the
// next taker's scan stopped at head+1, and the consumer took slot head+2,
// the dead producer's bytes, once the new producer's messages reached it,
// and while it rewrote it. That state cannot arise now; the one a killed
// taker leaves is staged here.)
func TestReviewTakeoverAfterCutClear(t *testing.T) {
	t.Run("taker killed after clearing the last", func(t *testing.T) {
		ctx := context.Background()
		r, c := cutRun(t, 4) // slots 1-3 marked, 0 not
		// First taker: killed after it clears one mark.
		cleared := 0
		hookClear = func(uint64) bool { cleared++; return cleared <= 1 }
		_, err := r.Producer()
		hookClear = nil
		require.NoError(t, err)
		require.Equal(t, 2, cleared)
		die(r, &r.h.prod)
		p2, err := r.Producer()
		require.NoError(t, err)
		require.Equal(t, uint64(0), p2.head)
		for seq := uint64(1); seq < 4; seq++ {
			require.False(t, p2.sealed(seq), "slot %d still marked", seq)
		}
		for i := range 4 {
			require.NoError(t, p2.Send(ctx, []byte{byte(i)}))
		}
		require.Equal(t, [][]byte{{0}, {1}, {2}, {3}}, recvAll(t, c, 4))
		_, err = c.TryRecv(make([]byte, 64))
		require.ErrorIs(t, err, ErrEmpty)
	})
}
