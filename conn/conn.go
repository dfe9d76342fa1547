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

	"golang.org/x/sys/unix"

	"github.com/shmring/shmring/ring"
)

// Conn is one end of a connection: a ring each way, in two segments only
// the two processes have attached, and the Unix socket the connection was
// made over, which stays open so that each side learns at once when the
// other's process ends.
//
// Send and Recv are the ring's, and Producer and Consumer give the rest of
// its message calls (batches, zero-copy readers and writers, reservations),
// with the ring's rules: one goroutine sends at a time, one receives at a
// time, and the two may run at once. Close may be called from any
// goroutine: it wakes both.
//
// When the peer closes, Recv returns what it sent and then io.EOF, and Send
// returns ring.ErrPeerClosed. When the peer's process ends without closing
// (a crash, a kill), Recv returns an error wrapping ring.ErrPeerDead as soon
// as what it sent is read, and Send as soon as it has to wait for space
// (until then it still fills the ring, as for a live peer that is slow),
// without waiting for a liveness check.
type Conn struct {
	name      string
	out, in   *ring.Ring // this side's producer's ring and consumer's ring
	p         *ring.Producer
	c         *ring.Consumer
	sock      *net.UnixConn
	bells     []*bell
	gone      atomic.Pointer[error]
	peerPID   int // as the peer sees itself
	peerCred  cred
	server    bool
	st        stream // the net.Conn view (netconn.go)
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
	watched   chan struct{} // closed when watch returns
}

// Send sends msg, of any length up to MaxMessage, waiting while the ring is
// full (ring.Producer.Send).
func (c *Conn) Send(ctx context.Context, msg []byte) error { return c.p.Send(ctx, msg) }

// Recv receives the next message into buf (ring.Consumer.Recv): its length,
// or its length and io.ErrShortBuffer if buf is too short, the message left
// in the ring.
func (c *Conn) Recv(ctx context.Context, buf []byte) (int, error) { return c.c.Recv(ctx, buf) }

// Producer is this side's sending role, for the ring's other calls
// (SendBatch, Writer, Reserve). Closing it is CloseWrite.
func (c *Conn) Producer() *ring.Producer { return c.p }

// Consumer is this side's receiving role, for the ring's other calls
// (RecvBatch, Reader, Peek).
func (c *Conn) Consumer() *ring.Consumer { return c.c }

// CloseWrite ends this side's sending: the peer's Recv returns io.EOF once
// it has read everything sent. Receiving goes on.
func (c *Conn) CloseWrite() error { return c.p.Close() }

// Name is the name the connection was made to.
func (c *Conn) Name() string { return c.name }

// PeerPID is the peer's process id as the kernel gave it to this side
// (SO_PEERCRED): 0 if the peer is in a PID namespace this one cannot see.
func (c *Conn) PeerPID() int { return int(c.peerCred.pid) }

// PeerUID is the peer's user id (SO_PEERCRED).
func (c *Conn) PeerUID() int { return int(c.peerCred.uid) }

// Rings returns the connection's rings: the one this side sends on, and the
// one it receives on. For Stats; closing them is Close's business.
func (c *Conn) Rings() (send, recv *ring.Ring) { return c.out, c.in }

// Close closes both directions: the peer's Recv returns io.EOF after what
// was sent, its Send ring.ErrPeerClosed. Calls of this side under way
// return ring.ErrClosed. The segments go when the peer closes or ends too
// (they were marked for removal when made). A second Close returns
// ErrClosed.
func (c *Conn) Close() error {
	err := ErrClosed
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		// The rings first: their closed flags are set (and the peer
		// woken) before the socket ends, so a peer sees a close, not a
		// death.
		err = errors.Join(c.out.Close(), c.in.Close())
		_ = c.sock.Close()
		<-c.watched
		for _, b := range c.bells {
			_ = b.close()
		}
	})
	return err
}

// watch reads the socket until it ends: after the handshake nothing is
// written to it, so a read returns only when the peer's end closes (its
// process ended, or it closed) or the peer breaks the protocol. Then the
// peer is gone: the bells say so (Err) and wake whatever sleeps on them.
func (c *Conn) watch() {
	defer close(c.watched)
	var b [16]byte
	n, err := c.sock.Read(b[:])
	why := "its end of the socket closed"
	if err == nil {
		why = fmt.Sprintf("it wrote %d bytes to the socket after the handshake", n)
	} else if !errors.Is(err, os.ErrClosed) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
		why = fmt.Sprintf("its socket failed: %v", err)
	}
	gone := fmt.Errorf("%w: conn %q: peer pid %d: %s", ring.ErrPeerDead, c.name, c.peerPID, why)
	c.gone.CompareAndSwap(nil, &gone)
	// The bells this side sleeps on: its consumer's data bell, its
	// producer's space bell.
	c.bells[bellInData].Ring()
	c.bells[bellOutSpace].Ring()
}

