package ring

import (
	"context"
	"io"
	"math"
	"sync/atomic"

	"github.com/shmring/shmring/internal/platform/fence"
	"github.com/shmring/shmring/internal/platform/memcopy"
)

// Consumer is the receiving side of a ring. Get it from Ring.Consumer.
//
// A Consumer is for one goroutine at a time: its methods must not be called
// concurrently, except Close, which any goroutine may call to end the
// consumer and unblock a waiting call.
//
// Recv and TryRecv copy a message out; Peek and Release read in place
// (zero-copy); RecvBatch hands each available message to a function and
// releases them together. Every call that releases makes one store of the
// cursor, however many messages it releases.
//
// After the producer closes, the consumer receives what is left, then
// io.EOF.
//
// A consumer that keeps finding the next message already there when its
// cached copy of the producer's cursor runs out (a stream that keeps pace
// with it) pauses briefly before each such look (4 spin-wait hints), so that
// it reads several messages behind the producer rather than each one beside
// it; WaitStrategy.NoTrail turns this off, and docs/DESIGN.md, "Per-message
// sends", says why.
type Consumer struct {
	r *Ring
	h *header
	slots
	tail       uint64 // next position to read: released plus peeked
	released   uint64 // the cursor in the header
	cachedHead uint64 // the producer's cursor, as last read
	// paced counts, up to trailAfter, the catch-ups in a row (calls whose
	// cached cursor ran out) that found the next message already
	// published: the producer keeps pace, and once paced reaches trailAt
	// (trailAfter, or never with WaitStrategy.NoTrail) catch-ups trail.
	paced, trailAt int
	// batch is set while RecvBatch looks for messages: it reads head,
	// which the producer stores once per published run, instead of the
	// lap mark of the next slot, which a producer writing a batch is
	// about to store to (refreshBatch). headLied is set once head claimed
	// a slot with no mark, which no producer of this ring stores: batches
	// read marks from then on, as Recv does.
	batch, headLied bool
	// fetch is set while a wait asks for the second line of the slot
	// it waits for (fetchNext): only inside waitData. waited is tail
	// when a receiving call last had to wait: a wait that finds one
	// slot taken since the last is the next of a ping-pong of messages
	// of one slot.
	fetch  bool
	waited uint64
	// Fragmented messages (large.go). frag is fragNone, or fragSkip
	// while the rest of a torn message is to be discarded (left bytes
	// of it, or fragUnknown), or fragResync after a takeover, until the
	// first slot read says whether the dead consumer left a message
	// half read; whole is -1 in either. more is how many published
	// slots beyond one a wait waits for. asm is RecvBatch's reassembly
	// buffer, kept from call to call.
	frag   uint8
	left   uint64
	more   uint64
	asm    []byte
	closed atomic.Bool
	// rd is the reader Reader returns, one for every message (message.go).
	rd MessageReader
}

func newConsumer(r *Ring) *Consumer {
	tail := r.h.tail.Load()
	c := &Consumer{
		r: r, h: r.h, slots: newSlots(r, &r.h.cons),
		tail: tail, released: tail, cachedHead: tail, waited: tail,
		trailAt: trailAfter,
	}
	if r.opts.Wait.NoTrail {
		c.trailAt = math.MaxInt
	}
	c.claim(r, r.dataWords(), r.spaceWords(), &r.h.cons, &r.h.prod)
	if tail > 0 {
		// A consumer before this one may have died with a message
		// half read: the first slot tells (large.go).
		c.frag, c.whole = fragResync, -1
	}
	return c
}

// MaxMessage returns the largest message the ring carries: its
// max_message (Config.MaxMessage). It bounds what Recv may return, and is
// no size for a buffer unless the ring's messages are small: it is 1 GiB
// (DefaultMaxMessage) in a ring made without MaxMessage or SlotSize.
// Start with a buffer for the usual message, and grow it when Recv returns
// io.ErrShortBuffer with the length it needs (the message stays in the
// ring): see the example of Recv.
func (c *Consumer) MaxMessage() int { return int(c.maxMsg) }

