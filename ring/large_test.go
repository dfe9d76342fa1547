package ring_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/platform/fence"
	"github.com/shmring/shmring/ring"
)

// Messages longer than a slot (ring/large.go). The rings here have slots of
// 64 bytes: a slot holds 60, a first fragment 52, a middle one 60.

// pattern returns n bytes that depend on seed and their position, so that
// a fragment out of place or a byte from another message shows.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7+i>>8) ^ seed
	}
	return b
}

// largeSizes are the lengths around every edge of a ring of slot-byte
// slots and slots slots: one slot, the first fragment, k slots of
// fragments (capacity), slots' multiples, the whole ring, and beyond.
func largeSizes(slot, slots int) []int {
	capacity := func(k int) int { return k*(slot-4) - 8 } // a first fragment and k-1 middle ones
	sizes := []int{0, 1, slot - 12, slot - 4, slot - 3}
	for _, k := range []int{2, 3, slots - 1, slots, slots + 1, 3 * slots} {
		sizes = append(sizes, capacity(k), capacity(k)+1, slot*k-1, slot*k, slot*k+1)
	}
	return append(sizes, 4*slots*slot)
}

// TestLargeRoundTrip sends messages of every edge length, in one slot, in
// fragments that fit the ring, and in more fragments than the ring has
// slots, and receives them with each receiving call.
func TestLargeRoundTrip(t *testing.T) {
	for _, g := range largeGeometries {
		testLargeRoundTrip(t, g.slot, g.slots)
	}
}

// largeGeometries: the rings of the tests of every edge length. Slots of
// 64 bytes make many fragments; slots of 16 KiB make every fragment's copy
// long enough for memcopy's REP MOVSB (docs/DESIGN.md, "Copies").
var largeGeometries = []struct{ slot, slots int }{{64, 8}, {16 << 10, 8}}

func testLargeRoundTrip(t *testing.T, slot, slots int) {
	sizes := largeSizes(slot, slots)
	for _, recv := range []string{"Recv", "RecvBatch"} {
		for _, send := range []string{"Send", "SendBatch"} {
			t.Run(fmt.Sprintf("slot=%d/%s/%s", slot, send, recv), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				_, p, c := heapRing(t, ring.Config{SlotSize: slot, Slots: slots, MaxMessage: 1 << 20})
				errc := make(chan error, 1)
				go func() {
					for i, n := range sizes {
						msg := pattern(n, byte(i))
						var err error
						if send == "Send" {
							err = p.Send(ctx, msg)
						} else {
							_, err = p.SendBatch(ctx, [][]byte{msg})
						}
						if err != nil {
							errc <- fmt.Errorf("send %d bytes: %w", n, err)
							return
						}
					}
					errc <- nil
				}()
				buf := make([]byte, 1<<20)
				var got [][]byte
				for len(got) < len(sizes) {
					if recv == "Recv" {
						m, err := c.Recv(ctx, buf)
						require.NoError(t, err, "message %d, %d bytes", len(got), sizes[len(got)])
						got = append(got, bytes.Clone(buf[:m]))
						continue
					}
					i := len(got)
					k, err := c.RecvBatch(ctx, 0, func(msg []byte) error {
						got = append(got, bytes.Clone(msg))
						return nil
					})
					require.NoError(t, err, "message %d, %d bytes", i, sizes[i])
					if last := got[len(got)-1]; len(last) > slot-4 {
						require.Equal(t, 1, k, "message %d: a fragmented message is a batch of its own", len(got)-1)
					}
				}
				for i, n := range sizes {
					require.Equal(t, n, len(got[i]), "message %d", i)
					require.True(t, bytes.Equal(pattern(n, byte(i)), got[i]), "message %d, %d bytes: content differs", i, n)
				}
				require.NoError(t, <-errc)
			})
		}
	}
}

