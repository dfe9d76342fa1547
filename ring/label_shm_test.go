package ring_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

// TestLabelShared: a label set at Create comes back through every way of
// reading a shared ring's header: Stats of the creating handle, of an
// Open by key, of a read-only OpenID, and Inspect of the segment's bytes;
// and through OpenID of a private ring, the way "shmring ls" reads the
// rings of package conn. A bad label fails Create before any segment is
// made.
func TestLabelShared(t *testing.T) {
	shmtest.NoLeaks(t)
	const label = "conn:kv/s2c"
	r, key := shmRing(t, ring.Config{SlotSize: 64, Slots: 16, Label: label})
	require.Equal(t, label, r.Stats().Label)

	o, err := ring.Open(key, ring.Options{})
	require.NoError(t, err)
	require.Equal(t, label, o.Stats().Label)
	require.NoError(t, o.Close())

	ro, err := ring.OpenID(r.Segment().ID(), ring.Options{ReadOnly: true})
	require.NoError(t, err)
	require.Equal(t, label, ro.Stats().Label)
	seg, err := ro.Segment().Bytes()
	require.NoError(t, err)
	info, err := ring.Inspect(seg)
	require.NoError(t, err)
	require.Equal(t, label, info.Label)
	require.Equal(t, ring.VersionMinor, info.Minor)
	require.NoError(t, ro.Close())

	p, err := ring.CreatePrivate(ring.Config{SlotSize: 64, Slots: 16, Label: "conn:kv/c2s"})
	require.NoError(t, err)
	pro, err := ring.OpenID(p.Segment().ID(), ring.Options{ReadOnly: true})
	require.NoError(t, err)
	require.Equal(t, "conn:kv/c2s", pro.Stats().Label)
	require.NoError(t, pro.Close())
	require.NoError(t, p.Close())

	bad := shmseg.Key(shmtest.Key(t))
	_, err = ring.Create(bad, ring.Config{SlotSize: 64, Slots: 16, Label: strings.Repeat("x", 64)})
	require.ErrorIs(t, err, ring.ErrLabel)
	require.ErrorContains(t, err, "64 bytes, at most 63")
	_, err = shmseg.Open(bad)
	require.ErrorIs(t, err, shmseg.ErrNotExist, "a refused Config makes no segment")
	_, err = ring.CreatePrivate(ring.Config{Label: "a\x00b"})
	require.ErrorIs(t, err, ring.ErrLabel)
}