// Recv copies the next message into buf and returns its length, waiting
// while the ring is empty. If buf is too short, it returns the message's
// length and io.ErrShortBuffer, and the message stays in the ring: grow
// buf to that length and call again. A buffer of MaxMessage bytes is never
// short, but may be far larger than any message sent (1 GiB by default):
// growing on io.ErrShortBuffer costs one more call per larger message. A
// fragmented message is copied as its fragments are published (a producer
// publishes them a run at a time). One that fits the ring is released with
// one store once all of it is copied, and a wait that ends in the middle
// of it leaves it in the ring, for the next call, as if none of it had been
// read; one of more fragments than the ring has slots has its slots
// released as they are copied. If the wait for the rest of such a message
// ends (ctx, the producer dead or stopped, Close), Recv returns its error
// wrapped with ErrTorn too; the next call discards the rest of the message
// and returns ErrTorn, and the call after that receives the next message. A message the producer gave
// up on (it publishes an abort) also ends in ErrTorn. No part of a message
// is ever returned as if it were whole.
//
// It returns io.EOF once the producer has closed and every message has
// been received, ErrClosed once this consumer has closed, ErrPeerDead if
// the producer's process died and everything it published has been
// received, ErrPeerUnresponsive if it was stopped, ErrCorrupt for a
// cursor, length or fragment no producer of this ring could write, and
// ctx's error if ctx ends first. Recv releases any messages returned by
// Peek: their slices must not be used after.
//
// The message is released before Recv returns: a consumer process killed
// after that loses it, and one that takes the role over starts after it.
// Peek and Release, or RecvBatch, release only what the caller has seen,
// but for a message larger than the ring, which RecvBatch releases as it
// copies it.
func (c *Consumer) Recv(ctx context.Context, buf []byte) (n int, err error) {
	c.begin()
	switch {
	case c.closed.Load():
		err = ErrClosed
	case c.tail == c.cachedHead:
		n, err = c.recvWaiting(ctx, buf)
	default:
		n, err = c.copyOut(&ctx, buf)
	}
	c.end()
	return n, err
}

// open begins a call (begin) and reports whether it may go on: the
// consumer is open. If not, the call is ended and the error is ErrClosed.
func (c *Consumer) open() error {
	c.begin()
	if c.closed.Load() {
		c.end()
		return ErrClosed
	}
	return nil
}

// recvWaiting is Recv on a ring that looked empty. The slow paths that wait
// are functions of their own: a defer in Recv itself would cost every call
// its setup.
func (c *Consumer) recvWaiting(ctx context.Context, buf []byte) (int, error) {
	if err := c.waitData(ctx); err != nil {
		return 0, err
	}
	return c.copyOut(&ctx, buf)
}

// TryRecv is Recv without waiting: it returns ErrEmpty when there is no
// message, or a fragmented message is not all published yet (it stays; an
// abort in what is published ends it, ErrTorn, as in Recv). A
// message of more fragments than the ring has slots is never there whole:
// TryRecv refuses it with ErrMessageTooLarge, and leaves it for Recv or
// RecvBatch. It never checks the producer's liveness (Ring.Stats does).
// Like Recv, it releases messages returned by Peek.
func (c *Consumer) TryRecv(buf []byte) (int, error) {
	if err := c.open(); err != nil {
		return 0, err
	}
	defer c.end()
	if c.tail == c.cachedHead {
		if ok, err := c.poll(); err != nil {
			return 0, err
		} else if !ok {
			return 0, ErrEmpty
		}
	}
	var noWait context.Context // nil: recvLarge waits for nothing
	return c.copyOut(&noWait, buf)
}

