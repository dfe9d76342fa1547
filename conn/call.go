package conn

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/shmring/shmring/ring"
)

// Request-response over a Conn. Each message of a call carries a 9-byte
// head before its payload:
//
//	offset  size  field
//	0       8     call id, little-endian: the client's, echoed in the reply
//	8       1     kind: request, reply, or failed (the payload is the
//	              handler's error text)
//
// so that replies can be matched to calls however many are in flight: a
// Client's calls are pipelined (many requests may be in the ring at once),
// Serve answers them in order, and whoever of the Client reads replies
// hands each to its call.
const (
	callHead     = 9
	kindRequest  = 0
	kindReply    = 1
	kindFailed   = 2
	maxErrorText = 4096
)

// Handler answers one request. The request's bytes are valid only until it
// returns; so is the reply, which Serve copies into the ring. An error is
// sent to the caller as a *RemoteError carrying its text, cut to 4 KiB or
// to the longest reply the connection carries, if less.
type Handler func(ctx context.Context, req []byte) ([]byte, error)

// RemoteError is a handler's error, as a Client's Call returns it.
type RemoteError struct{ Msg string }

func (e *RemoteError) Error() string { return "conn: remote: " + e.Msg }

// ErrProtocol: a message of a call that is not one (too short for the
// head, an unknown kind). The connection cannot be trusted after it, and
// every call of the Client fails with it.
var ErrProtocol = errors.New("conn: call protocol violated")

// Serve answers the requests on c with h, one after the other, until c's
// client closes (it returns nil) or c fails (it returns the error). A
// request torn by its sender (ring.ErrTorn: its context ended while it
// streamed) is skipped. Serve uses c's Producer and Consumer: nothing else
// may, meanwhile.
func Serve(ctx context.Context, c *Conn, h Handler) error {
	var head [callHead]byte
	maxReply := c.out.MaxMessage() - callHead
	whole := wholeOf(c.out)
	// A request that fits a slot, or 64 KiB if slots are larger, comes
	// with one Recv into in; a longer one is read as it arrives into buf
	// (appendRest), never into a buffer sized from the length it claims.
	in, buf := make([]byte, min(wholeOf(c.in), 64<<10)), []byte(nil)
	out := make([]byte, min(whole, copiedMessage))
	for {
		var req []byte
		n, err := c.c.Recv(ctx, in)
		if errors.Is(err, io.ErrShortBuffer) {
			if buf, err = readRequest(ctx, c.c, head[:], buf[:0]); err == errSkip {
				continue
			}
			req = buf
		} else if err == nil {
			if n < callHead {
				return shortRequest(n)
			}
			copy(head[:], in[:callHead])
			req = in[callHead:n]
		}
		switch {
		case errors.Is(err, ring.ErrTorn):
			continue
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return err
		}
		if head[8] != kindRequest {
			return fmt.Errorf("%w: request kind %d", ErrProtocol, head[8])
		}
		resp, herr := h(ctx, req)
		kind := byte(kindReply)
		if herr == nil && len(resp) > maxReply {
			herr = fmt.Errorf("conn: a %d-byte reply, longer than the connection's MaxMessage allows (%d)", len(resp), maxReply)
		}
		if herr != nil {
			kind, resp = kindFailed, []byte(errorText(herr, maxReply))
		}
		if err := send(ctx, c.p, whole, binary.LittleEndian.Uint64(head[:]), kind, resp, out); err != nil {
			return err
		}
	}
}

// errSkip: a request torn by its sender, which Serve skips.
var errSkip = errors.New("conn: torn request")

// readRequest reads a request longer than a slot, as it arrives: its head
// into head, the rest appended to buf. It returns errSkip for a request
// torn after it began.
func readRequest(ctx context.Context, c *ring.Consumer, head, buf []byte) ([]byte, error) {
	m, err := c.Reader(ctx)
	if err != nil {
		return buf, err
	}
	if n := m.Len(); n < callHead {
		_ = m.Close()
		return buf, shortRequest(n)
	}
	if _, err := io.ReadFull(m, head); err != nil {
		return buf, errSkip
	}
	if buf, err = appendRest(buf, m); err != nil {
		return buf, errSkip
	}
	return buf, nil
}

func shortRequest(n int) error {
	return fmt.Errorf("%w: a %d-byte request, shorter than the %d-byte head", ErrProtocol, n, callHead)
}

