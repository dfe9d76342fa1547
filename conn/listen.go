package conn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

// Listener is a server: it takes connections made to its name and hands
// each one out by Accept once its handshake is done. Handshakes run apart,
// so a client that stalls or sends garbage holds up nobody else; each is
// dropped after Config.HandshakeTimeout.
type Listener struct {
	name, addr string
	cfg        Config
	ln         *net.UnixListener
	ready      chan *Conn
	done       chan struct{}
	closeOnce  sync.Once
	wg         sync.WaitGroup
	mu         sync.Mutex
	shaking    map[*net.UnixConn]struct{} // sockets mid-handshake, which Close closes
	room       chan struct{}              // a token per handshake under way (maxHandshakes)
}

// acceptBacklog is how many connections may wait, handshake done, for
// Accept; maxHandshakes how many handshakes may run at once, each holding
// its two segments and four eventfds, or wait for room in the backlog. A
// client past both waits in the kernel's listen queue, so a server that
// does not Accept, or a crowd of clients that connect and stall, holds at
// most acceptBacklog+maxHandshakes connections' segments (SHMMNI limits
// the host's).
const (
	acceptBacklog = 64
	maxHandshakes = 64
)

// Listen starts a server under name (see Config for how a name maps to a
// socket). A path whose socket file was left by a server that died is
// taken over; one where a server still answers is refused (EADDRINUSE).
// Servers that find the same stale file at once take it over one at a
// time, under a flock(2) of its directory: one listens, the others are
// refused.
func Listen(name string, cfg Config) (*Listener, error) {
	if !supported {
		return nil, errUnsupported
	}
	cfg = cfg.withDefaults()
	addr, err := address(name)
	if err != nil {
		return nil, err
	}
	ln, err := listenUnix(addr)
	if err != nil {
		return nil, fmt.Errorf("conn: listen %q: %w", name, err)
	}
	l := &Listener{name: name, addr: addr, cfg: cfg, ln: ln,
		ready: make(chan *Conn, acceptBacklog), done: make(chan struct{}),
		shaking: make(map[*net.UnixConn]struct{}), room: make(chan struct{}, maxHandshakes)}
	l.wg.Add(1)
	go l.serve()
	return l, nil
}

// listenUnix listens on addr, removing a stale socket file first: one that
// nobody answers on (ECONNREFUSED), and only if it is a socket.
func listenUnix(addr string) (*net.UnixListener, error) {
	ua := &net.UnixAddr{Name: addr, Net: "unixpacket"}
	ln, err := net.ListenUnix("unixpacket", ua)
	if err == nil || addr[0] == '@' || !errors.Is(err, syscall.EADDRINUSE) {
		return ln, err
	}
	// Two servers that find the same stale file must not both take it
	// over, the second removing the socket the first has just bound. The
	// check, the removal and the bind happen under a lock on the
	// directory, so the second sees the first's socket answer.
	unlock, lerr := lockDir(filepath.Dir(addr))
	if lerr != nil {
		return nil, fmt.Errorf("%w (locking %s to take over a stale socket file: %v)", err, filepath.Dir(addr), lerr)
	}
	defer unlock()
	if st, serr := os.Lstat(addr); serr != nil || st.Mode()&os.ModeSocket == 0 {
		if errors.Is(serr, os.ErrNotExist) {
			// Removed while we waited for the lock: ours to take, if
			// nobody binds it first.
			return net.ListenUnix("unixpacket", ua)
		}
		return nil, err
	}
	c, derr := net.DialUnix("unixpacket", nil, ua)
	if derr == nil {
		_ = c.Close()
		return nil, err // a server answers there
	}
	if !errors.Is(derr, syscall.ECONNREFUSED) {
		return nil, err
	}
	if rerr := os.Remove(addr); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		return nil, fmt.Errorf("%w (removing the stale socket file: %v)", err, rerr)
	}
	return net.ListenUnix("unixpacket", ua)
}

var _ net.Listener = (*Listener)(nil)

// Addr is the listener's address: its name, and this process's pid.
func (l *Listener) Addr() net.Addr { return Addr{Name: l.name, PID: os.Getpid()} }

// SocketAddr is the Unix socket address the listener listens on:
// "@shmring/" and the name (abstract), or the path.
func (l *Listener) SocketAddr() string { return l.addr }

// Name is the name the listener serves.
func (l *Listener) Name() string { return l.name }

// Accept is AcceptContext without a context, for net.Listener (gRPC's
// Server.Serve, http.Server.Serve): the *Conn it returns is a net.Conn.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.AcceptContext(context.Background())
	if err != nil {
		return nil, err
	}
	return c, nil
}

