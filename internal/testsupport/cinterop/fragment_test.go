package cinterop_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/futex"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

// Messages of any size across the language boundary (layout 3.0,
// docs/LAYOUT.md, "Fragments"): streams of fragmented messages from Go to
// C, from C to Go and from C to C, of sizes around every boundary of the
// format and up to thousands of rings, with short buffers on the way; the
// C consumer's checks of hostile slots, which the Go consumer must agree
// with; and messages torn by a call that ended, or a process that died, in
// the middle of one, with the role taken over by the other language. The
// C side is testdata/script.c, driven command by command; a "raw" producer
// is this test writing slots and head itself, as a broken or dying
// producer would leave them.

// The bits of a slot's length word (docs/LAYOUT.md, "Fragments" and "Lap
// marks"; C: SHMRING_FRAG_* and SHMRING_LAP_BIT, which TestLayoutAgreement
// compares with these).
const (
	fragMore  uint32 = 1 << 31
	fragCont  uint32 = 1 << 30
	fragAbort uint32 = 1 << 29
	lapBit    uint32 = 1 << 28
)

// ready is the lap mark of the slot at cursor position seq, in a ring of
// slots slots, once it is published: set on even laps, clear on odd ones.
func ready(seq, slots uint64) uint32 {
	if seq&slots == 0 {
		return lapBit
	}
	return 0
}

// C's codes (enum shmring_status) these tests expect, besides those of
// shared_test.go.
const (
	cECorrupt  = -1011
	cEShortBuf = -1015
	cETorn     = -1018
)

// The ring of these tests: 8 slots of 64 bytes. A slot holds 60 bytes of a
// whole message, a first fragment 52; the longest message that fits the
// ring (and is published at once) is 52 + 7*60 = 472 bytes, and anything
// longer is streamed.
const (
	fragSlot  = 64
	fragSlots = 8
	fragPay   = fragSlot - 4
	fragFirst = fragPay - 8
	fragFits  = fragFirst + (fragSlots-1)*fragPay
	fragMax   = 4 << 20 // the ring's max_message
)

// fragSizes are message sizes on both sides of every boundary: empty, a
// slot's payload, two fragments exactly, the ring exactly, then 10 rings
// and 2000 rings (512 under -short).
func fragSizes() []int {
	return []int{0, 1, fragPay - 1, fragPay, fragPay + 1, fragFirst + fragPay, fragFirst + fragPay + 1,
		fragFits, fragFits + 1, 10 * fragSlot * fragSlots, pick(2000, 512) * fragSlot * fragSlots, 7}
}

// fragments is the number of slots a message of n bytes takes in the
// test ring (docs/LAYOUT.md, "Fragments").
func fragments(n int) uint64 {
	if n <= fragPay {
		return 1
	}
	return 1 + uint64((n-fragFirst+fragPay-1)/fragPay)
}

