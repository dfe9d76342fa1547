package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// Readers of /proc for the resident-memory and idle-CPU figures.

// rssKiB returns VmRSS of process pid in KiB: its resident memory,
// including the pages of shared segments it has touched.
func rssKiB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range bytes.Split(b, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(l, []byte("VmRSS:")); ok {
			f := bytes.Fields(rest)
			if len(f) != 2 || string(f[1]) != "kB" {
				return 0, fmt.Errorf("/proc/%d/status: bad line %q", pid, l)
			}
			return strconv.ParseInt(string(f[0]), 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// clockTick is USER_HZ, the unit of utime and stime: 100 on every Linux
// that shmring runs on.
const clockTick = 100

// cpuTicks returns utime+stime of process pid (all its threads) in clock
// ticks, from /proc/PID/stat fields 14 and 15.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces: count from the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the name", pid, len(f))
	}
	// f[0] is field 3, so fields 14 and 15 are f[11] and f[12].
	u, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	s, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime %q or stime %q", pid, f[11], f[12])
	}
	return u + s, nil
}

// onCPUNanos returns the time all threads of process pid have spent on a
// CPU, in ns, from /proc/PID/task/*/schedstat (first field). It is exact
// where utime+stime counts whole ticks, but threads that have exited are
// not in it.
func onCPUNanos(pid int) (int64, error) {
	paths, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(paths) == 0 {
		return 0, fmt.Errorf("/proc/%d/task/*/schedstat: none (%v)", pid, err)
	}
	var sum int64
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // the thread exited
		}
		f := bytes.Fields(b)
		if len(f) < 1 {
			return 0, fmt.Errorf("%s: empty", p)
		}
		n, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %v", p, err)
		}
		sum += n
	}
	return sum, nil
}

// alive reports whether process pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err == nil && statAlive(b)
}

// statAlive reads the state field of a /proc/PID/stat line: anything but
// zombie or dead.
func statAlive(b []byte) bool {
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
}

// procWatch tells whether one process is alive without allocating: it
// reads /proc/PID/stat through a descriptor opened once, which stays tied
// to that process (a reused pid is another process; once it is reaped, the
// read fails). awaitCursor asks inside a measured span, whose heap
// allocations are charged to the ring: with alive's os.ReadFile, a
// consumer that paused showed up as 0.0014 allocations per 1000 messages.
type procWatch struct {
	fd  int
	buf [1024]byte
}

func watchProc(h testing.TB, pid int) *procWatch {
	h.Helper()
	fd, err := unix.Open(fmt.Sprintf("/proc/%d/stat", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		h.Fatalf("watch pid %d: %v", pid, err)
	}
	h.Cleanup(func() { _ = unix.Close(fd) })
	return &procWatch{fd: fd}
}

func (w *procWatch) alive() bool {
	n, err := unix.Pread(w.fd, w.buf[:], 0)
	return err == nil && statAlive(w.buf[:n])
}
