//go:build linux

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/conn"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
)

// uniqueName is a server name no other test, here or in another test
// binary running at the same time, uses.
func uniqueName() string {
	return "kvtest-" + rand.Text()[:12]
}

// TestServeInProcess runs the server and its clients in this process, so
// that the race detector sees the store's locking and serve's goroutines
// (it cannot see the rings' shared memory, nor into the processes of
// main_test.go): clients at once, each with many goroutines, a 1 MiB
// value, a missing key, and a shutdown with a client still connected.
func TestServeInProcess(t *testing.T) {
	shmtest.NoLeaks(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	l, err := conn.Listen(uniqueName(), conn.Config{})
	require.NoError(t, err)
	var logs strings.Builder // log.Logger serializes its writes
	serveCtx, stop := context.WithCancel(ctx)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- serve(serveCtx, l, log.New(&logs, "", 0)) }()

	const clients = 4
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dial(ctx, l.Name())
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			r, err := bench(ctx, c, fmt.Sprintf("bench/%d", i), 400, 4, 100)
			if err == nil && len(r.latencies) != 400 {
				err = fmt.Errorf("bench timed %d calls, want 400", len(r.latencies))
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	c, err := dial(ctx, l.Name())
	require.NoError(t, err)
	defer c.Close()
	big := make([]byte, 1<<20)
	_, _ = rand.Read(big)
	require.NoError(t, c.set(ctx, "big", big))
	got, err := c.get(ctx, "big")
	require.NoError(t, err)
	require.True(t, bytes.Equal(big, got), "the 1 MiB value comes back as it was set")
	_, err = c.get(ctx, "missing")
	var remote *conn.RemoteError
	require.ErrorAs(t, err, &remote)
	require.Equal(t, errNoSuchKey.Error(), remote.Msg)

	stop()
	require.NoError(t, <-served)
	_, err = c.get(ctx, "big")
	require.ErrorContains(t, explain(err), "the server closed the connection")
	_, err = dial(ctx, l.Name())
	require.Error(t, err, "nobody listens after serve returned")
	require.Contains(t, logs.String(), fmt.Sprintf("shutting down; clients served: %d", clients+1))
	require.Contains(t, logs.String(), "closed by the server", "the client still connected was closed")
}