// TestLarge100MiB: a 100 MiB message through a 256 KiB ring, and an 8 MiB
// one through a ring of 64-byte slots (140,000 fragments), each checked
// with a CRC over every byte.
func TestLarge100MiB(t *testing.T) {
	for _, tc := range []struct {
		name              string
		size, slot, slots int
	}{
		{"100MiB/16KiBx16", 100 << 20, 16 << 10, 16},
		{"8MiB/64x4096", 8 << 20, 64, 4096},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			_, p, c := heapRing(t, ring.Config{SlotSize: tc.slot, Slots: tc.slots, MaxMessage: tc.size})
			msg := pattern(tc.size, 0x5a)
			want := crc32.ChecksumIEEE(msg)
			errc := make(chan error, 1)
			go func() { errc <- p.Send(ctx, msg) }()
			buf := make([]byte, tc.size)
			n, err := c.Recv(ctx, buf)
			require.NoError(t, err)
			require.NoError(t, <-errc)
			require.Equal(t, tc.size, n)
			require.Equal(t, want, crc32.ChecksumIEEE(buf[:n]))
		})
	}
}

// TestSendBatchMixed: a batch of short messages and long ones, some fitting
// the ring and some not, arrives in order; RecvBatch hands the short ones
// over in batches and each long one alone.
func TestSendBatchMixed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, p, c := heapRing(t, ring.Config{SlotSize: 64, Slots: 8, MaxMessage: 4096})
	var msgs [][]byte
	for i, n := range []int{5, 60, 61, 7, 400, 3000, 1, 2, 3, 300, 0} {
		msgs = append(msgs, pattern(n, byte(i)))
	}
	errc := make(chan error, 1)
	go func() {
		n, err := p.SendBatch(ctx, msgs)
		if err == nil && n != len(msgs) {
			err = fmt.Errorf("sent %d of %d", n, len(msgs))
		}
		errc <- err
	}()
	var got [][]byte
	for len(got) < len(msgs) {
		k, err := c.RecvBatch(ctx, 0, func(msg []byte) error {
			got = append(got, bytes.Clone(msg))
			return nil
		})
		require.NoError(t, err)
		if k > 1 {
			for _, m := range got[len(got)-k:] {
				require.LessOrEqual(t, len(m), 60, "a fragmented message is a batch of its own")
			}
		}
	}
	require.NoError(t, <-errc)
	require.Equal(t, msgs, got)

	// A message too long for the ring is refused before any is sent.
	_, err := p.SendBatch(ctx, [][]byte{{1}, make([]byte, 4097)})
	require.ErrorIs(t, err, ring.ErrMessageTooLarge)
	require.Contains(t, err.Error(), "message 1: ")
	require.Contains(t, err.Error(), "4097 bytes, the ring carries at most 4096")
	_, err = c.TryRecv(make([]byte, 10))
	require.ErrorIs(t, err, ring.ErrEmpty)
}

// TestLargeShortBuffer: a fragmented message, fitting the ring or not, stays
// in the ring when the buffer is short, and Recv says how long it is.
func TestLargeShortBuffer(t *testing.T) {
	for _, n := range []int{200, 2000} { // 4 of the 8 slots; 34
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			r, p, c := heapRing(t, ring.Config{SlotSize: 64, Slots: 8, MaxMessage: 4096})
			msg := pattern(n, 1)
			errc := make(chan error, 1)
			go func() { errc <- p.Send(ctx, msg) }()
			for r.Stats().Producer.Messages == 0 {
				time.Sleep(time.Millisecond)
			}
			for _, short := range []int{0, 52, n - 1} {
				got, err := c.Recv(ctx, make([]byte, short))
				require.ErrorIs(t, err, io.ErrShortBuffer)
				require.Equal(t, n, got)
				got, err = c.TryRecv(make([]byte, short))
				require.ErrorIs(t, err, io.ErrShortBuffer)
				require.Equal(t, n, got)
				require.Zero(t, r.Stats().Consumer.Messages, "nothing released")
			}
			buf := make([]byte, n)
			got, err := c.Recv(ctx, buf)
			require.NoError(t, err)
			require.Equal(t, msg, buf[:got])
			require.NoError(t, <-errc)
		})
	}
}

