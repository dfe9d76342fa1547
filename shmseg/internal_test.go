//go:build linux && (amd64 || arm64)

package shmseg

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// Lines as Linux 6.x prints them: a marked segment (perms 1600), a locked
// one (2644) and one never attached.
const procSample = `       key      shmid perms                  size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime                   rss                  swap
1584009780          5  1600                 10000 12288 12289      2     0     0     0     0 1795400715          0 1795400714                  8192                     0
        -1         32  2644                  4096   100   100      0  1000  1001  1002  1003          0 1795400716 1795400713                  4096                  4096
         0      32770   600               2097152   101     0      0     0     0     0     0          0          0 1795400712                     0                     0
`

func TestParseList(t *testing.T) {
	infos, err := parseList(strings.NewReader(procSample))
	require.NoError(t, err)
	require.Equal(t, []Info{
		{
			Key: 0x5e6a1234, ID: 5, Size: 10000, Mode: 0o600,
			CPID: 12288, LPID: 12289, Nattch: 2,
			Atime: time.Unix(1795400715, 0), Ctime: time.Unix(1795400714, 0),
			Removed: true, RSS: 8192,
		},
		{
			Key: -1, ID: 32, Size: 4096, Mode: 0o644,
			UID: 1000, GID: 1001, CUID: 1002, CGID: 1003, CPID: 100, LPID: 100,
			Dtime: time.Unix(1795400716, 0), Ctime: time.Unix(1795400713, 0),
			Locked: true, RSS: 4096, Swap: 4096,
		},
		{
			Key: IPCPrivate, ID: 32770, Size: 2097152, Mode: 0o600, CPID: 101,
			Ctime: time.Unix(1795400712, 0),
		},
	}, infos)
}

func TestParseListOldKernel(t *testing.T) {
	// Before rss and swap, and with columns in another order: found by name.
	const old = `       key      shmid perms       size  cpid  lpid nattch   uid   gid  cuid  cgid      atime      dtime      ctime
         0          7   666       4096     1     2      3     4     5     6     7          8          9         10
`
	infos, err := parseList(strings.NewReader(old))
	require.NoError(t, err)
	require.Equal(t, []Info{{
		ID: 7, Size: 4096, Mode: 0o666, CPID: 1, LPID: 2, Nattch: 3,
		UID: 4, GID: 5, CUID: 6, CGID: 7,
		Atime: time.Unix(8, 0), Dtime: time.Unix(9, 0), Ctime: time.Unix(10, 0),
	}}, infos)

	infos, err = parseList(strings.NewReader("key shmid size\n"))
	require.NoError(t, err)
	require.Empty(t, infos)
}

func TestParseListErrors(t *testing.T) {
	for _, tt := range []struct{ name, text, msg string }{
		{"empty", "", "no header line"},
		{"no size column", "key shmid perms\n1 2 600\n", `no column "size"`},
		{"short line", "key shmid size nattch\n1 2 3\n", `line 2 "1 2 3": no value for column "nattch"`},
		{"bad number", "key shmid size\n1 x 3\n", `column "shmid"`},
		{"bad perms", "key shmid size perms\n1 2 3 999\n", `column "perms"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseList(strings.NewReader(tt.text))
			require.ErrorContains(t, err, tt.msg)
		})
	}
}

// The real file parses, whatever is in it.
func TestListParsesProc(t *testing.T) {
	if _, err := os.Stat(procFile); err != nil {
		t.Skipf("%v", err)
	}
	_, err := List()
	require.NoError(t, err)
}

func TestErrorWithoutSentinel(t *testing.T) {
	err := sysErr(opAttach, 0x5e7a0001, 3, 0, unix.EFAULT)
	require.EqualError(t, err, "shmseg: attach id 3 key 0x5e7a0001: bad address (EFAULT)")
	require.ErrorIs(t, err, unix.EFAULT)
	require.Equal(t, []error{unix.EFAULT}, err.Unwrap())

	other := errors.New("something else")
	err = sysErr(opStat, 0, 4, 0, other)
	require.ErrorIs(t, err, other)
	require.EqualError(t, err, "shmseg: stat id 4: something else")
}

func TestErrnoSentinels(t *testing.T) {
	for _, tt := range []struct {
		op       string
		errno    unix.Errno
		sentinel error
	}{
		{opCreate, unix.EEXIST, ErrExist},
		{opOpen, unix.ENOENT, ErrNotExist},
		{opAttach, unix.EIDRM, ErrNotExist},
		{opAttach, unix.EINVAL, ErrNotExist},
		{opStat, unix.EINVAL, ErrNotExist},
		{opRemove, unix.EINVAL, ErrNotExist},
		{opCreate, unix.EINVAL, ErrTooLarge},
		{opOpen, unix.EINVAL, ErrTooLarge},
		{opAttach, unix.EACCES, ErrPermission},
		{opRemove, unix.EPERM, ErrPermission},
		{opCreate, unix.ENOSPC, ErrNoSpace},
		{opCreate, unix.ENOMEM, ErrNoSpace},
		{opAttach, unix.ENOMEM, ErrNoSpace},
	} {
		err := sysErr(tt.op, 0, 0, 0, tt.errno)
		require.ErrorIs(t, err, tt.sentinel, "%s %v", tt.op, tt.errno)
		require.ErrorIs(t, err, tt.errno, "%s %v", tt.op, tt.errno)
	}
}
