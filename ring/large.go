package ring

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/shmring/shmring/internal/platform/memcopy"
)

// Messages longer than a slot: the slow paths of both sides. The fast
// paths (Send, TrySend, SendBatch, Reserve, ReserveBatch; Recv, TryRecv,
// RecvBatch, Peek) compare a length with whole, the slot's payload, and
// come here for anything longer: a message to fragment, a fragment's
// length word (whose flag bits make it longer than any payload), or any
// length at all while whole is -1, that is while a side must first end a
// message left unfinished. fragment.go has the slot format, and
// docs/DESIGN.md, "Messages larger than a slot", the reasons.
//
// A message of k fragments that fits the ring (k <= Slots) is written
// after waiting for k free slots, and published a run at a time (runs)
// with no wait in between, so that the consumer copies one run while the
// next is written; the consumer copies the fragments as they are
// published and releases all k with one store. A call that ends early, on
// either side, leaves it whole: the producer published nothing of it, the
// consumer released nothing. Only a producer that dies between two runs
// leaves part of it published, which the consumer never returns as a
// message: the producer that takes over publishes an abort (resume), which
// the consumer meets as it reads on (ErrTorn). A longer one streams: the
// producer publishes each run of fragments as free slots allow, and the
// consumer copies and releases them as they come, so a message of any
// length passes through a ring of any size.
//
// A streaming call that ends early (its context, a dead or stopped peer,
// Close) leaves a message begun: it returns its error wrapped with
// ErrTorn too, and the side remembers it. The producer ends the message
// with an abort slot before its next message; the consumer discards the
// rest of it, through its last fragment or an abort, in its next call,
// which returns ErrTorn. Functions here that take a ctx treat a nil one
// as TrySend's or TryRecv's "do not wait".

// Producer.

// sendLarge is Send, and TrySend (ctx nil), for a message the fast path
// does not take: longer than a slot's payload, or any while mid.
func (p *Producer) sendLarge(ctx context.Context, msg []byte) error {
	if uint64(len(msg)) > p.maxMsg {
		return p.tooLarge(len(msg))
	}
	if err := p.open(); err != nil {
		return err
	}
	defer p.end()
	return p.sendAny(ctx, msg)
}

// sendAny sends a message of any length up to max_message, inside a call:
// first the abort a message left unfinished needs, then the message in one
// slot, or in fragments that fit the ring (runs), or streamed.
func (p *Producer) sendAny(ctx context.Context, msg []byte) error {
	if p.mid {
		if err := p.abort(ctx); err != nil {
			return err
		}
	}
	if len(msg) <= p.single {
		if err := p.room(ctx, 1); err != nil {
			return err
		}
		p.markPending()
		p.put(msg)
		p.publish()
		return nil
	}
	k := fragmentCount(uint64(len(msg)), p.size)
	if k <= p.n {
		if err := p.room(ctx, k); err != nil {
			return err
		}
		p.runs(msg, k)
		return nil
	}
	if ctx == nil {
		return fmt.Errorf("%w: %d bytes take %d slots, more than the ring's %d: TrySend cannot send it whole (Send streams it)",
			ErrMessageTooLarge, len(msg), k, p.n)
	}
	return p.stream(ctx, msg, k)
}

