// Linepipe sends lines of text from one process to another through a
// shmring ring. "linepipe recv" creates the ring and prints every line it
// receives; "linepipe send" waits for the ring, opens it and sends each
// line of its standard input. Both name the ring by a file (-path), whose
// ftok(3) key they share.
//
// It shows what two long-running processes need beyond ring.ExampleCreate:
//
//   - the receiver's error loop: a sender found stopped (SIGSTOP, a
//     debugger) is waited for (ring.ErrPeerUnresponsive); so is a sender
//     that died (ring.ErrPeerDead), for up to -give-up, because a new
//     "linepipe send" can take its role over; the end of the stream is
//     io.EOF;
//   - taking over: a sender started after one was killed claims the dead
//     one's role and goes on after the last line that one sent;
//   - cleaning up: a ring is removed once both sides have closed it, and
//     a side that ends while its peer is gone removes it too, since nobody
//     can use it any more.
//
// Usage:
//
//	linepipe recv -path FILE [-give-up 1m] [-liveness 1s]
//	linepipe send -path FILE [-timeout 10s] [-liveness 1s]
//
// For example, in two shells:
//
//	touch /tmp/chat && go run ./examples/linepipe recv -path /tmp/chat
//	go run ./examples/linepipe send -path /tmp/chat
//
// main_test.go runs it as two processes, stops and kills senders, and
// checks that no segment is left behind.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

// maxLine is the longest line, in bytes, that a ring made by recv carries.
const maxLine = 4096

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run runs the command in args and returns its exit status: 0 done, 1
// failed, 2 bad usage.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "recv" && args[0] != "send") {
		fmt.Fprintln(stderr, "usage: linepipe recv|send -path FILE [flags]; linepipe recv -h lists the flags")
		return 2
	}
	mode := args[0]
	fs := flag.NewFlagSet("linepipe "+mode, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("path", "", "a file both sides name: the ring's key is ftok(`FILE`, 1)")
	liveness := fs.Duration("liveness", ring.DefaultLiveness, "how often to check, while waiting, that the peer's process is alive")
	giveUp := fs.Duration("give-up", time.Minute, "recv: how long to wait for a new sender after the sender died")
	timeout := fs.Duration("timeout", 10*time.Second, "send: how long to wait for the receiver to create the ring")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *path == "" || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "linepipe %s: want -path FILE and no arguments\n", mode)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if mode == "recv" {
		err = receive(ctx, *path, *liveness, *giveUp, stdout, stderr)
	} else {
		err = send(ctx, *path, *liveness, *timeout, stdin, stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "linepipe %s: %v\n", mode, err)
		return 1
	}
	return 0
}

// config is the ring recv makes: lines of up to maxLine bytes, 64 of them
// in flight.
func config(liveness time.Duration) ring.Config {
	return ring.Config{
		MaxMessage: maxLine,
		Slots:      64,
		Options:    ring.Options{Liveness: liveness},
	}
}

// receive creates the ring and prints each line it receives until the
// sender closes, the sender stays dead for giveUp, or ctx ends.
func receive(ctx context.Context, path string, liveness, giveUp time.Duration, out, log io.Writer) error {
	key, err := shmseg.Ftok(path, 1)
	if err != nil {
		return err
	}
	r, err := ring.Create(key, config(liveness))
	if errors.Is(err, shmseg.ErrExist) {
		return fmt.Errorf("%w (another receiver uses it, or a dead one left it: \"shmring rm -stale\" removes rings nobody uses)", err)
	}
	if err != nil {
		return err
	}
	// Close removes the ring once both sides have closed it, or when the
	// sender died or never came and nobody else has it attached.
	defer r.Close()
	c, err := r.Consumer()
	if err != nil {
		return err
	}
	buf := make([]byte, c.MaxMessage())
	var deadSince time.Time
	stopped := false
	for {
		n, err := c.Recv(ctx, buf)
		switch {
		case err == nil:
			deadSince, stopped = time.Time{}, false
			fmt.Fprintf(out, "%s\n", buf[:n])
		case errors.Is(err, io.EOF):
			return nil // the sender closed, and every line is read
		case errors.Is(err, ring.ErrPeerUnresponsive):
			// Nothing was lost: once the sender continues, so does
			// the stream. Calling Recv again waits again.
			if !stopped {
				fmt.Fprintf(log, "linepipe recv: the sender is stopped (%v); waiting for it\n", err)
			}
			stopped = true
		case errors.Is(err, ring.ErrPeerDead):
			// Every line it sent has been received. A new sender can
			// claim its role: keep waiting, for a while.
			if deadSince.IsZero() {
				deadSince = time.Now()
				fmt.Fprintf(log, "linepipe recv: the sender died (%v); waiting up to %v for a new one\n", err, giveUp)
			}
			if time.Since(deadSince) > giveUp {
				return fmt.Errorf("no sender took over within -give-up %v: %w", giveUp, err)
			}
		case ctx.Err() != nil:
			return nil // interrupted
		default:
			return err // ring.ErrCorrupt, ...
		}
	}
}

// send waits for the ring, claims the sender's role (taking it over from a
// dead sender) and sends each line of in, until in ends.
func send(ctx context.Context, path string, liveness, timeout time.Duration, in io.Reader, log io.Writer) error {
	key, err := shmseg.Ftok(path, 1)
	if err != nil {
		return err
	}
	r, err := openWhenCreated(ctx, key, &ring.Options{Liveness: liveness}, timeout)
	if err != nil {
		return err
	}
	// Abandon, not Close: lines left for a receiver that died would wait
	// for nobody, since a receiver always makes a new ring. A receiver that
	// has not claimed its role yet has the ring attached, so it stays.
	defer r.Abandon()
	p, err := r.Producer() // ring.ErrRoleTaken if a live sender has it
	if err != nil {
		return err
	}
	// The head cursor counts the messages published in this ring: a
	// sender that took over from a dead one goes on after its last.
	if n := r.Stats().Producer.Messages; n > 0 {
		fmt.Fprintf(log, "linepipe send: taking over after line %d\n", n)
	}
	lines := bufio.NewScanner(in)
	lines.Buffer(make([]byte, maxLine), maxLine)
	for lines.Scan() {
		for {
			err := p.Send(ctx, lines.Bytes())
			if errors.Is(err, ring.ErrPeerUnresponsive) {
				continue // the receiver is stopped: wait on
			}
			if err != nil {
				return err // ring.ErrPeerDead, ring.ErrClosed (the receiver has gone), ...
			}
			break
		}
	}
	if err := lines.Err(); err != nil {
		return err
	}
	return p.Close() // the receiver reads io.EOF after the last line
}

// openWhenCreated opens the ring at key, waiting up to timeout for the
// receiver to create it: ring.Open fails with shmseg.ErrNotExist until
// then.
func openWhenCreated(ctx context.Context, key shmseg.Key, opts *ring.Options, timeout time.Duration) (*ring.Ring, error) {
	deadline := time.Now().Add(timeout)
	for {
		r, err := ring.Open(key, *opts)
		if !errors.Is(err, shmseg.ErrNotExist) {
			return r, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%w (no receiver created it within -timeout %v)", err, timeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}
