//go:build linux && (amd64 || arm64)

package shmseg_test

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/shmseg"
)

// Child roles: the test binary re-executed by shmtest.Child runs one of these
// instead of the tests. A child reports on stdout and by its exit code.
const (
	roleWrite   = "write"    // args: key text; writes text at offset 0
	roleHold    = "hold"     // args: id; attaches, says "attached", waits to be killed
	rolePerm    = "perm"     // args: key id-0600 id-0644; reports what it may do
	roleLimits  = "limits"   // no args; lowers shmmax and shmmni in its own IPC namespace
	roleROWrite = "ro-write" // args: id; attaches read-only and writes
	roleReuse   = "reuse"    // no args; makes the kernel reuse an id in its own IPC namespace
)

func TestMain(m *testing.M) { shmtest.Main(m.Run, childRoles.Play) }

var childRoles = shmtest.Roles{
	roleWrite:   childWrite,
	roleHold:    childHold,
	rolePerm:    childPerm,
	roleLimits:  func([]string) error { return childLimits() },
	roleROWrite: childROWrite,
	roleReuse:   func([]string) error { return childReuse() },
}

// outcome names how an operation ended, for a child to report to its
// parent: "ok", the sentinel and the errno ("ErrPermission/EACCES"), or the
// whole error when it wraps no sentinel.
func outcome(err error) string {
	if err == nil {
		return "ok"
	}
	sentinels := []struct {
		name string
		err  error
	}{
		{"ErrExist", shmseg.ErrExist},
		{"ErrNotExist", shmseg.ErrNotExist},
		{"ErrPermission", shmseg.ErrPermission},
		{"ErrTooLarge", shmseg.ErrTooLarge},
		{"ErrNoSpace", shmseg.ErrNoSpace},
		{"ErrHugePages", shmseg.ErrHugePages},
		{"ErrDetached", shmseg.ErrDetached},
		{"ErrInvalid", shmseg.ErrInvalid},
	}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			var errno unix.Errno
			if errors.As(err, &errno) {
				return s.name + "/" + unix.ErrnoName(errno)
			}
			return s.name
		}
	}
	return "other: " + err.Error()
}

func parseKey(s string) (shmseg.Key, error) {
	v, err := strconv.ParseInt(s, 0, 64)
	return shmseg.Key(v), err
}

func parseID(s string) (shmseg.ID, error) {
	v, err := strconv.Atoi(s)
	return shmseg.ID(v), err
}

func childWrite(args []string) error {
	if len(args) != 2 {
		return fmt.Errorf("want key and text, got %q", args)
	}
	key, err := parseKey(args[0])
	if err != nil {
		return err
	}
	id, err := shmseg.Open(key)
	if err != nil {
		return err
	}
	seg, err := shmseg.Attach(id, nil)
	if err != nil {
		return err
	}
	b, err := seg.Bytes()
	if err != nil {
		return err
	}
	copy(b, args[1])
	return seg.Detach()
}

func childHold(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("want id, got %q", args)
	}
	id, err := parseID(args[0])
	if err != nil {
		return err
	}
	if _, err := shmseg.Attach(id, nil); err != nil {
		return err
	}
	fmt.Println("attached")
	// The parent kills us: the kernel detaches what a dead process had
	// attached.
	time.Sleep(time.Minute)
	return errors.New("not killed")
}

func childPerm(args []string) error {
	if len(args) != 3 {
		return fmt.Errorf("want key, id of a 0600 and id of a 0644 segment, got %q", args)
	}
	key, err := parseKey(args[0])
	if err != nil {
		return err
	}
	priv, err := parseID(args[1])
	if err != nil {
		return err
	}
	pub, err := parseID(args[2])
	if err != nil {
		return err
	}
	var out []string
	report := func(what string, err error) { out = append(out, what+"="+outcome(err)) }

	id, err := shmseg.Open(key)
	if err == nil && id != priv {
		err = fmt.Errorf("open found id %d, want %d", id, priv)
	}
	report("open", err)
	_, err = shmseg.Attach(priv, nil)
	report("attach", err)
	_, err = shmseg.Attach(priv, &shmseg.AttachOptions{ReadOnly: true})
	report("attach-ro", err)
	_, err = shmseg.Stat(priv)
	report("stat", err)
	err = shmseg.Remove(priv)
	report("remove", err)

	// Unprivileged huge pages count against RLIMIT_MEMLOCK: at 0 the
	// kernel refuses them (EPERM) before looking for free huge pages.
	if err := unix.Setrlimit(unix.RLIMIT_MEMLOCK, &unix.Rlimit{}); err != nil {
		return err
	}
	huge, err := shmseg.Create(shmseg.IPCPrivate, 2<<20, &shmseg.CreateOptions{HugePages: true})
	report("create-huge", err)
	if err == nil {
		_ = shmseg.Remove(huge)
	} else if !strings.HasSuffix(err.Error(), "/proc/sys/vm/hugetlb_shm_group") {
		return fmt.Errorf("message does not point to hugetlb_shm_group: %v", err)
	}

	_, err = shmseg.Attach(pub, nil)
	report("attach-0644", err)
	seg, err := shmseg.Attach(pub, &shmseg.AttachOptions{ReadOnly: true})
	report("attach-ro-0644", err)
	if err == nil {
		report("detach-0644", seg.Detach())
	}
	fmt.Println(strings.Join(out, " "))
	return nil
}