// copyOut copies the message at tail into buf and releases it. A slot the
// fast path does not take (a fragment, or any slot while a torn message is
// being discarded) goes to recvLarge, which waits under *ctx for the rest,
// or, with *ctx nil (TryRecv), does not wait; with ctx nil (recvLarge's
// own call), copyOut returns notWhole instead.
//
// ctx is a pointer: the compiler stores an interface argument to the
// stack on entry, two stores on every message for what one in a thousand
// needs, and Recv has stored its own already.
func (c *Consumer) copyOut(ctx *context.Context, buf []byte) (int, error) {
	s := c.at(c.tail)
	n := lenOf(s)
	if int(n) > c.whole {
		if ctx == nil {
			return notWhole, nil
		}
		return c.recvLarge(*ctx, buf)
	}
	if int(n) > len(buf) {
		return int(n), io.ErrShortBuffer
	}
	memcopy.Copy(buf, s[lenSize:lenSize+n])
	c.tail++
	c.bytes += uint64(n)
	// release, with publishCursor inlined here (release is not: it calls
	// settle too).
	c.released = c.tail
	if c.publishCursor(&c.h.tail, c.tail, "recv-before-release", "recv-before-wake") {
		c.settle()
	}
	return int(n), nil
}

// Peek returns the next message in place and moves past it without
// releasing its slot; Release frees every peeked slot with one store. The
// slice is valid until then (or until a Recv, TryRecv or RecvBatch, which
// release peeked messages too), and must not be written. Peek may be called
// several times before one Release (a batch). A consumer that dies before
// releasing leaves the peeked messages to be delivered again to the next
// one (at least once).
//
// With nothing peeked, Peek waits while the ring is empty. With messages
// peeked and not released it does not wait (the producer may be waiting for
// those very slots): it returns ErrEmpty, and the caller releases.
//
// A fragmented message is in several slots, not one slice: Peek returns
// an error wrapping ErrMessageTooLarge that names its length, and leaves
// it for Recv, RecvBatch, or Reader (which reads it in place). After a torn message, Peek discards the rest
// of it first, as Recv does, and returns ErrTorn.
func (c *Consumer) Peek(ctx context.Context) ([]byte, error) {
	// No defer for end, as in Recv: this is the zero-copy Recv, and
	// every call would pay it.
	if err := c.open(); err != nil {
		return nil, err
	}
	var m []byte
	var err error
	if c.tail == c.cachedHead {
		m, err = c.peekEmpty(ctx)
	} else {
		m, err = c.next(ctx)
	}
	c.end()
	return m, err
}

// peekEmpty is Peek on a ring that looked empty, inside the call.
func (c *Consumer) peekEmpty(ctx context.Context) ([]byte, error) {
	if c.tail == c.released {
		return c.peekWaiting(ctx)
	}
	// Messages peeked: look, but do not wait.
	if ok, err := c.poll(); err != nil {
		return nil, err
	} else if !ok {
		return nil, ErrEmpty
	}
	return c.next(nil) // peeked messages: do not wait
}

// peekWaiting is Peek on a ring that looked empty, with nothing peeked.
func (c *Consumer) peekWaiting(ctx context.Context) ([]byte, error) {
	if err := c.waitData(ctx); err != nil {
		return nil, err
	}
	return c.next(ctx)
}

// next moves past the message at tail and returns it; the caller checked
// that there is one. A slot the fast path does not take goes to peekLarge
// (ctx as for copyOut).
func (c *Consumer) next(ctx context.Context) ([]byte, error) {
	s := c.at(c.tail)
	n := lenOf(s)
	if int(n) > c.whole {
		return c.peekLarge(ctx)
	}
	c.lend()
	c.tail++
	c.bytes += uint64(n)
	return s[lenSize : lenSize+n : lenSize+n], nil
}

// Release frees the slots of every message returned by Peek. Releasing
// nothing is not an error.
func (c *Consumer) Release() error {
	// No defer for end, and release written out, as in Recv.
	if err := c.open(); err != nil {
		return err
	}
	if c.tail != c.released {
		c.released = c.tail
		if c.publishCursor(&c.h.tail, c.tail, "recv-before-release", "recv-before-wake") {
			c.settle()
		}
	}
	c.end()
	return nil
}