// appendRest appends the rest of m's message to b, fragment by fragment:
// b grows with the bytes that came, never from the length the message's
// first fragment claims (a peer may claim a gigabyte and send a kilobyte).
// A message its producer closed in the middle of is torn, though its error
// wraps io.EOF too.
func appendRest(b []byte, m *ring.MessageReader) ([]byte, error) {
	for {
		frag, err := m.Next()
		if errors.Is(err, io.EOF) && !errors.Is(err, ring.ErrTorn) {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		b = append(b, frag...)
	}
}

// errorText is a handler's error as a failed reply carries it: at most
// maxErrorText bytes, and at most limit, the longest reply the connection
// carries (a MaxMessage shorter than the text would make the reply fail to
// send, and Serve end), cut at a character's boundary.
func errorText(err error, limit int) string {
	t := err.Error()
	if n := max(min(maxErrorText, limit), 0); len(t) > n {
		t = strings.ToValidUTF8(t[:n], "")
	}
	return t
}

// send writes one message of a call: head, then payload. A message that
// fits buf (the sender's, of up to copiedMessage bytes) is put together
// there and sent with one Send, which at 64 bytes costs some 15 ns less
// than a Reserve and a Commit; a longer one of at most whole bytes fits a
// slot, and is written in place, reserved and committed, which costs less
// than a MessageWriter.
func send(ctx context.Context, p *ring.Producer, whole int, id uint64, kind byte, payload []byte, buf []byte) error {
	if n := callHead + len(payload); n <= len(buf) {
		binary.LittleEndian.PutUint64(buf, id)
		buf[8] = kind
		copy(buf[callHead:], payload)
		return p.Send(ctx, buf[:n])
	}
	if n := callHead + len(payload); n <= whole {
		b, err := p.Reserve(ctx, n)
		if err != nil {
			return err
		}
		binary.LittleEndian.PutUint64(b, id)
		b[8] = kind
		copy(b[callHead:], payload)
		return p.Commit()
	}
	w, err := p.Writer(ctx, callHead+len(payload))
	if err != nil {
		return err
	}
	var head [callHead]byte
	binary.LittleEndian.PutUint64(head[:], id)
	head[8] = kind
	if _, err := w.Write(head[:]); err != nil {
		_ = w.Close()
		return err
	}
	if _, err := w.Write(payload); err != nil {
		_ = w.Close()
		return err
	}
	return w.Close()
}

// wholeOf is the longest message that fits one slot of r: its payload
// (ring.Producer.Reserve).
func wholeOf(r *ring.Ring) int { return r.SlotSize() - 4 }

// Client makes calls on a Conn, from any number of goroutines at once.
// Requests are sent one at a time (the ring has one producer), and many
// may be in flight. Replies are read by the callers themselves, one at a
// time: a caller whose reply has not come takes the turn to read, reads
// until its own reply arrives, handing others' to their calls, and gives
// the turn to the next caller waiting. A lone caller so reads its own
// reply, with no hand-off between goroutines; one that finds no other call
// in flight does not even register its call for a hand-off, and keeps the
// turn for the next call made alone, which takes it with one
// compare-and-swap. A short reply (up to 1 KiB with its 9-byte head) is
// copied out of the ring with one Recv and then into the reply's buffer;
// a longer one of one slot, from the ring straight into the reply's
// buffer.
//
// A caller reads under its own context only where that tears nothing: it
// waits under it for a reply to begin, and reads a reply that fits the
// ring, which has arrived whole, without waiting at all. A reply larger
// than the ring, which streams, goes to a goroutine of the Client's that
// reads it under no caller's context, so a call that gives up tears no
// reply, its own or another's, and leaves none half read. That
// goroutine also reads the replies of calls that gave up while no caller
// is reading, so that the server is never left blocked sending a reply
// nobody reads. It runs only while there is such work: an idle Client has
// no goroutine.
type Client struct {
	c      *Conn
	whole  int            // wholeOf the ring requests go on
	single int            // wholeOf the ring replies come on: a reply of at most this is one fragment
	send   sync.Mutex     // held while a request is written
	turn   chan struct{}  // holds the token while nobody reads replies
	head   [callHead]byte // a reply's head, read by the turn's holder
	short  []byte         // a reply of up to copiedMessage bytes, copied out by the turn's holder
	out    []byte         // a request of up to copiedMessage bytes, copied in by the sender
	// fast is the turn's state while calls are made alone (fastOff when
	// they are not): see Client.alone.
	fast atomic.Uint32
	mu   sync.Mutex
	// next is the next call's id: atomic, for a revoker takes one while a
	// call made alone takes its own.
	next atomic.Uint64
	// waiting counts the calls waiting for their reply without the turn;
	// drains, the goroutines reading for nobody.
	waiting, drains int
	calls           map[uint64]*call    // the calls waiting for their replies
	orphans         map[uint64]struct{} // the calls that gave up, whose replies are to come
	// hasOrphans is len(orphans) > 0, set under mu and read without it
	// by kick, so that a call returning with no orphans about (nearly
	// always) takes no lock for it.
	hasOrphans atomic.Bool
	err        error         // why the Client failed: set once, under mu
	dead       chan struct{} // closed when err is set
	failed     atomic.Bool   // set when err is, for a look that costs a load
}

// The turn's states (Client.fast). In every state but fastOff the turn
// is the fast mode's, not in its channel.
const (
	fastOff     = iota // the turn is in its channel, or with whoever took it from there
	fastIdle           // the fast mode holds it, and no call is in flight
	fastBusy           // a call made alone holds it
	fastRevoked        // a call made alone holds it, and must give it back to its channel
)

type result struct {
	b   []byte
	err error
}

// call is a call waiting for its reply: the buffer the reply is appended
// to, and the channel a reply read by another goroutine comes on.
type call struct {
	dst []byte
	ch  chan result
}

// callPool holds calls for reuse: a channel each would be most of a
// call's allocations.
var callPool = sync.Pool{New: func() any { return &call{ch: make(chan result, 1)} }}

// NewClient makes a Client of c. It uses c's Producer and Consumer:
// nothing else may, meanwhile.
func NewClient(c *Conn) *Client {
	cl := &Client{c: c, whole: wholeOf(c.out), single: wholeOf(c.in), turn: make(chan struct{}, 1), calls: make(map[uint64]*call),
		orphans: make(map[uint64]struct{}), dead: make(chan struct{})}
	cl.short = make([]byte, min(cl.single, copiedMessage))
	cl.out = make([]byte, min(cl.whole, copiedMessage))
	cl.turn <- struct{}{}
	return cl
}

// Call sends req and returns the reply. It returns ctx's error if ctx ends
// first (a reply that comes later is dropped), a *RemoteError if the handler
// failed, and, for this call and every later one, the connection's error
// once it fails: io.EOF once the server has closed and every reply is
// read, ring.ErrPeerClosed for a request sent after the server closed,
// ring.ErrPeerDead, ring.ErrClosed after this side's Close, ErrProtocol.
func (cl *Client) Call(ctx context.Context, req []byte) ([]byte, error) {
	return cl.AppendCall(ctx, nil, req)
}

// AppendCall is Call with the reply appended to dst, which it returns
// extended: with room in dst, a call allocates nothing. On an error it
// returns dst as it was. dst must not be used by anything else until
// AppendCall returns.
func (cl *Client) AppendCall(ctx context.Context, dst, req []byte) ([]byte, error) {
	b, err := cl.roundTrip(ctx, dst, req)
	if err != nil {
		return dst, err
	}
	return b, nil
}

func (cl *Client) roundTrip(ctx context.Context, dst, req []byte) ([]byte, error) {
	if id, ok := cl.alone(); ok {
		err := send(ctx, cl.c.p, cl.whole, id, kindRequest, req, cl.out)
		cl.send.Unlock()
		if err != nil {
			cl.leave()
			return nil, err
		}
		// Its reply is the next message, and nearly always short and
		// a reply, not a failure. Read here, such a reply goes to dst
		// without lead's hand-over, which cost a 64-byte call some 30
		// ns (BenchmarkCallCost), and of lead's looks before it reads
		// only ctx's is made: this call holds the turn, so nobody hands
		// it a reply and the Client has not failed (only the turn's
		// holder fails it, and done leaves no failed Client's turn to
		// the fast mode). Any other outcome is lead's.
		var got recvd
		if !ended(ctx) {
			n, err := cl.c.c.Recv(ctx, cl.short)
			if err == nil && n >= callHead && cl.short[8] == kindReply && binary.LittleEndian.Uint64(cl.short) == id {
				dst = append(dst, cl.short[callHead:n]...)
				cl.done(true)
				return dst, nil
			}
			got = recvd{n: n, err: err, made: true}
		}
		r, c, done := cl.lead(ctx, id, dst, nil, got)
		if done {
			return r.b, r.err
		}
		// Its reply streams, to a drain: it is registered now.
		defer cl.put(c)
		return cl.wait(ctx, id, c)
	}
	if h := testHookNotAlone; h != nil {
		h()
	}
	cl.mu.Lock()
	if cl.err != nil {
		cl.mu.Unlock()
		return nil, cl.err
	}
	cl.revoke()
	// Every way out leaves c's channel empty and the call out of calls:
	// nobody sends to it or writes to dst again.
	c := callPool.Get().(*call)
	c.dst = dst
	defer cl.put(c)
	id := cl.next.Add(1) - 1
	cl.calls[id] = c
	cl.mu.Unlock()
	cl.send.Lock()
	err := send(ctx, cl.c.p, cl.whole, id, kindRequest, req, cl.out)
	cl.send.Unlock()
	if err != nil {
		// No reply comes: the request did not go, or went torn, and
		// Serve skips a torn request.
		cl.mu.Lock()
		delete(cl.calls, id)
		cl.mu.Unlock()
		return nil, err
	}
	if h := testHookSent; h != nil {
		h()
	}
	// Nobody reading: read at once, with none of the waiting below.
	select {
	case <-cl.turn:
		if r, _, done := cl.lead(ctx, id, dst, c, recvd{}); done {
			return r.b, r.err
		}
	default:
	}
	return cl.wait(ctx, id, c)
}

// alone starts a call made alone, the common case of one caller at a
// time, and returns its id: nothing is in flight (no call waits for its
// reply, and none gave up whose reply is still to come), and it takes the
// turn and the sending. Its request so goes ahead of every later one, and
// its reply is the next to come; holding the turn from before it sends
// until its reply is read, the caller reads that reply itself, so the call
// needs no registration for anyone to hand it over. The caller sends, then
// unlocks cl.send.
//
// The request goes with the turn held only when nothing is in flight:
// with a reply to come, a server blocked sending it, on a full ring, could
// be waiting for the very reader that waits to send.
//
// A call made alone that ends with its reply read keeps the turn for the
// next (the fast mode, cl.fast): that one takes it with one
// compare-and-swap, where taking it from its channel, giving it back and
// looking under the mutex for calls in flight cost a call two runtime
// calls and six locked instructions (the fast mode's two swaps and its
// atomic id, three). Every caller that is not alone takes the turn out of
// the fast mode first (revoke, under the mutex): straight back to its
// channel if no call holds it, or from the call made alone when that one
// ends. The fast mode so is idle only while no call is
// registered and none gave up, what alone checks under the mutex, and
// stays busy only until one is.
func (cl *Client) alone() (uint64, bool) {
	if cl.fast.CompareAndSwap(fastIdle, fastBusy) {
		if h := testHookFast; h != nil {
			h()
		}
		// Only a caller that revoked the fast mode since the swap
		// sends meanwhile, and it revokes before it sends: with the
		// sending taken and the mode still busy, no request went
		// since the swap, and later ones go after this call's. A
		// revoker that came first may have sent already (its reply
		// is to come: this call is not alone), or be sending. (The
		// Client has not failed: done does not keep the turn for a
		// failed one.)
		if cl.send.TryLock() {
			if cl.fast.Load() == fastBusy {
				return cl.next.Add(1) - 1, true
			}
			cl.send.Unlock()
		}
		cl.leave()
		return 0, false
	}
	select {
	case <-cl.turn:
	default:
		return 0, false
	}
	cl.mu.Lock()
	if cl.err == nil && len(cl.calls) == 0 && len(cl.orphans) == 0 && cl.send.TryLock() {
		cl.fast.Store(fastBusy) // under mu, where revoke looks
		cl.mu.Unlock()
		return cl.next.Add(1) - 1, true
	}
	cl.mu.Unlock()
	cl.release()
	return 0, false
}

// revoke takes the turn out of the fast mode, for a call that is not made
// alone; the caller holds mu. A turn that no call holds goes back to its
// channel at once; the call made alone that holds it gives it back there
// when it ends (done).
func (cl *Client) revoke() {
	for {
		switch cl.fast.Load() {
		case fastIdle:
			if cl.fast.CompareAndSwap(fastIdle, fastOff) {
				cl.turn <- struct{}{} // empty: the fast mode held its one token
				return
			}
		case fastBusy:
			if cl.fast.CompareAndSwap(fastBusy, fastRevoked) {
				return
			}
		default:
			return
		}
	}
}

// done gives the turn back after a call's own reply was read: a call made
// alone (lone) keeps it in the fast mode, unless a caller that is not
// alone revoked it, or the Client has failed. Only the turn's holder fails
// the Client, and while a call made alone holds it nobody else reads: the
// fast mode so never holds the turn of a failed Client, and a call that
// takes it there need not look.
func (cl *Client) done(lone bool) {
	if lone {
		if !cl.failed.Load() && cl.fast.CompareAndSwap(fastBusy, fastIdle) {
			return
		}
		cl.fast.Store(fastOff)
	}
	cl.release()
}

// leave ends the fast mode for a call made alone that holds the turn, and
// gives the turn back to its channel.
func (cl *Client) leave() {
	cl.fast.Store(fastOff)
	cl.release()
}

// put returns a registered call to the pool.
func (cl *Client) put(c *call) {
	c.dst = nil
	callPool.Put(c)
}

// wait waits for the reply to registered call c (id): handed over by
// whoever reads, or read by this caller once it takes the turn.
func (cl *Client) wait(ctx context.Context, id uint64, c *call) ([]byte, error) {
	for {
		cl.setWaiting(+1)
		select {
		case r := <-c.ch:
			cl.setWaiting(-1)
			cl.kick() // the last caller waiting may have left orphans to read
			return r.b, r.err
		case <-cl.turn:
			cl.setWaiting(-1)
			if r, _, done := cl.lead(ctx, id, c.dst, c, recvd{}); done {
				return r.b, r.err
			}
		case <-ctx.Done():
			cl.setWaiting(-1)
			if r, ok := cl.giveUp(id, c); ok {
				return r.b, r.err
			}
			return nil, ctx.Err()
		case <-cl.dead:
			cl.setWaiting(-1)
			if r, ok := cl.giveUp(id, c); ok {
				return r.b, r.err
			}
			return nil, cl.err
		}
	}
}

func (cl *Client) setWaiting(d int) {
	cl.mu.Lock()
	cl.waiting += d
	cl.mu.Unlock()
}

// lead reads replies, the caller holding the turn, until call id's own
// has come (done), its context ends (done, with ctx's error) or the Client
// fails (done, with its error); it gives the turn back. c is the call's
// registration, nil for a call made alone (Client.alone), whose reply is
// appended to dst. It returns not done when a reply streams, having handed
// it and the turn to a drain: the caller waits again, for the registered
// call it returns (a call made alone is registered then). got, if made,
// is the outcome of the caller's own Recv into cl.short, which lead takes
// as its first.
func (cl *Client) lead(ctx context.Context, id uint64, dst []byte, c *call, got recvd) (result, *call, bool) {
	var ch chan result // nil for a call made alone
	lone := c == nil
	if !lone {
		ch = c.ch
	}
	for ; ; got = (recvd{}) {
		n, err := got.n, got.err
		if !got.made {
			if r, handed, end := cl.look(ctx, ch); handed {
				cl.release()
				return r, c, true
			} else if end != nil {
				return cl.quit(id, c, end)
			}
			// A short reply (nearly every one) is copied out by one
			// Recv; a longer one, which Recv leaves in the ring, is
			// read in place.
			n, err = cl.c.c.Recv(ctx, cl.short)
		}
		if err == nil {
			if r, mine := cl.hand(cl.short[:n], nil, id, dst, c); mine {
				cl.done(lone)
				return r, c, true
			}
			continue
		}
		var m *ring.MessageReader
		if err == io.ErrShortBuffer {
			m, err = cl.c.c.Reader(ctx)
		}
		if errors.Is(err, ring.ErrTorn) {
			continue // the rest of a reply the server aborted, or a torn one of ours
		}
		if err != nil {
			if ctxErr := endOf(ctx, err); ctxErr != nil {
				return cl.quit(id, c, ctxErr)
			}
			cl.fail(err)
			continue // to return cl.err, or a reply handed over first
		}
		if m.Streaming() {
			// Reading it waits for the server, under no caller's
			// context: a drain reads it, head and all (a first
			// fragment may be too short for the head, and a head of
			// an unknown kind is discarded with the rest, both
			// waits), and the caller waits again. This call's own
			// too: an end of ctx would tear it, and leave its rest
			// in the ring for nobody to discard.
			m.SetContext(context.Background())
			if lone {
				cl.fast.Store(fastOff) // the turn goes to the drain
				c = callPool.Get().(*call)
				c.dst = dst
			}
			cl.mu.Lock()
			cl.calls[id] = c // a no-op but for a call made alone
			cl.drains++
			cl.mu.Unlock()
			go cl.drain(m)
			return result{}, c, false
		}
		if n := m.Len(); n >= callHead && n <= cl.single {
			// One fragment, longer than Recv above takes: read in
			// place, head and all, by one Next.
			if r, mine := cl.take(m, id, dst, c); mine {
				cl.done(lone)
				return r, c, true
			}
			continue
		}
		switch to, kind, ok := cl.readHead(m); {
		case !ok:
		case to == id:
			var r result
			if lone {
				r = cl.deliverTo(m, to, kind, &call{dst: dst}, true) // whole in the ring: no wait
			} else {
				r = cl.deliver(m, to, kind, true)
			}
			cl.done(lone)
			return r, c, true
		default:
			cl.deliver(m, to, kind, false)
		}
	}
}

// recvd is the outcome of a Recv into Client.short, if one was made.
type recvd struct {
	n    int
	err  error
	made bool
}

// look is what lead looks at before it reads: a reply handed over on ch
// (nil for a call made alone, whose reply nobody hands over), and then the
// end of the Client or of ctx, which it returns. Two receives that cannot
// block, each cheap on a channel with nothing in it, where one select of
// two would lock both, and a load for the Client's failure.
func (cl *Client) look(ctx context.Context, ch chan result) (r result, handed bool, end error) {
	if ch != nil {
		select {
		case r := <-ch:
			return r, true, nil
		default:
		}
	}
	if cl.failed.Load() {
		return result{}, false, cl.err
	}
	if ended(ctx) {
		// Recv looks at ctx only when it waits: while others' replies
		// keep coming, it may never.
		return result{}, false, ctx.Err()
	}
	return result{}, false, nil
}

// ended reports whether ctx has ended, with no more than a call to Done
// for a context that cannot end.
func ended(ctx context.Context) bool {
	if done := ctx.Done(); done != nil {
		select {
		case <-done:
			return true
		default:
		}
	}
	return false
}

// quit ends call id with err, its context ended or the Client failed while
// it held the turn, and gives the turn back; a reply handed over meanwhile
// is returned instead. A call made alone (c nil) is made an orphan before
// the turn goes: a call made alone next, finding no orphan, would read its
// reply as none of anyone's and drop it, and the orphan made after would
// wait for that reply for ever, and keep every later call from being made
// alone.
func (cl *Client) quit(id uint64, c *call, err error) (result, *call, bool) {
	if c == nil {
		cl.fast.Store(fastOff) // before the orphan: the fast mode holds the turn only with none about
		cl.giveUp(id, nil)
		testHookQuit()
		cl.release()
		return result{err: err}, nil, true
	}
	cl.release()
	testHookQuit()
	if r, ok := cl.giveUp(id, c); ok {
		return r, c, true
	}
	return result{err: err}, c, true
}

// testHookQuit runs between quit's two steps; tests set it to widen the
// window between them.
var testHookQuit = func() {}

// testHookNotAlone, if set, runs when a call finds it is not alone, before
// it revokes the fast mode; tests set it to let the call holding the turn
// end first.
var testHookNotAlone func()

// testHookSent, if set, runs when a call that is not made alone has sent
// its request, before it looks for the turn; tests set it to let the
// caller holding the turn hand it its reply first.
var testHookSent func()

// testHookFast, if set, runs when a call has taken the turn from the fast
// mode, before it takes the sending; tests set it to let a revoker send in
// between. (A nil check, not a call, on the fast path.)
var testHookFast func()

// endOf returns ctx's error if err is the end of ctx: the ring reports a
// deadline passed from ctx.Deadline, before ctx's own timer may have
// fired, so ctx.Err can still be nil.
func endOf(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return context.DeadlineExceeded
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return ctx.Err()
	}
	return nil
}

