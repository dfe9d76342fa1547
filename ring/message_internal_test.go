package ring

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Tests of MessageReader and MessageWriter that need the ring's insides:
// takeovers (fragment_test.go's die), and slots written by hand.

// TestMessageTakeover: a producer that takes over from one that died with
// a streaming MessageWriter open aborts its message, never continuing it;
// a consumer that takes over from one that died with a streaming
// MessageReader open discards the rest of its message. Either way the
// consumer gets ErrTorn, then the next message whole.
func TestMessageTakeover(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	buf := make([]byte, 4096)
	t.Run("producer", func(t *testing.T) {
		r, p := fragRing(t)
		c, err := r.Consumer()
		require.NoError(t, err)
		w, err := p.Writer(ctx, 2000)
		require.NoError(t, err)
		_, err = w.Write(bytes.Repeat([]byte{7}, 300)) // 5 full fragments, 4 published
		require.NoError(t, err)
		require.Equal(t, uint64(4), r.h.head.Load())
		die(r, &r.h.prod)
		p2, err := r.Producer()
		require.NoError(t, err)
		require.Equal(t, uint64(5), r.h.head.Load(), "the abort, at claim, over the unpublished fragment")
		w, err = p2.Writer(ctx, 5)
		require.NoError(t, err)
		_, err = w.Write([]byte("after"))
		require.NoError(t, err)
		require.NoError(t, w.Close())
		_, err = c.Recv(ctx, buf)
		require.ErrorIs(t, err, ErrTorn)
		require.Contains(t, err.Error(), "after 232 of its 2000 bytes")
		n, err := c.Recv(ctx, buf)
		require.NoError(t, err)
		require.Equal(t, "after", string(buf[:n]))
	})
	t.Run("consumer", func(t *testing.T) {
		r, p := fragRing(t)
		c, err := r.Consumer()
		require.NoError(t, err)
		errc := make(chan error, 1)
		go func() {
			if err := p.Send(ctx, bytes.Repeat([]byte{9}, 2000)); err != nil {
				errc <- err
				return
			}
			errc <- p.Send(ctx, []byte("after"))
		}()
		mr, err := c.Reader(ctx)
		require.NoError(t, err)
		for range 10 { // more than the ring: the reader has released some
			_, err := mr.Next()
			require.NoError(t, err)
		}
		require.NotZero(t, r.h.tail.Load())
		die(r, &r.h.cons)
		c2, err := r.Consumer()
		require.NoError(t, err)
		_, err = c2.Reader(ctx)
		require.ErrorIs(t, err, ErrTorn)
		require.Contains(t, err.Error(), "rest of a torn message discarded")
		mr, err = c2.Reader(ctx)
		require.NoError(t, err)
		b, err := mr.Next()
		require.NoError(t, err)
		require.Equal(t, "after", string(b))
		require.NoError(t, mr.Close())
		require.NoError(t, <-errc)
	})
}

// FuzzMessageReader writes arbitrary slots and cursors into a heap ring,
// as FuzzFragments does, and reads the first message with Recv and, on a
// fresh copy, with Reader and Next. The reader hands out slices of memory
// another process writes: it must never panic, hand out a fragment longer
// than a slot's payload or more bytes than max_message, or allocate by a
// total; and it must agree with Recv: the same bytes when Recv delivers,
// the same refusal (ErrCorrupt, ErrTorn, the context's end) when it does
// not.
func FuzzMessageReader(f *testing.F) {
	const slot, slots, maxMsg = 32, 4, 200
	seed := func(words []uint32, totals []uint64, head, tail uint8) []byte {
		b := make([]byte, slot*slots)
		for i, w := range words {
			putSlot(b[i*slot:], w, totals[i], bytes.Repeat([]byte{byte(i + 1)}, slot))
		}
		return append(b, head, tail)
	}
	// A whole message, and one of 3 fragments (20 + 28 + 10 bytes).
	f.Add(seed([]uint32{7}, []uint64{0}, 1, 0))
	f.Add(seed([]uint32{fragMore | 20, fragMore | fragCont | 28, fragCont | 10}, []uint64{58, 0, 0}, 3, 0))
	// Not all published yet; aborted after its first fragment.
	f.Add(seed([]uint32{fragMore | 20, fragMore | fragCont | 28, fragCont | 10}, []uint64{58, 0, 0}, 2, 0))
	f.Add(seed([]uint32{fragMore | 20, fragCont | fragAbort}, []uint64{58, 0}, 2, 0))
	// Longer than the ring: streams, and the published part ends.
	f.Add(seed([]uint32{fragMore | 20, fragMore | fragCont | 28, fragMore | fragCont | 28}, []uint64{200, 0, 0}, 3, 0))
	// Totals of 2^63 and 2^40; a middle fragment not full.
	f.Add(seed([]uint32{fragMore | 20}, []uint64{1 << 63}, 1, 0))
	f.Add(seed([]uint32{fragMore | 20}, []uint64{1 << 40}, 1, 0))
	f.Add(seed([]uint32{fragMore | 20, fragMore | fragCont | 27, fragCont | 11}, []uint64{58, 0, 0}, 3, 0))
	// After a takeover: the rest of a message, then a whole one.
	f.Add(seed([]uint32{5, fragMore | fragCont | 28, fragCont | 3, 4}, []uint64{0, 0, 0, 0}, 3, 1))
	// Every flag.
	f.Add(seed([]uint32{^uint32(0), fragAbort, fragMore | fragAbort, fragCont}, []uint64{0, 0, 0, 0}, 4, 0))

	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 2 {
			return
		}
		head, tail := uint64(data[len(data)-2]), uint64(data[len(data)-1]%16)
		data = data[:len(data)-2]
		fresh := func() *Consumer {
			// WaitFutex: a wait that cannot succeed ends at its first
			// look at the context, without spinning first.
			r, err := New(Config{SlotSize: slot, Slots: slots, MaxMessage: maxMsg,
				Options: Options{Liveness: time.Hour, Wait: WaitStrategy{Mode: WaitFutex}}})
			require.NoError(t, err)
			copy(r.buf[HeaderSize:], data)
			r.h.tail.Store(tail)
			publishBy(r.buf, tail, tail+head%(slots+1))
			c, err := r.Consumer()
			require.NoError(t, err)
			return c // not closed: heap memory, and Close costs a membarrier
		}
		// Every wait ends at once: what is published is all there is.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()

		buf := make([]byte, maxMsg)
		n, rerr := fresh().Recv(ctx, buf)

		var got []byte
		mr, err := fresh().Reader(ctx)
		if err == nil {
			require.LessOrEqual(t, mr.Len(), maxMsg)
			for {
				var b []byte
				if b, err = mr.Next(); err != nil {
					break
				}
				require.LessOrEqual(t, len(b), slot-lenSize, "a fragment longer than a slot holds")
				got = append(got, b...)
				require.LessOrEqual(t, len(got), mr.Len(), "more bytes than the message's length")
			}
			if err == io.EOF {
				err = nil
				require.Equal(t, mr.Len(), len(got))
			}
			require.NoError(t, mr.Close())
		}

		if rerr == nil {
			require.NoError(t, err, "Recv delivered, the reader did not")
			require.True(t, bytes.Equal(buf[:n], got), "Recv: %q, the reader: %q", buf[:n], got)
			return
		}
		require.Error(t, err, "Recv refused (%v), the reader delivered", rerr)
		for _, want := range []error{ErrCorrupt, ErrTorn, context.Canceled} {
			if errors.Is(rerr, want) {
				require.ErrorIs(t, err, want, "Recv: %v", rerr)
			}
		}
	})
}
