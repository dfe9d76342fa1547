package ring

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// publishBy stands in for a producer whose slots a test wrote by hand, in
// the ring whose segment (or heap memory) is buf: it gives each slot from
// tail to head its lap mark, published, each one after head the mark of a
// slot not yet published (whatever its word was), and stores head. Only the
// lap bit of each word changes.
func publishBy(buf []byte, tail, head uint64) {
	h := hdr(buf)
	n, size := uint64(h.slotCount), uint64(h.slotSize)
	for seq := tail; seq < tail+n; seq++ {
		s := buf[HeaderSize+(seq&(n-1))*size:]
		mark := lapBit
		if seq&n != 0 {
			mark = 0
		}
		if seq >= head {
			mark ^= lapBit
		}
		binary.LittleEndian.PutUint32(s, binary.LittleEndian.Uint32(s)&^lapBit|mark)
	}
	h.head.Store(head)
}

// TestTakeoverAfterMarks: a producer that died after it marked messages
// published and before it stored head (crash point send-before-publish)
// leaves them to the consumer, which may have read some already: the
// producer that takes over starts after them, stores head there, and
// overwrites none. The consumer gets every message once, in order.
func TestTakeoverAfterMarks(t *testing.T) {
	ctx := context.Background()
	for _, readFirst := range []int{0, 1, 3} {
		t.Run(fmt.Sprintf("consumer read %d before the takeover", readFirst), func(t *testing.T) {
			r, p := fragRing(t)
			c, err := r.Consumer()
			require.NoError(t, err)
			for i := range 3 {
				require.NoError(t, p.Send(ctx, []byte{byte(i)}))
			}
			r.h.head.Store(0) // as if head were never stored
			buf := make([]byte, 64)
			for i := range readFirst {
				n, err := c.Recv(ctx, buf)
				require.NoError(t, err)
				require.Equal(t, []byte{byte(i)}, buf[:n])
			}
			require.Equal(t, uint64(readFirst), r.h.tail.Load(), "the consumer ran ahead of head")
			st := r.Stats()
			require.Zero(t, st.Fill, "head behind tail reads as nothing waiting, not a full ring")

			die(r, &r.h.prod)
			p2, err := r.Producer()
			require.NoError(t, err)
			require.Equal(t, uint64(3), p2.head, "started past the three marked slots")
			require.Equal(t, uint64(3), r.h.head.Load(), "and stored head there")
			for i := 3; i < 20; i++ { // more than two laps of 8 slots
				require.NoError(t, p2.Send(ctx, []byte{byte(i)}))
				for c.tail < uint64(i+1) {
					n, err := c.Recv(ctx, buf)
					require.NoError(t, err)
					require.Equal(t, []byte{byte(c.tail - 1)}, buf[:n])
				}
			}
			_, err = c.TryRecv(buf)
			require.ErrorIs(t, err, ErrEmpty)
		})
	}
}

// TestTakeoverAfterCutRun: a producer killed inside markRun (crash point
// send-mid-mark) has marked a run's slots but its first, whose mark goes
// last. The consumer sees none of the run; the producer that takes over
// starts at the first slot, and clears the marks after it: were one left,
// the consumer would take that slot while the new producer writes it.
func TestTakeoverAfterCutRun(t *testing.T) {
	ctx := context.Background()
	r, c := cutRun(t, 3)
	buf := make([]byte, 64)
	_, err := c.TryRecv(buf)
	require.ErrorIs(t, err, ErrEmpty, "the run's first slot is not published: nothing of it is")

	p2, err := r.Producer()
	require.NoError(t, err)
	require.Equal(t, uint64(0), p2.head)
	for seq := uint64(1); seq < 3; seq++ {
		require.False(t, p2.sealed(seq), "slot %d still marked published", seq)
	}
	require.NoError(t, p2.Send(ctx, []byte{1}))
	n, err := c.TryRecv(buf)
	require.NoError(t, err)
	require.Equal(t, []byte{1}, buf[:n])
	_, err = c.TryRecv(buf)
	require.ErrorIs(t, err, ErrEmpty, "a stale mark of the dead producer's would deliver slot 1 here")
	require.NoError(t, p2.Send(ctx, []byte{2}))
	n, err = c.TryRecv(buf)
	require.NoError(t, err)
	require.Equal(t, []byte{2}, buf[:n])
}

