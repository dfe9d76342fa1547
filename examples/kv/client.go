//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/shmring/shmring/conn"
)

// client is a connection to the server, its calls made by a conn.Client:
// safe from many goroutines, many calls in flight.
type client struct {
	c  *conn.Conn
	cl *conn.Client
}

func dial(ctx context.Context, name string) (*client, error) {
	c, err := conn.Dial(ctx, name, conn.Config{})
	if err != nil {
		return nil, err
	}
	return &client{c: c, cl: conn.NewClient(c)}, nil
}

// Close tells the server this client is done: its Serve returns.
func (c *client) Close() error { return c.c.Close() }

// call makes one request. A handler's failure comes back as a
// *conn.RemoteError ("no such key"); a server that closed, as io.EOF;
// one that died, as ring.ErrPeerDead.
func (c *client) call(ctx context.Context, r request) ([]byte, error) {
	msg, err := appendRequest(nil, r)
	if err != nil {
		return nil, err
	}
	return c.cl.Call(ctx, msg)
}

func (c *client) get(ctx context.Context, key string) ([]byte, error) {
	return c.call(ctx, request{op: opGet, key: []byte(key)})
}

func (c *client) set(ctx context.Context, key string, value []byte) error {
	_, err := c.call(ctx, request{op: opSet, key: []byte(key), value: value})
	return err
}

func (c *client) del(ctx context.Context, key string) error {
	_, err := c.call(ctx, request{op: opDel, key: []byte(key)})
	return err
}

// benchResult is what a bench run measured.
type benchResult struct {
	calls     int
	elapsed   time.Duration
	latencies []time.Duration // sorted
}

func (r benchResult) String() string {
	rate := float64(r.calls) / r.elapsed.Seconds()
	return fmt.Sprintf("%d calls in %v: %.0f calls/s, p50 %v, p99 %v",
		r.calls, r.elapsed.Round(time.Millisecond), rate, r.percentile(50).Round(time.Microsecond), r.percentile(99).Round(time.Microsecond))
}

// percentile returns the latency that p percent of the calls took no
// longer than.
func (r benchResult) percentile(p int) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := (len(r.latencies)*p+99)/100 - 1
	return r.latencies[max(i, 0)]
}

// bench makes n calls from g goroutines sharing c: each sets a key of its
// own (prefix, "/", its number) and gets it back, in turn, and checks that
// it reads what it wrote, so that clients running at once test the server
// as well as time it. It deletes its keys at the end.
func bench(ctx context.Context, c *client, prefix string, n, g, size int) (benchResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lat := make([][]time.Duration, g)
	errs := make([]error, g)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range g {
		calls := n / g
		if w < n%g {
			calls++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat[w], errs[w] = benchWorker(ctx, c, benchKey(prefix, w), calls, size)
			if errs[w] != nil {
				cancel() // one failure ends the run: the others stop at once
			}
		}()
	}
	wg.Wait()
	r := benchResult{calls: n, elapsed: time.Since(start)}
	// Untimed, and after every worker is done with its key.
	for w := range g {
		if errs[w] == nil && w < n {
			errs[w] = c.del(ctx, benchKey(prefix, w))
		}
	}
	// The first failure is the cause; the others' are context.Canceled.
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return r, err
		}
	}
	if err := errors.Join(errs...); err != nil {
		return r, err
	}
	r.latencies = slices.Concat(lat...)
	slices.Sort(r.latencies)
	return r, nil
}

// benchKey is worker w's key.
func benchKey(prefix string, w int) string { return fmt.Sprintf("%s/%d", prefix, w) }

// benchWorker makes calls calls on key: set, get, set, get...
func benchWorker(ctx context.Context, c *client, key string, calls, size int) ([]time.Duration, error) {
	lat := make([]time.Duration, 0, calls)
	value := make([]byte, size)
	for i := range calls {
		t0 := time.Now()
		var err error
		if i%2 == 0 {
			// Each value differs from the last, so that a get that
			// returned an older one would be caught.
			fill(value, i)
			err = c.set(ctx, key, value)
		} else {
			var got []byte
			got, err = c.get(ctx, key)
			if err == nil && !bytes.Equal(got, value) {
				err = fmt.Errorf("get %q after set %d: got %d bytes %.16q..., want %.16q...", key, i-1, len(got), got, value)
			}
		}
		if err != nil {
			return nil, err
		}
		lat = append(lat, time.Since(t0))
	}
	return lat, nil
}

// fill writes a value of its own for call i into v: i's digits, repeated.
func fill(v []byte, i int) {
	digits := fmt.Sprintf("%d.", i)
	for j := range v {
		v[j] = digits[j%len(digits)]
	}
}
