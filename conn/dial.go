package conn

import (
	"context"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

// Dial connects to the server listening under name and returns the
// connection once both rings are attached and the server has been told.
// ctx bounds the whole of it, and so does Config.HandshakeTimeout each
// step. A server under a uid this side does not accept (Config.AllowUIDs)
// is refused with ErrUntrusted; a server that refuses this client gives
// ErrRefused with its reason.
func Dial(ctx context.Context, name string, cfg Config) (*Conn, error) {
	if !supported {
		return nil, errUnsupported
	}
	cfg = cfg.withDefaults()
	addr, err := address(name)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unixpacket", addr)
	if err != nil {
		return nil, fmt.Errorf("conn: dial %q: %w", name, err)
	}
	sock := nc.(*net.UnixConn)
	c, err := dial(ctx, name, cfg, sock)
	if err != nil {
		_ = sock.Close()
		return nil, fmt.Errorf("conn: dial %q: %w", name, err)
	}
	return c, nil
}

// dial is the client's half of the handshake (wire.go).
func dial(ctx context.Context, name string, cfg Config, sock *net.UnixConn) (c *Conn, err error) {
	if crashPoints {
		crash("conn-client-connected")
	}
	// The context's end cuts any step short.
	stop := context.AfterFunc(ctx, func() { _ = sock.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := sock.SetDeadline(stepEnd(ctx, cfg.HandshakeTimeout)); err != nil {
		return nil, err
	}
	cred, err := peerCred(sock)
	if err != nil {
		return nil, err
	}
	if !cfg.allowed(int(cred.uid), true) {
		return nil, fmt.Errorf("%w: the server (pid %d) runs as uid %d, this process as %d (Config.AllowUIDs adds others)",
			ErrUntrusted, cred.pid, cred.uid, os.Geteuid())
	}
	if err := writeFrame(sock, frame{kind: kindHello, pid: int32(os.Getpid())}); err != nil {
		return nil, ctxErr(ctx, err)
	}
	if crashPoints {
		crash("conn-client-hello")
	}
	if err := sock.SetDeadline(stepEnd(ctx, cfg.HandshakeTimeout)); err != nil {
		return nil, err
	}
	fds := make([]int, nBells)
	welcome, err := readFrame(sock, kindWelcome, fds)
	if err != nil {
		return nil, ctxErr(ctx, err)
	}
	if welcome.kind == kindRefused {
		return nil, fmt.Errorf("%w: %s", ErrRefused, welcome.reason)
	}
	if crashPoints {
		crash("conn-client-welcome")
	}
	c = &Conn{name: name, sock: sock, peerPID: int(welcome.pid), peerCred: cred, watched: make(chan struct{})}
	defer func() {
		if err != nil {
			c.abort()
		}
	}()
	var wire [nBells]*bell
	for i, fd := range fds {
		if wire[i], err = bellFrom(fd, &c.gone); err != nil {
			closeFDs(fds[i:])
			return c, err
		}
		c.bells = append(c.bells, wire[i])
	}
	// This side's order (bellInData...): in, server -> client, first.
	c.bells = []*bell{wire[bellS2CData], wire[bellS2CSpace], wire[bellC2SData], wire[bellC2SSpace]}
	noProc := otherPIDNamespace(cred, welcome.pid)
	for _, id := range []int32{welcome.out, welcome.in} {
		if err = checkSegment(shmseg.ID(id), cred); err != nil {
			return c, err
		}
	}
	if c.in, err = ring.OpenID(shmseg.ID(welcome.out), cfg.ringOptions(doorbells(wire[bellS2CData], wire[bellS2CSpace]), noProc)); err != nil {
		return c, err
	}
	if c.out, err = ring.OpenID(shmseg.ID(welcome.in), cfg.ringOptions(doorbells(wire[bellC2SData], wire[bellC2SSpace]), noProc)); err != nil {
		return c, err
	}
	if c.c, err = c.in.Consumer(); err != nil {
		return c, err
	}
	if c.p, err = c.out.Producer(); err != nil {
		return c, err
	}
	if crashPoints {
		crash("conn-client-attached")
	}
	if err = writeFrame(sock, frame{kind: kindReady, pid: int32(os.Getpid())}); err != nil {
		return c, ctxErr(ctx, err)
	}
	if crashPoints {
		crash("conn-client-ready")
	}
	// The context's end may have begun to cut the handshake short just
	// now: its AfterFunc would set the socket's deadline to the past
	// after the clear below, and the watcher would take the server for
	// dead. Stop it first; if it has started, the Dial fails.
	if !stop() {
		return c, fmt.Errorf("%w (at the end of the handshake)", ctx.Err())
	}
	if err = sock.SetDeadline(time.Time{}); err != nil {
		return c, err
	}
	c.st.chunk = streamChunk(c.out)
	go c.watch()
	return c, nil
}

// checkSegment makes sure, before attaching it, that a segment the server
// named is one it made for this connection: made by the server's process
// (when its pid means something here) under its uid, and already marked
// for removal, so that no third process can attach it. A server that named
// another segment (another connection's, say) is refused. The ring's own
// checks at attach (ring.OpenID) come after.
func checkSegment(id shmseg.ID, server cred) error {
	info, err := shmseg.Stat(id)
	if err != nil {
		return err
	}
	if !info.Removed || info.CUID != server.uid || (server.pid != 0 && int32(info.CPID) != server.pid) {
		return fmt.Errorf("%w: segment %d (creator pid %d uid %d, marked for removal: %v) is not one the server (pid %d uid %d) made for this connection",
			ErrHandshake, info.ID, info.CPID, info.CUID, info.Removed, server.pid, server.uid)
	}
	return nil
}

// ctxErr prefers ctx's error to the deadline error its end caused.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	return err
}
