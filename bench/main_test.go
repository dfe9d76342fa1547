package bench

import (
	"fmt"
	"os"
	"strconv"
	"testing"

	"github.com/shmring/shmring/internal/shmtest"
	"github.com/shmring/shmring/ring/ringtest"
)

// TestMain plays a peer's role when the binary was re-executed as one
// (shmtest.Child, or ringtest's peer for BenchmarkRingtest), and otherwise
// runs the tests and benchmarks, then removes the C reference's build
// directory.
func TestMain(m *testing.M) {
	if role := shmtest.Role(); role != "" {
		os.Exit(runChild(role, shmtest.Args()))
	}
	code := ringtest.Run(m)
	removeCRing()
	os.Exit(code)
}

// childRoles are the peers' parts. Each prints "ready" on stdout once it is
// set up (the parent starts its clock after that), works until its input
// ends, prints what it saw, and exits 0; on error it exits 1 with the error
// on stderr.
var childRoles = map[string]func(args []string) error{
	"ring-consume": ringConsume,
	"ring-pong":    ringPong,
	"ring-ack":     ringAck,
	"fd-consume":   fdConsume,
	"fd-pong":      fdPong,
	"futex-pong":   futexPong,
}

func runChild(role string, args []string) int {
	fn, ok := childRoles[role]
	if !ok {
		fmt.Fprintf(os.Stderr, "bench child: unknown role %q\n", role)
		return 2
	}
	if err := fn(args); err != nil {
		fmt.Fprintf(os.Stderr, "bench child %s: %v\n", role, err)
		return 1
	}
	return 0
}

// childArgs reads a child's positional arguments.
type childArgs []string

func (a childArgs) str(i int) (string, error) {
	if i >= len(a) {
		return "", fmt.Errorf("argument %d missing (have %q)", i, []string(a))
	}
	return a[i], nil
}

func (a childArgs) int(i int) (int, error) {
	s, err := a.str(i)
	if err != nil {
		return 0, err
	}
	// Base 0: keys come as 0x-prefixed hex.
	v, err := strconv.ParseInt(s, 0, 64)
	return int(v), err
}
