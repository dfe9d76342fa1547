package conn

import (
	"os"
	"syscall"
)

// lockDir takes an exclusive flock(2) on the directory dir, which needs no
// file of its own and is dropped by the kernel if the process dies.
func lockDir(dir string) (unlock func(), err error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(d.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		_ = d.Close()
		return nil, &os.PathError{Op: "flock", Path: dir, Err: err}
	}
	return func() { _ = d.Close() }, nil
}
