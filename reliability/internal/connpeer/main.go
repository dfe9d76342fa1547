// Command connpeer is the other process of the connection tests: a server
// that echoes every message of every client, or a client that sends
// messages and checks their echoes. The tests build it with -tags
// shmring_crashpoints, so that SHMRING_CRASH kills it at a step of the
// handshake (package conn) or of a send (package ring).
//
//	connpeer serve -name N [-allow UID,...] [-slots S] [-slot-size B] [-liveness D] [-call]
//	connpeer dial  -name N [-count K] [-size B] [-hold] [-give] [-liveness D] [-mount-proc]
//
// serve prints "listening" once it listens and "accepted PID" for each
// client, and echoes until killed: every message, or with -call every
// request of conn's call protocol (conn.Serve). dial prints "connected
// PID" (its own pid as it sees it) once connected, sends K messages of B
// bytes, checking each echo, prints "done K", and then with -hold waits
// for the server to go and prints "ended ERROR". -give first sends the
// connection's socket through the Unix socket it has as descriptor 3, and
// prints "gave SOCKET" (the socket's name in /proc): the test that receives
// it holds the client's end open, so the server's end does not close when
// the client dies. -mount-proc mounts a /proc of its own first, for a
// process started in new PID and mount namespaces (a container's view).
// Exit status: 0 ok, 1 error, 2 usage, 3 an echo that is not what was
// sent.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/shmring/shmring/conn"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: connpeer serve|dial -name N ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "dial":
		err = dial(os.Args[2:])
	default:
		err = usage(fmt.Errorf("unknown command %q", os.Args[1]))
	}
	var u usageErr
	switch {
	case err == nil:
	case errors.As(err, &u):
		fmt.Fprintln(os.Stderr, "connpeer:", err)
		os.Exit(2)
	case errors.Is(err, errMismatch):
		fmt.Fprintln(os.Stderr, "connpeer:", err)
		os.Exit(3)
	default:
		fmt.Fprintln(os.Stderr, "connpeer:", err)
		os.Exit(1)
	}
}

type usageErr struct{ error }

func usage(err error) error { return usageErr{err} }

var errMismatch = errors.New("echo differs from what was sent")

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	name := fs.String("name", "", "name to listen under")
	allow := fs.String("allow", "", "comma-separated uids allowed besides this one")
	slots := fs.Int("slots", 16, "slots per ring")
	slotSize := fs.Int("slot-size", 256, "slot size")
	liveness := fs.Duration("liveness", 0, "liveness interval (0: conn's default)")
	call := fs.Bool("call", false, "answer conn's calls (conn.Serve) instead of echoing messages")
	if err := fs.Parse(args); err != nil {
		return usage(err)
	}
	serveOne := echo
	if *call {
		serveOne = echoCalls
	}
	cfg := conn.Config{Slots: *slots, SlotSize: *slotSize, Liveness: *liveness}
	for _, s := range strings.Split(*allow, ",") {
		if s == "" {
			continue
		}
		uid, err := strconv.Atoi(s)
		if err != nil {
			return usage(fmt.Errorf("-allow %q: %v", *allow, err))
		}
		cfg.AllowUIDs = append(cfg.AllowUIDs, uid)
	}
	l, err := conn.Listen(*name, cfg)
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Println("listening")
	ctx := context.Background()
	for {
		c, err := l.AcceptContext(ctx)
		if err != nil {
			return err
		}
		fmt.Println("accepted", c.PeerPID())
		go serveOne(ctx, c)
	}
}

// echo sends back every message until the client goes.
func echo(ctx context.Context, c *conn.Conn) {
	defer c.Close()
	buf := make([]byte, 1<<20)
	for {
		n, err := c.Recv(ctx, buf)
		if err == nil {
			err = c.Send(ctx, buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// echoCalls answers every call with its request until the client goes.
func echoCalls(ctx context.Context, c *conn.Conn) {
	defer c.Close()
	_ = conn.Serve(ctx, c, func(_ context.Context, req []byte) ([]byte, error) { return req, nil })
}

func dial(args []string) error {
	fs := flag.NewFlagSet("dial", flag.ContinueOnError)
	name := fs.String("name", "", "name to dial")
	count := fs.Int("count", 1, "messages to send")
	size := fs.Int("size", 64, "message size")
	hold := fs.Bool("hold", false, "after the messages, wait until the server goes")
	give := fs.Bool("give", false, "send the connection's socket through descriptor 3")
	liveness := fs.Duration("liveness", 0, "liveness interval (0: conn's default)")
	mountProc := fs.Bool("mount-proc", false, "mount a /proc of this PID namespace first")
	if err := fs.Parse(args); err != nil {
		return usage(err)
	}
	if *mountProc {
		if err := mountProcFS(); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := conn.Dial(ctx, *name, conn.Config{Liveness: *liveness})
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Println("connected", os.Getpid())
	if *give {
		name, err := giveSocket()
		if err != nil {
			return err
		}
		fmt.Println("gave", name)
	}
	msg := make([]byte, *size)
	buf := make([]byte, *size+1)
	for i := range *count {
		for j := range msg {
			msg[j] = byte(i + j)
		}
		if err := c.Send(ctx, msg); err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
		n, err := c.Recv(ctx, buf)
		if err != nil {
			return fmt.Errorf("echo %d: %w", i, err)
		}
		if !bytes.Equal(buf[:n], msg) {
			return fmt.Errorf("%w: message %d", errMismatch, i)
		}
	}
	fmt.Println("done", *count)
	if *hold {
		_, err := c.Recv(ctx, buf)
		if errors.Is(err, io.EOF) {
			err = nil
		}
		fmt.Println("ended", err)
	}
	return nil
}

// giveSocket sends the connection's socket, the only one this process has
// but descriptor 3, through descriptor 3, and returns its /proc name.
func giveSocket() (string, error) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return "", err
	}
	fd, name := -1, ""
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil || n == 3 {
			continue
		}
		if what, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(what, "socket:") {
			if fd >= 0 {
				return "", fmt.Errorf("two sockets to give: %s and %s", name, what)
			}
			fd, name = n, what
		}
	}
	if fd < 0 {
		return "", errors.New("no socket to give")
	}
	return name, syscall.Sendmsg(3, []byte{0}, syscall.UnixRights(fd), nil, 0)
}
