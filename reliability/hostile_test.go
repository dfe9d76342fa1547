package reliability_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/reliability/internal/stream"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

// Offsets in the header (docs/LAYOUT.md) that the hostile writer aims at.
var (
	offMagic      = ring.FieldOffset("magic")
	offHeaderSize = ring.FieldOffset("header_size")
	offSlotSize   = ring.FieldOffset("slot_size")
	offSlotCount  = ring.FieldOffset("slot_count")
	offSegSize    = ring.FieldOffset("segment_size")
	offState      = ring.FieldOffset("state")
	offHead       = ring.FieldOffset("head")
	offTail       = ring.FieldOffset("tail")
	offConsSleep  = ring.FieldOffset("consumer_sleeping")
	offProdSleep  = ring.FieldOffset("producer_sleeping")
	// From a side's owner to its first counter: bytes, stalls, waits,
	// wakes follow, 8 bytes each.
	offCounters = ring.FieldOffset("producer.bytes") - ring.FieldOffset("producer.owner")
)

// hostileRing is one ring mapped three times in this process: once for
// the producer, once for the consumer, and once raw for the hostile writer.
// Separate mappings keep the race detector out of what is, by design, a
// race with an adversary.
type hostileRing struct {
	key                shmseg.Key
	prodRing, consRing *ring.Ring
	raw                []byte
	slotSize, slots    int
	base, end          uintptr // the consumer's mapping
}

func newHostileRing(t testing.TB, slotSize, slots int) *hostileRing {
	t.Helper()
	opts := ring.Options{Liveness: 50 * time.Millisecond, ReadyTimeout: 10 * time.Second}
	pr, key := newRing(t, ring.Config{SlotSize: slotSize, Slots: slots, Options: opts})
	cr, err := ring.Open(key, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = cr.Close() })
	seg, err := shmseg.Attach(pr.Segment().ID(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = seg.Detach() })
	raw, err := seg.Bytes()
	require.NoError(t, err)
	b, err := cr.Segment().Bytes()
	require.NoError(t, err)
	base := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	return &hostileRing{key: key, prodRing: pr, consRing: cr, raw: raw, slotSize: slotSize, slots: slots,
		base: base, end: base + uintptr(len(b))}
}

func (h *hostileRing) u64(off int) *atomic.Uint64 {
	return (*atomic.Uint64)(unsafe.Pointer(&h.raw[off]))
}
func (h *hostileRing) u32(off int) *atomic.Uint32 {
	return (*atomic.Uint32)(unsafe.Pointer(&h.raw[off]))
}

// inside reports whether msg lies within the consumer's mapping.
func (h *hostileRing) inside(msg []byte) bool {
	if cap(msg) == 0 {
		return true
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(msg)))
	return p >= h.base+ring.HeaderSize && p+uintptr(cap(msg)) <= h.end
}

// slotLen is the offset of slot i's length word.
func (h *hostileRing) slotLen(i uint64) int {
	return ring.HeaderSize + int(i%uint64(h.slots))*h.slotSize
}

// lapBit is a slot's lap mark (docs/LAYOUT.md, "Lap marks"): bit 28 of its
// length word, set on even laps once the slot is published.
const lapBit uint32 = 1 << 28

// forge writes word w, marked published, into the slot of cursor i, as a
// producer publishing a message there would: the consumer reads the slot
// by its mark, not by head.
func (h *hostileRing) forge(i uint64, w uint32) {
	mark := lapBit
	if i/uint64(h.slots)%2 == 1 {
		mark = 0
	}
	h.u32(h.slotLen(i)).Store(w&^lapBit | mark)
}

// documentedErrors are the errors the ring documents for its calls, by
// name. ErrTorn is among them: a forged fragment word can look like a
// message cut short by a dead producer (TestHostileForgedTornMessage).
var documentedErrors = []struct {
	name string
	err  error
}{
	{"ErrCorrupt", ring.ErrCorrupt}, {"ErrClosed", ring.ErrClosed}, {"ErrPeerClosed", ring.ErrPeerClosed}, {"ErrRingClosed", ring.ErrRingClosed}, {"EOF", io.EOF},
	{"ErrTorn", ring.ErrTorn},
	{"ErrPeerDead", ring.ErrPeerDead}, {"ErrPeerUnresponsive", ring.ErrPeerUnresponsive},
	{"ErrRoleTaken", ring.ErrRoleTaken}, {"ErrEmpty", ring.ErrEmpty}, {"ErrFull", ring.ErrFull},
	{"ErrShortBuffer", io.ErrShortBuffer},
	{"deadline", context.DeadlineExceeded}, {"deadline", context.Canceled},
}

