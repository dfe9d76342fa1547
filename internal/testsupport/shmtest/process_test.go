package shmtest_test

import (
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
)

// TestStart: a started process's output is kept apart, its exit status
// comes back, and one still running at the end of its test is killed.
func TestStart(t *testing.T) {
	p := shmtest.Start(t, exec.Command("sh", "-c", "echo out; echo err >&2; exit 3"))
	require.Equal(t, 3, p.Wait(t, time.Minute))
	require.Equal(t, 3, p.ExitCode())
	require.Equal(t, "out\n", p.Stdout.String())
	require.Equal(t, "err\n", p.Stderr.String())
	require.Contains(t, p.String(), "sh (pid ")
	require.Contains(t, p.String(), "exit 3")

	var sleeper *shmtest.Proc
	t.Run("sleeper", func(t *testing.T) {
		sleeper = shmtest.Start(t, exec.Command("sleep", "3600"))
	})
	select {
	case <-sleeper.Done():
	case <-time.After(time.Minute):
		t.Fatal("a process still running when its test ended was not killed")
	}
	require.Equal(t, -1, sleeper.ExitCode(), "killed by a signal")
}
