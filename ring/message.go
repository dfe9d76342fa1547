package ring

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/shmring/shmring/internal/platform/memcopy"
)

// Messages of any length, in place: a MessageReader hands out a message's
// fragments where they lie in the slots, and a MessageWriter hands out the
// slots' payloads to be written where they will be read. Each lives in its
// side (Consumer.rd, Producer.wr), so that a message costs no allocation:
// the pointer Reader or Writer returns is the same for every message.
//
// Both follow the rules of large.go. A message that fits the ring
// (fragmentCount <= Slots) is read or written whole: the reader waits
// until all its slots are published (or one published ends it early: an
// abort) and releases them with one store; the writer waits until all the
// slots n bytes need are free, and publishes what was written with one
// store, at Close. A longer one streams, and tears as Send and Recv tear:
// a wait that ends in the middle of it wraps its error with ErrTorn, the
// producer aborts the message at its next call, and the consumer discards
// the rest of it at its next.

// The errors of a reader or writer used after its end: its Close, or
// another call of its side, which Close reports (after its own Close
// there is nothing to report).
var (
	errReaderClosed = fmt.Errorf("%w: MessageReader used after its Close", ErrClosed)
	errReaderEnded  = fmt.Errorf("%w: MessageReader used after another call of its Consumer, which ended it", ErrClosed)
	errWriterClosed = fmt.Errorf("%w: MessageWriter used after its Close", ErrClosed)
	errWriterEnded  = fmt.Errorf("%w: MessageWriter used after another call of its Producer that wrote a slot, which ended it", ErrClosed)
)

// MessageReader reads one message in place, fragment by fragment: Next
// returns each fragment's payload where it lies in the ring, Read and
// WriteTo make an io.Reader and an io.WriterTo of it. Get it from
// Consumer.Reader.
//
// A MessageReader belongs to its Consumer, which has one: every call of
// Reader returns the same pointer, set to the next message. It is valid
// until its Close, or until the Consumer's next call (Recv, TryRecv,
// Peek, Release, RecvBatch, Reader), which ends it; its methods then
// return an error wrapping ErrClosed. Its methods must not be called
// concurrently with each other or with the Consumer's.
type MessageReader struct {
	c *Consumer
	// ctx is Reader's context, under which the reader waits for the
	// fragments of a message larger than the ring (Next, Read, WriteTo)
	// and for its rest (Close).
	ctx   context.Context
	total uint64 // the message's length
	got   uint64 // bytes taken from the slots: handed out, or in rem
	start uint64 // the message's first slot
	seq   uint64 // the slot of its next fragment
	// tail and released are the Consumer's cursors as this reader left
	// them: another call of the Consumer moves one, and so ends the
	// reader.
	tail, released uint64
	// streaming: the message has more fragments than the ring has
	// slots. Meanwhile the Consumer is in fragSkip with left the bytes
	// not yet taken, so that a call that ends the reader discards the
	// rest of the message, as after a torn Recv.
	streaming bool
	rem       []byte // what Next and Read have not handed out of the current fragment
	err       error  // nil while open; then io.EOF, the error that ended it, errReaderClosed or errReaderEnded
}