func documented(err error) bool { return outcome(err) != "undocumented" }

// outcome names the result of a call.
func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	for _, e := range documentedErrors {
		if errors.Is(err, e.err) {
			return e.name
		}
	}
	return "undocumented"
}

// TestHostileTargeted (RELIABILITY item 18): one corruption at a time,
// aimed at a side blocked in a call. The call returns ErrCorrupt naming
// the bad value, promptly (no later than the next liveness check, as
// nothing wakes it), and reads nothing outside the ring.
func TestHostileTargeted(t *testing.T) {
	cases := []struct {
		name    string
		blocked string // "consumer" (on an empty ring) or "producer" (on a full one)
		corrupt func(h *hostileRing)
		want    string
	}{
		{"length-too-large", "consumer", func(h *hostileRing) { h.forge(h.u64(offTail).Load(), uint32(h.slotSize-3)) }, "length"},
		{"length-huge", "consumer", func(h *hostileRing) { h.forge(h.u64(offTail).Load(), ^uint32(0)) }, "length"},
		{"continuation-at-start", "consumer", func(h *hostileRing) { h.forge(h.u64(offTail).Load(), 1<<30|4) }, "where a message begins"},
		{"tail-beyond-head", "producer", func(h *hostileRing) { h.u64(offTail).Store(h.u64(offHead).Load() + 1) }, "consumer cursor"},
		{"tail-backwards", "producer", func(h *hostileRing) { h.u64(offTail).Store(h.u64(offTail).Load() - 1) }, "consumer cursor"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			shmtest.NoLeaks(t)
			h := newHostileRing(t, 40, 8)
			p, err := h.prodRing.Producer()
			require.NoError(t, err)
			cons, err := h.consRing.Consumer()
			require.NoError(t, err)
			sz := stream.Upto(36)
			buf := make([]byte, 36)
			// Some traffic first, so the cursors are off zero and wrapped.
			for i := range uint64(13) {
				require.NoError(t, p.Send(context.Background(), sz.Put(buf, i)))
				_, err := cons.Recv(context.Background(), buf)
				require.NoError(t, err)
			}
			var call func(ctx context.Context) error
			if c.blocked == "consumer" {
				call = func(ctx context.Context) error {
					m, err := cons.Recv(ctx, buf)
					if err == nil {
						return fmt.Errorf("received %d bytes", m)
					}
					return err
				}
			} else {
				for i := range uint64(8) {
					require.NoError(t, p.Send(context.Background(), sz.Put(buf, 13+i)))
				}
				call = func(ctx context.Context) error { return p.Send(ctx, sz.Put(buf, 21)) }
			}
			done := make(chan error, 1)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			go func() { done <- call(ctx) }()
			time.Sleep(20 * time.Millisecond) // let it block
			c.corrupt(h)
			select {
			case err := <-done:
				require.ErrorIs(t, err, ring.ErrCorrupt)
				require.Contains(t, err.Error(), c.want)
			case <-time.After(30 * time.Second):
				t.Fatal("the blocked call did not notice the corruption")
			}
		})
	}
}