// AcceptContext returns the next connection whose handshake is done. It
// returns ErrClosed once the listener is closed, and ctx's error if ctx
// ends first.
func (l *Listener) AcceptContext(ctx context.Context) (*Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case <-l.done:
		return nil, fmt.Errorf("conn: accept on %q: %w", l.name, ErrClosed)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close stops the listener: no new connection, handshakes under way are
// dropped, and connections done but not yet accepted are closed.
// Connections already accepted are not touched. The socket file, for a
// name that is a path, is removed.
func (l *Listener) Close() error {
	err := ErrClosed
	l.closeOnce.Do(func() {
		close(l.done)
		err = l.ln.Close()
		l.mu.Lock()
		for s := range l.shaking {
			_ = s.Close()
		}
		l.mu.Unlock()
		l.wg.Wait()
		for {
			select {
			case c := <-l.ready:
				_ = c.Close()
				continue
			default:
			}
			break
		}
	})
	return err
}

// serve accepts sockets and shakes hands with each on its own goroutine.
func (l *Listener) serve() {
	defer l.wg.Done()
	var pause time.Duration
	for {
		select {
		case l.room <- struct{}{}: // released when the handshake's Conn is handed over or dropped
		case <-l.done:
			return
		}
		sock, err := l.ln.AcceptUnix()
		if err != nil {
			// Out of descriptors (EMFILE) and the like: the listener
			// goes on, after a pause that doubles while it lasts, as
			// net/http's Server does, rather than spin.
			<-l.room
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			select {
			case <-l.done:
				return
			case <-time.After(pause):
			}
			continue
		}
		pause = 0
		l.mu.Lock()
		select {
		case <-l.done:
			l.mu.Unlock()
			_ = sock.Close()
			return
		default:
		}
		l.shaking[sock] = struct{}{}
		l.wg.Add(1)
		l.mu.Unlock()
		go l.handshake(sock)
	}
}

// handshake is the server's half of the handshake (wire.go). On any
// failure the socket is closed and every ring and bell made for it goes
// with it: the segments were marked for removal when made.
func (l *Listener) handshake(sock *net.UnixConn) {
	defer l.wg.Done()
	defer func() { <-l.room }()
	c, err := l.shake(sock)
	l.mu.Lock()
	delete(l.shaking, sock)
	closed := isClosed(l.done)
	l.mu.Unlock()
	// Close closes the sockets of handshakes under way, under mu, after
	// done: one that ended before it looked keeps its socket, and hands
	// its Conn over only if the listener is still open (Close closes it
	// otherwise, below or in its drain).
	if err == nil && closed {
		_ = c.Close()
		return
	}
	if err != nil {
		_ = sock.Close()
		return
	}
	if crashPoints {
		crash("conn-server-ready")
	}
	select {
	case l.ready <- c:
	case <-l.done:
		_ = c.Close()
	}
}

func (l *Listener) shake(sock *net.UnixConn) (c *Conn, err error) {
	if crashPoints {
		crash("conn-server-accepted")
	}
	cfg := l.cfg
	if err := sock.SetDeadline(stepEnd(context.Background(), cfg.HandshakeTimeout)); err != nil {
		return nil, err
	}
	cred, err := peerCred(sock)
	if err != nil {
		return nil, err
	}
	// The hello first, then the verdict: a refusal sent before the
	// client has written would make its write fail (EPIPE) before it
	// could read why.
	hello, err := readFrame(sock, kindHello, nil)
	if err != nil {
		_ = writeFrame(sock, frame{kind: kindRefused, pid: int32(os.Getpid()), reason: err.Error()})
		return nil, err
	}
	if !cfg.allowed(int(cred.uid), false) {
		_ = writeFrame(sock, frame{kind: kindRefused, pid: int32(os.Getpid()),
			reason: fmt.Sprintf("uid %d is not allowed (the server runs as uid %d; Config.AllowUIDs adds others)", cred.uid, os.Geteuid())})
		return nil, fmt.Errorf("%w: uid %d", ErrUntrusted, cred.uid)
	}
	if crashPoints {
		crash("conn-server-hello")
	}
	c = &Conn{name: l.name, sock: sock, peerPID: int(hello.pid), peerCred: cred, server: true,
		watched: make(chan struct{})}
	var wire [nBells]*bell
	defer func() {
		if err != nil {
			c.abort()
		}
	}()
	for i := range wire {
		if wire[i], err = newBell(&c.gone); err != nil {
			return c, err
		}
		c.bells = append(c.bells, wire[i])
	}
	// This side's order (bellInData...): in, client -> server, first.
	c.bells = []*bell{wire[bellC2SData], wire[bellC2SSpace], wire[bellS2CData], wire[bellS2CSpace]}
	noProc := otherPIDNamespace(cred, hello.pid)
	rc := ring.Config{MaxMessage: cfg.MaxMessage, SlotSize: cfg.SlotSize, Slots: cfg.Slots, Mode: 0o600}
	rc.Options = cfg.ringOptions(doorbells(wire[bellS2CData], wire[bellS2CSpace]), noProc)
	rc.Label = RingLabel(l.name, ServerToClient)
	if c.out, err = ring.CreatePrivate(rc); err != nil {
		return c, err
	}
	rc.Options = cfg.ringOptions(doorbells(wire[bellC2SData], wire[bellC2SSpace]), noProc)
	rc.Label = RingLabel(l.name, ClientToServer)
	if c.in, err = ring.CreatePrivate(rc); err != nil {
		return c, err
	}
	out, in := c.out.Segment().ID(), c.in.Segment().ID()
	if int(cred.uid) != os.Geteuid() {
		for _, id := range []shmseg.ID{out, in} {
			if err = shmseg.SetOwner(id, int(cred.uid), int(cred.gid)); err != nil {
				return c, err
			}
		}
	}
	if c.p, err = c.out.Producer(); err != nil {
		return c, err
	}
	if c.c, err = c.in.Consumer(); err != nil {
		return c, err
	}
	if crashPoints {
		crash("conn-server-rings")
	}
	fds := make([]int, nBells)
	for i, b := range wire {
		fds[i] = b.fd
	}
	if err = writeFrame(sock, frame{kind: kindWelcome, pid: int32(os.Getpid()), out: int32(out), in: int32(in)}, fds...); err != nil {
		return c, err
	}
	if crashPoints {
		crash("conn-server-welcome")
	}
	if _, err = readFrame(sock, kindReady, nil); err != nil {
		return c, err
	}
	if err = sock.SetDeadline(time.Time{}); err != nil {
		return c, err
	}
	c.st.chunk = streamChunk(c.out)
	go c.watch()
	return c, nil
}
