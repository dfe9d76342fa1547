// Package shmtest holds what the tests of shmring's packages share, so
// that each helper is written once: a leak check of SysV segments against a
// baseline, unique test keys, ftok paths and plain segments (this file); the test binary run again as a
// child playing a role, and the TestMain that dispatches the roles
// (child.go); programs built once per test binary, and the module's root
// (build.go); the C compiler to build test programs with (cc.go); and
// processes that do not outlive their test: a sleeper, and a C process
// whose main thread has exited, for the liveness checks of Go and C
// (process.go).
//
// It is internal and only imported from _test.go files. It imports shmseg
// but not ring: ring's own tests (package ring) use it.
package shmtest

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shmring/shmring/internal/platform/proc"
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

var (
	mu         sync.Mutex
	issuedKeys []int32 // by Key, in order
	// children maps the pids of processes started by Child, or tracked,
	// to their start times (0 if unknown), which tell them from a later
	// process given the same pid: pids are reused, within a long fault run
	// and across the test binaries go test runs at once.
	children = map[int]uint64{}
	selfPID  = os.Getpid()
)

// ours reports whether s was made by this process, one of its Child
// processes, or under a key Key issued after index keysFrom.
func ours(s Segment, keysFrom int) bool {
	mu.Lock()
	defer mu.Unlock()
	if s.CPID == selfPID {
		return true
	}
	if start, ok := children[s.CPID]; ok {
		now, err := proc.Start(s.CPID)
		// Alive under another start time: a process that took the
		// pid since. (One that took it and died is counted ours.)
		return err != nil || start == 0 || now == start
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

// PlainSegment creates a segment of size bytes, not a ring, at a fresh key (Key),
// fills it with fill through an attachment it then detaches, and returns
// the key: what another program leaves in a segment. It is removed when the
// test ends.
func PlainSegment(t testing.TB, size int, fill func(b []byte)) shmseg.Key {
	t.Helper()
	key := shmseg.Key(Key(t))
	id, err := shmseg.Create(key, size, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = shmseg.Remove(id) })
	seg, err := shmseg.Attach(id, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := seg.Bytes()
	if err == nil {
		fill(b)
	}
	if err := errors.Join(err, seg.Detach()); err != nil {
		t.Fatal(err)
	}
	return key
}

// FtokPath returns a new file of the test's to name a ring by, and the key
// ftok(3) gives it with projID. A file's key is not unique: if a segment
// has it already, the test skips.
func FtokPath(t testing.TB, projID int) (string, shmseg.Key) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ring")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := shmseg.Ftok(path, projID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := shmseg.Open(key); err == nil {
		t.Skipf("key %v of a fresh temporary file is in use by another segment", key)
	}
	return path, key
}

// Track makes NoLeaks count the segments that process pid creates as the
// test's. Segments under keys from Key, and those this process creates, are
// counted already; call Track after starting a child that creates segments
// under other keys (IPC_PRIVATE, ftok).
func Track(pid int) {
	start, _ := proc.Start(pid) // 0 if it is gone already
	mu.Lock()
	children[pid] = start
	mu.Unlock()
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
