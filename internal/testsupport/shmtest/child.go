package shmtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// The environment of a child: which role to play, and its arguments
// (separated by spaces).
const (
	childEnv = "SHMTEST_CHILD"
	argsEnv  = "SHMTEST_ARGS"
)

// Roles are the parts a test binary can play when Child starts it again,
// by name: a role's function gets the arguments Child was given.
type Roles map[string]func(args []string) error

// Play plays role with args; it is the play argument of Main.
func (r Roles) Play(role string, args []string) error {
	f, ok := r[role]
	if !ok {
		return fmt.Errorf("unknown child role %q", role)
	}
	return f(args)
}

// ExitCode is an error a role returns to end its process with that exit
// status and nothing printed: a role that is a whole program (with its own
// usage errors, say) keeps its own statuses.
type ExitCode int

func (c ExitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

// Main is TestMain's body in a package whose tests start children (Child)
// or build programs (Build). In a child, it calls play with the role the
// child was started with and its arguments, and exits: 0 when play returns
// nil, the status of an ExitCode, else 1 with the error on stderr.
// Otherwise it runs the tests with run (m.Run, or a function that calls
// it), removes what Build built, and exits with run's status. A TestMain is
// then one line: shmtest.Main(m.Run, roles.Play).
func Main(run func() int, play func(role string, args []string) error) {
	if role := os.Getenv(childEnv); role != "" {
		os.Exit(exitStatus(role, play(role, strings.Fields(os.Getenv(argsEnv)))))
	}
	_, _ = repoRoot() // before any test can change the working directory
	builds.mu.Lock()
	builds.main = true
	builds.mu.Unlock()
	code := run()
	removeBuilds()
	os.Exit(code)
}

func exitStatus(role string, err error) int {
	var code ExitCode
	switch {
	case err == nil:
		return 0
	case errors.As(err, &code):
		return int(code)
	}
	fmt.Fprintf(os.Stderr, "child %s: %v\n", role, err)
	return 1
}

// ChildCommand returns a command that runs the running test binary again as
// a child playing role with args (which must not hold spaces). Child is
// what a test calls; ChildCommand is for a child that starts children of
// its own, with no test to tie them to.
func ChildCommand(ctx context.Context, role string, args ...string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("shmtest: %w", err)
	}
	cmd := exec.CommandContext(ctx, exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+role, argsEnv+"="+strings.Join(args, " "),
		"GORACE=atexit_sleep_ms=0") // a race-built child otherwise sleeps a second at exit
	cmd.WaitDelay = 5 * time.Second
	return cmd, nil
}

// Child returns a command that runs the running test binary again as a
// child playing role (one of the Roles given to Main) with args. Its stderr
// is this process's. It is killed when ctx ends and when the test ends, so
// no child outlives its test.
func Child(t testing.TB, ctx context.Context, role string, args ...string) *exec.Cmd {
	t.Helper()
	cmd, err := ChildCommand(ctx, role, args...)
	if err != nil {
		t.Fatal(err)
	}
	return tie(t, cmd)
}

// Command returns a command that runs the program name (a C program the
// test built, say) with args, tied to the test as Child's are: its stderr
// is this process's, and it is killed when ctx ends and when the test ends.
func Command(t testing.TB, ctx context.Context, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 5 * time.Second
	return tie(t, cmd)
}

// tie gives cmd this process's stderr, and kills and reaps it when the test
// ends, unless it was waited for.
func tie(t testing.TB, cmd *exec.Cmd) *exec.Cmd {
	cmd.Stderr = os.Stderr
	t.Cleanup(func() {
		if cmd.Process != nil && cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}
