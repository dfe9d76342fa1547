// Command newring uses rings in ordinary memory as a program written on
// macOS or Windows would: ring.TestOtherPlatforms builds it for those
// platforms and runs it here. Five messages go from one goroutine to
// another through two slots, so that both sides must wait (WaitFutex: at
// once on the futex, or on the portable stand-in off Linux), first through
// a ring of ring.New, then through one of ring.NewIn joined by a second
// handle with ring.Attach. It prints what it received.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/shmring/shmring/ring"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "newring:", err)
		os.Exit(1)
	}
}

var messages = []string{"one", "two", "three", "four", "five"}

func run() error {
	cfg := ring.Config{MaxMessage: 8, Slots: 2,
		Options: ring.Options{Wait: ring.WaitStrategy{Mode: ring.WaitFutex}}}

	r, err := ring.New(cfg)
	if err != nil {
		return err
	}
	got, err := exchange(r, r)
	if err := errors.Join(err, r.Close()); err != nil {
		return fmt.Errorf("New: %w", err)
	}
	fmt.Println("New:", got)

	size, err := ring.SegmentSize(ring.SlotSizeFor(cfg.MaxMessage), cfg.Slots)
	if err != nil {
		return err
	}
	buf := make([]byte, size)
	made, err := ring.NewIn(buf, cfg)
	if err != nil {
		return err
	}
	joined, err := ring.Attach(buf, cfg.Options)
	if err != nil {
		return errors.Join(err, made.Close())
	}
	got, err = exchange(made, joined)
	if err := errors.Join(err, joined.Close(), made.Close()); err != nil {
		return fmt.Errorf("NewIn and Attach: %w", err)
	}
	fmt.Println("NewIn and Attach:", got)
	return nil
}

// exchange sends messages through the producer of send to the consumer of
// recv, and returns what arrived, space-separated.
func exchange(send, recv *ring.Ring) (string, error) {
	p, err := send.Producer()
	if err != nil {
		return "", err
	}
	c, err := recv.Consumer()
	if err != nil {
		return "", err
	}
	ctx := context.Background()
	sent := make(chan error, 1)
	go func() {
		for _, m := range messages {
			if err := p.Send(ctx, []byte(m)); err != nil {
				sent <- err
				return
			}
		}
		sent <- p.Close() // the consumer reads io.EOF after the last one
	}()
	var got []string
	buf := make([]byte, c.MaxMessage())
	for {
		n, err := c.Recv(ctx, buf)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", err
		}
		got = append(got, string(buf[:n]))
	}
	return strings.Join(got, " "), <-sent
}
