package ring

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/bits"
	"sync/atomic"

	"github.com/shmring/shmring/internal/platform/fence"
)

// slots indexes the slot area, and holds what a side keeps for the calls
// that publish and wait. Shared by Producer and Consumer.
type slots struct {
	area []byte
	size uint64 // bytes per slot
	mask uint64 // count-1
	n    uint64 // count
	// lap is log2(count): bit lap of a cursor is its lap's parity.
	lap uint8
	// payload is the most a slot holds: size-4 bytes.
	payload int
	// single is the longest message in one slot: payload, or max_message
	// if that is less (a message longer than max_message is refused
	// even where a slot would hold it).
	single int
	// whole is the longest message (producer) or length word (consumer)
	// the single-slot fast paths take: single, or -1 while this side
	// must first end or discard a message left unfinished (producer:
	// mid, consumer: skip or resync), so that every call takes the slow
	// path, which does that first. One comparison serves both.
	whole int
	// maxMsg is the ring's max_message: the longest message either side
	// sends or accepts.
	maxMsg uint64
	// streamRun is how many fragments of a message larger than the ring
	// a side copies between two stores of its cursor (streamRunFor).
	streamRun uint64
	// relaxed: publish with a release store. True in a ring with
	// asymmetric fences until the peer asks for full ones (wakeSleeper).
	relaxed bool
	// active is 1 while a call of this side may touch the segment
	// (begin, end); Ring.Close waits for it to be 0 before it unmaps.
	active atomic.Uint32
	// closes counts the side's Close calls under way, from any
	// goroutine; Ring.Close waits for it to be 0 as well.
	closes atomic.Int32
	// pending is 1 while the caller may hold slices into the segment
	// (lend, settled).
	pending atomic.Uint32
	counters
	waiter
}

// store publishes cursor value v: a release store when relaxed (the
// sleeper's membarrier supplies the rest), else a store no later load may
// pass (fence.StoreFull64, in race builds too). See the protocol in wait.go.
func (s *slots) store(c *atomic.Uint64, v uint64) {
	if s.relaxed {
		fence.Store64(u64(c), v)
	} else {
		fence.StoreFull64(c, v)
	}
}

// wakePeer wakes the peer if it announced it may sleep. The Load keeps the
// common case (nobody sleeps) free of read-modify-write instructions.
func (s *slots) wakePeer() {
	if s.peer.sleeping.Load() != 0 {
		s.wakeSleeper()
	}
}

// wakeSleeper answers the peer's request for full fences, if it made one
// and this side has not answered yet, then wakes the peer unless another
// publication already did (the Swap makes a burst of publications wake
// once).
func (s *slots) wakeSleeper() {
	w := s.peer
	if s.relaxed && w.wantsFence.Load() != 0 {
		// From now on every publication is a full fence. The answer
		// is one too, so every relaxed store before it is visible
		// before the peer can see the answer.
		s.relaxed = false
		fence.StoreFull32(w.fenced, 1)
	}
	if w.sleeping.Swap(0) != 0 {
		s.me.wakes.Add(1)
		w.wake()
	}
}

// publishCursor is the publication step (C, D in wait.go), the one every
// call that publishes or releases ends with: it stores v to this side's
// cursor, then reports whether the rare work is due, which the caller then
// does with settle: the peer may sleep (D), the counters are due for a copy
// to the header (every flushEvery stores), or the caller may have held
// slices into the segment (lend), which it holds no longer. Every caller
// writes
//
//	if s.publishCursor(...) {
//		s.settle()
//	}
//
// so that publishCursor itself makes no call but the store and inlines
// into every call that publishes (TestInlining): a call is a frame and
// spills on every message. before and beforeWake name the crash points
// around the store, which exist only in the fault-injection build
// (crash_on.go); in any other the compiler drops them.
func (s *slots) publishCursor(cursor *atomic.Uint64, v uint64, before, beforeWake string) (settle bool) {
	if crashPoints {
		crash(before)
	}
	s.store(cursor, v)
	if crashPoints {
		crash(beforeWake)
	}
	s.unflushed++
	return s.peer.sleeping.Load() != 0 || s.unflushed >= flushEvery || s.pending.Load() != 0
}

