package reliability_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

// Child roles of the test binary itself (shmtest.Child), for tests that
// must run a whole scenario in another process: in a fresh IPC namespace,
// for instance.
var childRoles = shmtest.Roles{}

func TestMain(m *testing.M) { shmtest.Main(m.Run, childRoles.Play) }

// Long forms. Each knob is an environment variable read by one or more
// tests; unset, a test runs its short form (smaller still under -short).
// `make soak` and `make fault` set them.
const (
	envSoakMessages     = "SHMRING_SOAK_MESSAGES"     // item 1: messages over all soak configurations
	envPingPongRounds   = "SHMRING_PINGPONG_ROUNDS"   // item 2: round trips per GOMAXPROCS setting
	envFastPathMessages = "SHMRING_FASTPATH_MESSAGES" // item 3: messages of the saturated stream
	envFaultRuns        = "SHMRING_FAULT_RUNS"        // items 9-14: kill, stop and takeover runs per scenario
	envHostileRuns      = "SHMRING_HOSTILE_RUNS"      // item 18: scribbling runs per scenario
)

// knob returns the value of env if set, else short under -short, else def.
func knob(t testing.TB, env string, def, short int64) int64 {
	t.Helper()
	if v := os.Getenv(env); v != "" {
		n, err := strconv.ParseFloat(v, 64) // accepts 1e9
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number", env, v)
		}
		return int64(n)
	}
	if testing.Short() {
		return short
	}
	return def
}

// long reports whether env asks for a long form.
func long(env string) bool { return os.Getenv(env) != "" }

// buildBinary builds the command pkg (an import path) with the build tags,
// once per test binary, and returns the executable's path.
func buildBinary(t testing.TB, pkg string, tags ...string) string {
	t.Helper()
	return filepath.Join(shmtest.GoBuild(t, pkg, tags...), path.Base(pkg))
}

// peerBinary is the helper program built with the crash points compiled in.
func peerBinary(t testing.TB) string {
	return buildBinary(t, "github.com/shmring/shmring/reliability/internal/peer", "shmring_crashpoints")
}

// proc is a child process whose stdout is read line by line.
type proc struct {
	name   string
	cmd    *exec.Cmd
	lines  chan string // stdout, closed at EOF
	stderr lockedBuffer
	done   chan struct{}
	err    error // from Wait, once done is closed
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startProc starts path with args and env added to the environment; it is
// killed when the test ends.
func startProc(t testing.TB, env []string, path string, args ...string) *proc {
	t.Helper()
	p := newProc(t, exec.Command(path, args...))
	// Killed with this test binary, even one that dies of a timeout
	// panic, whose Cleanups do not run.
	dieWithParent(p.cmd)
	p.cmd.Env = append(os.Environ(), env...)
	p.start(t)
	return p
}

func newProc(t testing.TB, cmd *exec.Cmd) *proc {
	p := &proc{name: filepath.Base(cmd.Path) + " " + strings.Join(cmd.Args[1:], " "), cmd: cmd,
		lines: make(chan string, 1024), done: make(chan struct{})}
	cmd.Stderr = &p.stderr
	return p
}

func (p *proc) start(t testing.TB) {
	t.Helper()
	out, err := p.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start())
	t.Cleanup(func() { p.kill() })
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case p.lines <- sc.Text():
			default: // nobody reads this many lines: drop, never block the child
			}
		}
		close(p.lines)
		// Reading to EOF first is what os/exec asks for before Wait.
		p.err = p.cmd.Wait()
		close(p.done)
	}()
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// kill sends SIGKILL unless the process has exited, and reaps it.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

func (p *proc) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(sig), "signal %v to %s", sig, p)
}

func (p *proc) String() string {
	return fmt.Sprintf("[pid %d] %s (stderr: %q)", p.cmd.Process.Pid, p.name, p.stderr.String())
}

// line returns the next line of stdout starting with prefix (other lines
// are skipped), failing after timeout or at EOF.
func (p *proc) line(t testing.TB, prefix string, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				<-p.done
				t.Fatalf("%s: ended (%v) before printing %q", p, p.err, prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-deadline:
			t.Fatalf("%s: no %q line within %v", p, prefix, timeout)
		}
	}
}

// number returns the i-th field of a line, as a number.
func number(t testing.TB, line string, i int) uint64 {
	t.Helper()
	f := strings.Fields(line)
	require.Greater(t, len(f), i, "line %q", line)
	n, err := strconv.ParseUint(f[i], 0, 64)
	require.NoError(t, err, "line %q", line)
	return n
}

// ready waits for the "ready CURSOR" line and returns the cursor.
func (p *proc) ready(t testing.TB) uint64 {
	t.Helper()
	return number(t, p.line(t, "ready", 30*time.Second), 1)
}

// wait waits up to timeout for the process to exit.
func (p *proc) wait(t testing.TB, timeout time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(timeout):
		p.kill()
		t.Fatalf("%s: did not exit within %v", p, timeout)
		return nil
	}
}

// waitOK waits for a clean exit.
func (p *proc) waitOK(t testing.TB, timeout time.Duration) {
	t.Helper()
	require.NoError(t, p.wait(t, timeout), "%s", p)
}

// killedBy reports whether the process ended by sig.
func (p *proc) killedBy(sig syscall.Signal) bool {
	var ee *exec.ExitError
	if !errors.As(p.err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}

// peerArgs are the flags every peer of a ring gets.
func peerArgs(cmd string, key shmseg.Key, extra ...string) []string {
	return append([]string{cmd, "-key", key.String()}, extra...)
}

// startPeer runs the helper program.
func startPeer(t testing.TB, env []string, cmd string, key shmseg.Key, extra ...string) *proc {
	t.Helper()
	return startProc(t, env, peerBinary(t), peerArgs(cmd, key, extra...)...)
}

// newRing creates a SysV ring at a fresh test key, for the test's process,
// and removes it when the test ends.
func newRing(t testing.TB, cfg ring.Config) (*ring.Ring, shmseg.Key) {
	t.Helper()
	key := shmseg.Key(shmtest.Key(t))
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 10 * time.Second
	}
	r, err := ring.Create(key, cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = r.Segment().Remove()
		_ = r.Close()
	})
	return r, key
}

// deliveredFile makes the file a consumer peer counts its deliveries in,
// starting at initial (a peer killed before it claims its role leaves it
// so), and returns its path and a function that reads the count.
func deliveredFile(t testing.TB, initial uint64) (path string, read func() uint64) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "delivered")
	require.NoError(t, os.WriteFile(path, binary.LittleEndian.AppendUint64(nil, initial), 0o644))
	return path, func() uint64 {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		require.Len(t, b, 8)
		return binary.LittleEndian.Uint64(b)
	}
}

// exitWatch returns a context that ends when p exits.
func exitWatch(p *proc) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-p.done:
		case <-ctx.Done():
		}
		cancel()
	}()
	return ctx, cancel
}
