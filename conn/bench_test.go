//go:build linux

package conn_test

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/shmring/shmring/conn"
	"github.com/shmring/shmring/internal/testsupport/shmtest"
)

// BenchmarkRoundTrip: 64-byte requests answered with the same bytes, both
// ends in this process (bench/peers has them in two, against the other
// transports). ns/op is a round trip.
func BenchmarkRoundTrip(b *testing.B) {
	ctx := context.Background()
	req := make([]byte, 64)
	run := func(b *testing.B, serve func(server *conn.Conn), do func(client *conn.Conn) func() error) {
		shmtest.NoLeaks(b)
		l := listen(b, conn.Config{})
		client, server := pair(b, l, conn.Config{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			serve(server)
		}()
		call := do(client)
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if err := call(); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		_ = client.CloseWrite()
		<-done
	}
	b.Run("SendRecv", func(b *testing.B) {
		run(b, func(s *conn.Conn) {
			buf := make([]byte, 64)
			for {
				n, err := s.Recv(ctx, buf)
				if err != nil || s.Send(ctx, buf[:n]) != nil {
					return
				}
			}
		}, func(c *conn.Conn) func() error {
			buf := make([]byte, 64)
			return func() error {
				if err := c.Send(ctx, req); err != nil {
					return err
				}
				_, err := c.Recv(ctx, buf)
				return err
			}
		})
	})
	echo := func(s *conn.Conn) {
		_ = conn.Serve(ctx, s, func(_ context.Context, req []byte) ([]byte, error) { return req, nil })
	}
	b.Run("AppendCall", func(b *testing.B) {
		run(b, echo, func(c *conn.Conn) func() error {
			cl, dst := conn.NewClient(c), make([]byte, 0, 64)
			return func() error {
				_, err := cl.AppendCall(ctx, dst, req)
				return err
			}
		})
	})
	b.Run("Call", func(b *testing.B) {
		run(b, echo, func(c *conn.Conn) func() error {
			cl := conn.NewClient(c)
			return func() error {
				_, err := cl.Call(ctx, req)
				return err
			}
		})
	})
}

// BenchmarkCallCost: what a round trip's calls cost the CPU, with nothing
// to wait for. Both ends are on this goroutine, and each reply is sent
// before its request, so every receive finds its message published and
// ns/op is the work of the four calls (SendRecv: the client's Send and
// Recv, the server's Recv and Send) or of AppendCall and the server's
// Recv and Send, without the cache-line transfers between CPUs that
// BenchmarkRoundTrip also measures. (A consumer that keeps finding its
// messages published pauses before every ninth look, as one trailing a
// streaming producer does; both sub-benchmarks pay it alike.)
func BenchmarkCallCost(b *testing.B) {
	ctx := context.Background()
	setup := func(b *testing.B) (client, server *conn.Conn) {
		shmtest.NoLeaks(b)
		return pair(b, listen(b, conn.Config{}), conn.Config{})
	}
	b.Run("SendRecv", func(b *testing.B) {
		client, server := setup(b)
		msg, buf := make([]byte, 64), make([]byte, 64)
		b.ReportAllocs()
		for b.Loop() {
			if err := server.Send(ctx, msg); err != nil {
				b.Fatal(err)
			}
			if err := client.Send(ctx, msg); err != nil {
				b.Fatal(err)
			}
			if _, err := client.Recv(ctx, buf); err != nil {
				b.Fatal(err)
			}
			if _, err := server.Recv(ctx, buf); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendCall", func(b *testing.B) {
		client, server := setup(b)
		cl := conn.NewClient(client)
		// A reply sent under an id the Client did not give would leave
		// its call waiting: the deadline makes that a failure, at the
		// cost of one look at ctx.Done a call.
		ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		defer cancel()
		req, dst, buf := make([]byte, 64), make([]byte, 0, 64), make([]byte, 1024)
		reply := make([]byte, 9+64)
		reply[8] = 1 // a reply; its id, the call's, is set below
		b.ReportAllocs()
		for id := uint64(0); b.Loop(); id++ {
			binary.LittleEndian.PutUint64(reply, id) // a Client numbers its calls from 0
			if err := server.Send(ctx, reply); err != nil {
				b.Fatal(err)
			}
			if _, err := cl.AppendCall(ctx, dst, req); err != nil {
				b.Fatal(err)
			}
			if _, err := server.Recv(ctx, buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}
