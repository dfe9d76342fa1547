//go:build linux && (amd64 || arm64)

package shmseg

import (
	"fmt"

	"golang.org/x/sys/unix"
)

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
