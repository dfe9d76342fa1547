package app

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

// roleSegment is the child role (shmtest.Child) that creates a segment and
// exits, so that the segment's creator is a process that is gone, as a
// creator killed inside ring.Create leaves it. Arguments: KEY SIZE FILL
// [MODE] (octal, default 0600).
const roleSegment = "segment"

// Fills of the segments roleSegment makes.
const (
	fillZero  = "zero"  // nothing written: killed between shmget and its header
	fillMagic = "magic" // magic and version written, state 0: killed while formatting
	fillFF    = "ff"    // first byte 0xff: another program's data
	fillJunk  = "junk"  // zero magic and state, a byte set further on
	fillState = "state" // magic, state with closed bits but not READY
	fillTail  = "tail"  // a zero header, a byte set after it
)

func fill(b []byte, how string) error {
	switch how {
	case fillZero:
	case fillMagic:
		binary.LittleEndian.PutUint64(b[ring.FieldOffset("magic"):], ring.Magic)
		binary.LittleEndian.PutUint16(b[ring.FieldOffset("major"):], ring.VersionMajor)
	case fillFF:
		b[0] = 0xff
	case fillJunk:
		b[100] = 0xff
	case fillState:
		binary.LittleEndian.PutUint64(b[ring.FieldOffset("magic"):], ring.Magic)
		binary.LittleEndian.PutUint32(b[ring.FieldOffset("state"):], 2) // PRODUCER_CLOSED
	case fillTail:
		b[ring.HeaderSize+10] = 1
	default:
		return fmt.Errorf("unknown fill %q", how)
	}
	return nil
}

// RunChild plays the child role of this test binary (shmtest.Main's play).
func RunChild(role string, args []string) error {
	if role != roleSegment || len(args) < 3 || len(args) > 4 {
		return fmt.Errorf("want role %q with KEY SIZE FILL [MODE], got %q %q", roleSegment, role, args)
	}
	key, err := ParseKey(args[0])
	if err != nil {
		return err
	}
	size, err := strconv.Atoi(args[1])
	if err != nil {
		return err
	}
	mode := uint64(0o600)
	if len(args) == 4 {
		if mode, err = strconv.ParseUint(args[3], 8, 32); err != nil {
			return err
		}
	}
	id, err := shmseg.Create(key, size, &shmseg.CreateOptions{Mode: os.FileMode(mode)})
	if err != nil {
		return err
	}
	if args[2] == fillZero {
		return nil // as shmget leaves it
	}
	seg, err := shmseg.Attach(id, nil)
	if err != nil {
		return err
	}
	b, err := seg.Bytes()
	if err == nil {
		err = fill(b, args[2])
	}
	if derr := seg.Detach(); err == nil {
		err = derr
	}
	return err
}

