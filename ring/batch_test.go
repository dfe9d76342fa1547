package ring_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/ring"
)

// TestSendBatchWritesExactly sends every length a slot holds, 0 to 28
// bytes (those of 8 to 16 are copied without memmove, the others with it),
// through SendBatch in runs of 1 to 8 messages, which start at every slot
// and wrap around the end of the ring, and looks at the slots themselves
// (the ring is in a buffer of the test's): each holds its message's length
// and bytes, and nothing after them is written, which a word copy that
// overshoots would break. The consumer then receives each message as it
// was sent.
func TestSendBatchWritesExactly(t *testing.T) {
	const slotSize, slots, sentinel = 32, 8, 0xee
	cfg := ring.Config{SlotSize: slotSize, Slots: slots}
	buf := make([]byte, ring.HeaderSize+slotSize*slots)
	r, err := ring.NewIn(buf, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close() })
	p, err := r.Producer()
	require.NoError(t, err)
	c, err := r.Consumer()
	require.NoError(t, err)
	slot := func(seq int) []byte {
		off := ring.HeaderSize + seq%slots*slotSize
		return buf[off : off+slotSize]
	}
	for seq := range slots {
		for i := range slot(seq) {
			slot(seq)[i] = sentinel
		}
	}

	ctx := context.Background()
	var msgs [][]byte
	for n := range p.MaxMessage() + 1 {
		m := make([]byte, n)
		for i := range m {
			m[i] = byte(n*31 + i + 1)
		}
		msgs = append(msgs, m)
	}
	seq := 0
	for round := 0; round < 3; round++ { // runs start at different slots each round
		for i, run := 0, 1+round; i < len(msgs); i, run = i+run, run%slots+1 {
			batch := msgs[i:min(i+run, len(msgs))]
			k, err := p.SendBatch(ctx, batch)
			require.NoError(t, err)
			require.Equal(t, len(batch), k)
			for j, m := range batch {
				s := slot(seq + j)
				mark := ring.LapBit // published, on an even lap
				if (seq+j)/slots%2 == 1 {
					mark = 0
				}
				require.Equal(t, uint32(len(m))|mark, binary.LittleEndian.Uint32(s), "message of %d bytes: length and lap mark", len(m))
				require.Equal(t, m, s[4:4+len(m)], "message of %d bytes: payload", len(m))
				require.Equal(t, bytes.Repeat([]byte{sentinel}, slotSize-4-len(m)), s[4+len(m):],
					"message of %d bytes: the rest of the slot", len(m))
			}
			got := 0
			_, err = c.RecvBatch(ctx, 0, func(m []byte) error {
				require.Equal(t, batch[got], m)
				got++
				return nil
			})
			require.NoError(t, err)
			require.Equal(t, len(batch), got)
			for j := range batch {
				// The payload only: a released slot keeps its word,
				// whose lap mark says it is not published in the
				// next lap (0xee... would say it is, on odd laps).
				s := slot(seq + j)
				for b := range s[4:] {
					s[4+b] = sentinel
				}
			}
			seq += len(batch)
		}
	}
}

// TestRecvBatchRefusesBadLength: a slot length longer than a slot holds
// can only come from a broken or hostile writer. RecvBatch hands fn the
// messages before it, then stops there with ErrCorrupt, and leaves the
// bad one unreceived.
func TestRecvBatchRefusesBadLength(t *testing.T) {
	const slotSize, slots = 32, 8
	for _, bad := range []uint32{slotSize - 4 + 1, 1<<32 - 1} {
		buf := make([]byte, ring.HeaderSize+slotSize*slots)
		r, err := ring.NewIn(buf, ring.Config{SlotSize: slotSize, Slots: slots})
		require.NoError(t, err)
		p, err := r.Producer()
		require.NoError(t, err)
		c, err := r.Consumer()
		require.NoError(t, err)
		ctx := context.Background()
		_, err = p.SendBatch(ctx, [][]byte{{1}, {2}, {3}})
		require.NoError(t, err)
		binary.LittleEndian.PutUint32(buf[ring.HeaderSize+slotSize:], bad|ring.LapBit) // the second message's, published (lap 0)
		var got [][]byte
		n, err := c.RecvBatch(ctx, 0, func(m []byte) error {
			got = append(got, bytes.Clone(m))
			return nil
		})
		require.ErrorIs(t, err, ring.ErrCorrupt, "length %d", bad)
		require.Equal(t, 1, n, "length %d", bad)
		require.Equal(t, [][]byte{{1}}, got, "length %d", bad)
		require.Equal(t, 2, r.Stats().Fill, "length %d: the bad message and the one after it stay", bad)
		require.NoError(t, r.Close())
	}
}
