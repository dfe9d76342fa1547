package ring

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Tests of fragments that need the ring's insides: takeovers (a role made
// free as a dead holder's is, then claimed), and slots written by hand.

// fragRing is a heap ring of 8 slots of 64 bytes for messages up to 4096
// bytes, with its producer claimed.
func fragRing(t *testing.T) (*Ring, *Producer) {
	t.Helper()
	return ringWith(t, Config{SlotSize: 64, Slots: 8, MaxMessage: 4096, Options: Options{Liveness: 50 * time.Millisecond}})
}

// ringWith is a heap ring of cfg, closed with the test, and its producer.
func ringWith(t *testing.T, cfg Config) (*Ring, *Producer) {
	t.Helper()
	r, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close() })
	p, err := r.Producer()
	require.NoError(t, err)
	return r, p
}

// die frees a role as the death of its holder does for a claim: the next
// claim finds no owner (a dead one is taken over the same way).
func die(r *Ring, s *side) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s.owner.Store(0)
}

func tornSend(t *testing.T, p *Producer, msg []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, p.Send(ctx, msg), ErrTorn)
}

// TestTakeoverProducerMidMessage: a producer that takes over from one that
// died mid-message publishes an abort before anything else: at claim when a
// slot is free, else at its first send. It never continues the dead one's
// message, and the consumer gets ErrTorn, then the new producer's messages.
func TestTakeoverProducerMidMessage(t *testing.T) {
	ctx := context.Background()
	big := bytes.Repeat([]byte{7}, 2000) // 34 slots: longer than the ring
	for _, free := range []bool{true, false} {
		name := map[bool]string{true: "slot free: abort at claim", false: "ring full: abort at the first send"}[free]
		t.Run(name, func(t *testing.T) {
			r, p := fragRing(t)
			c, err := r.Consumer()
			require.NoError(t, err)
			tornSend(t, p, big) // 8 slots published, the last one's word has MORE
			buf := make([]byte, 4096)
			if free {
				short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
				_, err := c.Recv(short, buf) // reads the 8, releases them, times out
				cancel()
				require.ErrorIs(t, err, ErrTorn)
			}
			die(r, &r.h.prod)
			p2, err := r.Producer()
			require.NoError(t, err)
			if free {
				require.False(t, p2.mid, "aborted at claim")
				require.Equal(t, uint64(9), r.h.head.Load(), "the abort is published")
				_, err = c.Recv(ctx, buf)
				require.ErrorIs(t, err, ErrTorn, "the rest discarded, through the abort")
				require.Contains(t, err.Error(), "through slot 8")
			} else {
				require.True(t, p2.mid, "no slot free: the abort waits for the first send")
				require.Equal(t, -1, p2.whole)
				require.ErrorIs(t, p2.TrySend([]byte("x")), ErrFull, "the abort needs a slot first")
			}
			errc := make(chan error, 1)
			go func() { errc <- p2.Send(ctx, []byte("after")) }()
			if !free {
				// The consumer reads the dead producer's message as
				// far as it got, frees the ring, and meets the abort.
				_, err = c.Recv(ctx, buf)
				require.ErrorIs(t, err, ErrTorn)
				require.Contains(t, err.Error(), "the producer aborted the message at slot 0 after 472 of its 2000 bytes")
			}
			n, err := c.Recv(ctx, buf)
			require.NoError(t, err)
			require.Equal(t, "after", string(buf[:n]))
			require.NoError(t, <-errc)
		})
	}
}

// publishRuns writes the fragments of msg, a message that fits the ring
// of p, from fragment from on, into its slots, and publishes them a run at
// a time (streamRun), as Send does, stopping after runs runs (or at the
// message's end): with runs short of the message, what a producer killed
// between two runs (crash point send-large-mid-message) leaves. It
// returns the next fragment.
func publishRuns(t *testing.T, p *Producer, msg []byte, from, runs uint64) uint64 {
	t.Helper()
	k := fragmentCount(uint64(len(msg)), p.size)
	require.Less(t, p.streamRun, k, "more than one run")
	require.LessOrEqual(t, k, p.n, "fits the ring")
	if !p.closed.Load() { // else a run after Close, as a Send that outlasted its wait
		require.NoError(t, p.open())
		defer p.end()
	}
	pos := 0
	if from > 0 {
		pos = int(fragmentBytes(from, p.size))
	}
	for ; runs > 0 && from < k; runs-- {
		run := min(p.streamRun, k-from)
		pos = p.putFragments(msg, pos, run)
		from += run
		p.publishLarge()
	}
	return from
}