// settle is the rare work after a store of this side's cursor
// (publishCursor): it records that no slice is lent, wakes the peer if it
// may sleep, and copies the counters to the header when they are due.
func (s *slots) settle() {
	s.settled()
	s.wakePeer()
	if s.unflushed >= flushEvery {
		s.flush(s.me)
	}
}

// newSlots indexes r's slot area for a side whose header block is me; its
// counters resume where a previous holder of the role left them.
func newSlots(r *Ring, me *side) slots {
	single := int(r.g.slotSize) - lenSize
	if r.g.maxMsg < uint64(single) {
		single = int(r.g.maxMsg)
	}
	return slots{
		area:      r.buf[HeaderSize:r.g.segSize],
		size:      r.g.slotSize,
		mask:      r.g.slots - 1,
		n:         r.g.slots,
		lap:       uint8(bits.TrailingZeros64(r.g.slots)),
		payload:   int(r.g.slotSize) - lenSize,
		single:    single,
		whole:     single,
		maxMsg:    r.g.maxMsg,
		streamRun: streamRunFor(r.g.slots, r.g.slotSize),
		relaxed:   r.asym,
		counters:  loadCounters(me),
	}
}

// begin marks this side as inside a call that may touch the segment; end
// unmarks it. Every exported method of Producer and Consumer that touches
// the segment runs between the two, and looks whether the side is closed
// only after begin: Ring.Close closes the sides, then waits for the mark to
// go before it unmaps, so a call either sees the side closed and touches
// nothing, or Close sees the mark and waits for the call to end. That is a
// Dekker pair (store the mark, load closed; store closed, load the mark).
// The mark is a release store, a plain MOV on amd64, because it is paid on
// every call; Close, which runs once, pays for the store-load ordering
// with fence.Heavy (membarrier), which makes the mark visible or the load
// see closed. Where membarrier is not to be had, Close waits a millisecond
// instead: a store sits in a CPU's store buffer for nanoseconds.
func (s *slots) begin() { fence.Store32(word(&s.active), 1) }

// end is a release store: the call's reads and writes of the segment come
// before it.
func (s *slots) end() { fence.Store32(word(&s.active), 0) }

// lend records that the caller holds slices into the segment (reserved
// or peeked, not yet published or released): Ring.Close then swaps the
// segment for private memory instead of unmapping it under them. Only the
// side's goroutine writes it, before its end's release store; Close reads
// it after it has seen the call end.
func (s *slots) lend() {
	if s.pending.Load() == 0 {
		fence.Store32(word(&s.pending), 1)
	}
}

// settled records that no slice into the segment is in the caller's hands
// any more.
func (s *slots) settled() {
	if s.pending.Load() != 0 {
		fence.Store32(word(&s.pending), 0)
	}
}

// at returns the slot for cursor position seq. The mask keeps the index in
// range whatever seq is, so a corrupt cursor cannot reach outside the area.
func (s *slots) at(seq uint64) []byte {
	off := (seq & s.mask) * s.size
	return s.area[off : off+s.size : off+s.size]
}

// lenOf returns slot s's length word without its lap mark: the length and
// fragment flags.
func lenOf(s []byte) uint32 { return binary.LittleEndian.Uint32(s) &^ lapBit }

// ready is the lap mark of the slot at seq once its message is published:
// lapBit on even laps, 0 on odd ones (layout.go).
func (s *slots) ready(seq uint64) uint32 {
	return ^uint32(seq>>s.lap) << 28 & lapBit
}

// sealed reports whether the slot at seq carries its lap's ready mark:
// an acquire load, after which its payload may be read.
func (s *slots) sealed(seq uint64) bool {
	w := atomic.LoadUint32(lenWord(s.area[(seq&s.mask)*s.size:]))
	return (w^uint32(seq>>s.lap)<<28)&lapBit != 0 // bit 28 is not the lap's parity
}

func (s *slots) tooLarge(n int) error {
	return fmt.Errorf("%w: %d bytes, the ring carries at most %d", ErrMessageTooLarge, n, s.maxMsg)
}

// counters are a side's statistics, kept in the process and copied to the
// header every flushEvery publications and before the side sleeps, so
// neither the fast path nor a short wait costs a shared store.
type counters struct {
	bytes     uint64
	stalls    uint64
	unflushed int
}

const flushEvery = 64

// loadCounters resumes the counts a previous holder of the role left.
func loadCounters(s *side) counters {
	return counters{bytes: s.bytes.Load(), stalls: s.stalls.Load()}
}

