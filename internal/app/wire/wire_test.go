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

// TestLargeMessages: the CRC covers a message of any length to its last
// byte, so the consumer checks one sent in fragments across all of them.
// A bit flipped at either end, and on both sides of the first fragment
// boundaries of slots of 1 KiB and 16 KiB (payloads of 1012 and 16372
// bytes after the first fragment's length and total), fails the check.
func TestLargeMessages(t *testing.T) {
	for _, size := range []int{16 << 10, 1<<20 + 3, 16 << 20} {
		msg := make([]byte, size)
		wire.Fill(msg)
		wire.Put(msg, 7, 8)
		_, _, ok := wire.Check(msg)
		require.True(t, ok, "size %d", size)
		for _, at := range []int{4, wire.HeaderSize, 1011, 1012, 16371, 16372, size / 2, size - 1} {
			msg[at] ^= 0x10
			_, _, ok := wire.Check(msg)
			require.False(t, ok, "size %d, byte %d flipped", size, at)
			msg[at] ^= 0x10
		}
		seq, sent, ok := wire.Check(msg)
		require.True(t, ok)
		require.Equal(t, uint64(7), seq)
		require.Equal(t, int64(8), sent)
	}
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
