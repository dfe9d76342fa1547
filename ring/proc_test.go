package ring

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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
	cmd := exec.Command("sleep", "60")
	require.NoError(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	st, err := readProcStat(cmd.Process.Pid)
	require.NoError(t, err)
	child := makeIdentity(cmd.Process.Pid, st.start)
	require.True(t, child.alive())
	require.NoError(t, cmd.Process.Kill())
	require.Eventually(t, func() bool { return !child.alive() }, 10*time.Second, time.Millisecond)
}
