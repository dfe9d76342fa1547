package conn

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

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
// Serve answers them in order, and the Client's reader hands each reply to
// its call.
const (
	callHead     = 9
	kindRequest  = 0
	kindReply    = 1
	kindFailed   = 2
	maxErrorText = 4096
)

// Handler answers one request. The request's bytes are valid only until it
// returns; so is the reply, which Serve copies into the ring. An error is
// sent to the caller as a *RemoteError carrying its text.
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
	var buf []byte
	var head [callHead]byte
	maxReply := c.out.MaxMessage() - callHead
	for {
		m, err := c.c.Reader(ctx)
		if errors.Is(err, ring.ErrTorn) {
			continue
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if n := m.Len(); n < callHead {
			_ = m.Close()
			return fmt.Errorf("%w: a %d-byte request, shorter than the %d-byte head", ErrProtocol, n, callHead)
		}
		if _, err := io.ReadFull(m, head[:]); err != nil {
			continue // torn
		}
		if buf, err = appendRest(buf[:0], m); err != nil {
			continue // torn
		}
		if head[8] != kindRequest {
			return fmt.Errorf("%w: request kind %d", ErrProtocol, head[8])
		}
		resp, herr := h(ctx, buf)
		kind := byte(kindReply)
		if herr == nil && len(resp) > maxReply {
			herr = fmt.Errorf("conn: a %d-byte reply, longer than the connection's MaxMessage allows (%d)", len(resp), maxReply)
		}
		if herr != nil {
			kind, resp = kindFailed, []byte(errorText(herr))
		}
		if err := send(ctx, c.p, binary.LittleEndian.Uint64(head[:]), kind, resp); err != nil {
			return err
		}
	}
}

// appendRest appends the rest of m's message to b, fragment by fragment:
// b grows with the bytes that came, never from the length the message's
// first fragment claims (a peer may claim a gigabyte and send a kilobyte).
func appendRest(b []byte, m *ring.MessageReader) ([]byte, error) {
	for {
		frag, err := m.Next()
		if errors.Is(err, io.EOF) {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		b = append(b, frag...)
	}
}

// errorText is a handler's error as a failed reply carries it: at most
// maxErrorText bytes, cut at a character's boundary.
func errorText(err error) string {
	t := err.Error()
	if len(t) > maxErrorText {
		t = strings.ToValidUTF8(t[:maxErrorText], "")
	}
	return t
}

// send writes one message of a call in place: head, then payload.
func send(ctx context.Context, p *ring.Producer, id uint64, kind byte, payload []byte) error {
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

// Client makes calls on a Conn, from any number of goroutines at once.
// Requests are sent one at a time (the ring has one producer), and many
// may be in flight; one goroutine of the Client's reads the replies and
// hands each to its call. It reads under no caller's context, so a call
// that gives up tears nobody's reply, and it reads every reply, those of
// calls that gave up included (dropped), so the server is never left
// blocked on a reply nobody reads. It ends when the Conn is closed or
// fails.
type Client struct {
	c     *Conn
	send  sync.Mutex // held while a request is written
	mu    sync.Mutex
	next  uint64
	calls map[uint64]chan result
	err   error         // why the Client failed: set once, under mu
	dead  chan struct{} // closed when err is set
}

type result struct {
	b   []byte
	err error
}

// NewClient makes a Client of c and starts its reader. It uses c's
// Producer and Consumer: nothing else may, meanwhile.
func NewClient(c *Conn) *Client {
	cl := &Client{c: c, calls: make(map[uint64]chan result), dead: make(chan struct{})}
	go cl.read()
	return cl
}

// Call sends req and returns the reply. It returns ctx's error if ctx ends
// first (a reply that comes later is dropped), a *RemoteError if the handler
// failed, and, for this call and every later one, the connection's error
// once it fails: io.EOF once the server has closed and every reply is
// read, ring.ErrPeerClosed for a request sent after the server closed,
// ring.ErrPeerDead, ring.ErrClosed after this side's Close, ErrProtocol.
func (cl *Client) Call(ctx context.Context, req []byte) ([]byte, error) {
	ch := make(chan result, 1)
	cl.mu.Lock()
	if cl.err != nil {
		cl.mu.Unlock()
		return nil, cl.err
	}
	id := cl.next
	cl.next++
	cl.calls[id] = ch
	cl.mu.Unlock()
	cl.send.Lock()
	err := send(ctx, cl.c.p, id, kindRequest, req)
	cl.send.Unlock()
	if err != nil {
		cl.forget(id)
		return nil, err
	}
	select {
	case r := <-ch:
		return r.b, r.err
	case <-ctx.Done():
		cl.forget(id)
		return nil, ctx.Err()
	case <-cl.dead:
		select {
		case r := <-ch: // handed over just before the failure
			return r.b, r.err
		default:
		}
		cl.forget(id)
		return nil, cl.err
	}
}

// forget drops a call that gave up: its reply, if it comes, is dropped.
func (cl *Client) forget(id uint64) {
	cl.mu.Lock()
	delete(cl.calls, id)
	cl.mu.Unlock()
}

// read is the Client's reader: each reply to its call, until the
// connection fails.
func (cl *Client) read() {
	var head [callHead]byte
	ctx := context.Background() // Conn.Close wakes it
	for {
		m, err := cl.c.c.Reader(ctx)
		if errors.Is(err, ring.ErrTorn) {
			continue // the rest of a reply the server aborted
		}
		if err != nil {
			cl.fail(err)
			return
		}
		if n := m.Len(); n < callHead {
			_ = m.Close()
			cl.fail(fmt.Errorf("%w: a %d-byte reply, shorter than the %d-byte head", ErrProtocol, n, callHead))
			return
		}
		if _, err := io.ReadFull(m, head[:]); err != nil {
			continue // torn before its head: nobody to tell
		}
		to := binary.LittleEndian.Uint64(head[:])
		body, err := appendRest(nil, m)
		r := result{b: body}
		switch {
		case err != nil:
			r = result{err: fmt.Errorf("conn: reply to call %d: %w", to, err)}
		case head[8] == kindFailed:
			r = result{err: &RemoteError{Msg: string(body)}}
		case head[8] != kindReply:
			cl.fail(fmt.Errorf("%w: reply kind %d", ErrProtocol, head[8]))
			return
		}
		cl.mu.Lock()
		if c, ok := cl.calls[to]; ok {
			delete(cl.calls, to)
			c <- r // buffered, and only ever sent once
		}
		cl.mu.Unlock()
	}
}

// fail ends the Client: every call waiting, and every later one, returns
// err.
func (cl *Client) fail(err error) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.err == nil {
		cl.err = err
		close(cl.dead)
	}
}
