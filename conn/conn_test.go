//go:build linux

package conn_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/conn"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
)

// name is a name no other test uses.
func name(t testing.TB) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("test-%x", b)
}

// listen starts a server under a fresh name, closed when the test ends.
func listen(t testing.TB, cfg conn.Config) *conn.Listener {
	t.Helper()
	l, err := conn.Listen(name(t), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// pair dials l and accepts the connection: the client's end and the
// server's.
func pair(t testing.TB, l *conn.Listener, cfg conn.Config) (client, server *conn.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type res struct {
		c   *conn.Conn
		err error
	}
	accepted := make(chan res, 1)
	go func() {
		c, err := l.AcceptContext(ctx)
		accepted <- res{c, err}
	}()
	client, err := conn.Dial(ctx, l.Name(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	r := <-accepted
	require.NoError(t, r.err)
	t.Cleanup(func() { _ = r.c.Close() })
	return client, r.c
}

func TestDuplex(t *testing.T) {
	shmtest.NoLeaks(t)
	l := listen(t, conn.Config{Slots: 16, SlotSize: 256})
	client, server := pair(t, l, conn.Config{})
	ctx := context.Background()
	big := make([]byte, 1<<20) // 4096 fragments through a ring of 16 slots
	_, _ = rand.Read(big)
	errc := make(chan error, 1)
	go func() { // the server echoes until the client closes
		buf := make([]byte, 2<<20)
		for {
			n, err := server.Recv(ctx, buf)
			if errors.Is(err, io.EOF) {
				errc <- server.CloseWrite()
				return
			}
			if err == nil {
				err = server.Send(ctx, buf[:n])
			}
			if err != nil {
				errc <- err
				return
			}
		}
	}()
	buf := make([]byte, 2<<20)
	for i, msg := range [][]byte{[]byte("hello"), {}, big, []byte("bye")} {
		require.NoError(t, client.Send(ctx, msg), "message %d", i)
		n, err := client.Recv(ctx, buf)
		require.NoError(t, err, "message %d", i)
		require.True(t, bytes.Equal(msg, buf[:n]), "message %d: %d bytes back, sent %d", i, n, len(msg))
	}
	require.NoError(t, client.CloseWrite())
	_, err := client.Recv(ctx, buf)
	require.ErrorIs(t, err, io.EOF)
	require.NoError(t, <-errc)
	require.NoError(t, client.Close())
	require.ErrorIs(t, client.Close(), conn.ErrClosed)
	require.NoError(t, server.Close())
}

// TestRingCallsBothWays: a connection's rings take every message call of
// package ring, each way: SendBatch, ReserveBatch, Reserve with CommitN and
// a MessageWriter on one side; RecvBatch, Peek and a MessageReader, in
// place, on the other. The rings are 16 slots of 256 B, so the batches and
// the 1 MiB message wait on the bells for room as they go.
func TestRingCallsBothWays(t *testing.T) {
	shmtest.NoLeaks(t)
	l := listen(t, conn.Config{Slots: 16, SlotSize: 256})
	client, server := pair(t, l, conn.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, dir := range []struct {
		name     string
		from, to *conn.Conn
	}{{"client to server", client, server}, {"server to client", server, client}} {
		t.Run(dir.name, func(t *testing.T) {
			want := ringCallMessages()
			errc := make(chan error, 1)
			go func() { errc <- sendRingCalls(ctx, dir.from.Producer(), want) }()
			got, err := recvRingCalls(ctx, dir.to.Consumer(), len(want))
			require.NoError(t, err)
			require.NoError(t, <-errc)
			require.Len(t, got, len(want))
			for i := range want {
				require.True(t, bytes.Equal(want[i], got[i]), "message %d: %d bytes, want %d", i, len(got[i]), len(want[i]))
			}
		})
	}
}

// ringCallMessages are what sendRingCalls sends, in order: 40 for
// SendBatch (the ring holds 16), 4 of 32 B for ReserveBatch, 10 B of a
// 100-byte reservation, and 1 MiB through a MessageWriter.
func ringCallMessages() [][]byte {
	var msgs [][]byte
	for i := range 40 {
		msgs = append(msgs, bytes.Repeat([]byte{byte(i)}, 1+i*7))
	}
	for i := range 4 {
		msgs = append(msgs, bytes.Repeat([]byte{byte(100 + i)}, 32))
	}
	msgs = append(msgs, []byte("ten bytes!"))
	big := make([]byte, 1<<20)
	_, _ = rand.Read(big)
	return append(msgs, big)
}

func sendRingCalls(ctx context.Context, p *ring.Producer, msgs [][]byte) error {
	for sent := 0; sent < 40; {
		n, err := p.SendBatch(ctx, msgs[sent:40])
		if err != nil {
			return fmt.Errorf("SendBatch after %d: %w", sent, err)
		}
		sent += n
	}
	b, err := p.ReserveBatch(ctx, 4, 32)
	if err != nil {
		return err
	}
	for i := range b.Len() {
		copy(b.Slot(i), msgs[40+i])
	}
	if err := p.Commit(); err != nil {
		return err
	}
	r, err := p.Reserve(ctx, 100)
	if err != nil {
		return err
	}
	copy(r, msgs[44])
	copy(r[10:], "never read: past what is committed")
	if err := p.CommitN(10); err != nil {
		return err
	}
	w, err := p.Writer(ctx, len(msgs[45]))
	if err != nil {
		return err
	}
	for rest := msgs[45]; len(rest) > 0; {
		n, err := w.Write(rest[:min(len(rest), 3000)])
		if err != nil {
			return err
		}
		rest = rest[n:]
	}
	return w.Close()
}

// recvRingCalls receives n messages: the first 40 with RecvBatch, the
// next five with Peek, the last in place through a MessageReader.
func recvRingCalls(ctx context.Context, c *ring.Consumer, n int) ([][]byte, error) {
	var got [][]byte
	for len(got) < 40 {
		if _, err := c.RecvBatch(ctx, 40-len(got), func(m []byte) error {
			got = append(got, bytes.Clone(m))
			return nil
		}); err != nil {
			return got, fmt.Errorf("RecvBatch after %d: %w", len(got), err)
		}
	}
	for len(got) < n-1 {
		m, err := c.Peek(ctx)
		if err != nil {
			return got, err
		}
		got = append(got, bytes.Clone(m))
		if err := c.Release(); err != nil {
			return got, err
		}
	}
	r, err := c.Reader(ctx)
	if err != nil {
		return got, err
	}
	var all []byte
	for {
		f, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return got, err
		}
		all = append(all, f...)
	}
	return append(got, all), r.Close()
}

// TestCloseWakes: a Close of one side wakes the other's Recv (io.EOF) and
// Send (ErrPeerClosed), and this side's own calls in flight (ErrClosed).
func TestCloseWakes(t *testing.T) {
	shmtest.NoLeaks(t)
	l := listen(t, conn.Config{Slots: 2, SlotSize: 64})
	client, server := pair(t, l, conn.Config{})
	ctx := context.Background()
	recvd := make(chan error, 1)
	go func() {
		_, err := server.Recv(ctx, make([]byte, 64))
		recvd <- err
	}()
	own := make(chan error, 1)
	go func() { // fills the server's outbound ring, then blocks
		for {
			if err := server.Send(ctx, []byte("x")); err != nil {
				own <- err
				return
			}
		}
	}()
	time.Sleep(50 * time.Millisecond) // let both sleep; the test holds without it
	require.NoError(t, client.Close())
	require.ErrorIs(t, <-recvd, io.EOF)
	require.ErrorIs(t, <-own, ring.ErrPeerClosed)
}

// TestReadTornMessage: a peer that mixes the message calls with the byte
// stream may close in the middle of a message larger than the ring (its
// Send torn by its context, then CloseWrite). Read hands out the part
// that arrived, then reports the message torn, not the end of the
// stream: a reader that took the part for all of it would have a prefix
// of the peer's bytes as if the peer had sent no more. io.EOF comes next.
func TestReadTornMessage(t *testing.T) {
	shmtest.NoLeaks(t)
	l := listen(t, conn.Config{Slots: 16, SlotSize: 256})
	client, server := pair(t, l, conn.Config{})
	big := bytes.Repeat([]byte("x"), 4*16*256) // four rings' worth: streams
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	err := client.Send(short, big) // nobody reads yet: torn once the ring is full
	cancel()
	require.ErrorIs(t, err, ring.ErrTorn)
	require.NoError(t, client.CloseWrite())

	got, err := io.ReadAll(server) // ReadAll takes io.EOF for success
	require.ErrorIs(t, err, ring.ErrTorn, "after %d of the %d bytes", len(got), len(big))
	require.ErrorIs(t, err, io.EOF)
	require.NotEqual(t, io.EOF, err)
	require.NotEmpty(t, got)
	require.Less(t, len(got), len(big))
	n, err := server.Read(make([]byte, 16))
	require.Zero(t, n)
	require.Equal(t, io.EOF, err, "then the end of the stream")
}
