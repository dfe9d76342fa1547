package ring

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestInspect reads headers in each state a tool meets: a ring in use, and
// headers Open would wait for or refuse, each with its own error and what
// Inspect read before it stopped.
func TestInspect(t *testing.T) {
	t.Run("ring", func(t *testing.T) {
		buf := newBuf(t, 64, 16)
		r, err := Attach(buf, Options{})
		require.NoError(t, err)
		p, err := r.Producer()
		require.NoError(t, err)
		for range 3 {
			require.NoError(t, p.Send(context.Background(), []byte("abc")))
		}
		require.NoError(t, p.Close())

		info, err := Inspect(buf)
		require.NoError(t, err)
		require.Equal(t, Magic, info.Magic)
		require.Equal(t, stateReady|stateProducerClosed, info.State)
		require.False(t, info.Zero)
		require.Equal(t, VersionMajor, info.Major)
		require.Equal(t, VersionMinor, info.Minor)
		require.Equal(t, r.Stats(), info.Stats, "what Stats reports through a handle")
		require.Equal(t, 64, info.SlotSize)
		require.Equal(t, 16, info.Slots)
		require.Equal(t, 3, info.Fill)
		require.Equal(t, uint64(3), info.Producer.Messages)
		require.True(t, info.ProducerClosed)
	})

	tests := []struct {
		name    string
		corrupt func(b []byte) []byte
		want    error
		seen    string
		check   func(t *testing.T, info HeaderInfo)
	}{
		{"zeros", func(b []byte) []byte { clear(b); return b }, ErrNotReady, "state 0x0, magic 0x0",
			func(t *testing.T, info HeaderInfo) {
				require.True(t, info.Zero)
				require.Zero(t, info.Magic)
			}},
		{"magic, never ready", func(b []byte) []byte {
			clear(b)
			binary.LittleEndian.PutUint64(b[FieldOffset("magic"):], Magic)
			return b
		}, ErrNotReady, "state 0x0, magic 0x676e69726d6873",
			func(t *testing.T, info HeaderInfo) {
				require.False(t, info.Zero)
				require.Equal(t, Magic, info.Magic)
				require.Zero(t, info.State)
			}},
		{"closed bits, never ready", func(b []byte) []byte { hdr(b).state.Store(stateConsumerClosed); return b }, ErrNotReady, "state 0x4",
			func(t *testing.T, info HeaderInfo) { require.Equal(t, stateConsumerClosed, info.State) }},
		{"another magic", func(b []byte) []byte { hdr(b).magic = 0x1234; return b }, ErrBadMagic, "0x0000000000001234",
			func(t *testing.T, info HeaderInfo) { require.Equal(t, uint64(0x1234), info.Magic) }},
		{"major version", func(b []byte) []byte { hdr(b).major, hdr(b).minor = 5, 0; return b }, ErrVersion, "5.0",
			func(t *testing.T, info HeaderInfo) { require.Equal(t, 5, info.Major) }},
		{"slot count", func(b []byte) []byte { hdr(b).slotCount = 12; return b }, ErrLayout, "slot count 12", nil},
		{"memory shorter than the header says", func(b []byte) []byte { return b[:len(b)-8] }, ErrLayout, "memory is 2040", nil},
		{"shorter than a header", func(b []byte) []byte { return b[:100] }, ErrLayout, "memory is 100", nil},
		{"unaligned", func(b []byte) []byte {
			big := make([]byte, len(b)+1)
			copy(big[1:], b)
			return big[1:]
		}, ErrLayout, "aligned", nil},
		{"cursors", func(b []byte) []byte { hdr(b).tail.Store(17); return b }, ErrCorrupt, "head 0 tail 17", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := Inspect(tt.corrupt(newBuf(t, 64, 16)))
			require.ErrorIs(t, err, tt.want)
			require.Contains(t, err.Error(), tt.seen)
			require.Equal(t, Stats{}, info.Stats, "no Stats from a header that is not a valid ring's")
			if tt.check != nil {
				tt.check(t, info)
			}
		})
	}
}
