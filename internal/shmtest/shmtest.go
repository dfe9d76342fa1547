// Package shmtest holds helpers shared by the tests of shmring's packages:
// a leak check of SysV segments against a baseline, unique test keys,
// re-execution of the test binary as a child process, and a C process whose
// main thread has exited (for the liveness checks of Go and C).
//
// It is internal and only imported from _test.go files.
package shmtest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shmring/shmring/shmseg"
)

// KeyBase marks the keys tests create: 0x5e7Axxxx ("set A" for "test").
// Keys in this range are never used by production code.
const KeyBase = 0x5e7a0000

// Segment is one row of /proc/sysvipc/shm.
type Segment struct {
	Key    int32
	ID     int
	Size   uint64
	Nattch int
	UID    int
	CPID   int
}

// Segments reads /proc/sysvipc/shm.
func Segments() ([]Segment, error) {
	f, err := os.Open("/proc/sysvipc/shm")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Segment
	sc := bufio.NewScanner(f)
	sc.Scan() // header line
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 8 {
			continue
		}
		key, err1 := strconv.ParseInt(fs[0], 10, 64)
		id, err2 := strconv.Atoi(fs[1])
		size, err3 := strconv.ParseUint(fs[3], 10, 64)
		cpid, err6 := strconv.Atoi(fs[4])
		nattch, err4 := strconv.Atoi(fs[6])
		uid, err5 := strconv.Atoi(fs[7])
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil || err5 != nil || err6 != nil {
			return nil, fmt.Errorf("shmtest: bad line in /proc/sysvipc/shm: %q", sc.Text())
		}
		out = append(out, Segment{Key: int32(key), ID: id, Size: size, Nattch: nattch, UID: uid, CPID: cpid})
	}
	return out, sc.Err()
}

// NoLeaks records the segments that exist now and registers a cleanup that
// fails the test if a segment this test made is still there at the end.
// "This test made" means: created by this process or by a child started with
// Child, or under a key that Key handed out since NoLeaks was called. Other
// segments are not this test's business: go test runs the test binaries of
// several packages at once, and they share the machine's IPC namespace.
// Leaked segments are removed (IPC_RMID) so one failing test does not poison
// the next. Call it first in a test, before creating segments, so that it
// runs after every other cleanup. Where this platform has no System V
// shared memory it skips the test (RequireSysV): every test that calls it
// makes segments.
func NoLeaks(t testing.TB) {
	t.Helper()
	RequireSysV(t)
	before, err := Segments()
	if err != nil {
		t.Fatalf("shmtest: %v", err)
	}
	known := make(map[int]bool, len(before))
	for _, s := range before {
		known[s.ID] = true
	}
	mu.Lock()
	keysFrom := len(issuedKeys)
	mu.Unlock()
	t.Cleanup(func() {
		var leaked []Segment
		// A child that was just killed may still be detaching: give the
		// kernel a moment before calling it a leak.
		for deadline := time.Now().Add(2 * time.Second); ; {
			after, err := Segments()
			if err != nil {
				t.Errorf("shmtest: %v", err)
				return
			}
			leaked = leaked[:0]
			for _, s := range after {
				if !known[s.ID] && ours(s, keysFrom) {
					leaked = append(leaked, s)
				}
			}
			if len(leaked) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		for _, s := range leaked {
			t.Errorf("shmtest: test left a SysV segment behind: key %#x id %d size %d nattch %d creator pid %d",
				uint32(s.Key), s.ID, s.Size, s.Nattch, s.CPID)
			_ = shmseg.Remove(shmseg.ID(s.ID))
		}
	})
}

// RequireSysV skips the test where shmseg has no System V shared memory to
// offer (every platform but linux/amd64 and linux/arm64: its calls fail
// with errors.ErrUnsupported), so that go test on macOS runs what works
// there, rings in ordinary memory, and skips the rest.
func RequireSysV(t testing.TB) {
	t.Helper()
	if _, err := shmseg.List(); errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("needs System V shared memory: %v", err)
	}
}

var (
	mu         sync.Mutex
	issuedKeys []int32   // by Key, in order
	childPIDs  = []int{} // started by Child
	selfPID    = os.Getpid()
)

