package conn_test

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/conn"
	"github.com/shmring/shmring/ring"
)

// TestRingLabel: every label RingLabel makes is one ring.Config takes,
// and ParseRingLabel gives back the direction and the name, whole when it
// fits and otherwise its end after "…"; labels of bare rings do not parse.
func TestRingLabel(t *testing.T) {
	for _, tc := range []struct {
		name, want string // want: the name ParseRingLabel returns
	}{
		{"kv", "kv"},
		{"/run/user/1000/app.sock", "/run/user/1000/app.sock"},
		{strings.Repeat("n", 54), strings.Repeat("n", 54)}, // 5 + 54 + 4 = 63 bytes
		{strings.Repeat("n", 55), "…" + strings.Repeat("n", 51)},
		{"/var/run/some/long/directory/tree/of/a/service/" + "the-socket-at-its-end.sock", "…ectory/tree/of/a/service/the-socket-at-its-end.sock"},
		{strings.Repeat("é", 40), "…" + strings.Repeat("é", 25)}, // 51 bytes of room: 25 runes, not a byte of a 26th
		{"bad\xffutf8", "bad\uFFFDutf8"},
	} {
		for _, dir := range []string{conn.ServerToClient, conn.ClientToServer} {
			label := conn.RingLabel(tc.name, dir)
			require.LessOrEqual(t, len(label), ring.MaxLabel, "%q", label)
			require.True(t, utf8.ValidString(label))
			_, err := ring.New(ring.Config{SlotSize: 64, Slots: 2, Label: label})
			require.NoError(t, err, "ring.Config takes %q", label)
			name, d, ok := conn.ParseRingLabel(label)
			require.True(t, ok, "%q", label)
			require.Equal(t, dir, d)
			require.Equal(t, tc.want, name)
		}
	}
	for _, label := range []string{"", "kv", "conn:", "conn:/s2c", "conn:kv", "conn:kv/x2y", "conn:kv/s2c/", "ring:kv/s2c"} {
		_, _, ok := conn.ParseRingLabel(label)
		require.False(t, ok, "%q is no connection's ring", label)
	}
}

func ExampleRingLabel() {
	fmt.Println(conn.RingLabel("kv", conn.ServerToClient))
	name, dir, ok := conn.ParseRingLabel("conn:kv/c2s")
	fmt.Println(name, dir, ok)
	// Output:
	// conn:kv/s2c
	// kv c2s true
}
