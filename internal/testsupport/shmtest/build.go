package shmtest

import (
	"errors"
	"fmt"
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// modulePath is the module whose root RepoRoot finds.
const modulePath = "github.com/shmring/shmring"

// builds are what Build made in this test binary, in one temporary
// directory that Main removes.
var builds struct {
	mu   sync.Mutex
	main bool   // Main runs the tests: it will remove dir
	dir  string // "" until the first build
	done map[string]*built
}

type built struct {
	dir string
	err error
}

// Build runs build once per test binary, for the tests that ask for name,
// in a directory of its own, and returns that directory. A build that
// failed fails every test that asks for it. The directories are world
// readable, for children that run as another user, and removed when the
// tests end: the package's TestMain must be Main.
func Build(t testing.TB, name string, build func(dir string) error) string {
	t.Helper()
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if !builds.main {
		t.Fatalf("shmtest.Build(%q): the package's TestMain must call shmtest.Main, which removes what was built", name)
	}
	b := builds.done[name]
	if b == nil {
		b = new(built)
		b.dir, b.err = buildDir()
		if b.err == nil {
			b.err = build(b.dir)
		}
		if b.err != nil {
			b.err = fmt.Errorf("shmtest: building %s: %w", name, b.err)
		}
		if builds.done == nil {
			builds.done = map[string]*built{}
		}
		builds.done[name] = b
	}
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.dir
}

// buildDir makes a new directory for one build. Called with builds.mu held.
func buildDir() (string, error) {
	if builds.dir == "" {
		dir, err := os.MkdirTemp("", "shmring-test-")
		if err != nil {
			return "", err
		}
		builds.dir = dir
	}
	dir, err := os.MkdirTemp(builds.dir, "build-")
	if err == nil {
		err = errors.Join(os.Chmod(builds.dir, 0o755), os.Chmod(dir, 0o755))
	}
	return dir, err
}

func removeBuilds() {
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if builds.dir != "" {
		_ = os.RemoveAll(builds.dir)
	}
}

// GoBuild builds the packages that pattern names (an import path, or a
// pattern such as "github.com/shmring/shmring/cmd/...") with the build tags,
// once per test binary, and returns the directory that holds their
// executables, named as go build names them. It is never a race build: the
// race detector cannot see shared memory.
func GoBuild(t testing.TB, pattern string, tags ...string) string {
	t.Helper()
	goTool := GoTool(t)
	root := RepoRoot(t)
	return Build(t, "go build "+pattern+" -tags="+strings.Join(tags, ","), func(dir string) error {
		// -buildvcs=false: no git status (which fails while another
		// process holds the repository's index lock) for binaries that
		// do not need it.
		args := []string{"build", "-buildvcs=false", "-o", dir + string(filepath.Separator)}
		if len(tags) > 0 {
			args = append(args, "-tags", strings.Join(tags, ","))
		}
		cmd := exec.Command(goTool, append(args, pattern)...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go %s: %v\n%s", strings.Join(cmd.Args[1:], " "), err, out)
		}
		return nil
	})
}

// GoTool returns the go command: the one on PATH, else the one of the
// toolchain that built the test.
func GoTool(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(build.Default.GOROOT, "bin", "go")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("shmtest: no go command on PATH, nor in GOROOT: %v", err)
	}
	return p
}

// RepoRoot returns the root of the shmring module's checkout: the first
// directory above the test's working directory (its package's directory
// when go test runs it) whose go.mod is the module's. Main finds it before
// any test can change the working directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// isModuleRoot reports whether dir holds the go.mod of shmring's module,
// not of a module of its own inside it (examples/prometheus, bench/report).
func isModuleRoot(dir string) bool {
	mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(mod), "\n") {
		if strings.TrimSpace(line) == "module "+modulePath {
			return true
		}
	}
	return false
}

var repoRoot = sync.OnceValues(func() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("shmtest: %w", err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if isModuleRoot(dir) {
			return dir, nil
		}
		if dir == filepath.Dir(dir) {
			return "", fmt.Errorf("shmtest: no go.mod of module %s in %s or above", modulePath, wd)
		}
	}
})
