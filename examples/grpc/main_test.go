package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/shmring/shmring/examples/grpc/echo"
)

// sizes are the message sizes the tests send: empty, one byte, one slot
// of conn's default ring and more, a whole default ring (512 KiB) and
// more, up to the 4 MiB that maxMessage allows.
var sizes = []int{0, 1, 1000, 64 << 10, 1 << 20, 4 << 20}

// TestCalls makes every kind of call over conn and over TCP, through the
// same server and client code: the transport is the only difference.
func TestCalls(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			noLeaks(t)
			srv, _, _ := startServer(t, tr.new(), time.Minute)
			cc := dialServer(t, srv)
			c := echo.NewClient(cc)
			ctx, cancel := context.WithTimeout(context.Background(), patience)
			defer cancel()

			t.Run("echo", func(t *testing.T) {
				for _, n := range sizes {
					msg := payload(n, n)
					reply, err := c.Echo(ctx, wrapperspb.Bytes(msg))
					require.NoError(t, err, "%d bytes", n)
					require.True(t, bytes.Equal(msg, reply.Value), "%d bytes sent, %d back, not the same", n, len(reply.Value))
				}
			})

			// The server's limit is maxMessage, not gRPC's default: a
			// request past it is refused by the server (this client's
			// send limit is raised for the call), and the connection
			// carries on.
			t.Run("limit", func(t *testing.T) {
				_, err := c.Echo(ctx, wrapperspb.Bytes(make([]byte, maxMessage)), grpc.MaxCallSendMsgSize(2*maxMessage))
				require.Equal(t, codes.ResourceExhausted, status.Code(err), "%v", err)
				_, err = c.Echo(ctx, wrapperspb.Bytes([]byte("still there")))
				require.NoError(t, err)
			})

			t.Run("download", func(t *testing.T) {
				for _, n := range []uint64{0, 1, echo.ChunkSize, echo.ChunkSize + 1, 16 << 20} {
					msgs, err := download(ctx, c, n)
					require.NoError(t, err)
					require.Equal(t, int((n+echo.ChunkSize-1)/echo.ChunkSize), msgs, "%d bytes", n)
				}
			})

			t.Run("chat", func(t *testing.T) {
				// Each size twice, in both directions at once.
				require.NoError(t, chat(ctx, c, 2*len(sizes), func(i int) int { return sizes[i%len(sizes)] }))
				require.NoError(t, chat(ctx, c, 0, nil))
			})

			// Many calls at once share the connection (HTTP/2 streams),
			// a download among them.
			t.Run("concurrent", func(t *testing.T) {
				var wg sync.WaitGroup
				errs := make(chan error, 17)
				wg.Go(func() {
					if _, err := download(ctx, c, 8<<20); err != nil {
						errs <- err
					}
				})
				for g := range 16 {
					wg.Go(func() {
						for i := range 50 {
							msg := payload(1000+g, i)
							reply, err := c.Echo(ctx, wrapperspb.Bytes(msg))
							if err == nil && !bytes.Equal(reply.Value, msg) {
								err = fmt.Errorf("goroutine %d, call %d: the reply is not the request", g, i)
							}
							if err != nil {
								errs <- err
								return
							}
						}
					})
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					require.NoError(t, err)
				}
			})

			// What the call command prints, and the server it names.
			t.Run("command", func(t *testing.T) {
				var out bytes.Buffer
				require.NoError(t, call(ctx, cc, callOptions{size: 100, download: 1 << 20, chat: 10}, &out))
				server := regexp.QuoteMeta(srv.tcp)
				if srv.tcp == "" {
					server = fmt.Sprintf("%s#%d", regexp.QuoteMeta(srv.name), os.Getpid())
				}
				require.Regexp(t, "^server: (shmring|tcp) "+server+"\n"+
					"echo: 100 bytes there and back in [^\n]+, connecting included\n"+
					"download: 1048576 bytes in 16 messages, every byte checked, in [^\n]+\n"+
					"chat: 10 messages of 100 bytes each way, in order, in [^\n]+\n$", out.String())
			})
		})
	}
}

