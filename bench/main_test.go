package bench

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring/ringtest"
)

// TestMain plays a peer's role when the binary was re-executed as one
// (shmtest.Child, or ringtest's peer for BenchmarkRingtest), and otherwise
// runs the tests and benchmarks.
func TestMain(m *testing.M) {
	shmtest.Main(func() int { return ringtest.Run(m) }, childRoles.Play)
}

// childRoles are the peers' parts. Each prints "ready" on stdout once it is
// set up (the parent starts its clock after that), works until its input
// ends, prints what it saw, and exits 0; on error it exits 1 with the error
// on stderr.
var childRoles = shmtest.Roles{
	"ring-consume": ringConsume,
	"ring-pong":    ringPong,
	"ring-echo":    ringEcho,
	"ring-ack":     ringAck,
	"fd-consume":   fdConsume,
	"fd-pong":      fdPong,
	"futex-pong":   futexPong,
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