// drain reads replies for nobody, holding the turn: first reply m, if it
// is given, then the replies of calls that gave up, until none is left to
// come, a caller waits (who reads from then on), or the Client fails. It
// reads under no caller's context.
func (cl *Client) drain(m *ring.MessageReader) {
	if m == nil {
		select {
		case <-cl.turn:
		case <-cl.dead:
			cl.mu.Lock()
			cl.drains--
			cl.mu.Unlock()
			return
		}
	} else if to, kind, ok := cl.readHead(m); ok {
		cl.deliver(m, to, kind, false)
	}
	for {
		cl.mu.Lock()
		if cl.err != nil || cl.waiting > 0 || len(cl.orphans) == 0 {
			cl.drains--
			cl.mu.Unlock()
			cl.release()
			return
		}
		cl.mu.Unlock()
		m, err := cl.c.c.Reader(context.Background())
		if errors.Is(err, ring.ErrTorn) {
			continue
		}
		if err != nil {
			cl.fail(err)
			continue
		}
		if to, kind, ok := cl.readHead(m); ok {
			cl.deliver(m, to, kind, false)
		}
	}
}

// release gives the turn back, and starts a drain if replies of calls
// that gave up are to come and no caller waits to read them.
func (cl *Client) release() {
	cl.turn <- struct{}{}
	cl.kick()
}