// pattern returns n bytes of the pattern of seed, testdata/script.c's
// pattern: byte i is i*131 + seed*977 + i/512, modulo 256.
func pattern(n int, seed uint64) []byte {
	b := make([]byte, n)
	for i := range b {
		u := uint64(i)
		b[i] = byte(u*131 + seed*977 + u>>9)
	}
	return b
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// patternCRC is the CRC-32C of pattern(n, seed), which the C side prints
// for what it received.
func patternCRC(n int, seed uint64) uint32 { return crc32.Checksum(pattern(n, seed), castagnoli) }

// encode returns the slots a producer writes for msg in the test ring:
// one whole slot, or a first fragment (length word, total, payload),
// middle fragments and the last one; each holds the length word and
// what follows it, no padding.
func encode(msg []byte) [][]byte {
	le := binary.LittleEndian
	if len(msg) <= fragPay {
		return [][]byte{append(le.AppendUint32(nil, uint32(len(msg))), msg...)}
	}
	first := le.AppendUint32(nil, fragMore|fragFirst)
	first = le.AppendUint64(first, uint64(len(msg)))
	slots := [][]byte{append(first, msg[:fragFirst]...)}
	for rest := msg[fragFirst:]; len(rest) > 0; {
		n, w := len(rest), fragCont
		if n > fragPay {
			n, w = fragPay, fragMore|fragCont
		}
		slots = append(slots, append(le.AppendUint32(nil, w|uint32(n)), rest[:n]...))
		rest = rest[n:]
	}
	return slots
}

// word is a slot that holds a length word and nothing else.
func word(w uint32) []byte { return binary.LittleEndian.AppendUint32(nil, w) }

// rawProducer writes slots into a ring's segment (of fragSlots slots of
// fragSlot bytes) and publishes them, as a producer does: it marks them
// published (their lap marks, in cursor order) and stores head. It does so
// without the role: the consumer's liveness checks take a free role for a
// live one. The caller keeps to the free slots.
type rawProducer struct {
	t      *testing.T
	b      []byte
	head   uint64 // next position to write
	marked uint64 // first position not marked published
}

func newRawProducer(t *testing.T, r *ring.Ring) *rawProducer {
	t.Helper()
	b, err := r.Segment().Bytes()
	require.NoError(t, err)
	return &rawProducer{t: t, b: b}
}

// wordAt is the length word of the slot of position seq.
func (w *rawProducer) wordAt(seq uint64) *uint32 {
	return (*uint32)(unsafe.Pointer(&w.b[ring.HeaderSize+int(seq%fragSlots)*fragSlot]))
}

// write copies slots into the slots from head on, unpublished: each word
// with the lap mark of a slot not yet published, whatever bit 28 of the
// slot given.
func (w *rawProducer) write(slots ...[]byte) {
	for _, s := range slots {
		require.LessOrEqual(w.t, len(s), fragSlot)
		require.GreaterOrEqual(w.t, len(s), 4)
		at := ring.HeaderSize + int(w.head%fragSlots)*fragSlot
		copy(w.b[at+4:at+fragSlot], s[4:])
		word := binary.LittleEndian.Uint32(s)&^lapBit | (ready(w.head, fragSlots) ^ lapBit)
		atomic.StoreUint32(w.wordAt(w.head), word)
		w.head++
	}
}

// mark marks every slot written and not yet marked published, in cursor
// order, with atomic stores as a producer's; head stays as it was.
func (w *rawProducer) mark() {
	for ; w.marked != w.head; w.marked++ {
		w.markOne(w.marked)
	}
}

// markOne marks the slot of position seq published, alone, as a producer
// marking a run does before the run's first slot.
func (w *rawProducer) markOne(seq uint64) {
	p := w.wordAt(seq)
	atomic.StoreUint32(p, atomic.LoadUint32(p)&^lapBit|ready(seq, fragSlots))
}

// published reports, for each of the n slots from position seq on,
// whether it is marked published.
func (w *rawProducer) published(seq uint64, n int) []bool {
	marks := make([]bool, n)
	for i := range marks {
		marks[i] = atomic.LoadUint32(w.wordAt(seq+uint64(i)))&lapBit == ready(seq+uint64(i), fragSlots)
	}
	return marks
}

// publish marks what was written and stores head, an atomic store as a
// producer's.
func (w *rawProducer) publish() {
	w.mark()
	atomic.StoreUint64(w.headWord(), w.head)
}

// headWord is the header's head cursor.
func (w *rawProducer) headWord() *uint64 {
	return (*uint64)(unsafe.Pointer(&w.b[ring.FieldOffset("head")]))
}

// wake wakes a consumer that sleeps on the ring, as a producer does after
// it publishes: bump data_seq, then FUTEX_WAKE on it.
func (w *rawProducer) wake() {
	seq := (*uint32)(unsafe.Pointer(&w.b[ring.FieldOffset("data_seq")]))
	atomic.AddUint32(seq, 1)
	_, err := futex.Wake(seq, 1)
	require.NoError(w.t, err)
}

// closeProducer sets the PRODUCER_CLOSED bit, as a producer's close does.
func (w *rawProducer) closeProducer() {
	atomic.OrUint32((*uint32)(unsafe.Pointer(&w.b[ring.FieldOffset("state")])), 2)
}

// recvcrc runs "recvcrc TIMEOUT CAP" and returns the code, the length and
// the CRC-32C the C consumer printed.
func (s *cScript) recvcrc(timeout string, cap int) (rc, n int, sum uint32) {
	s.t.Helper()
	s.send(fmt.Sprintf("recvcrc %s %d", timeout, cap))
	return s.recvcrcAnswer()
}

// recvcrcAnswer reads the answer to a recvcrc sent with send.
func (s *cScript) recvcrcAnswer() (rc, n int, sum uint32) {
	s.t.Helper()
	v := s.numbers("recvcrc", 3)
	require.LessOrEqual(s.t, v[2], int64(math.MaxUint32), "answer to recvcrc: the CRC")
	return int(v[0]), int(v[1]), uint32(v[2])
}

// numbers reads the answer to cmd: its name, then n decimal numbers.
func (s *cScript) numbers(cmd string, n int) []int64 {
	s.t.Helper()
	f := s.next()
	require.Len(s.t, f, n+1, "answer to %s: %q", cmd, f)
	require.Equal(s.t, cmd, f[0])
	v := make([]int64, n)
	for i := range v {
		var err error
		v[i], err = strconv.ParseInt(f[i+1], 10, 64)
		require.NoError(s.t, err, "answer to %s: %q", cmd, f)
	}
	return v
}

// recvdirty is a C recv into cap bytes zeroed first: its code, the length
// it reported, and how many of the cap bytes it wrote (that are no longer
// zero).
func (s *cScript) recvdirty(timeout string, cap int) (rc, n, dirty int) {
	s.t.Helper()
	s.send(fmt.Sprintf("recvdirty %s %d", timeout, cap))
	v := s.numbers("recvdirty", 3)
	return int(v[0]), int(v[1]), int(v[2])
}

// recvPattern receives one message with the C consumer and checks that it
// is pattern(n, seed).
func (s *cScript) recvPattern(n int, seed uint64) {
	s.t.Helper()
	rc, got, sum := s.recvcrc("-1", 0)
	require.Equal(s.t, 0, rc, "C recv of the %d-byte message of seed %d", n, seed)
	require.Equal(s.t, n, got, "C recv: length of the message of seed %d", seed)
	require.Equal(s.t, patternCRC(n, seed), sum, "C recv: CRC-32C of the %d-byte message of seed %d", n, seed)
}

// fragRing creates the test ring (in a segment; removed when the test
// ends) and a C script that has opened it.
func fragRing(t *testing.T) (context.Context, *ring.Ring, int32, *cScript) {
	t.Helper()
	shmtest.NoLeaks(t)
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	r, key, _ := newRing(t, ring.Config{SlotSize: fragSlot, Slots: fragSlots, MaxMessage: fragMax})
	c := startScript(t, ctx)
	c.ok(fmt.Sprintf("open %d", key))
	return ctx, r, key, c
}

// TestFragmentsGoToC: the Go producer sends messages of every size of
// fragSizes, up to 2000 times the ring; the C consumer receives each with
// the CRC-32C of its pattern, after a buffer one byte short has left every
// fragmented one in the ring (SHMRING_ESHORTBUF with the total length),
// including those larger than the ring, which the producer is streaming
// meanwhile. The counters agree: bytes received, and slots (not messages)
// released.
func TestFragmentsGoToC(t *testing.T) {
	ctx, r, _, c := fragRing(t)
	p, err := r.Producer()
	require.NoError(t, err)
	c.ok("consumer")
	sizes := fragSizes()
	sent := make(chan error, 1)
	go func() {
		for i, n := range sizes {
			if err := p.Send(ctx, pattern(n, uint64(i+1))); err != nil {
				sent <- fmt.Errorf("Go send of %d bytes: %w", n, err)
				return
			}
		}
		sent <- nil
	}()
	var total, slots uint64
	for i, n := range sizes {
		if n > fragPay {
			rc, got, _ := c.recvcrc("-1", n-1)
			require.Equal(t, cEShortBuf, rc, "C recv of %d bytes into %d", n, n-1)
			require.Equal(t, n, got, "the total length, with SHMRING_ESHORTBUF")
		}
		c.recvPattern(n, uint64(i+1))
		total += uint64(n)
		slots += fragments(n)
	}
	require.NoError(t, <-sent)
	c.ok("flush")
	st := c.stats()
	require.Equal(t, total, st["consumer_bytes"])
	require.Equal(t, slots, st["consumer_messages"], "the consumer's cursor counts slots")
	require.Equal(t, slots, r.Stats().Producer.Messages)
}

// TestFragmentsCToGo: the C producer sends every size of fragSizes; the
// Go consumer receives each byte for byte, after a buffer one byte short
// (io.ErrShortBuffer with the total length) on every fragmented one.
func TestFragmentsCToGo(t *testing.T) {
	ctx, r, _, c := fragRing(t)
	cons, err := r.Consumer()
	require.NoError(t, err)
	c.ok("producer")
	sizes := fragSizes()
	for i, n := range sizes {
		c.send(fmt.Sprintf("sendpat %d %d -1", n, i+1))
	}
	buf := make([]byte, fragMax)
	var total uint64
	for i, n := range sizes {
		if n > fragPay {
			got, err := cons.Recv(ctx, buf[:n-1])
			require.ErrorIs(t, err, io.ErrShortBuffer, "Go recv of %d bytes into %d", n, n-1)
			require.Equal(t, n, got, "the total length, with io.ErrShortBuffer")
		}
		got, err := cons.Recv(ctx, buf)
		require.NoError(t, err, "Go recv of the %d-byte message", n)
		require.True(t, bytes.Equal(pattern(n, uint64(i+1)), buf[:got]), "the %d-byte message of seed %d, %d bytes received", n, i+1, got)
		total += uint64(n)
	}
	for range sizes {
		require.Zero(t, c.code("sendpat"))
	}
	c.ok("flush")
	require.Equal(t, total, r.Stats().Producer.Bytes, "the C producer's byte count")
}

// TestFragmentsCToC: two C processes, the producer creating the ring with
// a max_message far above its slots (which the Go opener reads), send
// and receive every size of fragSizes; closing both sides removes the
// ring.
func TestFragmentsCToC(t *testing.T) {
	shmtest.NoLeaks(t)
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	key := shmtest.Key(t)
	prod, cons := startScript(t, ctx), startScript(t, ctx)
	prod.ok(fmt.Sprintf("create %d %d %d %d", key, fragSlot, fragSlots, fragMax))
	t.Cleanup(func() {
		if id, err := shmseg.Open(shmseg.Key(key)); err == nil {
			_ = shmseg.Remove(id)
		}
	})
	prod.ok("producer")
	cons.ok(fmt.Sprintf("open %d", key), "consumer")
	require.Equal(t, uint64(fragMax), cons.stats()["max_message"], "C reads the max_message C wrote")

	g, err := ring.Open(shmseg.Key(key), ring.Options{})
	require.NoError(t, err)
	b, err := g.Segment().Bytes()
	require.NoError(t, err)
	require.Equal(t, uint64(fragMax), binary.LittleEndian.Uint64(b[ring.FieldOffset("max_message"):]),
		"max_message as the C creator wrote it, where the Go layout has it")
	require.Equal(t, fragSlot, g.SlotSize())
	require.NoError(t, g.Close())

	sizes := fragSizes()
	for i, n := range sizes {
		prod.send(fmt.Sprintf("sendpat %d %d -1", n, i+1))
	}
	for i, n := range sizes {
		cons.recvPattern(n, uint64(i+1))
	}
	for range sizes {
		require.Zero(t, prod.code("sendpat"))
	}
	prod.ok("close")
	cons.ok("close")
	_, err = shmseg.Open(shmseg.Key(key))
	require.ErrorIs(t, err, shmseg.ErrNotExist, "both sides closed: the ring is gone")
}

// TestFragmentCorrupt: slots no producer of the ring writes, each in a
// fresh ring: the C consumer's recv returns SHMRING_ECORRUPT, and the Go
// consumer's Recv ring.ErrCorrupt. Among them totals that would size
// anything from the segment (2^63), a last fragment whose length makes the
// total but is longer than a slot (read, it would reach past the slot),
// continuations where a message must begin (outside a takeover), and a
// message begun anew where a continuation is due. The message fits is published at once; big is
// streamed, so its bad slot comes after the consumer has copied some.
func TestFragmentCorrupt(t *testing.T) {
	fits := encode(pattern(300, 1)) // 6 slots
	big := encode(pattern(2000, 2)) // 34 slots, larger than the ring
	first := func(total uint64, n uint32) []byte {
		return binary.LittleEndian.AppendUint64(word(fragMore|n), total)
	}
	// with returns slots with slot i replaced.
	with := func(slots [][]byte, i int, s []byte) [][]byte {
		out := append([][]byte{}, slots...)
		out[i] = s
		return out
	}
	// shorten returns slot s with its length one less (or more).
	shorten := func(s []byte, by int) []byte {
		w := binary.LittleEndian.Uint32(s)
		return append(word(uint32(int(w)+by)), s[4:]...)
	}
	for _, tc := range []struct {
		name  string
		slots [][]byte
	}{
		{"whole message longer than a slot", [][]byte{word(fragPay + 1)}},
		{"length of 2^28-1 without flags", [][]byte{word(lapBit - 1)}},
		{"total that fits a slot", [][]byte{first(fragPay, fragFirst), word(fragCont | 8)}},
		{"total above max_message", [][]byte{first(fragMax+1, fragFirst)}},
		{"total of 2^63", [][]byte{first(1<<63, fragFirst)}},
		{"first fragment not full", with(fits, 0, shorten(fits[0], -1))},
		{"first fragment overfull", with(fits, 0, shorten(fits[0], +1))},
		{"middle fragment not full", with(fits, 2, shorten(fits[2], -1))},
		{"last fragment short of the total", with(fits, 5, shorten(fits[5], -1))},
		{"last fragment past the total", with(fits, 5, shorten(fits[5], +1))},
		{"last fragment where a middle is due", with(fits, 2, append(word(fragCont|fragPay), fits[2][4:]...))},
		{"last fragment longer than a slot, ending the total", [][]byte{
			append(first(fragFirst+fragPay+1, fragFirst), pattern(fragFirst, 3)...),
			append(word(fragCont|(fragPay+1)), pattern(fragPay+1, 3)[:fragPay]...),
			word(1), // the third of the slots the total takes, so that both wait no longer
		}},
		{"whole message where a continuation is due", with(fits, 3, word(5))},
		{"first fragment where a continuation is due", with(fits, 3, fits[0])},
		{"continuation at a message start", [][]byte{fits[1]}},
		{"last fragment at a message start", [][]byte{fits[5]}},
		{"abort at a message start", [][]byte{word(fragCont | fragAbort)}},
		{"abort without CONT", [][]byte{word(fragAbort)}},
		{"abort with a length", append(big[:3:3], word(fragCont|fragAbort|1))},
		{"abort with MORE", append(big[:3:3], word(fragMore|fragCont|fragAbort))},
		{"MORE and ABORT", [][]byte{word(fragMore | fragAbort | fragFirst)}},
		{"streamed: middle fragment not full", with(big[:fragSlots], 4, shorten(big[4], -1))},
		{"streamed: a new message where a continuation is due", with(big[:fragSlots], 4, big[0])},
		{"streamed: whole message where a continuation is due", with(big[:fragSlots], 4, word(1))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refused(t, tc.slots, wait, func(ctx context.Context, cons *ring.Consumer) error {
				wctx, cancel := context.WithTimeout(ctx, time.Millisecond)
				defer cancel()
				_, err := cons.Recv(wctx, make([]byte, fragMax))
				return err
			})
		})
	}
	// A message that fits the ring, published up to its corrupt word and
	// no further, read without waiting: the C recv with timeout 0 looks
	// at the words before it copies, and must stop at that word as the
	// copy would, not report the message unfinished (SHMRING_EEMPTY, for
	// as long as the rest does not come). Go's TryRecv stops there too.
	for _, tc := range []struct {
		name  string
		slots [][]byte
	}{
		{"whole message where a continuation is due", with(fits, 3, word(5))[:4]},
		{"first fragment where a continuation is due", with(fits, 3, fits[0])[:4]},
		{"middle fragment not full", with(fits, 2, shorten(fits[2], -1))[:3]},
		{"last fragment where a middle is due", with(fits, 2, append(word(fragCont|fragPay), fits[2][4:]...))[:3]},
	} {
		t.Run("rest-unpublished/"+tc.name, func(t *testing.T) {
			refused(t, tc.slots, "0", func(_ context.Context, cons *ring.Consumer) error {
				_, err := cons.TryRecv(make([]byte, fragMax))
				return err
			})
		})
	}
}

