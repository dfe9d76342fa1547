package ring

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/shmtest"
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
	st, err := readProcStat(cmd.Process.Pid)
	require.NoError(t, err)
	require.True(t, child.alive())

	// The pid of a live process that is not the recorded owner (the
	// owner's pid reused by it): another start time. Dead, and a side
	// waiting on it is told so (RELIABILITY item 12; reliability.TestPidReuse
	// does it across processes, with a real reused pid too).
	for _, start := range []uint64{st.start + 1, st.start - 1} {
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
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skipf("no C compiler (cc) in PATH to build the test program: %v", err)
	}
	cmd := shmtest.StartMainThreadExited(t, []string{cc})
	pid := cmd.Process.Pid
	st, err := readProcStat(pid)
	require.NoError(t, err)
	id := makeIdentity(pid, st.start)
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

	// With the soft limit at 3 descriptors, every open fails: 0, 1 and
	// 2 are taken, and more besides. No other test runs meanwhile.
	var old syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old))
	low := old
	low.Cur = 3
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low))
	_, openErr := readProcStat(child.pid())
	childStatus, goneStatus := child.status(), gone.status()
	_, threadsKnown := otherThread(os.Getpid()) // the look a Z main thread takes
	require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old))

	require.ErrorIs(t, openErr, syscall.EMFILE, "the test needs /proc to be unreadable")
	require.Equal(t, procRunning, childStatus, "a live process whose /proc entry could not be read")
	require.Equal(t, procDead, goneStatus, "a free pid")
	require.False(t, threadsKnown, "otherThread cannot read /proc/PID/task: it must say it does not know")
	_, threadsKnown = otherThread(os.Getpid())
	require.True(t, threadsKnown)
}

// sleepingChild starts a child that sleeps, killed and reaped when the test
// ends, and returns it with its identity.
func sleepingChild(t *testing.T) (*exec.Cmd, identity) {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	st, err := readProcStat(cmd.Process.Pid)
	require.NoError(t, err)
	return cmd, makeIdentity(cmd.Process.Pid, st.start)
}