// TestLargeTorn: a streaming send that ends mid-message (its context) is
// torn on both sides: the producer's error wraps ErrTorn and the
// context's, a consumer waiting for the rest gets the same pair, its next
// call discards the rest (the producer's abort) with ErrTorn, and the next
// message arrives whole.
func TestLargeTorn(t *testing.T) {
	ctx := context.Background()
	r, p, c := heapRing(t, ring.Config{SlotSize: 64, Slots: 8, MaxMessage: 4096})
	big := pattern(2000, 3) // 34 slots: 52 bytes, then 60 a slot
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	err := p.Send(short, big)
	cancel()
	require.ErrorIs(t, err, ring.ErrTorn)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Contains(t, err.Error(), "472 of the 2000 bytes of a message sent")
	require.Equal(t, uint64(8), r.Stats().Producer.Messages, "a run of 7, then the last free slot")

	buf := make([]byte, 4096)
	short, cancel = context.WithTimeout(ctx, 20*time.Millisecond)
	n, err := c.Recv(short, buf)
	cancel()
	require.ErrorIs(t, err, ring.ErrTorn)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Zero(t, n)
	require.Contains(t, err.Error(), "472 of the 2000 bytes of a message received")

	// The producer's next message aborts the torn one first.
	require.NoError(t, p.Send(ctx, []byte("next")))
	n, err = c.Recv(ctx, buf)
	require.ErrorIs(t, err, ring.ErrTorn)
	require.Zero(t, n)
	n, err = c.Recv(ctx, buf)
	require.NoError(t, err)
	require.Equal(t, "next", string(buf[:n]))

	// Torn again, and this time the next message is long too.
	short, cancel = context.WithTimeout(ctx, 20*time.Millisecond)
	require.ErrorIs(t, p.Send(short, big), ring.ErrTorn)
	cancel()
	short, cancel = context.WithTimeout(ctx, 20*time.Millisecond)
	_, err = c.Recv(short, buf)
	cancel()
	require.ErrorIs(t, err, ring.ErrTorn)
	errc := make(chan error, 1)
	go func() { errc <- p.Send(ctx, big) }()
	_, err = c.Recv(ctx, buf)
	require.ErrorIs(t, err, ring.ErrTorn)
	n, err = c.Recv(ctx, buf)
	require.NoError(t, err)
	require.Equal(t, big, buf[:n])
	require.NoError(t, <-errc)
}

