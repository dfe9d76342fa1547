//go:build linux && (amd64 || arm64)

package shmseg_test

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/shmseg"
)

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (uid 0) to start a child with other credentials or in a new IPC namespace")
	}
}

func TestErrExist(t *testing.T) {
	shmtest.NoLeaks(t)
	key := testKey(t)
	create(t, key, 4096, nil)

	id, err := shmseg.Create(key, 4096, nil)
	require.Equal(t, shmseg.ID(-1), id)
	require.ErrorIs(t, err, shmseg.ErrExist)
	require.ErrorIs(t, err, unix.EEXIST)
	require.ErrorIs(t, err, fs.ErrExist, "the errno speaks io/fs too")
	require.EqualError(t, err, "shmseg: create key "+key.String()+" size 4096: segment exists (EEXIST)")

	var e *shmseg.Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, "create", e.Op)
	require.Equal(t, key, e.Key)
	require.Equal(t, 4096, e.Size)
	require.Equal(t, shmseg.ErrExist, e.Err)
	require.Equal(t, unix.EEXIST, e.Errno)

	// Create asks for a new segment: a different size changes nothing.
	_, err = shmseg.Create(key, 1, nil)
	require.ErrorIs(t, err, shmseg.ErrExist)
}

func TestErrNotExist(t *testing.T) {
	shmtest.NoLeaks(t)
	key := testKey(t)

	id, err := shmseg.Open(key)
	require.Equal(t, shmseg.ID(-1), id)
	require.ErrorIs(t, err, shmseg.ErrNotExist)
	require.ErrorIs(t, err, unix.ENOENT)
	require.EqualError(t, err, "shmseg: open key "+key.String()+": no such segment (ENOENT)")

	// An id that was valid and is gone: the kernel says EINVAL.
	id = create(t, key, 4096, nil)
	require.NoError(t, shmseg.Remove(id))
	_, err = shmseg.Attach(id, nil)
	require.ErrorIs(t, err, shmseg.ErrNotExist)
	require.ErrorIs(t, err, unix.EINVAL)
	require.EqualError(t, err, "shmseg: attach id "+strconv.Itoa(int(id))+": no such segment (EINVAL)")
	_, err = shmseg.Stat(id)
	require.ErrorIs(t, err, shmseg.ErrNotExist)
	require.ErrorIs(t, err, unix.EINVAL)
	err = shmseg.Remove(id)
	require.ErrorIs(t, err, shmseg.ErrNotExist)
	require.ErrorIs(t, err, unix.EINVAL)
}

