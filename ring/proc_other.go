//go:build !linux

package ring

import "os"

// selfIdentity is this process's pid, with start time 0: there is no /proc
// to read a start time from.
func selfIdentity() (identity, error) { return makeIdentity(os.Getpid(), 0), nil }

// status judges id by its pid alone (pidStatus).
func (id identity) status() procStatus { return pidStatus(id) }

// pidAlive reports whether process pid may exist: dead only if the pid is
// free. Pid 0, a process this one cannot name, counts as alive.
func pidAlive(pid int) bool { return pid <= 0 || !pidGone(pid) }
