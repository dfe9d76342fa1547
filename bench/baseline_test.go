package bench

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shmring/shmring/futex"
	"github.com/shmring/shmring/internal/platform/proc"
	"github.com/shmring/shmring/internal/testsupport/benchkit"
	"github.com/shmring/shmring/shmseg"
)

// The baselines: what a program would use instead of the ring.
//
// Pipes and sockets are driven with raw blocking read(2) and write(2), one
// write per message and reads of exactly one message, on both sides: the
// kernel's cost, not that of Go's poller (an *os.File would add epoll
// round trips whenever the peer is slower). The socket is AF_UNIX
// SOCK_STREAM, the common choice; a stream has no message boundaries, so
// the reader asks for exactly one message's bytes.

// Transports over file descriptors.
const (
	fdPipe   = "pipe"
	fdSocket = "unix-stream"
)

// fds is the parent's end of a transport, closed once.
type fds struct {
	rd, wr int
	closed bool
}

func (f *fds) close() {
	if f.closed {
		return
	}
	f.closed = true
	_ = unix.Close(f.rd)
	if f.wr != f.rd {
		_ = unix.Close(f.wr)
	}
}

// readFull reads exactly len(p) bytes from fd.
func readFull(fd int, p []byte) error {
	for len(p) > 0 {
		n, err := unix.Read(fd, p)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return err
		case n == 0:
			return io.EOF
		}
		p = p[n:]
	}
	return nil
}

