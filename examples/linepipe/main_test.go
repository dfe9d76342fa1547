package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/shmseg"
)

// testTimeout bounds every wait of these tests: a hang fails, it never
// waits forever. It is no measure of speed.
const testTimeout = 2 * time.Minute

// A short liveness interval, so that a stopped or dead sender is noticed
// in a fraction of a second.
const liveness = "100ms"

func TestMain(m *testing.M) {
	shmtest.Main(m.Run, shmtest.Roles{"linepipe": func(args []string) error {
		if code := run(args, os.Stdin, os.Stdout, os.Stderr); code != 0 {
			return shmtest.ExitCode(code)
		}
		return nil
	}}.Play)
}

// proc is linepipe running in a child process (the test binary, re-executed
// by shmtest.Child), its output read line by line.
type proc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout chan string
	stderr chan string
	name   string
}

// start runs "linepipe args..." in a child process.
func start(t *testing.T, ctx context.Context, args ...string) *proc {
	t.Helper()
	cmd := shmtest.Child(t, ctx, "linepipe", args...)
	p := &proc{cmd: cmd, name: "linepipe " + args[0]}
	var err error
	p.stdin, err = cmd.StdinPipe()
	require.NoError(t, err)
	cmd.Stderr = nil
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	shmtest.Track(cmd.Process.Pid) // recv creates a segment under an ftok key
	p.stdout, p.stderr = lines(stdout), lines(stderr)
	return p
}

// lines sends each line read from r, and closes the channel at its end.
func lines(r io.Reader) chan string {
	ch := make(chan string, 100)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	return ch
}

// send writes lines to p's standard input.
func (p *proc) send(t *testing.T, lines ...string) {
	t.Helper()
	_, err := io.WriteString(p.stdin, strings.Join(lines, "\n")+"\n")
	require.NoError(t, err)
}

// expect reads lines from ch until one contains want, and returns them
// all; it fails the test if ch ends or ctx ends first.
func (p *proc) expect(t *testing.T, ctx context.Context, ch chan string, want string) []string {
	t.Helper()
	var seen []string
	for {
		select {
		case line, ok := <-ch:
			if !ok {
				t.Fatalf("%s: output ended without %q; read %q", p.name, want, seen)
			}
			seen = append(seen, line)
			if strings.Contains(line, want) {
				return seen
			}
		case <-ctx.Done():
			t.Fatalf("%s: gave up waiting for %q: %v; read %q", p.name, want, ctx.Err(), seen)
		}
	}
}

// wait waits for p to exit and returns its exit status.
func (p *proc) wait(t *testing.T) int {
	t.Helper()
	// Drain the output first: Wait closes the pipes.
	var rest []string
	for line := range p.stdout {
		rest = append(rest, line)
	}
	for line := range p.stderr {
		rest = append(rest, line)
	}
	err := p.cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		t.Logf("%s exited %d; last output %q", p.name, exit.ExitCode(), rest)
		return exit.ExitCode()
	}
	require.NoError(t, err, "%s", p.name)
	require.Empty(t, rest, "%s: unexpected output at the end", p.name)
	return 0
}

// requireGone fails the test if a segment still has key.
func requireGone(t *testing.T, key shmseg.Key) {
	t.Helper()
	_, err := shmseg.Open(key)
	require.ErrorIs(t, err, shmseg.ErrNotExist, "the ring at %v must be gone", key)
}

// TestTwoProcesses: the sender, started after the receiver, finds the ring
// the receiver created; the lines arrive in order; both exit 0; the ring is
// gone.
func TestTwoProcesses(t *testing.T) {
	shmtest.NoLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	path, key := shmtest.FtokPath(t, 1)
	recv := start(t, ctx, "recv", "-path", path)
	send := start(t, ctx, "send", "-path", path)
	send.send(t, "hello", "shared", "memory")
	require.NoError(t, send.stdin.Close())
	require.Equal(t, []string{"hello", "shared", "memory"}, recv.expect(t, ctx, recv.stdout, "memory"))
	require.Equal(t, 0, send.wait(t))
	require.Equal(t, 0, recv.wait(t))
	requireGone(t, key)
}

