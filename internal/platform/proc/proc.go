// Package proc reads what Linux's /proc says of a process: its state, start
// time and CPU time (/proc/PID/stat), and its threads'
// (/proc/PID/task/TID/stat). It is the one reader of these files in
// shmring's Go code; include/shmring.h has its own, in C.
//
// A pid and a start time together name a process for the life of the
// system: a pid reused by a later process comes with a later start time.
// [Lookup] judges such a pair: running, stopped, or dead.
package proc

import "fmt"

// Status is what /proc says of a process named by its pid and start time.
type Status int

const (
	Dead    Status = iota // gone, a zombie whose threads have all exited, or the pid now names another process
	Running               // running or sleeping
	Stopped               // stopped by a signal (T) or a tracer (t)
)

func (s Status) String() string {
	switch s {
	case Dead:
		return "dead"
	case Running:
		return "running"
	case Stopped:
		return "stopped"
	}
	return fmt.Sprintf("proc.Status(%d)", int(s))
}