// TestLargeTornConsumer: a consumer whose own context ends while a live
// producer streams a message discards the rest of that message, however far
// the producer has got, and then receives the next one whole. Whether a
// given Recv tears depends on the scheduling; when it does, the next call
// must say so and the one after must get the next message.
func TestLargeTornConsumer(t *testing.T) {
	ctx, cancelAll := context.WithTimeout(context.Background(), time.Minute)
	defer cancelAll()
	_, p, c := heapRing(t, ring.Config{SlotSize: 64, Slots: 8, MaxMessage: 1 << 16})
	const rounds = 20
	errc := make(chan error, 1)
	go func() {
		for i := range rounds {
			if err := p.Send(ctx, pattern(40000, byte(i))); err != nil {
				errc <- err
				return
			}
			if err := p.Send(ctx, []byte{byte(i)}); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	buf := make([]byte, 1<<16)
	cancelled, cancel := context.WithCancel(ctx)
	cancel() // every wait of the first Recv of a round ends at once
	torn := 0
	for i := range rounds {
		n, err := c.Recv(cancelled, buf)
		switch {
		case err == nil:
			require.Equal(t, pattern(40000, byte(i)), buf[:n])
		case errors.Is(err, ring.ErrTorn):
			require.ErrorIs(t, err, context.Canceled)
			torn++
			_, err = c.Recv(ctx, buf)
			require.ErrorIs(t, err, ring.ErrTorn, "round %d: the rest discarded", i)
			require.NotErrorIs(t, err, context.Canceled)
		default:
			require.ErrorIs(t, err, context.Canceled, "round %d: nothing of the message received yet", i)
			n, err = c.Recv(ctx, buf)
			require.NoError(t, err)
			require.Equal(t, pattern(40000, byte(i)), buf[:n])
		}
		n, err = c.Recv(ctx, buf)
		require.NoError(t, err, "round %d", i)
		require.Equal(t, []byte{byte(i)}, buf[:n], "round %d: the message after", i)
	}
	require.NoError(t, <-errc)
	t.Logf("%d of %d long messages torn by the consumer's context", torn, rounds)
}

// TestLargeTry: TrySend and TryRecv take a fragmented message whole or not
// at all, and refuse one longer than the ring.
func TestLargeTry(t *testing.T) {
	r, p, c := heapRing(t, ring.Config{SlotSize: 64, Slots: 8, MaxMessage: 4096})
	require.NoError(t, p.TrySend([]byte("x")))
	err := p.TrySend(pattern(440, 1)) // 8 slots: one too many
	require.ErrorIs(t, err, ring.ErrFull)
	require.Equal(t, uint64(1), r.Stats().Producer.Messages, "nothing of it published")
	require.NoError(t, p.TrySend(pattern(400, 1))) // 7 slots
	err = p.TrySend(pattern(1000, 1))
	require.ErrorIs(t, err, ring.ErrMessageTooLarge)
	require.Contains(t, err.Error(), "1000 bytes take 17 slots, more than the ring's 8")

	buf := make([]byte, 4096)
	n, err := c.TryRecv(buf)
	require.NoError(t, err)
	require.Equal(t, "x", string(buf[:n]))
	n, err = c.TryRecv(buf)
	require.NoError(t, err)
	require.Equal(t, pattern(400, 1), buf[:n])
	_, err = c.TryRecv(buf)
	require.ErrorIs(t, err, ring.ErrEmpty)

	// A message longer than the ring: TryRecv leaves it for Recv.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- p.Send(ctx, pattern(1000, 2)) }()
	for r.Stats().Fill == 0 {
		time.Sleep(time.Millisecond)
	}
	_, err = c.TryRecv(buf)
	require.ErrorIs(t, err, ring.ErrMessageTooLarge)
	require.Contains(t, err.Error(), "TryRecv cannot take it whole")
	n, err = c.Recv(ctx, buf)
	require.NoError(t, err)
	require.Equal(t, pattern(1000, 2), buf[:n])
	require.NoError(t, <-errc)
}

// TestLargePeek: Peek refuses a fragmented message, naming its length, and
// leaves it for Recv; Reserve writes one slot and refuses more.
func TestLargePeek(t *testing.T) {
	ctx := context.Background()
	_, p, c := heapRing(t, ring.Config{SlotSize: 64, Slots: 8, MaxMessage: 4096})
	require.NoError(t, p.Send(ctx, pattern(300, 1)))
	_, err := c.Peek(ctx)
	require.ErrorIs(t, err, ring.ErrMessageTooLarge)
	require.Contains(t, err.Error(), "300 bytes in fragments")
	require.Contains(t, err.Error(), "use Recv")
	buf := make([]byte, 300)
	n, err := c.Recv(ctx, buf)
	require.NoError(t, err)
	require.Equal(t, pattern(300, 1), buf[:n])

	_, err = p.Reserve(ctx, 61)
	require.ErrorIs(t, err, ring.ErrMessageTooLarge)
	require.Contains(t, err.Error(), "at most 60")
	_, err = p.ReserveBatch(ctx, 2, 61)
	require.ErrorIs(t, err, ring.ErrMessageTooLarge)
}

// TestLargeConfig: the slot and max_message a Config gets, and the
// combinations refused.
func TestLargeConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     ring.Config
		slot    int
		max     int
		refused string // in the ErrLayout error; "" if accepted
	}{
		{"defaults", ring.Config{}, 72, 1 << 30, ""},
		{"a message size", ring.Config{MaxMessage: 64}, 72, 64, ""},
		{"large messages get 16 KiB slots", ring.Config{MaxMessage: 1 << 20}, 16392, 1 << 20, ""},
		{"slot alone", ring.Config{SlotSize: 32}, 32, 28, ""},
		{"both, fragments", ring.Config{SlotSize: 16, MaxMessage: 1 << 30}, 16, 1 << 30, ""},
		{"both, the limit", ring.Config{SlotSize: 64, MaxMessage: ring.MaxMessageLimit}, 64, ring.MaxMessageLimit, ""},
		{"slot too small to fragment", ring.Config{SlotSize: 8, MaxMessage: 5}, 0, 0, "max_message 5 is longer than a 8-byte slot holds"},
		{"beyond the limit", ring.Config{MaxMessage: ring.MaxMessageLimit + 1}, 0, 0, "Config.MaxMessage 1099511627777: at most 1099511627776"},
		{"negative", ring.Config{MaxMessage: -1}, 0, 0, "Config.MaxMessage -1 is negative"},
		{"slot beyond MaxSlotSize", ring.Config{SlotSize: 1 << 30}, 0, 0, "slot size 1073741824"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Slots = 2
			r, err := ring.New(tt.cfg)
			if tt.refused != "" {
				require.ErrorIs(t, err, ring.ErrLayout)
				require.Contains(t, err.Error(), tt.refused)
				return
			}
			require.NoError(t, err)
			defer r.Close()
			require.Equal(t, tt.slot, r.SlotSize())
			require.Equal(t, tt.max, r.MaxMessage())
			require.Equal(t, tt.max, r.Stats().MaxMessage)
		})
	}
}

