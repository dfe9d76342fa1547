package peers

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/shmring/shmring/conn"
	"github.com/shmring/shmring/ring"
)

// endpoint is one end of a connection as the benchmarks use it: whole
// messages each way. One goroutine sends and one receives.
type endpoint interface {
	send(ctx context.Context, msg []byte) error
	// recv receives the next message into buf, which is large enough
	// for it, and returns its length; io.EOF once the peer has closed
	// and everything it sent is read.
	recv(ctx context.Context, buf []byte) (int, error)
	close() error
}

// A transport's endpoint may have calls of its own for a request and its
// reply (conn's Client and Serve); the others send and receive.
type (
	caller interface {
		call(ctx context.Context, req, resp []byte) (int, error)
	}
	echoer interface {
		// echo answers every request with itself until the peer
		// closes, and returns how many it answered.
		echo(ctx context.Context, buf []byte) (int, error)
	}
)

// ringStats is an endpoint over a ring (conn's): the counters of the ring
// it sends on, both sides', for the futex calls and stalls a measurement
// cost.
type ringStats interface {
	sendStats() ring.Stats
}

// server is a transport's listening side, in the child.
type server interface {
	addr() string // for the parent's dial
	accept(ctx context.Context) (endpoint, error)
	close() error
}

// transport is one way for two processes to talk.
type transport struct {
	name   string
	listen func(o serverOptions) (server, error)
	dial   func(ctx context.Context, addr string) (endpoint, error)
	// call: requests go through the endpoint's own call and echo
	// (caller, echoer).
	call bool
	// loses: a new connection's first message may never be answered
	// (shmipc-go's), which the set-up benchmark counts rather than
	// failing on.
	loses bool
}

// serverOptions shape a server's connections: Slots and SlotSize of
// conn's rings (zero: conn's defaults). cpuProfile, if set, is a file the
// server writes a CPU profile of its serving to (profile_test.go); it
// holds no space (the child's arguments go through the environment,
// split at spaces).
type serverOptions struct {
	slots, slotSize int
	cpuProfile      string
}

// The transports, by name. shmipc_test.go adds shmipc-go's when built with
// the tag shmipc.
var transports = map[string]transport{
	"conn":      {name: "conn", listen: listenConn, dial: dialConn},
	"conn-call": {name: "conn-call", listen: listenConn, dial: dialConnCall, call: true},
	"unix":      {name: "unix", listen: listenUnix, dial: dialNet("unix")},
	"tcp":       {name: "tcp", listen: listenTCP, dial: dialNet("tcp")},
}

// The comparisons' columns, in order; transports missing from the build
// (shmipc) are left out.
var (
	roundTripNames  = []string{"conn", "conn-call", "unix", "tcp", "shmipc"}
	throughputNames = []string{"conn", "unix", "tcp", "shmipc"}
	setupNames      = []string{"conn", "unix", "tcp", "shmipc"}
)

func available(names []string) []transport {
	var ts []transport
	for _, n := range names {
		if t, ok := transports[n]; ok {
			ts = append(ts, t)
		}
	}
	return ts
}

// uniqueName is a name nobody else listens under: conn names and abstract
// Unix socket names live in the network namespace, which go test's
// parallel packages and other checkouts share.
func uniqueName(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%x", prefix, os.Getpid(), b)
}

// conn: package conn with its defaults, but for the server's ring shape.

type connServer struct{ l *conn.Listener }

func listenConn(o serverOptions) (server, error) {
	l, err := conn.Listen(uniqueName("peers"), conn.Config{Slots: o.slots, SlotSize: o.slotSize})
	if err != nil {
		return nil, err
	}
	return connServer{l}, nil
}

func (s connServer) addr() string { return s.l.Name() }
func (s connServer) close() error { return s.l.Close() }

func (s connServer) accept(ctx context.Context) (endpoint, error) {
	c, err := s.l.AcceptContext(ctx)
	if err != nil {
		return nil, err
	}
	return &connEnd{c: c}, nil
}

type connEnd struct {
	c      *conn.Conn
	client *conn.Client // conn-call's client side
}

func dialConn(ctx context.Context, addr string) (endpoint, error) {
	c, err := conn.Dial(ctx, addr, conn.Config{})
	if err != nil {
		return nil, err
	}
	return &connEnd{c: c}, nil
}

func dialConnCall(ctx context.Context, addr string) (endpoint, error) {
	c, err := conn.Dial(ctx, addr, conn.Config{})
	if err != nil {
		return nil, err
	}
	return &connEnd{c: c, client: conn.NewClient(c)}, nil
}

func (e *connEnd) send(ctx context.Context, msg []byte) error { return e.c.Send(ctx, msg) }
func (e *connEnd) recv(ctx context.Context, buf []byte) (int, error) {
	return e.c.Recv(ctx, buf)
}
func (e *connEnd) close() error { return e.c.Close() }

func (e *connEnd) sendStats() ring.Stats {
	send, _ := e.c.Rings()
	return send.Stats()
}

