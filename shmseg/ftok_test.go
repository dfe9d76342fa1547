//go:build linux && (amd64 || arm64)

package shmseg_test

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/shmseg"
)

// ftokC prints ftok(path, proj_id) for each pair of arguments, one a line.
const ftokC = `#include <stdio.h>
#include <stdlib.h>
#include <sys/ipc.h>

int main(int argc, char **argv) {
	for (int i = 1; i + 1 < argc; i += 2) {
		key_t k = ftok(argv[i], (int)strtol(argv[i + 1], NULL, 0));
		if (k == (key_t)-1) {
			perror(argv[i]);
			return 1;
		}
		printf("%d\n", (int)k);
	}
	return 0;
}
`

// Ftok must give the C library's keys, or Go and C programs would not find
// each other's segments.
func TestFtokMatchesC(t *testing.T) {
	prog := shmtest.CompileSource(t, shmtest.CC(t), "ftok.c", ftokC)
	dir := t.TempDir()

	var paths []string
	for i := range 3 {
		p := filepath.Join(dir, fmt.Sprintf("file%d", i))
		require.NoError(t, os.WriteFile(p, nil, 0o644))
		paths = append(paths, p)
	}
	exe, err := os.Executable()
	require.NoError(t, err)
	paths = append(paths, dir, "/", "/dev/null", exe) // several devices
	projIDs := []int{1, 'A', 0x7f, 0x80, 0xff, 0x1ff, 0x12345, -1}

	var args []string
	for _, p := range paths {
		for _, id := range projIDs {
			args = append(args, p, strconv.Itoa(id))
		}
	}
	out, err := exec.Command(prog, args...).Output()
	require.NoError(t, err)
	lines := strings.Fields(string(out))
	require.Len(t, lines, len(args)/2)

	for i, line := range lines {
		path := args[2*i]
		id, err := strconv.Atoi(args[2*i+1])
		require.NoError(t, err)
		want, err := strconv.ParseInt(line, 10, 32)
		require.NoError(t, err)
		got, err := shmseg.Ftok(path, id)
		require.NoError(t, err)
		require.Equal(t, shmseg.Key(want), got, "ftok(%q, %#x)", path, id)
	}
}

func TestFtokErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	_, err := shmseg.Ftok(missing, 1)
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.ErrorContains(t, err, missing)

	for _, id := range []int{0, 0x100, -0x100} {
		_, err := shmseg.Ftok("/", id)
		require.ErrorIs(t, err, shmseg.ErrInvalid, "project id %#x", id)
		require.ErrorContains(t, err, fmt.Sprintf("project id %#x", id))
		require.ErrorContains(t, err, "low 8 bits must be nonzero")
	}
}