// TestGracefulStop: once told to stop, the server takes no new
// connection, lets a stream under way finish, then returns.
func TestGracefulStop(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			noLeaks(t)
			srv, out, stop := startServer(t, tr.new(), patience)
			ctx, cancel := context.WithTimeout(context.Background(), patience)
			defer cancel()
			stream, err := echo.NewClient(dialServer(t, srv)).Chat(ctx)
			require.NoError(t, err)
			send := func(s string) {
				t.Helper()
				require.NoError(t, stream.Send(wrapperspb.Bytes([]byte(s))))
				m, err := stream.Recv()
				require.NoError(t, err)
				require.Equal(t, s, string(m.Value))
			}
			send("before")

			stopped := make(chan struct{})
			go func() { stop(); close(stopped) }()
			// A new client is turned away once the listener is closed.
			for deadline := time.Now().Add(patience); ; time.Sleep(10 * time.Millisecond) {
				_, err := echo.NewClient(dialServer(t, srv)).Echo(ctx, wrapperspb.Bytes(nil))
				if status.Code(err) == codes.Unavailable {
					break
				}
				require.False(t, time.Now().After(deadline), "new calls still served %v after the stop: %v", patience, err)
			}
			send("during")
			select {
			case <-stopped:
				t.Fatal("the server stopped with a stream under way")
			default:
			}
			require.NoError(t, stream.CloseSend())
			_, err = stream.Recv()
			require.ErrorIs(t, err, io.EOF)
			<-stopped
			require.Equal(t, "stopping\nstopped\n", out())
		})
	}
}

// TestStopCutsCalls: a stream still open when the grace period ends is
// cut, and its client told the server is gone (codes.Unavailable).
func TestStopCutsCalls(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			noLeaks(t)
			srv, out, stop := startServer(t, tr.new(), 50*time.Millisecond)
			ctx, cancel := context.WithTimeout(context.Background(), patience)
			defer cancel()
			stream, err := echo.NewClient(dialServer(t, srv)).Chat(ctx)
			require.NoError(t, err)
			require.NoError(t, stream.Send(wrapperspb.Bytes([]byte("hello"))))
			_, err = stream.Recv()
			require.NoError(t, err)
			stop()
			_, err = stream.Recv()
			require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
			require.Equal(t, "stopping\ncalls still running after 50ms: cutting them\nstopped\n", out())
		})
	}
}

// TestConnectionTimeout: gRPC's server sets a deadline on each new
// connection (grpc.ConnectionTimeout) and drops a client that does not
// open HTTP/2 before it. Over conn, that is the Conn's read deadline
// firing inside gRPC: the client sees its connection closed.
func TestConnectionTimeout(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			noLeaks(t)
			srv, _, _ := startServer(t, tr.new(), patience, grpc.ConnectionTimeout(50*time.Millisecond))
			ctx, cancel := context.WithTimeout(context.Background(), patience)
			defer cancel()
			c, err := srv.dial(ctx, srv.addr())
			require.NoError(t, err)
			defer c.Close()
			// Ours only bounds the wait: the server's, far shorter,
			// must end it first.
			require.NoError(t, c.SetReadDeadline(time.Now().Add(patience)))
			// The server says its HTTP/2 settings first, then closes.
			_, err = io.Copy(io.Discard, c)
			require.NoError(t, err, "the server did not drop a silent client (its deadline did not fire?)")
		})
	}
}

// TestUsage: a wrong command line is refused before anything is made.
func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"listen"},
		{"serve", "extra"},
		{"serve", "-nosuchflag"},
		{"call", "-size", "-1"},
		{"call", "-chat", "-1"},
		{"call", "-download", "many"},
	} {
		var stderr bytes.Buffer
		err := run(context.Background(), args, io.Discard, &stderr)
		require.ErrorIs(t, err, errUsage, "%q", args)
		require.Contains(t, stderr.String(), "usage:", "%q", args)
	}
}

// TestNoServer: a call to a name nobody listens on fails with
// codes.Unavailable, as one to a TCP port nobody listens on does.
func TestNoServer(t *testing.T) {
	noLeaks(t)
	// A port that was free a moment ago.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, l.Close())
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	for _, tr := range []transport{{name: testName()}, {tcp: l.Addr().String()}} {
		_, err := echo.NewClient(dialServer(t, tr)).Echo(ctx, wrapperspb.Bytes(nil))
		require.Equal(t, codes.Unavailable, status.Code(err), "%v: %v", tr, err)
		require.ErrorContains(t, err, "connection refused", tr)
	}
}
