package wire_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/app/wire"
)

func TestRoundTrip(t *testing.T) {
	for _, size := range []int{wire.HeaderSize, wire.HeaderSize + 1, 64, 4096} {
		msg := make([]byte, size)
		wire.Fill(msg)
		wire.Put(msg, 1<<40+7, -3)
		seq, sent, ok := wire.Check(msg)
		require.True(t, ok, "size %d", size)
		require.Equal(t, uint64(1<<40+7), seq)
		require.Equal(t, int64(-3), sent)
	}
}

// TestEveryBitCounts: flipping any bit of any byte, filler included, fails
// the check.
func TestEveryBitCounts(t *testing.T) {
	msg := make([]byte, 64)
	wire.Fill(msg)
	wire.Put(msg, 42, 1234567)
	for i := range msg {
		for bit := range 8 {
			msg[i] ^= 1 << bit
			_, _, ok := wire.Check(msg)
			require.False(t, ok, "byte %d bit %d flipped", i, bit)
			msg[i] ^= 1 << bit
		}
	}
	_, _, ok := wire.Check(msg)
	require.True(t, ok)
}

func TestShort(t *testing.T) {
	_, _, ok := wire.Check(make([]byte, wire.HeaderSize-1))
	require.False(t, ok)
	_, _, ok = wire.Check(nil)
	require.False(t, ok)
}

func BenchmarkPut64(b *testing.B) {
	msg := make([]byte, 64)
	wire.Fill(msg)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		wire.Put(msg, uint64(i), int64(i))
	}
}
