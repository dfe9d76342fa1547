//go:build linux

package shmtest

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/platform/proc"
)

// TestOursPidReused: a segment made by a process that now holds a tracked
// child's pid, but started at another time, is not the test's. A fault run
// starts thousands of children, and pids wrap at 32768 on a default
// system: a test binary running beside it (go test runs several) may get
// the pid of a child killed earlier, and its segments were counted as
// leaks of the fault test's.
func TestOursPidReused(t *testing.T) {
	pid := os.Getppid() // alive, and not this process
	start, err := proc.Start(pid)
	require.NoError(t, err)
	seg := Segment{Key: 0, CPID: pid}
	mu.Lock()
	saved, had := children[pid]
	mu.Unlock()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		if had {
			children[pid] = saved
		} else {
			delete(children, pid)
		}
	}()

	require.False(t, ours(seg, 0), "a process never tracked")
	set := func(s uint64) {
		mu.Lock()
		children[pid] = s
		mu.Unlock()
	}
	set(start)
	require.True(t, ours(seg, 0), "the tracked child itself")
	set(start + 1)
	require.False(t, ours(seg, 0), "another process under a tracked child's pid")
	set(0)
	require.True(t, ours(seg, 0), "a child tracked with no start time")
}