// notWhole is what copyOut (called by recvLarge) and recvBatch return, as
// a count, for a slot at tail that they do not take: a fragment, or any
// slot while a torn message is being discarded. The caller hands it to the
// slow path, with its context: recvBatch takes none, for a context still
// needed after its loop would be kept across every fn call.
const notWhole = -1

// RecvBatch waits for at least one message, then calls fn on each message
// available, up to max (all available if max <= 0), and releases them all
// with one store, together with any messages returned by Peek. msg is valid
// only during the call. If fn returns an error, RecvBatch stops there (that
// message counts as received) and returns it. It returns how many messages
// fn saw. Its errors are those of Recv, and fn's. fn must not call
// Ring.Close: the messages it reads are in the segment Close unmaps.
//
// A fragmented message ends the batch before it, or, first in a batch,
// is the batch: it is reassembled in a buffer the Consumer keeps from call
// to call (it grows to the longest message received, by what is copied
// into it), which fn sees, valid only during the call. Such a message is
// received, waited for or torn as Recv receives it. One that fits the ring
// is released after fn, as a batch is: a consumer killed in fn leaves it
// to the next one, whole. One larger than the ring cannot wait for fn in
// the ring: its slots are released as it is copied, all but the last run,
// and a consumer killed in fn leaves the next one only that run to
// discard (ErrTorn): the message is lost.
func (c *Consumer) RecvBatch(ctx context.Context, max int, fn func(msg []byte) error) (n int, err error) {
	if err := c.open(); err != nil {
		return 0, err
	}
	defer c.end()
	if c.tail == c.cachedHead {
		return c.recvBatchWaiting(ctx, max, fn)
	}
	if n, err = c.recvBatch(max, fn); n == 0 && err == nil {
		return c.recvBatchWaiting(ctx, max, fn) // head lied
	} else if n != notWhole {
		return n, err
	}
	return c.recvBatchLarge(ctx, max, fn)
}

// recvBatchWaiting is RecvBatch on a ring that looked empty.
func (c *Consumer) recvBatchWaiting(ctx context.Context, max int, fn func(msg []byte) error) (int, error) {
	c.batch = !c.headLied
	err := c.waitData(ctx)
	c.batch = false
	if err != nil {
		return 0, err
	}
	if n, err := c.recvBatch(max, fn); n == 0 && err == nil {
		return c.recvBatchWaiting(ctx, max, fn) // head lied: marks from now on
	} else if n != notWhole {
		return n, err
	}
	return c.recvBatchLarge(ctx, max, fn)
}

// release publishes the consumer's cursor and wakes the producer if it said
// it may sleep.
func (c *Consumer) release() {
	c.released = c.tail
	if c.publishCursor(&c.h.tail, c.tail, "recv-before-release", "recv-before-wake") {
		c.settle()
	}
}

// poll re-reads the producer's cursor: is there a message? After the
// producer has closed and everything is received it returns io.EOF.
func (c *Consumer) poll() (bool, error) {
	if c.closed.Load() {
		return false, ErrClosed
	}
	if c.batch {
		c.refreshBatch()
	} else {
		c.scan()
	}
	if c.cachedHead-c.tail > c.more {
		return true, nil
	}
	if c.h.state.Load()&stateProducerClosed != 0 {
		// The producer publishes before it sets the flag: look again.
		if c.scan(); c.cachedHead-c.tail > c.more {
			return true, nil
		}
		if c.closed.Load() { // closed while we looked: that came first
			return false, ErrClosed
		}
		// Also when a wait for the rest of a fragmented message
		// that fits the ring (more) found part of it: its producer
		// closed without finishing it (closedMid tears it).
		return false, io.EOF
	}
	if c.fetch {
		c.fetchNext()
	}
	return false, nil
}

