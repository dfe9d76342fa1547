package ring_test

import (
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

// MessageReader and MessageWriter (ring/message.go). As in large_test.go,
// the rings have slots of 64 bytes: a slot holds 60, a first fragment 52,
// a middle one 60.

// fragments is how many fragments of a 64-byte-slot ring a message of n
// bytes has: none for an empty one, which Next ends at once.
func fragments(n int) int { return fragmentsIn(n, 64) }

// fragmentsIn is fragments for slots of slot bytes: a slot holds slot-4,
// a first fragment slot-12.
func fragmentsIn(n, slot int) int {
	switch {
	case n == 0:
		return 0
	case n <= slot-4:
		return 1
	}
	return 1 + (n-(slot-12)+slot-5)/(slot-4)
}

// readNext reads the message with Next alone, checking every fragment's
// length: each full but the last, none longer than a slot holds.
func readNext(r *ring.MessageReader) ([]byte, int, error) { return readNextIn(r, 64) }

// readNextIn is readNext for slots of slot bytes.
func readNextIn(r *ring.MessageReader, slot int) ([]byte, int, error) {
	var got []byte
	k := 0
	for {
		b, err := r.Next()
		if err == io.EOF {
			return got, k, nil
		}
		if err != nil {
			return got, k, err
		}
		if len(b) == 0 || len(b) > slot-4 {
			return got, k, fmt.Errorf("fragment %d of %d bytes", k, len(b))
		}
		got = append(got, b...)
		k++
	}
}

// requireTornThen: the consumer's next call discards the rest of a torn
// message and returns ErrTorn, and the one after receives want.
func requireTornThen(t *testing.T, ctx context.Context, c *ring.Consumer, want string) {
	t.Helper()
	buf := make([]byte, 4096)
	_, err := c.Recv(ctx, buf)
	require.ErrorIs(t, err, ring.ErrTorn)
	n, err := c.Recv(ctx, buf)
	require.NoError(t, err)
	require.Equal(t, want, string(buf[:n]))
}

// TestMessageReader: messages of every edge length, in one slot, in
// fragments that fit the ring and in more than the ring has slots (which
// stream while the producer sends), read in place by Next, by Read (through
// io.ReadAll, whose first buffer is 512 bytes: Read spans fragments and
// stops inside them), and by WriteTo (through io.Copy).
func TestMessageReader(t *testing.T) {
	for _, g := range largeGeometries {
		testMessageReader(t, g.slot, g.slots)
	}
}

func testMessageReader(t *testing.T, slot, slots int) {
	sizes := largeSizes(slot, slots)
	for _, how := range []string{"Next", "Read", "WriteTo"} {
		t.Run(fmt.Sprintf("slot=%d/%s", slot, how), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, p, c := heapRing(t, ring.Config{SlotSize: slot, Slots: slots, MaxMessage: 1 << 20})
			errc := make(chan error, 1)
			go func() {
				for i, n := range sizes {
					if err := p.Send(ctx, pattern(n, byte(i))); err != nil {
						errc <- fmt.Errorf("send %d bytes: %w", n, err)
						return
					}
				}
				errc <- nil
			}()
			for i, n := range sizes {
				r, err := c.Reader(ctx)
				require.NoError(t, err, "message %d, %d bytes", i, n)
				require.Equal(t, n, r.Len())
				require.Equal(t, fragmentsIn(n, slot) > slots, r.Streaming(), "message %d, %d bytes: streams", i, n)
				var got []byte
				switch how {
				case "Next":
					var k int
					got, k, err = readNextIn(r, slot)
					require.Equal(t, fragmentsIn(n, slot), k, "message %d, %d bytes: fragments", i, n)
				case "Read":
					got, err = io.ReadAll(struct{ io.Reader }{r})
				case "WriteTo":
					var buf bytes.Buffer
					var m int64
					m, err = io.Copy(&buf, r)
					require.Equal(t, int64(n), m)
					got = buf.Bytes()
				}
				require.NoError(t, err, "message %d, %d bytes", i, n)
				require.True(t, bytes.Equal(pattern(n, byte(i)), got), "message %d, %d bytes: content differs", i, n)
				require.NoError(t, r.Close())
			}
			require.NoError(t, <-errc)
			_, err := c.TryRecv(make([]byte, 1<<20))
			require.ErrorIs(t, err, ring.ErrEmpty, "every message read, and released")
		})
	}
}

