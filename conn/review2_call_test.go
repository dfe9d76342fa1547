//go:build linux

// Regression tests from the second review of the Client whose callers read
// their own replies (606b70b): each test's comment says what that version
// did wrong; the test holds the fix.

package conn_test

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/conn"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
)

// callResult is what a Call made in the background returned.
type callResult struct {
	b   []byte
	err error
}

// callAsync makes a call on its own goroutine.
func callAsync(ctx context.Context, cl *conn.Client, req []byte) <-chan callResult {
	res := make(chan callResult, 1)
	go func() {
		b, err := cl.Call(ctx, req)
		res <- callResult{b, err}
	}()
	return res
}

// awaitCall returns what the call behind res returned, and fails the test
// with stuck if it has not returned within 10 s.
func awaitCall(t *testing.T, res <-chan callResult, stuck string) callResult {
	t.Helper()
	select {
	case r := <-res:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal(stuck)
		return callResult{}
	}
}

// replyHead is a call message's head: id, then kind.
func replyHead(id uint64, kind byte) []byte {
	var h [9]byte
	binary.LittleEndian.PutUint64(h[:], id)
	h[8] = kind
	return h[:]
}

// writeStalled starts a reply of n bytes on server's producer, writes
// first, and leaves the rest unwritten until the test ends: a server that
// stalls in the middle of a reply longer than the ring.
func writeStalled(t *testing.T, server *conn.Conn, n int, first []byte) {
	t.Helper()
	wctx, wcancel := context.WithCancel(context.Background())
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		w, err := server.Producer().Writer(wctx, n)
		if err != nil {
			return
		}
		_, _ = w.Write(first)
		<-wctx.Done()
		_ = w.Close()
	}()
	t.Cleanup(func() { wcancel(); <-wrote })
}

// requireNoClientGoroutines closes client and waits for the goroutines of
// the Client's code to end.
func requireNoClientGoroutines(t *testing.T, client *conn.Conn) {
	t.Helper()
	require.NoError(t, client.Close())
	require.Eventually(t, func() bool { return clientGoroutines() == 0 }, 10*time.Second, time.Millisecond,
		"after Close, %d goroutines of a Client's remain", clientGoroutines())
}

// TestReview2StreamingBadKindHangs: the caller holding the turn read the
// head of every reply itself, a reply longer than the ring included, and a
// head of an unknown kind made it Close the reader before failing the
// Client. Close of a streaming reader discards the rest of the message as
// it comes, under no caller's context: a server that stalls in the middle
// of such a reply held the call (and its context's end) for as long as it
// stalled, and the Client did not fail with ErrProtocol meanwhile.
func TestReview2StreamingBadKindHangs(t *testing.T) {
	shmtest.NoLeaks(t)
	l := listen(t, conn.Config{Slots: 8, SlotSize: 128}) // about 1 KiB a ring
	client, server := pair(t, l, conn.Config{})
	cl := conn.NewClient(client)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res := callAsync(ctx, cl, []byte("x"))
	_, err := server.Recv(ctx, make([]byte, 64))
	require.NoError(t, err)

	// A reply of kind 7 to call 0, 4 KiB through a ring of 1 KiB, of
	// which the head and a ring's worth come.
	writeStalled(t, server, 9+4096, append(replyHead(0, 7), make([]byte, 1024)...))
	require.ErrorIs(t, awaitCall(t, res, "a call on a Client whose server broke the protocol is still waiting after 10 s").err, conn.ErrProtocol)
	requireNoClientGoroutines(t, client)
}

