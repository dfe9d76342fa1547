//go:build linux

package shmring_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
)

// TestDemo runs make demo's script (scripts/demo.sh) with fewer messages:
// 64-byte ones, as make demo sends, and 1 MiB ones in fragments, as make
// demo SIZE=1048576 does. The script itself fails unless both processes
// exit 0 and the segment is gone; the test also wants the consumer's
// checks line to say nothing was lost, duplicated, reordered or corrupt.
func TestDemo(t *testing.T) {
	for _, c := range []struct{ size, messages, slots string }{
		{"64", "100000", "4096 slots of 72 bytes,"},
		// What the Makefile says of make demo SIZE=1048576.
		{"1048576", "50", "4096 slots of 16392 bytes (64 per message)"},
	} {
		t.Run("SIZE="+c.size, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "bash", "scripts/demo.sh")
			// At the timeout, a SIGTERM to the script's process group:
			// the producer and consumer end, and the script's trap
			// removes the ring if it is left. A script still there
			// 30 s later is killed, as it is if this test binary
			// dies.
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
			cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
			cmd.WaitDelay = 30 * time.Second
			cmd.Env = append(os.Environ(), "SIZE="+c.size, "MESSAGES="+c.messages, "BIN="+t.TempDir(), "GO="+shmtest.GoTool(t))
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("SIZE=%s MESSAGES=%s bash scripts/demo.sh: %v\n%s", c.size, c.messages, err, out)
			}
			for _, want := range []string{
				"consumer: " + c.messages + " messages of " + c.size + " bytes",
				c.slots,
				"checks    lost 0, duplicated 0, reordered 0, corrupt 0: OK",
				"demo: OK",
			} {
				if !strings.Contains(string(out), want) {
					t.Errorf("the demo's output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}