// writeMessage writes msg through a Writer of n >= len(msg) bytes, by how:
// Next and Commit, Write in pieces of 7 bytes, or io.Copy (ReadFrom).
func writeMessage(ctx context.Context, p *ring.Producer, n int, msg []byte, how string) error {
	w, err := p.Writer(ctx, n)
	if err != nil {
		return err
	}
	switch how {
	case "Commit":
		for pos := 0; pos < len(msg); {
			space, err := w.Next()
			if err != nil {
				return err
			}
			k := copy(space, msg[pos:])
			pos += k
			if err := w.Commit(k); err != nil {
				return err
			}
		}
	case "Write":
		for b := msg; len(b) > 0; {
			k := min(7, len(b))
			if m, err := w.Write(b[:k]); err != nil || m != k {
				return fmt.Errorf("Write: %d of %d: %w", m, k, err)
			}
			b = b[k:]
		}
	case "ReadFrom":
		// Hidden behind a plain io.Reader, else io.Copy would take
		// bytes.Reader's WriteTo instead.
		if m, err := io.Copy(w, struct{ io.Reader }{bytes.NewReader(msg)}); err != nil || m != int64(len(msg)) {
			return fmt.Errorf("ReadFrom: %d of %d: %w", m, len(msg), err)
		}
	}
	return w.Close()
}

// TestMessageWriter: messages of every edge length written in place by
// Next and Commit, by Write, and by ReadFrom, with n exactly the length;
// messages longer than the ring stream while the consumer receives them.
func TestMessageWriter(t *testing.T) {
	for _, g := range largeGeometries {
		testMessageWriter(t, g.slot, g.slots)
	}
}

func testMessageWriter(t *testing.T, slot, slots int) {
	sizes := largeSizes(slot, slots)
	for _, how := range []string{"Commit", "Write", "ReadFrom"} {
		t.Run(fmt.Sprintf("slot=%d/%s", slot, how), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, p, c := heapRing(t, ring.Config{SlotSize: slot, Slots: slots, MaxMessage: 1 << 20})
			errc := make(chan error, 1)
			go func() {
				for i, n := range sizes {
					if err := writeMessage(ctx, p, n, pattern(n, byte(i)), how); err != nil {
						errc <- fmt.Errorf("write %d bytes: %w", n, err)
						return
					}
				}
				errc <- nil
			}()
			buf := make([]byte, 1<<20)
			for i, n := range sizes {
				m, err := c.Recv(ctx, buf)
				require.NoError(t, err, "message %d, %d bytes", i, n)
				require.True(t, bytes.Equal(pattern(n, byte(i)), buf[:m]), "message %d, %d bytes: got %d bytes, content differs", i, n, m)
			}
			require.NoError(t, <-errc)
		})
	}
}

// TestMessageStreaming: messages four times the ring, written in place by
// a goroutine (Next and Commit, then Write), read in place by Next as they
// stream, each checked with a CRC over every byte.
func TestMessageStreaming(t *testing.T) {
	const slot, slots = 256, 16
	const size = 4 * slot * slots
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, p, c := heapRing(t, ring.Config{SlotSize: slot, Slots: slots, MaxMessage: size})
	const rounds = 20
	errc := make(chan error, 1)
	go func() {
		for i := range rounds {
			how := "Commit"
			if i%2 == 1 {
				how = "Write"
			}
			if err := writeMessage(ctx, p, size, pattern(size, byte(i)), how); err != nil {
				errc <- fmt.Errorf("message %d: %w", i, err)
				return
			}
		}
		errc <- nil
	}()
	for i := range rounds {
		r, err := c.Reader(ctx)
		require.NoError(t, err)
		require.Equal(t, size, r.Len())
		h := crc32.NewIEEE()
		k := 0
		for {
			b, err := r.Next()
			if err == io.EOF {
				break
			}
			require.NoError(t, err, "message %d, fragment %d", i, k)
			h.Write(b)
			k++
		}
		require.NoError(t, r.Close())
		require.Equal(t, 1+(size-(slot-12)+slot-5)/(slot-4), k, "message %d: fragments", i)
		require.Equal(t, crc32.ChecksumIEEE(pattern(size, byte(i))), h.Sum32(), "message %d", i)
	}
	require.NoError(t, <-errc)
}

