//go:build linux && (amd64 || arm64)

package shmseg

import (
	"errors"
	"os"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// errnoName is the errno's symbolic name, "EEXIST", or "" if unknown.
func errnoName(e syscall.Errno) string { return unix.ErrnoName(e) }

// sysErr turns the error of a system call made for op into an *Error with
// the matching sentinel. EINVAL means a size problem to shmget and an
// unknown id to shmat and shmctl.
func sysErr(op string, key Key, id ID, size int, err error) *Error {
	e := &Error{Op: op, Key: key, ID: id, Size: size}
	if !errors.As(err, &e.Errno) {
		// Not from the kernel: keep it as it is, behind the context.
		e.Err = err
		return e
	}
	switch e.Errno {
	case unix.EEXIST:
		e.Err = ErrExist
	case unix.ENOENT, unix.EIDRM:
		e.Err = ErrNotExist
	case unix.EACCES, unix.EPERM:
		e.Err = ErrPermission
	case unix.ENOSPC, unix.ENOMEM:
		e.Err = ErrNoSpace
	case unix.EINVAL:
		if op == opCreate || op == opOpen {
			e.Err = ErrTooLarge
		} else {
			e.Err = ErrNotExist
		}
	}
	return e
}

// hugePagesErr is the error of a Create with SHM_HUGETLB that the kernel
// refused for want of huge pages.
func hugePagesErr(key Key, size int, errno unix.Errno) error {
	const file = "/proc/sys/vm/nr_hugepages"
	e := &Error{Op: opCreate, Key: key, Size: size, Err: ErrHugePages, Errno: errno}
	data, err := os.ReadFile(file)
	switch {
	case err != nil:
		e.detail = "the system may have no huge pages reserved (" + file + ": " + err.Error() + ")"
	case strings.TrimSpace(string(data)) == "0":
		e.detail = "the system has no huge pages reserved (" + file + " is 0)"
	default:
		e.detail = "the huge pages reserved are taken or too few (" + file + " is " +
			strings.TrimSpace(string(data)) + ")"
	}
	return e
}
