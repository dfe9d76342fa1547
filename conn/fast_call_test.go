//go:build linux

package conn_test

import (
	"context"
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"github.com/shmring/shmring/conn"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/stretchr/testify/require"
)

// handServer plays the server of a Client by hand: request reads the next
// request and returns its id, reply and answer answer one.
type handServer struct {
	t      *testing.T
	ctx    context.Context
	server *conn.Conn
	buf    []byte
}

func (h *handServer) request(want string) uint64 {
	h.t.Helper()
	n, err := h.server.Recv(h.ctx, h.buf)
	require.NoError(h.t, err)
	require.Equal(h.t, want, string(h.buf[9:n]))
	return binary.LittleEndian.Uint64(h.buf)
}

func (h *handServer) reply(id uint64, body string) {
	h.t.Helper()
	h.answer(id, 1, body)
}

// answer sends a message of kind to call id: a reply (1), a failed one
// (2), or what a server breaking the protocol sends.
func (h *handServer) answer(id uint64, kind byte, body string) {
	h.t.Helper()
	require.NoError(h.t, h.server.Send(h.ctx, append(replyHead(id, kind), body...)))
}

// await waits for the call behind res, which must return want.
func (h *handServer) await(res <-chan callResult, want, stuck string) {
	h.t.Helper()
	r := awaitCall(h.t, res, stuck)
	require.NoError(h.t, r.err)
	require.Equal(h.t, want, string(r.b), "a reply not the call's own")
}

// call makes a call and answers it, the Client's only one.
func (h *handServer) call(cl *conn.Client, req, rep string) {
	h.t.Helper()
	res := callAsync(h.ctx, cl, []byte(req))
	h.reply(h.request(req), rep)
	h.await(res, rep, "a lone call is still waiting after 10 s")
}

// holding makes a call made alone ("a"), after one answered ("warm") that
// left the turn to the fast mode, and returns it, its request read and
// its reply still to come: the call holds the turn.
func (h *handServer) holding(cl *conn.Client) (<-chan callResult, uint64) {
	h.t.Helper()
	h.call(cl, "warm", "WARM")
	a := callAsync(h.ctx, cl, []byte("a"))
	return a, h.request("a")
}

