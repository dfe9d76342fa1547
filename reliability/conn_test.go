//go:build linux

package reliability_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/conn"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
)

// Item 26 of RELIABILITY.md: kill either side of a connection at every step
// of its handshake and mid-stream. The survivor must get a clear error at
// once (its liveness interval and handshake timeout are ten minutes here,
// so an error within the test's bound came from the socket), nothing may
// be left (no segment of either process, no socket file), and a new Dial
// must work. SHMRING_FAULT_RUNS kills per step (make fault: 1000).

// forever is the survivor's liveness interval and handshake timeout: no
// wait in these tests may end by them.
const forever = 10 * time.Minute

// noticeBound is how long a survivor may take to see its peer's death: far
// below forever, far above what the socket takes.
const noticeBound = 30 * time.Second

var survivorCfg = conn.Config{Slots: 16, SlotSize: 256, Liveness: forever, HandshakeTimeout: forever}

func connPeerBinary(t testing.TB) string {
	return buildBinary(t, "github.com/shmring/shmring/reliability/internal/connpeer", "shmring_crashpoints")
}

// connName is a name no other run uses.
func connName(t testing.TB) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("rel-%x", b)
}

// startConnPeer runs connpeer, crashing at point if it is not empty.
func startConnPeer(t testing.TB, point string, args ...string) *proc {
	t.Helper()
	var env []string
	if point != "" {
		env = append(env, "SHMRING_CRASH="+point)
	}
	p := startProc(t, env, connPeerBinary(t), args...)
	shmtest.Track(p.pid())
	return p
}

// segmentsOf returns the connection segments (key 0) made or still attached
// by any of pids, by creator pid.
func segmentsOf(t testing.TB, pids ...int) []shmtest.Segment {
	t.Helper()
	segs, err := shmtest.Segments()
	require.NoError(t, err)
	var ours []shmtest.Segment
	for _, s := range segs {
		if s.Key == 0 && slices.Contains(pids, s.CPID) {
			ours = append(ours, s)
		}
	}
	return ours
}

// requireNoSegments waits for the segments made by pids to go (a killed
// process detaches as the kernel reaps it).
func requireNoSegments(t testing.TB, what string, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(noticeBound)
	for {
		left := segmentsOf(t, pids...)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: segments left behind: %+v", what, left)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// exchange checks that c carries a message each way through an echo.
func exchange(t testing.TB, c *conn.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), noticeBound)
	defer cancel()
	require.NoError(t, c.Send(ctx, []byte("ping")))
	buf := make([]byte, 16)
	n, err := c.Recv(ctx, buf)
	require.NoError(t, err)
	require.Equal(t, "ping", string(buf[:n]))
}

// requireDeadSoon checks that a call on c ends with ErrPeerDead within
// noticeBound.
func requireDeadSoon(t testing.TB, c *conn.Conn, what string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), noticeBound)
	defer cancel()
	start := time.Now()
	_, err := c.Recv(ctx, make([]byte, 1<<20))
	require.ErrorIs(t, err, ring.ErrPeerDead, "%s: after %v", what, time.Since(start))
}

var serverPoints = []string{"conn-server-accepted", "conn-server-hello", "conn-server-rings", "conn-server-welcome", "conn-server-ready"}
var clientPoints = []string{"conn-client-connected", "conn-client-hello", "conn-client-welcome", "conn-client-attached", "conn-client-ready"}

// TestConnServerKilled kills the server at each step of the handshake; the
// client is this process.
func TestConnServerKilled(t *testing.T) {
	shmtest.NoLeaks(t)
	runs := int(knob(t, envFaultRuns, 3, 1))
	for _, point := range serverPoints {
		t.Run(point, func(t *testing.T) {
			for run := range runs {
				serverKilled(t, point, run)
			}
		})
	}
}

