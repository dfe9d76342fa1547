package conn

import (
	"fmt"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// newBell makes an eventfd for a bell.
func newBell(gone *atomic.Pointer[error]) (*bell, error) {
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("conn: eventfd: %w", err)
	}
	return newBellFile(fd, gone)
}

// bellFrom makes a bell of an eventfd received from the server. fstat says
// whether it is one: a hostile server could send any descriptor.
func bellFrom(fd int, gone *atomic.Pointer[error]) (*bell, error) {
	if err := isEventfd(fd); err != nil {
		return nil, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, fmt.Errorf("conn: bell fd %d: %w", fd, err)
	}
	return newBellFile(fd, gone)
}

// isEventfd reports whether fd is an eventfd: /proc/self/fd names it
// "anon_inode:[eventfd]".
func isEventfd(fd int) error {
	target, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return fmt.Errorf("conn: bell fd %d: %w", fd, err)
	}
	if target != "anon_inode:[eventfd]" {
		return fmt.Errorf("%w: the server sent %q where an eventfd belongs", ErrHandshake, target)
	}
	return nil
}
