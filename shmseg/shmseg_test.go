//go:build linux && (amd64 || arm64)

package shmseg_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/shmseg"
)

// childTimeout bounds every child process; they take milliseconds.
const childTimeout = 20 * time.Second

// testKey returns a key no segment uses now, in the tests' range.
func testKey(t *testing.T) shmseg.Key {
	t.Helper()
	return shmseg.Key(shmtest.Key(t))
}

// create makes a segment and removes it when the test ends, unless the test
// removed it first.
func create(t *testing.T, key shmseg.Key, size int, opts *shmseg.CreateOptions) shmseg.ID {
	t.Helper()
	id, err := shmseg.Create(key, size, opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		info, err := shmseg.Stat(id)
		if err != nil || info.Removed || info.Key != key {
			return // gone, marked, or the id names another segment now
		}
		if err := shmseg.Remove(id); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return id
}

// attach attaches id and detaches it when the test ends, unless the test
// detached it first.
func attach(t *testing.T, id shmseg.ID, opts *shmseg.AttachOptions) *shmseg.Segment {
	t.Helper()
	seg, err := shmseg.Attach(id, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = seg.Detach() })
	return seg
}

func bytesOf(t *testing.T, seg *shmseg.Segment) []byte {
	t.Helper()
	b, err := seg.Bytes()
	require.NoError(t, err)
	return b
}

// listed returns the entry of List for id, or nil.
func listed(t *testing.T, id shmseg.ID) *shmseg.Info {
	t.Helper()
	infos, err := shmseg.List()
	require.NoError(t, err)
	for i := range infos {
		if infos[i].ID == id {
			return &infos[i]
		}
	}
	return nil
}

// child returns the command that runs the test binary as a child in role,
// killed after childTimeout or at the end of the test.
func child(t *testing.T, role string, args ...string) *exec.Cmd {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), childTimeout)
	t.Cleanup(cancel)
	cmd := shmtest.Child(t, ctx, role, args...)
	// A binary built with -race sleeps 1s at exit waiting for late race
	// reports; a child has no goroutines left to report.
	cmd.Env = append(cmd.Env, "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	return cmd
}

func TestKeyString(t *testing.T) {
	require.Equal(t, "0x00000000", shmseg.IPCPrivate.String())
	require.Equal(t, "0x5e7a1234", shmseg.Key(0x5e7a1234).String())
	require.Equal(t, "0xffffffff", shmseg.Key(-1).String())
	require.Equal(t, "0x80000000", shmseg.Key(-1<<31).String())
}

