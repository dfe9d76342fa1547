// Package cinterop_test checks that the C header include/shmring.h and the
// example programs in examples/c speak the ring's protocol with the Go code:
// the same layout byte for byte (layout_test.go), messages streamed both
// ways between a C process and Go (stream_test.go), a peer's death,
// takeover and stop seen across the language boundary (peer_test.go), and
// layout 2.0's fences: rings with and without the asymmetric-fence flag,
// made by either language, the membarrier path of the sleeper, and both
// openers refusing versions and flags they do not know (fences_test.go);
// shared fields that mean the same whichever language writes and reads
// them (the stalls counter, the closed bits and owners), a C process driven
// move by move against the Go package (shared_test.go, testdata/script.c);
// the header's own checks of the language standard and the feature macros,
// and its quick-use example, compiled and run as written (header_test.go).
//
// The package holds tests only. The C code is compiled at run time with the
// first compiler found of $CC, cc, gcc and clang; without one, every test
// skips and says so.
package cinterop_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shmring/shmring/internal/shmtest"
	"github.com/shmring/shmring/ring"
)

// testTimeout bounds every test: a hang is a failure, never a wait forever.
const testTimeout = 2 * time.Minute

func TestMain(m *testing.M) {
	if role := shmtest.Role(); role != "" {
		os.Exit(runChild(role, shmtest.Args()))
	}
	_, _ = root() // before any test can change the working directory
	code := m.Run()
	for _, b := range []*buildOnce{&cBuild, &goBuild, &scriptBuild} {
		if b.dir != "" {
			_ = os.RemoveAll(b.dir)
		}
	}
	os.Exit(code)
}

// root is the module's root, found once: go test runs a package's tests in
// its directory, internal/cinterop.
var root = sync.OnceValues(func() (string, error) {
	return filepath.Abs(filepath.Join("..", ".."))
})

func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := root()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "include", "shmring.h")); err != nil {
		t.Fatalf("cannot find include/shmring.h from %s: %v", dir, err)
	}
	return dir
}

// cCompiler returns the C compiler command (program and any arguments
// given in $CC), or skips the test if there is none.
func cCompiler(t testing.TB) []string {
	t.Helper()
	return findCompiler(t, "CC", "cc", "gcc", "clang")
}

// cxxCompiler is cCompiler for C++: $CXX, c++, g++, clang++.
func cxxCompiler(t testing.TB) []string {
	t.Helper()
	return findCompiler(t, "CXX", "c++", "g++", "clang++")
}

func findCompiler(t testing.TB, env string, names ...string) []string {
	t.Helper()
	var tried []string
	if f := strings.Fields(os.Getenv(env)); len(f) > 0 {
		if p, err := exec.LookPath(f[0]); err == nil {
			return append([]string{p}, f[1:]...)
		}
		tried = append(tried, "$"+env+"="+os.Getenv(env))
	}
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return []string{p}
		}
		tried = append(tried, n)
	}
	t.Skipf("no compiler found (tried %s): the C interoperability tests need one", strings.Join(tried, ", "))
	return nil
}

// cFlags are the flags every C program of these tests is built with.
var cFlags = []string{"-std=c11", "-Wall", "-Wextra", "-Werror", "-O2"}

// compile runs compiler with args and fails the test with its output if it
// fails.
func compile(t testing.TB, compiler []string, args ...string) {
	t.Helper()
	cmd := exec.Command(compiler[0], append(compiler[1:], args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(compiler[0]), strings.Join(args, " "), err, out)
	}
}

// buildOnce builds something once per test binary into a directory that
// TestMain removes.
type buildOnce struct {
	once sync.Once
	dir  string
	err  error
}

func (b *buildOnce) do(prefix string, build func(dir string) error) (string, error) {
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", prefix); b.err != nil {
			return
		}
		b.err = build(b.dir)
	})
	return b.dir, b.err
}

var cBuild, goBuild buildOnce