func newHandServer(t *testing.T) (*conn.Client, *handServer) {
	shmtest.NoLeaks(t)
	l := listen(t, conn.Config{Slots: 8, SlotSize: 128})
	client, server := pair(t, l, conn.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return conn.NewClient(client), &handServer{t: t, ctx: ctx, server: server, buf: make([]byte, 64<<10)}
}

// TestCallRevokesTheTurnOfACallMadeAlone: a call made alone keeps the turn
// for the next one (the fast mode). A second call that comes while the
// first waits for its reply sends its request at once, and once the first
// has its reply, the turn is the second's, which reads its own. Had the
// first kept the turn, the second would wait for ever.
func TestCallRevokesTheTurnOfACallMadeAlone(t *testing.T) {
	cl, h := newHandServer(t)
	a, idA := h.holding(cl) // the turn is the fast mode's, and a's now
	b := callAsync(h.ctx, cl, []byte("b"))
	idB := h.request("b") // sent while a waits
	h.reply(idA, "A")
	h.await(a, "A", "the call made alone is still waiting after 10 s")
	h.reply(idB, "B")
	h.await(b, "B", "the second call is still waiting after 10 s, for a turn the first kept")

	h.call(cl, "c", "C") // alone again
	h.call(cl, "d", "D")
}

// TestCallRevokesAnIdleTurn: a call that found another holding the turn
// (not alone), and comes to register once that one has ended and left the
// turn to the fast mode, takes it back from there. Had it left it there,
// its reply would never be read.
func TestCallRevokesAnIdleTurn(t *testing.T) {
	cl, h := newHandServer(t)
	a, idA := h.holding(cl) // the turn is the fast mode's, and a's now
	reached, proceed := make(chan struct{}), make(chan struct{})
	once := false
	restore := conn.SetTestHookNotAlone(func() {
		if !once { // the second call's, the only call not alone here
			once = true
			close(reached)
			<-proceed
		}
	})
	defer restore()
	b := callAsync(h.ctx, cl, []byte("b"))
	select {
	case <-reached:
	case <-time.After(10 * time.Second):
		t.Fatal("the second call did not find the first holding the turn")
	}
	h.reply(idA, "A")
	h.await(a, "A", "the call made alone is still waiting after 10 s")
	close(proceed) // the turn is the fast mode's, with no call in flight
	h.reply(h.request("b"), "B")
	h.await(b, "B", "the second call is still waiting after 10 s, for a turn left to the fast mode")
	restore()

	h.call(cl, "c", "C")
}

// TestCallHandedReplyBeforeTheTurn: a registered call whose reply was
// read by the caller holding the turn, and handed to it on its channel,
// may take the turn before it looks at that channel; it must then find the
// reply there before it reads, not wait in the ring for one that came.
// The second call is held here (a test hook) from its send until the
// first, holding the turn, has read both replies, handing it its own, and
// given the turn back.
func TestCallHandedReplyBeforeTheTurn(t *testing.T) {
	cl, h := newHandServer(t)
	a, idA := h.holding(cl)
	reached, proceed := make(chan struct{}), make(chan struct{})
	restore := conn.SetTestHookSent(func() {
		close(reached) // the second call's: the only one not made alone
		<-proceed
	})
	defer restore()
	b := callAsync(h.ctx, cl, []byte("b"))
	idB := h.request("b")
	select {
	case <-reached:
	case <-time.After(10 * time.Second):
		t.Fatal("the second call did not come back from sending")
	}
	h.reply(idB, "B") // read by the first call, and handed to the second
	h.reply(idA, "A")
	h.await(a, "A", "the first call is still waiting after 10 s")
	close(proceed)
	h.await(b, "B", "the second call is still waiting after 10 s, for a reply handed to it")
	restore()

	h.call(cl, "c", "C")
}

// TestCallDuplicateReplyDropped: a call that read its own reply, holding
// the turn as a registered call, is no longer anyone's: a second reply to
// it (a server's fault) is dropped, never handed to a later call. Were
// the call left registered, later calls would not be made alone (a call
// looks in flight), and would take registrations from the pool, where the
// first one's is: the duplicate, handed to it, would be a later call's
// reply.
func TestCallDuplicateReplyDropped(t *testing.T) {
	cl, h := newHandServer(t)
	a, idA := h.holding(cl)
	b := callAsync(h.ctx, cl, []byte("b")) // registered: a holds the turn
	idB := h.request("b")
	h.reply(idA, "A")
	h.await(a, "A", "the first call is still waiting after 10 s")
	h.reply(idB, "B") // read by b itself, holding the turn now
	h.await(b, "B", "the second call is still waiting after 10 s")

	h.reply(idB, "B again")
	for _, req := range []string{"c", "d"} {
		res := callAsync(h.ctx, cl, []byte(req))
		want := strings.ToUpper(req)
		h.reply(h.request(req), want)
		h.await(res, want, "a call after a duplicate reply is still waiting after 10 s")
	}
}

// TestCallAloneAfterARevokerSent: a call takes the turn from the fast mode,
// and before it takes the sending, a second call revokes the mode and
// sends its request. The first is then not alone (the second's reply is
// to come) and must not send holding the turn: here the second's reply is
// four times the ring and the first's request too, so a server blocked
// sending that reply reads no request, and a first call blocked sending
// with the turn held would leave the reply unread for ever.
func TestCallAloneAfterARevokerSent(t *testing.T) {
	cl, h := newHandServer(t) // rings of 8 slots of 128 bytes
	h.call(cl, "warm", "WARM")
	big := strings.Repeat("x", 4096)
	reached, proceed := make(chan struct{}), make(chan struct{})
	restore := conn.SetTestHookFast(func() {
		close(reached)
		<-proceed
	})
	defer restore()
	a := callAsync(h.ctx, cl, []byte(big))
	select {
	case <-reached:
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not take the turn from the fast mode")
	}
	restore() // once
	b := callAsync(h.ctx, cl, []byte("b"))
	idB := h.request("b") // b revoked and sent while a stands between the two
	sent := make(chan error, 1)
	go func() { sent <- h.server.Send(h.ctx, append(replyHead(idB, 1), big...)) }()
	close(proceed)
	select {
	case err := <-sent:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("b's reply is still unread after 10 s: the first call sent holding the turn")
	}
	h.await(b, big, "b is still waiting after 10 s")
	h.reply(h.request(big), "A")
	h.await(a, "A", "the first call is still waiting after 10 s")
	h.call(cl, "c", "C")
}
