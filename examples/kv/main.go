//go:build linux

// Kv is a small key-value store over package conn: "kv serve" keeps a map
// in memory and answers any number of clients at once; "kv get", "kv set"
// and "kv del" are one call each, and "kv bench" makes many from many
// goroutines and times them.
//
// It shows what a request-response service over shmring needs:
//
//   - the server: conn.Listen, a goroutine per accepted connection running
//     conn.Serve with one handler, and a clean shutdown on SIGINT or
//     SIGTERM that closes the listener and every connection, leaving no
//     segment and no socket behind;
//   - the client: conn.Dial and a conn.Client, whose Call may be made from
//     many goroutines at once;
//   - errors: a handler's error reaches the caller as a *conn.RemoteError
//     ("no such key"); a server that shuts down is io.EOF to its clients,
//     one that dies is ring.ErrPeerDead at once, and the same holds for the
//     server when a client dies;
//   - values of any size: a message longer than the ring streams through
//     it, so a 1 MiB value needs nothing special.
//
// Usage:
//
//	kv serve [-name kv]
//	kv set [-name kv] KEY [VALUE]    (no VALUE: standard input)
//	kv get [-name kv] KEY            (the value, byte for byte, to standard output)
//	kv del [-name kv] KEY
//	kv bench [-name kv] [-n 100000] [-g 8] [-size 16]
//
// README.md has a session; main_test.go runs the server and its clients as
// processes, kills them, and checks that nothing is left behind.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/shmring/shmring/conn"
	"github.com/shmring/shmring/ring"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

const usage = "usage: kv serve|get|set|del|bench [-name NAME] [flags] [KEY [VALUE]]; kv serve -h lists the flags"

// run runs the command in args and returns its exit status: 0 done, 1
// failed (a missing key too), 2 bad usage.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	mode := args[0]
	// The fewest and most arguments each command takes after its flags.
	nargs, ok := map[string][2]int{"serve": {0, 0}, "bench": {0, 0}, "get": {1, 1}, "del": {1, 1}, "set": {1, 2}}[mode]
	if !ok {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	fs := flag.NewFlagSet("kv "+mode, flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "kv", "the server's `name`: the abstract Unix socket @shmring/NAME, or a socket file if it holds a slash")
	timeout := fs.Duration("timeout", 10*time.Second, "get, set, del: how long the call may take, connecting included")
	n := fs.Int("n", 100000, "bench: calls in all")
	g := fs.Int("g", 8, "bench: goroutines making them, on one connection")
	size := fs.Int("size", 16, "bench: bytes of each value")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() < nargs[0] || fs.NArg() > nargs[1] {
		fmt.Fprintf(stderr, "kv %s: want %d to %d arguments after the flags, got %q\n", mode, nargs[0], nargs[1], fs.Args())
		return 2
	}
	if mode == "bench" && (*n < 1 || *g < 1 || *size < 0) {
		fmt.Fprintf(stderr, "kv bench: want -n >= 1, -g >= 1 and -size >= 0; got %d, %d and %d\n", *n, *g, *size)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch mode {
	case "serve":
		var l *conn.Listener
		if l, err = conn.Listen(*name, conn.Config{}); err == nil {
			err = serve(ctx, l, log.New(stderr, "kv serve: ", 0))
		}
	case "bench":
		err = runBench(ctx, *name, *n, *g, *size, stdout)
	default:
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		err = runCall(ctx, *name, mode, fs.Args(), stdin, stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "kv %s: %v\n", mode, err)
		return 1
	}
	return 0
}

// runCall makes one get, set or del.
func runCall(ctx context.Context, name, mode string, args []string, stdin io.Reader, stdout io.Writer) error {
	key := args[0]
	var value []byte
	if mode == "set" {
		if len(args) == 2 {
			value = []byte(args[1])
		} else {
			var err error
			if value, err = io.ReadAll(stdin); err != nil {
				return fmt.Errorf("reading the value from standard input: %w", err)
			}
		}
	}
	c, err := dial(ctx, name)
	if err != nil {
		return err
	}
	defer c.Close()
	switch mode {
	case "get":
		var v []byte
		if v, err = c.get(ctx, key); err == nil {
			_, err = stdout.Write(v)
		}
	case "set":
		err = c.set(ctx, key, value)
	case "del":
		err = c.del(ctx, key)
	}
	if err != nil {
		return fmt.Errorf("%q: %w", key, explain(err))
	}
	return nil
}

// runBench runs bench on one connection and prints what it measured.
func runBench(ctx context.Context, name string, n, g, size int, stdout io.Writer) error {
	c, err := dial(ctx, name)
	if err != nil {
		return err
	}
	defer c.Close()
	// Keys of this process's own, so that benches run at once do not
	// overwrite each other's.
	r, err := bench(ctx, c, fmt.Sprintf("bench/%d", os.Getpid()), n, g, size)
	if err != nil {
		return explain(err)
	}
	fmt.Fprintf(stdout, "-g %d -size %d: %v\n", g, size, r)
	return nil
}

// explain says what a call's error means when the server closed the
// connection: io.EOF if it closed while the call waited for its reply,
// ring.ErrPeerClosed if before the request was sent.
func explain(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, ring.ErrPeerClosed) {
		return fmt.Errorf("the server closed the connection (it shut down): %w", err)
	}
	return err
}
