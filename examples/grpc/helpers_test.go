package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
)

// patience bounds every wait of the tests: long, so that a loaded machine
// never fails them; a wait that reaches it means something hangs.
const patience = time.Minute

// transports are the two ways the tests run everything: over conn, under
// a name of the test's own, and over TCP on a port the kernel picks. Each
// call of new gives a fresh one.
var transports = []struct {
	name string
	new  func() transport
}{
	{"conn", func() transport { return transport{name: testName()} }},
	{"tcp", func() transport { return transport{tcp: "127.0.0.1:0"} }},
}

var names atomic.Int64

// testName is a conn name no other test, and no other engineer's test
// binary, uses: abstract socket names are shared by the host's processes.
func testName() string {
	return fmt.Sprintf("grpc-example-test-%d-%d", os.Getpid(), names.Add(1))
}

// startServer serves the service over tr, as the serve command does, until
// the test ends; it then checks that the server stopped and returns what
// it printed. It returns the transport a client dials: tr, with the
// port the kernel chose for TCP.
func startServer(t *testing.T, tr transport, grace time.Duration, opts ...grpc.ServerOption) (client transport, out func() string, stop func()) {
	t.Helper()
	l, err := tr.listen()
	require.NoError(t, err)
	if tr.tcp != "" {
		tr.tcp = l.Addr().String()
	}
	ctx, cancel := context.WithCancel(context.Background())
	var buf syncBuffer
	served := make(chan error, 1)
	go func() { served <- serve(ctx, l, grace, &buf, opts...) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-served:
				require.NoError(t, err)
			case <-time.After(patience):
				t.Fatalf("the server on %v has not stopped %v after it was told to", tr, patience)
			}
		})
	}
	t.Cleanup(stop)
	return tr, buf.String, stop
}

// dialServer is a client of the server at tr, closed when the test ends.
func dialServer(t *testing.T, tr transport) *grpc.ClientConn {
	t.Helper()
	cc, err := newClient(tr)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, cc.Close()) })
	return cc
}

// syncBuffer is a bytes.Buffer that a server goroutine writes while the
// test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// children are the pids of the processes the tests started.
var children struct {
	mu   sync.Mutex
	pids []int
}

// noLeaks checks, when the test ends (after the cleanups registered after
// it), that no System V segment remains that this process or one it
// started made. conn's segments are marked for removal when made, so the
// kernel frees them once both ends detach; one still listed is an end
// still attached: a connection not closed, or a process not gone.
func noLeaks(t *testing.T) {
	t.Helper()
	t.Cleanup(func() {
		children.mu.Lock()
		pids := append([]int{os.Getpid()}, children.pids...)
		children.mu.Unlock()
		var left []string
		for deadline := time.Now().Add(patience); ; time.Sleep(10 * time.Millisecond) {
			left = segmentsOf(t, pids)
			if len(left) == 0 || time.Now().After(deadline) {
				break
			}
		}
		if len(left) > 0 {
			t.Errorf("segments made by this process or its children (pids %v) are left after %v:\n%s",
				pids, patience, strings.Join(left, "\n"))
		}
	})
}

// segmentsOf returns the lines of /proc/sysvipc/shm whose creator (cpid)
// is one of pids.
func segmentsOf(t *testing.T, pids []int) []string {
	data, err := os.ReadFile("/proc/sysvipc/shm")
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	// The columns by name, from the header: key shmid perms size cpid ...
	cpid := slices.Index(strings.Fields(lines[0]), "cpid")
	require.GreaterOrEqual(t, cpid, 0, "no cpid column in /proc/sysvipc/shm: %q", lines[0])
	var found []string
	for _, line := range lines[1:] {
		f := strings.Fields(line)
		if len(f) <= cpid {
			continue
		}
		if pid, err := strconv.Atoi(f[cpid]); err == nil && slices.Contains(pids, pid) {
			found = append(found, line)
		}
	}
	return found
}

// The command, built once for the tests that run it as a process.
var built struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// binary returns the path of the command, built from this directory.
func binary(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "grpc-example-test-")
		if built.err != nil {
			return
		}
		built.path = filepath.Join(built.dir, "grpc-example")
		out, err := exec.Command("go", "build", "-o", built.path, ".").CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	require.NoError(t, built.err)
	return built.path
}

// proc is a process of the command, which the test's end kills if it is
// still running.
type proc struct {
	cmd    *exec.Cmd
	lines  chan string // its stdout, a line at a time; closed when it exits
	stderr bytes.Buffer
	exited chan struct{}
	err    error // Wait's, once exited is closed
}

func start(t *testing.T, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary(t), args...), lines: make(chan string, 1024), exited: make(chan struct{})}
	// Killed with this test binary, even one that dies of a timeout panic.
	dieWithParent(p.cmd)
	pr, pw := io.Pipe()
	p.cmd.Stdout = pw
	p.cmd.Stderr = &p.stderr
	require.NoError(t, p.cmd.Start())
	children.mu.Lock()
	children.pids = append(children.pids, p.cmd.Process.Pid)
	children.mu.Unlock()
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	go func() {
		p.err = p.cmd.Wait() // returns once the process's stdout is copied
		pw.Close()
		<-scanned
		close(p.lines)
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill() // an error means it has exited already
		<-p.exited
	})
	return p
}

// line returns the process's next line of output.
func (p *proc) line(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			<-p.exited
			t.Fatalf("%v exited (%v) before the line the test waits for; stderr:\n%s", p.cmd.Args, p.err, p.stderr.String())
		}
		return l
	case <-time.After(patience):
		t.Fatalf("%v printed no line in %v", p.cmd.Args, patience)
		return ""
	}
}

// wait waits for the process to exit and returns the rest of its output
// and Wait's error.
func (p *proc) wait(t *testing.T) (rest []string, err error) {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(patience):
		t.Fatalf("%v has not exited in %v", p.cmd.Args, patience)
	}
	for l := range p.lines {
		rest = append(rest, l)
	}
	return rest, p.err
}
