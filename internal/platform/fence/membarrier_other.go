//go:build !linux

package fence

import (
	"errors"
	"fmt"
	"runtime"
)

// errNoMembarrier is what Register and Heavy return here: membarrier(2) is
// a Linux system call, and no other system has a barrier that reaches the
// CPUs running another process's threads.
var errNoMembarrier = fmt.Errorf("membarrier(2) is Linux-only, this is %s/%s: %w",
	runtime.GOOS, runtime.GOARCH, errors.ErrUnsupported)

// Register fails on this platform (errors.ErrUnsupported): a ring made here
// uses full fences on both sides instead of the heavy barrier.
func Register() error { return errNoMembarrier }

// Heavy fails on this platform (errors.ErrUnsupported). Nothing calls it
// when Register has failed.
func Heavy() error { return errNoMembarrier }
