// HTTP/1.1 over conn and a Unix socket: net/http's server on the
// listener, net/http's client with the transport's dialer.

package peers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/shmring/shmring/internal/testsupport/benchkit"
)

// serveHTTP answers every POST on l with its body until ctx ends, and
// returns how many it answered. Bodies are at most size bytes.
func serveHTTP(ctx context.Context, l net.Listener, size int) (int, error) {
	var count atomic.Int64
	buf := make(chan []byte, 1) // one body buffer, reused: requests come one at a time
	buf <- make([]byte, size+1)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := <-buf
		defer func() { buf <- b }()
		n, err := io.ReadFull(r.Body, b) // one byte more than the most, to see a body too long
		switch {
		case err == nil:
			http.Error(w, fmt.Sprintf("a body of more than %d bytes", size), http.StatusRequestEntityTooLarge)
			return
		case !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF):
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(b[:n])
		count.Add(1)
	})}
	stop := context.AfterFunc(ctx, func() { _ = srv.Close() })
	defer stop()
	err := srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return int(count.Load()), err
}

// newHTTPClient makes net/http's client, its Transport dialing p over p's
// transport whatever the URL's host: HTTP/1.1, one connection kept alive.
func newHTTPClient(p *peer) *http.Client {
	dial := netDial[p.t.name]
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx, p.addr) },
	}}
}

// httpPost posts body and reads the echoed reply into resp, checking its
// length and ends.
func httpPost(ctx context.Context, c *http.Client, body, resp []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://peer/echo", bytes.NewReader(body))
	if err != nil {
		return err
	}
	r, err := c.Do(req)
	if err != nil {
		return err
	}
	defer r.Body.Close()
	n, err := io.ReadFull(r.Body, resp[:len(body)])
	if r.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", r.Status, resp[:n])
	}
	if err != nil {
		return fmt.Errorf("the reply's body: %d bytes of %d, %v", n, len(body), err)
	}
	// To EOF, so that the connection goes back to the pool for the next.
	if extra, err := io.Copy(io.Discard, r.Body); err != nil || extra != 0 {
		return fmt.Errorf("%d bytes past the %d sent, %v", extra, len(body), err)
	}
	if len(body) > 0 && (resp[0] != body[0] || resp[n-1] != body[len(body)-1]) {
		return fmt.Errorf("the reply's ends %#x ... %#x, want %#x ... %#x", resp[0], resp[n-1], body[0], body[len(body)-1])
	}
	return nil
}

// httpRoundTrip posts size bytes n times (after a warm-up, the first
// post of which connects), each post timed, and the CPU of both
// processes over the timed posts.
func httpRoundTrip(h harness, t transport, size, n int) result {
	h.Helper()
	p := startPeer(h, t, modeHTTP, size, 0, serverOptions{})
	c := newHTTPClient(p)
	ctx := context.Background()
	body, resp := benchkit.Payload(size), make([]byte, size)
	warm := benchkit.WarmFor(n)
	var cpu cpuMeter
	r := timeEach(h, warm, n, "req", func() {
		if err := httpPost(ctx, c, body, resp); err != nil {
			h.Fatalf("HTTP over %s, a %d-byte POST: %v", t.name, size, err)
		}
	}, func() { cpu = startCPU(h, p.Pid()) })
	cpu.add(h, r.metrics, n, "req")
	c.CloseIdleConnections()
	p.stop(h, warm+n)
	return r
}

// Body sizes of the HTTP comparison.
var httpSizes = []int{64, 64 << 10}

// BenchmarkHTTP: b.N POSTs of a body that the server sends back, one after
// the other on one kept-alive connection, each timed (p50-ns, p99-ns);
// cpu-ns/req as BenchmarkGRPCUnary's.
func BenchmarkHTTP(b *testing.B) {
	benchEach(b, httpSizes, httpNames, func(b *testing.B, t transport, size int) {
		reportLatency(b, httpRoundTrip(b, t, size, b.N))
	})
}
