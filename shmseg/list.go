//go:build linux && (amd64 || arm64)

package shmseg

import (
	"bytes"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func infoFromDesc(id ID, d *unix.SysvShmDesc) Info {
	return Info{
		Key:     Key(d.Perm.Key),
		ID:      id,
		Size:    d.Segsz,
		Mode:    os.FileMode(d.Perm.Mode) & os.ModePerm,
		UID:     d.Perm.Uid,
		GID:     d.Perm.Gid,
		CUID:    d.Perm.Cuid,
		CGID:    d.Perm.Cgid,
		CPID:    int(d.Cpid),
		LPID:    int(d.Lpid),
		Nattch:  d.Nattch,
		Atime:   unixTime(d.Atime),
		Dtime:   unixTime(d.Dtime),
		Ctime:   unixTime(d.Ctime),
		Removed: d.Perm.Mode&shmDest != 0,
		Locked:  d.Perm.Mode&shmLocked != 0,
	}
}

// procFile lists the segments of this process's IPC namespace.
const procFile = "/proc/sysvipc/shm"

// List returns every segment this process can see, from /proc/sysvipc/shm,
// the file ipcs -m reads: those of its IPC namespace, whatever their mode.
// The list is a snapshot; segments come and go.
func List() ([]Info, error) {
	data, err := os.ReadFile(procFile)
	if err != nil {
		return nil, fmt.Errorf("shmseg: list: %w", err)
	}
	infos, err := parseList(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("shmseg: list: %s: %w", procFile, err)
	}
	return infos, nil
}