func childLimits() error {
	// Only this process's IPC namespace sees these values.
	for file, value := range map[string]string{
		"/proc/sys/kernel/shmmax": "8192",
		"/proc/sys/kernel/shmmni": "1",
	} {
		if err := os.WriteFile(file, []byte(value), 0); err != nil {
			return err
		}
	}
	var out []string
	report := func(what string, err error) { out = append(out, what+"="+outcome(err)) }

	_, err := shmseg.Create(shmseg.IPCPrivate, 65536, nil)
	report("create-65536", err)
	_, err = shmseg.Create(shmseg.IPCPrivate, 8193, nil)
	report("create-8193", err)
	first, err := shmseg.Create(shmseg.IPCPrivate, 8192, nil)
	report("create-8192", err)
	if err == nil {
		defer func() { _ = shmseg.Remove(first) }()
	}
	_, err = shmseg.Create(shmseg.IPCPrivate, 4096, nil)
	report("create-second", err)
	if err != nil {
		out = append(out, "msg="+strconv.Quote(err.Error()))
	}
	fmt.Println(strings.Join(out, " "))
	return nil
}

func childReuse() error {
	idA, err := shmseg.Create(0x5e7a0001, 4096, nil)
	if err != nil {
		return err
	}
	seg, err := shmseg.Attach(idA, nil)
	if err != nil {
		return err
	}
	if err := seg.Detach(); err != nil {
		return err
	}
	if err := shmseg.Remove(idA); err != nil {
		return err
	}
	// Checkpoint/restore's knob: the next segment gets this id.
	next := []byte(strconv.Itoa(int(idA)))
	if err := os.WriteFile("/proc/sys/kernel/shm_next_id", next, 0); err != nil {
		return err
	}
	idB, err := shmseg.Create(0x5e7a0002, 4096, nil)
	if err != nil {
		return err
	}
	defer func() { _ = shmseg.Remove(idB) }()

	var out []string
	report := func(what string, err error) { out = append(out, what+"="+outcome(err)) }
	out = append(out, fmt.Sprintf("same-id=%v", idA == idB))
	err = seg.Remove()
	report("remove-a", err)
	if err != nil {
		out = append(out, "msg="+strconv.Quote(strings.TrimPrefix(err.Error(), fmt.Sprintf("shmseg: remove id %d ", idA))))
	}
	_, err = shmseg.Stat(idB)
	report("stat-b", err)
	fmt.Println(strings.Join(out, " "))
	return nil
}

func childROWrite(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("want id, got %q", args)
	}
	id, err := parseID(args[0])
	if err != nil {
		return err
	}
	seg, err := shmseg.Attach(id, &shmseg.AttachOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	b, err := seg.Bytes()
	if err != nil {
		return err
	}
	if err := dieBySignals(); err != nil {
		return err
	}
	fmt.Printf("read %q\n", b[:1])
	b[0] = 'X' // SIGSEGV: the page is mapped without write permission
	return errors.New("wrote to a read-only segment")
}

// dieBySignals makes a fault kill this process with SIGSEGV, as it would a C
// program. Go's runtime handles SIGSEGV itself: a fault at an address that
// is not nil-ish becomes "unexpected fault address" and exit status 2, and
// even debug.SetTraceback("crash") only makes it abort with SIGABRT (the
// runtime's crash() raises SIGABRT, checked on Go 1.26). So the handler is
// reset to SIG_DFL with a raw rt_sigaction(2); a zero struct sigaction is
// SIG_DFL with no flags and an empty mask on amd64 and arm64. Core dumps
// are turned off so that the crash leaves no file behind.
func dieBySignals() error {
	if err := unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}); err != nil {
		return err
	}
	var act [4]uint64 // handler, flags, restorer, mask: all zero is SIG_DFL
	_, _, errno := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(unix.SIGSEGV),
		uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0)
	if errno != 0 {
		return fmt.Errorf("rt_sigaction: %w", errno)
	}
	return nil
}
