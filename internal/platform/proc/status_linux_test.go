package proc_test

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/platform/proc"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
)

// TestLookup: a process is its pid and its start time. The same pid with
// another start time (a reused pid) is dead, and so is a free pid; a
// stopped process is stopped until continued, and a killed one is dead
// before it is reaped (a zombie).
func TestLookup(t *testing.T) {
	me, err := proc.ReadStat(os.Getpid())
	require.NoError(t, err)
	require.Equal(t, proc.Running, proc.Lookup(os.Getpid(), me.Start))
	require.Equal(t, proc.Dead, proc.Lookup(freePid, 1))
	require.False(t, proc.Alive(freePid))
	require.Equal(t, proc.Running, proc.Lookup(0, 1), "pid 0 (another PID namespace): nothing can be said")
	require.True(t, proc.Alive(0))

	child := shmtest.Sleeper(t)
	pid := child.Process.Pid
	st, err := proc.ReadStat(pid)
	require.NoError(t, err)
	require.Equal(t, proc.Running, proc.Lookup(pid, st.Start))
	require.True(t, proc.Alive(pid))
	for _, start := range []uint64{st.Start + 1, st.Start - 1} {
		require.Equal(t, proc.Dead, proc.Lookup(pid, start), "live pid %d with start time %d, not its own %d", pid, start, st.Start)
	}
	require.True(t, proc.Alive(pid), "Alive takes any start time")

	require.NoError(t, child.Process.Signal(syscall.SIGSTOP))
	becomes(t, pid, st.Start, proc.Stopped)
	require.True(t, proc.Alive(pid), "a stopped process exists")
	require.NoError(t, child.Process.Signal(syscall.SIGCONT))
	becomes(t, pid, st.Start, proc.Running)

	killed(t, child) // not reaped until the test ends: a zombie
}

// becomes waits until Lookup says want of the process, and fails the test
// if it does not within a generous bound (a signal is acted on
// asynchronously).
func becomes(t *testing.T, pid int, start uint64, want proc.Status) {
	t.Helper()
	require.Eventually(t, func() bool { return proc.Lookup(pid, start) == want }, 10*time.Second, time.Millisecond,
		"pid %d never %v", pid, want)
}

// killed kills cmd's process, which the test has not reaped, and checks
// that it is dead, for Lookup and Alive alike.
func killed(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	pid := cmd.Process.Pid
	st, err := proc.ReadStat(pid)
	require.NoError(t, err)
	require.NoError(t, cmd.Process.Kill())
	becomes(t, pid, st.Start, proc.Dead)
	require.False(t, proc.Alive(pid))
}

// TestLookupMainThreadExited: a process whose main thread has exited while
// another thread runs is running, though its own stat line says Z; once
// the last thread is gone it is dead.
func TestLookupMainThreadExited(t *testing.T) {
	cmd := shmtest.StartMainThreadExited(t)
	pid := cmd.Process.Pid
	st, err := proc.ReadStat(pid)
	require.NoError(t, err)
	require.Equal(t, byte('Z'), st.State)
	threads, err := proc.Threads(pid)
	require.NoError(t, err)
	var live int
	for _, th := range threads {
		if !th.Exited() {
			live++
			require.NotEqual(t, pid, th.TID, "the main thread has exited")
		}
	}
	require.Equal(t, 1, live, "one thread runs: %v", threads)
	require.Equal(t, proc.Running, proc.Lookup(pid, st.Start))
	require.True(t, proc.Alive(pid))
	killed(t, cmd)
}

// TestUnreadable: when /proc cannot be read for want of a descriptor
// (EMFILE), the reads say so, and a live process is not judged dead (a
// claimer would take its role, a waiter report a live peer dead); a free
// pid still is, as the kernel says.
func TestUnreadable(t *testing.T) {
	child := shmtest.Sleeper(t)
	pid := child.Process.Pid
	st, err := proc.ReadStat(pid)
	require.NoError(t, err)

	var readErr, threadsErr error
	var status, freeStatus proc.Status
	var alive bool
	shmtest.WithoutFiles(t, func() {
		_, readErr = proc.ReadStat(pid)
		_, threadsErr = proc.Threads(pid)
		status, freeStatus, alive = proc.Lookup(pid, st.Start), proc.Lookup(freePid, 1), proc.Alive(pid)
	})
	require.ErrorIs(t, readErr, syscall.EMFILE, "the test needs /proc to be unreadable")
	require.ErrorIs(t, threadsErr, syscall.EMFILE, "Threads must say it could not read the threads")
	require.Equal(t, proc.Running, status, "a live process whose /proc entry could not be read")
	require.True(t, alive)
	require.Equal(t, proc.Dead, freeStatus, "a free pid")
}

func TestStatusString(t *testing.T) {
	require.Equal(t, "dead running stopped proc.Status(7)",
		proc.Dead.String()+" "+proc.Running.String()+" "+proc.Stopped.String()+" "+proc.Status(7).String())
}