// refused publishes slots, raw, to a C consumer, whose recv with timeout
// must return SHMRING_ECORRUPT, and again to a Go one, whose recv must
// return ring.ErrCorrupt: each in a ring of its own (fragRing).
func refused(t *testing.T, slots [][]byte, timeout string, recv func(context.Context, *ring.Consumer) error) {
	t.Run("c", func(t *testing.T) {
		_, r, _, c := fragRing(t)
		raw := newRawProducer(t, r)
		raw.write(slots...)
		raw.publish()
		c.ok("consumer")
		rc, _, _ := c.recvcrc(timeout, 0)
		require.Equal(t, cECorrupt, rc, "C recv, timeout %s", timeout)
	})
	t.Run("go", func(t *testing.T) {
		ctx, r, _, _ := fragRing(t)
		raw := newRawProducer(t, r)
		raw.write(slots...)
		raw.publish()
		cons, err := r.Consumer()
		require.NoError(t, err)
		require.ErrorIs(t, recv(ctx, cons), ring.ErrCorrupt, "Go recv")
	})
}

// TestFragmentTornC: a message larger than the ring, cut short, is never
// delivered in part to the C consumer: it gets SHMRING_ETORN (length 0),
// and then the next message whole. Cut by its own call's timeout (the call
// returns SHMRING_ETIMEOUT, the next discards the rest), by an abort slot
// (its producer gave up), or by the producer closing (SHMRING_ETORN, then
// SHMRING_EOF). A message that fits the ring, which Go's producer publishes
// in runs, is torn only by its producer's death between two runs: a wait
// for the rest that ends leaves it whole, and the abort of the producer
// that takes over ends it at once, with nothing published after it.
func TestFragmentTornC(t *testing.T) {
	torn := encode(pattern(600, 1)) // 11 slots: streamed
	next := pattern(100, 2)         // 2 slots: fits the ring

	t.Run("timeout", func(t *testing.T) {
		_, r, _, c := fragRing(t)
		raw := newRawProducer(t, r)
		raw.write(torn[:fragSlots]...)
		raw.publish()
		c.ok("consumer")
		rc, _, _ := c.recvcrc(wait, 0)
		require.Equal(t, cTimeout, rc, "C recv of a message whose rest never comes")
		require.Equal(t, uint64(fragSlots), c.stats()["consumer_messages"], "released as it was read")
		raw.write(torn[fragSlots:]...)
		raw.write(encode(next)...)
		raw.publish()
		rc, n, _ := c.recvcrc("-1", 0)
		require.Equal(t, []int{cETorn, 0}, []int{rc, n}, "the next call discards the rest")
		c.recvPattern(len(next), 2)
	})

	t.Run("abort", func(t *testing.T) {
		_, r, _, c := fragRing(t)
		raw := newRawProducer(t, r)
		raw.write(torn[:5]...)
		raw.write(word(fragCont | fragAbort))
		raw.write(encode(next)...)
		raw.publish()
		c.ok("consumer")
		rc, n, _ := c.recvcrc("-1", 0)
		require.Equal(t, []int{cETorn, 0}, []int{rc, n}, "C recv of a message its producer aborted")
		c.recvPattern(len(next), 2)
	})

	for _, timeout := range []string{"-1", "0"} {
		// With timeout 0, the look at the fragments' words before any
		// copy finds the abort too, and leaves it to the copy.
		t.Run("abort-in-a-message-fitting-the-ring/timeout="+timeout, func(t *testing.T) {
			_, r, _, c := fragRing(t)
			raw := newRawProducer(t, r)
			fits := encode(pattern(300, 3)) // 6 slots
			raw.write(fits[:3]...)
			raw.write(word(fragCont | fragAbort))
			raw.publish()
			c.ok("consumer")
			rc, n, _ := c.recvcrc(timeout, 0)
			require.Equal(t, []int{cETorn, 0}, []int{rc, n})
			raw.write(encode(next)...)
			raw.publish()
			c.recvPattern(len(next), 2)
		})
	}

	t.Run("message-fitting-the-ring-published-in-part", func(t *testing.T) {
		_, r, _, c := fragRing(t)
		raw := newRawProducer(t, r)
		fits := encode(pattern(300, 3)) // 6 slots: published 2 at a time by Go
		raw.write(fits[:2]...)
		raw.publish()
		c.ok("consumer")
		rc, _, _ := c.recvcrc("0", 0)
		require.Equal(t, cEEmpty, rc, "C recv with timeout 0 of a message not all published")
		rc, _, dirty := c.recvdirty("0", 400)
		require.Equal(t, []int{cEEmpty, 0}, []int{rc, dirty},
			"C recv with timeout 0 of a message not all published: code, bytes copied")
		rc, _, _ = c.recvcrc(wait, 0)
		require.Equal(t, cTimeout, rc, "C recv of a message whose rest does not come yet")
		require.Zero(t, r.Stats().Consumer.Messages, "nothing of it released")
		raw.write(word(fragCont | fragAbort)) // its producer died; the next one aborts it
		raw.publish()
		rc, n, _ := c.recvcrc(wait, 0)
		require.Equal(t, []int{cETorn, 0}, []int{rc, n}, "the abort ends it, nothing published after it")
		raw.write(encode(next)...)
		raw.publish()
		c.recvPattern(len(next), 2)
	})

	for _, late := range []bool{false, true} {
		for _, timeout := range []string{"-1", "0"} {
			t.Run(fmt.Sprintf("message-fitting-the-ring-producer-closed/late-run=%v/timeout=%s", late, timeout), func(t *testing.T) {
				// A Go producer whose Ring.Close stopped waiting for its
				// Send may close with part of such a message published, and
				// publish a run of the rest after its close; so may a C one
				// closed from another thread.
				_, r, _, c := fragRing(t)
				raw := newRawProducer(t, r)
				fits := encode(pattern(300, 3))
				raw.write(fits[:2]...)
				raw.publish()
				raw.closeProducer()
				c.ok("consumer")
				rc, n, _ := c.recvcrc(timeout, 0)
				require.Equal(t, []int{cETorn, 0}, []int{rc, n}, "C recv of a message whose producer closed in its middle")
				require.Equal(t, uint64(2), r.Stats().Consumer.Messages, "what was published of it released")
				if late {
					raw.write(fits[2:]...)
					raw.publish()
					rc, n, _ = c.recvcrc("-1", 0)
					require.Equal(t, []int{cETorn, 0}, []int{rc, n}, "the late rest discarded, not corrupt")
				}
				rc, _, _ = c.recvcrc("-1", 0)
				require.Equal(t, cEOF, rc, "then the end of the stream")
			})
		}
	}

	t.Run("message-fitting-the-ring-in-runs", func(t *testing.T) {
		_, r, _, c := fragRing(t)
		raw := newRawProducer(t, r)
		msg := pattern(300, 4)
		fits := encode(msg)
		raw.write(fits[:2]...)
		raw.publish()
		c.ok("consumer")
		rc, _, _ := c.recvcrc(wait, 0)
		require.Equal(t, cTimeout, rc)
		raw.write(fits[2:]...)
		raw.publish()
		c.recvPattern(len(msg), 4)
	})

	for _, late := range []bool{false, true} {
		t.Run(fmt.Sprintf("producer-closed/late-run=%v", late), func(t *testing.T) {
			_, r, _, c := fragRing(t)
			raw := newRawProducer(t, r)
			raw.write(torn[:5]...)
			raw.publish()
			raw.closeProducer()
			c.ok("consumer")
			rc, n, _ := c.recvcrc("-1", 0)
			require.Equal(t, []int{cETorn, 0}, []int{rc, n}, "C recv of a message whose producer closed")
			if late {
				// A run of the rest published after the close: a Go
				// producer whose ring was closed under its Send.
				raw.write(torn[5:7]...)
				raw.publish()
				rc, n, _ = c.recvcrc("-1", 0)
				require.Equal(t, []int{cETorn, 0}, []int{rc, n}, "the late run discarded, not corrupt")
			}
			rc, _, _ = c.recvcrc("-1", 0)
			require.Equal(t, cEOF, rc, "then the end of the stream")
		})
	}
}

