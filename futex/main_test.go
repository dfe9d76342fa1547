//go:build linux && (amd64 || arm64)

package futex_test

import (
	"testing"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
)

// Child roles: the test binary re-executes itself (shmtest.Child) to play
// the other process of a cross-process test.
const rolePingPong = "futex-pingpong"

func TestMain(m *testing.M) {
	shmtest.Main(m.Run, shmtest.Roles{rolePingPong: pingPongChild}.Play)
}
