package ring

import "sync"

// identity names a process for the life of the system: its pid in the low 22
// bits (Linux's PID_MAX_LIMIT on 64-bit is 2^22) and its start time in clock
// ticks since boot above (42 bits: 1,394 years at 100 Hz). A pid reused by a
// later process has a later start time, so the pair never names two
// processes. Zero names nobody. It fits one word so a role is claimed with
// one compare-and-swap. Off Linux, with no /proc to read it from, the start
// time is 0 and the identity is the pid alone (see pidStatus).
type identity uint64

const pidBits = 22

func makeIdentity(pid int, start uint64) identity {
	return identity(start<<pidBits | uint64(pid)&(1<<pidBits-1))
}

func (id identity) pid() int      { return int(id & (1<<pidBits - 1)) }
func (id identity) start() uint64 { return uint64(id >> pidBits) }

// self is this process's identity, found once.
var self = sync.OnceValues(selfIdentity)

// procStatus is what can be said of an identity: from /proc on Linux,
// from the pid alone elsewhere (pidStatus).
type procStatus int

const (
	procDead    procStatus = iota // gone, a zombie (every thread exited), or the pid now names another process
	procRunning                   // running or sleeping
	procStopped                   // stopped by a signal (T) or a tracer (t)
)

// alive reports whether the process id names still exists (a stopped
// process exists; a zombie does not).
func (id identity) alive() bool { return id.status() != procDead }

// pidStatus judges id by its pid alone, as a platform without /proc must:
// dead if the pid is free (pidGone), running otherwise. It cannot tell a
// pid reused by another process from the one that held the role, nor see
// a stopped process: both count as running, which errs on the safe side
// (ErrRoleTaken, a wait that goes on) as unreadable does on Linux.
func pidStatus(id identity) procStatus {
	if id == 0 || pidGone(id.pid()) {
		return procDead
	}
	return procRunning
}