// TestLargeTornAtClose: a producer that closes with a streaming message
// unfinished publishes no abort; the consumer reads the end of the stream
// in the middle of the message as ErrTorn with io.EOF, then io.EOF.
func TestLargeTornAtClose(t *testing.T) {
	ctx := context.Background()
	_, p, c := heapRing(t, ring.Config{SlotSize: 64, Slots: 8, MaxMessage: 4096})
	require.NoError(t, p.Send(ctx, []byte("first")))
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	require.ErrorIs(t, p.Send(short, pattern(2000, 1)), ring.ErrTorn)
	cancel()
	require.NoError(t, p.Close())
	buf := make([]byte, 4096)
	n, err := c.Recv(ctx, buf)
	require.NoError(t, err)
	require.Equal(t, "first", string(buf[:n]))
	n, err = c.Recv(ctx, buf)
	require.ErrorIs(t, err, ring.ErrTorn)
	require.ErrorIs(t, err, io.EOF)
	require.Zero(t, n)
	_, err = c.Recv(ctx, buf)
	require.ErrorIs(t, err, io.EOF)
	require.NotErrorIs(t, err, ring.ErrTorn)
}

// TestProducerCloseDuringSend: Producer.Close, from another goroutine at a
// random moment, while a goroutine sends in a loop, messages that stream
// (8 MiB through a ring of 512 KiB), or batches of messages that fill a
// slot each (SendBatch copies a ring's worth before it publishes). The consumer
// receives until io.EOF (a message cut short is ErrTorn); once the sender
// has returned, a Recv still finds io.EOF, never a fragment or a message
// published after the end of the stream. A send that found the producer
// open published after Close had set the end: the consumer, which had
// read io.EOF in the middle of a message, then met a continuation where a
// message begins, ErrCorrupt for good.
func TestProducerCloseDuringSend(t *testing.T) {
	rounds := 60
	if testing.Short() {
		rounds = 15
	}
	for _, tt := range []struct {
		name  string
		size  int
		batch int
	}{{"streaming", 8 << 20, 1}, {"batches of one-slot messages", 64<<10 - 4, 8}} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			msg := pattern(tt.size, 3)
			buf := make([]byte, tt.size)
			for round := range rounds {
				_, p, c := heapRing(t, ring.Config{SlotSize: 64 << 10, Slots: 8, MaxMessage: 16 << 20})
				sent := make(chan error, 1)
				go func() {
					batch := make([][]byte, tt.batch)
					for i := range batch {
						batch[i] = msg
					}
					for {
						var err error
						if tt.batch == 1 {
							err = p.Send(ctx, msg)
						} else {
							_, err = p.SendBatch(ctx, batch)
						}
						if err != nil {
							sent <- err
							return
						}
					}
				}()
				go func() {
					fence.Pause(rand.IntN(50000))
					_ = p.Close()
				}()
				for {
					n, err := c.Recv(ctx, buf)
					if errors.Is(err, io.EOF) {
						break
					}
					if errors.Is(err, ring.ErrTorn) {
						continue
					}
					require.NoError(t, err, "round %d", round)
					require.Equal(t, msg, buf[:n], "round %d", round)
				}
				require.ErrorIs(t, <-sent, ring.ErrClosed, "round %d", round)
				time.Sleep(time.Millisecond)
				n, err := c.Recv(ctx, buf)
				require.ErrorIs(t, err, io.EOF, "round %d: a Recv after io.EOF", round)
				require.NotErrorIs(t, err, ring.ErrTorn, "round %d", round)
				require.Zero(t, n)
			}
		})
	}
}
