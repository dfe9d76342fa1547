// Command prometheus serves a shmring ring's Stats as Prometheus metrics
// at /metrics (see README.md and collector.go).
//
//	go run . -key 0x5e7a0001   # watch a ring of other processes (read-only)
//	go run .                  # a demo ring in this process, with traffic
//
// It lives in a module of its own so that the library's go.mod does not
// carry the Prometheus client.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

func main() {
	addr := flag.String("addr", "localhost:2112", "address to serve /metrics on")
	key := flag.String("key", "", "hex key of a ring to watch, as ipcs shows it (read-only attach); empty: a demo ring in this process")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *key); err != nil {
		log.Fatal(err)
	}
}

// run serves the ring's metrics on addr until ctx ends.
func run(ctx context.Context, addr, key string) error {
	r, name, err := openRing(ctx, key)
	if err != nil {
		return err
	}
	// Runs after the server has stopped; a scrape racing it would still
	// be safe (the Collector reads through ring.StatsVar).
	defer r.Close()

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handler(name, r), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown(context.Background())
	}()
	log.Printf("ring %s: metrics at http://%s/metrics", name, ln.Addr())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// handler serves r's metrics, labelled ring=name, at /metrics. A registry
// of its own, not prometheus.DefaultRegisterer, so that the page holds
// the ring's metrics only; add collectors.NewGoCollector() and the like
// to it for the process's.
func handler(name string, r *ring.Ring) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(name, r))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}

// openRing attaches the ring of key read-only, or with no key makes the
// demo ring.
func openRing(ctx context.Context, key string) (*ring.Ring, string, error) {
	if key == "" {
		r, err := demoRing(ctx)
		return r, "demo", err
	}
	v, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(key), "0x"), 16, 32)
	if err != nil || v == 0 {
		return nil, "", fmt.Errorf("-key %q: want a nonzero hex key, as ipcs shows it (0x5e7a0001)", key)
	}
	k := shmseg.Key(int32(uint32(v)))
	// Read-only: Stats works, no role is claimed, and the ring's segment
	// is left as it is when this process ends.
	r, err := ring.Open(k, ring.Options{ReadOnly: true})
	if err != nil {
		return nil, "", err
	}
	return r, k.String(), nil
}

// demoRing makes a ring in this process's memory and moves messages
// through it, in bursts, until ctx ends, so that the metrics move.
func demoRing(ctx context.Context) (*ring.Ring, error) {
	r, err := ring.New(ring.Config{MaxMessage: 64, Slots: 1024})
	if err != nil {
		return nil, err
	}
	p, err := r.Producer()
	if err == nil {
		var c *ring.Consumer
		if c, err = r.Consumer(); err == nil {
			go produce(ctx, p)
			go consume(c)
			return r, nil
		}
	}
	_ = r.Close()
	return nil, err
}

// produce sends a burst of 2000 messages every 10 ms (more than the ring
// holds, so the producer stalls now and then) and closes at ctx's end.
func produce(ctx context.Context, p *ring.Producer) {
	defer p.Close()
	msg := make([]byte, 64)
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		for range 2000 {
			if p.Send(ctx, msg) != nil {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// consume receives until the producer closes (io.EOF) or the ring does.
func consume(c *ring.Consumer) {
	buf := make([]byte, c.MaxMessage())
	for {
		if _, err := c.Recv(context.Background(), buf); err != nil {
			return
		}
	}
}
