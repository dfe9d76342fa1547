//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
)

// testTimeout bounds every wait of these tests: a hang fails, it never
// waits forever. It is no measure of speed.
const testTimeout = 2 * time.Minute

// peerDeathBound is how long a side may take to report that the other's
// process died. conn learns it from the socket at once; the bound is
// generous, for a loaded machine, and far below the liveness check's
// interval (conn.DefaultLiveness), which would be the only other way.
const peerDeathBound = 10 * time.Second

func TestMain(m *testing.M) { shmtest.Main(m.Run, shmtest.Roles{}.Play) }

// kvBinary builds kv once per test binary (never a race build: the
// processes share memory the race detector cannot see) and returns it.
func kvBinary(t *testing.T) string {
	return filepath.Join(shmtest.GoBuild(t, "github.com/shmring/shmring/examples/kv"), "kv")
}

// server is "kv serve" running in a process, its log read as it comes.
type server struct {
	cmd  *exec.Cmd
	name string
	done chan struct{} // closed once it has exited and its log is read
	mu   sync.Mutex
	log  []string
}

// newServer starts each test of this file: the leak check first, so that
// its cleanup runs after every other, a context that bounds the test, and
// a server.
func newServer(t *testing.T) (context.Context, *server) {
	t.Helper()
	shmtest.NoLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx, startServer(t, ctx)
}

// startServer starts "kv serve" under a fresh name and returns once it
// listens. It is killed when the test ends if it still runs.
func startServer(t *testing.T, ctx context.Context) *server {
	t.Helper()
	s := &server{name: uniqueName(), done: make(chan struct{})}
	s.cmd = exec.CommandContext(ctx, kvBinary(t), "serve", "-name", s.name)
	// Killed with this test binary, even one that dies of a timeout
	// panic, whose Cleanups do not run (three servers outlived such a
	// run once).
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := s.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, s.cmd.Start())
	// The server makes its segments with IPC_PRIVATE: NoLeaks counts
	// them as this test's only if told whose they are.
	shmtest.Track(s.cmd.Process.Pid)
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			s.mu.Lock()
			s.log = append(s.log, sc.Text())
			s.mu.Unlock()
		}
		_ = s.cmd.Wait() // after the last read: Wait closes the pipe
	}()
	t.Cleanup(func() {
		_ = s.cmd.Process.Kill()
		<-s.done
		t.Logf("kv serve's log:\n%s", s.logText())
	})
	s.expect(t, ctx, "listening on @shmring/"+s.name)
	return s
}

func (s *server) logText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.log, "\n")
}