// exposedExecutable copies the test binary where any user may run it: the go
// command builds it in a directory only its owner may enter.
func exposedExecutable(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	dir, err := os.MkdirTemp("", "shmseg-test-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))

	src, err := os.Open(exe)
	require.NoError(t, err)
	defer src.Close()
	path := filepath.Join(dir, "shmseg.test")
	dst, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	require.NoError(t, err)
	_, err = io.Copy(dst, src)
	require.NoError(t, err)
	require.NoError(t, dst.Close())
	return path
}

func TestErrPermission(t *testing.T) {
	requireRoot(t)
	shmtest.NoLeaks(t)
	key := testKey(t)
	priv := create(t, key, 4096, nil)                                             // 0600, root's
	pub := create(t, shmseg.IPCPrivate, 4096, &shmseg.CreateOptions{Mode: 0o644}) // others may read

	const nobody = 65534
	cmd := child(t, rolePerm, key.String(), strconv.Itoa(int(priv)), strconv.Itoa(int(pub)))
	cmd.Path = exposedExecutable(t)
	cmd.Dir = filepath.Dir(cmd.Path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	out, err := cmd.Output()
	require.NoError(t, err)

	require.Equal(t, strings.Join([]string{
		"open=ok", // a lookup by key checks no permission
		"attach=ErrPermission/EACCES",
		"attach-ro=ErrPermission/EACCES",
		"stat=ErrPermission/EACCES",
		"remove=ErrPermission/EPERM", // only the owner, the creator or root
		"create-huge=ErrPermission/EPERM",
		"attach-0644=ErrPermission/EACCES",
		"attach-ro-0644=ok",
		"detach-0644=ok",
	}, " ")+"\n", string(out))

	info, err := shmseg.Stat(priv)
	require.NoError(t, err)
	require.False(t, info.Removed, "the child could not remove it")
}

// nsChild runs the test binary as a child in role in a fresh IPC namespace
// of its own (CLONE_NEWIPC, as root), where it may change the limits in
// /proc/sys/kernel without touching the host's. Its segments cannot leak
// into ours: they die with its namespace. nsChild returns its output.
func nsChild(t *testing.T, role string) string {
	t.Helper()
	requireRoot(t)
	cmd := child(t, role)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWIPC}
	out, err := cmd.Output()
	if errors.Is(err, unix.EPERM) {
		t.Skipf("cannot create an IPC namespace here: %v", err)
	}
	require.NoError(t, err)
	return string(out)
}

// The host's limits are far too large to reach, so a child lowers them in
// its own IPC namespace.
func TestLimits(t *testing.T) {
	shmtest.NoLeaks(t)
	out := nsChild(t, roleLimits)
	require.Equal(t, strings.Join([]string{
		"create-65536=ErrTooLarge/EINVAL", // over shmmax (8192)
		"create-8193=ErrTooLarge/EINVAL",
		"create-8192=ok",
		"create-second=ErrNoSpace/ENOSPC", // over shmmni (1)
		`msg="shmseg: create key 0x00000000 size 4096: no space for segment (ENOSPC)"`,
	}, " ")+"\n", out)
}

// After Detach, Segment.Remove must not remove a new segment that got the
// old one's id. The kernel reuses ids only after many segments, so a child
// forces it in its own IPC namespace with /proc/sys/kernel/shm_next_id.
func TestRemoveAfterIDReuse(t *testing.T) {
	shmtest.NoLeaks(t)
	if _, err := os.Stat("/proc/sys/kernel/shm_next_id"); err != nil {
		t.Skipf("kernel without CONFIG_CHECKPOINT_RESTORE: %v", err)
	}
	out := nsChild(t, roleReuse)
	require.Regexp(t, `^`+regexp.QuoteMeta(strings.Join([]string{
		"same-id=true",
		"remove-a=ErrNotExist",
		`msg="key 0x5e7a0001: no such segment: id now names another segment (key 0x5e7a0002 size 4096 creator pid `,
	}, " "))+`\d+\)" stat-b=ok\n$`, out)
}

func TestErrHugePages(t *testing.T) {
	shmtest.NoLeaks(t)
	data, err := os.ReadFile("/proc/sys/vm/nr_hugepages")
	if err != nil {
		t.Skipf("no huge page support: %v", err)
	}
	if n := strings.TrimSpace(string(data)); n != "0" {
		t.Skipf("/proc/sys/vm/nr_hugepages is %s: this system has huge pages, so Create with HugePages may succeed; ErrHugePages is checked only where none are reserved", n)
	}
	id, err := shmseg.Create(shmseg.IPCPrivate, 2<<20, &shmseg.CreateOptions{HugePages: true})
	if err == nil {
		_ = shmseg.Remove(id)
		t.Fatal("Create with HugePages succeeded with /proc/sys/vm/nr_hugepages at 0")
	}
	require.ErrorIs(t, err, shmseg.ErrHugePages)
	require.ErrorIs(t, err, unix.ENOMEM)
	require.EqualError(t, err, "shmseg: create key 0x00000000 size 2097152: no huge pages available (ENOMEM): "+
		"the system has no huge pages reserved (/proc/sys/vm/nr_hugepages is 0)")
}

func TestBadArguments(t *testing.T) {
	shmtest.NoLeaks(t)
	key := testKey(t)
	call := func(f func() error) error { return f() }
	tests := []struct {
		name string
		err  error
		msg  string
	}{
		{"size 0", call(func() error { _, err := shmseg.Create(key, 0, nil); return err }),
			"shmseg: create key " + key.String() + ": invalid argument: size 0 is not positive"},
		{"negative size", call(func() error { _, err := shmseg.Create(key, -1, nil); return err }),
			"shmseg: create key " + key.String() + " size -1: invalid argument: size -1 is not positive"},
		{"mode not permissions", call(func() error {
			_, err := shmseg.Create(key, 4096, &shmseg.CreateOptions{Mode: os.ModeDir | 0o600})
			return err
		}), "shmseg: create key " + key.String() + " size 4096: invalid argument: mode drw------- (020000000600) has bits other than permissions"},
		{"open IPC_PRIVATE", call(func() error { _, err := shmseg.Open(shmseg.IPCPrivate); return err }),
			"shmseg: open key 0x00000000: invalid argument: key IPC_PRIVATE names no segment; use the segment's ID"},
		{"attach -1", call(func() error { _, err := shmseg.Attach(-1, nil); return err }),
			"shmseg: attach id -1: invalid argument: id -1 is negative"},
		{"stat -1", call(func() error { _, err := shmseg.Stat(-1); return err }),
			"shmseg: stat id -1: invalid argument: id -1 is negative"},
		{"remove -1", shmseg.Remove(-1),
			"shmseg: remove id -1: invalid argument: id -1 is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.ErrorIs(t, tt.err, shmseg.ErrInvalid)
			require.EqualError(t, tt.err, tt.msg)
			var errno unix.Errno
			require.NotErrorAs(t, tt.err, &errno, "no system call was made")
		})
	}
}
