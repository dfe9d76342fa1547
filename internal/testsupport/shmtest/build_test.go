package shmtest_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
)

// TestBuild: a build runs once per test binary, whoever asks, in a
// directory of its own that others may read; another name gets another
// build and another directory.
func TestBuild(t *testing.T) {
	var runs int
	build := func(dir string) error {
		runs++
		return os.WriteFile(filepath.Join(dir, "out"), []byte("built"), 0o644)
	}
	first := shmtest.Build(t, "test-build", build)
	again := shmtest.Build(t, "test-build", build)
	other := shmtest.Build(t, "test-build-other", build)
	require.Equal(t, 2, runs)
	require.Equal(t, first, again)
	require.NotEqual(t, first, other)
	b, err := os.ReadFile(filepath.Join(first, "out"))
	require.NoError(t, err)
	require.Equal(t, "built", string(b))
	for _, dir := range []string{first, filepath.Dir(first)} {
		fi, err := os.Stat(dir)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o755), fi.Mode().Perm(), "%s: children running as another user read it", dir)
	}
}

// TestRepoRoot: the module's root, from this package's directory.
func TestRepoRoot(t *testing.T) {
	root := shmtest.RepoRoot(t)
	wd, err := os.Getwd()
	require.NoError(t, err)
	rel, err := filepath.Rel(root, wd)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(filepath.ToSlash(rel), "internal/"), "this package, %s, is under the root's internal/", rel)
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	require.Contains(t, string(mod), "module github.com/shmring/shmring\n")
}