// expect waits until the server's log has a line that contains want; it
// fails the test if the server exits or ctx ends first.
func (s *server) expect(t *testing.T, ctx context.Context, want string) {
	t.Helper()
	for {
		if strings.Contains(s.logText(), want) {
			return
		}
		select {
		case <-s.done:
			require.Contains(t, s.logText(), want, "kv serve exited")
			return
		case <-ctx.Done():
			t.Fatalf("kv serve: gave up waiting for %q in its log: %v", want, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// stop sends the server sig and returns its exit status.
func (s *server) stop(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	require.NoError(t, s.cmd.Process.Signal(sig))
	select {
	case <-s.done:
	case <-time.After(testTimeout):
		t.Fatalf("kv serve did not exit within %v of %v", testTimeout, sig)
	}
	return s.cmd.ProcessState.ExitCode()
}

// requireNoSocket fails the test if a socket is still bound to the
// server's name: the abstract name goes with the last descriptor of the
// listener and of the connections accepted on it, so it is gone only if
// nothing of the server is left.
func (s *server) requireNoSocket(t *testing.T) {
	t.Helper()
	table, err := os.ReadFile("/proc/net/unix")
	require.NoError(t, err)
	for line := range strings.Lines(string(table)) {
		fields := strings.Fields(line)
		require.NotEqual(t, "@shmring/"+s.name, fields[len(fields)-1], "a socket still has the server's name:\n%s", line)
	}
}

// kv runs a client command against s and returns its standard output and
// error and its exit status.
func (s *server) kv(t *testing.T, stdin []byte, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	p := s.startClient(t, stdin, args...)
	code = p.Wait(t, testTimeout)
	return p.Stdout.String(), p.Stderr.String(), code
}

// startClient starts a client command against s: args[0], -name, and
// the rest of args.
func (s *server) startClient(t *testing.T, stdin []byte, args ...string) *shmtest.Proc {
	t.Helper()
	cmd := exec.Command(kvBinary(t), append([]string{args[0], "-name", s.name}, args[1:]...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Stdin = bytes.NewReader(stdin)
	return shmtest.Start(t, cmd)
}

// TestCommands: set, get and del as the README shows them, a missing key
// (the handler's error, reported by the client, exit status 1), a 1 MiB
// value from standard input, and a shutdown on SIGTERM that leaves no
// segment (NoLeaks) and no socket.
func TestCommands(t *testing.T) {
	ctx, s := newServer(t)

	out, errOut, code := s.kv(t, nil, "set", "greeting", "hello, world")
	require.Equal(t, 0, code, errOut)
	require.Empty(t, out)
	out, errOut, code = s.kv(t, nil, "get", "greeting")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "hello, world", out, "get writes the value as it is, no newline added")
	_, errOut, code = s.kv(t, nil, "get", "nothing")
	require.Equal(t, 1, code)
	require.Equal(t, "kv get: \"nothing\": conn: remote: no such key\n", errOut)
	_, errOut, code = s.kv(t, nil, "del", "greeting")
	require.Equal(t, 0, code, errOut)
	_, errOut, code = s.kv(t, nil, "del", "greeting")
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "no such key")

	big := make([]byte, 1<<20)
	_, _ = rand.Read(big)
	_, errOut, code = s.kv(t, big, "set", "big")
	require.Equal(t, 0, code, errOut)
	out, errOut, code = s.kv(t, nil, "get", "big")
	require.Equal(t, 0, code, errOut)
	require.True(t, bytes.Equal(big, []byte(out)), "the 1 MiB value comes back as it was set: got %d bytes", len(out))

	require.Equal(t, 0, s.stop(t, syscall.SIGTERM))
	s.expect(t, ctx, "shutting down; clients served: 7")
	s.requireNoSocket(t)
	_, errOut, code = s.kv(t, nil, "get", "big")
	require.Equal(t, 1, code, "nobody listens any more")
	require.Contains(t, errOut, "kv get: ")
}

// TestManyClients: client processes at once, each with goroutines of its
// own that set and get keys and check what they read; every one finishes
// and reports its figures, and the server saw each leave.
func TestManyClients(t *testing.T) {
	ctx, s := newServer(t)
	const clients = 8
	var procs []*shmtest.Proc
	for range clients {
		procs = append(procs, s.startClient(t, nil, "bench", "-n", "2000", "-g", "4", "-size", "100"))
	}
	for _, p := range procs {
		require.Equal(t, 0, p.Wait(t, testTimeout), "%s: %s", p, p.Stderr.String())
		require.Regexp(t, `^-g 4 -size 100: 2000 calls in .*: \d+ calls/s, p50 .*, p99 .*\n$`, p.Stdout.String())
		s.expect(t, ctx, fmt.Sprintf("client pid %d left", p.Pid()))
	}
	// Each bench deletes its keys: the store is empty again.
	_, errOut, code := s.kv(t, nil, "get", fmt.Sprintf("bench/%d/0", procs[0].Pid()))
	require.Equal(t, 1, code)
	require.Contains(t, errOut, "no such key")

	require.Equal(t, 0, s.stop(t, syscall.SIGINT))
	s.requireNoSocket(t)
}

// startBench starts a client that makes calls until it is stopped, and
// returns once the server has its connection.
func startBench(t *testing.T, ctx context.Context, s *server) *shmtest.Proc {
	t.Helper()
	p := s.startClient(t, nil, "bench", "-n", "1000000000", "-g", "2")
	s.expect(t, ctx, fmt.Sprintf("client pid %d connected", p.Pid()))
	return p
}

// TestServerKilled: a server killed mid-session (SIGKILL: no chance to
// close anything) is reported dead to its client at once
// (ring.ErrPeerDead), and nothing is left behind: the kernel frees the
// segments once the client exits, and the socket went with the server.
func TestServerKilled(t *testing.T) {
	ctx, s := newServer(t)
	client := startBench(t, ctx, s)

	require.Equal(t, -1, s.stop(t, syscall.SIGKILL))
	killed := time.Now()
	select {
	case <-client.Done():
	case <-time.After(peerDeathBound):
		t.Fatalf("the client did not notice within %v that the server died", peerDeathBound)
	}
	t.Logf("the client exited %v after the server was killed", time.Since(killed))
	require.Equal(t, 1, client.ExitCode())
	require.Regexp(t, `^kv bench: ring: peer process is dead: conn "`+s.name+`": peer pid \d+: its end of the socket closed\n$`, client.Stderr.String())
	s.requireNoSocket(t)
}

// TestClientKilled: a client killed mid-session is reported dead to the
// server at once; the server lets its connection go and serves the next
// client as before.
func TestClientKilled(t *testing.T) {
	ctx, s := newServer(t)
	client := startBench(t, ctx, s)

	require.NoError(t, client.Cmd.Process.Kill())
	require.Equal(t, -1, client.Wait(t, testTimeout))
	deadline, stop := context.WithTimeout(ctx, peerDeathBound)
	defer stop()
	s.expect(t, deadline, fmt.Sprintf("client pid %d: ring: peer process is dead", client.Pid()))

	_, errOut, code := s.kv(t, nil, "set", "after", "the death")
	require.Equal(t, 0, code, errOut)
	out, errOut, code := s.kv(t, nil, "get", "after")
	require.Equal(t, 0, code, errOut)
	require.Equal(t, "the death", out)
	require.Equal(t, 0, s.stop(t, syscall.SIGTERM))
	s.requireNoSocket(t)
}

// TestShutdownWithClient: SIGTERM while a client is mid-session: the
// server closes the connection and exits 0; the client is told the server
// closed it (not that it died), and exits 1.
func TestShutdownWithClient(t *testing.T) {
	ctx, s := newServer(t)
	client := startBench(t, ctx, s)

	require.Equal(t, 0, s.stop(t, syscall.SIGTERM))
	s.expect(t, ctx, fmt.Sprintf("client pid %d: closed by the server", client.Pid()))
	require.Equal(t, 1, client.Wait(t, testTimeout))
	require.Contains(t, client.Stderr.String(), "kv bench: the server closed the connection (it shut down): ")
	require.NotContains(t, client.Stderr.String(), "dead")
	s.requireNoSocket(t)
}
