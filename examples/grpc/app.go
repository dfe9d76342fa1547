package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/shmring/shmring/examples/grpc/echo"
)

const usage = `usage:
  grpc serve [-name NAME | -tcp ADDR] [-grace DURATION]
  grpc call  [-name NAME | -tcp ADDR] [-size BYTES] [-download BYTES] [-chat MESSAGES]
`

// errUsage: the command line was wrong; what was wrong is already
// printed, with the usage.
var errUsage = errors.New("usage")

// run runs the command line args (without the program's name) until it
// is done or ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "serve" && args[0] != "call") {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	var t transport
	fs.StringVar(&t.name, "name", "grpc-demo", "the conn name to listen on or dial (shared memory)")
	fs.StringVar(&t.tcp, "tcp", "", "`host:port` to listen on or dial: TCP instead of shared memory")
	grace := fs.Duration("grace", 10*time.Second, "serve: how long a stop lets calls under way finish before cutting them")
	var o callOptions
	fs.IntVar(&o.size, "size", 1024, "call: bytes in the Echo request and in each Chat message")
	fs.Uint64Var(&o.download, "download", 4<<20, "call: bytes to Download")
	fs.IntVar(&o.chat, "chat", 100, "call: messages to send in the Chat")
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected argument %q\n", args[0], fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	if o.size < 0 || o.chat < 0 {
		fmt.Fprintf(stderr, "%s: -size %d, -chat %d: neither may be negative\n", args[0], o.size, o.chat)
		fs.Usage()
		return errUsage
	}

	if args[0] == "serve" {
		l, err := t.listen()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "serving %s on %s %s\n", echo.ServiceName, l.Addr().Network(), l.Addr())
		return serve(ctx, l, *grace, stdout)
	}
	cc, err := newClient(t)
	if err != nil {
		return err
	}
	defer cc.Close()
	return call(ctx, cc, o, stdout)
}

// serve serves the service on l until ctx ends, then stops gracefully:
// no new calls, and those under way have grace to finish before they are
// cut. opts are added to serverOptions().
func serve(ctx context.Context, l net.Listener, grace time.Duration, out io.Writer, opts ...grpc.ServerOption) error {
	srv := grpc.NewServer(append(serverOptions(), opts...)...)
	echo.Register(srv, echo.Service{})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	select {
	case err := <-served:
		srv.Stop() // the listener failed: close the connections it gave
		return fmt.Errorf("serve on %s: %w", l.Addr(), err)
	case <-ctx.Done():
	}
	fmt.Fprintln(out, "stopping")
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-stopped:
	case <-timer.C:
		fmt.Fprintf(out, "calls still running after %v: cutting them\n", grace)
		srv.Stop()
		<-stopped
	}
	// ErrServerStopped: the stop came before Serve began.
	if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serve on %s: %w", l.Addr(), err)
	}
	fmt.Fprintln(out, "stopped")
	return nil
}

// callOptions are what call sends.
type callOptions struct {
	size     int    // bytes in the Echo request and in each Chat message
	download uint64 // bytes to Download
	chat     int    // messages in the Chat
}

// call makes one call of each of the service's methods over cc, checks
// every byte that comes back, and says what it did.
func call(ctx context.Context, cc grpc.ClientConnInterface, o callOptions, out io.Writer) error {
	c := echo.NewClient(cc)

	msg := payload(o.size, 0)
	var p peer.Peer
	start := time.Now()
	reply, err := c.Echo(ctx, wrapperspb.Bytes(msg), grpc.Peer(&p))
	if err != nil {
		return fmt.Errorf("echo of %d bytes: %w", o.size, err)
	}
	took := time.Since(start)
	if !bytes.Equal(reply.Value, msg) {
		return fmt.Errorf("echo: sent %d bytes, got back %d bytes that differ", len(msg), len(reply.Value))
	}
	fmt.Fprintf(out, "server: %s %s\n", p.Addr.Network(), p.Addr)
	// The first call connects (grpc.NewClient does not), and its time
	// says so.
	fmt.Fprintf(out, "echo: %d bytes there and back in %v, connecting included\n", o.size, took.Round(time.Microsecond))

	start = time.Now()
	msgs, err := download(ctx, c, o.download)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "download: %d bytes in %d messages, every byte checked, in %v\n", o.download, msgs, time.Since(start).Round(time.Microsecond))

	start = time.Now()
	if err := chat(ctx, c, o.chat, func(int) int { return o.size }); err != nil {
		return err
	}
	fmt.Fprintf(out, "chat: %d messages of %d bytes each way, in order, in %v\n", o.chat, o.size, time.Since(start).Round(time.Microsecond))
	return nil
}

// payload is n bytes that differ from seed's.
func payload(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + seed*13 + 1)
	}
	return b
}

// download downloads n bytes, checks each against echo.Pattern, and
// returns how many messages they came in.
func download(ctx context.Context, c *echo.Client, n uint64) (msgs int, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the stream if we stop reading early
	stream, err := c.Download(ctx, wrapperspb.UInt64(n))
	if err != nil {
		return 0, fmt.Errorf("download %d bytes: %w", n, err)
	}
	var off uint64
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return msgs, fmt.Errorf("download %d bytes: after %d bytes in %d messages: %w", n, off, msgs, err)
		}
		msgs++
		for i, b := range m.Value {
			if want := echo.Pattern(off + uint64(i)); b != want {
				return msgs, fmt.Errorf("download: byte %d is %#x, want %#x", off+uint64(i), b, want)
			}
		}
		off += uint64(len(m.Value))
	}
	if off != n {
		return msgs, fmt.Errorf("download: asked for %d bytes, got %d", n, off)
	}
	return msgs, nil
}

// chat sends count messages on one Chat, message i being size(i) bytes,
// while it reads the replies, and checks that each comes back as it
// went, in order.
func chat(ctx context.Context, c *echo.Client, count int, size func(i int) int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the stream, and so the sender, on a failed read
	stream, err := c.Chat(ctx)
	if err != nil {
		return fmt.Errorf("chat: %w", err)
	}
	go func() {
		for i := range count {
			// A failed Send says only that the stream is over; Recv
			// below gets the status that says why.
			if stream.Send(wrapperspb.Bytes(payload(size(i), i))) != nil {
				return
			}
		}
		_ = stream.CloseSend()
	}()
	for i := range count {
		m, err := stream.Recv()
		if err != nil {
			return fmt.Errorf("chat: reply %d of %d: %w", i, count, err)
		}
		if !bytes.Equal(m.Value, payload(size(i), i)) {
			return fmt.Errorf("chat: reply %d of %d (%d bytes) is not message %d (%d bytes)", i, count, len(m.Value), i, size(i))
		}
	}
	if m, err := stream.Recv(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("chat: after %d replies, want the end of the stream, got %v (%v)", count, m, err)
	}
	return nil
}
