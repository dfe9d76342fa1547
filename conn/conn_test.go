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
