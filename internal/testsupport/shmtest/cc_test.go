package shmtest_test

import (
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
)

// TestFindCompiler: $CC wins, with its arguments, when its command is
// found; else the first name found; else an error that says what was
// tried.
func TestFindCompiler(t *testing.T) {
	sh, err := exec.LookPath("sh")
	require.NoError(t, err)

	t.Setenv("CC", "sh -x -e")
	cc, err := shmtest.FindCompiler("CC", "no-such-compiler-1")
	require.NoError(t, err)
	require.Equal(t, []string{sh, "-x", "-e"}, cc)

	t.Setenv("CC", "no-such-compiler-0 -O2")
	cc, err = shmtest.FindCompiler("CC", "no-such-compiler-1", "sh")
	require.NoError(t, err)
	require.Equal(t, []string{sh}, cc)

	_, err = shmtest.FindCompiler("CC", "no-such-compiler-1", "no-such-compiler-2")
	require.ErrorContains(t, err, "tried $CC=no-such-compiler-0 -O2, no-such-compiler-1, no-such-compiler-2")

	t.Setenv("CC", "")
	_, err = shmtest.FindCompiler("CC", "no-such-compiler-1")
	require.ErrorContains(t, err, "tried no-such-compiler-1)")
}