// TestMessageCommitLess: "reserve up to n, commit m <= n". Every space
// Next hands out is first filled with a poison byte, then the message's m
// bytes are written and committed; the consumer receives exactly m bytes,
// no poison, in as many slots as m takes (one if it fits one, moved there
// from the fragments' places), and the next message is whole too.
func TestMessageCommitLess(t *testing.T) {
	const poison = 0xee
	for _, tc := range []struct{ n, m int }{
		{40, 40}, {40, 10}, {40, 0}, // one slot
		{300, 0}, {300, 10}, {300, 52}, // fragments reserved, m fits the first one's place
		{300, 55}, {300, 60}, // m fits a slot, but not the first fragment's place: two to move
		{300, 61}, {300, 112}, {300, 113}, {300, 200}, {300, 300}, // fragments
		{400, 399}, {400, 400}, // all 7 of the 8 slots
	} {
		t.Run(fmt.Sprintf("n=%d/m=%d", tc.n, tc.m), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			r, p, c := heapRing(t, ring.Config{SlotSize: 64, Slots: 8, MaxMessage: 4096})
			msg := pattern(tc.m, 1)
			w, err := p.Writer(ctx, tc.n)
			require.NoError(t, err)
			for pos := 0; ; {
				space, err := w.Next()
				if pos == tc.n {
					require.ErrorIs(t, err, ring.ErrMessageTooLarge, "no more space")
					break
				}
				require.NoError(t, err)
				require.LessOrEqual(t, len(space), tc.n-pos)
				for i := range space {
					space[i] = poison
				}
				k := copy(space, msg[pos:])
				pos += k
				require.NoError(t, w.Commit(k))
				if k < len(space) {
					_, err := w.Next()
					require.ErrorIs(t, err, ring.ErrMessageTooLarge, "a short commit ends the message")
					break
				}
			}
			require.Zero(t, r.Stats().Producer.Messages, "nothing published before Close")
			require.NoError(t, w.Close())
			require.EqualValues(t, max(1, fragments(tc.m)), r.Stats().Producer.Messages, "slots published")

			buf := bytes.Repeat([]byte{0x11}, 4096)
			n, err := c.Recv(ctx, buf)
			require.NoError(t, err)
			require.Equal(t, msg, buf[:n])
			require.NoError(t, p.Send(ctx, pattern(100, 2)))
			n, err = c.Recv(ctx, buf)
			require.NoError(t, err)
			require.Equal(t, pattern(100, 2), buf[:n])
		})
	}
}

// TestMessageReaderClose: Close in the middle of a message releases it and
// discards the rest, fitting the ring (released with one store: nothing
// before Close, all of it after) or streaming, and the next message arrives
// whole.
func TestMessageReaderClose(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, p, c := heapRing(t, ring.Config{SlotSize: 64, Slots: 8, MaxMessage: 4096})
	buf := make([]byte, 4096)

	require.NoError(t, p.Send(ctx, pattern(300, 1))) // 6 slots
	require.NoError(t, p.Send(ctx, []byte("next")))
	mr, err := c.Reader(ctx)
	require.NoError(t, err)
	b, err := mr.Next()
	require.NoError(t, err)
	require.Equal(t, pattern(300, 1)[:52], b)
	_, err = mr.Next()
	require.NoError(t, err)
	require.Zero(t, r.Stats().Consumer.Messages, "nothing released while the reader reads")
	require.NoError(t, mr.Close())
	require.EqualValues(t, 6, r.Stats().Consumer.Messages, "the message's slots, at Close")
	require.NoError(t, mr.Close(), "a second Close does nothing")
	_, err = mr.Next()
	require.ErrorIs(t, err, ring.ErrClosed)
	n, err := c.Recv(ctx, buf)
	require.NoError(t, err)
	require.Equal(t, "next", string(buf[:n]))

	// Streaming: Close discards the rest as the producer sends it.
	errc := make(chan error, 1)
	go func() {
		if err := p.Send(ctx, pattern(2000, 2)); err != nil { // 34 slots
			errc <- err
			return
		}
		errc <- p.Send(ctx, []byte("after"))
	}()
	mr, err = c.Reader(ctx)
	require.NoError(t, err)
	require.Equal(t, 2000, mr.Len())
	var got []byte
	for range 3 {
		b, err := mr.Next()
		require.NoError(t, err)
		got = append(got, b...)
	}
	require.Equal(t, pattern(2000, 2)[:len(got)], got)
	require.NoError(t, mr.Close())
	n, err = c.Recv(ctx, buf)
	require.NoError(t, err)
	require.Equal(t, "after", string(buf[:n]))
	require.NoError(t, <-errc)

	// A message read to its end by Read is released without Close.
	require.NoError(t, p.Send(ctx, pattern(300, 3)))
	mr, err = c.Reader(ctx)
	require.NoError(t, err)
	n, err = mr.Read(buf)
	require.NoError(t, err)
	require.Equal(t, pattern(300, 3), buf[:n])
	_, err = mr.Read(buf)
	require.ErrorIs(t, err, io.EOF)
	require.Zero(t, r.Stats().Fill, "released at the message's end")
	require.NoError(t, mr.Close())
}

