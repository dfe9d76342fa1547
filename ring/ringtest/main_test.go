package ringtest_test

import (
	"testing"

	"github.com/shmring/shmring/ring/ringtest"
)

// TestMain is what every test binary that uses ringtest needs: the peer
// process is this binary, and ringtest.Main is where it finds its part.
func TestMain(m *testing.M) { ringtest.Main(m) }