// Reader waits for the next message, as Recv does, and returns a reader
// of it in place: Next returns its fragments one by one, where they lie in
// the ring (a message that fits a slot is one fragment), and Read and
// WriteTo read it as a stream. Close releases the message. No byte is
// copied but by Read, into the caller's buffer, and by nothing at all with
// Next; no allocation is made.
//
// ctx governs the reader for its whole life, as an http.Request's context
// governs the request: Reader waits under it for the message, and Next,
// Read, WriteTo and Close wait under it for the fragments of a message of
// more fragments than the ring has slots, which stream. A message that
// fits the ring is waited for whole by Reader (or up to an abort that
// ends it, after its producer died in the middle of it), so that its
// reader never waits; its slots are released together, by Close, or by
// the Next or Read that finds the message's end.
//
// The fragments of a streaming message are released as the reader moves
// past them, so that the producer can go on. If a wait for one ends (ctx,
// the producer dead or stopped, Close), the call returns its error
// wrapped with ErrTorn too, and the Consumer's next call discards the
// rest of the message and returns ErrTorn, as after a torn Recv; a
// message the producer aborts ends the reader with ErrTorn.
//
// The returned reader, and every slice it hands out, is valid until its
// Close, or until the Consumer's next call, which ends it: a message that
// fits the ring is released with what that call releases; of a streaming
// one, that call discards the rest and returns ErrTorn. A slice from Next
// is valid until the reader's next call. Messages returned by Peek are
// released with the message.
//
// Its errors are Recv's (ErrTorn, ErrCorrupt, ErrPeerDead, io.EOF once the
// producer has closed and everything is received, ...). io.ErrShortBuffer
// never: the caller's buffer is not Reader's concern.
func (c *Consumer) Reader(ctx context.Context) (*MessageReader, error) {
	if err := c.open(); err != nil {
		return nil, err
	}
	defer c.end()
	if c.tail == c.cachedHead {
		if err := c.waitData(ctx); err != nil {
			return nil, err
		}
	}
	total, k := uint64(lenOf(c.at(c.tail))), uint64(1)
	if int(total) > c.whole {
		var err error
		if total, k, err = c.readerLarge(ctx); err != nil {
			return nil, err
		}
	}
	s := c.at(c.tail)
	var first []byte
	if k == 1 {
		first = s[lenSize : lenSize+total : lenSize+total]
	} else {
		first = s[lenSize+totalSize:]
	}
	r := &c.rd
	*r = MessageReader{c: c, ctx: ctx, total: total, got: uint64(len(first)),
		start: c.tail, seq: c.tail + 1, streaming: k > c.n, rem: first}
	c.bytes += r.got
	if r.streaming {
		c.tail++
		c.frag, c.whole, c.left = fragSkip, -1, total-r.got
	} else {
		c.tail += k
	}
	r.tail, r.released = c.tail, c.released
	return r, nil
}

// readerLarge is Reader for a slot at tail, which is published, that the
// fast path does not take: after a takeover, a torn message to discard
// first, or a first fragment. It returns the message's length and slot
// count, having waited for all its slots if it fits the ring.
func (c *Consumer) readerLarge(ctx context.Context) (total, k uint64, err error) {
	w, err := c.start(ctx)
	if err != nil {
		return 0, 0, err
	}
	if w <= uint32(c.payload) { // a whole message, after a takeover
		return uint64(w), 1, nil
	}
	if total, k, err = c.first(w); err != nil {
		return 0, 0, err
	}
	if k <= c.n {
		var n uint64
		n, err = c.arrived(ctx, total, k)
		if err == nil && (n < k || lenOf(c.at(c.tail+k-1)) == fragCont|fragAbort) {
			err = c.endedEarly(n, total) // a reader would release it all
		}
	}
	return total, k, err
}

// Len returns the message's length, all fragments together.
func (r *MessageReader) Len() int { return int(r.total) }

// Streaming reports whether the message has more fragments than the ring
// has slots, so that Next, Read, WriteTo and Close may wait for fragments
// the producer has yet to publish. A reader of a message that fits the
// ring never waits: Reader waited for all of it.
func (r *MessageReader) Streaming() bool { return r.streaming }

// SetContext makes ctx govern the reader's waits from now on, in place of
// the one given to Reader: for a caller whose deadline moves between two
// reads of one message (a net.Conn's Read, as package conn's). Nothing
// changes for a reader that has ended.
func (r *MessageReader) SetContext(ctx context.Context) {
	if r.err == nil {
		r.ctx = ctx
	}
}

// Next returns the next fragment's payload in place (or what Read left
// of the current one), io.EOF after the last. The slice is valid until the
// reader's next call and must not be written. Next after the last fragment
// releases the message, as Close does. For a message larger than the ring
// Next waits under Reader's context for the fragment to be published; see
// Reader for what a wait that ends does.
func (r *MessageReader) Next() ([]byte, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	c := r.c
	if err := c.open(); err != nil {
		r.end(err)
		return nil, err
	}
	b, err := r.next()
	if err == nil {
		// The caller holds a slice into the segment now: Close must
		// not unmap it (Ring.Close).
		c.lend()
	}
	r.tail, r.released = c.tail, c.released
	c.end()
	return b, err
}

