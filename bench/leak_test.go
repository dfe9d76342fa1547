package bench

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// noLeaks is shmtest.NoLeaks narrowed to the segments this process and its
// peers created (the cpid column of /proc/sysvipc/shm). "go test ./..."
// runs the packages' test binaries in parallel, and the others create and
// remove segments of their own meanwhile: shmtest.NoLeaks, which looks at
// every new segment, reports theirs as this test's leaks and removes them
// under their feet. Call it first, so its cleanup runs last.
func noLeaks(tb testing.TB) {
	tb.Helper()
	before, err := segmentsByCreator()
	if err != nil {
		tb.Fatal(err)
	}
	known := make(map[int]bool, len(before))
	for _, s := range before {
		known[s.id] = true
	}
	tb.Cleanup(func() {
		var leaked []segment
		// A peer just killed may still be detaching.
		for deadline := time.Now().Add(2 * time.Second); ; {
			after, err := segmentsByCreator()
			if err != nil {
				tb.Error(err)
				return
			}
			leaked = leaked[:0]
			for _, s := range after {
				if !known[s.id] && isOurs(s.cpid) {
					leaked = append(leaked, s)
				}
			}
			if len(leaked) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		for _, s := range leaked {
			tb.Errorf("left a SysV segment behind: key %#x id %d size %d, created by pid %d", uint32(s.key), s.id, s.size, s.cpid)
			_, _ = unix.SysvShmCtl(s.id, unix.IPC_RMID, nil)
		}
	})
}

type segment struct {
	key  int32
	id   int
	size uint64
	cpid int
}

// segmentsByCreator reads /proc/sysvipc/shm: key shmid perms size cpid ...
func segmentsByCreator() ([]segment, error) {
	f, err := os.Open("/proc/sysvipc/shm")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []segment
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 5 {
			continue
		}
		key, err1 := strconv.ParseInt(fs[0], 10, 64)
		id, err2 := strconv.Atoi(fs[1])
		size, err3 := strconv.ParseUint(fs[3], 10, 64)
		cpid, err4 := strconv.Atoi(fs[4])
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
			return nil, fmt.Errorf("/proc/sysvipc/shm: bad line %q", sc.Text())
		}
		out = append(out, segment{key: int32(key), id: id, size: size, cpid: cpid})
	}
	return out, sc.Err()
}

// peers are the pids of the processes this one started (re-executed peers
// and the C reference): segments they create count as ours.
var peers sync.Map // int -> struct{}

func addPeer(pid int) { peers.Store(pid, struct{}{}) }

func isOurs(pid int) bool {
	if pid == os.Getpid() {
		return true
	}
	_, ok := peers.Load(pid)
	return ok
}

func TestSegmentsByCreator(t *testing.T) {
	if _, err := segmentsByCreator(); err != nil {
		t.Fatal(err)
	}
	if !isOurs(os.Getpid()) || isOurs(1) {
		t.Error("isOurs: wrong about this process or init")
	}
}