// patternOf is a message of n bytes (300: 6 slots of 64 bytes, 250: 5;
// the first fragment holds 52 bytes, a middle one 60).
func patternOf(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

// TestFittingMessageInRuns: a message that fits the ring is published a
// run at a time, and a consumer reads what is published of it, never part
// of it as a whole message. A wait that ends in the middle leaves it
// where it is, for the next call, whole. After its producer died in the
// middle of it, the abort of the producer that takes over ends it at once
// (ErrTorn) for every receiving call: none waits for slots the dead one
// never published, and none passes the abort (a Reader closed unread
// would release the message's k slots, messages sent after the abort
// among them). A producer closed in the middle of it tears it, and a run
// it publishes after its close (a Send that outlasted Ring.Close's wait)
// is discarded, not taken for a message.
func TestFittingMessageInRuns(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	msg := patternOf(300) // 6 slots of 64 bytes in a ring of 8; runs of 2
	buf := make([]byte, 4096)

	t.Run("a wait that ends leaves it", func(t *testing.T) {
		r, p := fragRing(t)
		c, err := r.Consumer()
		require.NoError(t, err)
		next := publishRuns(t, p, msg, 0, 1)
		_, err = c.TryRecv(buf)
		require.ErrorIs(t, err, ErrEmpty)
		short, cancelShort := context.WithTimeout(ctx, 20*time.Millisecond)
		_, err = c.Recv(short, buf)
		cancelShort()
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.NotErrorIs(t, err, ErrTorn)
		require.Zero(t, r.h.tail.Load(), "nothing of it released")

		publishRuns(t, p, msg, next, 2) // the rest, as Send would have published it
		n, err := c.Recv(ctx, buf)
		require.NoError(t, err)
		require.Equal(t, msg, buf[:n])
	})

	recvs := map[string]func(c *Consumer) error{
		"Recv": func(c *Consumer) error {
			_, err := c.Recv(ctx, buf)
			return err
		},
		"TryRecv": func(c *Consumer) error {
			_, err := c.TryRecv(buf)
			return err
		},
		"RecvBatch": func(c *Consumer) error {
			_, err := c.RecvBatch(ctx, 8, func([]byte) error { return nil })
			return err
		},
		"Reader": func(c *Consumer) error {
			mr, err := c.Reader(ctx)
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, mr)
			return errors.Join(err, mr.Close())
		},
		"Reader closed unread": func(c *Consumer) error {
			mr, err := c.Reader(ctx)
			if err != nil {
				return err
			}
			return mr.Close()
		},
	}
	for name, recv := range recvs {
		// The abort after the dead producer's first run of 6 slots, and
		// after its second run of 5 (in the message's last slot).
		// after: messages the producer that took over sends before the
		// consumer looks; with 3, all of the message's slots read as
		// published, some of them the new producer's.
		for _, tc := range []struct {
			msg  []byte
			runs uint64
		}{{msg, 1}, {patternOf(250), 2}} {
			for _, after := range []int{0, 3} {
				t.Run(fmt.Sprintf("producer died after %d runs of %d bytes, %d messages after, %s", tc.runs, len(tc.msg), after, name), func(t *testing.T) {
					r, p := fragRing(t)
					c, err := r.Consumer()
					require.NoError(t, err)
					published := publishRuns(t, p, tc.msg, 0, tc.runs)
					die(r, &r.h.prod)
					p2, err := r.Producer()
					require.NoError(t, err)
					require.Equal(t, published+1, r.h.head.Load(), "the abort published at claim")
					for i := range after {
						require.NoError(t, p2.Send(ctx, []byte{byte(i)}))
					}
					require.ErrorIs(t, recv(c), ErrTorn, "the abort ends the message")
					for i := range after {
						n, err := c.Recv(ctx, buf)
						require.NoError(t, err, "message %d after the abort", i)
						require.Equal(t, []byte{byte(i)}, buf[:n], "message %d after the abort", i)
					}
					require.NoError(t, p2.Send(ctx, []byte("last")))
					n, err := c.Recv(ctx, buf)
					require.NoError(t, err)
					require.Equal(t, "last", string(buf[:n]))
				})
			}
		}

		for _, late := range []bool{false, true} {
			t.Run(fmt.Sprintf("producer closed mid-message, late run %v, %s", late, name), func(t *testing.T) {
				r, p := fragRing(t)
				c, err := r.Consumer()
				require.NoError(t, err)
				next := publishRuns(t, p, msg, 0, 1)
				require.NoError(t, p.Close())
				err = recv(c)
				require.ErrorIs(t, err, ErrTorn)
				require.ErrorIs(t, err, io.EOF)
				require.Equal(t, p.streamRun, r.h.tail.Load(), "the part published released")
				if late {
					publishRuns(t, p, msg, next, 2) // the rest, after the close
					// The next call discards it, as the rest of
					// any torn message: ErrTorn, not ErrCorrupt.
					_, err = c.Recv(ctx, buf)
					require.ErrorIs(t, err, ErrTorn)
				}
				_, err = c.Recv(ctx, buf)
				require.Equal(t, io.EOF, err, "then the end of the stream")
				require.Equal(t, r.h.head.Load(), r.h.tail.Load(), "every slot released")
			})
		}
	}
}

