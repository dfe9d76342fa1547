package conn

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
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
// Client's calls are pipelined (many requests may be in the ring at once)
// and Serve answers them in order.
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
		n := m.Len()
		if n < callHead {
			_ = m.Close()
			return fmt.Errorf("%w: a %d-byte request, shorter than the %d-byte head", ErrProtocol, n, callHead)
		}
		buf = grow(buf, n-callHead)
		if _, err := io.ReadFull(m, head[:]); err != nil {
			continue // torn
		}
		if _, err := io.ReadFull(m, buf); err != nil {
			continue
		}
		if err := m.Close(); err != nil && !errors.Is(err, ring.ErrTorn) {
			return err
		}
		if head[8] != kindRequest {
			return fmt.Errorf("%w: request kind %d", ErrProtocol, head[8])
		}
		resp, herr := h(ctx, buf)
		kind := byte(kindReply)
		if herr != nil {
			kind, resp = kindFailed, []byte(herr.Error())
			resp = resp[:min(len(resp), maxErrorText)]
		}
		if err := send(ctx, c.p, binary.LittleEndian.Uint64(head[:]), kind, resp); err != nil {
			return err
		}
	}
}

// grow returns b resized to n bytes, reallocated only if too small.
func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
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
// Requests are sent one at a time (the ring has one producer) and may be
// many in flight; replies are read by whichever caller is waiting, which
// hands others' replies to them, so a lone caller reads its own reply with
// no goroutine in between.
type Client struct {
	c     *Conn
	send  sync.Mutex    // held while a request is written
	turn  chan struct{} // holds a token while nobody reads replies
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

// NewClient makes a Client of c. It uses c's Producer and Consumer: nothing
// else may, meanwhile.
func NewClient(c *Conn) *Client {
	cl := &Client{c: c, turn: make(chan struct{}, 1), calls: make(map[uint64]chan result), dead: make(chan struct{})}
	cl.turn <- struct{}{}
	return cl
}

// Call sends req and returns the reply. It returns ctx's error if ctx ends
// first (a reply that comes later is dropped), a *RemoteError if the handler
// failed, and the connection's error (io.EOF once the server closed,
// ring.ErrPeerDead, ...) for this call and every later one once the
// connection fails.
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
	for {
		select {
		case r := <-ch: // first: a reply handed over wins over a failure since
			return r.b, r.err
		default:
		}
		select {
		case r := <-ch:
			return r.b, r.err
		case <-cl.turn:
			r, ok, err := cl.read(ctx, id, ch)
			cl.turn <- struct{}{}
			if ok {
				return r.b, r.err
			}
			if err != nil {
				cl.forget(id)
				return nil, err
			}
		case <-ctx.Done():
			cl.forget(id)
			return nil, ctx.Err()
		case <-cl.dead:
			cl.forget(id)
			return nil, cl.err
		}
	}
}

// forget drops a call that gave up: its reply, if it comes, is dropped.
func (cl *Client) forget(id uint64) {
	cl.mu.Lock()
	delete(cl.calls, id)
	cl.mu.Unlock()
}

// read reads replies, handing each to its call, until the one for id (ok),
// or until ctx ends (its error) or the connection fails (neither: the
// caller finds the Client dead).
func (cl *Client) read(ctx context.Context, id uint64, ch chan result) (result, bool, error) {
	var head [callHead]byte
	for {
		select {
		case r := <-ch: // handed over by the reader before this one
			return r, true, nil
		default:
		}
		m, err := cl.c.c.Reader(ctx)
		if errors.Is(err, ring.ErrTorn) {
			continue // the rest of a reply torn earlier: its call was told
		}
		if err != nil {
			// The ring reports a deadline by the clock, maybe before
			// ctx.Err says so: either way it is this call's end, not
			// the connection's.
			if ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
				return result{}, false, err
			}
			cl.fail(err)
			return result{}, false, nil
		}
		n := m.Len()
		if n < callHead {
			_ = m.Close()
			cl.fail(fmt.Errorf("%w: a %d-byte reply, shorter than the %d-byte head", ErrProtocol, n, callHead))
			return result{}, false, nil
		}
		if _, err := io.ReadFull(m, head[:]); err != nil {
			continue // torn before the head: nobody to tell
		}
		to := binary.LittleEndian.Uint64(head[:])
		body := make([]byte, n-callHead)
		r := result{b: body}
		if _, err := io.ReadFull(m, body); err != nil {
			r = result{err: fmt.Errorf("conn: reply to call %d: %w", to, err)}
		} else if err := m.Close(); err != nil {
			r = result{err: fmt.Errorf("conn: reply to call %d: %w", to, err)}
		}
		switch {
		case r.err != nil:
		case head[8] == kindFailed:
			r = result{err: &RemoteError{Msg: string(body)}}
		case head[8] != kindReply:
			cl.fail(fmt.Errorf("%w: reply kind %d", ErrProtocol, head[8]))
			return result{}, false, nil
		}
		if to == id {
			cl.forget(id)
			return r, true, nil
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
