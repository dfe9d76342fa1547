package fence

import (
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// membarrier(2) commands (linux/membarrier.h).
const (
	cmdQuery                   = 0
	cmdGlobalExpedited         = 1 << 1
	cmdRegisterGlobalExpedited = 1 << 2
)

var (
	regOnce sync.Once
	regErr  error
)

// Register registers this process for expedited global barriers
// (MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED): another process's Heavy then
// interrupts this one's threads. It is done once per process; later calls
// return the first call's result. The registration lasts until the process
// exits. It fails on kernels older than 4.16, or where a seccomp filter
// refuses membarrier(2).
func Register() error {
	regOnce.Do(func() {
		q, err := membarrier(cmdQuery)
		switch {
		case err != nil:
			regErr = fmt.Errorf("membarrier(MEMBARRIER_CMD_QUERY): %w", err)
		case q&cmdGlobalExpedited == 0 || q&cmdRegisterGlobalExpedited == 0:
			regErr = fmt.Errorf("membarrier(2): the kernel lacks MEMBARRIER_CMD_GLOBAL_EXPEDITED (supported commands %#x)", q)
		default:
			if _, err := membarrier(cmdRegisterGlobalExpedited); err != nil {
				regErr = fmt.Errorf("membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED): %w", err)
			}
		}
	})
	return regErr
}

// Heavy executes a full memory barrier on every CPU that runs a thread of a
// registered process (this one's included), and returns when all have
// (MEMBARRIER_CMD_GLOBAL_EXPEDITED). It costs a system call and an
// inter-processor interrupt per such CPU: microseconds. The caller need not
// be registered, but a caller that never registered cannot be sure anyone
// else did.
func Heavy() error {
	for {
		_, err := membarrier(cmdGlobalExpedited)
		if err != unix.EINTR {
			if err != nil {
				return fmt.Errorf("membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED): %w", err)
			}
			return nil
		}
	}
}

func membarrier(cmd int) (int, error) {
	r, _, errno := unix.Syscall(unix.SYS_MEMBARRIER, uintptr(cmd), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(r), nil
}