// writeAll writes all of p to fd.
func writeAll(fd int, p []byte) error {
	for len(p) > 0 {
		n, err := unix.Write(fd, p)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// fdThroughput writes n messages to a consumer process and times it until
// the consumer has read the last one (its "done" line).
func fdThroughput(h harness, kind string, size, n int) result {
	f, child := newFDs(h, kind)
	peer := startPeer(h, "fd-consume", child, strconv.Itoa(size))
	msg := benchkit.Payload(size)

	s := benchkit.Begin(h)
	for range n {
		if err := writeAll(f.wr, msg); err != nil {
			h.Fatal(err)
		}
	}
	f.close() // end of stream
	peer.Done(h, n)
	elapsed, allocs := s.End(n)
	return result{elapsed: elapsed, metrics: map[string]float64{"allocs/1000msg": allocs}}
}

// fdConsume: args SIZE. Reads SIZE-byte messages from fd 3 until EOF,
// reading the first and last byte of each; prints "done COUNT".
func fdConsume(args []string) error {
	size, err := childArgs(args).int(0)
	if err != nil {
		return err
	}
	fmt.Println("ready")
	buf := make([]byte, size)
	count, sum := 0, 0
	for {
		err := readFull(3, buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		sum += int(buf[0]) + int(buf[size-1])
		count++
	}
	fmt.Println("done", count, sum)
	return nil
}

// fdRoundTrip measures n round trips: write a message, read its echo.
func fdRoundTrip(h harness, kind string, size, n int) result {
	f, child := newFDs(h, kind)
	peer := startPeer(h, "fd-pong", child, strconv.Itoa(size))
	msg, in := benchkit.Payload(size), make([]byte, size)
	r, warm := measureRoundTrips(h, n, func() {
		if err := writeAll(f.wr, msg); err != nil {
			h.Fatal(err)
		}
		if err := readFull(f.rd, in); err != nil {
			h.Fatal(err)
		}
	})
	f.close() // end of stream
	peer.Done(h, warm+n)
	return r
}

// fdPong: args SIZE. Echoes SIZE-byte messages from fd 3 to fd 4 until EOF;
// prints "done COUNT".
func fdPong(args []string) error {
	size, err := childArgs(args).int(0)
	if err != nil {
		return err
	}
	fmt.Println("ready")
	buf := make([]byte, size)
	count := 0
	for {
		err := readFull(3, buf)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if err := writeAll(4, buf); err != nil {
			return err
		}
		count++
	}
	fmt.Println("done", count)
	return nil
}

// chanThroughput sends n messages to another goroutine over a channel as
// deep as the ring. The producer copies each message into one of depth+2
// buffers and sends the slice; the consumer reads the first and last byte,
// as the ring's in-place consumer does. With depth+2 buffers, the one the
// producer fills is never one the consumer may still be reading.
func chanThroughput(h harness, size, n int) result {
	depth := slotsFor(size)
	ch := make(chan []byte, depth)
	bufs := make([][]byte, depth+2)
	for i := range bufs {
		bufs[i] = make([]byte, size)
	}
	done := make(chan int)
	go func() {
		count, sum := 0, 0
		for m := range ch {
			sum += int(m[0]) + int(m[len(m)-1])
			count++
		}
		_ = sum
		done <- count
	}()
	msg := benchkit.Payload(size)

	s := benchkit.Begin(h)
	for i := range n {
		b := bufs[i%len(bufs)]
		copy(b, msg)
		ch <- b
	}
	close(ch)
	count := <-done
	elapsed, allocs := s.End(n)
	if count != n {
		h.Fatalf("consumer saw %d messages, want %d", count, n)
	}
	return result{elapsed: elapsed, metrics: map[string]float64{"allocs/1000msg": allocs}}
}

// chanRoundTrip measures n round trips between two goroutines over two
// channels of one slot; the echo copies each message, like the ring's.
func chanRoundTrip(h harness, size, n int) result {
	ping, pong := make(chan []byte, 1), make(chan []byte, 1)
	go func() {
		out := make([]byte, size)
		for m := range ping {
			copy(out, m)
			pong <- out
		}
		close(pong)
	}()
	msg, in := benchkit.Payload(size), make([]byte, size)
	sum := 0
	r, _ := measureRoundTrips(h, n, func() {
		copy(in, msg)
		ping <- in
		sum += int((<-pong)[0])
	})
	close(ping)
	for range pong {
	}
	return r
}

// The bare futex ping-pong: two sequence words in a SysV segment and two
// payload areas, no ring. The parent writes its payload and bumps ping,
// and always wakes; the peer copies the payload across, bumps pong and
// always wakes. Each side sleeps on the other's word. It is the cost of
// the kernel's part of a futex handoff, at the sizes of the rest.
const (
	pingOffset    = 0
	pongOffset    = 128 // another cache-line pair
	payloadOffset = 1024
	futexStop     = ^uint32(0)
)

func futexSegSize(size int) int { return payloadOffset + 2*((size+63)&^63) }

// awaitWord sleeps on w until it is no longer old. It checks that the peer
// lives every 100 ms.
func awaitWord(w *uint32, old uint32, peer int) (uint32, error) {
	for {
		if v := atomic.LoadUint32(w); v != old {
			return v, nil
		}
		err := futex.Wait(w, old, time.Now().Add(100*time.Millisecond))
		if err != nil && !os.IsTimeout(err) {
			return 0, err
		}
		if err != nil && peer > 0 && !proc.Alive(peer) {
			return 0, fmt.Errorf("peer %d died", peer)
		}
	}
}

// futexRoundTrip measures n round trips of the bare futex ping-pong.
func futexRoundTrip(h harness, size, n int) result {
	id, err := shmseg.Create(shmseg.IPCPrivate, futexSegSize(size), nil)
	if err != nil {
		h.Fatal(err)
	}
	seg, err := shmseg.Attach(id, nil)
	if err != nil {
		_ = shmseg.Remove(id)
		h.Fatal(err)
	}
	h.Cleanup(func() { _ = seg.Detach() })
	peer := startPeerOrRemove(h, seg, "futex-pong", strconv.Itoa(int(id)), strconv.Itoa(size))
	buf, err := seg.Bytes()
	if err != nil {
		h.Fatal(err)
	}
	ping, pong := word32(buf, pingOffset), word32(buf, pongOffset)
	out, in := buf[payloadOffset:payloadOffset+size], buf[futexSegSize(size)-size:]
	msg := benchkit.Payload(size)
	seq, sum := uint32(0), 0
	r, warm := measureRoundTrips(h, n, func() {
		seq++
		copy(out, msg)
		atomic.StoreUint32(ping, seq)
		if _, err := futex.Wake(ping, 1); err != nil {
			h.Fatal(err)
		}
		if _, err := awaitWord(pong, seq-1, peer.Pid()); err != nil {
			h.Fatal(err)
		}
		sum += int(in[0])
	})
	atomic.StoreUint32(ping, futexStop)
	if _, err := futex.Wake(ping, 1); err != nil {
		h.Fatal(err)
	}
	peer.Done(h, warm+n)
	return r
}

// startPeerOrRemove starts a peer that attaches seg by id, then marks seg
// for removal (so the kernel frees it however the processes end).
func startPeerOrRemove(h testing.TB, seg *shmseg.Segment, role string, args ...string) *peer {
	h.Helper()
	removed := false
	defer func() {
		if !removed {
			_ = seg.Remove()
		}
	}()
	p := startPeer(h, role, nil, args...)
	removed = true
	if err := seg.Remove(); err != nil {
		h.Fatal(err)
	}
	return p
}

// futexPong: args ID SIZE. Attaches segment ID and answers each ping with
// a pong (copying the payload across) until the stop value; prints
// "done COUNT".
func futexPong(args []string) error {
	a := childArgs(args)
	id, err1 := a.int(0)
	size, err2 := a.int(1)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	seg, err := shmseg.Attach(shmseg.ID(id), nil)
	if err != nil {
		return err
	}
	defer seg.Detach()
	buf, err := seg.Bytes()
	if err != nil {
		return err
	}
	ping, pong := word32(buf, pingOffset), word32(buf, pongOffset)
	in, out := buf[payloadOffset:payloadOffset+size], buf[futexSegSize(size)-size:]
	fmt.Println("ready")
	parent := os.Getppid()
	count := 0
	for seen := uint32(0); ; {
		v, err := awaitWord(ping, seen, parent)
		if err != nil {
			return err
		}
		if v == futexStop {
			break
		}
		copy(out, in)
		atomic.StoreUint32(pong, v)
		if _, err := futex.Wake(pong, 1); err != nil {
			return err
		}
		seen = v
		count++
	}
	fmt.Println("done", count)
	return nil
}
