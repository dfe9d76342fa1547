package shmseg

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Bits of shm_perm.mode that x/sys/unix does not define (linux/shm.h); also
// the perms column of /proc/sysvipc/shm.
const (
	shmDest   = 0o1000 // SHM_DEST: marked for removal at last detach
	shmLocked = 0o2000 // SHM_LOCKED: not swapped (SHM_LOCK)
)

// Info describes a segment, from [Stat] (IPC_STAT) or from [List]
// (/proc/sysvipc/shm).
type Info struct {
	// Key is the segment's key; [IPCPrivate] for a private segment and
	// for one marked for removal.
	Key  Key
	ID   ID
	Size uint64 // bytes, as asked of Create (shm_segsz)

	// Mode holds the permission bits only; see Removed and Locked for
	// the other bits the kernel keeps there.
	Mode os.FileMode

	UID, GID   uint32 // owner
	CUID, CGID uint32 // creator

	CPID int // process that created the segment
	LPID int // process that last attached or detached it

	Nattch uint64 // attachments, counting each process's each Attach

	// Last attach, last detach and last change (creation, IPC_SET), at
	// second resolution; the zero time for never.
	Atime, Dtime, Ctime time.Time

	Removed bool // marked for removal, goes at last detach (SHM_DEST)
	Locked  bool // locked in memory (SHM_LOCKED)

	// Resident and swapped bytes, from /proc/sysvipc/shm. 0 when the Info
	// comes from Stat.
	RSS, Swap uint64
}

func unixTime(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0)
}

// parseList parses the text of /proc/sysvipc/shm: a header line naming the
// columns, then one line per segment. Columns are found by name, as they
// have grown over kernel versions (rss and swap came in 3.x); key, shmid
// and size must be there.
func parseList(r io.Reader) ([]Info, error) {
	sc := bufio.NewScanner(r)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return nil, err
		}
		return nil, errors.New("no header line")
	}
	col := make(map[string]int)
	for i, name := range strings.Fields(sc.Text()) {
		col[name] = i
	}
	for _, name := range []string{"key", "shmid", "size"} {
		if _, ok := col[name]; !ok {
			return nil, fmt.Errorf("no column %q in header %q", name, sc.Text())
		}
	}

	infos := []Info{}
	for line := 2; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		p := lineParser{fields: fields, col: col}
		info := Info{
			Key:    Key(p.int("key", 32)),
			ID:     ID(p.int("shmid", 32)),
			Size:   p.uint("size", 10, 64),
			CPID:   int(p.int("cpid", 32)),
			LPID:   int(p.int("lpid", 32)),
			Nattch: p.uint("nattch", 10, 64),
			UID:    uint32(p.uint("uid", 10, 32)),
			GID:    uint32(p.uint("gid", 10, 32)),
			CUID:   uint32(p.uint("cuid", 10, 32)),
			CGID:   uint32(p.uint("cgid", 10, 32)),
			Atime:  unixTime(p.int("atime", 64)),
			Dtime:  unixTime(p.int("dtime", 64)),
			Ctime:  unixTime(p.int("ctime", 64)),
			RSS:    p.uint("rss", 10, 64),
			Swap:   p.uint("swap", 10, 64),
		}
		perms := p.uint("perms", 8, 32)
		if p.err != nil {
			return nil, fmt.Errorf("line %d %q: %w", line, sc.Text(), p.err)
		}
		info.Mode = os.FileMode(perms) & os.ModePerm
		info.Removed = perms&shmDest != 0
		info.Locked = perms&shmLocked != 0
		infos = append(infos, info)
	}
	return infos, sc.Err()
}

// lineParser reads the columns of one line of /proc/sysvipc/shm by name,
// keeping the first error. A column missing from the header reads as 0.
type lineParser struct {
	fields []string
	col    map[string]int
	err    error
}

func (p *lineParser) field(name string) (string, bool) {
	i, ok := p.col[name]
	if !ok || p.err != nil {
		return "", false
	}
	if i >= len(p.fields) {
		p.err = fmt.Errorf("no value for column %q", name)
		return "", false
	}
	return p.fields[i], true
}

func (p *lineParser) int(name string, bits int) int64 {
	s, ok := p.field(name)
	if !ok {
		return 0
	}
	v, err := strconv.ParseInt(s, 10, bits)
	if err != nil {
		p.err = fmt.Errorf("column %q: %w", name, err)
	}
	return v
}

func (p *lineParser) uint(name string, base, bits int) uint64 {
	s, ok := p.field(name)
	if !ok {
		return 0
	}
	v, err := strconv.ParseUint(s, base, bits)
	if err != nil {
		p.err = fmt.Errorf("column %q: %w", name, err)
	}
	return v
}
