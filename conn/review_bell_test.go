//go:build linux

// Regression tests from the review of 2026-12-06: each test's comment says
// what the first version of conn did wrong; the test holds the fix.

package conn

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/shmring/shmring/internal/testsupport/shmtest"
)

// reviewPair makes a connection with both ends in this process, from inside
// the package, so that a test can play a hostile peer with its bells.
func reviewPair(t *testing.T, cfg Config) (client, server *Conn) {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	l, err := Listen(fmt.Sprintf("review-%x", b), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	accepted := make(chan *Conn, 1)
	go func() {
		c, _ := l.AcceptContext(ctx)
		accepted <- c
	}()
	client, err = Dial(ctx, l.Name(), Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	server = <-accepted
	require.NotNil(t, server)
	t.Cleanup(func() { _ = server.Close() })
	return client, server
}

// TestReviewSaturatedBellBlocksClose: the peer shares every eventfd, so it
// can write 0xfffffffffffffffe to one, the counter's maximum. From then on
// a write of 1 would overflow: the kernel says EAGAIN, and bell.Ring, which
// writes through an *os.File, parks on the netpoller until someone reads
// the counter, with no deadline. The ring's contract (Doorbell.Ring "must
// not block") breaks: here Close, whose closeSide rings the bell the peer
// saturated, never returns; a Send that wakes the sleeping peer (a peer can
// raise its sleeping flag in the header at will) would hang the same way,
// whatever its context. A hostile client can so wedge a server's
// goroutines and its Close, and a hostile server its client's.
func TestReviewSaturatedBellBlocksClose(t *testing.T) {
	shmtest.NoLeaks(t)
	client, server := reviewPair(t, Config{Slots: 4, SlotSize: 64})
	// The client plays the hostile peer: the bell its consumer sleeps on
	// (s2c data) is the one the server rings when it closes its producer.
	fd := client.bells[bellInData].fd
	var b [8]byte
	if _, err := unix.Read(fd, b[:]); err != nil && !errors.Is(err, unix.EAGAIN) {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint64(b[:], 0xfffffffffffffffe)
	_, err := unix.Write(fd, b[:])
	require.NoError(t, err)

	closed := make(chan error, 1)
	go func() { closed <- server.Close() }()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		// Unwedge it, so that the test leaves no goroutine behind.
		_, _ = unix.Read(fd, b[:])
		<-closed
		t.Fatal("server.Close blocked for 10 s in bell.Ring on an eventfd its peer saturated (it returned once the test read the counter)")
	}
}