// TestSenderStartsFirst: a sender that comes before the receiver waits for
// the ring to exist.
func TestSenderStartsFirst(t *testing.T) {
	shmtest.NoLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	path, key := shmtest.FtokPath(t, 1)
	send := start(t, ctx, "send", "-path", path)
	send.send(t, "early")
	require.NoError(t, send.stdin.Close())
	recv := start(t, ctx, "recv", "-path", path)
	recv.expect(t, ctx, recv.stdout, "early")
	require.Equal(t, 0, send.wait(t))
	require.Equal(t, 0, recv.wait(t))
	requireGone(t, key)
}

// TestStoppedSender: the receiver reports a stopped sender and goes on
// waiting (ring.ErrPeerUnresponsive); once the sender continues, so does
// the stream, with nothing lost.
func TestStoppedSender(t *testing.T) {
	shmtest.NoLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	path, key := shmtest.FtokPath(t, 1)
	recv := start(t, ctx, "recv", "-path", path, "-liveness", liveness)
	send := start(t, ctx, "send", "-path", path, "-liveness", liveness)
	send.send(t, "before")
	recv.expect(t, ctx, recv.stdout, "before")
	require.NoError(t, send.cmd.Process.Signal(syscall.SIGSTOP))
	recv.expect(t, ctx, recv.stderr, "the sender is stopped")
	require.NoError(t, send.cmd.Process.Signal(syscall.SIGCONT))
	send.send(t, "after")
	require.NoError(t, send.stdin.Close())
	recv.expect(t, ctx, recv.stdout, "after")
	require.Equal(t, 0, send.wait(t))
	require.Equal(t, 0, recv.wait(t))
	requireGone(t, key)
}

// TestTakeover: a sender is killed; the receiver, having received what it
// sent, reports it dead (ring.ErrPeerDead) and waits; a new sender takes
// the role over and goes on after the dead one's last line; the stream
// ends normally and the ring is gone.
func TestTakeover(t *testing.T) {
	shmtest.NoLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	path, key := shmtest.FtokPath(t, 1)
	recv := start(t, ctx, "recv", "-path", path, "-liveness", liveness)
	first := start(t, ctx, "send", "-path", path, "-liveness", liveness)
	first.send(t, "one", "two")
	require.Equal(t, []string{"one", "two"}, recv.expect(t, ctx, recv.stdout, "two"))
	require.NoError(t, first.cmd.Process.Kill())
	require.Equal(t, -1, first.wait(t), "killed")
	recv.expect(t, ctx, recv.stderr, "the sender died")

	second := start(t, ctx, "send", "-path", path, "-liveness", liveness)
	second.expect(t, ctx, second.stderr, "taking over after line 2")
	second.send(t, "three")
	require.NoError(t, second.stdin.Close())
	require.Equal(t, []string{"three"}, recv.expect(t, ctx, recv.stdout, "three"))
	require.Equal(t, 0, second.wait(t))
	require.Equal(t, 0, recv.wait(t))
	requireGone(t, key)
}

// TestGiveUp: a receiver whose sender died and was not replaced within
// -give-up fails, and removes the ring: nothing is left behind.
func TestGiveUp(t *testing.T) {
	shmtest.NoLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	path, key := shmtest.FtokPath(t, 1)
	recv := start(t, ctx, "recv", "-path", path, "-liveness", liveness, "-give-up", "300ms")
	send := start(t, ctx, "send", "-path", path, "-liveness", liveness)
	send.send(t, "last words")
	recv.expect(t, ctx, recv.stdout, "last words")
	require.NoError(t, send.cmd.Process.Kill())
	send.wait(t)
	recv.expect(t, ctx, recv.stderr, "no sender took over within -give-up 300ms")
	require.Equal(t, 1, recv.wait(t))
	requireGone(t, key)
}