func TestRoundTrip(t *testing.T) {
	shmtest.NoLeaks(t)
	key := testKey(t)
	const size = 10000 // not a multiple of the page size: the kernel keeps it exact
	// The kernel's seconds come from the tick-updated coarse clock, which
	// may lag time.Now a little.
	start := time.Now().Add(-time.Second).Truncate(time.Second)

	id := create(t, key, size, nil)
	got, err := shmseg.Open(key)
	require.NoError(t, err)
	require.Equal(t, id, got, "Open finds the segment Create made")

	a := attach(t, id, nil)
	b := attach(t, id, nil)
	require.Equal(t, id, a.ID())
	require.Equal(t, key, a.Key())
	require.Equal(t, size, a.Size())
	require.False(t, a.ReadOnly())

	ab, bb := bytesOf(t, a), bytesOf(t, b)
	require.Len(t, ab, size)
	require.Equal(t, size, cap(ab))
	require.NotSame(t, &ab[0], &bb[0], "two attaches are two mappings")
	require.Equal(t, make([]byte, size), bb, "a new segment reads as zeros")
	copy(ab[size-5:], "hello")
	require.Equal(t, "hello", string(bb[size-5:]), "a write through one mapping shows in the other")

	info, err := a.Stat()
	require.NoError(t, err)
	require.Equal(t, key, info.Key)
	require.Equal(t, id, info.ID)
	require.Equal(t, uint64(size), info.Size)
	require.Equal(t, os.FileMode(0o600), info.Mode, "default mode")
	require.Equal(t, uint32(os.Geteuid()), info.UID)
	require.Equal(t, uint32(os.Getegid()), info.GID)
	require.Equal(t, uint32(os.Geteuid()), info.CUID)
	require.Equal(t, uint32(os.Getegid()), info.CGID)
	require.Equal(t, os.Getpid(), info.CPID)
	require.Equal(t, os.Getpid(), info.LPID)
	require.Equal(t, uint64(2), info.Nattch)
	require.False(t, info.Ctime.Before(start), "ctime %v before the test started at %v", info.Ctime, start)
	require.False(t, info.Atime.Before(info.Ctime), "atime %v before ctime %v", info.Atime, info.Ctime)
	require.True(t, info.Dtime.IsZero(), "never detached, dtime is %v", info.Dtime)
	require.False(t, info.Removed)
	require.False(t, info.Locked)
	require.Zero(t, info.RSS, "Stat does not know RSS")

	fromStat, err := shmseg.Stat(id)
	require.NoError(t, err)
	require.Equal(t, info, fromStat, "Segment.Stat and Stat agree")

	l := listed(t, id)
	require.NotNil(t, l, "List shows the segment")
	rss := l.RSS
	require.NotZero(t, rss, "a page was written")
	require.LessOrEqual(t, rss, uint64(3*os.Getpagesize()))
	l.RSS, l.Swap = 0, 0
	require.Equal(t, *info, *l, "List and Stat agree")

	// Remove while attached only marks the segment and releases the key.
	require.NoError(t, a.Remove())
	info, err = shmseg.Stat(id)
	require.NoError(t, err)
	require.True(t, info.Removed)
	require.Equal(t, shmseg.IPCPrivate, info.Key, "a marked segment has no key")
	require.Equal(t, uint64(2), info.Nattch)
	l = listed(t, id)
	require.NotNil(t, l)
	require.True(t, l.Removed)
	_, err = shmseg.Open(key)
	require.ErrorIs(t, err, shmseg.ErrNotExist)
	reuse := create(t, key, 4096, nil)
	require.NotEqual(t, id, reuse, "the key is free for a new segment")
	require.NoError(t, shmseg.Remove(reuse))

	// A marked segment can still be attached by id (a Linux extension).
	c := attach(t, id, nil)
	require.Equal(t, shmseg.IPCPrivate, c.Key())
	require.Equal(t, "hello", string(bytesOf(t, c)[size-5:]))
	require.NoError(t, c.Detach())

	// The memory works until the last detach.
	ab[0] = 'x'
	require.Equal(t, byte('x'), bb[0])
	require.NoError(t, a.Detach())
	info, err = shmseg.Stat(id)
	require.NoError(t, err)
	require.Equal(t, uint64(1), info.Nattch)
	require.False(t, info.Dtime.IsZero())
	require.NoError(t, b.Detach())

	_, err = shmseg.Stat(id)
	require.ErrorIs(t, err, shmseg.ErrNotExist, "the last detach freed the marked segment")
	require.Nil(t, listed(t, id))
	require.ErrorIs(t, b.Remove(), shmseg.ErrNotExist)
	require.ErrorIs(t, a.Remove(), shmseg.ErrNotExist)
	require.ErrorIs(t, shmseg.Remove(id), shmseg.ErrNotExist)
}

func TestCreatePrivate(t *testing.T) {
	shmtest.NoLeaks(t)
	id1 := create(t, shmseg.IPCPrivate, 4096, &shmseg.CreateOptions{Mode: 0o640})
	id2 := create(t, shmseg.IPCPrivate, 4096, &shmseg.CreateOptions{})
	require.NotEqual(t, id1, id2, "IPC_PRIVATE makes a new segment each time")

	info, err := shmseg.Stat(id1)
	require.NoError(t, err)
	require.Equal(t, shmseg.IPCPrivate, info.Key)
	require.Equal(t, os.FileMode(0o640), info.Mode)
	info, err = shmseg.Stat(id2)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode, "Mode 0 means 0600")

	seg := attach(t, id1, nil)
	require.Equal(t, shmseg.IPCPrivate, seg.Key())
	require.NoError(t, seg.Remove())
	require.NoError(t, shmseg.Remove(id2))
}

