package conn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shmring/shmring/ring"
)

// A Conn is also a net.Conn: a byte stream over the same two rings, for
// protocols written against net.Conn (gRPC, HTTP). The message calls stay
// beside it, as net.UnixConn keeps ReadMsgUnix beside Read.
//
// Write sends its bytes as one message or more, each small enough to be
// sent whole (a quarter of the ring at most: Send waits for all of its
// slots before it publishes any), so a Write cut short by
// its deadline or by Close has sent a prefix of whole messages and never
// leaves the peer half a message. Read returns what has arrived, up to
// len(p), without waiting for more: the rest of the message it is in, or
// the next. Read and Write may run at once, and each may be called from
// several goroutines (they take turns); Close, from any goroutine, ends
// both. Deadlines work as net's: past, future, or changed while a call
// waits, and an expired one fails the call with an error wrapping
// os.ErrDeadlineExceeded (a net.Error whose Timeout is true).
//
// Reading with Read and with the message calls (Recv, Consumer) at the
// same time mixes two views of one ring: a message call while Read is in
// the middle of a message discards the rest of it. Use one or the other on
// a receiving side, or switch at a message boundary.
var _ net.Conn = (*Conn)(nil)

// Addr is the address of one end of a connection: the name it was made to,
// and the pid of that end's process as the other end's kernel reported it
// (SO_PEERCRED; 0 for a process in a PID namespace this one cannot see).
type Addr struct {
	Name string
	PID  int
}

// Network is "shmring".
func (a Addr) Network() string { return "shmring" }

// String is the name, and "#pid" after it when the pid is known.
func (a Addr) String() string {
	if a.PID == 0 {
		return a.Name
	}
	return fmt.Sprintf("%s#%d", a.Name, a.PID)
}

// stream is a Conn's byte-stream state, one reading and one writing side,
// each with its deadline.
type stream struct {
	rmu   sync.Mutex          // Read's turn
	rm    *ring.MessageReader // the message Read is in, nil between messages
	rdl   deadline
	wmu   sync.Mutex // Write's turn
	wdl   deadline
	chunk int // the longest message Write sends
}

// LocalAddr is this end's address: the name and this process's pid.
func (c *Conn) LocalAddr() net.Addr { return Addr{Name: c.name, PID: os.Getpid()} }

// RemoteAddr is the other end's: the name and its pid as the kernel gave it.
func (c *Conn) RemoteAddr() net.Addr { return Addr{Name: c.name, PID: c.PeerPID()} }

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the time after which Read fails (and one waiting
// fails at once) with os.ErrDeadlineExceeded; zero means never. After
// Close it returns an error wrapping net.ErrClosed, as net's conns do.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opError("set", ErrClosed)
	}
	c.st.rdl.set(t)
	return nil
}

// SetWriteDeadline is SetReadDeadline for Write.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if c.closed.Load() {
		return c.opError("set", ErrClosed)
	}
	c.st.wdl.set(t)
	return nil
}

// Read reads what has arrived, up to len(p) bytes, waiting only while
// nothing has. It returns io.EOF once the peer has closed (or called
// CloseWrite) and everything sent has been read. A message the peer
// closed in the middle of (a peer that mixes Send of messages larger than
// the ring with the byte stream, or whose ring was closed under a Write
// that outlasted Close's wait) ends in an error wrapping ring.ErrTorn,
// after the part of it that arrived, and io.EOF follows.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil // as net's conns: no wait for nothing
	}
	s := &c.st
	s.rmu.Lock()
	defer s.rmu.Unlock()
	for {
		ctx := s.rdl.ctx()
		if err := ctx.Err(); err != nil {
			return 0, c.opError("read", err)
		}
		if s.rm == nil {
			m, err := c.c.Reader(ctx)
			if err != nil {
				return 0, c.opError("read", err)
			}
			s.rm = m
		} else {
			s.rm.SetContext(ctx) // the deadline may have moved since
		}
		n, err := s.rm.Read(p)
		if errors.Is(err, io.EOF) && !errors.Is(err, ring.ErrTorn) {
			// The message is read (and released); on to the next,
			// unless this one gave something. (A message the peer
			// closed in the middle of is torn, and wraps io.EOF:
			// an error, not its end.)
			s.rm, err = nil, nil
		}
		if err != nil {
			s.rm = nil
			return n, c.opError("read", err)
		}
		if n > 0 {
			return n, nil
		}
	}
}