func serverKilled(t *testing.T, point string, run int) {
	name := connName(t)
	srv := startConnPeer(t, point, "serve", "-name", name)
	srv.line(t, "listening", noticeBound)
	ctx, cancel := context.WithTimeout(context.Background(), noticeBound)
	defer cancel()
	start := time.Now()
	c, err := conn.Dial(ctx, name, survivorCfg)
	if err == nil {
		// It died after the client's last step (ready on its way):
		// the first call finds out.
		requireDeadSoon(t, c, fmt.Sprintf("%s run %d", point, run))
		require.NoError(t, c.Close())
	} else {
		require.NotErrorIs(t, err, context.DeadlineExceeded, "%s run %d: Dial waited %v", point, run, time.Since(start))
	}
	_ = srv.wait(t, noticeBound)
	require.True(t, srv.killedBy(syscall.SIGKILL), "%s run %d: the server was not killed at its point: %v", point, run, srv)
	requireNoSegments(t, fmt.Sprintf("%s run %d", point, run), srv.pid(), os.Getpid())

	// A new server under the name, and a new Dial.
	srv2 := startConnPeer(t, "", "serve", "-name", name)
	srv2.line(t, "listening", noticeBound)
	c2, err := conn.Dial(ctx, name, survivorCfg)
	require.NoError(t, err, "%s run %d: Dial after the restart", point, run)
	exchange(t, c2)
	require.NoError(t, c2.Close())
	srv2.kill()
	requireNoSegments(t, fmt.Sprintf("%s run %d, after the restart", point, run), srv2.pid(), os.Getpid())
}

// TestConnClientKilled kills the client at each step of the handshake; the
// server is this process. It must not hand the dead client out (or, if it
// died after its last step, report it dead at the first call), and must
// go on serving others.
func TestConnClientKilled(t *testing.T) {
	shmtest.NoLeaks(t)
	runs := int(knob(t, envFaultRuns, 3, 1))
	for _, point := range clientPoints {
		t.Run(point, func(t *testing.T) {
			name := connName(t)
			l, err := conn.Listen(name, survivorCfg)
			require.NoError(t, err)
			defer l.Close()
			for run := range runs {
				clientKilled(t, l, point, run)
			}
		})
	}
}

func clientKilled(t *testing.T, l *conn.Listener, point string, run int) {
	what := fmt.Sprintf("%s run %d", point, run)
	cli := startConnPeer(t, point, "dial", "-name", l.Name())
	_ = cli.wait(t, noticeBound)
	require.True(t, cli.killedBy(syscall.SIGKILL), "%s: the client was not killed at its point: %v", what, cli)
	if point == "conn-client-ready" {
		ctx, cancel := context.WithTimeout(context.Background(), noticeBound)
		c, err := l.AcceptContext(ctx)
		cancel()
		require.NoError(t, err, "%s: the handshake was done", what)
		requireDeadSoon(t, c, what)
		require.NoError(t, c.Close())
	}
	// The dead client's handshake is dropped as soon as its socket ends:
	// its segments go, and Accept has nothing.
	requireNoSegments(t, what, cli.pid(), os.Getpid())
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	c, err := l.AcceptContext(ctx)
	cancel()
	if err == nil {
		_ = c.Close()
	}
	require.ErrorIs(t, err, context.DeadlineExceeded, "%s: Accept handed out a connection", what)

	// The server goes on: a new client connects and talks.
	ok := startConnPeer(t, "", "dial", "-name", l.Name(), "-count", "10")
	actx, acancel := context.WithTimeout(context.Background(), noticeBound)
	defer acancel()
	c, err = l.AcceptContext(actx)
	require.NoError(t, err, "%s: the next client", what)
	errc := make(chan error, 1)
	go func() { errc <- echoN(actx, c, 10) }()
	ok.waitOK(t, noticeBound)
	require.NoError(t, <-errc)
	require.NoError(t, c.Close())
	requireNoSegments(t, what+", the next client", ok.pid(), os.Getpid())
}

