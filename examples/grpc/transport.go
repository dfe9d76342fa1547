package main

import (
	"context"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/shmring/shmring/conn"
)

// transport is everything that differs between gRPC over shared memory
// and over TCP: how the server listens and how the client dials. The
// service, the server and the client are the same code either way.
type transport struct {
	name string // the conn name, when tcp is empty
	tcp  string // host:port
}

// addr is the address the client dials: the conn name or the host:port.
func (t transport) addr() string {
	if t.tcp != "" {
		return t.tcp
	}
	return t.name
}

func (t transport) String() string {
	if t.tcp != "" {
		return "tcp " + t.tcp
	}
	return "shared memory " + t.name
}

// listen is the server's side: a *conn.Listener is a net.Listener, which
// is all grpc.Server.Serve asks for.
func (t transport) listen() (net.Listener, error) {
	if t.tcp != "" {
		return net.Listen("tcp", t.tcp)
	}
	return conn.Listen(t.name, conn.Config{})
}

// dial is the client's side, given to grpc.WithContextDialer: addr is
// t.addr(), passed through by gRPC's resolver (see newClient).
func (t transport) dial(ctx context.Context, addr string) (net.Conn, error) {
	if t.tcp != "" {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	return conn.Dial(ctx, addr, conn.Config{})
}

// maxMessage is gRPC's limit on one message, each way, on both sides:
// 4 MiB of payload and the few bytes of protobuf around it. gRPC's
// default receive limit is 4 MiB in all, 5 bytes short of a 4 MiB
// BytesValue (its field's tag and length).
const maxMessage = 4<<20 + 1024

// serverOptions are the server's: the limits; nothing of the transport.
func serverOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.MaxRecvMsgSize(maxMessage), grpc.MaxSendMsgSize(maxMessage)}
}

// newClient makes the client's connection. The "passthrough" resolver
// hands the address to the dialer as it is, whatever it names. Insecure
// (plaintext) is the demo's choice: over conn the kernel has checked the
// server's uid (SO_PEERCRED) and the bytes never leave the host; across
// hosts a real service would pass TLS credentials here instead.
func newClient(t transport) (*grpc.ClientConn, error) {
	return grpc.NewClient("passthrough:///"+t.addr(),
		grpc.WithContextDialer(t.dial),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessage), grpc.MaxCallSendMsgSize(maxMessage)),
	)
}