// next is Next inside a call of the Consumer (open): what Read left of the
// current fragment, or the next one, or io.EOF (and the release) after the
// last. It lends nothing: the reader's own slices into the segment are
// touched only inside calls, which Close waits for and refuses once it has
// closed, so a reader read with Read alone lets Close unmap the segment.
func (r *MessageReader) next() ([]byte, error) {
	if b := r.rem; len(b) > 0 {
		r.rem = nil
		return b, nil
	}
	if r.got == r.total {
		r.c.releaseRead()
		r.end(io.EOF)
		return nil, io.EOF
	}
	return r.fragment()
}

// check returns the error that ended the reader, if one did, and ends it
// if another call of the Consumer has moved a cursor since its last call.
func (r *MessageReader) check() error {
	if r.err == nil && (r.c.tail != r.tail || r.c.released != r.released) {
		r.end(errReaderEnded)
	}
	return r.err
}

// end ends the reader with err, which its calls return from then on, and
// lets go of its context.
func (r *MessageReader) end(err error) {
	r.err, r.rem, r.ctx = err, nil, nil
}

// fragment checks and takes the fragment at seq, inside a call, the
// message having bytes left. It checks what assemble checks, and ends as
// assemble ends: ErrTorn for an abort, ErrCorrupt for anything a producer
// could not have written, and for a streaming message ErrTorn with the
// error of a wait that ended.
func (r *MessageReader) fragment() ([]byte, error) {
	c := r.c
	seq := r.seq
	if r.streaming {
		// c.tail is seq: the fragments handed out, which the caller
		// no longer holds, are released when the reader waits or holds
		// a run of them.
		if seq == c.cachedHead {
			c.releaseRead()
			if err := c.available(r.ctx, 1); err != nil {
				// tornRecv leaves the rest to be discarded, as this
				// reader did.
				c.frag, c.whole = fragNone, c.payload
				err = c.tornRecv(r.total, r.got, err)
				r.end(err)
				return nil, err
			}
		} else if c.tail-c.released >= c.streamRun {
			c.release()
		}
	}
	s := c.at(seq)
	w := lenOf(s)
	n := uint64(w & fragLen)
	switch w &^ fragLen {
	case fragMore | fragCont:
		if n != uint64(c.payload) || r.got+n >= r.total {
			return nil, r.corrupt(seq, w)
		}
	case fragCont:
		if n < 1 || r.got+n != r.total {
			return nil, r.corrupt(seq, w)
		}
	case fragCont | fragAbort:
		if n != 0 {
			return nil, r.corrupt(seq, w)
		}
		c.tail = seq + 1
		c.frag, c.whole = fragNone, c.payload
		c.releaseRead()
		err := fmt.Errorf("%w: the producer aborted the message at slot %d after %d of its %d bytes",
			ErrTorn, r.start, r.got, r.total)
		r.end(err)
		return nil, err
	default:
		return nil, r.corrupt(seq, w)
	}
	r.seq = seq + 1
	r.got += n
	c.bytes += n
	if r.streaming {
		c.tail, c.left = r.seq, r.total-r.got
		if r.got == r.total { // the whole message taken: nothing left to discard
			c.frag, c.whole = fragNone, c.payload
		}
	}
	return s[lenSize : lenSize+n : lenSize+n], nil
}

// corrupt ends the reader with ErrCorrupt for the fragment at seq, whose
// word is w, as badFragment leaves the Consumer: a message that fits the
// ring stays where it is, the rest of a streaming one is to be discarded.
func (r *MessageReader) corrupt(seq uint64, w uint32) error {
	err := r.c.badFragment(r.start, seq, w, r.total, r.got, r.streaming)
	if r.streaming {
		r.c.releaseRead()
	}
	r.end(err)
	return err
}