// flush copies the counters to the header. Statistics need no fence, so the
// stores are release stores whatever the ring's mode.
func (c *counters) flush(s *side) {
	fence.Store64(u64(&s.bytes), c.bytes)
	fence.Store64(u64(&s.stalls), c.stalls)
	c.unflushed = 0
}

// Producer is the sending side of a ring. Get it from Ring.Producer.
//
// A Producer is for one goroutine at a time: its methods must not be called
// concurrently, except Close, which any goroutine may call to end the
// producer and unblock a waiting call.
//
// Messages are published in order. Send and SendBatch copy; Reserve,
// ReserveBatch and Commit write in place (zero-copy). Every call that
// publishes makes one store of the cursor, however many messages it
// publishes: batching is what makes a ring fast, and ReserveBatch is the
// fastest way to send messages of one length.
type Producer struct {
	r *Ring
	h *header
	slots
	head      uint64 // next position to write: published plus reserved
	published uint64 // the cursor in the header
	// marked is the first position whose slot does not carry its ready
	// lap mark yet: published <= marked <= head (markRun).
	marked uint64
	// restMarked is head after a putRun or reserveRun that began the run
	// at marked and marked every slot of it but the first: while head is
	// still there, and no word was held since (hold clears it), markRun
	// has only the first to mark.
	restMarked uint64
	cachedTail uint64 // the consumer's cursor, as last read
	// held: the reservation at head-1 (Reserve) has its length in
	// heldLen, not yet in its slot's word, which the publication writes
	// once, after the payload, with the mark (markRun). A consumer
	// waiting for that slot polls its line: a word stored at Reserve
	// would take the line from it, and the payload's stores and the mark
	// would each have to take it back.
	held    bool
	heldLen uint32
	heldSeq uint64 // its position: slots taken after it (SendBatch, Writer) move head on
	// more is how many free slots beyond one a wait waits for: a
	// fragmented message that fits the ring is written once all its
	// slots are free (large.go).
	more uint64
	// mid: a message was begun and not finished (a streaming send
	// ended early, or the producer this one took over from died in
	// one); the next call that publishes publishes an abort first.
	// whole is -1 meanwhile.
	mid    bool
	closed atomic.Bool
	// wr is the writer Writer returns, one for every message (message.go).
	wr MessageWriter
}

func newProducer(r *Ring) *Producer {
	p := &Producer{r: r, h: r.h, slots: newSlots(r, &r.h.prod)}
	p.claim(r, r.spaceWords(), r.dataWords(), &r.h.prod, &r.h.cons)
	p.start(r.h.head.Load(), r.h.tail.Load())
	p.resume()
	return p
}

// start sets the producer's cursors for a role just claimed, from the
// header's head and tail. A producer before this one may have marked slots
// published (lap marks) and died before it stored head: the consumer may
// have read them already, or be reading them. So this one starts after
// every slot from head on that carries its lap's ready mark, never
// writing over one, and stores that as head. Such slots are whole
// messages (or fragments, which resume then finds unfinished), and the
// consumer receives them. The run cannot be longer than a ring: a slot a
// lap on reads as not published.
//
// After the first slot not published there may be a run of marked ones: a
// markRun cut short (it marks a run's first slot last). No consumer can
// have read them, since it reads in order, and they must not be read: this
// producer writes those slots anew, and a stale mark would hand the
// consumer a slot while it is being written. So they are marked not
// published first, from the last back: a producer killed while it clears
// them leaves a shorter run after the same slot, which the next one finds
// and clears (cleared front to back, it would leave marks beyond a
// cleared slot, which no later scan reaches).
func (p *Producer) start(head, tail uint64) {
	for i := uint64(0); i < p.n && p.sealed(head); i++ {
		head++
	}
	end := head + 1
	for end < head+p.n && p.sealed(end) {
		end++
	}
	for seq := end; seq > head+1; seq-- {
		if hookClear != nil && !hookClear(seq-1) {
			break
		}
		w := lenWord(p.at(seq - 1))
		fence.Store32(w, *w&^lapBit|p.ready(seq-1)^lapBit)
	}
	p.head, p.published, p.marked, p.cachedTail = head, head, head, tail
	if p.r.h.head.Load() != head {
		p.r.h.head.Store(head)
	}
}

