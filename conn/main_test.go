//go:build linux

package conn_test

import (
	"testing"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
)

func TestMain(m *testing.M) { shmtest.Main(m.Run, roles.Play) }
