//go:build !linux || !(amd64 || arm64)

package shmseg

import (
	"errors"
	"fmt"
	"runtime"
	"syscall"
)

// errNoSysV is what every call that would make a system call returns here,
// within an [*Error] or wrapped: this package speaks the System V calls of
// 64-bit Linux only. Its message reads "shmseg: create key ...: unsupported
// on darwin/arm64 (...)".
var errNoSysV error = noSysV{}

type noSysV struct{}

func (noSysV) Error() string {
	return "unsupported on " + runtime.GOOS + "/" + runtime.GOARCH +
		" (System V shared memory is used on linux/amd64 and linux/arm64 only)"
}

// Unwrap makes errors.Is(err, errors.ErrUnsupported) hold.
func (noSysV) Unwrap() error { return errors.ErrUnsupported }

func unsupported(op string, key Key, id ID, size int) error {
	return &Error{Op: op, Key: key, ID: id, Size: size, Err: errNoSysV}
}

// errnoName has no table of names here; Error prints the number.
func errnoName(syscall.Errno) string { return "" }

// Create fails on this platform with an error wrapping
// errors.ErrUnsupported that names the platform.
func Create(key Key, size int, opts *CreateOptions) (ID, error) {
	return -1, unsupported(opCreate, key, 0, size)
}

// Open fails on this platform with an error wrapping errors.ErrUnsupported.
func Open(key Key) (ID, error) { return -1, unsupported(opOpen, key, 0, 0) }

// Attach fails on this platform with an error wrapping
// errors.ErrUnsupported.
func Attach(id ID, opts *AttachOptions) (*Segment, error) {
	return nil, unsupported(opAttach, 0, id, 0)
}

// Remove fails on this platform with an error wrapping
// errors.ErrUnsupported.
func Remove(id ID) error { return unsupported(opRemove, 0, id, 0) }

// SetOwner fails on this platform with an error wrapping
// errors.ErrUnsupported.
func SetOwner(id ID, uid, gid int) error { return unsupported(opSetOwner, 0, id, 0) }

// Stat fails on this platform with an error wrapping errors.ErrUnsupported.
func Stat(id ID) (*Info, error) { return nil, unsupported(opStat, 0, id, 0) }

// List fails on this platform with an error wrapping errors.ErrUnsupported.
func List() ([]Info, error) { return nil, fmt.Errorf("shmseg: list: %w", errNoSysV) }

// Ftok fails on this platform with an error wrapping errors.ErrUnsupported:
// its key would name nothing here.
func Ftok(path string, projID int) (Key, error) {
	return 0, fmt.Errorf("shmseg: ftok %s: %w", path, errNoSysV)
}

// Stat returns [ErrDetached]: no Segment is ever attached on this
// platform.
func (s *Segment) Stat() (*Info, error) { return nil, s.detachedErr(opStat) }

// Detach returns [ErrDetached]: no Segment is ever attached on this
// platform.
func (s *Segment) Detach() error { return s.detachedErr(opDetach) }

// DetachPrivate returns [ErrDetached]: no Segment is ever attached on this
// platform.
func (s *Segment) DetachPrivate() error { return s.detachedErr(opDetach) }

// Remove fails on this platform with an error wrapping
// errors.ErrUnsupported.
func (s *Segment) Remove() error { return unsupported(opRemove, s.key, s.id, 0) }
