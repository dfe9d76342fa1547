package shmseg

import (
	"os"
	"sync"
)

// ID identifies an existing segment (shmid) system-wide, in this IPC
// namespace. IDs are not reused quickly, but they are reused: an ID is only
// meaningful while the segment exists. Valid IDs are >= 0.
type ID int

// CreateOptions are the options of [Create]. The zero value, like a nil
// *CreateOptions, asks for a segment of normal pages readable and writable
// by its owner only.
type CreateOptions struct {
	// Mode holds the permission bits of the segment, as for a file; the
	// execute bits mean nothing. 0 means 0600. Bits other than
	// permissions are refused.
	Mode os.FileMode

	// HugePages backs the segment with huge pages (SHM_HUGETLB). They
	// must be reserved beforehand (/proc/sys/vm/nr_hugepages), or Create
	// fails with [ErrHugePages]; the size is rounded up to a multiple of
	// the huge page size in memory, though [Segment.Size] reports the
	// size asked for.
	HugePages bool
}

// AttachOptions are the options of [Attach]. The zero value, like a nil
// *AttachOptions, attaches for reading and writing.
type AttachOptions struct {
	// ReadOnly maps the segment without write permission (SHM_RDONLY). It
	// needs only read permission on the segment; writing to the memory
	// faults, which stops a Go program (see the package doc).
	ReadOnly bool
}

// Segment is a segment attached to this process by [Attach].
//
// Its methods are safe for concurrent use. After [Segment.Detach], Bytes,
// Stat and Detach return [ErrDetached]; ID, Key, Size, ReadOnly and Remove
// keep working. A Segment that is dropped without Detach stays attached
// until the process exits.
type Segment struct {
	id       ID
	key      Key
	size     int
	cpid     int32 // creator, to recognize the segment after Detach
	readOnly bool

	mu      sync.RWMutex
	data    []byte // the mapping; nil once detached
	removed bool   // Remove succeeded or found the segment gone
}

// ID returns the segment's ID.
func (s *Segment) ID() ID { return s.id }

// Key returns the segment's key at the time of Attach: [IPCPrivate] for a
// private segment and for one that was already marked for removal.
func (s *Segment) Key() Key { return s.key }

// Size returns the segment's size in bytes (shm_segsz), the length of
// [Segment.Bytes].
func (s *Segment) Size() int { return s.size }

// ReadOnly reports whether the segment was attached read-only.
func (s *Segment) ReadOnly() bool { return s.readOnly }

// Bytes returns the shared memory: the mapping itself, of length and
// capacity [Segment.Size]. Other processes see writes to it and may change
// it at any time; synchronize with them through atomics in the segment.
//
// The slice must not be used after [Segment.Detach]: the memory is unmapped
// then, and touching it faults or reaches whatever is mapped there later.
// After Detach, Bytes returns [ErrDetached].
func (s *Segment) Bytes() ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.data == nil {
		return nil, s.detachedErr(opBytes)
	}
	return s.data, nil
}

func (s *Segment) detachedErr(op string) error {
	return &Error{Op: op, Key: s.key, ID: s.id, Err: ErrDetached}
}
