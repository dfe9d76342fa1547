package proc

import "syscall"

// Lookup says what became of the process that had pid and started at
// start. A pid now held by another process is dead: its start time
// differs. When /proc cannot be read, see [Alive].
//
// A pid of 0 or below names no process of this PID namespace (a peer in
// another one shows as 0): nothing can be said of it, and it counts as
// running.
func Lookup(pid int, start uint64) Status {
	if pid <= 0 {
		return Running
	}
	st, err := ReadStat(pid)
	if err != nil {
		return unreadable(pid)
	}
	if st.Start != start {
		return Dead
	}
	state := st.State
	if state == 'Z' {
		// The process's own line shows its main thread: Z once that
		// has exited, even while other threads run (pthread_exit in
		// main). It is dead only if they have all exited too.
		var known bool
		if state, known = otherThread(pid); !known {
			return unreadable(pid)
		}
	}
	switch state {
	case 0, 'Z', 'X', 'x':
		return Dead
	case 'T', 't':
		return Stopped
	}
	return Running
}

// Alive reports whether process pid, whatever its start time, may exist: it
// is dead only if /proc or the kernel says so (gone, or a zombie whose
// threads have all exited).
//
// A process whose /proc entry cannot be read is dead only if the kernel
// says the pid is free (kill(pid, 0) fails with ESRCH): that is the common
// case, a process gone. Any other failure says nothing of the process: no
// descriptor left (EMFILE), no memory, or /proc mounted with hidepid, which
// hides other users' processes. Judging it dead would let a claimer take
// the role of a live holder and a waiting side report a live peer dead, so
// the pid counts as running. Its start time cannot be checked then: a pid
// reused by another process is not told apart until /proc can be read
// again, which errs on the safe side. [Lookup] judges the same way.
func Alive(pid int) bool {
	if pid <= 0 {
		return true
	}
	st, err := ReadStat(pid)
	if err != nil {
		return unreadable(pid) != Dead
	}
	return Lookup(pid, st.Start) != Dead
}

// Start returns the start time of process pid (clock ticks since boot),
// which with the pid names it for the life of the system.
func Start(pid int) (uint64, error) {
	st, err := ReadStat(pid)
	return st.Start, err
}

// unreadable judges a process whose /proc entry could not be read (see
// Alive). pid is above 0: kill(0, 0) would ask about this process's group.
func unreadable(pid int) Status {
	if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
		return Dead
	}
	return Running
}

// otherThread returns the state of a thread of process pid, other than its
// main thread, that has not exited; 0 if there is none. known is false when
// /proc could not say: the caller judges as for an unreadable entry.
func otherThread(pid int) (state byte, known bool) {
	threads, err := Threads(pid)
	for _, th := range threads {
		if th.TID != pid && !th.Exited() {
			return th.State, true
		}
	}
	return 0, err == nil
}