// MaxMessage returns the largest message this producer can send: the
// ring's max_message (Config.MaxMessage). A message longer than a slot's
// payload travels in fragments.
func (p *Producer) MaxMessage() int { return int(p.maxMsg) }

// Send copies msg into the next slot and publishes it, waiting while the
// ring is full. A message longer than a slot's payload (SlotSize-4 bytes)
// goes in fragments, one per slot: if it fits the ring it is written once
// enough slots are free, and published a run of fragments at a time
// without waiting again (so a Send that fails published none of it); if it
// takes more slots than the ring has, it streams, each run of fragments
// published as slots free up. A
// streaming Send that ends early (ctx, the consumer dead or closed, Close)
// returns its error wrapped with ErrTorn too: the consumer discards what it
// got of the message, and the next send first publishes an abort that ends
// it.
//
// It returns ErrMessageTooLarge for a message longer than MaxMessage,
// ErrClosed once this producer has closed, ErrPeerClosed once the consumer
// has closed (nobody would read it), ErrPeerDead if the consumer's process
// died while the ring was full, ErrPeerUnresponsive if it was stopped,
// ErrCorrupt for a consumer cursor no consumer could write, and ctx's error
// if ctx ends first. Pending reservations are published with it.
func (p *Producer) Send(ctx context.Context, msg []byte) error {
	if len(msg) > p.whole {
		return p.sendLarge(ctx, msg)
	}
	if !p.opened() {
		return p.closedErr()
	}
	if p.head-p.cachedTail >= p.n {
		err := p.sendWaiting(ctx, msg)
		p.end()
		return err
	}
	p.markPending()
	p.put(msg)
	// publish, with publishCursor inlined here (publish is not: it
	// calls settle too).
	p.published = p.head
	if p.publishCursor(&p.h.head, p.head, "send-before-publish", "send-before-wake") {
		p.settle()
	}
	p.end()
	return nil
}

// closedErr is the error of a call that found this producer closed
// (ErrClosed) or the consumer closed (ErrPeerClosed).
func (p *Producer) closedErr() error {
	if p.closed.Load() {
		return ErrClosed
	}
	return fmt.Errorf("%w: the consumer has closed the ring; nothing will read what is sent", ErrPeerClosed)
}

// open begins a call (begin) and reports whether it may go on: the
// producer and the consumer are open. If not, the call is ended and err
// says why.
func (p *Producer) open() error {
	if !p.opened() {
		return p.closedErr()
	}
	return nil
}

// opened is open's test, small enough to inline into the calls that pay
// it on every message (Send, Reserve, Commit): it begins a call and
// reports whether it may go on, having ended it if not. closedErr, which
// reads no shared memory, then says why.
func (p *Producer) opened() bool {
	p.begin()
	if p.closed.Load() || p.h.state.Load()&stateConsumerClosed != 0 {
		p.end()
		return false
	}
	return true
}

// sendWaiting is Send on a ring that looked full. The slow paths that wait
// are functions of their own: a defer in Send itself would cost every call
// its setup.
func (p *Producer) sendWaiting(ctx context.Context, msg []byte) error {
	if err := p.waitSpace(ctx); err != nil {
		return err
	}
	p.markPending()
	p.put(msg)
	p.publish()
	return nil
}

// TrySend is Send without waiting: it returns ErrFull when the ring has
// not the room for the message, which for a fragmented message means all
// its slots: it is sent all or not at all. A message of more fragments
// than the ring has slots can never be: TrySend refuses it with
// ErrMessageTooLarge, naming the slot counts (Send streams it). It never
// checks the consumer's liveness (Ring.Stats does).
func (p *Producer) TrySend(msg []byte) error {
	if len(msg) > p.whole {
		return p.sendLarge(nil, msg)
	}
	if err := p.open(); err != nil {
		return err
	}
	defer p.end()
	if p.head-p.cachedTail >= p.n {
		if ok, err := p.poll(); err != nil {
			return err
		} else if !ok {
			return ErrFull
		}
	}
	p.markPending()
	p.put(msg)
	p.publish()
	return nil
}