// Read copies the message's next bytes into p: from the current
// fragment, and from the next ones while p has room and they need no wait
// (so it waits, for a message larger than the ring, only when it has
// copied nothing). It returns io.EOF after the message's last byte, and
// releases the message when it finds its end, as Next does.
func (r *MessageReader) Read(p []byte) (n int, err error) {
	if err := r.check(); err != nil {
		return 0, err
	}
	c := r.c
	if err := c.open(); err != nil {
		r.end(err)
		return 0, err
	}
	defer r.leave()
	for n < len(p) {
		if len(r.rem) == 0 {
			if n > 0 && r.streaming && r.got < r.total && r.seq == c.cachedHead {
				break // the next fragment would be waited for
			}
			var b []byte
			if b, err = r.next(); err != nil {
				if n > 0 && err == io.EOF {
					err = nil // the next Read returns it
				}
				return n, err
			}
			r.rem = b
		}
		k := memcopy.Copy(p[n:], r.rem)
		r.rem = r.rem[k:]
		n += k
	}
	return n, nil
}

// leave ends a call of the reader's (Read) begun with open.
func (r *MessageReader) leave() {
	r.tail, r.released = r.c.tail, r.c.released
	r.c.end()
}

// WriteTo writes the rest of the message to w, passing each fragment as
// it lies in the ring (w must not keep the slice after its Write
// returns), until the end of the message (err nil) or an error: the
// reader's (as Next's), w's, or io.ErrShortWrite.
func (r *MessageReader) WriteTo(w io.Writer) (n int64, err error) {
	for {
		b, err := r.Next()
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return n, err
		}
		k, err := w.Write(b)
		n += int64(k)
		if err != nil {
			return n, err
		}
		if k != len(b) {
			return n, io.ErrShortWrite
		}
	}
}

// Close releases what the reader has read and discards the rest of the
// message, through its last fragment, so that the Consumer's next call
// reads the next message. A message that fits the ring is released with
// one store; the rest of a streaming one is waited for, under Reader's
// context, and discarded as it comes: if that wait ends, Close returns its
// error wrapped with ErrTorn, and the Consumer's next call goes on
// discarding, as after a torn Recv. Close after the reader has ended (at
// io.EOF, an error, or Close) does nothing and returns nil; after another
// call of the Consumer ended it, an error wrapping ErrClosed.
func (r *MessageReader) Close() error {
	if err := r.check(); err != nil {
		if err == errReaderEnded {
			return err
		}
		return nil
	}
	c := r.c
	if err := c.open(); err != nil {
		r.end(err)
		return err
	}
	defer c.end()
	ctx := r.ctx
	r.end(errReaderClosed)
	if r.streaming && r.got < r.total {
		// The Consumer is in fragSkip, at the fragment after the
		// last one handed out: discard as its next call would.
		if err := c.skip(ctx); c.frag != fragNone {
			return err
		}
		return nil
	}
	c.releaseRead()
	return nil
}

// MessageWriter writes one message in place: Next returns the payload of
// the next fragment's slot, to be written where the consumer will read
// it, and Commit says how much of it was written; Write and ReadFrom make
// an io.Writer and an io.ReaderFrom of it. Close publishes the message.
// Get it from Producer.Writer.
//
// A MessageWriter belongs to its Producer, which has one: every call of
// Writer returns the same pointer, set to the next message. It is valid
// until its Close, or until another call of the Producer that writes a
// slot (Send, TrySend, SendBatch, Reserve, ReserveBatch, Writer), which
// ends it; its methods then return an error wrapping ErrClosed. Its
// methods must not be called concurrently with each other or with the
// Producer's.
type MessageWriter struct {
	p *Producer
	// ctx is Writer's context, under which a streaming writer waits for
	// free slots (Next, Write, ReadFrom) and for the abort (Close).
	ctx  context.Context
	n, m int // the most the message holds; bytes committed
	// start is the message's first slot, seq (a message that fits the
	// ring) the slot of the current fragment, head the Producer's head
	// as this writer left it: another call that writes a slot moves it,
	// and so ends the writer.
	start, seq, head uint64
	// streaming: n bytes take more fragments than the ring has slots;
	// the writer publishes full fragments as it goes, and the message
	// has no length but n.
	streaming bool
	cur       []byte // the current fragment's payload; nil between fragments
	off       int    // bytes of cur written by Commit, Write or ReadFrom
	ended     bool   // a commit shorter than its space ended the message
	closed    bool   // Close ran
	err       error  // nil while open; the error that ended it, errWriterClosed or errWriterEnded
	probe     [1]byte
}