// echoN echoes n messages on c.
func echoN(ctx context.Context, c *conn.Conn, n int) error {
	buf := make([]byte, 1<<20)
	for range n {
		m, err := c.Recv(ctx, buf)
		if err == nil {
			err = c.Send(ctx, buf[:m])
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// TestConnKilledMidStream kills either side while messages flow (a random
// moment of a stream of echoes, fragmented messages included); the
// survivor's next call reports the death at once.
func TestConnKilledMidStream(t *testing.T) {
	shmtest.NoLeaks(t)
	runs := int(knob(t, envFaultRuns, 3, 1))
	t.Run("server", func(t *testing.T) {
		for run := range runs {
			name := connName(t)
			srv := startConnPeer(t, "", "serve", "-name", name)
			srv.line(t, "listening", noticeBound)
			ctx, cancel := context.WithTimeout(context.Background(), noticeBound)
			c, err := conn.Dial(ctx, name, survivorCfg)
			require.NoError(t, err)
			done := make(chan error, 1)
			go func() { // messages of 64 B to 16 KiB through 16 slots of 256 B
				buf := make([]byte, 1<<20)
				for i := 0; ; i++ {
					msg := buf[:64<<(i%9)]
					if err := c.Send(ctx, msg); err != nil {
						done <- err
						return
					}
					if _, err := c.Recv(ctx, buf); err != nil {
						done <- err
						return
					}
				}
			}()
			time.Sleep(time.Duration(1+run%20) * time.Millisecond)
			srv.kill()
			err = <-done
			cancel()
			require.ErrorIs(t, err, ring.ErrPeerDead, "run %d", run)
			require.NoError(t, c.Close())
			requireNoSegments(t, fmt.Sprintf("run %d", run), srv.pid(), os.Getpid())
		}
	})
	t.Run("client", func(t *testing.T) {
		name := connName(t)
		l, err := conn.Listen(name, survivorCfg)
		require.NoError(t, err)
		defer l.Close()
		for run := range runs {
			cli := startConnPeer(t, "", "dial", "-name", name, "-count", "100000000", "-size", "3000")
			ctx, cancel := context.WithTimeout(context.Background(), noticeBound)
			c, err := l.AcceptContext(ctx)
			require.NoError(t, err)
			done := make(chan error, 1)
			go func() { done <- echoN(ctx, c, 1<<62) }()
			time.Sleep(time.Duration(1+run%20) * time.Millisecond)
			cli.kill()
			err = <-done
			cancel()
			require.ErrorIs(t, err, ring.ErrPeerDead, "run %d", run)
			require.NoError(t, c.Close())
			requireNoSegments(t, fmt.Sprintf("run %d", run), cli.pid(), os.Getpid())
		}
	})
}

// TestConnServerKilledClients kills a server (answering calls: conn.Serve)
// while six clients are at work, two of each kind: calls of 64 B from four
// goroutines of one connection, calls of 64 KiB requests that stream
// through the ring in fragments, and a client idle in Recv. Every call of
// every client must end with ErrPeerDead, none may hang, and nothing may
// be left.
func TestConnServerKilledClients(t *testing.T) {
	shmtest.NoLeaks(t)
	runs := int(knob(t, envFaultRuns, 3, 1))
	for run := range runs {
		serverKilledClients(t, run)
	}
}

func serverKilledClients(t *testing.T, run int) {
	name := connName(t)
	srv := startConnPeer(t, "", "serve", "-name", name, "-call")
	srv.line(t, "listening", noticeBound)
	ctx, cancel := context.WithTimeout(context.Background(), noticeBound)
	defer cancel()
	errs := make(chan error, 32)
	var working sync.WaitGroup // each worker's first call is done
	calls := func(cl *conn.Client, size int) {
		req := make([]byte, size)
		for first := true; ; first = false {
			_, err := cl.Call(ctx, req)
			if first {
				working.Done()
			}
			if err != nil {
				errs <- err
				return
			}
		}
	}
	var conns []*conn.Conn
	workers := 0
	for i := range 6 {
		c, err := conn.Dial(ctx, name, survivorCfg)
		require.NoError(t, err, "run %d, client %d", run, i)
		t.Cleanup(func() { _ = c.Close() }) // if the test stops short
		conns = append(conns, c)
		switch i % 3 {
		case 0: // calls of 64 B from four goroutines
			cl := conn.NewClient(c)
			for range 4 {
				workers++
				working.Add(1)
				go calls(cl, 64)
			}
		case 1: // requests of 64 KiB, 256 times the slot
			workers++
			working.Add(1)
			go calls(conn.NewClient(c), 64<<10)
		default: // idle (no Client: Recv is its own), nothing comes
			workers++
			go func() {
				_, err := c.Recv(ctx, make([]byte, 64))
				errs <- err
			}()
		}
	}
	working.Wait()
	time.Sleep(time.Duration(1+run%20) * time.Millisecond)
	srv.kill()
	for range workers {
		require.ErrorIs(t, <-errs, ring.ErrPeerDead, "run %d", run)
	}
	for _, c := range conns {
		require.NoError(t, c.Close())
	}
	requireNoSegments(t, fmt.Sprintf("run %d", run), srv.pid(), os.Getpid())
}

// TestConnLivenessFallback: a client dies while its end of the socket stays
// open, so the server's end never reads EOF. The client gives its socket
// to this process (connpeer dial -give) before it is killed; the server, with
// a liveness interval of one second, must find the death by the /proc
// check: the socket's end is the fast way, not the only one.
func TestConnLivenessFallback(t *testing.T) {
	shmtest.NoLeaks(t)
	cfg := survivorCfg
	cfg.Liveness = time.Second
	l, err := conn.Listen(connName(t), cfg)
	require.NoError(t, err)
	defer l.Close()

	pair, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	require.NoError(t, err)
	mine, theirs := os.NewFile(uintptr(pair[0]), "given"), os.NewFile(uintptr(pair[1]), "give")
	defer mine.Close()
	cli := newProc(t, exec.Command(connPeerBinary(t), "dial", "-name", l.Name(), "-count", "10", "-hold", "-give"))
	dieWithParent(cli.cmd)
	cli.cmd.ExtraFiles = []*os.File{theirs} // descriptor 3
	cli.start(t)
	shmtest.Track(cli.pid())
	require.NoError(t, theirs.Close())
	gave := strings.Fields(cli.line(t, "gave", noticeBound))[1]

	held := receiveSocket(t, mine)
	defer held.Close()
	what, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", held.Fd()))
	require.NoError(t, err)
	require.Equal(t, gave, what, "the socket this process holds is the client's")

	ctx, cancel := context.WithTimeout(context.Background(), noticeBound)
	defer cancel()
	c, err := l.AcceptContext(ctx)
	require.NoError(t, err)
	require.NoError(t, echoN(ctx, c, 10))
	cli.line(t, "done", noticeBound)

	cli.kill()
	start := time.Now()
	_, err = c.Recv(ctx, make([]byte, 64))
	require.ErrorIs(t, err, ring.ErrPeerDead, "after %v", time.Since(start))
	require.NotContains(t, err.Error(), "socket", "this process holds the client's end of the socket open")
	t.Logf("found dead after %v: %v", time.Since(start), err)
	require.NoError(t, c.Close())
	requireNoSegments(t, "the dead client's", cli.pid(), os.Getpid())
}

// receiveSocket reads the one descriptor sent through f.
func receiveSocket(t testing.TB, f *os.File) *os.File {
	t.Helper()
	oob := make([]byte, syscall.CmsgSpace(4))
	_, oobn, _, _, err := syscall.Recvmsg(int(f.Fd()), make([]byte, 1), oob, syscall.MSG_CMSG_CLOEXEC)
	require.NoError(t, err)
	msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	fds, err := syscall.ParseUnixRights(&msgs[0])
	require.NoError(t, err)
	require.Len(t, fds, 1)
	return os.NewFile(uintptr(fds[0]), "the client's socket")
}

// TestConnCredentials is item 27: a client under another uid is refused
// unless the server allows it, and then gets segments handed over to its
// uid (mode 0600, the server their creator); a client refuses a server
// under a uid it does not accept. Needs root, to run a child as nobody.
func TestConnCredentials(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to start a process under another uid")
	}
	shmtest.NoLeaks(t)
	const nobody = 65534
	bin := worldRunnable(t, connPeerBinary(t))
	asNobody := func(p *proc) *proc {
		p.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}, Pdeathsig: syscall.SIGKILL}
		return p
	}
	ctx, cancel := context.WithTimeout(context.Background(), noticeBound)
	defer cancel()

	t.Run("refused", func(t *testing.T) {
		l, err := conn.Listen(connName(t), survivorCfg)
		require.NoError(t, err)
		defer l.Close()
		cli := asNobody(newProc(t, exec.Command(bin, "dial", "-name", l.Name())))
		cli.start(t)
		err = cli.wait(t, noticeBound)
		require.Error(t, err)
		require.Contains(t, cli.stderr.String(), "refused by the server: uid 65534 is not allowed")
		actx, acancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer acancel()
		_, err = l.AcceptContext(actx)
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})
	t.Run("allowed", func(t *testing.T) {
		cfg := survivorCfg
		cfg.AllowUIDs = []int{nobody}
		l, err := conn.Listen(connName(t), cfg)
		require.NoError(t, err)
		defer l.Close()
		cli := asNobody(newProc(t, exec.Command(bin, "dial", "-name", l.Name(), "-count", "10")))
		cli.start(t)
		shmtest.Track(cli.pid())
		c, err := l.AcceptContext(ctx)
		require.NoError(t, err)
		defer c.Close()
		require.Equal(t, nobody, c.PeerUID())
		send, recv := c.Rings()
		for _, r := range []*ring.Ring{send, recv} {
			info, err := r.Segment().Stat()
			require.NoError(t, err)
			require.Equal(t, uint32(nobody), info.UID, "the segment is handed to the client's uid")
			require.Equal(t, uint32(0), info.CUID, "the server made it")
			require.Equal(t, os.FileMode(0o600), info.Mode.Perm())
		}
		require.NoError(t, echoN(ctx, c, 10))
		cli.waitOK(t, noticeBound)
	})
	t.Run("untrusted server", func(t *testing.T) {
		name := connName(t)
		srv := asNobody(newProc(t, exec.Command(bin, "serve", "-name", name)))
		srv.start(t)
		shmtest.Track(srv.pid())
		srv.line(t, "listening", noticeBound)
		_, err := conn.Dial(ctx, name, survivorCfg)
		require.ErrorIs(t, err, conn.ErrUntrusted)
		require.Contains(t, err.Error(), "runs as uid 65534")
	})
}