// TestMessageReaderTorn: a reader meets a torn message as Recv does: its
// own wait ending in the middle of a streaming message (ErrTorn and the
// context's error; the next call discards the rest, with ErrTorn, and the
// one after reads the next message), and the producer's abort (ErrTorn).
func TestMessageReaderTorn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, p, c := heapRing(t, ring.Config{SlotSize: 64, Slots: 8, MaxMessage: 4096})
	big := pattern(2000, 3)
	buf := make([]byte, 4096)

	short, cancelShort := context.WithTimeout(ctx, 20*time.Millisecond)
	err := p.Send(short, big)
	cancelShort()
	require.ErrorIs(t, err, ring.ErrTorn)

	// The reader's context ends while it waits for the rest.
	short, cancelShort = context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancelShort()
	mr, err := c.Reader(short)
	require.NoError(t, err)
	got, _, err := readNext(mr)
	require.ErrorIs(t, err, ring.ErrTorn)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, big[:472], got, "the 8 fragments published")
	_, err = mr.Next()
	require.ErrorIs(t, err, ring.ErrTorn, "the reader stays ended")
	require.NoError(t, mr.Close(), "the consumer's next call discards the rest")
	require.NoError(t, p.Send(ctx, []byte("next"))) // the abort, then this
	_, err = c.Reader(ctx)
	require.ErrorIs(t, err, ring.ErrTorn)
	require.NotErrorIs(t, err, context.DeadlineExceeded)
	mr, err = c.Reader(ctx)
	require.NoError(t, err)
	got, _, err = readNext(mr)
	require.NoError(t, err)
	require.Equal(t, "next", string(got))

	// The producer aborts a message the reader is reading.
	short, cancelShort = context.WithTimeout(ctx, 20*time.Millisecond)
	require.ErrorIs(t, p.Send(short, big), ring.ErrTorn)
	cancelShort()
	errc := make(chan error, 1)
	go func() { errc <- p.Send(ctx, []byte("after the abort")) }()
	mr, err = c.Reader(ctx)
	require.NoError(t, err)
	got, _, err = readNext(mr)
	require.ErrorIs(t, err, ring.ErrTorn)
	require.Contains(t, err.Error(), "the producer aborted the message")
	require.Equal(t, big[:472], got)
	require.NoError(t, <-errc)
	n, err := c.Recv(ctx, buf)
	require.NoError(t, err)
	require.Equal(t, "after the abort", string(buf[:n]))
}

// TestMessageReaderProducerClosed: a producer that closes in the middle
// of a streaming message ends a reader of it as it ends Recv: ErrTorn with
// io.EOF, and then io.EOF alone, with nothing left to discard.
func TestMessageReaderProducerClosed(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, p, c := heapRing(t, ring.Config{SlotSize: 64, Slots: 8, MaxMessage: 4096})
	short, cancelShort := context.WithTimeout(ctx, 20*time.Millisecond)
	require.ErrorIs(t, p.Send(short, pattern(2000, 1)), ring.ErrTorn)
	cancelShort()
	require.NoError(t, p.Close())
	mr, err := c.Reader(ctx)
	require.NoError(t, err)
	_, _, err = readNext(mr)
	require.ErrorIs(t, err, ring.ErrTorn)
	require.ErrorIs(t, err, io.EOF)
	_, err = c.Reader(ctx)
	require.Equal(t, io.EOF, err, "the end of the stream, as Recv's")
	_, err = c.Recv(ctx, make([]byte, 10))
	require.Equal(t, io.EOF, err)
}

