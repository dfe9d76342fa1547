package doccheck_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/shmseg"
)

// goVersion returns the go directive of the module's go.mod.
func goVersion(t *testing.T) string {
	t.Helper()
	for _, line := range strings.Split(readFile(t, "go.mod"), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "go "); ok {
			return v
		}
	}
	t.Fatal("go.mod has no go directive")
	return ""
}

// TestQuickStart: the README's quick start, copied into a new module that
// requires this one (a replace directive points at this checkout), builds
// and runs: it prints what the README says it prints, exits 0, and leaves
// no segment behind. The build is offline (GOPROXY=off): everything it
// needs is what this module needs, already in the module cache, and the
// root go.sum vouches for it.
func TestQuickStart(t *testing.T) {
	shmtest.NoLeaks(t)
	root := shmtest.RepoRoot(t)
	readme := readFile(t, "README.md")
	program := markedBlock(t, readme, "README.md", "quickstart")
	want := markedBlock(t, readme, "README.md", "quickstart-output")

	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte(program), 0o600))
	gomod := fmt.Sprintf("module quickstart\n\ngo %s\n\nrequire github.com/shmring/shmring v0.0.0\n\nreplace github.com/shmring/shmring => %s\n",
		goVersion(t), root)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.sum"), []byte(readFile(t, "go.sum")), 0o600))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := filepath.Join(dir, "quickstart")
	build := exec.CommandContext(ctx, shmtest.GoTool(t), "build", "-o", bin, ".")
	build.Dir = dir
	// -mod=mod lets go add the requirements the new module inherits
	// (golang.org/x/sys) to its go.mod, as "go mod tidy" would.
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off", "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build of the README's quick start, in %s:\n%s", dir, out)

	// A file of the test's own, to name the ring by, so that the key is
	// known before the program runs and no run of the program elsewhere
	// shares it.
	path, key := shmtest.FtokPath(t, 1)
	var stdout, stderr bytes.Buffer
	run := exec.CommandContext(ctx, bin, path)
	run.Stdout, run.Stderr = &stdout, &stderr
	require.NoError(t, run.Start())
	shmtest.Track(run.Process.Pid) // its segments are this test's
	require.NoError(t, run.Wait(), "the README's quick start: %s", stderr.String())
	require.Equal(t, want, stdout.String(), "the README's quick start prints what the README says")
	require.Empty(t, strings.TrimSpace(stderr.String()))
	_, err = shmseg.Open(key)
	require.ErrorIs(t, err, shmseg.ErrNotExist, "the quick start's ring is gone once it has ended")
}