// cPrograms returns the directory holding the examples/c producer and
// consumer, compiled with cFlags (once per test binary).
func cPrograms(t testing.TB) string {
	t.Helper()
	cc := cCompiler(t)
	root := repoRoot(t)
	dir, err := cBuild.do("shmring-cinterop-", func(dir string) error {
		for _, prog := range []string{"producer", "consumer"} {
			args := append(append([]string{}, cFlags...), "-I", filepath.Join(root, "include"),
				"-o", filepath.Join(dir, prog), filepath.Join(root, "examples", "c", prog+".c"))
			cmd := exec.Command(cc[0], append(cc[1:], args...)...)
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("compiling examples/c/%s.c: %v\n%s", prog, err, out)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// goCommands returns the directory holding cmd/producer and cmd/consumer,
// built with the go command (once per test binary; not -race: the race
// detector cannot see shared memory, and their logic has its own tests).
func goCommands(t testing.TB) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command in PATH to build cmd/producer and cmd/consumer: %v", err)
	}
	dir, err := goBuild.do("shmring-cinterop-go-", func(dir string) error {
		// -buildvcs=false: no git status (which fails while another
		// process holds the repository's index lock) for a binary
		// that does not need it.
		cmd := exec.Command(goTool, "build", "-buildvcs=false", "-o", dir+string(filepath.Separator),
			"github.com/shmring/shmring/cmd/producer", "github.com/shmring/shmring/cmd/consumer")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build cmd/producer cmd/consumer: %v\n%s", err, out)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// proc is a process started by a test. It is killed when the test's context
// ends and when the test ends, so none outlives its test.
type proc struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	done           chan struct{}
	code           int // exit status once done; -1 if killed by a signal
}

func start(t testing.TB, ctx context.Context, path string, args ...string) *proc {
	t.Helper()
	p := &proc{name: filepath.Base(path), cmd: exec.CommandContext(ctx, path, args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.cmd.WaitDelay = 5 * time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	go func() {
		err := p.cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil:
			p.code = 0
		case errors.As(err, &ee):
			p.code = ee.ExitCode()
		default:
			p.code = -2
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// wait waits for the process to exit (the context kills it if it hangs)
// and returns its exit status.
func (p *proc) wait() int {
	<-p.done
	return p.code
}

func (p *proc) String() string {
	return fmt.Sprintf("%s (pid %d) exit %d\nstdout:\n%s\nstderr:\n%s", p.name, p.pid(), p.code, &p.stdout, &p.stderr)
}

// summary parses the one-line report of an examples/c program:
// "consumer: ok key=value key=value ...". The verdict is under "status".
func (p *proc) summary(t testing.TB) map[string]string {
	t.Helper()
	for _, line := range strings.Split(p.stdout.String(), "\n") {
		rest, ok := strings.CutPrefix(line, p.name+": ")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			break
		}
		m := map[string]string{"status": f[0]}
		for _, kv := range f[1:] {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = v
		}
		return m
	}
	t.Fatalf("no summary line in the output of %v", p)
	return nil
}

// num returns a numeric field of a summary.
func num(t testing.TB, m map[string]string, key string) int64 {
	t.Helper()
	v, err := strconv.ParseInt(m[key], 10, 64)
	if err != nil {
		t.Fatalf("summary field %s=%q: %v (summary %v)", key, m[key], err, m)
	}
	return v
}

// waitUntil polls cond every millisecond until it holds; if ctx ends first
// the test fails, naming what it waited for.
func waitUntil(t testing.TB, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("gave up waiting for %s: %v", what, ctx.Err())
		case <-time.After(time.Millisecond):
		}
	}
}

// closeRing closes r, failing the test if Close returns an error or does
// not return within closeTimeout (it waits for calls it counts as blocked
// in a wait; a miscount would hang it, and the test with it).
func closeRing(t testing.TB, r *ring.Ring) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- r.Close() }()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, ring.ErrClosed) {
			t.Errorf("ring.Close: %v", err)
		}
	case <-time.After(closeTimeout):
		t.Errorf("ring.Close did not return within %v (it waits for calls it counts as blocked in a wait)", closeTimeout)
	}
}

const closeTimeout = 30 * time.Second

// hexKey formats a key for the -key flag.
func hexKey(k int32) string { return fmt.Sprintf("%#08x", uint32(k)) }

// pick returns short under -short, long otherwise.
func pick(long, short int) int {
	if testing.Short() {
		return short
	}
	return long
}