func TestTwoProcesses(t *testing.T) {
	shmtest.NoLeaks(t)
	key := testKey(t)
	id := create(t, key, 4096, nil)
	seg := attach(t, id, nil)

	const msg = "hello-from-the-child"
	cmd := child(t, roleWrite, key.String(), msg)
	require.NoError(t, cmd.Run())

	require.Equal(t, msg, string(bytesOf(t, seg)[:len(msg)]))
	info, err := seg.Stat()
	require.NoError(t, err)
	require.Equal(t, cmd.Process.Pid, info.LPID, "the child detached last")
	require.Equal(t, uint64(1), info.Nattch, "the child's attach is gone")
	require.NoError(t, seg.Remove())
}

// A segment marked for removal goes when the last process detaches, also
// when that process is killed.
func TestKilledProcessDetaches(t *testing.T) {
	shmtest.NoLeaks(t)
	id := create(t, shmseg.IPCPrivate, 4096, nil)

	cmd := child(t, roleHold, strconv.Itoa(int(id)))
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "attached\n", line)

	require.NoError(t, shmseg.Remove(id))
	info, err := shmseg.Stat(id)
	require.NoError(t, err)
	require.True(t, info.Removed)
	require.Equal(t, uint64(1), info.Nattch)

	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	require.Eventually(t, func() bool {
		_, err := shmseg.Stat(id)
		return errors.Is(err, shmseg.ErrNotExist)
	}, 2*time.Second, 10*time.Millisecond, "the kernel frees the segment when its last user dies")
}

func TestReadOnly(t *testing.T) {
	shmtest.NoLeaks(t)
	id := create(t, shmseg.IPCPrivate, 4096, nil)
	rw := attach(t, id, nil)
	ro := attach(t, id, &shmseg.AttachOptions{ReadOnly: true})
	require.True(t, ro.ReadOnly())
	bytesOf(t, rw)[0] = 'A'
	require.Equal(t, byte('A'), bytesOf(t, ro)[0], "a read-only mapping sees writes")

	// Writing through a read-only mapping must kill the writer.
	cmd := child(t, roleROWrite, strconv.Itoa(int(id)))
	out, err := cmd.Output()
	require.Equal(t, "read \"A\"\n", string(out), "the child attached and read")
	var exitErr *exec.ExitError
	require.ErrorAs(t, err, &exitErr, "the child must die")
	ws, ok := exitErr.Sys().(syscall.WaitStatus)
	require.True(t, ok)
	require.True(t, ws.Signaled(), "child exited with status %d instead of dying by a signal", ws.ExitStatus())
	require.Equal(t, syscall.SIGSEGV, ws.Signal())
	require.Equal(t, byte('A'), bytesOf(t, rw)[0], "the write did not happen")
	require.NoError(t, rw.Remove())
}

func TestDetached(t *testing.T) {
	shmtest.NoLeaks(t)
	key := testKey(t)
	id := create(t, key, 4096, nil)
	seg, err := shmseg.Attach(id, nil)
	require.NoError(t, err)
	require.NoError(t, seg.Detach())

	b, err := seg.Bytes()
	require.ErrorIs(t, err, shmseg.ErrDetached)
	require.Nil(t, b)
	_, err = seg.Stat()
	require.ErrorIs(t, err, shmseg.ErrDetached)
	err = seg.Detach()
	require.ErrorIs(t, err, shmseg.ErrDetached)
	require.EqualError(t, err, "shmseg: detach id "+strconv.Itoa(int(id))+" key "+key.String()+": segment detached")

	// What needs no mapping still works.
	require.Equal(t, id, seg.ID())
	require.Equal(t, key, seg.Key())
	require.Equal(t, 4096, seg.Size())
	info, err := shmseg.Stat(id)
	require.NoError(t, err)
	require.Zero(t, info.Nattch, "detaching leaves the segment")
	require.NoError(t, seg.Remove(), "Remove works after Detach")
	_, err = shmseg.Stat(id)
	require.ErrorIs(t, err, shmseg.ErrNotExist, "with nobody attached, IPC_RMID frees at once")
}

