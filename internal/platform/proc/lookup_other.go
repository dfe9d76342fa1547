//go:build !linux

package proc

// Without /proc there is no start time to read: a process is named by its
// pid alone, which cannot tell a pid reused by another process from the one
// that had it, nor see a stopped process. Both count as running, which errs
// on the safe side, as an unreadable /proc entry does on Linux.

// Start returns 0: there is no start time to read on this platform.
func Start(pid int) (uint64, error) { return 0, nil }

// Lookup judges the process by its pid alone (ByPid); start is not checked.
func Lookup(pid int, start uint64) Status { return ByPid(pid) }

// Alive reports whether process pid may exist (ByPid).
func Alive(pid int) bool { return ByPid(pid) != Dead }
