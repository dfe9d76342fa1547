// Package echo is a small gRPC service, written by hand the way
// protoc-gen-go-grpc writes one, so that the example needs no protoc: a
// grpc.ServiceDesc with a handler per method, a server interface, and a
// client stub. Its messages are protobuf's well-known wrappers
// (google.golang.org/protobuf/types/known/wrapperspb), real protobuf
// messages that need no generated code of ours. In proto, it would read:
//
//	syntax = "proto3";
//	package shmring.examples.echo;
//	import "google/protobuf/wrappers.proto";
//
//	service Echo {
//	  // Echo returns its request.
//	  rpc Echo(google.protobuf.BytesValue) returns (google.protobuf.BytesValue);
//	  // Download streams the number of bytes asked for, ChunkSize a message,
//	  // byte i of the whole being Pattern(i).
//	  rpc Download(google.protobuf.UInt64Value) returns (stream google.protobuf.BytesValue);
//	  // Chat returns each message as it arrives, until the client closes.
//	  rpc Chat(stream google.protobuf.BytesValue) returns (stream google.protobuf.BytesValue);
//	}
//
// Nothing here knows what carries the calls: the same service runs over
// shared memory and over TCP.
package echo

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// As generated code does: fails to build against a grpc too old for the
// generic stream types below.
const _ = grpc.SupportPackageIsVersion9

// ServiceName is the service's full name, as the proto above gives it.
const ServiceName = "shmring.examples.echo.Echo"

// The methods' full names, which go on the wire in each call's :path.
const (
	EchoMethod     = "/" + ServiceName + "/Echo"
	DownloadMethod = "/" + ServiceName + "/Download"
	ChatMethod     = "/" + ServiceName + "/Chat"
)

// ChunkSize is the most bytes of a Download in one message: big enough
// that a stream's messages are not mostly framing, well under gRPC's
// default 4 MiB limit.
const ChunkSize = 64 << 10

// Pattern is byte i of every Download: a period (251, a prime) that no
// power-of-two chunk or buffer size divides, so a chunk lost, repeated or
// reordered shows as a wrong byte.
func Pattern(i uint64) byte { return byte(i % 251) }

// Server is what a server of the service implements.
type Server interface {
	Echo(context.Context, *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error)
	Download(*wrapperspb.UInt64Value, grpc.ServerStreamingServer[wrapperspb.BytesValue]) error
	Chat(grpc.BidiStreamingServer[wrapperspb.BytesValue, wrapperspb.BytesValue]) error
}

// Register registers srv's methods with s (a *grpc.Server).
func Register(s grpc.ServiceRegistrar, srv Server) { s.RegisterService(&ServiceDesc, srv) }

// ServiceDesc tells a grpc.Server how to decode each method's request
// and which of srv's methods answers it.
var ServiceDesc = grpc.ServiceDesc{
	ServiceName: ServiceName,
	HandlerType: (*Server)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Echo", Handler: echoHandler}},
	Streams: []grpc.StreamDesc{
		{StreamName: "Download", Handler: downloadHandler, ServerStreams: true},
		{StreamName: "Chat", Handler: chatHandler, ServerStreams: true, ClientStreams: true},
	},
	Metadata: "echo.proto",
}

func echoHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	in := new(wrapperspb.BytesValue)
	if err := dec(in); err != nil {
		return nil, err
	}
	if interceptor == nil {
		return srv.(Server).Echo(ctx, in)
	}
	info := &grpc.UnaryServerInfo{Server: srv, FullMethod: EchoMethod}
	return interceptor(ctx, in, info, func(ctx context.Context, req any) (any, error) {
		return srv.(Server).Echo(ctx, req.(*wrapperspb.BytesValue))
	})
}

func downloadHandler(srv any, stream grpc.ServerStream) error {
	in := new(wrapperspb.UInt64Value)
	if err := stream.RecvMsg(in); err != nil {
		return err
	}
	return srv.(Server).Download(in, &grpc.GenericServerStream[wrapperspb.UInt64Value, wrapperspb.BytesValue]{ServerStream: stream})
}

func chatHandler(srv any, stream grpc.ServerStream) error {
	return srv.(Server).Chat(&grpc.GenericServerStream[wrapperspb.BytesValue, wrapperspb.BytesValue]{ServerStream: stream})
}

// Service is the service's implementation.
type Service struct{}

var _ Server = Service{}

// Echo returns in.
func (Service) Echo(_ context.Context, in *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error) {
	return in, nil
}

// Download sends n.Value bytes of Pattern, ChunkSize at a time. It ends
// early, with the stream's error, once the client is gone.
func (Service) Download(n *wrapperspb.UInt64Value, stream grpc.ServerStreamingServer[wrapperspb.BytesValue]) error {
	buf := make([]byte, ChunkSize)
	for off := uint64(0); off < n.Value; {
		chunk := buf[:min(n.Value-off, ChunkSize)]
		for i := range chunk {
			chunk[i] = Pattern(off + uint64(i))
		}
		if err := stream.Send(wrapperspb.Bytes(chunk)); err != nil {
			return err
		}
		off += uint64(len(chunk))
	}
	return nil
}

// Chat sends back each message as it arrives, until the client closes
// its side (CloseSend).
func (Service) Chat(stream grpc.BidiStreamingServer[wrapperspb.BytesValue, wrapperspb.BytesValue]) error {
	for {
		in, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := stream.Send(in); err != nil {
			return err
		}
	}
}

// Client calls the service over a connection (a *grpc.ClientConn).
type Client struct{ cc grpc.ClientConnInterface }

// NewClient returns a Client that calls over cc.
func NewClient(cc grpc.ClientConnInterface) *Client { return &Client{cc} }

// Echo sends in and returns the server's copy.
func (c *Client) Echo(ctx context.Context, in *wrapperspb.BytesValue, opts ...grpc.CallOption) (*wrapperspb.BytesValue, error) {
	out := new(wrapperspb.BytesValue)
	if err := c.cc.Invoke(ctx, EchoMethod, in, out, append([]grpc.CallOption{grpc.StaticMethod()}, opts...)...); err != nil {
		return nil, err
	}
	return out, nil
}

// Download asks for n bytes and returns the stream they come on.
func (c *Client) Download(ctx context.Context, n *wrapperspb.UInt64Value, opts ...grpc.CallOption) (grpc.ServerStreamingClient[wrapperspb.BytesValue], error) {
	stream, err := c.cc.NewStream(ctx, &ServiceDesc.Streams[0], DownloadMethod, append([]grpc.CallOption{grpc.StaticMethod()}, opts...)...)
	if err != nil {
		return nil, err
	}
	x := &grpc.GenericClientStream[wrapperspb.UInt64Value, wrapperspb.BytesValue]{ClientStream: stream}
	if err := x.ClientStream.SendMsg(n); err != nil {
		return nil, err
	}
	if err := x.ClientStream.CloseSend(); err != nil {
		return nil, err
	}
	return x, nil
}

// Chat opens a chat: what is sent on the stream comes back on it.
func (c *Client) Chat(ctx context.Context, opts ...grpc.CallOption) (grpc.BidiStreamingClient[wrapperspb.BytesValue, wrapperspb.BytesValue], error) {
	stream, err := c.cc.NewStream(ctx, &ServiceDesc.Streams[1], ChatMethod, append([]grpc.CallOption{grpc.StaticMethod()}, opts...)...)
	if err != nil {
		return nil, err
	}
	return &grpc.GenericClientStream[wrapperspb.BytesValue, wrapperspb.BytesValue]{ClientStream: stream}, nil
}