// The four bells, in the order the server sends them. "out" and "in" are
// the server's view: out is the ring server -> client.
const (
	bellS2CData = iota
	bellS2CSpace
	bellC2SData
	bellC2SSpace
	nBells
)

// The bells a side sleeps on, as indexes into Conn.bells, which each side
// orders its own way (newConn).
const (
	bellInData   = 0 // this side's consumer waits for data
	bellInSpace  = 1
	bellOutData  = 2
	bellOutSpace = 3 // this side's producer waits for space
)

// doorbells are a ring's bells in the ring package's terms.
func doorbells(data, space *bell) *ring.Doorbells {
	return &ring.Doorbells{Data: data, Space: space}
}

// ringOptions are the options of this side's handle on a ring.
func (cfg Config) ringOptions(bells *ring.Doorbells, noProc bool) ring.Options {
	return ring.Options{Wait: cfg.Wait, Liveness: cfg.Liveness, Doorbells: bells, NoProcCheck: noProc}
}

// cred is what the kernel says of the process at the other end of the
// socket (SO_PEERCRED), as of when it connected: its pid as this process's
// namespace sees it (0 if it cannot), its uid and gid.
type cred struct {
	pid      int32
	uid, gid uint32
}

// otherPIDNamespace reports whether the peer's own pid (from its frame)
// differs from the one the kernel gave for it: then its pid means nothing
// in this process's /proc, and only the socket tells of its death.
func otherPIDNamespace(c cred, selfPID int32) bool {
	return c.pid == 0 || c.pid != selfPID
}

// stepEnd is the end of a handshake step: the timeout from now, or ctx's
// deadline if sooner.
func stepEnd(ctx context.Context, timeout time.Duration) time.Time {
	d := time.Now().Add(timeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		return cd
	}
	return d
}

// readFrame reads one handshake frame of kind want, and into fds exactly
// len(fds) descriptors sent with it (the kernel closes any beyond what the
// buffer holds; fewer, or a frame that should carry none and does, fails
// and closes what came).
func readFrame(sock *net.UnixConn, want kind, fds []int) (frame, error) {
	buf := make([]byte, maxFrame+1)
	oob := make([]byte, unix.CmsgSpace(nBells*4))
	n, oobn, _, _, err := sock.ReadMsgUnix(buf, oob)
	got, ferr := parseRights(oob[:oobn])
	switch {
	case err != nil:
	case n == 0:
		err = fmt.Errorf("%w: the other side closed the socket before its %v", ErrHandshake, want)
	case ferr != nil:
		err = ferr
	}
	var f frame
	if err == nil {
		f, err = decodeFrame(buf[:n], want)
	}
	if err == nil && f.kind == want && len(got) != len(fds) {
		err = fmt.Errorf("%w: %v frame with %d descriptors, want %d", ErrHandshake, want, len(got), len(fds))
	}
	if err != nil || f.kind != want {
		closeFDs(got)
		return f, err
	}
	copy(fds, got)
	return f, nil
}

// parseRights returns the descriptors in a control message.
func parseRights(oob []byte) ([]int, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("%w: control message: %v", ErrHandshake, err)
	}
	var fds []int
	var bad error
	for i := range msgs {
		got, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			bad = fmt.Errorf("%w: control message level %d type %d: %v", ErrHandshake, msgs[i].Header.Level, msgs[i].Header.Type, err)
			continue
		}
		fds = append(fds, got...)
	}
	if bad != nil {
		closeFDs(fds)
		return nil, bad
	}
	return fds, nil
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		_ = unix.Close(fd)
	}
}

// writeFrame writes one frame, with descriptors if any.
func writeFrame(sock *net.UnixConn, f frame, fds ...int) error {
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	_, _, err := sock.WriteMsgUnix(f.encode(), oob, nil)
	return err
}

// abort undoes a handshake that failed: the rings (whose segments go with
// them: they were marked for removal when made) and the bells. The socket
// is the caller's.
func (c *Conn) abort() {
	for _, r := range []*ring.Ring{c.out, c.in} {
		if r != nil {
			_ = r.Abandon()
		}
	}
	for _, b := range c.bells {
		_ = b.close()
	}
}