// SendBatch sends msgs in order and publishes them with one store per run
// of free slots, waiting while the ring is full. It returns how many were
// sent; on error, msgs[n:] were not. A message longer than MaxMessage is
// refused before any is sent. A message longer than a slot's payload is
// sent as Send sends it, in fragments; if its stream ends early, the error
// wraps ErrTorn as Send's does, and it is not counted in n.
func (p *Producer) SendBatch(ctx context.Context, msgs [][]byte) (n int, err error) {
	for _, m := range msgs {
		if len(m) > p.whole {
			return p.sendBatchLarge(ctx, msgs)
		}
	}
	if err := p.open(); err != nil {
		return 0, err
	}
	defer p.end()
	return p.sendWhole(ctx, msgs)
}

// sendWhole is SendBatch's loop for messages that each fit a slot, inside
// a call.
func (p *Producer) sendWhole(ctx context.Context, msgs [][]byte) (n int, err error) {
	for n < len(msgs) {
		if p.closed.Load() {
			return n, ErrClosed
		}
		// used > p.n only if the cursor read at claim time was
		// corrupt (beyond head): poll refuses it.
		if used := p.head - p.cachedTail; used > p.n || uint64(len(msgs)-n) > p.n-used {
			if _, err := p.poll(); err != nil {
				return n, err
			}
			if p.head-p.cachedTail >= p.n {
				if err := p.waitSpace(ctx); err != nil {
					return n, err
				}
			}
		}
		k := min(uint64(len(msgs)-n), p.n-(p.head-p.cachedTail))
		p.putRun(msgs[n : n+int(k)])
		p.publish()
		n += int(k)
	}
	return n, nil
}

// Reserve claims the next slot for a message of exactly n bytes and returns
// its payload, to be written in place; Commit publishes it. n is at most a
// slot's payload (SlotSize-4 bytes), else ErrMessageTooLarge: Reserve
// does not fragment (Writer writes a message of any length in place).
// CommitN publishes the last reservation shorter. Reserve may be
// called several times before one Commit, which then publishes all the
// reserved messages at once (a batch). The slices stay valid until the
// message is published, by Commit or by a Send, TrySend or SendBatch (which
// publish pending reservations too); write nothing to them after. The
// consumer receives exactly n bytes: the slot is not cleared, so write all
// of them, or it gets bytes of an earlier message.
//
// With no reservation pending, Reserve waits while the ring is full. With
// reservations pending it does not wait (the consumer cannot free slots for
// messages it cannot see yet): it returns ErrFull, and the caller commits.
func (p *Producer) Reserve(ctx context.Context, n int) ([]byte, error) {
	if n < 0 || n > p.whole {
		if err := p.reserveSlow(ctx, n); err != nil {
			return nil, err
		}
	}
	// No defer for end, as in Send: this is the zero-copy path for small
	// messages, and every call would pay it.
	if !p.opened() {
		return nil, p.closedErr()
	}
	if p.head-p.cachedTail >= p.n {
		s, err := p.reserveFull(ctx, n)
		p.end()
		return s, err
	}
	p.lend()
	s := p.reserveNext(n)
	p.end()
	return s, nil
}

// reserveFull is Reserve on a ring that looked full, inside the call.
func (p *Producer) reserveFull(ctx context.Context, n int) ([]byte, error) {
	if p.head != p.published {
		// Reservations pending: look, but do not wait.
		if ok, err := p.poll(); err != nil {
			return nil, err
		} else if !ok {
			return nil, ErrFull
		}
		p.lend()
		return p.reserveNext(n), nil
	}
	return p.reserveWaiting(ctx, n)
}