func (cl *Client) kick() {
	if !cl.hasOrphans.Load() {
		// Whoever makes an orphan kicks after: nothing to do until then.
		return
	}
	cl.mu.Lock()
	start := cl.err == nil && len(cl.orphans) > 0 && cl.waiting == 0 && cl.drains == 0
	if start {
		cl.drains++
	}
	cl.mu.Unlock()
	if start {
		go cl.drain(nil)
	}
}

// giveUp drops call id, which gave up: its reply, if it comes, is read by
// whoever reads next and dropped. A reply handed over before is returned.
// c is the call's registration, nil for a call made alone, which nobody
// else reads for.
//
// It kicks either way: a drain that handed this call its reply may have
// stopped because this call was waiting, leaving other calls' orphans to
// the caller it took for the next reader.
func (cl *Client) giveUp(id uint64, c *call) (result, bool) {
	cl.mu.Lock()
	waits := c == nil
	if !waits {
		if _, waits = cl.calls[id]; waits {
			delete(cl.calls, id)
		}
	}
	if waits && cl.err == nil {
		cl.orphans[id] = struct{}{}
		cl.hasOrphans.Store(true)
	}
	cl.mu.Unlock()
	cl.kick()
	if !waits {
		return <-c.ch, true // claimed by deliver, which sends it once read
	}
	return result{}, false
}

