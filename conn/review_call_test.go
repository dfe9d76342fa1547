//go:build linux

// Regression tests from the review of 2026-12-06: each test's comment says
// what the first version of conn did wrong; the test holds the fix.

package conn_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/conn"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
)

// TestReviewOrphanReplyWedgesCall: a caller reads replies only after its
// request is sent. The reply to a call that gave up (its context ended) is
// left for later callers to read; if it is longer than the ring, Serve
// blocks sending it, and stops reading requests. A call whose request is
// longer than the ring's free space then blocks in send, where it reads no
// reply, and nobody else does: the call, and every such call after it,
// ends only by its context, though the server is alive and idle.
func TestReviewOrphanReplyWedgesCall(t *testing.T) {
	shmtest.NoLeaks(t)
	l := listen(t, conn.Config{Slots: 8, SlotSize: 128}) // about 1 KiB a ring
	client, server := pair(t, l, conn.Config{})
	release := make(chan struct{})
	served := serve(t, server, func(_ context.Context, req []byte) ([]byte, error) {
		if string(req) == "orphan" {
			<-release
			return bytes.Repeat([]byte("r"), 4096), nil
		}
		return req[:1], nil
	})
	defer func() { _ = server.Close(); <-served }()
	cl := conn.NewClient(client)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, err := cl.Call(ctx, []byte("orphan"))
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded)
	close(release)

	ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cl.Call(ctx, bytes.Repeat([]byte("q"), 4096))
	require.NoError(t, err, "a call after an abandoned one, with a request longer than the ring")
	require.Equal(t, "q", string(resp))
}

// TestReviewFailedClientHangs: after read finds a reply that breaks the
// protocol it fails the Client (cl.dead closed) and gives the turn back,
// and Call's loop then selects between the turn and cl.dead at random.
// Taking the turn, it reads again and waits for a message that never
// comes: the call ends by its context instead of with ErrProtocol, about
// one time in two.
func TestReviewFailedClientHangs(t *testing.T) {
	shmtest.NoLeaks(t)
	l := listen(t, conn.Config{Slots: 8, SlotSize: 128})
	for round := range 20 {
		client, server := pair(t, l, conn.Config{})
		var reply [9]byte // to call 0, of kind 7
		reply[8] = 7
		require.NoError(t, server.Send(context.Background(), reply[:]))
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := conn.NewClient(client).Call(ctx, []byte("x"))
		cancel()
		require.ErrorIs(t, err, conn.ErrProtocol, "round %d", round)
		require.NoError(t, client.Close())
		require.NoError(t, server.Close())
	}
}

// TestReviewTornReplyBlamesAnotherCall: in the first Client, the caller
// that held the turn read others' replies under its own context; when that
// context ended in the middle of a reply longer than the ring, the reply's
// caller got the torn read's error though its own context was alive. Call
// 0's context now ends while call 1's long reply is half read: call 1 must
// get all of it.
func TestReviewTornReplyBlamesAnotherCall(t *testing.T) {
	shmtest.NoLeaks(t)
	l := listen(t, conn.Config{Slots: 8, SlotSize: 128})
	client, server := pair(t, l, conn.Config{})
	bg := context.Background()
	_, recv := client.Rings()
	waits := recv.Stats().Consumer.Waits // before the Client's reader can sleep
	cl := conn.NewClient(client)

	// Call 0 waits for its reply, which the test, playing the server by
	// hand, never sends; the reader sleeps.
	xctx, xcancel := context.WithCancel(bg)
	defer xcancel()
	xerr := make(chan error, 1)
	go func() { _, err := cl.Call(xctx, []byte("x")); xerr <- err }()
	buf := make([]byte, 64)
	_, err := server.Recv(bg, buf)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return recv.Stats().Consumer.Waits > waits }, 10*time.Second, time.Millisecond,
		"nobody went to sleep reading replies")

	// Call 1, while call 0 waits.
	type result struct {
		b   []byte
		err error
	}
	bres := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(bg, 30*time.Second)
		defer cancel()
		b, err := cl.Call(ctx, []byte("b"))
		bres <- result{b, err}
	}()
	_, err = server.Recv(bg, buf)
	require.NoError(t, err)

	// Call 1's reply, 4 KiB through a ring of 1 KiB: the first half, read,
	// and then a wait for the rest.
	want := bytes.Repeat([]byte("B"), 4096)
	wctx, wcancel := context.WithCancel(bg)
	defer wcancel()
	w, err := server.Producer().Writer(wctx, 9+len(want))
	require.NoError(t, err)
	var head [9]byte
	binary.LittleEndian.PutUint64(head[:], 1)
	head[8] = 1 // a reply
	_, err = w.Write(head[:])
	require.NoError(t, err)
	_, err = w.Write(want[:2048])
	require.NoError(t, err)

	xcancel()
	require.ErrorIs(t, <-xerr, context.Canceled)
	wrote := make(chan error, 1)
	go func() {
		_, err := w.Write(want[2048:])
		if err == nil {
			err = w.Close()
		}
		wrote <- err
	}()
	defer func() { wcancel(); _ = client.Close(); <-wrote }()
	r := <-bres
	require.NoError(t, r.err, "call 1, whose context is alive, failed by call 0's context")
	require.Equal(t, want, r.b)
}

// TestReviewServeAllocatesClaimedLength: Serve (and Client's read) sizes
// its buffer by the length a message's first fragment claims, before the
// bytes arrive. A client that sends one fragment claiming MaxMessage (1 GiB
// by default; 64 MiB here) and stops makes the server allocate all of it.
// A hostile server does the same to a client (Client.read's make), with a
// max_message of its own choosing in the header, up to 1 TiB: an
// allocation that kills the client's process.
func TestReviewServeAllocatesClaimedLength(t *testing.T) {
	shmtest.NoLeaks(t)
	const claimed = 64 << 20
	l := listen(t, conn.Config{Slots: 8, SlotSize: 128, MaxMessage: claimed})
	client, server := pair(t, l, conn.Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	served := serve(t, server, func(context.Context, []byte) ([]byte, error) { return nil, nil })
	defer func() { _ = server.Close(); <-served }()

	w, err := client.Producer().Writer(ctx, claimed)
	require.NoError(t, err)
	// 4 KiB through a ring of 1 KiB: once written, Serve has read the
	// first fragment and sized its buffer.
	_, err = w.Write(make([]byte, 4096))
	require.NoError(t, err)
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(8<<20),
		"Serve allocated %d bytes for a request of which 4 KiB was sent", after.TotalAlloc-before.TotalAlloc)
	cancel()
	_ = w.Close()
}

// TestReviewOversizeReplyEndsServe: a handler's reply longer than the
// ring's MaxMessage makes send fail, and Serve returns that error: one
// call's reply ends the service of the connection, and the caller waits
// for its context, instead of getting a RemoteError.
func TestReviewOversizeReplyEndsServe(t *testing.T) {
	shmtest.NoLeaks(t)
	l := listen(t, conn.Config{Slots: 8, SlotSize: 128, MaxMessage: 512})
	client, server := pair(t, l, conn.Config{})
	served := serve(t, server, func(context.Context, []byte) ([]byte, error) { return make([]byte, 1000), nil })
	defer func() { _ = server.Close(); <-served }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := conn.NewClient(client).Call(ctx, []byte("x"))
	var re *conn.RemoteError
	require.ErrorAs(t, err, &re, "the call's error")
}
