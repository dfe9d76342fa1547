// shmipc-go's transport (github.com/cloudwego/shmipc-go v0.2.0, the version
// the Go module proxy serves here), written against its Stream API as its
// own example/best_practice programs use it.

package peers

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	shmipc "github.com/cloudwego/shmipc-go"
)

func init() {
	// Not under -race: shmipc-go v0.2.0 races with itself, between
	// Session.Close (linkedBuffer.clean, buffer.go:531, on its epoll
	// dispatcher's goroutine) and a Stream read of the same buffer
	// (linkedBuffer.Len, buffer.go:113), which the race detector reports
	// in the set-up benchmark's churn.
	if !raceBuild {
		// In the set-up benchmark's churn of sessions, now and then a
		// new session's first message is never answered: the client
		// waits in Stream.readMore for the reply, the server in
		// Stream.readMore for the request it was sent (goroutine
		// dumps of both, 2026-12-07). In a report run on 2026-12-06 a
		// client waited ten minutes for one; runs of 500 set-ups
		// here hung more often than not. So setup bounds each set-up
		// and counts those lost.
		transports["shmipc"] = transport{name: "shmipc", listen: listenShmipc, dial: dialShmipc, loses: true}
	}
	// Its package logger writes warnings ("clean buffer manager") to
	// stdout whatever Config.LogOutput says, into the middle of the
	// benchmark's result lines: the first report run lost every shmipc-go
	// figure to it. Level 5 prints nothing.
	shmipc.SetLogLevel(5)
}

// The server: a Unix socket in the abstract namespace (no file), and a
// shmipc session over each connection accepted, as its examples do.
type shmipcServer struct{ l net.Listener }

func listenShmipc(serverOptions) (server, error) {
	l, err := net.Listen("unix", "@"+uniqueName("shmring-peers-shmipc"))
	if err != nil {
		return nil, err
	}
	return shmipcServer{l}, nil
}

func (s shmipcServer) addr() string { return s.l.Addr().String() }
func (s shmipcServer) close() error { return s.l.Close() }

// accept takes the next connection, starts a server session on it, and
// waits for the client's stream, which the client opens with its first
// message. A connection whose session or stream fails is dropped, and the
// next one taken, as a server would: that client's business, not the
// server's end.
func (s shmipcServer) accept(ctx context.Context) (endpoint, error) {
	for {
		c, err := acceptCtx(ctx, s.l)
		if err != nil {
			return nil, err
		}
		conf := shmipc.DefaultConfig()
		conf.LogOutput = io.Discard
		sess, err := shmipc.Server(c, conf)
		if err != nil {
			_ = c.Close()
			continue
		}
		st, err := sess.AcceptStream()
		if err != nil {
			_ = sess.Close()
			continue
		}
		return &shmipcEnd{s: st, close_: sess.Close}, nil
	}
}

// dialShmipc makes a client the way shmipc-go's examples do: a
// SessionManager of one session over the Unix socket, shared memory by
// memfd (so that nothing is left in /dev/shm), and a stream from it.
func dialShmipc(ctx context.Context, addr string) (endpoint, error) {
	conf := shmipc.DefaultSessionManagerConfig()
	conf.Network = "unix"
	conf.Address = addr
	conf.MemMapType = shmipc.MemMapTypeMemFd
	conf.SessionNum = 1
	conf.LogOutput = io.Discard
	if d, ok := ctx.Deadline(); ok {
		conf.InitializeTimeout = time.Until(d)
	}
	sm, err := shmipc.NewSessionManager(conf)
	if err != nil {
		return nil, fmt.Errorf("shmipc session manager: %w", err)
	}
	st, err := sm.GetStream()
	if err != nil {
		_ = sm.Close()
		return nil, fmt.Errorf("shmipc stream: %w", err)
	}
	return &shmipcEnd{s: st, close_: sm.Close}, nil
}

// shmipcEnd frames each message with its length, as the sockets do, in the
// stream's shared-memory buffer; one Flush per message.
type shmipcEnd struct {
	s      *shmipc.Stream
	close_ func() error // the session (server) or session manager (client)
	head   [4]byte
}

func (e *shmipcEnd) send(_ context.Context, msg []byte) error {
	w := e.s.BufferWriter()
	binary.LittleEndian.PutUint32(e.head[:], uint32(len(msg)))
	if _, err := w.WriteBytes(e.head[:]); err != nil {
		return err
	}
	if _, err := w.WriteBytes(msg); err != nil {
		return err
	}
	return e.s.Flush(false)
}

func (e *shmipcEnd) recv(ctx context.Context, buf []byte) (int, error) {
	if d, ok := ctx.Deadline(); ok {
		// The stream's own deadline, for its wait; none once read.
		if err := e.s.SetReadDeadline(d); err != nil {
			return 0, err
		}
		defer func() { _ = e.s.SetReadDeadline(time.Time{}) }()
	}
	r := e.s.BufferReader()
	h, err := r.ReadBytes(len(e.head))
	if err != nil {
		// A peer that closed its stream gives end of stream, or, when
		// its whole session went first (a client that closes after
		// its reply), stream closed: both are its end, between
		// messages.
		if errors.Is(err, shmipc.ErrEndOfStream) || errors.Is(err, shmipc.ErrStreamClosed) {
			return 0, io.EOF
		}
		return 0, timedOut(err)
	}
	n := int(binary.LittleEndian.Uint32(h))
	if n > len(buf) {
		r.ReleasePreviousRead()
		return 0, fmt.Errorf("a %d-byte message for a %d-byte buffer", n, len(buf))
	}
	b, err := r.ReadBytes(n)
	if err != nil {
		r.ReleasePreviousRead()
		return 0, timedOut(noEOF(err))
	}
	copy(buf, b)
	r.ReleasePreviousRead()
	return n, nil
}

// timedOut makes the stream's timeout (its read deadline, set from the
// context's) a context.DeadlineExceeded, as the other transports' is.
func timedOut(err error) error {
	if errors.Is(err, shmipc.ErrTimeout) {
		return fmt.Errorf("shmipc: %w: %w", context.DeadlineExceeded, err)
	}
	return err
}

func (e *shmipcEnd) close() error {
	return errors.Join(e.s.Close(), e.close_())
}