// Writer begins a message of at most n bytes (n up to MaxMessage),
// written in place: Next returns the payload of the next fragment's slot
// (a message that fits a slot has one), Commit says how many bytes of it
// were written, Write and ReadFrom copy into the slots, and Close
// publishes the message. No allocation is made.
//
// "Reserve up to n, commit m <= n": if n bytes fit the ring (their
// fragments are no more than its slots), Writer waits for that many free
// slots, nothing is published before Close, and Close publishes exactly
// the m bytes committed, however many fewer than n: a message of m bytes,
// in one slot if m fits one. Bytes written past m never reach the consumer.
// A serializer reserves the most it may write, and commits what it wrote.
//
// If n bytes take more fragments than the ring has slots, the message
// streams: Next waits for a free slot, and full fragments are published as
// the writer goes, so that the consumer reads them meanwhile. Such a
// message has no length but n: Close with fewer bytes committed aborts it
// (the consumer discards what it got, with ErrTorn) and returns an error
// wrapping ErrTorn that names both lengths. A wait that ends in the middle
// of it returns its error wrapped with ErrTorn too, as a streaming Send's
// does; the Producer's next call aborts the message.
//
// ctx governs the writer for its whole life, as an http.Request's context
// governs the request: Writer waits under it for free slots (and for the
// abort of a message left unfinished), and a streaming writer's Next,
// Write, ReadFrom and Close wait under it too.
//
// The returned writer is valid until its Close, or until another call of
// the Producer that writes a slot, which ends it: nothing of a message
// that fits the ring is published then, and a streaming one is aborted. A
// slice from Next is valid until the writer's next call. Pending
// reservations are published with the message, or before it streams.
//
// It returns ErrMessageTooLarge for n beyond MaxMessage, and Send's errors.
func (p *Producer) Writer(ctx context.Context, n int) (*MessageWriter, error) {
	if n < 0 || uint64(n) > p.maxMsg {
		return nil, p.tooLarge(n)
	}
	if err := p.open(); err != nil {
		return nil, err
	}
	defer p.end()
	if p.mid {
		if err := p.abort(ctx); err != nil {
			return nil, err
		}
	}
	k := fragmentCount(uint64(n), p.size)
	streaming := k > p.n
	if streaming {
		if p.head != p.published {
			p.publish() // the reservations before this message, as stream does
		}
	} else if err := p.room(ctx, k); err != nil {
		return nil, err
	}
	w := &p.wr
	*w = MessageWriter{p: p, ctx: ctx, n: n,
		start: p.head, seq: p.head, head: p.head, streaming: streaming}
	return w, nil
}

// Next returns the space of the next fragment, in place: its slot's
// payload, as much of it as the message may still hold (n less what was
// committed), or what Write and ReadFrom left of the current fragment. It
// is valid until the writer's next call. Write to it, then Commit what
// was written. The slot is not cleared: it holds an earlier message's
// bytes, which nobody reads unless committed.
//
// When the message is complete (n bytes committed, or a commit shorter
// than its space ended it) Next returns an error wrapping
// ErrMessageTooLarge. A streaming writer waits under Writer's context for
// a free slot.
func (w *MessageWriter) Next() ([]byte, error) {
	if err := w.check(); err != nil {
		return nil, err
	}
	if w.cur == nil {
		if w.full() {
			return nil, w.fullErr()
		}
		p := w.p
		if err := p.open(); err != nil {
			return nil, w.fail(err)
		}
		err := w.acquire()
		p.end()
		if err != nil {
			return nil, err
		}
	}
	return w.cur[w.off:], nil
}