// TestStreamTornByCloseLateRun: a message larger than the ring, torn by
// its producer's close (Recv: ErrTorn wrapping io.EOF), may still have a
// run of its rest published after the close, by a Send that outlasted
// Ring.Close's wait. The next call discards it (ErrTorn), never takes a
// continuation for the start of a message (ErrCorrupt), and io.EOF
// follows.
func TestStreamTornByCloseLateRun(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, p := fragRing(t)
	c, err := r.Consumer()
	require.NoError(t, err)
	big := patternOf(2000) // 34 slots in a ring of 8
	short, cancelShort := context.WithTimeout(ctx, 20*time.Millisecond)
	err = p.Send(short, big)
	cancelShort()
	require.ErrorIs(t, err, ErrTorn)
	require.Contains(t, err.Error(), "472 of the 2000 bytes")
	require.NoError(t, p.Close())
	buf := make([]byte, 4096)
	_, err = c.Recv(ctx, buf)
	require.ErrorIs(t, err, ErrTorn)
	require.ErrorIs(t, err, io.EOF)

	p.putFragments(big, 472, 2) // a run of the rest, after the close
	p.publishLarge()
	_, err = c.Recv(ctx, buf)
	require.ErrorIs(t, err, ErrTorn, "the late run discarded")
	require.NotErrorIs(t, err, ErrCorrupt)
	_, err = c.Recv(ctx, buf)
	require.Equal(t, io.EOF, err)
	require.Equal(t, r.h.head.Load(), r.h.tail.Load(), "every slot released")
}

// TestTakeoverConsumerMidMessage: a consumer that takes over from one that
// died in the middle of a message discards the rest of it (ErrTorn), and
// receives the next message whole; one that takes over at a message
// boundary receives the next message as it is.
func TestTakeoverConsumerMidMessage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	big := bytes.Repeat([]byte{9}, 2000)
	t.Run("mid-message, producer streaming", func(t *testing.T) {
		r, p := fragRing(t)
		errc := make(chan error, 1)
		go func() {
			if err := p.Send(ctx, big); err != nil {
				errc <- err
				return
			}
			errc <- p.Send(ctx, []byte("after"))
		}()
		for r.h.head.Load() < 7 {
			time.Sleep(time.Millisecond)
		}
		r.h.tail.Store(3) // a consumer released 3 slots of it and died
		c, err := r.Consumer()
		require.NoError(t, err)
		buf := make([]byte, 4096)
		_, err = c.Recv(ctx, buf)
		require.ErrorIs(t, err, ErrTorn)
		require.Contains(t, err.Error(), "rest of a torn message discarded")
		n, err := c.Recv(ctx, buf)
		require.NoError(t, err)
		require.Equal(t, "after", string(buf[:n]))
		require.NoError(t, <-errc)
	})
	t.Run("mid-message, producer aborted", func(t *testing.T) {
		r, p := fragRing(t)
		c, err := r.Consumer()
		require.NoError(t, err)
		tornSend(t, p, big)
		buf := make([]byte, 4096)
		short, stop := context.WithTimeout(ctx, 20*time.Millisecond)
		_, err = c.Recv(short, buf)
		stop()
		require.ErrorIs(t, err, ErrTorn)
		die(r, &r.h.cons)
		c2, err := r.Consumer()
		require.NoError(t, err)
		require.NoError(t, p.Send(ctx, []byte("after"))) // the abort, then this
		_, err = c2.RecvBatch(ctx, 0, func([]byte) error { return errors.New("must not be called") })
		require.ErrorIs(t, err, ErrTorn)
		n, err := c2.Recv(ctx, buf)
		require.NoError(t, err)
		require.Equal(t, "after", string(buf[:n]))
	})
	t.Run("at a boundary", func(t *testing.T) {
		r, p := fragRing(t)
		c, err := r.Consumer()
		require.NoError(t, err)
		require.NoError(t, p.Send(ctx, []byte("one")))
		require.NoError(t, p.Send(ctx, big[:300]))
		buf := make([]byte, 4096)
		_, err = c.Recv(ctx, buf)
		require.NoError(t, err)
		die(r, &r.h.cons)
		c2, err := r.Consumer()
		require.NoError(t, err)
		require.Equal(t, uint8(fragResync), c2.frag)
		n, err := c2.Recv(ctx, buf)
		require.NoError(t, err)
		require.Equal(t, big[:300], buf[:n])
		require.Equal(t, uint8(fragNone), c2.frag)
	})
}

// putSlot writes a slot by hand: its length word, and after it total (if
// not zero, as a first fragment's) and the payload.
func putSlot(s []byte, word uint32, total uint64, payload []byte) {
	binary.LittleEndian.PutUint32(s, word)
	at := lenSize
	if total != 0 {
		binary.LittleEndian.PutUint64(s[at:], total)
		at += totalSize
	}
	copy(s[at:], payload)
}

