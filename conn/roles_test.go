//go:build linux

package conn_test

import "github.com/shmring/shmring/internal/testsupport/shmtest"

// roles are the parts this package's test binary plays in a child process.
var roles = shmtest.Roles{}