// full reports whether the message can take no more bytes.
func (w *MessageWriter) full() bool { return w.ended || w.m == w.n }

func (w *MessageWriter) fullErr() error {
	return fmt.Errorf("%w: the message is complete at %d bytes (of at most %d); Close publishes it",
		ErrMessageTooLarge, w.m, w.n)
}

// check returns the error that ended the writer, if one did, and ends it
// if another call of the Producer has written a slot since its last call.
func (w *MessageWriter) check() error {
	if w.err == nil && w.p.head != w.head {
		w.end(errWriterEnded)
	}
	return w.err
}

func (w *MessageWriter) end(err error) {
	w.err, w.cur, w.ctx = err, nil, nil
}

// fail ends the writer with err, a call's failure: wrapped with ErrTorn if
// fragments of a streaming message are published, or will be by the
// Producer's next call, which aborts it.
func (w *MessageWriter) fail(err error) error {
	if w.streaming && w.p.head != w.start {
		err = fmt.Errorf("%w: %d of the %d bytes of a message written, the rest never will be (the producer's next call aborts it): %w",
			ErrTorn, w.m, w.n, err)
	}
	w.end(err)
	return err
}

// acquire sets cur to the next fragment's payload, inside a call. A
// message that fits the ring has its slots already (Writer waited for
// them): the fragment's slot is seq. A streaming one writes at head, and
// waits for it to be free.
func (w *MessageWriter) acquire() error {
	p := w.p
	if !w.streaming {
		s := p.at(w.seq)
		switch {
		case w.n <= p.payload: // one slot, a whole message
			w.cur = s[lenSize : lenSize+w.n : lenSize+w.n]
		case w.m == 0:
			w.cur = s[lenSize+totalSize:]
		default:
			k := lenSize + min(p.payload, w.n-w.m)
			w.cur = s[lenSize:k:k]
		}
		p.lend()
		return nil
	}
	if p.head-p.published >= p.n-1 {
		// Never hold a whole ring unpublished: the slot before the
		// published cursor keeps the last published word (stream).
		p.publishLarge()
	}
	if p.head-p.cachedTail >= p.n {
		if _, err := p.poll(); err != nil {
			return w.fail(err)
		}
		if p.head-p.cachedTail >= p.n {
			if err := p.waitSpace(w.ctx); err != nil {
				return w.fail(err)
			}
		}
	}
	s := p.at(p.head)
	if w.m == 0 {
		binary.LittleEndian.PutUint64(s[lenSize:], uint64(w.n))
		w.cur = s[lenSize+totalSize:]
	} else {
		k := lenSize + min(p.payload, w.n-w.m)
		w.cur = s[lenSize:k:k]
	}
	p.lend()
	return nil
}

// Commit records that k bytes of the space the last Next returned were
// written. k shorter than that space ends the message there: Close
// publishes it (a streaming message, which must be n bytes long, is then
// aborted). A streaming writer publishes a run of full fragments as it
// goes. Committing 0 bytes with no space taken is not an error.
func (w *MessageWriter) Commit(k int) error {
	if err := w.check(); err != nil {
		return err
	}
	if w.cur == nil && k == 0 {
		return nil
	}
	if w.cur == nil || k < 0 || k > len(w.cur)-w.off {
		space := 0
		if w.cur != nil {
			space = len(w.cur) - w.off
		}
		return fmt.Errorf("%w: Commit(%d) of a space of %d bytes", ErrMessageTooLarge, k, space)
	}
	return w.advance(k, k < len(w.cur)-w.off)
}

// advance records k more bytes written to cur, and finishes the fragment
// when it is full or short (a commit shorter than its space).
func (w *MessageWriter) advance(k int, short bool) error {
	w.off += k
	if w.off < len(w.cur) && !short {
		return nil
	}
	p := w.p
	if err := p.open(); err != nil {
		return w.fail(err)
	}
	w.finish()
	p.end()
	return nil
}