// TestFragmentsCorrupt: every check on fragments refuses a slot no producer
// writes with ErrCorrupt, naming the slot and the values, and nothing is
// sized from a total before it is checked (a total of 2^63 allocates
// nothing).
func TestFragmentsCorrupt(t *testing.T) {
	const slot = 64
	full := bytes.Repeat([]byte{1}, slot)
	tests := []struct {
		name  string
		slots func(at func(int) []byte) int // writes slots from 0, returns how many are published
		want  string
	}{
		{"total 2^63", func(at func(int) []byte) int {
			putSlot(at(0), fragMore|52, 1<<63, full)
			return 1
		}, "message of length 9223372036854775808: want 61 to 4096"},
		{"total fits a slot", func(at func(int) []byte) int {
			putSlot(at(0), fragMore|52, 60, full)
			return 1
		}, "message of length 60"},
		{"first fragment not full", func(at func(int) []byte) int {
			putSlot(at(0), fragMore|51, 100, full)
			return 1
		}, "first fragment of length 51, want 52"},
		{"middle fragment not full", func(at func(int) []byte) int {
			putSlot(at(0), fragMore|52, 200, full)
			putSlot(at(1), fragMore|fragCont|59, 0, full)
			putSlot(at(2), fragCont|60, 0, full)
			putSlot(at(3), fragCont|28, 0, full)
			return 4
		}, "slot 1: length word 0xc000003b"},
		{"last fragment short of total", func(at func(int) []byte) int {
			putSlot(at(0), fragMore|52, 200, full)
			putSlot(at(1), fragMore|fragCont|60, 0, full)
			putSlot(at(2), fragMore|fragCont|60, 0, full)
			putSlot(at(3), fragCont|27, 0, full)
			return 4
		}, "slot 3: length word 0x4000001b"},
		{"a new message where a fragment was expected", func(at func(int) []byte) int {
			putSlot(at(0), fragMore|52, 100, full)
			putSlot(at(1), 5, 0, full)
			return 2
		}, "slot 1: length word 0x5 (flags 0x0, length 5)"},
		{"continuation at a message start", func(at func(int) []byte) int {
			putSlot(at(0), fragCont|10, 0, full)
			return 1
		}, "flags 0x2 where a message begins"},
		{"abort with a length", func(at func(int) []byte) int {
			putSlot(at(0), fragMore|52, 100, full)
			putSlot(at(1), fragCont|fragAbort|3, 0, full)
			return 2
		}, "slot 1: length word 0x60000003"},
		{"abort with more", func(at func(int) []byte) int {
			putSlot(at(0), fragMore|fragAbort, 0, full)
			return 1
		}, "flags 0x5 where a message begins"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := fragRing(t)
			c, err := r.Consumer()
			require.NoError(t, err)
			n := tt.slots(func(i int) []byte { return c.at(uint64(i)) })
			publishBy(r.buf, 0, uint64(n))
			buf := make([]byte, 4096)
			var got int
			allocs := testing.AllocsPerRun(1, func() { got, err = c.TryRecv(buf) })
			require.ErrorIs(t, err, ErrCorrupt)
			require.Contains(t, err.Error(), tt.want)
			require.Zero(t, got)
			require.Equal(t, uint64(0), r.h.tail.Load(), "nothing released")
			require.LessOrEqual(t, allocs, 16.0, "an error's few allocations, nothing sized from the slots")
			_, err = c.RecvBatch(context.Background(), 0, func([]byte) error { return nil })
			require.ErrorIs(t, err, ErrCorrupt, "the same refusal again")
			require.LessOrEqual(t, cap(c.asm), 2*4*slot, "RecvBatch's buffer grew by what it copied, no more")
		})
	}
}

// TestFragmentLastTooLong: a last fragment whose length makes the sum
// exactly total but is longer than a slot holds is refused as corrupt by
// every receiving call, which must not read past its slot (it did: the
// last-fragment check compared the sum with total, and not the length with
// the payload, and the copy ran off the slot's end).
func TestFragmentLastTooLong(t *testing.T) {
	ctx := context.Background()
	calls := []struct {
		name string
		recv func(c *Consumer) (int, error)
	}{
		{"Recv", func(c *Consumer) (int, error) { return c.Recv(ctx, make([]byte, 4096)) }},
		{"TryRecv", func(c *Consumer) (int, error) { return c.TryRecv(make([]byte, 4096)) }},
		{"RecvBatch", func(c *Consumer) (int, error) {
			return c.RecvBatch(ctx, 0, func([]byte) error { return errors.New("must not be called") })
		}},
	}
	for _, call := range calls {
		t.Run(call.name, func(t *testing.T) {
			r, _ := fragRing(t)
			c, err := r.Consumer()
			require.NoError(t, err)
			full := bytes.Repeat([]byte{1}, 64)
			putSlot(c.at(0), fragMore|52, 152, full) // 52 + 100 = 152
			putSlot(c.at(1), fragCont|100, 0, full)  // a slot holds 60
			putSlot(c.at(2), fragCont|40, 0, full)
			publishBy(r.buf, 0, 3)
			n, err := call.recv(c)
			require.ErrorIs(t, err, ErrCorrupt)
			require.Contains(t, err.Error(), "slot 1: length word 0x40000064")
			require.Zero(t, n)
		})
	}
}

