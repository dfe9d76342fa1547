package ring_test

import (
	"context"
	"debug/macho"
	"debug/pe"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
)

// TestOtherPlatforms: a program that uses rings in ordinary memory
// (testdata/newring: New, NewIn and Attach, both sides waiting) builds for
// macOS, where many write the code they deploy on Linux, and in the long
// form for Windows and Intel macOS too; the file written is a program for
// that platform (Mach-O or PE, of its CPU), so a build that ignored GOOS
// would not pass. The same program runs here, on this platform's futex and
// on the portable stand-in that macOS and Windows use (the tag
// shmring_portable_futex), and prints what it received. The first build
// for a platform compiles its standard library; the go command caches it.
func TestOtherPlatforms(t *testing.T) {
	gocmd := shmtest.GoTool(t)
	platforms := []struct {
		goos, goarch string
		check        func(t *testing.T, path string)
	}{
		{"darwin", "arm64", machO(macho.CpuArm64)},
		{"darwin", "amd64", machO(macho.CpuAmd64)},
		{"windows", "amd64", peFile(pe.IMAGE_FILE_MACHINE_AMD64)},
	}
	if testing.Short() {
		platforms = platforms[:1]
	}
	for _, pl := range platforms {
		t.Run("build/"+pl.goos+"/"+pl.goarch, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "newring")
			goCmd(t, []string{"GOOS=" + pl.goos, "GOARCH=" + pl.goarch, "CGO_ENABLED=0"},
				gocmd, "build", "-o", out, "./testdata/newring")
			pl.check(t, out)
		})
	}
	const want = "New: one two three four five\nNewIn and Attach: one two three four five\n"
	for _, tags := range []string{"", "shmring_portable_futex"} {
		t.Run("run/tags="+tags, func(t *testing.T) {
			require.Equal(t, want, goCmd(t, nil, gocmd, "run", "-tags="+tags, "./testdata/newring"))
		})
	}
}

// machO checks that a file is a Mach-O program for cpu.
func machO(cpu macho.Cpu) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		f, err := macho.Open(path)
		require.NoError(t, err, "not a Mach-O file")
		defer f.Close()
		require.Equal(t, macho.TypeExec, f.Type)
		require.Equal(t, cpu, f.Cpu)
	}
}

// peFile checks that a file is a PE program for machine.
func peFile(machine uint16) func(*testing.T, string) {
	return func(t *testing.T, path string) {
		f, err := pe.Open(path)
		require.NoError(t, err, "not a PE file")
		defer f.Close()
		require.Equal(t, machine, f.Machine)
	}
}

// goCmd runs the go command in this package's directory, with env added
// to this process's environment, and returns its standard output; the
// test fails if it fails. It is offline: the module's dependencies are in
// the module cache already, as this test's build needed them.
func goCmd(t *testing.T, env []string, gocmd string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gocmd, args...)
	cmd.Env = append(append(os.Environ(), "GOPROXY=off", "GOWORK=off"), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "%s go %s:\n%s", strings.Join(env, " "), strings.Join(args, " "), stderr.String())
	return string(out)
}
