//go:build linux

package conn_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/conn"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
)

// staleSocket leaves at path the socket file of a server that is gone, as
// a killed one leaves it.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	require.NoError(t, err)
	ln.SetUnlinkOnClose(false)
	require.NoError(t, ln.Close())
}

// TestListenStaleRace: servers that find the same stale socket file at
// once take it over one at a time. Exactly one listens, the others are
// refused with EADDRINUSE, and the winner's socket is the one at the path:
// a second taker must not remove the socket the first has just bound.
func TestListenStaleRace(t *testing.T) {
	shmtest.NoLeaks(t)
	path := filepath.Join(t.TempDir(), "race.sock")
	const servers = 8
	for round := range 30 {
		staleSocket(t, path)
		var (
			wg    sync.WaitGroup
			start = make(chan struct{})
			ls    = make([]*conn.Listener, servers)
			errs  = make([]error, servers)
		)
		for i := range servers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				ls[i], errs[i] = conn.Listen(path, conn.Config{})
			}()
		}
		close(start)
		wg.Wait()
		t.Cleanup(func() {
			for _, l := range ls {
				if l != nil {
					_ = l.Close()
				}
			}
		})

		var won *conn.Listener
		for i, l := range ls {
			if errs[i] != nil {
				require.ErrorIs(t, errs[i], syscall.EADDRINUSE, "round %d, server %d", round, i)
				continue
			}
			require.True(t, won == nil, "round %d: two servers listen on one path", round)
			won = l
		}
		require.NotNil(t, won, "round %d: no server took the stale file over", round)

		// The path reaches the winner.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		accepted := make(chan error, 1)
		go func() {
			s, err := won.AcceptContext(ctx)
			if err == nil {
				err = s.Close()
			}
			accepted <- err
		}()
		c, err := conn.Dial(ctx, path, conn.Config{})
		require.NoError(t, err, "round %d: dialing the winner", round)
		require.NoError(t, <-accepted)
		require.NoError(t, c.Close())
		cancel()
		require.NoError(t, won.Close())
		_, err = os.Stat(path)
		require.ErrorIs(t, err, os.ErrNotExist, "round %d: Close removes the socket file", round)
	}
}