// FuzzFragments writes arbitrary slots (length words, totals, payloads)
// and cursors into a heap ring of 4 slots of 32 bytes (messages up to 200
// bytes: more than the ring, so streaming is reached too) and receives
// with TryRecv, Recv and RecvBatch, each on a fresh copy. None may panic,
// return more bytes than the buffer holds, or fail other than by the
// documented errors; and they agree: a message TryRecv delivers, Recv and
// RecvBatch deliver the same (RecvBatch may then stop at a slot after it),
// and what TryRecv refuses as corrupt or torn, the others refuse alike.
// RecvBatch's reassembly buffer holds no more than the slots it copied.
// TryRecv's outcome is also checked against fragmentOracle, a decoder
// written from the table in fragment.go rather than from the code: the
// three calls agreeing with one another proves nothing when they share a
// wrong check.
//
// With sumTotals, every first fragment's total is overwritten with the sum
// of the lengths of it and the continuations after it, so that a mutation
// of one length word makes a message whose total agrees with its
// fragments. Without it a total is 8 arbitrary bytes, and a fragment whose
// length is wrong but sums exactly to total (a last fragment longer than a
// slot) needs two mutations that agree, which the fuzzer did not find: it
// made Recv, TryRecv and RecvBatch read past the slot.
func FuzzFragments(f *testing.F) {
	const slot, slots = 32, 4
	seed := func(words []uint32, totals []uint64, head, tail uint8) []byte {
		b := make([]byte, slot*slots)
		for i, w := range words {
			putSlot(b[i*slot:], w, totals[i], bytes.Repeat([]byte{byte(i + 1)}, slot))
		}
		return append(b, head, tail)
	}
	// A message of 3 fragments (20 + 28 + 10 bytes), whole.
	f.Add(seed([]uint32{fragMore | 20, fragMore | fragCont | 28, fragCont | 10}, []uint64{58, 0, 0}, 3, 0), uint16(100), false)
	f.Add(seed([]uint32{fragMore | 20, fragMore | fragCont | 28, fragCont | 10}, []uint64{0, 0, 0}, 3, 0), uint16(100), true)
	// The same, a buffer too short.
	f.Add(seed([]uint32{fragMore | 20, fragMore | fragCont | 28, fragCont | 10}, []uint64{58, 0, 0}, 3, 0), uint16(57), false)
	// Aborted after its first fragment.
	f.Add(seed([]uint32{fragMore | 20, fragCont | fragAbort}, []uint64{58, 0}, 2, 0), uint16(100), false)
	// Longer than the ring: streams, and the published part ends.
	f.Add(seed([]uint32{fragMore | 20, fragMore | fragCont | 28, fragMore | fragCont | 28}, []uint64{200, 0, 0}, 3, 0), uint16(200), false)
	// A total of 2^63, and one of 2^40.
	f.Add(seed([]uint32{fragMore | 20}, []uint64{1 << 63}, 1, 0), uint16(200), false)
	f.Add(seed([]uint32{fragMore | 20}, []uint64{1 << 40}, 1, 0), uint16(200), false)
	// After a takeover: the rest of a message, then a whole one.
	f.Add(seed([]uint32{5, fragMore | fragCont | 28, fragCont | 3, 4}, []uint64{0, 0, 0, 0}, 3, 1), uint16(100), false)
	// Every flag.
	f.Add(seed([]uint32{^uint32(0), fragAbort, fragMore | fragAbort, fragCont}, []uint64{0, 0, 0, 0}, 4, 0), uint16(100), false)
	// A last fragment longer than a slot whose length sums to total
	// (TestFragmentLastTooLong in this ring's slots): it fits the ring
	// by its total, and so does the one after it, streaming.
	f.Add(seed([]uint32{fragMore | 20, fragCont | 50, fragCont | 40}, []uint64{70, 0, 0}, 3, 0), uint16(200), false)
	f.Add(seed([]uint32{fragMore | 20, fragMore | fragCont | 28, fragCont | 100}, []uint64{148, 0, 0}, 3, 0), uint16(200), false)

	f.Fuzz(func(t *testing.T, data []byte, bufLen uint16, sumTotals bool) {
		if len(data) < 2 {
			return
		}
		head, tail := uint64(data[len(data)-2]), uint64(data[len(data)-1]%16)
		published := head % (slots + 1)
		area := make([]byte, slot*slots)
		copy(area, data[:len(data)-2])
		at := func(i uint64) []byte { // the slot i after tail
			off := (tail + i) % slots * slot
			return area[off : off+slot]
		}
		if sumTotals {
			for i := range uint64(slots) {
				w := lenOf(at(i))
				if w&^fragLen != fragMore {
					continue
				}
				total := uint64(w & fragLen)
				for j := i + 1; j < i+slots; j++ {
					w := lenOf(at(j))
					if w&fragCont == 0 {
						break
					}
					total += uint64(w & fragLen)
					if w&fragMore == 0 {
						break
					}
				}
				binary.LittleEndian.PutUint64(at(i)[lenSize:], total)
			}
		}
		fresh := func() (*Ring, *Consumer) {
			// WaitFutex: a wait that cannot succeed ends at its first
			// look at the context, without spinning first.
			r, err := New(Config{SlotSize: slot, Slots: slots, MaxMessage: 200,
				Options: Options{Liveness: time.Hour, Wait: WaitStrategy{Mode: WaitFutex}}})
			require.NoError(t, err)
			copy(r.buf[HeaderSize:], area)
			r.h.tail.Store(tail)
			publishBy(r.buf, tail, tail+published)
			c, err := r.Consumer()
			require.NoError(t, err)
			return r, c // not closed: heap memory, and Close costs a membarrier
		}
		// Every wait ends at once: what is published is all there is.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		check := func(api string, n int, buf []byte, err error) {
			switch {
			case err == nil:
				require.LessOrEqual(t, n, len(buf), "%s: more bytes than the buffer", api)
			case errors.Is(err, io.ErrShortBuffer):
				require.Greater(t, n, len(buf), "%s: short buffer", api)
				require.LessOrEqual(t, n, 200, "%s: a length beyond max_message", api)
			default:
				require.Zero(t, n, "%s: %v", api, err)
				for _, ok := range []error{ErrCorrupt, ErrTorn, ErrEmpty, ErrMessageTooLarge, context.Canceled} {
					if errors.Is(err, ok) {
						return
					}
				}
				t.Fatalf("%s: %v: not an error the API documents", api, err)
			}
		}

		_, c := fresh()
		tryBuf := make([]byte, int(bufLen)%256)
		tn, terr := c.TryRecv(tryBuf)
		check("TryRecv", tn, tryBuf, terr)
		if want, ok := fragmentOracle(at, published, tail > 0, len(tryBuf), slot, slots, 200); ok {
			require.ErrorIs(t, terr, want.err, "TryRecv: %v, the oracle: %v", terr, want.err)
			require.Equal(t, want.n, tn, "TryRecv's length")
			if want.err == nil {
				require.Equal(t, want.msg, tryBuf[:tn], "TryRecv's message")
			}
		}

		_, c = fresh()
		buf := make([]byte, len(tryBuf))
		rn, rerr := c.Recv(ctx, buf)
		check("Recv", rn, buf, rerr)

		r, c := fresh()
		var first []byte
		calls := 0
		_, berr := c.RecvBatch(ctx, 0, func(msg []byte) error {
			if calls == 0 {
				first = bytes.Clone(msg)
			}
			calls++
			require.LessOrEqual(t, len(msg), 200)
			return nil
		})
		if berr != nil {
			check("RecvBatch", 0, nil, berr)
		}
		require.LessOrEqual(t, cap(c.asm), 2*int(r.h.head.Load()-tail)*slot+8, "RecvBatch's buffer grows with what it copied")

		switch {
		case terr == nil:
			require.NoError(t, rerr, "TryRecv delivered, Recv did not")
			require.Equal(t, tryBuf[:tn], buf[:rn])
			// RecvBatch may go on to a slot after it and stop there
			// with an error: the message is still delivered.
			require.GreaterOrEqual(t, calls, 1, "TryRecv delivered, RecvBatch did not: %v", berr)
			require.Equal(t, tryBuf[:tn], first)
		case errors.Is(terr, io.ErrShortBuffer):
			require.ErrorIs(t, rerr, io.ErrShortBuffer)
			require.Equal(t, tn, rn)
		case errors.Is(terr, ErrCorrupt):
			require.ErrorIs(t, rerr, ErrCorrupt, "TryRecv refused as corrupt, Recv: %v", rerr)
			require.ErrorIs(t, berr, ErrCorrupt, "TryRecv refused as corrupt, RecvBatch: %v", berr)
		case errors.Is(terr, ErrTorn):
			require.ErrorIs(t, rerr, ErrTorn, "TryRecv: torn, Recv: %v", rerr)
			require.ErrorIs(t, berr, ErrTorn, "TryRecv: torn, RecvBatch: %v", berr)
		}
	})
}

