package shmtest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/shmring/shmring/internal/platform/proc"
)

// Proc is a process started by a test, its output kept. It is killed and
// reaped when the test ends if it still runs, so none outlives its test.
type Proc struct {
	Cmd *exec.Cmd
	// Stdout and Stderr hold what the process wrote. Read them once it
	// has exited: until then os/exec writes them.
	Stdout, Stderr bytes.Buffer
	done           chan struct{}
	code           int // exit status once done; -1 if killed by a signal
}

// Start starts cmd (whose Stdout and Stderr must be unset).
func Start(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	p := &Proc{Cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &p.Stdout, &p.Stderr
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = 5 * time.Second // a grandchild holding the pipes
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", cmd.Path, err)
	}
	go func() {
		err := cmd.Wait()
		var ee *exec.ExitError
		switch {
		case err == nil:
			p.code = 0
		case errors.As(err, &ee):
			p.code = ee.ExitCode()
		default:
			p.code = -2
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// Name is the base name of the program.
func (p *Proc) Name() string { return filepath.Base(p.Cmd.Path) }

// Pid is the process's id.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Done is closed once the process has exited and been reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// ExitCode waits for the process to exit and returns its exit status: -1
// if a signal killed it. What bounds the wait is the caller's: a context
// the command was made with, or a kill.
func (p *Proc) ExitCode() int {
	<-p.done
	return p.code
}

// Wait waits for the process to exit and returns its exit status: -1 if a
// signal killed it. If it has not exited within timeout, Wait kills it and
// fails the test.
func (p *Proc) Wait(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.Cmd.Process.Kill()
		<-p.done
		t.Fatalf("%s did not exit within %v; %v", p.Name(), timeout, p)
	}
	return p.code
}

func (p *Proc) String() string {
	code := "running"
	select {
	case <-p.done:
		code = fmt.Sprintf("exit %d", p.code)
	default:
	}
	return fmt.Sprintf("%s (pid %d) %s\nstdout:\n%s\nstderr:\n%s", p.Name(), p.Pid(), code, &p.Stdout, &p.Stderr)
}

// Sleeper starts a process that sleeps until the test ends, when it is
// killed and reaped: a live process that is not the test's.
func Sleeper(t testing.TB) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "3600")
	if err := cmd.Start(); err != nil {
		t.Fatalf("shmtest: starting sleep: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// mainThreadExitsC is a process whose main thread exits (pthread_exit)
// while another thread goes on: /proc/PID/stat then says Z, for the main
// thread, though the process runs.
const mainThreadExitsC = `#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
static void *worker(void *a) { (void)a; puts("ready"); fflush(stdout); for (;;) pause(); return 0; }
int main(void) { pthread_t t; pthread_create(&t, 0, worker, 0); pthread_exit(0); }
`

// StartMainThreadExited builds, with the C compiler (CC: the test skips
// without one), a program whose main thread exits while another thread
// runs, starts it, and returns once /proc says its main thread has exited
// (state Z). The test kills it whenever it likes; it is killed and reaped
// when the test ends.
func StartMainThreadExited(t testing.TB) *exec.Cmd {
	t.Helper()
	bin := CompileSource(t, CC(t), "main_exits.c", mainThreadExitsC, "-pthread")
	cmd := exec.Command(bin)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("%s: read %q, %v; want \"ready\"", bin, line, err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		st, err := proc.ReadStat(cmd.Process.Pid)
		if err == nil && st.State == 'Z' {
			return cmd
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the main thread of pid %d did not exit: %+v, %v", bin, cmd.Process.Pid, st, err)
		}
		time.Sleep(time.Millisecond)
	}
}