// sendBatchLarge is SendBatch for a batch with a message the fast path
// does not take: runs of messages that fit a slot go as SendBatch sends
// them, the others one by one as Send sends them.
func (p *Producer) sendBatchLarge(ctx context.Context, msgs [][]byte) (n int, err error) {
	for i, m := range msgs {
		if uint64(len(m)) > p.maxMsg {
			return 0, fmt.Errorf("message %d: %w", i, p.tooLarge(len(m)))
		}
	}
	if err := p.open(); err != nil {
		return 0, err
	}
	defer p.end()
	if p.mid {
		if err := p.abort(ctx); err != nil {
			return 0, err
		}
	}
	for n < len(msgs) {
		j := n
		for j < len(msgs) && len(msgs[j]) <= p.single {
			j++
		}
		if j > n {
			k, err := p.sendWhole(ctx, msgs[n:j])
			if n += k; err != nil {
				return n, err
			}
			continue
		}
		if p.closed.Load() {
			return n, ErrClosed
		}
		if err := p.sendAny(ctx, msgs[n]); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// reserveSlow is Reserve's and ReserveBatch's way for a length the fast
// path does not take: longer than max_message, or too long for a slot
// (Reserve writes in one slot, and fragments nothing), or any while mid,
// which it ends with an abort. On success the caller goes on with the fast
// path.
func (p *Producer) reserveSlow(ctx context.Context, n int) error {
	if uint64(n) > p.maxMsg { // n < 0 too
		return p.tooLarge(n)
	}
	if n > p.single {
		return fmt.Errorf("%w: %d bytes: Reserve and ReserveBatch write in one slot, which holds at most %d (Send fragments longer messages)",
			ErrMessageTooLarge, n, p.single)
	}
	if err := p.open(); err != nil {
		return err
	}
	defer p.end()
	if p.mid {
		return p.abort(ctx)
	}
	return nil
}

// resume looks, when the producer claims its role, whether the previous
// holder died mid-message: the last published slot's word says another
// fragment follows. Then this producer is mid-message too. It publishes
// the abort at once if a slot is free (a consumer discarding the message
// learns at once that it is over), else its first call that publishes
// does. It never continues the dead producer's message: it cannot know
// what that one had written but not published.
//
// The word read is the last published one: no producer writes the slot
// before the published cursor (the streaming runs below stop one slot
// short of it), and what the consumer released stays as it was.
func (p *Producer) resume() {
	if p.head == 0 || lenOf(p.at(p.head-1))&fragMore == 0 {
		return
	}
	p.mid, p.whole = true, -1
	if used := p.head - p.cachedTail; used < p.n {
		p.putAbort()
	}
}

// abort ends a message left unfinished with an abort slot, published at
// once, waiting for a free slot under ctx (nil: not waiting, ErrFull).
// A mid producer has nothing reserved: it never reserves while mid, and
// the call that left the message published what it had reserved.
func (p *Producer) abort(ctx context.Context) error {
	if err := p.room(ctx, 1); err != nil {
		return err
	}
	p.putAbort()
	return nil
}

// putAbort writes and publishes the abort slot; the caller checked that a
// slot is free. It publishes as a one-slot send does: the crash points of
// fragmented sends are for the fragments (a claim that aborts, in a
// process told to die at one of them, would die before it sent anything).
func (p *Producer) putAbort() {
	p.seal(p.at(p.head), p.head, fragCont|fragAbort)
	p.head++
	p.mid, p.whole = false, p.single
	p.publish()
}

// room makes sure k slots are free at head, waiting for them under ctx
// (nil: looking once, ErrFull if they are not).
func (p *Producer) room(ctx context.Context, k uint64) error {
	if used := p.head - p.cachedTail; used <= p.n && p.n-used >= k {
		return nil
	}
	p.more = k - 1
	defer func() { p.more = 0 }()
	if ctx == nil {
		ok, err := p.poll()
		if err == nil && !ok {
			err = ErrFull
		}
		return err
	}
	return p.waitSpace(ctx)
}

// streamRunFor is how many fragments a side copies, while a message
// larger than the ring streams, between two stores of its cursor: a
// quarter of the ring, or 32 KiB of slots if that is less, and at least
// one. Both sides copy at once only if each gives the other its slots
// while it is still copying: a producer that filled every free slot
// before it published, and a consumer that released only once it had
// copied everything published, would each wait while the other copies
// a ring's worth. A store per 32 KiB copied costs nothing measurable. It
// is less than the slot count (a quarter of at least 2, or 1), which
// stream's runs need.
func streamRunFor(slots, slotSize uint64) uint64 {
	return max(1, min(slots/4, (32<<10+slotSize-1)/slotSize))
}

// stream sends a message of k fragments, more than the ring has slots: it
// writes a run of fragments into the free slots, publishes it, and waits
// for more room, until the message is sent. A run is at most streamRun
// fragments, so that the consumer can copy one run while the next is
// written, and is less than the slot count: the slot before the published
// cursor always holds the last published word, which resume reads after a
// crash, and a run over a whole ring would overwrite it with a fragment
// not yet published.
func (p *Producer) stream(ctx context.Context, msg []byte, k uint64) error {
	if p.head != p.published {
		p.publish() // the reservations before this message
	}
	pos := 0
	for left := k; left > 0; {
		if p.closed.Load() {
			return p.torn(len(msg), pos, ErrClosed)
		}
		if p.h.state.Load()&stateConsumerClosed != 0 {
			return p.torn(len(msg), pos, p.closedErr())
		}
		want := min(left, p.streamRun)
		if p.head-p.cachedTail > p.n-want {
			// Room for less than a run: look whether the
			// consumer has freed more, and wait if none is free.
			if _, err := p.poll(); err != nil {
				return p.torn(len(msg), pos, err)
			}
			if p.head-p.cachedTail >= p.n {
				if err := p.waitSpace(ctx); err != nil {
					return p.torn(len(msg), pos, err)
				}
			}
		}
		run := min(want, p.n-(p.head-p.cachedTail))
		pos = p.putFragments(msg, pos, run)
		left -= run
		p.publishLarge()
		if hookStreamStore != nil {
			hookStreamStore(true, p.head)
		}
		if crashPoints && left > 0 {
			crash("send-large-mid-message")
		}
	}
	return nil
}

// runs writes a message of k fragments, for which room checked there are
// free slots, and publishes it a run of streamRun fragments at a time, so
// that the consumer copies one run while the next is written. Nothing
// waits or ends it early: it has its slots, and Close waits for it.
func (p *Producer) runs(msg []byte, k uint64) {
	if p.head != p.published {
		p.publish() // the reservations before this message
	}
	pos := 0
	for left := k; left > 0; {
		run := min(left, p.streamRun)
		pos = p.putFragments(msg, pos, run)
		left -= run
		p.publishLarge()
		if crashPoints && left > 0 {
			crash("send-large-mid-message")
		}
	}
}

// torn is the error of a streaming send that ended, by err, after sent
// bytes of a message of total bytes were published: the producer is mid
// message. Nothing published, nothing torn: err alone.
func (p *Producer) torn(total, sent int, err error) error {
	if sent == 0 {
		return err
	}
	p.mid, p.whole = true, -1
	return fmt.Errorf("%w: %d of the %d bytes of a message sent, the rest never will be (the next send aborts it): %w",
		ErrTorn, sent, total, err)
}

// putFragments writes k fragments of msg from byte pos on into the slots
// from head on and returns the position after them; the caller checked
// the room. Every fragment is full but the message's last.
func (p *Producer) putFragments(msg []byte, pos int, k uint64) int {
	from := pos
	for range k {
		s := p.at(p.head)
		var w uint32
		var dst []byte
		if pos == 0 {
			binary.LittleEndian.PutUint64(s[lenSize:], uint64(len(msg)))
			dst = s[lenSize+totalSize:]
			w = fragMore | uint32(len(dst))
		} else {
			dst = s[lenSize:]
			w = fragCont
			if len(msg)-pos > len(dst) {
				w |= fragMore
			} else {
				dst = dst[:len(msg)-pos]
			}
			w |= uint32(len(dst))
		}
		if crashPoints {
			half := len(dst) / 2
			copy(dst[:half], msg[pos:])
			crash("send-large-mid-fragment")
		}
		pos += memcopy.Copy(dst, msg[pos:])
		p.hold(s, p.head, w) // publishLarge marks the run, its first slot last
		p.head++
	}
	p.bytes += uint64(pos - from)
	return pos
}

// publishLarge is publish with the crash points of fragmented sends.
func (p *Producer) publishLarge() {
	p.markPending()
	p.published = p.head
	if p.publishCursor(&p.h.head, p.head, "send-large-before-publish", "send-before-wake") {
		p.settle()
	}
}

// Consumer.

// States of Consumer.frag.
const (
	fragNone   uint8 = iota
	fragSkip         // the rest of a torn message is to be discarded
	fragResync       // after a takeover: the first slot says which
)

// fragUnknown is Consumer.left when the length of what is to be skipped is
// not known (a takeover found a message half read).
const fragUnknown = math.MaxUint64

// recvLarge is Recv and TryRecv (ctx nil) for a slot at tail, which is
// published, that copyOut did not take.
func (c *Consumer) recvLarge(ctx context.Context, buf []byte) (int, error) {
	w, err := c.start(ctx)
	for err == nil && w <= uint32(c.single) { // a whole message, after a takeover
		if n, err := c.copyOut(nil, buf); n != notWhole {
			return n, err
		}
		// Not whole when read again: only a producer that writes
		// published slots does that. Look again.
		w, err = c.start(ctx)
	}
	if err != nil {
		return 0, err
	}
	total, k, err := c.first(w)
	if err != nil {
		return 0, err
	}
	if uint64(len(buf)) < total {
		return int(total), io.ErrShortBuffer
	}
	msg, err := c.assemble(ctx, buf[:0], total, k)
	c.releaseRead()
	if err != nil {
		return 0, err
	}
	return len(msg), nil
}

// recvBatchLarge is RecvBatch for a slot at tail, which is published,
// that recvBatch did not take first in its batch. A fragmented message is
// reassembled in c.asm, which grows by what is copied into it, never by
// what a header says, and is kept for the next one; fn sees it alone.
func (c *Consumer) recvBatchLarge(ctx context.Context, max int, fn func(msg []byte) error) (int, error) {
	// The fragments are taken by their marks, as Recv takes them, not by
	// what head said (refreshBatch): the code that reads them checks no
	// mark below cachedHead.
	c.cachedHead = c.tail
	c.scan()
	w, err := c.start(ctx)
	for err == nil && w <= uint32(c.single) { // whole messages, after a takeover
		if n, err := c.recvBatch(max, fn); n != notWhole {
			return n, err
		}
		w, err = c.start(ctx) // as in recvLarge
	}
	if err != nil {
		return 0, err
	}
	total, k, err := c.first(w)
	if err != nil {
		return 0, err
	}
	msg, err := c.assemble(ctx, c.asm[:0], total, k)
	c.asm = msg[:0]
	if err != nil {
		c.releaseRead()
		return 0, err
	}
	// Released after fn, as recvBatch does: a consumer killed in fn
	// leaves a message that fits the ring, none of it released, to the
	// next one whole. Of a streamed message only the last run is still
	// held: the next consumer discards it (ErrTorn).
	err = fn(msg)
	c.releaseRead()
	return 1, err
}

// peekLarge is Peek for a slot at tail, which is published, that next did
// not take: Peek returns a slot's payload in place, which a fragmented
// message is not, so it refuses one and leaves it for Recv.
func (c *Consumer) peekLarge(ctx context.Context) ([]byte, error) {
	w, err := c.start(ctx)
	if err != nil {
		return nil, err
	}
	if w <= uint32(c.single) {
		return c.next(ctx)
	}
	total, _, err := c.first(w)
	if err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%w: the message at slot %d has %d bytes in fragments, Peek returns one slot's payload: use Recv or RecvBatch",
		ErrMessageTooLarge, c.tail, total)
}

// start settles the consumer's fragment state at a message start (tail,
// published) and returns the slot's length word. After a takeover
// (fragResync) a continuation there means the previous consumer died
// inside a message: it is discarded, as the rest of a torn message is
// (fragSkip), and start returns that call's error, ErrTorn when done.
func (c *Consumer) start(ctx context.Context) (uint32, error) {
	w := lenOf(c.at(c.tail))
	if c.frag == fragResync {
		if w&fragCont == 0 {
			c.frag, c.whole = fragNone, c.single
		} else {
			c.frag, c.left = fragSkip, fragUnknown
		}
	}
	if c.frag == fragSkip {
		return 0, c.skip(ctx)
	}
	return w, nil
}

// first checks the first fragment at tail, whose word is w, and returns
// its message's length and slot count. A first fragment is full and its
// total needs fragments and is within max_message, so the slot count is a
// function of total: checked here, before anything is sized or waited for
// from it.
func (c *Consumer) first(w uint32) (total, k uint64, err error) {
	n := w & fragLen
	switch w &^ fragLen {
	case 0:
		return 0, 0, fmt.Errorf("%w: slot %d: length %d, a message in one slot has at most %d bytes", ErrCorrupt, c.tail, n, c.single)
	case fragMore:
	default:
		return 0, 0, fmt.Errorf("%w: slot %d: length word %#x: flags %#x where a message begins (a whole message or a first fragment)",
			ErrCorrupt, c.tail, w, w>>29)
	}
	if c.size < MinFragmentSlot { // max_message fits a slot: no producer fragments
		return 0, 0, fmt.Errorf("%w: slot %d: length word %#x: a first fragment, in slots of %d bytes, too small to carry fragments",
			ErrCorrupt, c.tail, w, c.size)
	}
	total = binary.LittleEndian.Uint64(c.at(c.tail)[lenSize:])
	switch {
	case uint64(n) != c.size-lenSize-totalSize:
		return 0, 0, fmt.Errorf("%w: slot %d: first fragment of length %d, want %d (first fragments are full)",
			ErrCorrupt, c.tail, n, c.size-lenSize-totalSize)
	case total <= uint64(c.payload) || total > c.maxMsg:
		return 0, 0, fmt.Errorf("%w: slot %d: first fragment of a message of length %d: want %d to %d (more than a slot holds, at most max_message)",
			ErrCorrupt, c.tail, total, c.payload+1, c.maxMsg)
	}
	return total, fragmentCount(total, c.size), nil
}

// assemble appends the message at tail, of total bytes in k slots, whose
// first fragment first checked, to dst, and moves tail past it; the caller
// releases. Both kinds are copied as they come, so that the producer
// writes while the consumer copies. A message that fits the ring is
// released by the caller, whole; a wait for its rest that ends returns
// the wait's error and leaves tail at its start, nothing released. A
// longer one is released every streamRun fragments, and when it has
// copied all that is published. With ctx nil (TryRecv) nothing is waited
// for: a message that fits the ring is taken only if arrived finds it
// all there (or ended early), and a longer one is refused: it never is
// there whole.
//
// dst grows only by what is copied into it: Recv's buffer holds total
// bytes (checked), RecvBatch's grows with the fragments that arrive.
func (c *Consumer) assemble(ctx context.Context, dst []byte, total, k uint64) ([]byte, error) {
	if k <= c.n && ctx == nil {
		if _, err := c.arrived(nil, total, k); err != nil { // the loop below stops where it does
			return dst, err
		}
	} else if ctx == nil {
		return dst, fmt.Errorf("%w: the message at slot %d has %d bytes in %d slots, more than the ring's %d: TryRecv cannot take it whole (Recv streams it)",
			ErrMessageTooLarge, c.tail, total, k, c.n)
	}
	streaming := k > c.n
	start := c.tail
	dst = memcopy.Append(dst, c.at(start)[lenSize+totalSize:])
	got := c.size - lenSize - totalSize
	seq := start + 1
	for ; got < total; seq++ {
		if seq == c.cachedHead && !streaming {
			// The producer publishes it in runs: wait for the
			// next, from the message's start (nothing released).
			if err := c.available(ctx, seq-start+1); err != nil {
				return dst, c.closedMid(err, total)
			}
		} else if seq == c.cachedHead { // streaming: wait for more
			c.tail = seq
			c.releaseStream()
			if err := c.available(ctx, 1); err != nil {
				return dst, c.tornRecv(total, got, err)
			}
		} else if streaming && seq-c.released >= c.streamRun {
			c.tail = seq
			c.releaseStream()
		}
		s := c.at(seq)
		w := lenOf(s)
		n := uint64(w & fragLen)
		switch w &^ fragLen {
		case fragMore | fragCont:
			if n == uint64(c.payload) && got+n < total {
				break
			}
			return dst, c.badFragment(start, seq, w, total, got, streaming)
		case fragCont:
			if n >= 1 && n <= uint64(c.payload) && got+n == total {
				break
			}
			return dst, c.badFragment(start, seq, w, total, got, streaming)
		case fragCont | fragAbort:
			if n != 0 {
				return dst, c.badFragment(start, seq, w, total, got, streaming)
			}
			c.tail = seq + 1
			return dst, fmt.Errorf("%w: the producer aborted the message at slot %d after %d of its %d bytes",
				ErrTorn, start, got, total)
		default:
			return dst, c.badFragment(start, seq, w, total, got, streaming)
		}
		dst = memcopy.Append(dst, s[lenSize:lenSize+n])
		got += n
	}
	c.tail = seq
	c.bytes += total
	return dst, nil
}

// badFragment is ErrCorrupt for the slot at seq, with word w, in the
// message begun at slot start, of total bytes, got of them read. A message
// that fits the ring stays where it is (nothing was released, so the next
// call finds the same); of a streaming one the rest is to be skipped, and
// the skip stops at the same slot.
func (c *Consumer) badFragment(start, seq uint64, w uint32, total, got uint64, streaming bool) error {
	if streaming {
		c.tail = seq
		c.frag, c.whole, c.left = fragSkip, -1, total-got
	} else {
		c.tail = start
	}
	return fmt.Errorf("%w: slot %d: length word %#x (flags %#x, length %d) in a message of %d bytes begun at slot %d, %d bytes read",
		ErrCorrupt, seq, w, w>>29, w&fragLen, total, start, got)
}

// tornRecv records that a receiving call ended, by err, with got bytes of
// a message of total bytes read and released: the rest is skipped by the
// next call. So it is after the producer's close (err io.EOF): a Send that
// outlasted Ring.Close's wait may still publish a run of it, which must
// not be taken for a message; with nothing more published, the next call
// returns io.EOF (it waits before it looks at what to skip).
func (c *Consumer) tornRecv(total, got uint64, err error) error {
	c.frag, c.whole, c.left = fragSkip, -1, total-got
	return fmt.Errorf("%w: %d of the %d bytes of a message received, the rest is discarded: %w", ErrTorn, got, total, err)
}

// skip discards the rest of a torn message: its fragments through the last
// one or an abort, releasing them as it goes. It returns ErrTorn once it
// is done, or the error that ended its wait (wrapped with ErrTorn, ErrEmpty
// with ctx nil), and then goes on at the next call.
func (c *Consumer) skip(ctx context.Context) error {
	for {
		if c.tail == c.cachedHead {
			c.releaseRead()
			if err := c.available(ctx, 1); err != nil {
				switch {
				case errors.Is(err, ErrEmpty):
					return err
				case errors.Is(err, io.EOF):
					c.frag, c.whole = fragNone, c.single // the producer sends no more of it
				}
				return fmt.Errorf("%w: discarding the rest of a torn message: %w", ErrTorn, err)
			}
		}
		w := lenOf(c.at(c.tail))
		n := uint64(w & fragLen)
		end := true
		ok := false
		switch w &^ fragLen {
		case fragMore | fragCont:
			ok, end = n == uint64(c.payload) && n < c.left, false
		case fragCont:
			ok = n >= 1 && n <= uint64(c.payload) && (c.left == fragUnknown || n == c.left)
		case fragCont | fragAbort:
			ok = n == 0
		}
		if !ok {
			c.releaseRead()
			return fmt.Errorf("%w: slot %d: length word %#x (flags %#x, length %d) where the rest of a torn message was expected",
				ErrCorrupt, c.tail, w, w>>29, n)
		}
		c.tail++
		if end {
			c.frag, c.whole = fragNone, c.single
			c.releaseRead()
			return fmt.Errorf("%w: the rest of a torn message discarded, through slot %d", ErrTorn, c.tail-1)
		}
		if c.left != fragUnknown {
			c.left -= n
		}
	}
}

// available makes sure k slots are published at tail, waiting for them
// under ctx (nil: looking once, ErrEmpty if they are not).
func (c *Consumer) available(ctx context.Context, k uint64) error {
	if c.cachedHead-c.tail >= k {
		return nil
	}
	c.more = k - 1
	defer func() { c.more = 0 }()
	if ctx == nil {
		ok, err := c.poll()
		if err == nil && !ok {
			err = ErrEmpty
		}
		return err
	}
	return c.waitFor(ctx, c)
}

// arrived makes sure the message at tail, of k slots (no more than the
// ring has), can be read without a wait, and returns how many of its slots
// there are to read: k once all are published, or fewer, through the
// first slot before its last that is no middle fragment, which the
// reading stops at (its abort, after its producer died between two runs;
// or a word no fragment of it could have). It waits under ctx as
// available does (nil: looking once, ErrEmpty), and ends the message, of
// total bytes, torn if its producer closes first (closedMid). Each word
// is read once.
func (c *Consumer) arrived(ctx context.Context, total, k uint64) (uint64, error) {
	for i := uint64(1); i < k; i++ {
		if c.cachedHead-c.tail <= i {
			if err := c.available(ctx, i+1); err != nil {
				return 0, c.closedMid(err, total)
			}
		}
		if i < k-1 && lenOf(c.at(c.tail+i)) != fragMore|fragCont|uint32(c.payload) {
			return i + 1, nil
		}
	}
	return k, nil
}

// closedMid is err, from a wait for the rest of the message at tail, of
// total bytes, which fits the ring, every slot of it published so far (up
// to cachedHead) a checked middle fragment. If err is the end of the
// stream, the message is torn: its producer closed with part of it
// published (a Producer whose Ring.Close stopped waiting for its Send
// after closeWait; a C producer closed from another thread). The part is
// released, and the rest is to be discarded as after a torn Recv: such a
// Send may still publish a run after the close, which the next call then
// discards (ErrTorn, and io.EOF after it) rather than take for a message.
func (c *Consumer) closedMid(err error, total uint64) error {
	if !errors.Is(err, io.EOF) {
		return err
	}
	start := c.tail
	got := fragmentBytes(c.cachedHead-start, c.size)
	c.tail = c.cachedHead
	c.releaseRead()
	c.frag, c.whole, c.left = fragSkip, -1, total-got
	return fmt.Errorf("%w: the producer closed after %d of the %d bytes of the message at slot %d: %w",
		ErrTorn, got, total, start, err)
}

// endedEarly is the error of a message at tail, of total bytes, that fits
// the ring and ends early (arrived), at the slot n-1 after tail: ErrTorn
// for an abort, released through it; ErrCorrupt for anything else, the
// message left where it is, as assemble leaves it.
func (c *Consumer) endedEarly(n, total uint64) error {
	start, seq := c.tail, c.tail+n-1
	got := fragmentBytes(n-1, c.size)
	if w := lenOf(c.at(seq)); w != fragCont|fragAbort {
		return c.badFragment(start, seq, w, total, got, false)
	}
	c.tail = seq + 1
	c.releaseRead()
	return fmt.Errorf("%w: the producer aborted the message at slot %d after %d of its %d bytes",
		ErrTorn, start, got, total)
}

// releaseStream is releaseRead in the middle of a message larger than the
// ring.
func (c *Consumer) releaseStream() {
	if c.tail != c.released {
		c.release()
		if hookStreamStore != nil {
			hookStreamStore(false, c.tail)
		}
	}
}

// releaseRead releases what the consumer has moved past, if anything.
func (c *Consumer) releaseRead() {
	if c.tail != c.released {
		c.release()
	}
}