// TestHostileBeforeCall (RELIABILITY item 18): the ring is corrupted while
// the consumer is between calls, not blocked in one. A forged slot (marked
// published, with a length or flags no producer writes) is refused by
// every receiving call with ErrCorrupt naming it, and not taken. A
// corrupt producer cursor changes nothing: Recv, TryRecv and Peek take
// slots by their lap marks and never read it, and RecvBatch, which waits
// for it, takes a slot only if its mark says published (docs/LAYOUT.md).
// Every call behaves as on the intact ring, takes nothing (ErrEmpty, or
// its deadline) and waits no longer than its context, and the next
// message the producer sends arrives intact.
func TestHostileBeforeCall(t *testing.T) {
	corruptions := []struct {
		name    string
		corrupt func(h *hostileRing)
		want    string // in the ErrCorrupt; "": the corruption must change nothing
	}{
		{"head-beyond-capacity", func(h *hostileRing) { h.u64(offHead).Store(h.u64(offTail).Load() + uint64(h.slots) + 1) }, ""},
		{"head-backwards", func(h *hostileRing) { h.u64(offHead).Store(h.u64(offHead).Load() - 1) }, ""},
		{"head-huge", func(h *hostileRing) { h.u64(offHead).Store(1 << 63) }, ""},
		{"head-ahead", func(h *hostileRing) { h.u64(offHead).Store(h.u64(offHead).Load() + 3) }, ""},
		{"forged-length", func(h *hostileRing) { h.forge(h.u64(offTail).Load(), ^uint32(0)) }, "length"},
		{"forged-continuation", func(h *hostileRing) { h.forge(h.u64(offTail).Load(), 1<<30|4) }, "where a message begins"},
	}
	calls := []struct {
		name string
		call func(ctx context.Context, c *ring.Consumer, buf []byte) error
	}{
		{"Recv", func(ctx context.Context, c *ring.Consumer, buf []byte) error { _, err := c.Recv(ctx, buf); return err }},
		{"TryRecv", func(_ context.Context, c *ring.Consumer, buf []byte) error { _, err := c.TryRecv(buf); return err }},
		{"Peek", func(ctx context.Context, c *ring.Consumer, buf []byte) error { _, err := c.Peek(ctx); return err }},
		{"RecvBatch", func(ctx context.Context, c *ring.Consumer, buf []byte) error {
			_, err := c.RecvBatch(ctx, 0, func([]byte) error { return nil })
			return err
		}},
	}
	for _, k := range corruptions {
		for _, c := range calls {
			t.Run(k.name+"/"+c.name, func(t *testing.T) {
				shmtest.NoLeaks(t)
				h := newHostileRing(t, 40, 8)
				p, err := h.prodRing.Producer()
				require.NoError(t, err)
				cons, err := h.consRing.Consumer()
				require.NoError(t, err)
				sz := stream.Upto(36)
				buf := make([]byte, 36)
				for i := range uint64(13) {
					require.NoError(t, p.Send(context.Background(), sz.Put(buf, i)))
					_, err := cons.Recv(context.Background(), buf)
					require.NoError(t, err)
				}
				k.corrupt(h)
				ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
				defer cancel()
				done := make(chan error, 1)
				go func() { done <- c.call(ctx, cons, buf) }()
				select {
				case err = <-done:
				case <-time.After(30 * time.Second):
					t.Fatal("the call neither returned nor noticed the corruption")
				}
				if k.want != "" {
					require.ErrorIs(t, err, ring.ErrCorrupt)
					require.Contains(t, err.Error(), k.want)
					return
				}
				if !errors.Is(err, ring.ErrEmpty) {
					require.ErrorIs(t, err, context.DeadlineExceeded, "a call on an empty ring took something")
				}
				require.NoError(t, p.Send(context.Background(), sz.Put(buf, 13)))
				n, err := cons.Recv(context.Background(), buf)
				require.NoError(t, err)
				require.NoError(t, sz.Check(buf[:n], 13), "the message after the corruption")
			})
		}
	}
}