// worldRunnable copies the program at path to a directory every user can
// enter, for a child under another uid.
func worldRunnable(t testing.TB, path string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "connpeer")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	dst := filepath.Join(dir, filepath.Base(path))
	require.NoError(t, os.WriteFile(dst, b, 0o755))
	return dst
}

// TestConnBadClients: a client that sends garbage, or nothing, is dropped
// (garbage at once, silence after the handshake timeout) without holding
// up a good client that comes meanwhile; Accept hands out only the good
// one.
func TestConnBadClients(t *testing.T) {
	shmtest.NoLeaks(t)
	cfg := survivorCfg
	cfg.HandshakeTimeout = 500 * time.Millisecond
	l, err := conn.Listen(connName(t), cfg)
	require.NoError(t, err)
	defer l.Close()
	addr := &net.UnixAddr{Name: l.SocketAddr(), Net: "unixpacket"}
	dialRaw := func() *net.UnixConn {
		c, err := net.DialUnix("unixpacket", nil, addr)
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	silent := dialRaw()
	garbage := dialRaw()
	_, err = garbage.Write([]byte("GET / HTTP/1.1\r\n\r\n and then some more bytes"))
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), noticeBound)
	defer cancel()
	good := startConnPeer(t, "", "dial", "-name", l.Name(), "-count", "5")
	c, err := l.AcceptContext(ctx)
	require.NoError(t, err, "a good client gets through while the others hang about")
	require.NoError(t, echoN(ctx, c, 5))
	good.waitOK(t, noticeBound)
	require.NoError(t, c.Close())

	// The garbage is answered with a refusal that says why, then EOF.
	buf := make([]byte, 1024)
	require.NoError(t, garbage.SetReadDeadline(time.Now().Add(noticeBound)))
	n, err := garbage.Read(buf)
	require.NoError(t, err)
	require.Contains(t, string(buf[:n]), "magic")
	_, err = garbage.Read(buf)
	require.ErrorIs(t, err, io.EOF)

	// Silence is dropped after the timeout (with a refusal too: the
	// hello never came).
	start := time.Now()
	require.NoError(t, silent.SetReadDeadline(time.Now().Add(noticeBound)))
	for {
		_, err := silent.Read(buf)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "silent client")
	}
	t.Logf("silent client dropped after %v", time.Since(start))

	actx, acancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer acancel()
	_, err = l.AcceptContext(actx)
	require.ErrorIs(t, err, context.DeadlineExceeded, "neither bad client was handed out")
	requireNoSegments(t, "bad clients", os.Getpid(), good.pid())
}