// finish ends the current fragment, of off bytes, inside a call. Of a
// message that fits the ring nothing is written but the payload until
// Close, which knows its length. A streaming message's full fragment is
// written out (its length word) and counted in head, published with its
// run; a short one ends the message, which Close then aborts.
func (w *MessageWriter) finish() {
	p := w.p
	used, full := w.off, w.off == len(w.cur)
	w.cur, w.off = nil, 0
	w.m += used
	if !full {
		w.ended = true
		return
	}
	if !w.streaming {
		w.seq++
		return
	}
	word := fragCont | uint32(used) // the last fragment
	switch {
	case p.head == w.start:
		word = fragMore | uint32(used)
	case w.m < w.n:
		word |= fragMore
	}
	p.hold(p.at(p.head), p.head, word)
	p.head++
	p.bytes += uint64(used)
	w.head = p.head
	// Mid-message until the last fragment: another call of the
	// Producer aborts the message before its own.
	if w.m < w.n {
		p.mid, p.whole = true, -1
	} else {
		p.mid, p.whole = false, p.payload
	}
	if p.head-p.published >= p.streamRun {
		p.publishLarge()
	}
}

// Write copies b into the message's slots. It returns an error wrapping
// ErrMessageTooLarge, with the bytes that fitted, for bytes beyond the
// message's n, and a streaming writer's errors (see Next).
func (w *MessageWriter) Write(b []byte) (n int, err error) {
	for len(b) > 0 {
		space, err := w.Next()
		if err != nil {
			return n, err
		}
		k := memcopy.Copy(space, b)
		b = b[k:]
		n += k
		if err := w.advance(k, false); err != nil {
			return n, err
		}
	}
	return n, nil
}