// copiedMessage is the longest reply, head included, a Client copies out
// of the ring with one Recv into a buffer of its own, then appends to the
// call's buffer: at 64 bytes that is some 30 ns cheaper than reading it
// in place with a MessageReader (Reader, Next, Close), a difference a
// second copy of a longer reply would cost back. It is also the longest
// request, or Serve's reply, put together in a buffer and sent with one
// Send (see send).
const copiedMessage = 1 << 10

// take hands over reply m, of one fragment, and releases it: see hand.
func (cl *Client) take(m *ring.MessageReader, id uint64, dst []byte, c *call) (r result, mine bool) {
	b, err := m.Next()
	if err != nil {
		cl.fail(err) // Close's, or the segment's
		return result{}, false
	}
	return cl.hand(b, m, id, dst, c)
}

// hand hands over reply b, of one fragment: read in place by m, which it
// then releases, or copied out of the ring (m nil). It returns the reply,
// and mine, if it is call id's own: c is that call's registration, nil
// for a call made alone, whose reply is appended to dst. It fails the
// Client if b is not a reply.
//
// A Close from another goroutine while the fragment is read in place swaps
// the segment's pages for zeros under it (ring.Ring.Close): what was read
// may be torn, and m's Close, which sees the Close, says so. Its error then
// stands for whatever the fragment seemed to say, and the Client fails
// with it.
func (cl *Client) hand(b []byte, m *ring.MessageReader, id uint64, dst []byte, c *call) (r result, mine bool) {
	to, kind, bad := headOf(b)
	if bad != nil {
		if err := closeReader(m); err != nil {
			bad = err
		}
		cl.fail(bad)
		return result{}, false
	}
	mine = to == id
	if !mine || c != nil {
		if c = cl.claim(to); c == nil {
			switch err := closeReader(m); {
			case err != nil:
				cl.fail(err)
			case mine:
				// Only a second reply to one call takes the caller's
				// away from it while it reads.
				err := secondReply(to)
				cl.fail(err)
				return result{err: err}, true
			}
			return result{}, false // to a call that gave up
		}
		dst = c.dst
	}
	if body := b[callHead:]; kind == kindReply {
		r = replyOf(to, kind, append(dst, body...), nil)
	} else {
		r = replyOf(to, kind, body, nil) // a RemoteError, with a copy of body
	}
	if err := closeReader(m); err != nil {
		r = replyOf(to, kind, nil, err)
		cl.fail(err)
	}
	if !mine {
		c.ch <- r // buffered, and only ever sent once
	}
	return r, mine
}

