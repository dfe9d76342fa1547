//go:build linux && (amd64 || arm64)

package shmseg

import (
	"errors"
	"fmt"
	"math"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// shmget(2)'s flag for huge pages, which x/sys/unix does not define
// (linux/shm.h).
const shmHugeTLB = 0o4000 // SHM_HUGETLB: back the segment with huge pages

// Create makes a new segment of size bytes with key and returns its ID. The
// memory reads as zeros. It fails with [ErrExist] if a segment with key
// exists already (IPC_CREAT|IPC_EXCL), so a process never takes over a
// segment it did not create by mistake. With [IPCPrivate] it always makes a
// new segment (IPC_CREAT).
//
// The segment outlives the process (see the package doc); the caller must
// remove it. opts may be nil. Other errors: [ErrInvalid] for a size <= 0 or
// a bad mode, [ErrTooLarge] above /proc/sys/kernel/shmmax, [ErrNoSpace]
// when the system is out of segments or memory, [ErrHugePages],
// [ErrPermission]. On error the ID is -1.
func Create(key Key, size int, opts *CreateOptions) (ID, error) {
	if size <= 0 {
		return -1, invalid(opCreate, key, 0, size, fmt.Sprintf("size %d is not positive", size))
	}
	mode := os.FileMode(0o600)
	huge := false
	if opts != nil {
		if opts.Mode&^os.ModePerm != 0 {
			return -1, invalid(opCreate, key, 0, size,
				fmt.Sprintf("mode %v (%#o) has bits other than permissions", opts.Mode, uint32(opts.Mode)))
		}
		if opts.Mode != 0 {
			mode = opts.Mode
		}
		huge = opts.HugePages
	}
	flag := unix.IPC_CREAT | int(mode)
	if key != IPCPrivate {
		flag |= unix.IPC_EXCL
	}
	if huge {
		flag |= shmHugeTLB
	}
	id, err := unix.SysvShmGet(int(key), size, flag)
	if err != nil {
		var errno unix.Errno
		if huge && errors.As(err, &errno) && errno == unix.ENOMEM {
			return -1, hugePagesErr(key, size, errno)
		}
		e := sysErr(opCreate, key, 0, size, err)
		if huge && e.Err == ErrPermission {
			e.detail = "huge pages need CAP_IPC_LOCK or the group in /proc/sys/vm/hugetlb_shm_group"
		}
		return -1, e
	}
	return ID(id), nil
}

// Open returns the ID of the existing segment with key, whatever its size.
// It fails with [ErrNotExist] if there is none, including when the segment
// has been marked for removal (its key is released then). [IPCPrivate]
// names no segment and is refused with [ErrInvalid].
//
// Open only looks the key up: it does not check that this process may
// attach the segment. [Attach] does, and fails with [ErrPermission]. On
// error the ID is -1.
func Open(key Key) (ID, error) {
	if key == IPCPrivate {
		return -1, invalid(opOpen, key, 0, 0, "key IPC_PRIVATE names no segment; use the segment's ID")
	}
	id, err := unix.SysvShmGet(int(key), 0, 0)
	if err != nil {
		return -1, sysErr(opOpen, key, 0, 0, err)
	}
	return ID(id), nil
}

// Attach maps the segment id into this process. The mapping is exactly the
// segment's size as the kernel records it (shm_segsz from IPC_STAT), which
// may differ from the size a caller expects: check [Segment.Size].
//
// Errors: [ErrNotExist] if there is no such segment or it is gone (a
// segment marked for removal but still attached elsewhere can still be
// attached), [ErrPermission] if the segment's mode does not let this
// process read it (or write it, without ReadOnly), [ErrNoSpace],
// [ErrInvalid] for a negative id. opts may be nil.
func Attach(id ID, opts *AttachOptions) (*Segment, error) {
	if id < 0 {
		return nil, invalid(opAttach, 0, id, 0, fmt.Sprintf("id %d is negative", id))
	}
	ro := opts != nil && opts.ReadOnly

	var d unix.SysvShmDesc
	if _, err := unix.SysvShmCtl(int(id), unix.IPC_STAT, &d); err != nil {
		return nil, sysErr(opAttach, 0, id, 0, err)
	}
	key := Key(d.Perm.Key)
	if d.Segsz == 0 || d.Segsz > math.MaxInt {
		// Not a size shmget can make: refuse rather than build a slice
		// of the wrong length.
		return nil, &Error{Op: opAttach, Key: key, ID: id, Err: ErrInvalid,
			detail: fmt.Sprintf("kernel reports size %d", d.Segsz)}
	}
	size := int(d.Segsz)

	flag := 0
	if ro {
		flag = unix.SHM_RDONLY
	}
	// SysvShmAttach sizes the slice from its own IPC_STAT, made after
	// shmat, so it describes the segment that is attached now.
	data, err := unix.SysvShmAttach(int(id), 0, flag)
	if err != nil {
		return nil, sysErr(opAttach, key, id, size, err)
	}
	if len(data) != size {
		// The id was removed and reused between the two IPC_STATs.
		_ = unix.SysvShmDetach(data)
		return nil, &Error{Op: opAttach, Key: key, ID: id, Size: size, Err: ErrNotExist,
			detail: fmt.Sprintf("segment changed while attaching (size %d, then %d)", size, len(data))}
	}
	return &Segment{id: id, key: key, size: size, cpid: d.Cpid, readOnly: ro, data: data}, nil
}

// Stat returns what the kernel knows of the segment now (IPC_STAT), like
// [Stat]. It returns [ErrDetached] after [Segment.Detach].
func (s *Segment) Stat() (*Info, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.data == nil {
		return nil, s.detachedErr(opStat)
	}
	return stat(s.id, s.key)
}

// Detach unmaps the segment (shmdt). Slices from [Segment.Bytes] must not
// be used any more. The segment itself stays, unless it was marked for
// removal and this was its last attachment. A second Detach returns
// [ErrDetached].
func (s *Segment) Detach() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.data == nil {
		return s.detachedErr(opDetach)
	}
	if err := unix.SysvShmDetach(s.data); err != nil {
		return sysErr(opDetach, s.key, s.id, s.size, err)
	}
	s.data = nil
	return nil
}

