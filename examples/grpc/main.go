// Command grpc serves a gRPC service (package echo: a unary call, a
// server stream and a bidirectional stream) over shmring connections, and
// calls it. With -tcp, the same binary does the same over TCP: only the
// listener and the dialer change (transport.go).
//
//	go run . serve                # listens under the conn name grpc-demo
//	go run . call                 # calls it, checks every reply
//	go run . serve -tcp :50051    # the same, over TCP
//	go run . call -tcp localhost:50051
//
// It lives in a module of its own so that the library's go.mod does not
// carry gRPC.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "grpc:", err)
		os.Exit(1)
	}
}
