//go:build linux && (amd64 || arm64)

package futex_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/shmring/shmring/internal/shmtest"
)

// Child roles: the test binary re-executes itself (shmtest.Child) to play
// the other process of a cross-process test.
const rolePingPong = "futex-pingpong"

func TestMain(m *testing.M) {
	switch role := shmtest.Role(); role {
	case "":
		os.Exit(m.Run())
	case rolePingPong:
		if err := pingPongChild(shmtest.Args()); err != nil {
			fmt.Fprintf(os.Stderr, "futex child %s: %v\n", role, err)
			os.Exit(1)
		}
		os.Exit(0)
	default:
		fmt.Fprintf(os.Stderr, "futex test: unknown child role %q\n", role)
		os.Exit(2)
	}
}
