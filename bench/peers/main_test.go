package peers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/shmring/shmring/internal/testsupport/benchkit"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
)

// TestMain plays the server when the binary was re-executed as one
// (startServer), and otherwise runs the tests and benchmarks.
func TestMain(m *testing.M) { shmtest.Main(m.Run, roles.Play) }

var roles = shmtest.Roles{"serve": serve}

// Modes of the server.
const (
	modeEcho = "echo" // one connection: answer every message with itself
	modeSink = "sink" // one connection: take n messages, then acknowledge them with one byte
	modeMany = "many" // connections until told to stop, each echoed
	modeGRPC = "grpc" // gRPC's server on the listener until told to stop (grpc_test.go)
	modeHTTP = "http" // net/http's server on the listener until told to stop (http_test.go)
)

// serve is the server process: arguments transport, mode, message size,
// message count (sink), and the rings' slots and slot size (conn; 0 for the
// defaults), and optionally a file to write a CPU profile of the serving
// to. It listens, writes "ready ADDR" on descriptor 3, serves, and writes
// "done COUNT": the messages it answered or took (echo, sink), the
// connections it accepted (many), or the calls and streamed messages
// (grpc), the requests (http) it answered. It stops when its standard
// input closes: the parent is done with it, or gone.
func serve(args []string) error {
	if len(args) != 6 && len(args) != 7 {
		return fmt.Errorf("serve: want transport, mode, size, count, slots, slot size[, profile]; got %q", args)
	}
	t, ok := transports[args[0]]
	if !ok {
		return fmt.Errorf("serve: no transport %q in this build", args[0])
	}
	mode := args[1]
	var nums [4]int
	for i := range nums {
		v, err := strconv.Atoi(args[2+i])
		if err != nil {
			return fmt.Errorf("serve: argument %d: %v", 2+i, err)
		}
		nums[i] = v
	}
	size, n := nums[0], nums[1]
	ctl := os.NewFile(3, "control")
	if ctl == nil {
		return errors.New("serve: no descriptor 3 to report on")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()

	srv, err := t.listen(serverOptions{slots: nums[2], slotSize: nums[3]})
	if err != nil {
		return fmt.Errorf("serve %s: listen: %w", t.name, err)
	}
	defer srv.close()
	if len(args) == 7 {
		stop, err := startProfile(args[6])
		if err != nil {
			return fmt.Errorf("serve %s: %w", t.name, err)
		}
		defer func() {
			if err := stop(); err != nil {
				fmt.Fprintf(os.Stderr, "serve %s: CPU profile: %v\n", t.name, err)
			}
		}()
	}
	if _, err := fmt.Fprintf(ctl, "ready %s\n", srv.addr()); err != nil {
		return err
	}
	var count int
	switch mode {
	case modeEcho, modeSink:
		ep, err := srv.accept(ctx)
		if err != nil {
			return fmt.Errorf("serve %s: accept: %w", t.name, err)
		}
		if mode == modeEcho {
			count, err = echo(ctx, ep, t.call, make([]byte, size))
		} else {
			count, err = sink(ctx, ep, size, n)
		}
		_ = ep.close()
		if err != nil {
			return fmt.Errorf("serve %s %s after %d messages: %w", t.name, mode, count, err)
		}
	case modeMany:
		if count, err = serveMany(ctx, srv, t.call, size); err != nil {
			return fmt.Errorf("serve %s many after %d connections: %w", t.name, count, err)
		}
	case modeGRPC, modeHTTP:
		nl, ok := srv.(netListener)
		if !ok {
			return fmt.Errorf("serve %s %s: the transport has no net.Listener", t.name, mode)
		}
		if mode == modeGRPC {
			count, err = serveGRPC(ctx, nl.listener(), size)
		} else {
			count, err = serveHTTP(ctx, nl.listener(), size)
		}
		if err != nil {
			return fmt.Errorf("serve %s %s after %d: %w", t.name, mode, count, err)
		}
	default:
		return fmt.Errorf("serve: mode %q", mode)
	}
	_, err = fmt.Fprintf(ctl, "done %d\n", count)
	return err
}

// sink takes n messages of size bytes, checks each one's length and ends,
// acknowledges them all with one byte, and waits for the peer to close.
func sink(ctx context.Context, ep endpoint, size, n int) (int, error) {
	buf := make([]byte, size)
	want := benchkit.Payload(size)
	for i := range n {
		m, err := ep.recv(ctx, buf)
		if err != nil {
			return i, err
		}
		if m != size || !bytes.Equal(buf[:1], want[:1]) || !bytes.Equal(buf[m-1:m], want[size-1:]) {
			return i, fmt.Errorf("message %d: %d bytes starting %#x ending %#x; want %d bytes, %#x ... %#x",
				i, m, buf[:min(m, 1)], buf[max(m-1, 0):m], size, want[:1], want[size-1:])
		}
	}
	if err := ep.send(ctx, []byte{1}); err != nil {
		return n, err
	}
	if m, err := ep.recv(ctx, buf); !errors.Is(err, io.EOF) {
		return n, fmt.Errorf("after the acknowledgement: %d bytes, %v; want io.EOF", m, err)
	}
	return n, nil
}

// serveMany accepts connections until ctx ends and echoes each on a
// goroutine of its own; then it closes those still open. It returns how
// many it accepted.
func serveMany(ctx context.Context, srv server, call bool, size int) (int, error) {
	var (
		mu    sync.Mutex
		open  = map[endpoint]struct{}{}
		wg    sync.WaitGroup
		first error
	)
	count := 0
	for {
		ep, err := srv.accept(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return count, err
		}
		count++
		mu.Lock()
		open[ep] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := echo(ctx, ep, call, make([]byte, size))
			mu.Lock()
			defer mu.Unlock()
			if _, still := open[ep]; !still {
				return // closed by the stop below: its error is that
			}
			delete(open, ep)
			_ = ep.close()
			if err != nil && first == nil && ctx.Err() == nil {
				first = err
			}
		}()
	}
	mu.Lock()
	for ep := range open {
		delete(open, ep)
		_ = ep.close()
	}
	mu.Unlock()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		return count, errors.New("connections still being served 10 s after they were closed")
	}
	return count, first
}