// ours reports whether s was made by this process, one of its Child
// processes, or under a key Key issued after index keysFrom.
func ours(s Segment, keysFrom int) bool {
	mu.Lock()
	defer mu.Unlock()
	if s.CPID == selfPID || slices.Contains(childPIDs, s.CPID) {
		return true
	}
	return s.Key != 0 && slices.Contains(issuedKeys[keysFrom:], s.Key)
}

// Key returns a random key in the tests' range that no segment uses now.
func Key(t testing.TB) int32 {
	t.Helper()
	segs, err := Segments()
	if err != nil {
		t.Fatalf("shmtest: %v", err)
	}
	for {
		var b [2]byte
		if _, err := rand.Read(b[:]); err != nil {
			t.Fatalf("shmtest: %v", err)
		}
		k := int32(KeyBase | uint32(binary.LittleEndian.Uint16(b[:])))
		used := false
		for _, s := range segs {
			used = used || s.Key == k
		}
		if !used {
			mu.Lock()
			issuedKeys = append(issuedKeys, k)
			mu.Unlock()
			return k
		}
	}
}

// childEnv names the environment variable that tells a re-executed test
// binary which child role to play.
const childEnv = "SHMTEST_CHILD"

// Role returns the child role this process was started with by Child, or ""
// in the parent. A test package's TestMain (or the test itself) dispatches on
// it.
func Role() string { return os.Getenv(childEnv) }

// Child returns a command that re-executes the running test binary as a
// child playing role, with args passed in SHMTEST_ARGS (space separated).
// The command is killed when ctx ends and when the test ends, so no child
// outlives its test.
func Child(t testing.TB, ctx context.Context, role string, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("shmtest: %v", err)
	}
	cmd := exec.CommandContext(ctx, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+role, "SHMTEST_ARGS="+strings.Join(args, " "))
	// A race-built child otherwise sleeps a second at exit.
	cmd.Env = append(cmd.Env, "GORACE=atexit_sleep_ms=0")
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = 5 * time.Second
	t.Cleanup(func() {
		if cmd.Process != nil && cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

// Track makes NoLeaks count the segments that process pid creates as the
// test's. Segments under keys from Key, and those this process creates, are
// counted already; call Track after starting a child that creates segments
// under other keys (IPC_PRIVATE, ftok).
func Track(pid int) {
	mu.Lock()
	childPIDs = append(childPIDs, pid)
	mu.Unlock()
}

// Args returns the arguments a child was started with.
func Args() []string { return strings.Fields(os.Getenv("SHMTEST_ARGS")) }

// mainThreadExitsC is a process whose main thread exits (pthread_exit)
// while another thread goes on: /proc/PID/stat then says Z, for the main
// thread, though the process runs.
const mainThreadExitsC = `#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
static void *worker(void *a) { (void)a; puts("ready"); fflush(stdout); for (;;) pause(); return 0; }
int main(void) { pthread_t t; pthread_create(&t, 0, worker, 0); pthread_exit(0); }
`

// StartMainThreadExited builds, with the C compiler cc (program and
// arguments), a program whose main thread exits while another thread runs,
// starts it, and returns once /proc says its main thread has exited (state
// Z). The test kills it whenever it likes; it is killed and reaped when the
// test ends.
func StartMainThreadExited(t testing.TB, cc []string) *exec.Cmd {
	t.Helper()
	dir := t.TempDir()
	src, bin := dir+"/main_exits.c", dir+"/main_exits"
	if err := os.WriteFile(src, []byte(mainThreadExitsC), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append(append(slices.Clone(cc[1:]), "-pthread", "-o", bin), src)
	if out, err := exec.Command(cc[0], args...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cc[0], err, out)
	}
	cmd := exec.Command(bin)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("%s: read %q, %v; want \"ready\"", bin, line, err)
	}
	stat := fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid)
	for deadline := time.Now().Add(10 * time.Second); ; {
		b, err := os.ReadFile(stat)
		if i := strings.LastIndexByte(string(b), ')'); err == nil && i >= 0 && strings.HasPrefix(string(b[i+1:]), " Z") {
			return cmd
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the main thread of pid %d did not exit: %q, %v", bin, cmd.Process.Pid, b, err)
		}
		time.Sleep(time.Millisecond)
	}
}

// GoCommand returns the go command, for tests that build programs: the one
// on PATH, else the one of the toolchain that built the test.
func GoCommand(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("shmtest: no go command on PATH, nor in GOROOT: %v", err)
	}
	return p
}
