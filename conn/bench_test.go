//go:build linux

package conn_test

import (
	"context"
	"testing"

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