// Write sends p, in one message or more (see Conn). It returns len(p) and
// nil, or how much was sent (whole messages) and why no more was.
func (c *Conn) Write(p []byte) (int, error) {
	s := &c.st
	s.wmu.Lock()
	defer s.wmu.Unlock()
	n := 0
	for {
		ctx := s.wdl.ctx()
		if err := ctx.Err(); err != nil {
			return n, c.opError("write", err)
		}
		if n == len(p) {
			return n, nil
		}
		k := min(len(p)-n, s.chunk)
		if err := c.p.Send(ctx, p[n:n+k]); err != nil {
			return n, c.opError("write", err)
		}
		n += k
	}
}

// opError is err as net's calls return it: io.EOF bare, the rest in a
// *net.OpError, with ring.ErrClosed (this side closed) as net.ErrClosed.
// A message torn by the peer's close (ring.ErrTorn, wrapping io.EOF) is
// not the end of the stream: its reader got part of it.
func (c *Conn) opError(op string, err error) error {
	switch {
	case errors.Is(err, io.EOF) && !errors.Is(err, ring.ErrTorn):
		return io.EOF
	case errors.Is(err, ring.ErrClosed):
		err = net.ErrClosed
	case err == os.ErrDeadlineExceeded || err == context.DeadlineExceeded:
		err = os.ErrDeadlineExceeded
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		// Wrapped (a message longer than the ring torn by the
		// deadline: ErrTorn too): net.OpError's Timeout looks at its
		// Err itself, not what it wraps.
		err = timeoutError{err}
	}
	return &net.OpError{Op: op, Net: "shmring", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// streamChunk is the longest message Write sends on a ring: a quarter of
// the ring's slots' payload, so that the writer fills one while the reader
// empties another, and never less than a slot's.
func streamChunk(r *ring.Ring) int {
	payload := r.SlotSize() - 4
	return max(payload, min(r.MaxMessage(), r.Slots()/4*payload))
}

// deadline is one direction's deadline, as net.Pipe keeps it: a channel
// closed when the deadline passes, replaced by a new one when the deadline
// is moved again after that. A call that waits takes the current channel
// as its context (epoch): it wakes when the deadline is set to the past
// while it waits, and a later call waits on the new channel. Each channel
// has its own context, whose Err says whether that channel is closed, as
// the context contract wants (Done closed, Err non-nil, for good).
type deadline struct {
	mu    sync.Mutex // held by set
	timer *time.Timer
	// cur is read by every Read and Write (ctx) without the lock: a call
	// takes the epoch current when it starts; set replaces it only under
	// mu.
	cur atomic.Pointer[epoch]
}

// epoch is the context of one deadline channel.
type epoch struct{ cancel chan struct{} }

var _ context.Context = (*epoch)(nil)

// Deadline reports none: the ring learns of the deadline through Done,
// which follows it when it moves.
func (e *epoch) Deadline() (time.Time, bool) { return time.Time{}, false }
func (e *epoch) Done() <-chan struct{}       { return e.cancel }
func (e *epoch) Value(any) any               { return nil }

func (e *epoch) Err() error {
	if isClosed(e.cancel) {
		return os.ErrDeadlineExceeded
	}
	return nil
}

// ctx is the context a call waits under: one atomic load, after the first.
func (d *deadline) ctx() *epoch {
	if e := d.cur.Load(); e != nil {
		return e
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.current()
}

// current is the epoch, made if there is none yet; under mu.
func (d *deadline) current() *epoch {
	e := d.cur.Load()
	if e == nil {
		e = &epoch{cancel: make(chan struct{})}
		d.cur.Store(e)
	}
	return e
}

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	cur := d.current()
	if d.timer != nil && !d.timer.Stop() {
		<-cur.cancel // the timer's func is closing it
	}
	d.timer = nil
	closed := isClosed(cur.cancel)
	if t.IsZero() {
		if closed {
			d.cur.Store(&epoch{cancel: make(chan struct{})})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			cur = &epoch{cancel: make(chan struct{})}
			d.cur.Store(cur)
		}
		cancel := cur.cancel
		d.timer = time.AfterFunc(dur, func() { close(cancel) })
		return
	}
	if !closed {
		close(cur.cancel)
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// timeoutError is a deadline's error that carries more (ErrTorn): a
// net.Error whose Timeout is true, as os.ErrDeadlineExceeded's is.
type timeoutError struct{ err error }

func (e timeoutError) Error() string   { return e.err.Error() }
func (e timeoutError) Unwrap() error   { return e.err }
func (e timeoutError) Timeout() bool   { return true }
func (e timeoutError) Temporary() bool { return true }