// TestMessageWriterTorn: a streaming writer closed before its n bytes
// aborts the message (ErrTorn naming both lengths; the consumer gets
// ErrTorn, then the next message), publishes nothing if nothing of it was
// in the ring, and a wait that ends in the middle of the message tears it
// as a streaming Send does.
func TestMessageWriterTorn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, p, c := heapRing(t, ring.Config{SlotSize: 64, Slots: 8, MaxMessage: 4096})
	buf := make([]byte, 4096)

	w, err := p.Writer(ctx, 2000)
	require.NoError(t, err)
	k, err := w.Write(pattern(300, 1)) // 4 full fragments and a part of one
	require.NoError(t, err)
	require.Equal(t, 300, k)
	err = w.Close()
	require.ErrorIs(t, err, ring.ErrTorn)
	require.Contains(t, err.Error(), "closed after 300 of the 2000 bytes")
	require.Contains(t, err.Error(), "aborted")
	require.NoError(t, p.Send(ctx, []byte("next")))
	requireTornThen(t, ctx, c, "next")

	// Nothing committed, nothing published.
	before := r.Stats().Producer.Messages
	w, err = p.Writer(ctx, 2000)
	require.NoError(t, err)
	_, err = w.Write(pattern(40, 1)) // less than the first fragment
	require.NoError(t, err)
	err = w.Close()
	require.ErrorIs(t, err, ring.ErrTorn)
	require.Contains(t, err.Error(), "nothing of it was published")
	require.Equal(t, before, r.Stats().Producer.Messages)
	_, err = c.TryRecv(buf)
	require.ErrorIs(t, err, ring.ErrEmpty)

	// The writer's wait for space ends: torn on both sides.
	short, cancelShort := context.WithTimeout(ctx, 20*time.Millisecond)
	w, err = p.Writer(short, 2000)
	require.NoError(t, err)
	_, err = w.Write(pattern(2000, 4))
	cancelShort()
	require.ErrorIs(t, err, ring.ErrTorn)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, err, w.Close(), "Close returns the error that ended the writer")
	short, cancelShort = context.WithTimeout(ctx, 20*time.Millisecond)
	_, err = c.Recv(short, buf)
	cancelShort()
	require.ErrorIs(t, err, ring.ErrTorn)
	require.NoError(t, writeMessage(ctx, p, 100, []byte("again"), "Write")) // Writer aborts first
	requireTornThen(t, ctx, c, "again")
}

// TestMessageEndedByOtherCall: another call of the side ends a reader or a
// writer. A reader of a message that fits the ring: the message is
// released with what the call releases. A streaming reader: the call
// discards the rest (ErrTorn). A writer of a message that fits the ring:
// nothing of it is published. A streaming writer: the call aborts it. The
// ended reader or writer then fails with ErrClosed.
func TestMessageEndedByOtherCall(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, p, c := heapRing(t, ring.Config{SlotSize: 64, Slots: 8, MaxMessage: 4096})
	buf := make([]byte, 4096)

	require.NoError(t, p.Send(ctx, pattern(300, 1)))
	require.NoError(t, p.Send(ctx, []byte("b")))
	mr, err := c.Reader(ctx)
	require.NoError(t, err)
	_, err = mr.Next()
	require.NoError(t, err)
	n, err := c.Recv(ctx, buf)
	require.NoError(t, err)
	require.Equal(t, "b", string(buf[:n]))
	_, err = mr.Next()
	require.ErrorIs(t, err, ring.ErrClosed)
	_, err = mr.Read(buf)
	require.ErrorIs(t, err, ring.ErrClosed)
	require.ErrorIs(t, mr.Close(), ring.ErrClosed, "Close tells that the reader was ended")
	_, err = c.TryRecv(buf)
	require.ErrorIs(t, err, ring.ErrEmpty, "the reader's message released")

	errc := make(chan error, 1)
	go func() {
		if err := p.Send(ctx, pattern(2000, 2)); err != nil {
			errc <- err
			return
		}
		errc <- p.Send(ctx, []byte("c"))
	}()
	mr, err = c.Reader(ctx)
	require.NoError(t, err)
	_, err = mr.Next()
	require.NoError(t, err)
	requireTornThen(t, ctx, c, "c")
	require.NoError(t, <-errc)
	_, err = mr.Next()
	require.ErrorIs(t, err, ring.ErrClosed)

	w, err := p.Writer(ctx, 100)
	require.NoError(t, err)
	_, err = w.Write([]byte("never published"))
	require.NoError(t, err)
	require.NoError(t, p.Send(ctx, []byte("d")))
	require.ErrorIs(t, w.Commit(0), ring.ErrClosed)
	require.ErrorIs(t, w.Close(), ring.ErrClosed)
	n, err = c.Recv(ctx, buf)
	require.NoError(t, err)
	require.Equal(t, "d", string(buf[:n]))

	w, err = p.Writer(ctx, 2000)
	require.NoError(t, err)
	_, err = w.Write(pattern(300, 3))
	require.NoError(t, err)
	require.NoError(t, p.Send(ctx, []byte("e")))
	_, err = w.Write([]byte("x"))
	require.ErrorIs(t, err, ring.ErrClosed)
	requireTornThen(t, ctx, c, "e")
}

