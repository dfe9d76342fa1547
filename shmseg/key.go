//go:build linux && (amd64 || arm64)

package shmseg

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Key names a segment system-wide, like a file name does a file (key_t).
// Processes that agree on a key find the same segment with [Open]. Keys are
// usually made with [Ftok] or fixed by the application.
type Key int32

// IPCPrivate (IPC_PRIVATE) is not a key but a request for a new segment that
// no key names: [Create] with it always makes a new segment, which other
// processes can reach only by its [ID].
const IPCPrivate Key = 0

// String returns the key as ipcs(1) shows it: "0x" and eight hex digits of
// its 32 bits.
func (k Key) String() string {
	return fmt.Sprintf("0x%08x", uint32(k))
}

// Ftok returns the key that ftok(3) in the GNU C library returns for path and
// projID, so that Go and C programs agree on it: the low 16 bits of path's
// inode number, the low 8 bits of its device number and the low 8 bits of
// projID, from low to high.
//
// Only the low 8 bits of projID count, and ftok(3) requires them to be
// nonzero: Ftok refuses a projID whose low 8 bits are zero with an error
// wrapping [ErrInvalid]. An error from stat(2) on path is returned wrapped
// (errors.Is(err, fs.ErrNotExist) works). Distinct files can give the same
// key; the key of a path changes when the file is deleted and created again.
func Ftok(path string, projID int) (Key, error) {
	if projID&0xff == 0 {
		return 0, fmt.Errorf("shmseg: ftok %s: project id %#x: %w: its low 8 bits must be nonzero",
			path, projID, ErrInvalid)
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("shmseg: ftok %s: %w", path, err)
	}
	k := uint32(st.Ino&0xffff) | uint32(st.Dev&0xff)<<16 | uint32(projID&0xff)<<24
	return Key(int32(k)), nil
}
