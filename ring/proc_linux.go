package ring

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"syscall"
)

// selfIdentity is this process's pid and start time, from /proc/self/stat.
func selfIdentity() (identity, error) {
	pid := os.Getpid()
	st, err := readProcStat(pid)
	if err != nil {
		return 0, err
	}
	return makeIdentity(pid, st.start), nil
}

type procStat struct {
	state byte   // R, S, D, T, t, Z, X, ...
	start uint64 // clock ticks since boot
}

// readProcStat reads /proc/PID/stat. The command name (field 2) may hold
// spaces and parentheses, so fields are counted from the last ')'.
func readProcStat(pid int) (procStat, error) {
	return readStat("/proc/"+strconv.Itoa(pid)+"/stat", pid)
}

// readStat parses a stat file of /proc: a process's, or a thread's
// (/proc/PID/task/TID/stat, same format).
func readStat(path string, pid int) (procStat, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return procStat{}, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("ring: /proc/%d/stat: no ')' in %q", pid, b)
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state), so field 22 (starttime) is f[19].
	if len(f) < 20 || len(f[0]) != 1 {
		return procStat{}, fmt.Errorf("ring: /proc/%d/stat: %d fields after the name", pid, len(f))
	}
	start, err := strconv.ParseUint(string(f[19]), 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("ring: /proc/%d/stat: start time: %w", pid, err)
	}
	return procStat{state: f[0][0], start: start}, nil
}

// status looks the process up. A pid now held by another process is dead:
// its start time differs. When /proc cannot be read, see unreadable.
func (id identity) status() procStatus {
	if id == 0 {
		return procDead
	}
	st, err := readProcStat(id.pid())
	if err != nil {
		return unreadable(id.pid())
	}
	if st.start != id.start() {
		return procDead
	}
	state := st.state
	if state == 'Z' {
		// The process's own line shows its main thread: Z once that
		// has exited, even while other threads run (pthread_exit in
		// main). It is dead only if they have all exited too.
		var known bool
		if state, known = otherThread(id.pid()); !known {
			return unreadable(id.pid())
		}
	}
	switch state {
	case 0, 'Z', 'X', 'x':
		return procDead
	case 'T', 't':
		return procStopped
	}
	return procRunning
}

// unreadable judges a process whose /proc entry could not be read. It is
// dead only if the kernel says the pid is free (kill(pid, 0) fails with
// ESRCH): that is the common case, a process gone. Any other failure says
// nothing of the process: no descriptor left (EMFILE), no memory, or /proc
// mounted with hidepid, which hides other users' processes. Judging it dead
// would let a claimer take the role of a live holder and a waiting side
// report ErrPeerDead of a live peer, so the pid counts as running. Its
// start time cannot be checked then: a pid reused by another process is
// not told apart until /proc can be read again, which errs on the safe
// side (ErrRoleTaken, a wait that goes on).
func unreadable(pid int) procStatus {
	if pidGone(pid) {
		return procDead
	}
	return procRunning
}

// otherThread returns the state of a thread of process pid, other than its
// main thread, that has not exited; 0 if there is none. known is false when
// /proc could not say (a read failed other than because the process or
// thread is gone): the caller judges as for an unreadable entry.
func otherThread(pid int) (state byte, known bool) {
	main := strconv.Itoa(pid)
	dir := "/proc/" + main + "/task/"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, gone(err)
	}
	known = true
	for _, e := range ents {
		if e.Name() == main {
			continue
		}
		st, err := readStat(dir+e.Name()+"/stat", pid)
		switch {
		case err != nil:
			known = known && gone(err)
		case st.state != 'Z' && st.state != 'X' && st.state != 'x':
			return st.state, true
		}
	}
	return 0, known
}

// gone reports whether a failed read of /proc failed because the process or
// thread no longer exists.
func gone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH)
}

// pidAlive reports whether process pid may exist: it is dead only if /proc
// or the kernel says so (gone, or a zombie whose threads have all exited).
// Pid 0, a process outside this PID namespace, counts as alive: nothing can
// be said of it.
func pidAlive(pid int) bool {
	if pid <= 0 {
		return true
	}
	st, err := readProcStat(pid)
	if err != nil {
		return unreadable(pid) != procDead
	}
	return makeIdentity(pid, st.start).alive()
}