// TestReview2SplitHeadIgnoresContext: in slots of 16 bytes a first
// fragment carries 4 bytes, less than a reply's 9-byte head. The caller
// holding the turn read the head of a reply longer than the ring itself,
// under no context, and so waited for the server's next fragment: a
// server that stalled there held the call past its context's end.
func TestReview2SplitHeadIgnoresContext(t *testing.T) {
	shmtest.NoLeaks(t)
	l := listen(t, conn.Config{Slots: 4, SlotSize: 16})
	client, server := pair(t, l, conn.Config{})
	cl := conn.NewClient(client)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	res := callAsync(ctx, cl, []byte("x"))
	_, err := server.Recv(context.Background(), make([]byte, 64))
	require.NoError(t, err)

	// A reply to call 0, 200 bytes through a ring of about 40: its first
	// fragment, 4 bytes of its head, and no more.
	writeStalled(t, server, 9+200, replyHead(0, 1)[:4])
	require.ErrorIs(t, awaitCall(t, res, "a call is still waiting 10 s after its context ended").err, context.DeadlineExceeded)
	requireNoClientGoroutines(t, client)
}

// TestReview2FloodIgnoresContext: the caller holding the turn looked at its
// context only when a wait for a reply began, and read on while replies
// kept coming. A server that keeps the ring full of replies to calls that
// do not exist (or to other calls, out of order) held the call past its
// context's end for as long as it sent them. This test fails without the
// look only while the flood outpaces the reader: a reader that catches up
// waits, and the ring then sees the deadline. TestCallEndedContextStopsReading
// pins the look itself.
func TestReview2FloodIgnoresContext(t *testing.T) {
	shmtest.NoLeaks(t)
	l := listen(t, conn.Config{Slots: 8, SlotSize: 128})
	client, server := pair(t, l, conn.Config{})
	cl := conn.NewClient(client)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	res := callAsync(ctx, cl, []byte("x"))
	_, err := server.Recv(context.Background(), make([]byte, 64))
	require.NoError(t, err)

	fctx, fcancel := context.WithCancel(context.Background())
	flooded := make(chan struct{})
	go func() { // replies to call 1<<60, which was never made
		defer close(flooded)
		// Send looks at fctx only when it waits, which it may never
		// do while the Client reads.
		for fctx.Err() == nil && server.Send(fctx, replyHead(1<<60, 1)) == nil {
		}
	}()
	defer func() { fcancel(); <-flooded }()
	require.ErrorIs(t, awaitCall(t, res, "a call is still reading others' replies 10 s after its context ended").err, context.DeadlineExceeded)
	fcancel()
	<-flooded
	requireNoClientGoroutines(t, client)
}

// TestReview2CutReplyIsNoReply: a reply longer than the ring whose server
// closed half-way ends its reader with ErrTorn wrapping io.EOF, which
// appendRest took for the reply's end: the call returned the half that
// came, as if it were the whole reply, with no error. Serve did the same
// with a request cut by its client's close, and called the handler with
// it.
func TestReview2CutReplyIsNoReply(t *testing.T) {
	shmtest.NoLeaks(t)
	l := listen(t, conn.Config{Slots: 8, SlotSize: 128}) // about 1 KiB a ring
	t.Run("reply", func(t *testing.T) {
		client, server := pair(t, l, conn.Config{})
		cl := conn.NewClient(client)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		res := callAsync(ctx, cl, []byte("x"))
		_, err := server.Recv(ctx, make([]byte, 64))
		require.NoError(t, err)
		w, err := server.Producer().Writer(ctx, 9+4096)
		require.NoError(t, err)
		_, err = w.Write(append(replyHead(0, 1), make([]byte, 2048)...))
		require.NoError(t, err)
		require.NoError(t, server.CloseWrite())
		r := <-res
		require.ErrorIs(t, r.err, ring.ErrTorn, "a call got %d bytes of a 4096-byte reply", len(r.b))
	})
	t.Run("request", func(t *testing.T) {
		client, server := pair(t, l, conn.Config{})
		got := make(chan int, 1)
		served := serve(t, server, func(_ context.Context, req []byte) ([]byte, error) {
			got <- len(req)
			return nil, nil
		})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		w, err := client.Producer().Writer(ctx, 9+4096)
		require.NoError(t, err)
		_, err = w.Write(append(replyHead(0, 0), make([]byte, 2048)...))
		require.NoError(t, err)
		require.NoError(t, client.CloseWrite())
		require.NoError(t, <-served)
		select {
		case n := <-got:
			t.Fatalf("the handler was called with %d bytes of a 4096-byte request", n)
		default:
		}
	})
}
