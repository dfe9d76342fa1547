package ring

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

// TestIdentity: life is a matching pid and start time. A pid now held by
// another process (same pid, other start time) is dead, and so is a zombie.
func TestIdentity(t *testing.T) {
	me, err := self()
	require.NoError(t, err)
	require.Equal(t, os.Getpid(), me.pid())
	require.True(t, me.alive())
	require.False(t, makeIdentity(me.pid(), me.start()+1).alive(), "pid reused by a later process")
	require.False(t, makeIdentity(me.pid(), me.start()-1).alive(), "pid reused by an earlier start")
	require.False(t, identity(0).alive())
	require.False(t, makeIdentity(1<<pidBits-1, 1).alive(), "no such pid")

	// A killed child not yet reaped is a zombie: dead.
	cmd, child := sleepingChild(t)
	require.True(t, child.alive())

	// The pid of a live process that is not the recorded owner (the
	// owner's pid reused by it): another start time. Dead, and a side
	// waiting on it is told so (RELIABILITY item 12; reliability.TestPidReuse
	// does it across processes, with a real reused pid too).
	for _, start := range []uint64{child.start() + 1, child.start() - 1} {
		impostor := makeIdentity(cmd.Process.Pid, start)
		require.False(t, impostor.alive(), "live pid %d with start time %d, not its own", impostor.pid(), start)
		var peer side
		peer.owner.Store(uint64(impostor))
		stopped := false
		require.ErrorIs(t, checkPeer(&peer, &stopped), ErrPeerDead)
	}
	var peer side
	peer.owner.Store(uint64(child))
	stopped := false
	require.NoError(t, checkPeer(&peer, &stopped), "the real owner is alive")
	require.NoError(t, cmd.Process.Kill())
	require.Eventually(t, func() bool { return !child.alive() }, 10*time.Second, time.Millisecond)
}

// TestIdentityMainThreadExited: a process whose main thread has exited
// while another thread runs is alive (its own stat line says Z); once the
// last thread is gone it is dead.
func TestIdentityMainThreadExited(t *testing.T) {
	cmd := shmtest.StartMainThreadExited(t)
	pid := cmd.Process.Pid
	st, err := proc.ReadStat(pid)
	require.NoError(t, err)
	id := makeIdentity(pid, st.Start)
	require.Equal(t, procRunning, id.status(), "main thread exited, worker alive")

	require.NoError(t, cmd.Process.Kill())
	require.Eventually(t, func() bool { return id.status() == procDead }, 10*time.Second, time.Millisecond)
}

// TestIdentityProcUnreadable: a process whose /proc entry cannot be read
// for want of a descriptor (EMFILE) is not dead: a claimer would take its
// role and a waiter report a live peer dead. A free pid is still dead.
func TestIdentityProcUnreadable(t *testing.T) {
	_, child := sleepingChild(t)
	gone := makeIdentity(1<<pidBits-1, 1)

	var openErr error
	var childStatus, goneStatus procStatus
	shmtest.WithoutFiles(t, func() {
		_, openErr = proc.ReadStat(child.pid())
		childStatus, goneStatus = child.status(), gone.status()
	})
	require.ErrorIs(t, openErr, syscall.EMFILE, "the test needs /proc to be unreadable")
	require.Equal(t, procRunning, childStatus, "a live process whose /proc entry could not be read")
	require.Equal(t, procDead, goneStatus, "a free pid")
}

// sleepingChild starts a child that sleeps, killed and reaped when the test
// ends, and returns it with its identity.
func sleepingChild(t *testing.T) (*exec.Cmd, identity) {
	t.Helper()
	cmd := shmtest.Sleeper(t)
	st, err := proc.ReadStat(cmd.Process.Pid)
	require.NoError(t, err)
	return cmd, makeIdentity(cmd.Process.Pid, st.Start)
}
