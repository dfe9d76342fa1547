//go:build linux

package conn_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/shmring/shmring/conn"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
	"github.com/stretchr/testify/require"
)

// TestCallAloneReadsItsReply: a lone caller's reply is read by the
// caller itself, which registered nothing: one of one slot by one Recv,
// one of several with a MessageReader. The server is played by hand, so
// that what comes before the reply is the test's: a reply to a call never
// made is dropped, a failed reply is a RemoteError, a reply of three slots
// is read with ReadFull and appendRest, a reply shorter than the head
// fails the Client with ErrProtocol, and so does one of an unknown kind.
func TestCallAloneReadsItsReply(t *testing.T) {
	shmtest.NoLeaks(t)
	l := listen(t, conn.Config{Slots: 8, SlotSize: 128})
	client, server := pair(t, l, conn.Config{})
	cl := conn.NewClient(client)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	buf := make([]byte, 1024)
	h := &handServer{t: t, ctx: ctx, server: server, buf: buf}

	res := callAsync(ctx, cl, []byte("a"))
	id := h.request("a")
	h.answer(id+100, 1, "stray") // to no call: dropped
	h.answer(id, 1, "A")
	h.await(res, "A", "a lone call is still waiting after 10 s")

	res = callAsync(ctx, cl, []byte("b"))
	h.answer(h.request("b"), 2, "no such key")
	r := awaitCall(t, res, "a lone call is still waiting after 10 s")
	var re *conn.RemoteError
	require.ErrorAs(t, r.err, &re)
	require.Equal(t, "no such key", re.Msg)

	long := string(pattern(300)) // three slots of 128 bytes, in a ring of eight
	res = callAsync(ctx, cl, []byte("c"))
	h.reply(h.request("c"), long)
	h.await(res, long, "a lone call is still waiting after 10 s")

	res = callAsync(ctx, cl, []byte("d"))
	h.request("d")
	require.NoError(t, server.Send(ctx, []byte{1, 2, 3, 4}))
	r = awaitCall(t, res, "a call on a Client whose server broke the protocol is still waiting after 10 s")
	require.ErrorIs(t, r.err, conn.ErrProtocol)
	require.ErrorContains(t, r.err, "a 4-byte reply")
	_, err := cl.Call(ctx, []byte("e"))
	require.ErrorIs(t, err, conn.ErrProtocol, "a failed Client's later calls")
	require.NoError(t, client.Close())
	require.NoError(t, server.Close())

	client, server = pair(t, l, conn.Config{})
	cl = conn.NewClient(client)
	res = callAsync(ctx, cl, []byte("f"))
	_, err = server.Recv(ctx, buf)
	require.NoError(t, err)
	require.NoError(t, server.Send(ctx, append(replyHead(0, 9), "x"...)))
	r = awaitCall(t, res, "a call on a Client whose server broke the protocol is still waiting after 10 s")
	require.ErrorIs(t, r.err, conn.ErrProtocol)
	require.ErrorContains(t, r.err, "reply kind 9")
	require.NoError(t, client.Close())
	require.NoError(t, server.Close())
}

// TestCallAloneEndedContext: a call made alone whose context has already
// ended returns ctx's error, like any other call, though its request goes
// (Send looks at ctx only when it waits) and its reply comes within
// microseconds, long before Recv, waiting, first looks at ctx: it looks
// before it reads. The next call gets its own reply, not that one.
func TestCallAloneEndedContext(t *testing.T) {
	shmtest.NoLeaks(t)
	l := listen(t, conn.Config{Slots: 8, SlotSize: 128})
	client, server := pair(t, l, conn.Config{})
	served := serve(t, server, upper)
	cl := conn.NewClient(client)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ended, end := context.WithCancel(ctx)
	end()
	for round := range 20 {
		resp, err := cl.Call(ctx, []byte("warm")) // after it, the next call is made alone
		require.NoError(t, err)
		require.Equal(t, "WARM", string(resp))
		_, err = cl.Call(ended, []byte("x"))
		require.ErrorIs(t, err, context.Canceled, "round %d", round)
	}
	resp, err := cl.Call(ctx, []byte("last"))
	require.NoError(t, err)
	require.Equal(t, "LAST", string(resp))
	require.NoError(t, client.Close())
	require.NoError(t, <-served)
	require.NoError(t, server.Close())
}