// fetchNext asks the CPU for the second cache line of the slot the
// consumer waits for (fence.Prefetch). A wait that expects a message
// spilling into that line (fetch) calls it at every poll that finds the
// slot unpublished. The copy reads the second line only after the first
// line's word said the slot is published: without the hint, that is a
// second miss to the producer's CPU, after the first. Asked for at every
// poll, the line comes again soon after the producer writes it, while the
// word is on its way.
func (c *Consumer) fetchNext() {
	fence.Prefetch(secondLine(c.at(c.cachedHead))) // c.size > fetchSlot > 64
}

// When a wait fetches (docs/DESIGN.md, "Smaller choices"): in a ping-pong
// (one slot taken since the last wait) of messages that spill into their
// slot's second line and are at most fetchMax bytes (lastFetchable), in
// slots longer than fetchSlot bytes; not in RecvBatch while it polls the
// producer's cursor (batch), not the slot. On the project VM the CPU
// fetches the line unasked in slots of up to 768 bytes, and asking made no
// difference in 512-byte slots; a message of 500 bytes or more is mostly
// copy, and polls that take the line back while the producer writes it
// cost more than they save (a round trip of 1 KiB messages: some 100 ns
// more).
const (
	fetchSlot = 768 // bytes in a slot
	fetchMax  = 256 // bytes in a message
)

// fetching reports whether the wait about to begin fetches.
func (c *Consumer) fetching() bool {
	return !c.batch && c.size > fetchSlot && c.tail-c.waited == 1 && c.lastFetchable()
}

// lastFetchable reports whether the message at tail-1, the last taken, is
// of one slot and of 61 to fetchMax bytes: one that spilled into its
// slot's second line, where slots are 64-byte aligned (a segment's slots
// of a multiple of 64 bytes; elsewhere the cut is approximate). Its word
// is an atomic load: the slot may be released, and the producer writing
// it again.
func (c *Consumer) lastFetchable() bool {
	n := atomic.LoadUint32(lenWord(c.at(c.tail-1))) &^ lapBit
	return n > 64-lenSize && n <= fetchMax // a fragment's flags make n larger
}

// refresh looks for a message published at cachedHead: is there a
// message? It reads the lap mark of that slot, not the producer's cursor
// (layout.go, lapBit), and moves cachedHead past it if it is marked
// published, but never to more than a ring beyond what this consumer
// released, whatever the marks say. One slot: it inlines into every
// catch-up (TestInlining), which needs one message; scan looks further.
func (c *Consumer) refresh() bool {
	if c.cachedHead-c.released != c.n && c.sealed(c.cachedHead) {
		c.cachedHead++
	}
	return c.cachedHead != c.tail
}

// refreshBatch is refresh for RecvBatch: is there a message? It reads
// head, not the lap mark of the slot at cachedHead. A consumer that polls
// marks and keeps up with a stream of batches reads each slot's line as
// the producer writes it, and the two CPUs pass the lines back and forth;
// head is one line, stored once per run the producer publishes. recvBatch
// checks the mark of every slot it takes, so a head that claims more than
// was published takes nothing (headLied). A head more than a ring beyond
// what was released, or behind cachedHead, changes nothing.
//
// It inlines into waitData's polls, as refresh does: a consumer whose head
// lied does not use it (batch stays false, and poll scans).
func (c *Consumer) refreshBatch() bool {
	// head in (cachedHead, released+n], in one unsigned compare.
	if h := c.h.head.Load(); h-c.cachedHead-1 < c.released+c.n-c.cachedHead {
		c.cachedHead = h
	}
	return c.cachedHead != c.tail
}

// pollAll is poll that also reads the marks beyond head in a batch: the
// poll before a sleep, and the final poll after the producer was found
// dead, whose marks with no head after them are delivered too. A stream
// never gets here; a wait that does reads one more line.
func (c *Consumer) pollAll() (bool, error) {
	if c.batch { // poll scans already, out of a batch
		c.scan()
	}
	return c.poll()
}