// oracleResult is what TryRecv must return: the message and its length,
// or the length and io.ErrShortBuffer, or an error (n 0).
type oracleResult struct {
	msg []byte
	n   int
	err error
}

// fragmentOracle decodes the message at a consumer's tail as the slot
// table in fragment.go describes it, independently of large.go: at(i) is
// the slot i after tail, published how many are published, resync whether
// the consumer took the role over (tail > 0). It reports what TryRecv with
// a buffer of bufLen bytes must return, and false where the table alone
// does not decide: a continuation a consumer that took over discards, or
// a fragment of a message longer than the ring (TryRecv refuses the
// message before it reads one).
//
// It counts a message's slots from its total, as the format allows, and
// then wants the fragment kind each slot must have: full middles, a last
// one holding exactly the rest. large.go checks the running sum instead;
// the two must agree.
func fragmentOracle(at func(uint64) []byte, published uint64, resync bool, bufLen int, slot, slots, maxMsg uint64) (oracleResult, bool) {
	if published == 0 {
		return oracleResult{err: ErrEmpty}, true
	}
	corrupt := oracleResult{err: ErrCorrupt}
	payload := slot - lenSize
	s := at(0)
	w := lenOf(s) // the lap mark is publishBy's (fresh)
	n := uint64(w & fragLen)
	switch w &^ fragLen {
	case 0: // whole
		switch {
		case n > payload:
			return corrupt, true
		case int(n) > bufLen:
			return oracleResult{n: int(n), err: io.ErrShortBuffer}, true
		}
		return oracleResult{msg: s[lenSize : lenSize+n], n: int(n)}, true
	case fragMore: // first
	default:
		if resync && w&fragCont != 0 {
			return oracleResult{}, false
		}
		return corrupt, true
	}
	total := binary.LittleEndian.Uint64(s[lenSize:])
	if n != payload-totalSize || total <= payload || total > maxMsg {
		return corrupt, true
	}
	if total > uint64(bufLen) {
		return oracleResult{n: int(total), err: io.ErrShortBuffer}, true
	}
	k := 1 + (total-(payload-totalSize)+payload-1)/payload
	if k > slots {
		return oracleResult{err: ErrMessageTooLarge}, true
	}
	msg := append([]byte(nil), s[lenSize+totalSize:]...)
	for i := uint64(1); i < k; i++ {
		if i >= published { // every published fragment a middle one: not there yet
			return oracleResult{err: ErrEmpty}, true
		}
		s := at(i)
		w := lenOf(s)
		switch rest := total - uint64(len(msg)); {
		case w == fragCont|fragAbort:
			return oracleResult{err: ErrTorn}, true
		case i < k-1 && w == fragMore|fragCont|uint32(payload):
			msg = append(msg, s[lenSize:]...)
		case i == k-1 && w == fragCont|uint32(rest):
			msg = append(msg, s[lenSize:lenSize+rest]...)
		default:
			return corrupt, true
		}
	}
	return oracleResult{msg: msg, n: len(msg)}, true
}

