package shmtest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

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
	stat := fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid)
	for deadline := time.Now().Add(10 * time.Second); ; {
		b, err := os.ReadFile(stat)
		if i := strings.LastIndexByte(string(b), ')'); err == nil && i >= 0 && strings.HasPrefix(string(b[i+1:]), " Z") {
			return cmd
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the main thread of pid %d did not exit: %q, %v", bin, cmd.Process.Pid, b, err)
		}
		time.Sleep(time.Millisecond)
	}
}