// ReserveBatch claims up to k slots (as many as are free if k <= 0) for
// messages of exactly n bytes each, to be written in place, and returns
// them as a Batch of at least one slot; Commit publishes them. It is Reserve
// for many messages at once: one call, then one store of a length per
// slot, and the payloads are written through Batch.Slot, which the compiler
// inlines. It grants fewer than k slots when fewer are free; it does not
// wait for more.
//
// It waits and fails as Reserve does: with no reservation pending it waits
// while the ring is full; with reservations pending it returns ErrFull
// instead, and the caller commits. The slots stay valid until they are
// published, by Commit or by a Send, TrySend or SendBatch; write nothing to
// them after. The slots are not cleared: write all n bytes of each, or the
// consumer gets bytes of an earlier message.
func (p *Producer) ReserveBatch(ctx context.Context, k, n int) (Batch, error) {
	if n < 0 || n > p.whole {
		if err := p.reserveSlow(ctx, n); err != nil {
			return Batch{}, err
		}
	}
	if err := p.open(); err != nil {
		return Batch{}, err
	}
	defer p.end()
	want := p.n
	if k > 0 {
		want = min(uint64(k), p.n)
	}
	// used > p.n only if the cursor read at claim time was corrupt
	// (beyond head): poll refuses it.
	switch used := p.head - p.cachedTail; {
	case used >= p.n && p.head == p.published:
		// Full, nothing reserved: wait, as Reserve does. The wait
		// polls first, inside the wait, where Ring.Close cannot
		// unmap under it.
		return p.reserveBatchWaiting(ctx, want, n)
	case used >= p.n:
		// Reservations pending: look, but do not wait.
		if ok, err := p.poll(); err != nil {
			return Batch{}, err
		} else if !ok {
			return Batch{}, ErrFull
		}
	case p.n-used < want:
		// Room for fewer than asked: look whether the consumer has
		// freed more. Some room is there either way.
		if _, err := p.poll(); err != nil {
			return Batch{}, err
		}
	}
	p.lend()
	return p.reserveRun(want, n), nil
}

// reserveBatchWaiting is ReserveBatch on a full ring, with nothing
// reserved.
func (p *Producer) reserveBatchWaiting(ctx context.Context, want uint64, n int) (Batch, error) {
	if err := p.waitSpace(ctx); err != nil {
		return Batch{}, err
	}
	p.lend()
	return p.reserveRun(want, n), nil
}

// reserveRun claims min(want, free) slots at head for n bytes each; the
// caller checked the size and that a slot is free. The lengths are written
// first, one word per slot, before any payload: on a ring shared with
// another CPU, those stores ask for all the batch's cache lines at once,
// instead of one line per message as the payloads are copied. As putRun
// does, a batch that begins the run to publish marks its slots published
// but the first, which Commit's markRun marks last, once every payload is
// written; behind slots reserved and not yet marked, all are left to it.
func (p *Producer) reserveRun(want uint64, n int) Batch {
	if p.held {
		p.writeHeld()
	}
	k := min(want, p.n-(p.head-p.cachedTail))
	b := Batch{area: p.area, first: p.head, mask: p.mask, size: p.size, n: uint64(n), k: int(k)}
	rest := lapBit
	if p.marked == p.head {
		rest, p.restMarked = 0, p.head+k
	}
	for i := range k {
		seq := b.first + i
		m := p.ready(seq) ^ rest
		if i == 0 {
			m = p.ready(seq) ^ lapBit // unpublished: markRun marks it last
		}
		fence.Store32(lenWord(b.area[(seq&b.mask)*b.size:]), uint32(n)|m)
	}
	p.head += k
	p.bytes += k * uint64(n)
	return b
}

// Batch is a run of slots claimed by ReserveBatch, each for one message of
// the same length, written in place. Commit publishes them. The zero Batch
// holds no slots.
type Batch struct {
	area  []byte // the ring's slots
	first uint64 // cursor position of the batch's first slot
	mask  uint64
	size  uint64 // bytes per slot
	n     uint64 // bytes per message
	k     int    // slots in the batch
}

// Len returns how many slots the batch holds.
func (b Batch) Len() int { return b.k }

// Slot returns the payload of the batch's i-th message, to be written in
// place: exactly as many bytes as ReserveBatch was asked for. It panics if
// i is not in [0, Len()), as indexing a slice out of range does.
func (b Batch) Slot(i int) []byte {
	if uint(i) >= uint(b.k) {
		panic(batchIndexError{i, b.k})
	}
	off := ((b.first+uint64(i))&b.mask)*b.size + lenSize
	return b.area[off : off+b.n : off+b.n]
}

type batchIndexError struct{ i, k int }

func (e batchIndexError) Error() string {
	return fmt.Sprintf("ring: Batch.Slot(%d) of a batch of %d slots", e.i, e.k)
}

// reserveWaiting is Reserve on a ring that looked full, with nothing
// reserved.
func (p *Producer) reserveWaiting(ctx context.Context, n int) ([]byte, error) {
	if err := p.waitSpace(ctx); err != nil {
		return nil, err
	}
	p.lend()
	return p.reserveNext(n), nil
}

