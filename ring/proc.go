package ring

import (
	"os"
	"sync"

	"github.com/shmring/shmring/internal/platform/proc"
)

// identity names a process for the life of the system: its pid in the low 22
// bits (Linux's PID_MAX_LIMIT on 64-bit is 2^22) and its start time in clock
// ticks since boot above (42 bits: 1,394 years at 100 Hz). A pid reused by a
// later process has a later start time, so the pair never names two
// processes. Zero names nobody. It fits one word so a role is claimed with
// one compare-and-swap. What /proc says of it is internal/platform/proc's
// to read; off Linux, with no /proc, the start time is 0 and the identity
// is the pid alone.
type identity uint64

const pidBits = 22

func makeIdentity(pid int, start uint64) identity {
	return identity(start<<pidBits | uint64(pid)&(1<<pidBits-1))
}

func (id identity) pid() int      { return int(id & (1<<pidBits - 1)) }
func (id identity) start() uint64 { return uint64(id >> pidBits) }

var self = sync.OnceValues(func() (identity, error) {
	pid := os.Getpid()
	start, err := proc.Start(pid)
	if err != nil {
		return 0, err
	}
	return makeIdentity(pid, start), nil
})

// procStatus is what /proc says of an identity: dead, running or stopped.
type procStatus = proc.Status

const (
	procDead    = proc.Dead
	procRunning = proc.Running
	procStopped = proc.Stopped
)

// status looks the process up (proc.Lookup): a pid now held by another
// process is dead, and one whose /proc entry cannot be read is dead only if
// the kernel says the pid is free. Zero names nobody: dead.
func (id identity) status() procStatus {
	if id == 0 {
		return procDead
	}
	return proc.Lookup(id.pid(), id.start())
}

// alive reports whether the process id names still exists (a stopped
// process exists; a zombie does not).
func (id identity) alive() bool { return id.status() != procDead }

// pidAlive reports whether process pid may exist, whatever its start time
// (proc.Alive). Pid 0, a process outside this PID namespace, counts as
// alive: nothing can be said of it.
func pidAlive(pid int) bool { return proc.Alive(pid) }
