//go:build unix

package ring

import "syscall"

// pidGone reports whether no process has pid: kill(pid, 0) fails with
// ESRCH. Any other answer (success, EPERM for another user's process)
// means the pid is taken.
func pidGone(pid int) bool { return syscall.Kill(pid, 0) == syscall.ESRCH }