// TestConnPIDNamespace: a client in PID and mount namespaces of its own,
// with its own /proc (as in a container sharing the socket), sees itself as
// pid 1, which in the server's /proc is init, started at another time. The server must neither take it for dead at its liveness
// checks (here every 50 ms) nor miss its death: the socket tells.
func TestConnPIDNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for CLONE_NEWPID")
	}
	shmtest.NoLeaks(t)
	cfg := survivorCfg
	cfg.Liveness = 50 * time.Millisecond
	l, err := conn.Listen(connName(t), cfg)
	require.NoError(t, err)
	defer l.Close()
	cli := newProc(t, exec.Command(connPeerBinary(t), "dial", "-name", l.Name(), "-count", "5", "-hold", "-liveness", "50ms", "-mount-proc"))
	cli.cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	cli.start(t)
	shmtest.Track(cli.pid())
	ctx, cancel := context.WithTimeout(context.Background(), noticeBound)
	defer cancel()
	c, err := l.AcceptContext(ctx)
	require.NoError(t, err)
	defer c.Close()
	require.Equal(t, cli.pid(), c.PeerPID(), "SO_PEERCRED gives its pid as this namespace sees it")
	require.Equal(t, "connected 1", cli.line(t, "connected", noticeBound), "the client is pid 1 in its namespace")
	require.NoError(t, echoN(ctx, c, 5))
	cli.line(t, "done", noticeBound)

	// Twenty liveness intervals of silence: no false death on either side.
	wctx, wcancel := context.WithTimeout(ctx, time.Second)
	_, err = c.Recv(wctx, make([]byte, 64))
	wcancel()
	require.ErrorIs(t, err, context.DeadlineExceeded, "the server took the client for dead")
	select {
	case l := <-cli.lines:
		t.Fatalf("the client ended its wait: %q", l)
	default:
	}

	cli.kill()
	requireDeadSoon(t, c, "client in its own PID namespace, killed")
}