// DetachPrivate detaches the segment, as Detach does, but leaves its address
// range mapped: the kernel replaces the segment's pages with private
// zero-filled memory of the same size, in one step (mmap with MAP_FIXED over
// the attachment). A slice into the segment that is still in use somewhere
// then reads zeros and writes memory nobody else sees, instead of faulting.
// The range stays mapped until the process exits: it is for a caller that
// cannot know whether such a slice is still in use. The segment's nattch
// drops as with Detach, and a segment marked for removal goes with its last
// attachment.
func (s *Segment) DetachPrivate() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.data == nil {
		return s.detachedErr(opDetach)
	}
	if err := mapPrivate(s.data); err != nil {
		return sysErr(opDetach, s.key, s.id, s.size, err)
	}
	s.data = nil
	return nil
}

// mapPrivate maps private zero-filled memory over b's pages, in place.
func mapPrivate(b []byte) error {
	_, err := unix.MmapPtr(-1, 0, unsafe.Pointer(unsafe.SliceData(b)), uintptr(len(b)),
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_FIXED|unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	return err
}

// Remove removes the segment (IPC_RMID), or marks it for removal while it
// is attached, by this Segment or elsewhere (see the package doc). It works
// before and after [Segment.Detach].
//
// A second Remove returns an error wrapping [ErrNotExist], as does a Remove
// of a segment someone else removed already. After Detach, the ID may have
// been reused by a new segment: Remove then checks that the segment with
// this ID still has this Segment's key, size and creator pid, and reports
// [ErrNotExist] rather than remove another segment.
func (s *Segment) Remove() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed {
		return &Error{Op: opRemove, Key: s.key, ID: s.id, Err: ErrNotExist,
			detail: "already removed through this Segment"}
	}
	var check func(*unix.SysvShmDesc) string
	if s.data == nil {
		// Without our attachment the id may name a new segment now. (A
		// marked segment, whose key reads 0, never gets here: remove
		// reports it first.)
		check = func(d *unix.SysvShmDesc) string {
			if Key(d.Perm.Key) != s.key || d.Segsz != uint64(s.size) || d.Cpid != s.cpid {
				return fmt.Sprintf("id now names another segment (key %v size %d creator pid %d)",
					Key(d.Perm.Key), d.Segsz, d.Cpid)
			}
			return ""
		}
	}
	err := remove(s.id, s.key, check)
	if err == nil || errors.Is(err, ErrNotExist) {
		s.removed = true
	}
	return err
}