// Segment.Remove after Detach of a segment someone else removed.
func TestRemoveAfterOthersRemove(t *testing.T) {
	shmtest.NoLeaks(t)
	key := testKey(t)
	id := create(t, key, 4096, nil)
	seg, err := shmseg.Attach(id, nil)
	require.NoError(t, err)
	require.NoError(t, seg.Detach())
	require.NoError(t, shmseg.Remove(id))
	require.ErrorIs(t, seg.Remove(), shmseg.ErrNotExist)
}

func TestDoubleRemove(t *testing.T) {
	shmtest.NoLeaks(t)

	// Attached: the first Remove marks, the second finds it marked.
	id := create(t, shmseg.IPCPrivate, 4096, nil)
	seg := attach(t, id, nil)
	require.NoError(t, seg.Remove())
	err := seg.Remove()
	require.ErrorIs(t, err, shmseg.ErrNotExist)
	require.ErrorContains(t, err, "already removed")
	err = shmseg.Remove(id)
	require.ErrorIs(t, err, shmseg.ErrNotExist)
	require.ErrorContains(t, err, "already marked for removal")

	// Not attached: the first Remove frees, the second finds nothing.
	id = create(t, shmseg.IPCPrivate, 4096, nil)
	require.NoError(t, shmseg.Remove(id))
	err = shmseg.Remove(id)
	require.ErrorIs(t, err, shmseg.ErrNotExist)
	require.ErrorIs(t, err, unix.EINVAL)
}

// Bytes, Stat and Detach from many goroutines: each Bytes returns the
// mapping or ErrDetached, exactly one Detach succeeds, nothing crashes. Run
// with -race.
func TestConcurrentDetach(t *testing.T) {
	shmtest.NoLeaks(t)
	id := create(t, shmseg.IPCPrivate, 4096, nil)
	seg := attach(t, id, nil)
	require.NoError(t, seg.Remove())

	const workers = 8
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		detaches int
	)
	start := make(chan struct{})
	for i := range workers {
		wg.Go(func() {
			<-start
			for j := range 200 {
				if b, err := seg.Bytes(); err != nil {
					if !errors.Is(err, shmseg.ErrDetached) {
						t.Errorf("Bytes: %v", err)
						return
					}
				} else if len(b) != 4096 {
					t.Errorf("Bytes: length %d", len(b))
					return
				}
				if _, err := seg.Stat(); err != nil && !errors.Is(err, shmseg.ErrDetached) {
					t.Errorf("Stat: %v", err)
					return
				}
				if j == 100+i {
					err := seg.Detach()
					if err == nil {
						mu.Lock()
						detaches++
						mu.Unlock()
					} else if !errors.Is(err, shmseg.ErrDetached) {
						t.Errorf("Detach: %v", err)
						return
					}
				}
			}
		})
	}
	close(start)
	wg.Wait()
	require.Equal(t, 1, detaches)
	_, err := seg.Bytes()
	require.ErrorIs(t, err, shmseg.ErrDetached)
}

// TestSetOwner hands a 0600 segment to another user: the owner changes, the
// creator and the mode stay. Changing the owner to another uid needs root.
func TestSetOwner(t *testing.T) {
	shmtest.NoLeaks(t)
	id := create(t, shmseg.IPCPrivate, 4096, nil)
	uid, gid := os.Geteuid(), os.Getegid()
	if uid == 0 {
		uid, gid = 65534, 65534 // nobody
	}
	require.NoError(t, shmseg.SetOwner(id, uid, gid))
	info, err := shmseg.Stat(id)
	require.NoError(t, err)
	require.Equal(t, uint32(uid), info.UID)
	require.Equal(t, uint32(gid), info.GID)
	require.Equal(t, uint32(os.Geteuid()), info.CUID, "the creator stays")
	require.Equal(t, os.FileMode(0o600), info.Mode)

	require.ErrorIs(t, shmseg.SetOwner(-1, 0, 0), shmseg.ErrInvalid)
	require.ErrorIs(t, shmseg.SetOwner(id, -1, 0), shmseg.ErrInvalid)
	require.NoError(t, shmseg.Remove(id))
	require.ErrorIs(t, shmseg.SetOwner(id, uid, gid), shmseg.ErrNotExist)
}