// TestConnPathName: a name with a slash is a socket file. A server killed
// leaves it (the kernel does not remove it); the next Listen takes it over
// when nobody answers there, refuses it while a server does, and Close
// removes it. Clients of the dead server redial.
func TestConnPathName(t *testing.T) {
	shmtest.NoLeaks(t)
	path := filepath.Join(t.TempDir(), "kv.sock")
	srv := startConnPeer(t, "", "serve", "-name", path)
	srv.line(t, "listening", noticeBound)
	_, err := conn.Listen(path, survivorCfg)
	require.ErrorIs(t, err, syscall.EADDRINUSE, "a live server's name is not taken over")

	ctx, cancel := context.WithTimeout(context.Background(), noticeBound)
	defer cancel()
	c, err := conn.Dial(ctx, path, survivorCfg)
	require.NoError(t, err)
	exchange(t, c)
	srv.kill()
	requireDeadSoon(t, c, "the server killed")
	require.NoError(t, c.Close())
	_, err = os.Stat(path)
	require.NoError(t, err, "the dead server's socket file")

	l, err := conn.Listen(path, survivorCfg)
	require.NoError(t, err, "the stale socket file is taken over")
	cli := startConnPeer(t, "", "dial", "-name", path, "-count", "3")
	s, err := l.AcceptContext(ctx)
	require.NoError(t, err)
	require.NoError(t, echoN(ctx, s, 3))
	cli.waitOK(t, noticeBound)
	require.NoError(t, s.Close())
	require.NoError(t, l.Close())
	_, err = os.Stat(path)
	require.ErrorIs(t, err, os.ErrNotExist, "Close removes the socket file")

	// A file that is not a socket is never removed.
	require.NoError(t, os.WriteFile(path, []byte("not a socket"), 0o600))
	_, err = conn.Listen(path, survivorCfg)
	require.ErrorIs(t, err, syscall.EADDRINUSE)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "not a socket", string(b))
	requireNoSegments(t, "path name", os.Getpid(), srv.pid(), cli.pid())
}
