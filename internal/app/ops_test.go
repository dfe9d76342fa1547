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

	"github.com/shmring/shmring/internal/shmtest"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

// roleSegment is the child role (shmtest.Child) that creates a segment and
// exits, so that the segment's creator is a process that is gone, as a
// creator killed inside ring.Create leaves it. Arguments: KEY SIZE FILL.
const roleSegment = "segment"

// Fills of the segments roleSegment makes.
const (
	fillZero  = "zero"  // nothing written: killed between shmget and its header
	fillMagic = "magic" // magic and version written, state 0: killed while formatting
	fillFF    = "ff"    // first byte 0xff: another program's data
	fillJunk  = "junk"  // zero magic and state, a byte set further on
	fillState = "state" // magic, state with closed bits but not READY
)

func fill(b []byte, how string) error {
	switch how {
	case fillZero:
	case fillMagic:
		binary.LittleEndian.PutUint64(b[0:], ring.Magic)
		binary.LittleEndian.PutUint16(b[8:], ring.VersionMajor)
	case fillFF:
		b[0] = 0xff
	case fillJunk:
		b[100] = 0xff
	case fillState:
		binary.LittleEndian.PutUint64(b[0:], ring.Magic)
		binary.LittleEndian.PutUint32(b[32:], 2)
	default:
		return fmt.Errorf("unknown fill %q", how)
	}
	return nil
}

// RunChild runs the child role of this test binary; TestMain calls it when
// shmtest.Role is set, and exits with its status.
func RunChild(role string, args []string) int {
	if err := runChild(role, args); err != nil {
		fmt.Fprintf(os.Stderr, "app test child %s: %v\n", role, err)
		return 1
	}
	return 0
}

func runChild(role string, args []string) error {
	if role != roleSegment || len(args) != 3 {
		return fmt.Errorf("want role %q with KEY SIZE FILL, got %q %q", roleSegment, role, args)
	}
	key, err := ParseKey(args[0])
	if err != nil {
		return err
	}
	size, err := strconv.Atoi(args[1])
	if err != nil {
		return err
	}
	id, err := shmseg.Create(key, size, nil)
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
// child process that has exited (and been waited for) when it returns. The
// segment is removed at the end of the test if it is still there.
func segmentOfDeadCreator(t *testing.T, size int, how string) (shmseg.Key, shmseg.ID, int) {
	t.Helper()
	key := shmseg.Key(shmtest.Key(t))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := shmtest.Child(t, ctx, roleSegment, key.String(), strconv.Itoa(size), how)
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

// rmStaleOn runs rm -stale over the one segment id only: this test runs in
// the machine's IPC namespace, next to other packages' tests, and must not
// judge their segments.
func rmStaleOn(t *testing.T, id shmseg.ID, dry bool) string {
	t.Helper()
	var out, errOut bytes.Buffer
	o := &ops{stdout: &out, stderr: &errOut}
	require.NoError(t, o.rmStaleOf([]shmseg.Info{*stat(t, id)}, dry))
	require.Empty(t, errOut.String())
	return out.String()
}

// TestRmStaleUnfinished: rm -stale removes a ring whose creator died before
// it published the header (RELIABILITY item 14), and only that: not one
// whose creator lives, not one that is attached, not one whose bytes or
// size are not those of a ring being made, and nothing with -dry-run.
func TestRmStaleUnfinished(t *testing.T) {
	shmtest.NoLeaks(t)
	size, err := ring.SegmentSize(72, 64)
	require.NoError(t, err)

	removed := func(t *testing.T, how string) {
		key, id, pid := segmentOfDeadCreator(t, size, how)
		out := rmStaleOn(t, id, false)
		require.Equal(t, fmt.Sprintf("removed %v (id %d): never initialised, creator pid %d gone\n", key, id, pid), out)
		_, err := shmseg.Stat(id)
		require.ErrorIs(t, err, shmseg.ErrNotExist)
	}
	t.Run("zeroed, creator gone", func(t *testing.T) { removed(t, fillZero) })
	t.Run("half-written header, creator gone", func(t *testing.T) { removed(t, fillMagic) })

	t.Run("zeroed, creator alive", func(t *testing.T) {
		key := shmseg.Key(shmtest.Key(t))
		id, err := shmseg.Create(key, size, nil) // this process is the creator
		require.NoError(t, err)
		t.Cleanup(func() { _ = shmseg.Remove(id) })
		out := rmStaleOn(t, id, false)
		require.Equal(t, fmt.Sprintf("keep   %v (id %d): never initialised, but creator pid %d is alive and may still be initialising it\n",
			key, id, os.Getpid()), out)
		require.Equal(t, key, stat(t, id).Key)
	})

	t.Run("zeroed, creator gone, attached", func(t *testing.T) {
		key, id, pid := segmentOfDeadCreator(t, size, fillZero)
		seg, err := shmseg.Attach(id, &shmseg.AttachOptions{ReadOnly: true})
		require.NoError(t, err)
		out := rmStaleOn(t, id, false)
		require.NoError(t, seg.Detach())
		require.Equal(t, fmt.Sprintf("keep   %v (id %d): never initialised, creator pid %d gone, but attached 1 times\n", key, id, pid), out)
		require.Equal(t, key, stat(t, id).Key)
	})

	t.Run("dry run", func(t *testing.T) {
		key, id, pid := segmentOfDeadCreator(t, size, fillZero)
		out := rmStaleOn(t, id, true)
		require.Equal(t, fmt.Sprintf("stale  %v (id %d): would remove (never initialised, creator pid %d gone)\n", key, id, pid), out)
		require.Equal(t, key, stat(t, id).Key)
	})

	// Not a ring being made, though the creator is gone and nobody is
	// attached: skipped, and its bytes are as they were.
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
			out := rmStaleOn(t, id, false)
			require.Regexp(t, fmt.Sprintf(`^skip   %v \(id %d\): not a ring.*\n$`, key, id), out)
			require.Contains(t, out, sk.why)
			require.Equal(t, key, stat(t, id).Key)
			seg, err := shmseg.Attach(id, &shmseg.AttachOptions{ReadOnly: true})
			require.NoError(t, err)
			b, err := seg.Bytes()
			require.NoError(t, err)
			want := make([]byte, len(b))
			require.NoError(t, fill(want, sk.fill))
			require.True(t, bytes.Equal(want, b), "segment bytes changed")
			require.NoError(t, seg.Detach())
		})
	}
}

func TestRingSized(t *testing.T) {
	for _, c := range []struct{ slotSize, slots int }{{8, 2}, {72, 64}, {72, 4096}, {1 << 20, 2}, {8, 1 << 20}, {ring.MaxSlotSize, 4}} {
		n, err := ring.SegmentSize(c.slotSize, c.slots)
		require.NoError(t, err)
		require.True(t, ringSized(uint64(n)), "%d x %d = %d", c.slotSize, c.slots, n)
	}
	for _, n := range []uint64{0, 1, 100, ring.HeaderSize, ring.HeaderSize + 8, ring.HeaderSize + 24, 4095, ring.HeaderSize + 1<<62} {
		require.False(t, ringSized(n), "%d", n)
	}
	require.True(t, ringSized(4096), "4096 = 1024 + 2 x 1536: a page is a ring's size")
}
