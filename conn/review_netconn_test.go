//go:build linux

// Regression tests from the review of 2026-12-06: each test's comment says
// what the first version of conn did wrong; the test holds the fix.

package conn_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/shmring/shmring/conn"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
)

// TestReviewReadAfterClose: Read keeps the ring's MessageReader between
// calls (stream.rm), with the rest of the message as a slice into the
// segment. Close cannot unmap what is lent, so it maps private zero pages
// over the segment (shmseg.DetachPrivate), and the next Read copies the
// rest of the message out of them before it finds the ring closed: it
// returns bytes the peer never sent (zeros) with net.ErrClosed, and an
// io.Reader's caller takes those n bytes as data. A Read running while
// another goroutine closes copies the same zeros mid-message, with no
// error at all if the copy fills its buffer.
func TestReviewReadAfterClose(t *testing.T) {
	shmtest.NoLeaks(t)
	l := listen(t, conn.Config{Slots: 16, SlotSize: 256})
	client, server := pair(t, l, conn.Config{})
	_, err := client.Write([]byte("hello, world"))
	require.NoError(t, err)
	buf := make([]byte, 5)
	n, err := server.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "hello", string(buf[:n]))
	require.NoError(t, server.Close())
	// A buffer shorter than the rest: the copy fills it, and no error.
	buf = make([]byte, 3)
	n, err = server.Read(buf)
	require.ErrorIs(t, err, net.ErrClosed, "Read after Close returned %d bytes %q (the peer sent \", w\")", n, buf[:n])
	require.Zero(t, n)
}

// TestReviewCloseLeaksMapping: for the same reason, a Conn closed after a
// Read that ended exactly at a message's end (the message is released only
// by the next Read) keeps its receiving ring's whole address range mapped
// until the process exits. A server that closes its connections so leaks a
// ring's size of address space and a mapping (vm.max_map_count) each time.
// A Conn closed with nothing read unmaps it: the control case.
func TestReviewCloseLeaksMapping(t *testing.T) {
	shmtest.NoLeaks(t)
	l := listen(t, conn.Config{Slots: 16, SlotSize: 256})
	for _, read := range []bool{false, true} {
		client, server := pair(t, l, conn.Config{})
		_, recv := server.Rings()
		seg, err := recv.Segment().Bytes()
		require.NoError(t, err)
		addr := uintptr(unsafe.Pointer(unsafe.SliceData(seg)))
		msg := []byte("exactly this")
		_, err = client.Write(msg)
		require.NoError(t, err)
		if read {
			buf := make([]byte, len(msg))
			_, err := server.Read(buf)
			require.NoError(t, err)
		} else {
			// Wait for the message to arrive, without reading it.
			require.Eventually(t, func() bool { return recv.Stats().Fill > 0 }, 10*time.Second, time.Millisecond)
		}
		require.NoError(t, server.Close())
		require.NoError(t, client.Close())
		require.False(t, mapped(t, addr), "after a Read of %v and Close, the receiving ring's range %#x is still mapped", read, addr)
	}
}

// mapped reports whether addr lies in a mapping of this process.
func mapped(t *testing.T, addr uintptr) bool {
	f, err := os.Open("/proc/self/maps")
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lo, hi, ok := strings.Cut(strings.Fields(sc.Text())[0], "-")
		require.True(t, ok)
		a, err := strconv.ParseUint(lo, 16, 64)
		require.NoError(t, err)
		b, err := strconv.ParseUint(hi, 16, 64)
		require.NoError(t, err)
		if uint64(addr) >= a && uint64(addr) < b {
			return true
		}
	}
	require.NoError(t, sc.Err())
	return false
}

// TestReviewZeroRead: net's conns (poll.FD.Read) return 0, nil at once for
// an empty buffer; Read waits for a message first, here until its deadline.
func TestReviewZeroRead(t *testing.T) {
	shmtest.NoLeaks(t)
	l := listen(t, conn.Config{Slots: 16, SlotSize: 256})
	client, _ := pair(t, l, conn.Config{})
	require.NoError(t, client.SetReadDeadline(time.Now().Add(2*time.Second)))
	n, err := client.Read(nil)
	require.NoError(t, err, fmt.Sprintf("Read(nil) returned %d", n))
}
