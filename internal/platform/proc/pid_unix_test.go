//go:build unix

package proc_test

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/platform/proc"
)

// TestByPid: what a platform without /proc says of a process, from its pid
// alone: running while the pid is taken, dead once it is free.
func TestByPid(t *testing.T) {
	require.Equal(t, proc.Running, proc.ByPid(os.Getpid()), "this process")
	require.Equal(t, proc.Running, proc.ByPid(0), "pid 0 names no process of this namespace")
	path, err := exec.LookPath("true")
	if err != nil {
		t.Skipf("no true(1) to make a pid that is free: %v", err)
	}
	cmd := exec.Command(path)
	require.NoError(t, cmd.Run()) // exited and reaped: its pid is free
	require.Equal(t, proc.Dead, proc.ByPid(cmd.Process.Pid), "pid %d of an exited, reaped child", cmd.Process.Pid)
}