// reserveNext claims the slot at head for n bytes; the caller checked the
// size and the space.
func (p *Producer) reserveNext(n int) []byte {
	if p.held {
		p.writeHeld()
	}
	s := p.at(p.head)
	p.held, p.heldLen, p.heldSeq = true, uint32(n), p.head
	p.head++
	p.bytes += uint64(n)
	return s[lenSize : lenSize+n : lenSize+n]
}

// Commit publishes every message reserved since the last publication.
// Committing nothing is not an error.
func (p *Producer) Commit() error {
	// No defer for end, and publish written out, as in Send.
	if !p.opened() {
		return p.closedErr()
	}
	if p.head != p.published {
		if p.held && p.head-p.marked == 1 {
			// A lone reservation, the zero-copy Send: its word,
			// marked published, in one store, without markRun.
			// (markPending, which must inline into Send, has no
			// room for this case: with it, it does not inline.)
			p.markHeld()
		}
		p.markPending()
		p.published = p.head
		if p.publishCursor(&p.h.head, p.head, "send-before-publish", "send-before-wake") {
			p.settle()
		}
	}
	p.end()
	return nil
}

// put writes msg into the slot at head and marks it published (its lap
// mark); the caller checked space and size, and marked every slot before
// it (markPending).
func (p *Producer) put(msg []byte) {
	s := p.area[(p.head&p.mask)*p.size:] // the slot and the rest: msg fits the slot
	putPayload(s[lenSize:], msg)
	fence.Store32(lenWord(s), uint32(len(msg))|p.ready(p.head))
	p.head++
	p.marked = p.head
	p.bytes += uint64(len(msg))
}

// markPending marks what is reserved published, as every call that
// publishes does, before the call writes a slot of its own that it marks
// at once (put).
func (p *Producer) markPending() {
	if p.marked != p.head {
		p.markRun()
	}
}

// seal writes word w of the slot s at seq, whose payload is complete, with
// its lap mark: ready if every slot before it is marked (its message is
// then visible to the consumer at once), else not yet, for markRun.
func (p *Producer) seal(s []byte, seq uint64, w uint32) {
	m := p.ready(seq)
	if p.marked != seq {
		m ^= lapBit
		p.restMarked = 0 // markRun has this one to mark too
	} else {
		p.marked++
	}
	fence.Store32(lenWord(s), w|m)
}

// hold writes word w of the slot s at seq with the mark of a slot not yet
// published: its payload is still to be written (a reservation) or may
// change. markRun marks it when it is published.
func (p *Producer) hold(s []byte, seq uint64, w uint32) {
	fence.Store32(lenWord(s), w|p.ready(seq)^lapBit)
	p.restMarked = 0 // markRun has this one to mark too
}

// writeHeld writes the word of the held reservation, unpublished: a call
// is about to reserve after it, or to publish a run of more than it (a
// SendBatch, a fragmented Send or a Writer took slots after it, which
// publish it too).
func (p *Producer) writeHeld() {
	p.hold(p.at(p.heldSeq), p.heldSeq, p.heldLen)
	p.held = false
}

// markHeld marks a lone reservation (held, and heldSeq == marked: the one
// slot from marked to head) published: its word and its mark in one store.
func (p *Producer) markHeld() {
	fence.Store32(lenWord(p.at(p.heldSeq)), p.heldLen|p.ready(p.heldSeq))
	p.held, p.marked = false, p.head
}

// markRun marks every slot from marked to head published, each with a
// release store after its payload and word were written (putRun and
// reserveRun mark their own as they write them, but the run's first,
// restMarked): the first slot
// of the run last, so that the consumer, which reads in order, sees the
// whole run or none of it (a run of a fragmented message, a batch of
// reservations), as one store of head made it in layout 3. A producer
// that dies in the middle leaves the run's first slot unpublished and
// some after it marked, which no consumer reaches past the first, and
// which a producer taking the role over clears (start).
//
//go:noinline
func (p *Producer) markRun() {
	if p.held {
		if p.head-p.marked == 1 {
			p.markHeld()
			return
		}
		p.writeHeld()
	}
	first := p.marked
	if p.restMarked != p.head { // else putRun or reserveRun marked them
		for seq := first + 1; seq != p.head; seq++ {
			w := lenWord(p.at(seq))
			fence.Store32(w, *w&^lapBit|p.ready(seq))
		}
	}
	if crashPoints && p.head-first > 1 {
		crash("send-mid-mark")
	}
	w := lenWord(p.at(first))
	fence.Store32(w, *w&^lapBit|p.ready(first))
	p.marked = p.head
}