// closeReader closes m, if there is one.
func closeReader(m *ring.MessageReader) error {
	if m == nil {
		return nil
	}
	return m.Close()
}

// readHead reads the head of reply m. It fails the Client if m is not a reply,
// and returns not ok then, and for a reply torn before its head, which
// nobody can be told of.
func (cl *Client) readHead(m *ring.MessageReader) (to uint64, kind byte, ok bool) {
	if n := m.Len(); n < callHead {
		_ = m.Close()
		cl.fail(shortReply(n))
		return 0, 0, false
	}
	head := cl.head[:] // the turn's: a local would escape to the heap
	if _, err := io.ReadFull(m, head); err != nil {
		return 0, 0, false
	}
	to, kind, err := headOf(head)
	if err != nil {
		// Failed first: Close of a streaming reply waits for its rest.
		cl.fail(err)
		_ = m.Close()
		return 0, 0, false
	}
	return to, kind, true
}

// headOf returns the call id and kind of the reply whose bytes begin b, or
// ErrProtocol if b is too short for a head or the kind is not a reply's.
func headOf(b []byte) (to uint64, kind byte, err error) {
	if len(b) < callHead {
		return 0, 0, shortReply(len(b))
	}
	if kind = b[8]; kind != kindReply && kind != kindFailed {
		return 0, 0, fmt.Errorf("%w: reply kind %d", ErrProtocol, kind)
	}
	return binary.LittleEndian.Uint64(b), kind, nil
}

