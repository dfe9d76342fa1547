package reliability_test

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/reliability/internal/stream"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

// nobody is the user the permission tests run children as.
const nobody = 65534

// startPeerAs runs the helper program as user uid (and group uid).
func startPeerAs(t testing.TB, uid int, cmd string, key shmseg.Key, extra ...string) *proc {
	t.Helper()
	c := exec.Command(peerBinary(t), peerArgs(cmd, key, extra...)...)
	c.Dir = os.TempDir()
	c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	p := newProc(t, c)
	p.start(t)
	return p
}

// removeKey removes the segment at key, if any, when the test ends.
func removeKey(t testing.TB, key shmseg.Key) {
	t.Cleanup(func() {
		if id, err := shmseg.Open(key); err == nil {
			_ = shmseg.Remove(id)
		}
	})
}

// TestInsecure (RELIABILITY item 16): a ring that another user owns, or
// that every user may write, is refused with ErrInsecure unless the opener
// sets Options.AllowInsecure. ring.TestOpenErrors covers mode 0666 within
// one user; this covers two users, both ways: a ring made by uid 65534 and
// opened by root, and rings made by root and opened by uid 65534.
func TestInsecure(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: cannot run a child as another user (uid 65534)")
	}
	sz := stream.Upto(36)

	t.Run("owned-by-another-user", func(t *testing.T) {
		shmtest.NoLeaks(t)
		key := shmseg.Key(shmtest.Key(t))
		removeKey(t, key)
		// uid 65534 makes a 0600 ring and sends 100 messages into it.
		p := startPeerAs(t, nobody, "create", key, "-slotsize", "40", "-slots", "16", "-count", "100", "-max", "36")
		p.ready(t)
		id, err := shmseg.Open(key)
		require.NoError(t, err)
		info, err := shmseg.Stat(id)
		require.NoError(t, err)
		require.Equal(t, uint32(nobody), info.UID)
		require.Equal(t, os.FileMode(0o600), info.Mode)

		_, err = ring.Open(key, ring.Options{ReadyTimeout: 10 * time.Second})
		require.ErrorIs(t, err, ring.ErrInsecure)
		require.Contains(t, err.Error(), "owned by uid 65534, this process is uid 0")
		// Root may still look (read-only needs no trust: it claims nothing).
		ro, err := ring.Open(key, ring.Options{ReadOnly: true})
		require.NoError(t, err)
		require.NoError(t, ro.Close())

		r, err := ring.Open(key, ring.Options{AllowInsecure: true, ReadyTimeout: 10 * time.Second})
		require.NoError(t, err)
		rc := newReceiver(t, r, sz)
		rc.toEOF(time.Minute)
		require.Equal(t, uint64(100), rc.next)
		p.waitOK(t, time.Minute)
		require.NoError(t, r.Close()) // both closed: removed
		_, err = shmseg.Open(key)
		require.ErrorIs(t, err, shmseg.ErrNotExist)
	})

	t.Run("opened-by-another-user", func(t *testing.T) {
		shmtest.NoLeaks(t)
		// Root's 0600 ring: the kernel refuses uid 65534 outright.
		_, key := newRing(t, ring.Config{SlotSize: 40, Slots: 16})
		c := startPeerAs(t, nobody, "open", key)
		require.Contains(t, c.line(t, "open", time.Minute), "open ErrPermission")
		c.waitOK(t, time.Minute)

		// Root's 0666 ring: uid 65534 may attach it, and refuses it,
		// twice over (every user may write it, and root owns it).
		r, key := newRing(t, ring.Config{SlotSize: 40, Slots: 16, Mode: 0o666})
		c = startPeerAs(t, nobody, "open", key)
		l := c.line(t, "open", time.Minute)
		require.Contains(t, l, "open ErrInsecure")
		require.Contains(t, l, "lets every user write it")
		c.waitOK(t, time.Minute)

		// With AllowInsecure it works, and carries messages.
		c = startPeerAs(t, nobody, "open", key, "-insecure", "-count", "100", "-max", "36")
		require.Equal(t, "open ok", c.line(t, "open", time.Minute))
		s := newSender(t, r, sz)
		for range 100 {
			require.NoError(t, s.p.Send(t.Context(), s.sz.Put(s.buf, s.next)))
			s.next++
		}
		require.Equal(t, uint64(100), number(t, c.line(t, "done", time.Minute), 1))
		c.waitOK(t, time.Minute)
	})
}