// TestFragmentZeroTimeout: a message larger than the ring needs waiting,
// so a C call that may not wait (timeout 0, Go's TrySend and TryRecv)
// refuses it with SHMRING_ETOOLARGE and leaves it as it was: the send
// publishes nothing, the message to receive stays (a short buffer is said
// first, with the length), and a call that may wait then takes it. A
// fragmented message that fits the ring goes with timeout 0.
func TestFragmentZeroTimeout(t *testing.T) {
	const cETooLarge = -1005
	t.Run("send", func(t *testing.T) {
		_, r, _, c := fragRing(t)
		c.ok("producer")
		require.Equal(t, cETooLarge, c.do("sendpat 600 1 0"), "C send of 11 slots with timeout 0")
		require.Zero(t, r.Stats().Producer.Messages, "nothing published")
		require.Zero(t, c.do(fmt.Sprintf("sendpat %d 2 0", fragFits)), "C send of 8 slots, the ring, with timeout 0")
		require.Equal(t, uint64(fragSlots), r.Stats().Producer.Messages)
	})
	t.Run("recv", func(t *testing.T) {
		_, r, _, c := fragRing(t)
		raw := newRawProducer(t, r)
		msg := pattern(600, 1)
		frags := encode(msg)
		raw.write(frags[:fragSlots]...)
		raw.publish()
		c.ok("consumer")
		rc, n, _ := c.recvcrc("0", 100)
		require.Equal(t, []int{cEShortBuf, len(msg)}, []int{rc, n}, "a short buffer first")
		rc, n, _ = c.recvcrc("0", 0)
		require.Equal(t, []int{cETooLarge, len(msg)}, []int{rc, n}, "C recv of 11 slots with timeout 0")
		require.Zero(t, r.Stats().Consumer.Messages, "nothing released")
		c.send("recvcrc -1 0")
		waitUntil(t, t.Context(), "the C consumer to release the ring", func() bool {
			return r.Stats().Consumer.Messages == fragSlots
		})
		raw.write(frags[fragSlots:]...)
		raw.publish()
		raw.wake()
		rc, n, sum := c.recvcrcAnswer()
		require.Equal(t, []int{0, len(msg)}, []int{rc, n})
		require.Equal(t, patternCRC(len(msg), 1), sum)
	})
}