// TestCallAloneShortReplyOverHead: a lone call copies its reply into the
// Client's buffer and looks for its head there. A reply shorter than the
// head leaves bytes of the last one behind it, which with this one's
// would read as a head of the call's own (id 1, here, over the head of
// call 0's reply); it must fail the Client with ErrProtocol, not be taken
// for a reply.
func TestCallAloneShortReplyOverHead(t *testing.T) {
	shmtest.NoLeaks(t)
	l := listen(t, conn.Config{Slots: 8, SlotSize: 128})
	client, server := pair(t, l, conn.Config{})
	defer func() {
		require.NoError(t, client.Close())
		require.NoError(t, server.Close())
	}()
	cl := conn.NewClient(client)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h := &handServer{t: t, ctx: ctx, server: server, buf: make([]byte, 1024)}
	h.call(cl, "a", "A")

	res := callAsync(ctx, cl, []byte("b"))
	id := h.request("b")
	require.Equal(t, uint64(1), id, "a Client numbers its calls from 0")
	require.NoError(t, server.Send(ctx, []byte{byte(id)}))
	r := awaitCall(t, res, "a call on a Client whose server broke the protocol is still waiting after 10 s")
	require.ErrorIs(t, r.err, conn.ErrProtocol)
	require.ErrorContains(t, r.err, "a 1-byte reply")
}

// TestCallAloneGivesUpBeforeTheTurnGoes: a call made alone whose context
// ends while it reads must be an orphan before it gives the turn back. The
// hook holds it between the two steps while a second call is made: given
// the turn first, that call was made alone, read the first call's reply
// as nobody's and dropped it; the orphan made after then waited for it
// for ever, with a drain reading for nothing.
func TestCallAloneGivesUpBeforeTheTurnGoes(t *testing.T) {
	shmtest.NoLeaks(t)
	l := listen(t, conn.Config{Slots: 8, SlotSize: 128})
	client, server := pair(t, l, conn.Config{})
	served := serve(t, server, func(ctx context.Context, req []byte) ([]byte, error) {
		if string(req) == "slow" {
			time.Sleep(100 * time.Millisecond)
		}
		return upper(ctx, req)
	})
	cl := conn.NewClient(client)
	bg, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var second <-chan callResult
	restore := conn.SetTestHookQuit(func() {
		second = callAsync(bg, cl, []byte("fast"))
		time.Sleep(300 * time.Millisecond)
	})
	ctx, cancelSlow := context.WithTimeout(bg, 10*time.Millisecond)
	_, err := cl.Call(ctx, []byte("slow"))
	cancelSlow()
	restore()
	require.ErrorIs(t, err, context.DeadlineExceeded)
	r := awaitCall(t, second, "the second call is still waiting after 10 s")
	require.NoError(t, r.err)
	require.Equal(t, "FAST", string(r.b))
	require.Eventually(t, func() bool { return clientGoroutines() == 0 }, 10*time.Second, time.Millisecond,
		"an idle Client keeps %d goroutines", clientGoroutines())
	b, err := cl.Call(bg, []byte("last"))
	require.NoError(t, err)
	require.Equal(t, "LAST", string(b))
	require.NoError(t, client.CloseWrite())
	require.NoError(t, <-served)
}

// TestCallCloseDuringCopy: Close from another goroutine while a caller
// copies its reply out of the slot lent to it swaps the segment's pages
// for zeros under the copy. The call must then fail with ring.ErrClosed,
// never return a reply with zeros in it as a success, nor blame the
// server (ErrProtocol for a head read as zeros). Found by review: the
// Release after the copy, which sees the Close, had its error dropped.
func TestCallCloseDuringCopy(t *testing.T) {
	shmtest.NoLeaks(t)
	const slot = 16 << 20 // a copy of milliseconds, for Close to land in
	l := listen(t, conn.Config{Slots: 2, SlotSize: slot})
	body := bytes.Repeat([]byte{0xAB}, slot-4-9)
	msg := make([]byte, 9+len(body))
	copy(msg[9:], body)
	msg[8] = 1 // a reply
	buf := make([]byte, 1024)
	var good, closed int
	for i := range 30 {
		client, server := pair(t, l, conn.Config{})
		cl := conn.NewClient(client)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		res := make(chan callResult, 1)
		go func() {
			b, err := cl.AppendCall(ctx, make([]byte, 0, len(body)), []byte("q"))
			res <- callResult{b, err}
		}()
		n, err := server.Recv(ctx, buf)
		require.NoError(t, err)
		require.Equal(t, 10, n)
		copy(msg, buf[:8]) // the call's id
		require.NoError(t, server.Send(ctx, msg))
		time.Sleep(time.Duration(i%15) * 100 * time.Microsecond)
		_ = client.Close()
		r := <-res
		switch {
		case r.err == nil:
			require.True(t, bytes.Equal(body, r.b), "round %d: a call under Close returned a %d-byte reply with a byte other than 0xAB at %d",
				i, len(r.b), firstOther(r.b, 0xAB))
			good++
		default:
			require.ErrorIs(t, r.err, ring.ErrClosed, "round %d", i)
			closed++
		}
		cancel()
		require.NoError(t, server.Close())
	}
	t.Logf("%d calls returned their reply, %d ErrClosed", good, closed)
}

// firstOther is the index of b's first byte other than c, or -1.
func firstOther(b []byte, c byte) int {
	for i, x := range b {
		if x != c {
			return i
		}
	}
	return -1
}