// TestMaxMessageBelowPayload: in a ring whose max_message is less than a
// slot holds (Config{MaxMessage: 64} has slots of 72 bytes, 68 of
// payload), every sending call refuses a message longer than max_message
// although a slot would hold it, and every receiving call refuses such a
// message in one slot (a producer of this ring writes none) as corrupt:
// a buffer of MaxMessage() bytes holds every message Recv returns.
func TestMaxMessageBelowPayload(t *testing.T) {
	ctx := context.Background()
	cfg := Config{MaxMessage: 64, Slots: 8}
	send := []struct {
		name string
		send func(p *Producer, n int) error
	}{
		{"Send", func(p *Producer, n int) error { return p.Send(ctx, make([]byte, n)) }},
		{"TrySend", func(p *Producer, n int) error { return p.TrySend(make([]byte, n)) }},
		{"SendBatch", func(p *Producer, n int) error {
			_, err := p.SendBatch(ctx, [][]byte{make([]byte, n)})
			return err
		}},
		{"Reserve", func(p *Producer, n int) error {
			_, err := p.Reserve(ctx, n)
			return err
		}},
		{"ReserveBatch", func(p *Producer, n int) error {
			_, err := p.ReserveBatch(ctx, 2, n)
			return err
		}},
	}
	for _, s := range send {
		t.Run(s.name, func(t *testing.T) {
			r, err := New(cfg)
			require.NoError(t, err)
			t.Cleanup(func() { _ = r.Close() })
			require.Equal(t, 72, r.SlotSize())
			p, err := r.Producer()
			require.NoError(t, err)
			for n := 65; n <= 68; n++ {
				err := s.send(p, n)
				require.ErrorIs(t, err, ErrMessageTooLarge, "%d bytes", n)
				require.Contains(t, err.Error(), "at most 64")
			}
			require.Equal(t, uint64(0), p.head, "nothing sent or reserved")
			require.NoError(t, s.send(p, 64))
		})
	}
	recv := []struct {
		name string
		recv func(c *Consumer) (int, error)
	}{
		{"Recv", func(c *Consumer) (int, error) { return c.Recv(ctx, make([]byte, c.MaxMessage())) }},
		{"TryRecv", func(c *Consumer) (int, error) { return c.TryRecv(make([]byte, c.MaxMessage())) }},
		{"RecvBatch", func(c *Consumer) (int, error) {
			return c.RecvBatch(ctx, 0, func([]byte) error { return errors.New("must not be called") })
		}},
		{"RecvBatch second", func(c *Consumer) (int, error) {
			return c.RecvBatch(ctx, 0, func(m []byte) error {
				if len(m) != 1 {
					return errors.New("only the message before it")
				}
				return nil
			})
		}},
		{"Peek", func(c *Consumer) (int, error) {
			m, err := c.Peek(ctx)
			return len(m), err
		}},
	}
	for _, rc := range recv {
		t.Run(rc.name, func(t *testing.T) {
			for n := 65; n <= 68; n++ {
				r, err := New(cfg)
				require.NoError(t, err)
				t.Cleanup(func() { _ = r.Close() })
				c, err := r.Consumer()
				require.NoError(t, err)
				at := uint64(0)
				if rc.name == "RecvBatch second" {
					putSlot(c.at(0), 1, 0, []byte{1})
					at = 1
				}
				putSlot(c.at(at), uint32(n), 0, make([]byte, n)) // a hostile producer's
				publishBy(r.buf, 0, at+1)
				got, err := rc.recv(c)
				require.ErrorIs(t, err, ErrCorrupt, "%d bytes", n)
				require.Contains(t, err.Error(), fmt.Sprintf("slot %d: length %d", at, n))
				require.Equal(t, int(at), got)
				require.Equal(t, at, c.tail, "the slot stays")
			}
		})
	}
}