// TestMessageAfterReader: Recv, TryRecv and Reader go on correctly after a
// reader's Close, whatever the reader read of its message.
func TestMessageAfterReader(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, p, c := heapRing(t, ring.Config{SlotSize: 64, Slots: 16, MaxMessage: 4096})
	buf := make([]byte, 4096)
	msgs := [][]byte{[]byte("one"), pattern(200, 1), []byte("three"), pattern(61, 2), nil, []byte("six")}
	for _, m := range msgs {
		require.NoError(t, p.Send(ctx, m))
	}
	for i := 0; i < len(msgs); i += 2 {
		mr, err := c.Reader(ctx)
		require.NoError(t, err)
		require.Equal(t, len(msgs[i]), mr.Len())
		if i == 2 {
			_, err = mr.Next() // read it all: Close then only releases
			require.NoError(t, err)
		}
		require.NoError(t, mr.Close())
		var n int
		if i == 0 {
			n, err = c.TryRecv(buf)
		} else {
			n, err = c.Recv(ctx, buf)
		}
		require.NoError(t, err, "message %d", i+1)
		require.Equal(t, msgs[i+1], buf[:n], "message %d", i+1)
	}
	_, err := c.TryRecv(buf)
	require.ErrorIs(t, err, ring.ErrEmpty)
}

// TestMessageZeroAllocs: a message costs no allocation through Reader,
// Next and Close, nor through Writer, Next, Commit and Close, in one slot
// or in fragments.
func TestMessageZeroAllocs(t *testing.T) {
	ctx := context.Background()
	_, p, c := heapRing(t, ring.Config{SlotSize: 64, Slots: 16, MaxMessage: 4096})
	for _, n := range []int{32, 300} {
		msg := pattern(n, 1)
		var failed error
		note := func(err error) {
			if err != nil && err != io.EOF && failed == nil {
				failed = err
			}
		}
		allocs := testing.AllocsPerRun(500, func() {
			w, err := p.Writer(ctx, n)
			note(err)
			for pos := 0; pos < n; {
				space, err := w.Next()
				note(err)
				k := copy(space, msg[pos:])
				pos += k
				note(w.Commit(k))
			}
			note(w.Close())
			r, err := c.Reader(ctx)
			note(err)
			for {
				b, err := r.Next()
				if err != nil {
					note(err)
					break
				}
				_ = b
			}
			note(r.Close())
		})
		require.NoError(t, failed)
		require.Zero(t, allocs, "%d-byte messages", n)
	}
}

// TestMessageCloseWithSlicesOut: a fragment from MessageReader.Next and a
// space from MessageWriter.Next, still held when Ring.Close runs, do not
// hold Close up, and their late use does not fault (Close swaps the segment
// for private memory, as for Peek and Reserve); the reader and the writer
// then fail with ErrClosed.
func TestMessageCloseWithSlicesOut(t *testing.T) {
	shmtest.NoLeaks(t)
	ctx := context.Background()
	r, err := ring.Create(shmseg.Key(shmtest.Key(t)), ring.Config{SlotSize: 64, Slots: 8, MaxMessage: 4096})
	require.NoError(t, err)
	id := r.Segment().ID()
	p, err := r.Producer()
	require.NoError(t, err)
	c, err := r.Consumer()
	require.NoError(t, err)
	require.NoError(t, p.Send(ctx, pattern(200, 1)))
	mr, err := c.Reader(ctx)
	require.NoError(t, err)
	frag, err := mr.Next()
	require.NoError(t, err)
	mw, err := p.Writer(ctx, 100)
	require.NoError(t, err)
	space, err := mw.Next()
	require.NoError(t, err)

	closeWithSlicesOut(t, r, id, space, frag)
	_, err = mr.Next()
	require.ErrorIs(t, err, ring.ErrClosed)
	require.ErrorIs(t, mw.Close(), ring.ErrClosed)
}

