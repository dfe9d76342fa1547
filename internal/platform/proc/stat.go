package proc

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"strconv"
	"syscall"
)

// ErrMalformed: a stat file of /proc did not read as proc(5) describes it.
// The error that wraps it quotes the line.
var ErrMalformed = errors.New("malformed stat line")

// Stat is what shmring reads of a stat file of /proc: a process's
// (/proc/PID/stat) or one of its threads' (/proc/PID/task/TID/stat, the same
// format). Times are in clock ticks (USER_HZ, 100 a second on every Linux
// shmring runs on).
type Stat struct {
	State byte   // field 3: R, S, D, T, t, Z, X, ...
	UTime uint64 // field 14: CPU time in user mode; a process's counts all its threads
	STime uint64 // field 15: CPU time in the kernel
	Start uint64 // field 22: when it started, since boot
}

// Exited reports whether the state is a zombie's or a dead task's: the
// task has exited, though its entry may still be there.
func (s Stat) Exited() bool { return s.State == 'Z' || s.State == 'X' || s.State == 'x' }

// ParseStat parses the text of a stat file. It does not allocate unless the
// text is malformed, so a caller can poll a process through a descriptor it
// keeps open.
func ParseStat(b []byte) (Stat, error) {
	s, why := parse(b)
	if why != "" {
		return Stat{}, fmt.Errorf("proc: %w: %s in %q", ErrMalformed, why, b)
	}
	return s, nil
}

// parse reads the fields of a stat line, or says what is wrong with it.
// The command name (field 2) may hold spaces and parentheses, so fields are
// counted from the last ')'.
func parse(b []byte) (s Stat, why string) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return Stat{}, "no ')' after the command name"
	}
	rest := b[i+1:]
	for n := 3; n <= 22; n++ { // field numbers as proc(5) gives them
		var f []byte
		if f, rest = nextField(rest); f == nil {
			return Stat{}, "fewer than 22 fields"
		}
		switch n {
		case 3:
			if len(f) != 1 {
				return Stat{}, "the state (field 3) is not one letter"
			}
			s.State = f[0]
		case 14, 15, 22:
			v, ok := parseUint(f)
			if !ok {
				return Stat{}, "utime, stime or starttime (field 14, 15 or 22) is not a number"
			}
			switch n {
			case 14:
				s.UTime = v
			case 15:
				s.STime = v
			default:
				s.Start = v
			}
		}
	}
	return s, ""
}

// nextField returns the first field of b and what follows it; nil if
// there is none. Fields are separated by spaces, and the line ends in a
// newline.
func nextField(b []byte) (field, rest []byte) {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\n') {
		i++
	}
	j := i
	for j < len(b) && b[j] != ' ' && b[j] != '\n' {
		j++
	}
	if i == j {
		return nil, nil
	}
	return b[i:j], b[j:]
}

// parseUint is strconv.ParseUint(string(f), 10, 64) without the string,
// which would escape in its error.
func parseUint(f []byte) (uint64, bool) {
	var n uint64
	for _, c := range f {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if n > (math.MaxUint64-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	return n, len(f) > 0
}

// ReadStat reads /proc/PID/stat. An error from the read itself is the
// *fs.PathError of os.ReadFile: errors.Is(err, fs.ErrNotExist) once the
// process is gone.
func ReadStat(pid int) (Stat, error) {
	return readStat("/proc/" + strconv.Itoa(pid) + "/stat")
}

func readStat(path string) (Stat, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Stat{}, err
	}
	s, why := parse(b)
	if why != "" {
		return Stat{}, fmt.Errorf("proc: %s: %w: %s in %q", path, ErrMalformed, why, b)
	}
	return s, nil
}

// Thread is one thread of a process.
type Thread struct {
	TID int
	Stat
}

// Threads returns the threads of process pid, the main thread (TID pid)
// among them, as /proc/PID/task shows them. A thread that exits while they
// are read is left out, and a process that is gone has none (nil, nil).
// When a read fails for another reason (no descriptor left, say), Threads
// returns what it could read and the errors: threads may be missing.
func Threads(pid int) ([]Thread, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task/"
	ents, err := os.ReadDir(dir)
	if err != nil {
		if gone(err) {
			return nil, nil
		}
		return nil, err
	}
	var threads []Thread
	var errs []error
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			errs = append(errs, fmt.Errorf("proc: %s%s: not a thread id", dir, e.Name()))
			continue
		}
		st, err := readStat(dir + e.Name() + "/stat")
		switch {
		case err == nil:
			threads = append(threads, Thread{TID: tid, Stat: st})
		case !gone(err):
			errs = append(errs, err)
		}
	}
	return threads, errors.Join(errs...)
}

// gone reports whether a failed read of /proc failed because the process or
// thread no longer exists.
func gone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH)
}