func (e *connEnd) call(ctx context.Context, req, resp []byte) (int, error) {
	// Into resp, as the other transports read: a call allocates nothing.
	r, err := e.client.AppendCall(ctx, resp[:0], req)
	if err != nil {
		return 0, err
	}
	if len(r) > len(resp) {
		return 0, fmt.Errorf("conn-call: a %d-byte reply, %d expected at most", len(r), len(resp))
	}
	return len(r), nil
}

func (e *connEnd) echo(ctx context.Context, _ []byte) (int, error) {
	n := 0
	err := conn.Serve(ctx, e.c, func(_ context.Context, req []byte) ([]byte, error) {
		n++
		return req, nil
	})
	return n, err
}

// Sockets through Go's net: SOCK_STREAM, each message behind its length
// (4 bytes, little-endian), in one write: a message up to copyMax is
// copied behind its length, a longer one goes with it in one writev(2)
// (net.Buffers, which allocates its iovec list each time). The reader is
// buffered, as a program reading messages off a stream would be.

// copyMax is the longest message netEnd copies to send it in one write(2).
const copyMax = 64 << 10

type netServer struct{ l net.Listener }

// listenUnix listens in the abstract namespace ("@" first), which no file
// backs: nothing is left behind, whatever happens to the process.
func listenUnix(serverOptions) (server, error) {
	l, err := net.Listen("unix", "@"+uniqueName("shmring-peers"))
	if err != nil {
		return nil, err
	}
	return netServer{l}, nil
}

func listenTCP(serverOptions) (server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	return netServer{l}, nil
}

func (s netServer) addr() string { return s.l.Addr().String() }
func (s netServer) close() error { return s.l.Close() }

func (s netServer) accept(ctx context.Context) (endpoint, error) {
	c, err := acceptCtx(ctx, s.l)
	if err != nil {
		return nil, err
	}
	return newNetEnd(c), nil
}

// acceptCtx accepts a connection on l, or returns ctx's error once ctx
// ends, which closes l.
func acceptCtx(ctx context.Context, l net.Listener) (net.Conn, error) {
	stop := context.AfterFunc(ctx, func() { _ = l.Close() })
	defer stop()
	c, err := l.Accept()
	if err != nil && ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return c, err
}

func dialNet(network string) func(ctx context.Context, addr string) (endpoint, error) {
	return func(ctx context.Context, addr string) (endpoint, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return newNetEnd(c), nil
	}
}

type netEnd struct {
	c     net.Conn
	r     *bufio.Reader
	frame []byte // a short message behind its length
	head  [4]byte
	vec   net.Buffers
	rh    [4]byte
}

func newNetEnd(c net.Conn) *netEnd {
	return &netEnd{c: c, r: bufio.NewReaderSize(c, 64<<10)}
}

// send ignores ctx: a blocked write ends when the peer reads or closes.
func (e *netEnd) send(_ context.Context, msg []byte) error {
	if len(msg) <= copyMax {
		e.frame = binary.LittleEndian.AppendUint32(e.frame[:0], uint32(len(msg)))
		e.frame = append(e.frame, msg...)
		_, err := e.c.Write(e.frame)
		return err
	}
	binary.LittleEndian.PutUint32(e.head[:], uint32(len(msg)))
	e.vec = append(e.vec[:0], e.head[:], msg)
	_, err := e.vec.WriteTo(e.c)
	return err
}

func (e *netEnd) recv(_ context.Context, buf []byte) (int, error) {
	if _, err := io.ReadFull(e.r, e.rh[:]); err != nil {
		return 0, err // io.EOF at a message boundary: the peer closed
	}
	n := int(binary.LittleEndian.Uint32(e.rh[:]))
	if n > len(buf) {
		return 0, fmt.Errorf("a %d-byte message for a %d-byte buffer", n, len(buf))
	}
	if _, err := io.ReadFull(e.r, buf[:n]); err != nil {
		return 0, noEOF(err)
	}
	return n, nil
}

func (e *netEnd) close() error { return e.c.Close() }

// noEOF: the stream ended inside a message.
func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// callFunc returns how ep makes a request and reads its reply: through
// its own call if the transport says so (conn-call), else a send and a
// receive.
func callFunc(ep endpoint, call bool) func(ctx context.Context, req, resp []byte) (int, error) {
	if c, ok := ep.(caller); ok && call {
		return c.call
	}
	return func(ctx context.Context, req, resp []byte) (int, error) {
		if err := ep.send(ctx, req); err != nil {
			return 0, err
		}
		return ep.recv(ctx, resp)
	}
}

// echo answers every message on ep with itself until the peer closes, and
// returns how many it answered.
func echo(ctx context.Context, ep endpoint, call bool, buf []byte) (int, error) {
	if e, ok := ep.(echoer); ok && call {
		return e.echo(ctx, buf)
	}
	n := 0
	for {
		m, err := ep.recv(ctx, buf)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if err := ep.send(ctx, buf[:m]); err != nil {
			return n, err
		}
		n++
	}
}