// TestStreamRuns: while a message larger than the ring streams, each side
// stores its cursor at least every streamRun fragments (a quarter of the
// ring, or 32 KiB of slots), so that one copies while the other does. A
// producer that filled every free slot before it published, and a consumer
// that released only once it had copied all that was published, each
// waited while the other copied a ring's worth.
func TestStreamRuns(t *testing.T) {
	for _, tt := range []struct {
		slot, slots int
		run         uint64
	}{{64, 8, 2}, {64, 64, 16}, {1 << 10, 256, 32}, {64 << 10, 8, 1}} {
		t.Run(fmt.Sprintf("%d slots of %d bytes", tt.slots, tt.slot), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			r, p := ringWith(t, Config{SlotSize: tt.slot, Slots: tt.slots, MaxMessage: 8 * tt.slot * tt.slots})
			c, err := r.Consumer()
			require.NoError(t, err)
			require.Equal(t, tt.run, c.streamRun)
			var mu sync.Mutex
			stores := map[bool][]uint64{}
			SetStreamHook(func(producer bool, cursor uint64) {
				mu.Lock()
				defer mu.Unlock()
				stores[producer] = append(stores[producer], cursor)
			})
			defer SetStreamHook(nil)
			msg := bytes.Repeat([]byte{5}, 5*tt.slot*tt.slots) // five rings' worth
			errc := make(chan error, 1)
			go func() { errc <- p.Send(ctx, msg) }()
			buf := make([]byte, len(msg))
			n, err := c.Recv(ctx, buf)
			require.NoError(t, err)
			require.Equal(t, msg, buf[:n])
			require.NoError(t, <-errc)
			mu.Lock()
			defer mu.Unlock()
			for _, producer := range []bool{true, false} {
				side := map[bool]string{true: "producer", false: "consumer"}[producer]
				require.NotEmpty(t, stores[producer], side)
				last := uint64(0)
				for _, s := range stores[producer] {
					require.LessOrEqual(t, s-last, tt.run, "%s: a store at %d after one at %d: %v", side, s, last, stores[producer])
					last = s
				}
			}
		})
	}
}

// TestRecvBatchKilledInFn: a consumer that dies while RecvBatch's fn has a
// fragmented message (here fn panics, and the role is made free as a dead
// holder's is) leaves a message that fits the ring to the next consumer,
// whole: nothing of it was released before fn. Of a message larger than
// the ring it had released all but the last run while it copied: the next
// consumer discards the rest (ErrTorn), then receives the next message.
func TestRecvBatchKilledInFn(t *testing.T) {
	for _, tt := range []struct {
		name string
		size int
		torn bool
	}{{"fits the ring", 300, false}, {"larger than the ring", 2000, true}} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			r, p := fragRing(t)
			c, err := r.Consumer()
			require.NoError(t, err)
			msg := bytes.Repeat([]byte{3}, tt.size)
			errc := make(chan error, 1)
			go func() {
				if err := p.Send(ctx, msg); err != nil {
					errc <- err
					return
				}
				errc <- p.Send(ctx, []byte("after"))
			}()
			func() {
				defer func() { require.Equal(t, "killed", recover()) }()
				_, _ = c.RecvBatch(ctx, 0, func(m []byte) error {
					require.Equal(t, msg, m)
					panic("killed")
				})
			}()
			die(r, &r.h.cons)
			c2, err := r.Consumer()
			require.NoError(t, err)
			buf := make([]byte, 4096)
			n, err := c2.Recv(ctx, buf)
			if tt.torn {
				require.ErrorIs(t, err, ErrTorn)
				n, err = c2.Recv(ctx, buf)
			} else {
				require.NoError(t, err)
				require.Equal(t, msg, buf[:n], "delivered again")
				n, err = c2.Recv(ctx, buf)
			}
			require.NoError(t, err)
			require.Equal(t, "after", string(buf[:n]))
			require.NoError(t, <-errc)
		})
	}
}