// cutRun stages in a heap ring what a producer killed inside markRun leaves
// (crash point send-mid-mark): k reserved slots of one byte, the run's
// slots but its first marked published. It returns the ring, whose
// producer role is free (dead), and its consumer.
func cutRun(t *testing.T, k int) (*Ring, *Consumer) {
	t.Helper()
	r, p := fragRing(t)
	c, err := r.Consumer()
	require.NoError(t, err)
	for i := range k {
		s, err := p.Reserve(context.Background(), 1)
		require.NoError(t, err)
		s[0] = byte(10 + i)
	}
	for seq := uint64(1); seq < uint64(k); seq++ {
		w := lenWord(p.at(seq))
		*w = 1 | p.ready(seq)
	}
	die(r, &r.h.prod)
	return r, c
}

// TestRunVisibleWhole: reservations are not published before Commit, and
// Commit publishes them all, in one batch for the consumer. (That markRun
// marks a run's first slot last is what TestTakeoverAfterCutRun relies
// on, and the crash point send-mid-mark tests between processes.)
func TestRunVisibleWhole(t *testing.T) {
	ctx := context.Background()
	r, p := fragRing(t)
	c, err := r.Consumer()
	require.NoError(t, err)
	var marks []uint64
	for i := range 4 {
		s, err := p.Reserve(ctx, 1)
		require.NoError(t, err)
		s[0] = byte(i)
	}
	for seq := range uint64(4) {
		require.False(t, p.sealed(seq), "slot %d published before Commit", seq)
	}
	require.NoError(t, p.Commit())
	for seq := range uint64(4) {
		if p.sealed(seq) {
			marks = append(marks, seq)
		}
	}
	require.Equal(t, []uint64{0, 1, 2, 3}, marks)
	got := 0
	n, err := c.RecvBatch(ctx, 0, func(m []byte) error {
		require.Equal(t, []byte{byte(got)}, m)
		got++
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 4, n, "one batch: the consumer scans every marked slot")
}

// TestCursorsTailAheadOfHead: a ring whose tail is ahead of head, by up to
// a ring (a producer that died between its marks and head), opens; one
// more is corrupt.
func TestCursorsTailAheadOfHead(t *testing.T) {
	for _, tt := range []struct {
		head, tail uint64
		ok         bool
	}{{10, 14, true}, {10, 26, true}, {10, 27, false}, {27, 10, false}, {26, 10, true}} {
		buf := newBuf(t, 64, 16)
		hdr(buf).head.Store(tt.head)
		hdr(buf).tail.Store(tt.tail)
		_, err := Attach(buf, Options{})
		if tt.ok {
			require.NoError(t, err, "head %d tail %d", tt.head, tt.tail)
		} else {
			require.ErrorIs(t, err, ErrCorrupt, "head %d tail %d", tt.head, tt.tail)
		}
	}
}

// TestBatchReadsHead: RecvBatch finds messages by head, not by the next
// slot's mark (refreshBatch), and still delivers every message a producer
// marked published: one whose head store never came is found by the poll
// before the wait sleeps (pollAll), and a head that claims slots with no
// mark takes nothing from them.
func TestBatchReadsHead(t *testing.T) {
	ctx := context.Background()
	recv := func(t *testing.T, c *Consumer, ctx context.Context) ([]byte, error) {
		var got []byte
		_, err := c.RecvBatch(ctx, 0, func(m []byte) error { got = append(got, m...); return nil })
		return got, err
	}
	for _, mode := range []WaitMode{WaitSpin, WaitYield, WaitFutex, WaitAdaptive} {
		// Every strategy's wait reads them: the poll before a sleep,
		// or (spin and yield phases, which may never end) the polls
		// at each liveness check.
		t.Run("marks without head/"+mode.String(), func(t *testing.T) {
			r, p := ringWith(t, Config{SlotSize: 64, Slots: 8, Options: Options{Wait: WaitStrategy{Mode: mode}, Liveness: 50 * time.Millisecond}})
			c, err := r.Consumer()
			require.NoError(t, err)
			for i := range 3 {
				require.NoError(t, p.Send(ctx, []byte{byte(i)}))
			}
			r.h.head.Store(0) // as if the producer stopped before storing it
			c.batch = true
			ok, err := c.poll()
			require.NoError(t, err)
			require.False(t, ok, "a batch's poll read the marks, not head")
			ok, err = c.pollAll()
			require.NoError(t, err)
			require.True(t, ok)
			require.Equal(t, uint64(3), c.cachedHead)
			c.batch, c.cachedHead = false, 0

			wctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			got, err := recv(t, c, wctx)
			require.NoError(t, err, "the wait never read the marks")
			require.Equal(t, []byte{0, 1, 2}, got)
		})
	}
	t.Run("head claims more", func(t *testing.T) {
		r, p := fragRing(t)
		c, err := r.Consumer()
		require.NoError(t, err)
		for i := range 2 {
			require.NoError(t, p.Send(ctx, []byte{byte(i)}))
		}
		r.h.head.Store(5)
		got, err := recv(t, c, ctx)
		require.NoError(t, err)
		require.Equal(t, []byte{0, 1}, got, "took a slot head claimed and no mark did")
		require.True(t, c.headLied)
		sctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		got, err = recv(t, c, sctx)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Empty(t, got)
		require.NoError(t, p.Send(ctx, []byte{2}))
		got, err = recv(t, c, ctx)
		require.NoError(t, err)
		require.Equal(t, []byte{2}, got)
	})
}

// TestTakeoverAfterCutBatch: a SendBatch killed before publish marked its
// run's first slot (putRun done, markRun not begun), or a ReserveBatch
// whose Commit never came, leaves marks only
// where the next producer's start clears them, with or without
// reservations before the batch: after the takeover no slot ahead of the
// new producer reads as published, and the consumer gets the new
// producer's messages and nothing of the dead one's.
func TestTakeoverAfterCutBatch(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		reserved int
		batch    bool // a ReserveBatch not committed, else a SendBatch cut before publish
	}{{0, false}, {1, false}, {0, true}, {1, true}} {
		reserved, batch := c.reserved, c.batch
		t.Run(fmt.Sprintf("%d reserved before the batch, ReserveBatch %v", reserved, batch), func(t *testing.T) {
			r, p := fragRing(t)
			c, err := r.Consumer()
			require.NoError(t, err)
			for range reserved {
				s, err := p.Reserve(ctx, 1)
				require.NoError(t, err)
				s[0] = 0xee
			}
			if batch {
				b, err := p.ReserveBatch(ctx, 3, 1)
				require.NoError(t, err)
				for i := range b.Len() {
					b.Slot(i)[0] = 0xe1 + byte(i)
				}
			} else {
				p.putRun([][]byte{{0xe1}, {0xe2}, {0xe3}})
			}
			die(r, &r.h.prod)
			buf := make([]byte, 64)
			_, err = c.TryRecv(buf)
			require.ErrorIs(t, err, ErrEmpty, "took part of a run never published")

			p2, err := r.Producer()
			require.NoError(t, err)
			for seq := p2.head; seq < p2.head+p2.n; seq++ {
				require.False(t, p2.sealed(seq), "slot %d still marked published after the takeover", seq)
			}
			for i := range 20 { // more than two laps of 8 slots
				require.NoError(t, p2.Send(ctx, []byte{byte(i)}))
				n, err := c.TryRecv(buf)
				require.NoError(t, err)
				require.Equal(t, []byte{byte(i)}, buf[:n])
			}
		})
	}
}