// TestCommitN: a reservation committed shorter publishes only the bytes
// committed; CommitN refuses more than the reservation, and nothing
// reserved.
func TestCommitN(t *testing.T) {
	ctx := context.Background()
	_, p, c := heapRing(t, ring.Config{SlotSize: 64, Slots: 8, MaxMessage: 4096})
	b, err := p.Reserve(ctx, 40)
	require.NoError(t, err)
	for i := range b {
		b[i] = 0xee
	}
	copy(b, "short")
	require.ErrorIs(t, p.CommitN(41), ring.ErrMessageTooLarge)
	require.ErrorIs(t, p.CommitN(-1), ring.ErrMessageTooLarge)
	require.NoError(t, p.CommitN(5))
	err = p.CommitN(0)
	require.ErrorIs(t, err, ring.ErrMessageTooLarge)
	require.Contains(t, err.Error(), "nothing reserved")
	buf := make([]byte, 64)
	n, err := c.Recv(ctx, buf)
	require.NoError(t, err)
	require.Equal(t, "short", string(buf[:n]))
}

// TestCommitNAfterReserveBatch: CommitN shortens the last slot of a
// ReserveBatch, whose other slots carry their lap marks from ReserveBatch
// on (only the run's first waits for Commit): the shortened one is
// published too, and every message arrives whole.
func TestCommitNAfterReserveBatch(t *testing.T) {
	ctx := context.Background()
	_, p, c := heapRing(t, ring.Config{SlotSize: 64, Slots: 8, MaxMessage: 4096})
	buf := make([]byte, 64)
	for round := range 5 { // across laps of 8 slots
		b, err := p.ReserveBatch(ctx, 3, 8)
		require.NoError(t, err)
		require.Equal(t, 3, b.Len())
		for i := range b.Len() {
			copy(b.Slot(i), fmt.Sprintf("%d:%d.....", round, i))
		}
		require.NoError(t, p.CommitN(3))
		for i, want := range []string{fmt.Sprintf("%d:0.....", round), fmt.Sprintf("%d:1.....", round), fmt.Sprintf("%d:2", round)} {
			tctx, cancel := context.WithTimeout(ctx, time.Minute)
			n, err := c.Recv(tctx, buf)
			cancel()
			require.NoError(t, err, "round %d message %d", round, i)
			require.Equal(t, want, string(buf[:n]))
		}
	}
}

// A serializer reserves the most a record may take and writes a shorter
// one: only what it wrote is published, in one slot here though the
// reservation took several.
func ExampleProducer_Writer() {
	r, _ := ring.New(ring.Config{SlotSize: 64, Slots: 8, MaxMessage: 1024})
	defer r.Close()
	p, _ := r.Producer()
	c, _ := r.Consumer()
	ctx := context.Background()

	w, err := p.Writer(ctx, 256) // at most 256 bytes: 5 slots reserved
	if err != nil {
		panic(err)
	}
	fmt.Fprintf(w, "id=%d name=%q", 42, "gopher")
	if err := w.Close(); err != nil {
		panic(err)
	}

	buf := make([]byte, c.MaxMessage())
	n, _ := c.Recv(ctx, buf)
	fmt.Printf("%d bytes: %s\n", n, buf[:n])
	fmt.Println("slots used:", r.Stats().Consumer.Messages)
	// Output:
	// 19 bytes: id=42 name="gopher"
	// slots used: 1
}

// A message longer than a slot, read in place fragment by fragment: no
// byte is copied out of the ring.
func ExampleConsumer_Reader() {
	r, _ := ring.New(ring.Config{SlotSize: 64, Slots: 8, MaxMessage: 1024})
	defer r.Close()
	p, _ := r.Producer()
	c, _ := r.Consumer()
	ctx := context.Background()

	_ = p.Send(ctx, bytes.Repeat([]byte("0123456789"), 15))

	m, err := c.Reader(ctx)
	if err != nil {
		panic(err)
	}
	defer m.Close()
	fmt.Println("length:", m.Len())
	for {
		frag, err := m.Next()
		if err == io.EOF {
			break
		}
		fmt.Printf("%d bytes from %q\n", len(frag), frag[:4])
	}
	// Output:
	// length: 150
	// 52 bytes from "0123"
	// 60 bytes from "2345"
	// 38 bytes from "2345"
}
