//go:build linux

// Tests from the third review of the Client (AppendCall, calls claimed
// before their replies are read into their buffers, requests and replies
// that fit a slot sent with Reserve and Commit): what the earlier tests
// did not check.

package conn_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/conn"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
	"github.com/shmring/shmring/ring"
)

// echoOrFail answers a request with itself, or with an error of its text
// after "fail:".
func echoOrFail(_ context.Context, req []byte) ([]byte, error) {
	if t, ok := bytes.CutPrefix(req, []byte("fail:")); ok {
		return nil, errors.New(string(t))
	}
	return req, nil
}

// pattern is n bytes that differ from one size to the next.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte((i+n)%26)
	}
	return b
}

// sameArray reports whether b lies in dst's array, from its start.
func sameArray(b, dst []byte) bool {
	return cap(b) > 0 && cap(dst) > 0 && unsafe.SliceData(b) == unsafe.SliceData(dst)
}

// TestReview3AppendCallBoundaries: requests and replies (an echo) of every
// size around the edges of a slot and of the ring, through AppendCall onto
// a prefix, with room for the reply in dst, without, and onto nil. A
// message of SlotSize-4 bytes, head included, is the longest sent with
// Reserve; one byte more goes in two fragments. The reply is appended to
// dst, in dst's array when it has room (for a reply larger than the ring,
// which is read into a buffer of its own first, too), and dst's own bytes
// stay as they were. A failed reply of those sizes returns dst as it was.
func TestReview3AppendCallBoundaries(t *testing.T) {
	shmtest.NoLeaks(t)
	// Slots of 64 bytes: 60 of payload; a fragmented message's first
	// fragment carries 52 (its total takes 8), the others 60. The ring
	// holds 52+3*60 = 232 bytes of one message whole; more streams.
	const slotSize, slots = 64, 4
	l := listen(t, conn.Config{Slots: slots, SlotSize: slotSize})
	client, server := pair(t, l, conn.Config{})
	served := serve(t, server, echoOrFail)
	cl := conn.NewClient(client)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const head = 9
	prefix := []byte("prefix:")
	for _, n := range []int{head, slotSize - 5, slotSize - 4, slotSize - 3, slotSize - 2,
		52 + 60, 52 + 60 + 1, 232 - 1, 232, 232 + 1, 1000} {
		req := pattern(n - head)
		want := append(append([]byte{}, prefix...), req...)
		for _, tc := range []struct {
			name string
			dst  []byte
			room bool
		}{
			{"nil", nil, false},
			{"prefix, room", append(make([]byte, 0, len(want)), prefix...), true},
			{"prefix, a byte short", append(make([]byte, 0, len(want)-1), prefix...), false},
			{"empty, room", make([]byte, 0, len(req)), len(req) > 0},
		} {
			what := fmt.Sprintf("a %d-byte message, dst %s", n, tc.name)
			kept := bytes.Clone(tc.dst)
			b, err := cl.AppendCall(ctx, tc.dst, req)
			require.NoError(t, err, what)
			w := want
			if len(tc.dst) == 0 {
				w = req
			}
			require.Equal(t, string(w), string(b), what)
			require.Equal(t, string(kept), string(tc.dst), "%s: dst's bytes changed", what)
			if tc.room {
				require.True(t, sameArray(b, tc.dst), "%s: the reply is not in dst's array, which had room", what)
			}

			// The same size, failed: dst comes back as it was.
			if n < len("fail:")+head {
				continue
			}
			text := string(req[len("fail:"):])
			b, err = cl.AppendCall(ctx, tc.dst, append([]byte("fail:"), req[len("fail:"):]...))
			var re *conn.RemoteError
			require.ErrorAs(t, err, &re, what)
			require.Equal(t, text, re.Msg, what)
			require.Equal(t, len(tc.dst), len(b), what)
			require.Equal(t, cap(tc.dst), cap(b), what)
			require.True(t, tc.dst == nil && b == nil || sameArray(b, tc.dst), "%s: a failed call returned another slice than dst", what)
			require.Equal(t, string(kept), string(tc.dst), "%s: a failed call changed dst's bytes", what)
		}
	}
	require.NoError(t, client.CloseWrite())
	require.NoError(t, <-served)
}

// TestReview3MaxMessageBelowSlot: a connection whose MaxMessage is less
// than a slot's payload, so that the longest message Reserve takes is
// MaxMessage, not SlotSize-4. A request of MaxMessage bytes, head included,
// goes; one a byte longer is ErrMessageTooLarge, dst returned as it was. A
// reply longer than MaxMessage allows comes back as a *RemoteError, and so
// does a handler's error whose text is longer: it is cut to fit.
func TestReview3MaxMessageBelowSlot(t *testing.T) {
	shmtest.NoLeaks(t)
	const maxMessage, head = 64, 9
	l := listen(t, conn.Config{Slots: 8, SlotSize: 128, MaxMessage: maxMessage})
	client, server := pair(t, l, conn.Config{})
	long := strings.Repeat("é", 100) // 200 bytes, cut in the middle of a character at 55
	served := serve(t, server, func(ctx context.Context, req []byte) ([]byte, error) {
		switch string(req) {
		case "long reply":
			return make([]byte, maxMessage-head+1), nil
		case "long error":
			return nil, errors.New(long)
		}
		return echoOrFail(ctx, req)
	})
	defer func() { _ = server.Close(); <-served }()
	cl := conn.NewClient(client)
	call := func(dst, req []byte) callResult {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		b, err := cl.AppendCall(ctx, dst, req)
		return callResult{b, err}
	}

	req := pattern(maxMessage - head)
	r := call([]byte("p:"), req)
	require.NoError(t, r.err, "a request of MaxMessage bytes")
	require.Equal(t, "p:"+string(req), string(r.b))

	dst := append(make([]byte, 0, 128), "p:"...)
	r = call(dst, pattern(maxMessage-head+1))
	require.ErrorIs(t, r.err, ring.ErrMessageTooLarge, "a request a byte longer than MaxMessage")
	require.True(t, len(r.b) == len(dst) && sameArray(r.b, dst), "AppendCall returns dst as it was on an error")

	var re *conn.RemoteError
	r = call(nil, []byte("long reply"))
	require.ErrorAs(t, r.err, &re, "a reply longer than MaxMessage allows")
	require.True(t, strings.HasPrefix(re.Msg, fmt.Sprintf("conn: a %d-byte reply", maxMessage-head+1)), "%q", re.Msg)
	require.LessOrEqual(t, len(re.Msg), maxMessage-head, "the error text, cut to fit")

	r = call(nil, []byte("long error"))
	require.ErrorAs(t, r.err, &re, "a handler error longer than MaxMessage allows")
	require.LessOrEqual(t, len(re.Msg), maxMessage-head)
	require.True(t, strings.HasPrefix(long, re.Msg) && len(re.Msg) >= maxMessage-head-1, "the error text, cut: %q", re.Msg)

	r = call(nil, []byte("still there"))
	require.NoError(t, r.err, "a call after those")
	require.Equal(t, "still there", string(r.b))
}