// TestFragmentConsumerTakeover: a C consumer dies in the middle of a
// message larger than the ring, having released part of it; a consumer
// that takes the role over, in C or in Go, discards the rest (SHMRING_ETORN,
// ring.ErrTorn) and then reads the next message whole.
func TestFragmentConsumerTakeover(t *testing.T) {
	torn := encode(pattern(600, 1)) // 11 slots
	next := pattern(100, 2)
	for _, taker := range []string{"c", "go"} {
		t.Run(taker, func(t *testing.T) {
			ctx, r, key, dying := fragRing(t)
			raw := newRawProducer(t, r)
			raw.write(torn[:fragSlots]...)
			raw.publish()
			dying.ok("consumer")
			rc, _, _ := dying.recvcrc(wait, 0)
			require.Equal(t, cTimeout, rc)
			dying.kill()
			require.Equal(t, uint64(fragSlots), r.Stats().Consumer.Messages, "the dead consumer released what it read")
			raw.write(torn[fragSlots:]...)
			raw.write(encode(next)...)
			raw.publish()

			if taker == "c" {
				c := startScript(t, ctx)
				c.ok(fmt.Sprintf("open %d", key), "consumer")
				rc, n, _ := c.recvcrc("-1", 0)
				require.Equal(t, []int{cETorn, 0}, []int{rc, n}, "C, taking over, discards the rest")
				c.recvPattern(len(next), 2)
				return
			}
			cons, err := r.Consumer()
			require.NoError(t, err)
			buf := make([]byte, fragMax)
			_, err = cons.Recv(ctx, buf)
			require.ErrorIs(t, err, ring.ErrTorn, "Go, taking over, discards the rest")
			n, err := cons.Recv(ctx, buf)
			require.NoError(t, err)
			require.Equal(t, next, buf[:n])
		})
	}
}

