//go:build linux

package conn_test

import (
	"context"
	"net"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"github.com/shmring/shmring/conn"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
)

// TestNetConn runs x/net/nettest's conformance suite for net.Conn, as it
// is, against a connection: both ends in this process, over a ring of 16
// slots so that its 1 MiB transfer goes round many times.
func TestNetConn(t *testing.T) {
	shmtest.NoLeaks(t)
	l, err := conn.Listen(name(t), conn.Config{Slots: 16, SlotSize: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := l.AcceptContext(ctx)
			if err != nil {
				accepted <- nil
				return
			}
			accepted <- c
		}()
		client, err := conn.Dial(ctx, l.Name(), conn.Config{})
		if err != nil {
			return nil, nil, nil, err
		}
		server := <-accepted
		if server == nil {
			client.Close()
			return nil, nil, nil, ctx.Err()
		}
		return client, server, func() { client.Close(); server.Close() }, nil
	})
}