// scan moves cachedHead past every slot marked published from cachedHead
// on, up to a ring beyond what was released: what a batch, a wait for a
// whole fragmented message, or a trailing consumer looks for.
//
//go:noinline
func (c *Consumer) scan() {
	h, end := c.cachedHead, c.released+c.n
	for h != end && c.sealed(h) {
		h++
	}
	c.cachedHead = h
}

// waitData is a receiving call's catch-up: its cached copy of the producer's
// cursor ran out. It looks at the cursor once (after a pause, when
// trailing), and waits if that finds nothing. The caller is inside a call
// (slots.begin), so a Ring.Close in another goroutine cannot unmap under
// its reads.
func (c *Consumer) waitData(ctx context.Context) error {
	trail := c.paced >= c.trailAt
	if trail {
		fence.Pause(trailPauses)
	}
	if c.batch && c.refreshBatch() || !c.batch && c.refresh() {
		if trail && !c.batch {
			c.scan() // how far the producer got during the pause
		}
		switch {
		case trail && c.cachedHead-c.tail == 1:
			// The pause found no more than was there before it:
			// the producer is not streaming, and pausing only
			// delays this consumer.
			c.paced = 0
		case c.paced < trailAfter:
			c.paced++
		}
		return nil
	}
	c.paced = 0
	c.fetch = c.fetching()
	c.waited = c.tail
	// The wait's first polls (backoff.first), here and inlined. Only
	// with nothing peeked: the wait releases peeked slots first, which
	// the producer may be waiting for.
	if c.tail == c.released {
		for range c.b.first {
			if c.fetch {
				c.fetchNext()
			}
			fence.Pause(1)
			if c.batch && c.refreshBatch() || !c.batch && c.refresh() {
				c.fetch = false
				c.stalls++ // it had to wait, as a wait that polls counts
				if hookWaited != nil {
					hookWaited()
				}
				return nil
			}
		}
	}
	err := c.waitFor(ctx, c)
	c.fetch = false
	return err
}

// Trailing a producer that keeps pace (docs/DESIGN.md, "Per-message
// sends"). A consumer that is a little faster than its producer catches up
// with it every message or two, and each time reads the producer's cursor
// while the producer is about to write it again, and the slots next to the
// one the producer is writing: every message then moves those cache lines
// between the two CPUs once more. After trailAfter catch-ups in a row that
// found a message already published, the consumer pauses briefly before it
// reads the cursor, so that it finds several messages at once and reads
// behind the producer instead of beside it. A pause that finds a single
// message (a request answered before it was asked for, not a stream) ends
// it. WaitStrategy.NoTrail turns it off.
const (
	trailAfter  = 8
	trailPauses = 4 // spin-wait hints: about 100 ns on the project VM; a hint's length varies by CPU
)

// beforeWait releases peeked messages: a consumer must never sleep on slots
// the producer may be waiting for.
func (c *Consumer) beforeWait() {
	if c.tail != c.released {
		c.release()
	}
	c.stalls++
}

// peerCursor is the producer's cursor as last read.
func (c *Consumer) peerCursor() uint64 { return c.cachedHead }

// flushCounters copies the statistics to the header; the waiter calls it
// before sleeping and when a wait fails.
func (c *Consumer) flushCounters() { c.flush(c.me) }

// Close ends the consumer. From then on every sending call of the producer
// returns ErrPeerClosed: nothing will read what it sends. It wakes a call of this
// consumer blocked in another goroutine (which returns ErrClosed) and the
// producer. A second Close returns ErrClosed. Close does not unmap the
// segment: Ring.Close does.
func (c *Consumer) Close() error {
	c.closes.Add(1) // a read-modify-write: a full fence, no Heavy needed
	defer c.closes.Add(-1)
	if !c.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	c.r.closeSide(stateConsumerClosed, &c.h.cons)
	return nil
}