// TestHostileBeforeClaim (RELIABILITY item 18): cursors corrupted after a
// ring was opened (and validated) but before the producer role is claimed.
// The producer's first call must report ErrCorrupt rather than trust them:
// a consumer cursor beyond the producer's would make SendBatch see room
// that is not there, and a producer cursor more than a ring ahead of the
// consumer's would make Send wait for space that can never come.
func TestHostileBeforeClaim(t *testing.T) {
	cases := []struct {
		name    string
		corrupt func(h *hostileRing)
		call    func(p *ring.Producer, msg []byte) error
	}{
		{"tail-beyond-head/SendBatch", func(h *hostileRing) { h.u64(offTail).Store(h.u64(offHead).Load() + 2) },
			func(p *ring.Producer, msg []byte) error {
				_, err := p.SendBatch(context.Background(), [][]byte{msg, msg, msg})
				return err
			}},
		{"tail-beyond-head/Send", func(h *hostileRing) { h.u64(offTail).Store(h.u64(offHead).Load() + 2) },
			func(p *ring.Producer, msg []byte) error { return p.Send(context.Background(), msg) }},
		{"head-a-ring-ahead/Send", func(h *hostileRing) { h.u64(offHead).Store(h.u64(offTail).Load() + 8 + 3) },
			func(p *ring.Producer, msg []byte) error {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				return p.Send(ctx, msg)
			}},
		{"head-a-ring-ahead/Reserve", func(h *hostileRing) { h.u64(offHead).Store(h.u64(offTail).Load() + 8 + 3) },
			func(p *ring.Producer, msg []byte) error {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				_, err := p.Reserve(ctx, len(msg))
				return err
			}},
		{"tail-beyond-head/ReserveBatch", func(h *hostileRing) { h.u64(offTail).Store(h.u64(offHead).Load() + 2) },
			func(p *ring.Producer, msg []byte) error {
				_, err := p.ReserveBatch(context.Background(), 3, len(msg))
				return err
			}},
		{"head-a-ring-ahead/ReserveBatch", func(h *hostileRing) { h.u64(offHead).Store(h.u64(offTail).Load() + 8 + 3) },
			func(p *ring.Producer, msg []byte) error {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				_, err := p.ReserveBatch(ctx, 0, len(msg))
				return err
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			shmtest.NoLeaks(t)
			h := newHostileRing(t, 40, 8)
			c.corrupt(h)
			p, err := h.prodRing.Producer()
			require.NoError(t, err)
			err = c.call(p, []byte("hostile"))
			require.ErrorIs(t, err, ring.ErrCorrupt)
			require.Contains(t, err.Error(), "consumer cursor")
		})
	}
}

// TestHostileForgedTornMessage: what a run of TestHostileWriter's long
// form found. Before either role is claimed, slot 0's word is forged to
// read as published with every flag set, more fragments to follow among
// them, and tail to 1: the segment now reads as a producer that died in
// the middle of a message the consumer had read the first slot of. The
// producer taking the role over ends that message with an abort in slot
// 1 (Producer.resume), and the consumer, starting at tail 1, finds a
// continuation there and discards it, as after any takeover. Its first
// call returns ErrTorn, documented for that case, and nothing is lost
// after it: every message sent after the claims arrives, in order.
func TestHostileForgedTornMessage(t *testing.T) {
	shmtest.NoLeaks(t)
	h := newHostileRing(t, 40, 2)
	h.u32(h.slotLen(0)).Store(0xffffffff)
	h.u64(offTail).Store(1)
	p, err := h.prodRing.Producer()
	require.NoError(t, err)
	c, err := h.consRing.Consumer()
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	buf := make([]byte, 36)
	_, err = c.Recv(ctx, buf)
	require.ErrorIs(t, err, ring.ErrTorn)
	require.Contains(t, err.Error(), "through slot 1")
	for i := range 10 {
		msg := fmt.Appendf(nil, "message %d", i)
		require.NoError(t, p.Send(ctx, msg))
		n, err := c.Recv(ctx, buf)
		require.NoError(t, err)
		require.Equal(t, string(msg), string(buf[:n]))
	}
}

// scribble is one write of the hostile writer.
type scribble struct {
	off   int
	width int // 4 or 8
	value uint64
	what  string
}

func (s scribble) String() string {
	return fmt.Sprintf("%s: %d bytes at %d = %#x", s.what, s.width, s.off, s.value)
}