// putPayload copies msg into a slot's payload. A build with crash points
// may die halfway.
func putPayload(dst, msg []byte) {
	if crashPoints {
		half := len(msg) / 2
		copy(dst, msg[:half])
		crash("send-mid-payload")
		copy(dst[half:], msg[half:])
	} else {
		copy(dst, msg) // not memcopy.Copy: put, which calls this, would not inline
	}
}

// publish makes everything written so far visible: one store of the cursor,
// then a wake only if the consumer said it may sleep.
func (p *Producer) publish() {
	p.markPending()
	p.published = p.head
	if p.publishCursor(&p.h.head, p.head, "send-before-publish", "send-before-wake") {
		p.settle()
	}
}

// pollAll is poll: a consumer publishes nothing but its cursor.
func (p *Producer) pollAll() (bool, error) { return p.poll() }

// poll re-reads the consumer's cursor: is there a free slot (more+1 free
// slots, while a wait for a fragmented message sets more)? It also ends a
// wait when either side has closed, and refuses a cursor that could not
// have come from a consumer of this ring: beyond what was published, behind
// what it was, or more than a ring behind what was published (which no
// wait can cure: only a corrupt cursor, read then or at claim time, gets
// there).
func (p *Producer) poll() (bool, error) {
	if p.closed.Load() {
		return false, ErrClosed
	}
	t := p.h.tail.Load()
	if t > p.marked || t < p.cachedTail || p.published > t+p.n {
		return false, fmt.Errorf("%w: consumer cursor %d, was %d, producer published %d",
			ErrCorrupt, t, p.cachedTail, p.marked)
	}
	p.cachedTail = t
	if p.head-t+p.more < p.n { // more: the room a fragmented message needs
		return true, nil
	}
	if p.h.state.Load()&stateConsumerClosed != 0 {
		return false, p.closedErr()
	}
	return false, nil
}

// waitSpace waits for a free slot. The caller is inside a call
// (slots.begin), so a Ring.Close cannot unmap under it.
func (p *Producer) waitSpace(ctx context.Context) error {
	return p.waitFor(ctx, p)
}

// beforeWait publishes anything reserved: a producer must never sleep on
// messages the consumer cannot see.
func (p *Producer) beforeWait() {
	if p.head != p.published {
		p.publish()
	}
	p.stalls++
}

// peerCursor is the consumer's cursor as last read.
func (p *Producer) peerCursor() uint64 { return p.cachedTail }

// flushCounters copies the statistics to the header; the waiter calls it
// before sleeping and when a wait fails.
func (p *Producer) flushCounters() { p.flush(p.me) }

// Close ends the producer: what was committed stays for the consumer, which
// drains it and then reads io.EOF, and nothing is published after that;
// what was reserved and not committed is dropped. A streaming message a
// Send left unfinished (ErrTorn) stays unfinished, without an abort: Close
// may run in another goroutine than the send, and the ring may be full;
// the consumer reads the end of the stream in the middle of it as ErrTorn,
// with io.EOF. It wakes a call of this producer blocked in another
// goroutine (which returns ErrClosed), waits for a call under way to end
// (up to a second, as Ring.Close does), and then wakes the consumer. A
// second Close returns ErrClosed. Close does not unmap the segment:
// Ring.Close does.
func (p *Producer) Close() error {
	p.closes.Add(1) // a read-modify-write: a full fence, no Heavy needed
	defer p.closes.Add(-1)
	if !p.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	// The end of the stream comes after the last publication. A call
	// that found the producer open before the swap above may still
	// publish (a run of a streaming Send, a SendBatch's run): were the
	// consumer told first, it would read io.EOF, then a message, or a
	// continuation where a message begins (ErrCorrupt). So the call is
	// woken if it sleeps, and waited for, before the flag is set. The
	// swap above and a sleeper's raising of its flag are both full
	// fences, and the sleeper polls (and sees closed) after raising it:
	// if the flag reads 0 here, no call of this side sleeps past the
	// swap, and the wake (a system call) is not needed.
	if p.h.producerSleeping.Load() != 0 {
		p.own.wake()
	}
	p.r.barrier()
	p.idle(false)
	p.r.closeSide(stateProducerClosed, &p.h.prod)
	return nil
}
