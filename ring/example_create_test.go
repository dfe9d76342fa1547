//go:build linux && (amd64 || arm64)

// ExampleCreate makes System V segments, and an example cannot skip.

package ring_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

// Two processes find one ring by a System V key that both derive from a
// file they agree on, with shmseg.Ftok (ftok(3) in C gives the same key).
// One creates the ring and sends; the other waits for the ring, opens it
// and receives. Here the other process is a goroutine with a handle of its
// own, which is all it would have in another process; examples/linepipe
// runs the two sides as two programs, and shows the error handling a
// long-running consumer needs.
func ExampleCreate() {
	dir, err := os.MkdirTemp("", "ring-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "orders") // any file both sides can stat
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		panic(err)
	}

	received := make(chan error)
	go func() { received <- receive(path) }() // may start before the ring exists
	if err := send(path, []string{"one", "two", "three"}); err != nil {
		panic(err)
	}
	if err := <-received; err != nil {
		panic(err)
	}
	// Output:
	// one
	// two
	// three
}

// send is the process that creates the ring: it sends msgs and closes its
// side.
func send(path string, msgs []string) error {
	key, err := shmseg.Ftok(path, 1)
	if err != nil {
		return err
	}
	r, err := ring.Create(key, ring.Config{MaxMessage: 64, Slots: 4096})
	if err != nil {
		return err
	}
	defer r.Close() // the last side to close removes the segment
	p, err := r.Producer()
	if err != nil {
		return err
	}
	ctx := context.Background()
	for _, m := range msgs {
		if err := p.Send(ctx, []byte(m)); err != nil { // waits while the ring is full
			return err
		}
	}
	return p.Close() // the receiver reads io.EOF after the last message
}

// openWhenCreated opens the ring at key, waiting up to timeout for another
// process to create it: ring.Open fails with shmseg.ErrNotExist until then.
func openWhenCreated(key shmseg.Key, timeout time.Duration) (*ring.Ring, error) {
	deadline := time.Now().Add(timeout)
	for {
		r, err := ring.Open(key, ring.Options{})
		if !errors.Is(err, shmseg.ErrNotExist) || time.Now().After(deadline) {
			return r, err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// receive is the process that opens the ring: it prints every message
// until the sender has closed.
func receive(path string) error {
	key, err := shmseg.Ftok(path, 1)
	if err != nil {
		return err
	}
	r, err := openWhenCreated(key, 10*time.Second)
	if err != nil {
		return err
	}
	defer r.Close() // the last side to close removes the segment
	c, err := r.Consumer()
	if err != nil {
		return err
	}
	ctx := context.Background()
	buf := make([]byte, c.MaxMessage())
	for {
		n, err := c.Recv(ctx, buf)
		if errors.Is(err, io.EOF) {
			return nil // the sender has closed, and everything is read
		}
		if err != nil {
			return err
		}
		fmt.Println(string(buf[:n]))
	}
}