// TestFragmentProducerTorn: a C producer's send of a message larger than
// the ring times out with the ring full, part of the message published.
// The producer that sends next, the same C process or, after it died, one
// that takes the role over in C or in Go, publishes an abort first: the
// consumer (Go, or C) gets the torn message's beginning, then
// SHMRING_ETORN or ring.ErrTorn, then the next message whole.
func TestFragmentProducerTorn(t *testing.T) {
	const tornLen = 600 // 11 slots
	next := pattern(100, 2)
	for _, tc := range []struct {
		name     string
		die      bool   // the producer dies after its send timed out
		producer string // who sends next: "c" (the same, or a new one), "go"
		consumer string // "c", "go"
	}{
		{name: "same-c-producer", producer: "c", consumer: "c"},
		{name: "c-takes-over/go-consumer", die: true, producer: "c", consumer: "go"},
		{name: "go-takes-over/c-consumer", die: true, producer: "go", consumer: "c"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, r, key, first := fragRing(t)
			first.ok("producer")
			require.Equal(t, cTimeout, first.do(fmt.Sprintf("sendpat %d 1 %s", tornLen, wait)),
				"a send larger than the ring, nobody reading")
			require.Equal(t, uint64(fragSlots), r.Stats().Producer.Messages, "it published what the ring holds")
			then := first
			if tc.die {
				first.kill()
				if tc.producer == "c" {
					then = startScript(t, ctx)
					then.ok(fmt.Sprintf("open %d", key), "producer")
				}
			}

			// The consumer reads the beginning, and waits for the rest.
			var goErr chan error
			var c *cScript
			if tc.consumer == "c" {
				c = startScript(t, ctx)
				c.ok(fmt.Sprintf("open %d", key), "consumer")
				c.send("recvcrc -1 0")
			} else {
				cons, err := r.Consumer()
				require.NoError(t, err)
				goErr = make(chan error, 1)
				go func() {
					buf := make([]byte, fragMax)
					_, err := cons.Recv(ctx, buf)
					if !errors.Is(err, ring.ErrTorn) {
						goErr <- fmt.Errorf("Go recv of the torn message: want ring.ErrTorn, got %v", err)
						return
					}
					n, err := cons.Recv(ctx, buf)
					if err == nil && !bytes.Equal(next, buf[:n]) {
						err = fmt.Errorf("Go recv after the torn message: %d bytes, not the next message", n)
					}
					goErr <- err
				}()
			}

			if tc.producer == "go" {
				p, err := r.Producer()
				require.NoError(t, err, "Go takes the dead C producer's role over")
				require.NoError(t, p.Send(ctx, next))
			} else {
				require.Zero(t, then.do(fmt.Sprintf("sendpat %d 2 -1", len(next))))
			}

			if c != nil {
				rc, n, _ := c.recvcrcAnswer()
				require.Equal(t, []int{cETorn, 0}, []int{rc, n}, "C recv of the torn message")
				c.recvPattern(len(next), 2)
			} else {
				require.NoError(t, <-goErr)
			}
		})
	}
}

