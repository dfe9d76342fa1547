// Package cinterop_test checks that the C header include/shmring.h and the
// example programs in examples/c speak the ring's protocol with the Go code:
// the same layout byte for byte (layout_test.go), messages streamed both
// ways between a C process and Go (stream_test.go), a peer's death,
// takeover and stop seen across the language boundary (peer_test.go),
// layout 2.0's fences: rings with and without the asymmetric-fence flag,
// made by either language, the membarrier path of the sleeper, and both
// openers refusing versions, flags and max_messages they do not accept
// (fences_test.go);
// shared fields that mean the same whichever language writes and reads
// them (the stalls counter, the closed bits and owners), a C process driven
// move by move against the Go package (shared_test.go, testdata/script.c);
// layout 3.0's messages of any size: fragmented messages each way and from
// C to C, up to thousands of rings, short buffers, hostile slots both
// consumers must refuse alike, and messages torn by a timeout, an abort or
// a death mid-message with the role taken over by either language
// (fragment_test.go); layout 4.0's lap marks: a producer that died after it
// marked slots published and before it stored head, whose role is taken
// over in either language without writing over them, and a consumer of
// either language that receives them once (lapmark_test.go); the header's
// own checks of the language standard and
// the feature macros, and its quick-use example, compiled and run as
// written (header_test.go).
//
// The package holds tests only. The C code is compiled at run time with the
// first compiler found of $CC, cc, gcc and clang (shmtest.CC); without one,
// every test skips and says so.
package cinterop_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

// testTimeout bounds every test: a hang is a failure, never a wait forever.
const testTimeout = 2 * time.Minute

func TestMain(m *testing.M) {
	shmtest.Main(m.Run, shmtest.Roles{"producer": producerChild}.Play)
}

// cFlags are the flags every C program of these tests is built with.
var cFlags = []string{"-std=c11", "-Wall", "-Wextra", "-Werror", "-O2"}

// includeDir is the directory of include/shmring.h.
func includeDir(t testing.TB) string { return filepath.Join(shmtest.RepoRoot(t), "include") }

// buildC compiles the C program src, named name ("opener.c"), with cFlags
// and the header, and returns its path.
func buildC(t testing.TB, name, src string) string {
	t.Helper()
	return shmtest.CompileSource(t, shmtest.CC(t), name, src, append(slices.Clone(cFlags), "-I", includeDir(t))...)
}

// cPrograms returns the directory holding the examples/c producer and
// consumer, compiled with cFlags (once per test binary).
func cPrograms(t testing.TB) string {
	t.Helper()
	cc := shmtest.CC(t)
	root := shmtest.RepoRoot(t)
	return shmtest.Build(t, "examples/c", func(dir string) error {
		for _, prog := range []string{"producer", "consumer"} {
			args := append(slices.Clone(cFlags), "-I", filepath.Join(root, "include"),
				"-o", filepath.Join(dir, prog), filepath.Join(root, "examples", "c", prog+".c"))
			if err := shmtest.Compile(cc, args...); err != nil {
				return err
			}
		}
		return nil
	})
}

// goCommands returns the directory holding cmd/producer and cmd/consumer
// (shmtest.GoBuild: once per test binary; not -race, the race detector
// cannot see shared memory, and their logic has its own tests).
func goCommands(t testing.TB) string {
	t.Helper()
	return shmtest.GoBuild(t, "github.com/shmring/shmring/cmd/...")
}

// start starts the program at path; it is killed when ctx ends and when
// the test ends, so none outlives its test.
func start(t testing.TB, ctx context.Context, path string, args ...string) *shmtest.Proc {
	t.Helper()
	return shmtest.Start(t, exec.CommandContext(ctx, path, args...))
}

// summary parses the one-line report of an examples/c program:
// "consumer: ok key=value key=value ...". The verdict is under "status".
func summary(t testing.TB, p *shmtest.Proc) map[string]string {
	t.Helper()
	for _, line := range strings.Split(p.Stdout.String(), "\n") {
		rest, ok := strings.CutPrefix(line, p.Name()+": ")
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

// newRing creates a ring at a fresh test key. Unless the test has closed it
// with closeR (which checks Close as closeRing does), it is removed and
// closed when the test ends.
func newRing(t *testing.T, cfg ring.Config) (r *ring.Ring, key int32, closeR func()) {
	t.Helper()
	key = shmtest.Key(t)
	r, err := ring.Create(shmseg.Key(key), cfg)
	require.NoError(t, err)
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = r.Segment().Remove()
			closeRing(t, r)
		}
	})
	return r, key, func() {
		closed = true
		closeRing(t, r)
	}
}

// hexKey formats a key for the -key flag.
func hexKey(k int32) string { return fmt.Sprintf("%#08x", uint32(k)) }

// pick returns short under -short, long otherwise.
func pick(long, short int) int {
	if testing.Short() {
		return short
	}
	return long
}
