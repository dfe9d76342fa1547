//go:build linux

package conn_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/conn"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
)

// upper is the test's handler: the request in upper case, or an error for
// a request that asks for one.
func upper(_ context.Context, req []byte) ([]byte, error) {
	if bytes.HasPrefix(req, []byte("fail:")) {
		return nil, errors.New(string(req[5:]))
	}
	return bytes.ToUpper(req), nil
}

// serve runs Serve on the server's end until the test ends.
func serve(t *testing.T, server *conn.Conn, h conn.Handler) <-chan error {
	done := make(chan error, 1)
	go func() { done <- conn.Serve(context.Background(), server, h) }()
	return done
}

// TestCalls makes calls from many goroutines at once on one connection,
// with replies from a byte to many times the ring: each gets its own reply.
func TestCalls(t *testing.T) {
	shmtest.NoLeaks(t)
	l := listen(t, conn.Config{Slots: 8, SlotSize: 128})
	client, server := pair(t, l, conn.Config{})
	served := serve(t, server, upper)
	cl := conn.NewClient(client)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				req := fmt.Sprintf("g%d-call%d-", g, i) + strings.Repeat("x", (i*37)%3000)
				var resp []byte
				var err error
				want := strings.ToUpper(req)
				if g%2 == 0 {
					resp, err = cl.Call(ctx, []byte(req))
				} else {
					// AppendCall, onto a prefix, with room for
					// the reply or without.
					prefix := fmt.Sprintf("prefix%d:", i)
					dst := append(make([]byte, 0, len(prefix)+(i%2)*len(req)), prefix...)
					resp, err = cl.AppendCall(ctx, dst, []byte(req))
					want = prefix + want
				}
				if err == nil && string(resp) != want {
					err = fmt.Errorf("call %q: got the reply %.40q", req, resp)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	_, err := cl.Call(ctx, []byte("fail:no such key"))
	var re *conn.RemoteError
	require.ErrorAs(t, err, &re)
	require.Equal(t, "no such key", re.Msg)
	dst := append(make([]byte, 0, 64), "kept"...)
	b, err := cl.AppendCall(ctx, dst, []byte("fail:no such key"))
	require.ErrorAs(t, err, &re)
	require.Equal(t, "kept", string(b), "AppendCall returns dst as it was on an error")

	require.NoError(t, client.CloseWrite())
	require.NoError(t, <-served, "Serve ends well when its client closes")
}

// TestAppendCallAllocs: a call whose reply fits the buffer it is appended
// to allocates nothing, the server's side included (its handler echoes),
// whether the reply fits one slot or takes several.
func TestAppendCallAllocs(t *testing.T) {
	shmtest.NoLeaks(t)
	l := listen(t, conn.Config{})
	client, server := pair(t, l, conn.Config{})
	served := serve(t, server, func(_ context.Context, req []byte) ([]byte, error) { return req, nil })
	cl := conn.NewClient(client)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// 64 bytes fit a slot of conn's default 1 KiB; 4 KiB are five
	// fragments of them, read through a MessageReader.
	for _, n := range []int{64, 4096} {
		req, dst := bytes.Repeat([]byte("a"), n), make([]byte, 0, n)
		var err error
		allocs := testing.AllocsPerRun(1000, func() {
			var b []byte
			if b, err = cl.AppendCall(ctx, dst[:0], req); err == nil && !bytes.Equal(b, req) {
				err = fmt.Errorf("the reply %q", b)
			}
		})
		require.NoError(t, err)
		require.Zero(t, allocs, "allocations per call of %d bytes", n)
	}
	require.NoError(t, client.CloseWrite())
	require.NoError(t, <-served)
}

// TestCallEnds: a call whose context ends returns, the Client goes on, and
// calls waiting when the server closes return io.EOF.
func TestCallEnds(t *testing.T) {
	shmtest.NoLeaks(t)
	l := listen(t, conn.Config{Slots: 8, SlotSize: 128})
	client, server := pair(t, l, conn.Config{})
	release := make(chan struct{})
	served := serve(t, server, func(ctx context.Context, req []byte) ([]byte, error) {
		if string(req) == "slow" {
			<-release
		}
		return req, nil
	})
	cl := conn.NewClient(client)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	_, err := cl.Call(ctx, []byte("slow"))
	cancel()
	require.ErrorIs(t, err, context.DeadlineExceeded)
	close(release)
	resp, err := cl.Call(context.Background(), []byte("next"))
	require.NoError(t, err, "the late reply to the abandoned call is dropped, not taken for this one")
	require.Equal(t, "next", string(resp))

	require.NoError(t, server.Close())
	_, err = cl.Call(context.Background(), []byte("after"))
	require.Error(t, err)
	require.True(t, errors.Is(err, io.EOF) || errors.Is(err, conn.ErrClosed) || strings.Contains(err.Error(), "closed"), "%v", err)
	<-served
}

// TestCallsGiveUp: calls from many goroutines, many of which give up
// (their deadlines end while their requests or replies are in the ring,
// some of those replies larger than the ring), against a handler that
// takes its time. Every call that returns a reply gets its own; the others
// return their deadline. The Client works on after all of them, and, idle,
// keeps no goroutine of its own.
//
// Half the goroutines use AppendCall onto a buffer each reuses from call
// to call, and overwrite the whole buffer as soon as a call returns: under
// -race, a reply read into the buffer of a call that has returned (by the
// goroutine holding the turn or a drain, into a call it claimed) is a race
// with that write; with or without, a reply handed to the wrong call, or
// left in a pooled call's channel for the next one, shows as a wrong
// reply. A failed AppendCall returns dst as it was.
func TestCallsGiveUp(t *testing.T) {
	shmtest.NoLeaks(t)
	l := listen(t, conn.Config{Slots: 8, SlotSize: 128})
	client, server := pair(t, l, conn.Config{})
	served := serve(t, server, func(ctx context.Context, req []byte) ([]byte, error) {
		if len(req)%3 == 0 {
			time.Sleep(time.Duration(len(req)%7) * 100 * time.Microsecond)
		}
		return upper(ctx, req)
	})
	cl := conn.NewClient(client)
	timeouts := []time.Duration{50 * time.Microsecond, 300 * time.Microsecond, 2 * time.Millisecond, time.Minute}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	var gaveUp, answered atomic.Int64
	for g := range 8 {
		wg.Go(func() {
			appends := g%2 == 1
			buf := make([]byte, 0, 2600)
			for i := range 200 {
				req := fmt.Sprintf("g%d-call%d-", g, i) + strings.Repeat("x", (i*131+g*17)%2500)
				want := strings.ToUpper(req)
				ctx, cancel := context.WithTimeout(context.Background(), timeouts[(i+g)%len(timeouts)])
				var b, dst []byte
				var err error
				if appends {
					prefix := fmt.Sprintf("%d:", i)
					dst = append(buf[:0], prefix...)
					b, err = cl.AppendCall(ctx, dst, []byte(req))
					want = prefix + want
				} else {
					b, err = cl.Call(ctx, []byte(req))
				}
				cancel()
				switch {
				case err != nil && appends && (len(b) != len(dst) || !sameArray(b, dst)):
					err = fmt.Errorf("call %.20q: %w, and a %d-byte slice other than dst", req, err, len(b))
				case errors.Is(err, context.DeadlineExceeded):
					gaveUp.Add(1)
					err = nil
				case err == nil && string(b) != want:
					err = fmt.Errorf("call %.20q: got the reply %.40q", req, b)
				case err == nil && appends && !sameArray(b, buf):
					err = fmt.Errorf("call %.20q: the reply is not in dst's array, which had room", req)
				case err == nil:
					answered.Add(1)
				}
				if appends {
					// Every byte of the buffer is this goroutine's
					// again: a late reply would race with these writes.
					full := buf[:cap(buf)]
					for j := range full {
						full[j] = '#'
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		_ = client.Close() // every call waiting returns
		t.Fatal("calls still waiting after 2 minutes")
	}
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	t.Logf("%d calls answered, %d gave up", answered.Load(), gaveUp.Load())
	require.NotZero(t, answered.Load())

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	resp, err := cl.Call(ctx, []byte("last"))
	require.NoError(t, err, "a call after all those that gave up")
	require.Equal(t, "LAST", string(resp))
	b, err := cl.AppendCall(ctx, []byte("last:"), []byte("last"))
	require.NoError(t, err)
	require.Equal(t, "last:LAST", string(b))
	require.Eventually(t, func() bool { return clientGoroutines() == 0 }, 30*time.Second, time.Millisecond,
		"an idle Client keeps %d goroutines", clientGoroutines())

	require.NoError(t, client.CloseWrite())
	require.NoError(t, <-served)
}

// clientGoroutines counts the goroutines running a Client's code.
func clientGoroutines() int {
	buf := make([]byte, 1<<20)
	return strings.Count(string(buf[:runtime.Stack(buf, true)]), "conn.(*Client)")
}

// TestCallEndedContextStopsReading: the caller reading replies looks at
// its context before each read, not only when the ring makes it wait,
// which it never does while others' replies keep coming. Here replies to
// no call wait in the ring, and behind them a message of no kind, which
// fails the Client with ErrProtocol whoever reads it. A call whose context
// has already ended sends (Send looks at ctx only when it waits) and must
// return context.Canceled, not read on to that message. (What it leaves,
// a drain reads once it has given up.)
func TestCallEndedContextStopsReading(t *testing.T) {
	shmtest.NoLeaks(t)
	l := listen(t, conn.Config{Slots: 256, SlotSize: 64})
	client, server := pair(t, l, conn.Config{})
	defer func() {
		require.NoError(t, client.Close())
		require.NoError(t, server.Close())
	}()
	for range 200 {
		require.NoError(t, server.Send(context.Background(), replyHead(1<<60, 1)))
	}
	require.NoError(t, server.Send(context.Background(), replyHead(1<<60, 7)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := conn.NewClient(client).Call(ctx, []byte("x"))
	require.ErrorIs(t, err, context.Canceled, "a call whose context had ended read on")
}