// randomScribble picks a field and a value likely to hurt.
func (h *hostileRing) randomScribble(rng *rand.Rand) scribble {
	near := func(v uint64) uint64 {
		switch rng.IntN(6) {
		case 0:
			return 0
		case 1:
			return rng.Uint64()
		case 2:
			return 1 << 63
		default:
			return v + uint64(rng.IntN(4*h.slots+1)) - uint64(2*h.slots)
		}
	}
	switch rng.IntN(10) {
	case 0, 1:
		return scribble{offHead, 8, near(h.u64(offHead).Load()), "head"}
	case 2, 3:
		return scribble{offTail, 8, near(h.u64(offTail).Load()), "tail"}
	case 4, 5:
		slot := uint64(rng.IntN(h.slots))
		v := []uint64{0, uint64(h.slotSize - 4), uint64(h.slotSize - 3), 1 << 31, 0xffffffff, uint64(rng.Uint32()), uint64(rng.IntN(h.slotSize))}[rng.IntN(7)]
		return scribble{h.slotLen(slot), 4, v, fmt.Sprintf("length of slot %d", slot)}
	case 6:
		return scribble{offState, 4, []uint64{0, 1, 3, 5, 7, uint64(rng.Uint32())}[rng.IntN(6)], "state"}
	case 7:
		off := []int{offDataSeq, offConsSleep, offSpaceSeq, offProdSleep}[rng.IntN(4)]
		return scribble{off, 4, uint64(rng.Uint32() % 3), "futex word"}
	case 8:
		side := []int{offProducerOwner, offConsumerOwner}[rng.IntN(2)]
		if rng.IntN(2) == 0 {
			return scribble{side, 8, rng.Uint64(), "owner"}
		}
		return scribble{side + offCounters + 8*rng.IntN(4), 8, rng.Uint64(), "counter"}
	default:
		off := []int{offMagic, offHeaderSize, offSlotSize, offSlotCount, offSegSize}[rng.IntN(5)]
		return scribble{off, 4, uint64(rng.Uint32()), "geometry"}
	}
}

func (h *hostileRing) write(s scribble) {
	if s.width == 8 {
		h.u64(s.off).Store(s.value)
	} else {
		h.u32(s.off).Store(uint32(s.value))
	}
}

// TestHostileWriter (RELIABILITY item 18): a hostile writer attached to a
// live ring scribbles random cursors, slot lengths, state, futex words,
// owners, counters and geometry fields while a producer and a consumer run
// ("live"), while only a producer runs and blocks on a full ring
// ("blocked-producer"), and while only a consumer runs and blocks on an
// empty one ("blocked-consumer"); in a third of the runs it starts before
// the roles are claimed. Every call must return (a deadline of 20-80 ms
// bounds each run; a call still inside the ring 10 s after it is a hang),
// with a message that lies within its slot or with a documented error, and
// nothing may panic. The seed and the writes of a failing run are printed.
// SHMRING_HOSTILE_RUNS sets the runs per scenario.
func TestHostileWriter(t *testing.T) {
	runs := int(knob(t, envHostileRuns, 40, 10))
	for _, scenario := range []string{"live", "blocked-producer", "blocked-consumer"} {
		t.Run(scenario, func(t *testing.T) {
			shmtest.NoLeaks(t)
			rng := newRNG(t)
			outcomes := map[string]int{}
			for run := range runs {
				hostileRun(t, rng, scenario, run, outcomes)
			}
			t.Logf("%d runs: call outcomes %v", runs, outcomes)
		})
	}
}