// TestWholeAboveMaxMessage: in a ring whose max_message (40) is less than
// a slot's payload (60), both consumers refuse a whole message longer than
// max_message, which no producer of the ring sends, as corrupt, and the C
// producer refuses to send one: the limit is the ring's, not the slot's,
// in both languages.
func TestWholeAboveMaxMessage(t *testing.T) {
	const maxMsg, cETooLarge = 40, -1005
	setup := func(t *testing.T) (context.Context, *ring.Ring, *cScript) {
		shmtest.NoLeaks(t)
		ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
		t.Cleanup(cancel)
		r, key, _ := newRing(t, ring.Config{SlotSize: fragSlot, Slots: fragSlots, MaxMessage: maxMsg})
		c := startScript(t, ctx)
		c.ok(fmt.Sprintf("open %d", key))
		return ctx, r, c
	}
	slot := append(word(maxMsg+1), pattern(maxMsg+1, 1)...)
	t.Run("c consumer", func(t *testing.T) {
		_, r, c := setup(t)
		raw := newRawProducer(t, r)
		raw.write(slot)
		raw.publish()
		c.ok("consumer")
		rc, _, _ := c.recvcrc(wait, 0)
		require.Equal(t, cECorrupt, rc, "C recv of %d bytes in a ring of max_message %d", maxMsg+1, maxMsg)
	})
	t.Run("go consumer", func(t *testing.T) {
		ctx, r, _ := setup(t)
		raw := newRawProducer(t, r)
		raw.write(slot)
		raw.publish()
		cons, err := r.Consumer()
		require.NoError(t, err)
		_, err = cons.Recv(ctx, make([]byte, fragPay))
		require.ErrorIs(t, err, ring.ErrCorrupt, "Go Recv")
	})
	t.Run("c producer", func(t *testing.T) {
		_, _, c := setup(t)
		c.ok("producer", fmt.Sprintf("send %d 0", maxMsg))
		require.Equal(t, cETooLarge, c.do(fmt.Sprintf("send %d 0", maxMsg+1)), "C send above max_message")
	})
}
