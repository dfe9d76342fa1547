//go:build linux

package conn_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/conn"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
)

// TestHTTP serves HTTP/1.1 on a Listener (http.Server.Serve takes it as a
// net.Listener) to an http.Client whose Transport dials over conn: only the
// dialer differs from HTTP over TCP. Bodies from empty to 4 MiB, keep-alive
// connections reused, and the server's Shutdown.
func TestHTTP(t *testing.T) {
	shmtest.NoLeaks(t)
	l, err := conn.Listen(name(t), conn.Config{Slots: 64, SlotSize: 1024})
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%s %s from %s: %d bytes: ", r.Method, r.URL.Path, r.RemoteAddr, len(body))
		_, _ = w.Write(body)
	})}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()

	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return conn.Dial(ctx, l.Name(), conn.Config{})
	}}
	client := &http.Client{Transport: tr, Timeout: time.Minute}
	for _, size := range []int{0, 1, 1000, 100 << 10, 4 << 20} {
		body := strings.Repeat("x", size)
		resp, err := client.Post("http://kv/echo", "text/plain", strings.NewReader(body))
		require.NoError(t, err, "%d-byte body", size)
		got, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, http.StatusOK, resp.StatusCode)
		head, rest, ok := strings.Cut(string(got), ": ")
		require.True(t, ok, "%.80q", got)
		require.Regexp(t, `^POST /echo from test-[0-9a-f]+#[0-9]+$`, head)
		require.Equal(t, fmt.Sprintf("%d bytes: %s", size, body), rest)
	}
	tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, srv.Shutdown(ctx))
	require.ErrorIs(t, <-served, http.ErrServerClosed)
}

// TestStream checks the byte stream's own promises beyond nettest's: a
// Write of any length arrives whole and in order through a small ring;
// Read returns what is there without waiting for more; CloseWrite is a
// half-close; a Write cut short by its deadline reports a prefix of whole
// messages, and the reader gets exactly that prefix.
func TestStream(t *testing.T) {
	shmtest.NoLeaks(t)
	l := listen(t, conn.Config{Slots: 8, SlotSize: 64}) // a 480-byte ring
	client, server := pair(t, l, conn.Config{})
	big := []byte(strings.Repeat("0123456789", 100_000))
	done := make(chan error, 1)
	go func() {
		_, err := client.Write(big)
		if err == nil {
			err = client.CloseWrite()
		}
		done <- err
	}()
	got, err := io.ReadAll(server)
	require.NoError(t, err)
	require.NoError(t, <-done)
	require.Equal(t, big, got)

	// Half-closed: the other direction still works.
	_, err = server.Write([]byte("still here"))
	require.NoError(t, err)
	buf := make([]byte, 64)
	n, err := client.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "still here", string(buf[:n]), "Read returns what is there")

	// The ring from server to client is 480 bytes: a 10000-byte Write
	// with nobody reading stops at its deadline after some whole messages.
	require.NoError(t, server.SetWriteDeadline(time.Now().Add(100*time.Millisecond)))
	n, err = server.Write(make([]byte, 10000))
	require.ErrorIs(t, err, os.ErrDeadlineExceeded)
	var ne net.Error
	require.ErrorAs(t, err, &ne)
	require.True(t, ne.Timeout())
	require.Less(t, n, 10000)
	require.NoError(t, server.SetWriteDeadline(time.Time{}))
	require.NoError(t, server.CloseWrite())
	rest, err := io.ReadAll(client)
	require.NoError(t, err)
	require.Len(t, rest, n, "the reader gets exactly what Write reported sent")
}
