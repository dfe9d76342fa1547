//go:build unix

package ring

import (
	"os"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPidStatus: what a platform without /proc says of a process, from its
// pid alone: running while the pid is taken, whatever the start time
// (which it cannot check), dead once the pid is free.
func TestPidStatus(t *testing.T) {
	for _, start := range []uint64{0, 1, 12345} {
		require.Equal(t, procRunning, pidStatus(makeIdentity(os.Getpid(), start)), "this process, start %d", start)
	}
	require.Equal(t, procDead, pidStatus(0), "the zero identity names nobody")

	path, err := exec.LookPath("true")
	if err != nil {
		t.Skipf("no true(1) to make a pid that is free: %v", err)
	}
	cmd := exec.Command(path)
	require.NoError(t, cmd.Run()) // exited and reaped: its pid is free
	require.Equal(t, procDead, pidStatus(makeIdentity(cmd.Process.Pid, 0)),
		"pid %d of an exited, reaped child", cmd.Process.Pid)
}