// ReadFrom reads from r into the message's slots until io.EOF, which it
// does not return. If r has more bytes than the message may hold, it
// returns an error wrapping ErrMessageTooLarge (one byte beyond is read
// from r to tell).
func (w *MessageWriter) ReadFrom(r io.Reader) (n int64, err error) {
	for {
		space, err := w.Next()
		if err != nil {
			if w.err == nil && w.full() {
				return n, w.probeEOF(r)
			}
			return n, err
		}
		k, rerr := r.Read(space)
		n += int64(k)
		if err := w.advance(k, false); err != nil {
			return n, err
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// probeEOF reads one byte from r, whose bytes fill the message: nil if r
// is at its end, ErrMessageTooLarge if not.
func (w *MessageWriter) probeEOF(r io.Reader) error {
	for {
		k, err := r.Read(w.probe[:])
		switch {
		case k > 0:
			return fmt.Errorf("%w: the reader has more than the message's %d bytes", ErrMessageTooLarge, w.m)
		case err == io.EOF:
			return nil
		case err != nil:
			return err
		}
	}
}

// Close publishes the message: for one that fits the ring, the m bytes
// committed (or written by Write and ReadFrom), with one store; a message
// that fits a slot is moved into one. A streaming message is complete
// once its n bytes are committed, and Close publishes its last run; with
// fewer, Close aborts it (waiting for a free slot under Writer's context)
// and returns an error wrapping ErrTorn. Close after an error returns that
// error; a second Close returns nil; after another call of the Producer
// ended the writer, an error wrapping ErrClosed.
func (w *MessageWriter) Close() error {
	if w.closed {
		return nil
	}
	if err := w.check(); err != nil {
		w.closed = true
		return err
	}
	p := w.p
	if err := p.open(); err != nil {
		w.closed = true
		return w.fail(err)
	}
	defer p.end()
	if w.cur != nil && w.off > 0 {
		w.finish() // what Write or ReadFrom left in a fragment: the message's end
	}
	var err error
	if w.streaming {
		err = w.closeStream()
	} else {
		w.publishWhole()
	}
	w.end(errWriterClosed)
	w.closed = true
	return err
}

// publishWhole writes the length words of a message that fits the ring,
// now that its length m is known, and publishes it with one store. If m
// fits a slot and was written as fragments (n did not fit one), the
// payload moves to a whole message's place: a fragmented message is
// always longer than a slot holds.
func (w *MessageWriter) publishWhole() {
	p := w.p
	m, s := w.m, p.at(w.start)
	if m <= p.payload {
		if w.n > p.payload {
			first := int(p.size) - lenSize - totalSize
			copy(s[lenSize:], s[lenSize+totalSize:lenSize+totalSize+min(m, first)])
			if m > first { // the last bytes, from the second fragment
				copy(s[lenSize+first:lenSize+m], p.at(w.start + 1)[lenSize:])
			}
		}
		p.hold(s, w.start, uint32(m))
		p.head++
	} else {
		k := fragmentCount(uint64(m), p.size)
		binary.LittleEndian.PutUint64(s[lenSize:], uint64(m))
		p.hold(s, w.start, fragMore|uint32(int(p.size)-lenSize-totalSize))
		left := m - (int(p.size) - lenSize - totalSize)
		for i := uint64(1); i < k; i++ {
			word := fragCont | uint32(min(left, p.payload))
			if left > p.payload {
				word |= fragMore
			}
			p.hold(p.at(w.start+i), w.start+i, word)
			left -= p.payload
		}
		p.head += k
	}
	p.bytes += uint64(m)
	w.head = p.head
	p.publishLarge()
}

// closeStream ends a streaming message: published if complete, else
// aborted, if anything of it is in the ring.
func (w *MessageWriter) closeStream() error {
	p := w.p
	if w.m == w.n {
		if p.head != p.published {
			p.publishLarge()
		}
		return nil
	}
	if p.head == w.start {
		return fmt.Errorf("%w: MessageWriter closed after %d of the %d bytes a message longer than the ring must have; nothing of it was published",
			ErrTorn, w.m, w.n)
	}
	if err := p.abort(w.ctx); err != nil {
		return fmt.Errorf("%w: MessageWriter closed after %d of the %d bytes a message longer than the ring must have; the producer's next call aborts it: %w",
			ErrTorn, w.m, w.n, err)
	}
	w.head = p.head
	return fmt.Errorf("%w: MessageWriter closed after %d of the %d bytes a message longer than the ring must have; the message is aborted",
		ErrTorn, w.m, w.n)
}

// CommitN is Commit with the last reservation shortened to m bytes: a
// serializer reserves (Reserve, or the last slot of ReserveBatch) the most
// it may write, writes m bytes, and publishes those alone; the consumer
// never sees the bytes past m. m must be between 0 and the reservation's
// length, and a reservation must be pending, else it returns an error
// wrapping ErrMessageTooLarge. For a message that may be longer than a
// slot, Producer.Writer reserves up to n bytes in fragments.
func (p *Producer) CommitN(m int) error {
	if err := p.open(); err != nil {
		return err
	}
	defer p.end()
	if p.head == p.published {
		return fmt.Errorf("%w: CommitN(%d) with nothing reserved", ErrMessageTooLarge, m)
	}
	s := p.at(p.head - 1)
	if p.held { // a reservation of Reserve, its length not yet in the slot
		if m < 0 || m > int(p.heldLen) {
			return fmt.Errorf("%w: CommitN(%d): the last reservation holds %d bytes", ErrMessageTooLarge, m, p.heldLen)
		}
		p.bytes -= uint64(int(p.heldLen) - m)
		p.heldLen = uint32(m)
		p.publish()
		return nil
	}
	n := lenOf(s)
	if n > uint32(p.payload) {
		return fmt.Errorf("%w: CommitN(%d): the last slot written is a fragment of a MessageWriter's message, not a reservation",
			ErrMessageTooLarge, m)
	}
	if m < 0 || m > int(n) {
		return fmt.Errorf("%w: CommitN(%d): the last reservation holds %d bytes", ErrMessageTooLarge, m, n)
	}
	p.hold(s, p.head-1, uint32(m))
	p.bytes -= uint64(int(n) - m)
	p.publish()
	return nil
}
