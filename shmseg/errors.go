package shmseg

import (
	"errors"
	"strconv"
	"strings"
	"syscall"
)

// Sentinel errors. Errors returned by this package wrap one of them (test
// with errors.Is); an [*Error] also wraps the errno the kernel returned.
var (
	// ErrExist: Create found a segment with the key already (EEXIST).
	ErrExist = errors.New("segment exists")

	// ErrNotExist: there is no segment with the key or id (ENOENT), it
	// has been removed (EIDRM), or the kernel does not know the id (EINVAL
	// from shmat or shmctl). Removing a segment that is already marked for
	// removal reports it too, as does a second [Segment.Remove].
	ErrNotExist = errors.New("no such segment")

	// ErrPermission: the segment's mode does not let this process attach
	// or stat it, or it is not the owner, creator or privileged for
	// removal (EACCES, EPERM).
	ErrPermission = errors.New("permission denied")

	// ErrTooLarge: shmget refused the size (EINVAL): more than the
	// system's limit (/proc/sys/kernel/shmmax), or more than the size of
	// the existing segment with the key (which Create, asking for a new
	// segment, reports as ErrExist instead).
	ErrTooLarge = errors.New("size too large")

	// ErrNoSpace: the system is out of segments (/proc/sys/kernel/shmmni),
	// out of shared memory pages (/proc/sys/kernel/shmall), or out of
	// memory (ENOSPC, ENOMEM).
	ErrNoSpace = errors.New("no space for segment")

	// ErrHugePages: Create with [CreateOptions.HugePages] failed because
	// the kernel could not reserve huge pages for the segment (ENOMEM),
	// usually because none are reserved in /proc/sys/vm/nr_hugepages. The
	// error's message gives the file's current value.
	ErrHugePages = errors.New("no huge pages available")

	// ErrDetached: the [Segment] has been detached.
	ErrDetached = errors.New("segment detached")

	// ErrInvalid: an argument is out of range (a size that is not
	// positive, a negative id, a mode with bits other than permissions,
	// IPCPrivate to Open, a project id with low 8 bits zero to Ftok); the
	// message names the value. No system call was made. Attach also
	// reports it for a size the kernel should never report (0 or more
	// than fits an int).
	ErrInvalid = errors.New("invalid argument")
)

// Operation names used in [Error.Op].
const (
	opCreate   = "create"
	opOpen     = "open"
	opAttach   = "attach"
	opDetach   = "detach"
	opStat     = "stat"
	opRemove   = "remove"
	opSetOwner = "set owner of"
	opBytes    = "bytes"
)

// Error is the error returned by the functions of this package that make a
// system call or validate an argument.
//
// Op is the operation: "create", "open", "attach", "detach", "stat",
// "remove", "set owner of" or "bytes". For create and open, Key names the
// segment; for the others ID does, and Key is set when known. Size is set when known.
type Error struct {
	Op   string
	Key  Key
	ID   ID
	Size int

	// Err is the sentinel (ErrExist, ErrNotExist, ...) or nil when the
	// errno has none. Off 64-bit Linux it is an error wrapping
	// errors.ErrUnsupported that names the platform.
	Err error

	// Errno is the kernel's error number, or 0 when the error did not
	// come from a system call (ErrDetached, ErrInvalid, ...). It is a
	// golang.org/x/sys/unix.Errno, which is the same type.
	Errno syscall.Errno

	// detail is added to the message: what was wrong with an argument,
	// what to look at for huge pages.
	detail string
}

// Error returns a message like
//
//	shmseg: create key 0x5e7a1234 size 4096: segment exists (EEXIST)
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("shmseg: ")
	b.WriteString(e.Op)
	if e.Op == opCreate || e.Op == opOpen {
		b.WriteString(" key ")
		b.WriteString(e.Key.String())
	} else {
		b.WriteString(" id ")
		b.WriteString(strconv.Itoa(int(e.ID)))
		if e.Key != IPCPrivate {
			b.WriteString(" key ")
			b.WriteString(e.Key.String())
		}
	}
	if e.Size != 0 {
		b.WriteString(" size ")
		b.WriteString(strconv.Itoa(e.Size))
	}
	b.WriteString(": ")
	switch {
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	case e.Errno != 0:
		b.WriteString(e.Errno.Error())
	default:
		b.WriteString("error")
	}
	if e.Errno != 0 {
		b.WriteString(" (")
		if name := errnoName(e.Errno); name != "" {
			b.WriteString(name)
		} else {
			b.WriteString("errno " + strconv.Itoa(int(e.Errno)))
		}
		b.WriteString(")")
	}
	if e.detail != "" {
		b.WriteString(": ")
		b.WriteString(e.detail)
	}
	return b.String()
}

// Unwrap returns the sentinel and the errno, those that are set, so that
// errors.Is matches either.
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, 2)
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	if e.Errno != 0 {
		errs = append(errs, e.Errno)
	}
	return errs
}

// invalid is the error for a bad argument of op; detail names the value.
func invalid(op string, key Key, id ID, size int, detail string) error {
	return &Error{Op: op, Key: key, ID: id, Size: size, Err: ErrInvalid, detail: detail}
}