func shortReply(n int) error {
	return fmt.Errorf("%w: a %d-byte reply, shorter than the %d-byte head", ErrProtocol, n, callHead)
}

func secondReply(to uint64) error {
	return fmt.Errorf("%w: a second reply to call %d", ErrProtocol, to)
}

// deliver reads the rest of reply m, to call to, and hands it over; a
// reply to a call that gave up is dropped. It returns the reply, for the
// caller that reads its own: that one takes it from the result, not from
// its channel.
//
// A reply whole in the ring is read straight into its call's buffer,
// claimed first: the call, out of calls, waits for it on its channel if it
// gives up meanwhile, and reading it waits for nothing. A streaming reply,
// whose rest may take any time to come, is read first into a buffer of
// its own, so that a call giving up meanwhile is not held.
func (cl *Client) deliver(m *ring.MessageReader, to uint64, kind byte, own bool) result {
	return cl.deliverTo(m, to, kind, nil, own)
}

// deliverTo is deliver, to call c if it is given, which nobody else
// claims (a call made alone); it claims call to otherwise.
func (cl *Client) deliverTo(m *ring.MessageReader, to uint64, kind byte, c *call, own bool) result {
	if m.Streaming() || kind == kindFailed {
		body, err := appendRest(nil, m)
		if c == nil {
			c = cl.claim(to)
		}
		if c == nil {
			if own {
				err := secondReply(to)
				cl.fail(err)
				return result{err: err}
			}
			return result{}
		}
		r := replyOf(to, kind, body, err)
		if r.err == nil && (len(c.dst) > 0 || cap(c.dst) >= len(body)) {
			r.b = append(c.dst, body...)
		}
		if !own {
			c.ch <- r // buffered, and only ever sent once
		}
		return r
	}
	if c == nil {
		c = cl.claim(to)
	}
	if c == nil {
		_ = m.Close() // whole in the ring: Close waits for nothing
		if own {
			// Only a second reply to one call takes the caller's
			// away from it while it reads.
			err := secondReply(to)
			cl.fail(err)
			return result{err: err}
		}
		return result{}
	}
	b, err := appendRest(c.dst, m)
	r := replyOf(to, kind, b, err)
	if !own {
		c.ch <- r
	}
	return r
}

// claim takes call to out of calls, for its reply to be delivered, and
// returns it; nil if it gave up, whose reply is dropped.
func (cl *Client) claim(to uint64) *call {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	c, ok := cl.calls[to]
	if !ok {
		delete(cl.orphans, to)
		cl.hasOrphans.Store(len(cl.orphans) > 0)
		return nil
	}
	delete(cl.calls, to)
	return c
}

// replyOf is the result of a reply to call to of kind, read as b with err.
func replyOf(to uint64, kind byte, b []byte, err error) result {
	switch {
	case err != nil:
		return result{err: fmt.Errorf("conn: reply to call %d: %w", to, err)}
	case kind == kindFailed:
		return result{err: &RemoteError{Msg: string(b)}}
	}
	return result{b: b}
}

// fail ends the Client: every call waiting, and every later one, returns
// err.
func (cl *Client) fail(err error) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.err == nil {
		cl.err = err
		cl.failed.Store(true)
		close(cl.dead)
	}
}
