//go:build unix

package proc

import "syscall"

// ByPid judges a process by its pid alone, as a platform without /proc
// must: dead if the pid is free (kill(pid, 0) fails with ESRCH), running
// otherwise, success and EPERM (another user's process) alike. A pid of 0
// or below names no process of this PID namespace: running.
func ByPid(pid int) Status {
	if pid > 0 && syscall.Kill(pid, 0) == syscall.ESRCH {
		return Dead
	}
	return Running
}