// segmentOfDeadCreator makes a segment of size bytes filled as how by a
// child process that has exited (and been waited for) when it returns;
// mode, if given, is its permission bits in octal. The segment is removed
// at the end of the test if it is still there.
func segmentOfDeadCreator(t *testing.T, size int, how string, mode ...string) (shmseg.Key, shmseg.ID, int) {
	t.Helper()
	key := shmseg.Key(shmtest.Key(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := shmtest.Child(t, ctx, roleSegment, append([]string{key.String(), strconv.Itoa(size), how}, mode...)...)
	require.NoError(t, cmd.Run())
	id, err := shmseg.Open(key)
	require.NoError(t, err)
	t.Cleanup(func() { _ = shmseg.Remove(id) })
	require.Equal(t, cmd.Process.Pid, stat(t, id).CPID)
	return key, id, cmd.Process.Pid
}

func stat(t *testing.T, id shmseg.ID) *shmseg.Info {
	t.Helper()
	info, err := shmseg.Stat(id)
	require.NoError(t, err)
	return info
}

// rmStaleOn runs rm -stale (-dry-run if dry, -zeroed if zeroed) over the
// one segment id only: this test runs in the machine's IPC namespace, next
// to other packages' tests, and must not judge their segments.
func rmStaleOn(t *testing.T, id shmseg.ID, dry, zeroed bool) string {
	t.Helper()
	var out, errOut bytes.Buffer
	o := &ops{stdout: &out, stderr: &errOut}
	require.NoError(t, o.rmStaleOf([]shmseg.Info{*stat(t, id)}, dry, zeroed))
	require.Empty(t, errOut.String())
	return out.String()
}

// shmring runs the shmring command in this process.
func shmring(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Shmring(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// segmentBytes returns a copy of the segment's bytes.
func segmentBytes(t *testing.T, id shmseg.ID) []byte {
	t.Helper()
	seg, err := shmseg.Attach(id, &shmseg.AttachOptions{ReadOnly: true})
	require.NoError(t, err)
	b, err := seg.Bytes()
	require.NoError(t, err)
	b = bytes.Clone(b)
	require.NoError(t, seg.Detach())
	return b
}

// TestRmStaleForeign: another program's segment of zeros, as "ipcmk -M
// 4096" leaves one (mode 0644, a page, its creator gone, nattch 0), is a
// ring's size and could be a ring whose creator died before its first
// store, but nothing proves it: rm -stale (and -dry-run) lists it with the
// command that removes it and leaves it, byte for byte. Only an explicit
// request removes it: rm -stale -zeroed, or that command, rm -force KEY.
func TestRmStaleForeign(t *testing.T) {
	shmtest.NoLeaks(t)
	key, id, pid := segmentOfDeadCreator(t, 4096, fillZero, "0644")
	info := stat(t, id)
	require.Equal(t, uint64(0), info.Nattch)
	require.Equal(t, "-rw-r--r--", info.Mode.String())

	listed := fmt.Sprintf("skip   %v (id %d): no ring magic (its header is zeros), creator pid %d gone: "+
		"a ring never initialised, or another program's segment; to remove it: shmring rm -force %v\n", key, id, pid, key)
	for _, dry := range []bool{false, true} {
		require.Equal(t, listed, rmStaleOn(t, id, dry, false), "dry run %v", dry)
		require.Equal(t, key, stat(t, id).Key)
		require.Equal(t, make([]byte, 4096), segmentBytes(t, id))
	}
	require.Equal(t, fmt.Sprintf("stale  %v (id %d): would remove (all zeros, creator pid %d gone)\n", key, id, pid),
		rmStaleOn(t, id, true, true))
	require.Equal(t, key, stat(t, id).Key)

	// rm KEY says it is not a ring; rm -force KEY removes it.
	code, _, errOut := shmring(t, "rm", key.String())
	require.Equal(t, 1, code)
	require.Contains(t, errOut, fmt.Sprintf("segment %v (id %d) is not a ring (no ring magic): not removed (-force removes it anyway)", key, id))
	code, out, errOut := shmring(t, "rm", "-force", key.String())
	require.Equal(t, 0, code, errOut)
	require.Equal(t, fmt.Sprintf("removed %v (id %d)\n", key, id), out)
	_, err := shmseg.Stat(id)
	require.ErrorIs(t, err, shmseg.ErrNotExist)

	code, _, _ = shmring(t, "rm", "-zeroed", key.String())
	require.Equal(t, 2, code, "-zeroed goes with -stale only")

	// -zeroed removes such a segment.
	key, id, pid = segmentOfDeadCreator(t, 4096, fillZero, "0644")
	require.Equal(t, fmt.Sprintf("removed %v (id %d): all zeros, creator pid %d gone\n", key, id, pid),
		rmStaleOn(t, id, false, true))
	_, err = shmseg.Stat(id)
	require.ErrorIs(t, err, shmseg.ErrNotExist)
}

// TestRmStaleUnfinished: rm -stale removes a ring whose creator died after
// its first store and before it published the header (RELIABILITY item
// 14), and only that: not one whose creator lives, not one that is
// attached, not one whose bytes or size are not those of a ring being
// made, and nothing with -dry-run. With -zeroed it removes a segment of
// zeros under the same conditions, and no other.
func TestRmStaleUnfinished(t *testing.T) {
	shmtest.NoLeaks(t)
	size, err := ring.SegmentSize(72, 64)
	require.NoError(t, err)

	removed := func(t *testing.T, how string, zeroed bool, what string) {
		key, id, pid := segmentOfDeadCreator(t, size, how)
		out := rmStaleOn(t, id, false, zeroed)
		require.Equal(t, fmt.Sprintf("removed %v (id %d): %s, creator pid %d gone\n", key, id, what, pid), out)
		_, err := shmseg.Stat(id)
		require.ErrorIs(t, err, shmseg.ErrNotExist)
	}
	t.Run("half-written header, creator gone", func(t *testing.T) { removed(t, fillMagic, false, "never initialised") })
	t.Run("half-written header, creator gone, -zeroed", func(t *testing.T) { removed(t, fillMagic, true, "never initialised") })
	t.Run("zeroed, creator gone, -zeroed", func(t *testing.T) { removed(t, fillZero, true, "all zeros") })

	t.Run("zeroed, creator alive", func(t *testing.T) {
		key := shmseg.Key(shmtest.Key(t))
		id, err := shmseg.Create(key, size, nil) // this process is the creator
		require.NoError(t, err)
		t.Cleanup(func() { _ = shmseg.Remove(id) })
		for _, zeroed := range []bool{false, true} {
			out := rmStaleOn(t, id, false, zeroed)
			require.Equal(t, fmt.Sprintf("keep   %v (id %d): never initialised, but creator pid %d is alive and may still be initialising it\n",
				key, id, os.Getpid()), out)
			require.Equal(t, key, stat(t, id).Key)
		}
	})

	attached := func(t *testing.T, how string, zeroed bool, what string) {
		key, id, pid := segmentOfDeadCreator(t, size, how)
		seg, err := shmseg.Attach(id, &shmseg.AttachOptions{ReadOnly: true})
		require.NoError(t, err)
		out := rmStaleOn(t, id, false, zeroed)
		require.NoError(t, seg.Detach())
		require.Equal(t, fmt.Sprintf("keep   %v (id %d): %s, creator pid %d gone, but attached 1 times\n", key, id, what, pid), out)
		require.Equal(t, key, stat(t, id).Key)
	}
	t.Run("half-written, creator gone, attached", func(t *testing.T) { attached(t, fillMagic, false, "never initialised") })
	t.Run("zeroed, creator gone, attached, -zeroed", func(t *testing.T) { attached(t, fillZero, true, "all zeros") })

	t.Run("dry run", func(t *testing.T) {
		key, id, pid := segmentOfDeadCreator(t, size, fillMagic)
		out := rmStaleOn(t, id, true, false)
		require.Equal(t, fmt.Sprintf("stale  %v (id %d): would remove (never initialised, creator pid %d gone)\n", key, id, pid), out)
		require.Equal(t, key, stat(t, id).Key)
	})

	// Not a ring being made, though the creator is gone and nobody is
	// attached: skipped, with -zeroed too, and its bytes are as they were.
	skipped := []struct {
		name, fill string
		size       int
		why        string
	}{
		{"first byte 0xff", fillFF, size, "not a ring"},
		{"zero magic, other bytes set", fillJunk, size, "neither zeros nor a ring's being made: magic 0x0, state 0x0"},
		{"magic, state not READY but not 0", fillState, size, "state 0x2"},
		{"zeroed, no ring's size", fillZero, ring.HeaderSize + 8, "1032 bytes is no ring's size"},
	}
	for _, sk := range skipped {
		t.Run(sk.name, func(t *testing.T) {
			key, id, _ := segmentOfDeadCreator(t, sk.size, sk.fill)
			want := make([]byte, sk.size)
			require.NoError(t, fill(want, sk.fill))
			for _, zeroed := range []bool{false, true} {
				out := rmStaleOn(t, id, false, zeroed)
				require.Regexp(t, fmt.Sprintf(`^skip   %v \(id %d\): not a ring.*\n$`, key, id), out)
				require.Contains(t, out, sk.why)
				require.Equal(t, key, stat(t, id).Key)
				require.True(t, bytes.Equal(want, segmentBytes(t, id)), "segment bytes changed")
			}
		})
	}
	t.Run("zero header, data after, -zeroed", func(t *testing.T) {
		key, id, _ := segmentOfDeadCreator(t, size, fillTail)
		out := rmStaleOn(t, id, false, true)
		require.Equal(t, fmt.Sprintf("skip   %v (id %d): not a ring (zeros in the header, data after it)\n", key, id), out)
		require.Equal(t, key, stat(t, id).Key)
	})
}