func hostileRun(t *testing.T, rng *rand.Rand, scenario string, run int, outcomes map[string]int) {
	slotSize := []int{8, 16, 24, 40, 72, 264}[rng.IntN(6)]
	slots := []int{2, 4, 8, 16, 64}[rng.IntN(5)]
	var log []scribble
	fail := func(format string, args ...any) {
		t.Helper()
		var b strings.Builder
		for _, s := range log {
			fmt.Fprintf(&b, "\n  %v", s)
		}
		t.Fatalf("run %d (%s, %d slots of %d): %s\nwrites so far:%s", run, scenario, slots, slotSize, fmt.Sprintf(format, args...), b.String())
	}
	h := newHostileRing(t, slotSize, slots)
	maxLen := slotSize - 4
	var mu sync.Mutex
	record := func(side string, err error) {
		mu.Lock()
		outcomes[side+" "+outcome(err)]++
		mu.Unlock()
	}
	// A third of the runs corrupt the header before the roles are
	// claimed (the ring was validated when it was opened).
	if rng.IntN(3) == 0 {
		for n := 1 + rng.IntN(3); n > 0; n-- {
			s := h.randomScribble(rng)
			log = append(log, s)
			h.write(s)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(20+rng.IntN(60))*time.Millisecond)
	defer cancel()

	type result struct {
		side  string
		err   error  // an undocumented error or a bad message
		panic string // a panic and its stack
	}
	results := make(chan result, 2)
	var sides int
	guard := func(side string, f func() error) {
		sides++
		go func() {
			defer func() {
				if p := recover(); p != nil {
					results <- result{side: side, panic: fmt.Sprintf("%v\n%s", p, debug.Stack())}
				}
			}()
			results <- result{side: side, err: f()}
		}()
	}

	if p, err := h.prodRing.Producer(); err != nil {
		if !documented(err) {
			fail("claiming the producer: undocumented error %v", err)
		}
		record("claim producer", err)
	} else if scenario != "blocked-consumer" {
		prng := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
		guard("producer", func() error {
			msg := make([]byte, maxLen)
			for ctx.Err() == nil {
				var err error
				switch prng.IntN(5) {
				case 0:
					err = p.Send(ctx, msg[:prng.IntN(maxLen+1)])
				case 1:
					err = p.TrySend(msg[:prng.IntN(maxLen+1)])
				case 2:
					_, err = p.SendBatch(ctx, [][]byte{msg[:1], msg[:maxLen], msg[:0]})
				case 3:
					var b ring.Batch
					if b, err = p.ReserveBatch(ctx, prng.IntN(10), prng.IntN(maxLen+1)); err == nil {
						for i := range b.Len() {
							clear(b.Slot(i))
						}
						err = p.Commit()
					}
				default:
					var b []byte
					if b, err = p.Reserve(ctx, prng.IntN(maxLen+1)); err == nil {
						clear(b)
						err = p.Commit()
					}
				}
				if err != nil && !documented(err) {
					return fmt.Errorf("producer: undocumented error %w", err)
				}
				record("producer", err)
			}
			return nil
		})
	}
	if c, err := h.consRing.Consumer(); err != nil {
		if !documented(err) {
			fail("claiming the consumer: undocumented error %v", err)
		}
		record("claim consumer", err)
	} else if scenario != "blocked-producer" {
		crng := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
		guard("consumer", func() error {
			buf := make([]byte, maxLen)
			check := func(msg []byte) error {
				if len(msg) > maxLen || !h.inside(msg) {
					return fmt.Errorf("consumer: message of %d bytes at %p, outside its slot or the ring [%#x, %#x)",
						len(msg), unsafe.SliceData(msg), h.base, h.end)
				}
				return nil
			}
			for ctx.Err() == nil {
				var err error
				switch crng.IntN(4) {
				case 0:
					var n int
					if n, err = c.Recv(ctx, buf); err == nil && n > maxLen {
						return fmt.Errorf("consumer: Recv returned %d bytes from slots of %d", n, maxLen)
					}
				case 1:
					_, err = c.TryRecv(buf)
				case 2:
					var m []byte
					if m, err = c.Peek(ctx); err == nil {
						if cerr := check(m); cerr != nil {
							return cerr
						}
						err = c.Release()
					}
				default:
					var bad error
					_, err = c.RecvBatch(ctx, 1+crng.IntN(4), func(m []byte) error {
						if bad = check(m); bad != nil {
							return bad
						}
						return nil
					})
					if bad != nil {
						return bad
					}
				}
				if err != nil && !documented(err) {
					return fmt.Errorf("consumer: undocumented error %w", err)
				}
				record("consumer", err)
			}
			return nil
		})
	}

	// The hostile writer: a burst of writes at random moments of the run.
	deadline, _ := ctx.Deadline()
	for n := 1 + rng.IntN(8); n > 0; n-- {
		// Read the time left once: read twice, the second can be past the
		// deadline, and IntN panics on a bound below one.
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		time.Sleep(time.Duration(rng.Int64N(int64(left/2) + 1)))
		s := h.randomScribble(rng)
		log = append(log, s)
		h.write(s)
	}
	hang := time.After(time.Until(deadline) + 10*time.Second)
	for range sides {
		select {
		case r := <-results:
			if r.panic != "" {
				fail("%s panicked: %s", r.side, r.panic)
			}
			if r.err != nil {
				fail("%v", r.err)
			}
		case <-hang:
			fail("a call is still inside the ring 10 s after the run's deadline: a hang\n%s", allStacks())
		}
	}
	// Close both handles as a user would; neither may hang or fault.
	closed := make(chan error, 2)
	go func() { closed <- h.prodRing.Close() }()
	go func() { closed <- h.consRing.Close() }()
	for range 2 {
		select {
		case <-closed:
		case <-time.After(30 * time.Second):
			fail("Close hangs after the run")
		}
	}
}

func allStacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}