// Remove removes the segment id (IPC_RMID) if nobody has it attached, and
// otherwise marks it for removal: its key is released at once and the
// kernel frees it when the last process detaches (see the package doc).
//
// Removing a segment that is already marked returns an error wrapping
// [ErrNotExist], as for an id that does not exist (the kernel itself would
// accept a second IPC_RMID silently; Remove checks SHM_DEST first).
// [ErrPermission] means this process is neither the segment's owner nor
// its creator nor privileged.
func Remove(id ID) error {
	if id < 0 {
		return invalid(opRemove, 0, id, 0, fmt.Sprintf("id %d is negative", id))
	}
	return remove(id, IPCPrivate, nil)
}

// remove is Remove for id, with key for the messages. check, if not nil,
// inspects the segment first and returns why it must not be removed.
func remove(id ID, key Key, check func(*unix.SysvShmDesc) string) error {
	var d unix.SysvShmDesc
	_, err := unix.SysvShmCtl(int(id), unix.IPC_STAT, &d)
	switch {
	case err == nil:
		if d.Perm.Mode&shmDest != 0 {
			return &Error{Op: opRemove, Key: key, ID: id, Err: ErrNotExist,
				detail: "already marked for removal"}
		}
		if check != nil {
			if why := check(&d); why != "" {
				return &Error{Op: opRemove, Key: key, ID: id, Err: ErrNotExist, detail: why}
			}
		}
	case errors.Is(err, unix.EACCES):
		// No read permission, which IPC_RMID does not need: the owner
		// of a 0200 segment may remove it. Skip the checks.
	default:
		return sysErr(opRemove, key, id, 0, err)
	}
	if _, err := unix.SysvShmCtl(int(id), unix.IPC_RMID, nil); err != nil {
		return sysErr(opRemove, key, id, 0, err)
	}
	return nil
}

// SetOwner makes uid and gid the owner of the segment id (IPC_SET), keeping
// its mode: the creator (Info.CUID) keeps the owner's access too, so a
// process may create a 0600 segment for a process of another user and hand
// it over without letting anyone else in. Only the creator, the owner or a
// privileged process may do it ([ErrPermission]).
func SetOwner(id ID, uid, gid int) error {
	if id < 0 {
		return invalid(opSetOwner, 0, id, 0, fmt.Sprintf("id %d is negative", id))
	}
	if uid < 0 || gid < 0 {
		return invalid(opSetOwner, 0, id, 0, fmt.Sprintf("uid %d gid %d: negative", uid, gid))
	}
	var d unix.SysvShmDesc
	if _, err := unix.SysvShmCtl(int(id), unix.IPC_STAT, &d); err != nil {
		return sysErr(opSetOwner, 0, id, 0, err)
	}
	d.Perm.Uid, d.Perm.Gid = uint32(uid), uint32(gid)
	if _, err := unix.SysvShmCtl(int(id), unix.IPC_SET, &d); err != nil {
		return sysErr(opSetOwner, 0, id, 0, err)
	}
	return nil
}

// Stat returns what the kernel knows of the segment id (IPC_STAT). It needs
// read permission on the segment ([ErrPermission]); a missing id gives
// [ErrNotExist]. [Info.RSS] and [Info.Swap] are 0: only [List] has them.
func Stat(id ID) (*Info, error) {
	if id < 0 {
		return nil, invalid(opStat, 0, id, 0, fmt.Sprintf("id %d is negative", id))
	}
	return stat(id, IPCPrivate)
}

func stat(id ID, key Key) (*Info, error) {
	var d unix.SysvShmDesc
	if _, err := unix.SysvShmCtl(int(id), unix.IPC_STAT, &d); err != nil {
		return nil, sysErr(opStat, key, id, 0, err)
	}
	info := infoFromDesc(id, &d)
	return &info, nil
}
