package main

import (
	"context"
	"fmt"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/shmring/shmring/examples/grpc/echo"
)

// startServerProcess runs the command's server over tr and returns it,
// once it serves, with the transport its clients dial.
func startServerProcess(t *testing.T, tr transport) (*proc, transport) {
	t.Helper()
	args := []string{"serve", "-name", tr.name}
	if tr.tcp != "" {
		args = []string{"serve", "-tcp", tr.tcp}
	}
	srv := start(t, args...)
	line := srv.line(t)
	m := regexp.MustCompile(`^serving ` + regexp.QuoteMeta(echo.ServiceName) + ` on (shmring|tcp) (\S+)$`).FindStringSubmatch(line)
	require.NotNil(t, m, "the server's first line: %q", line)
	if tr.tcp != "" {
		require.Equal(t, "tcp", m[1], line)
		tr.tcp = m[2] // with the port the kernel chose
	} else {
		require.Equal(t, fmt.Sprintf("shmring %s#%d", tr.name, srv.cmd.Process.Pid), m[1]+" "+m[2])
	}
	return srv, tr
}

// TestTwoProcesses runs the command as it is meant to be run: a server
// process, a client process that calls it with messages of 4 MiB, and
// the server stopped by a signal, over conn (SIGINT) and over TCP
// (SIGTERM).
func TestTwoProcesses(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			noLeaks(t)
			srv, tr := startServerProcess(t, tr.new())
			args := []string{"call", "-name", tr.name}
			server := fmt.Sprintf("shmring %s#%d", tr.name, srv.cmd.Process.Pid)
			stop := syscall.SIGINT
			if tr.tcp != "" {
				args = []string{"call", "-tcp", tr.tcp}
				server = "tcp " + tr.tcp
				stop = syscall.SIGTERM
			}
			out, err := start(t, append(args, "-size", "4194304", "-download", "16777216", "-chat", "20")...).wait(t)
			require.NoError(t, err)
			require.Len(t, out, 4, "%q", out)
			require.Equal(t, "server: "+server, out[0])
			require.Regexp(t, `^echo: 4194304 bytes there and back in \S+, connecting included$`, out[1])
			require.Regexp(t, `^download: 16777216 bytes in 256 messages, every byte checked, in \S+$`, out[2])
			require.Regexp(t, `^chat: 20 messages of 4194304 bytes each way, in order, in \S+$`, out[3])

			require.NoError(t, srv.cmd.Process.Signal(stop))
			out, err = srv.wait(t)
			require.NoError(t, err, "the server, stopped by %v; stderr:\n%s", stop, srv.stderr.String())
			require.Equal(t, []string{"stopping", "stopped"}, out)
		})
	}
}

// TestServerKilled: a server killed in the middle of a stream gives its
// client a gRPC error that says the server is gone (codes.Unavailable).
// Over conn, the client learns of the death from the connection's socket,
// which the kernel closes with the process.
func TestServerKilled(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			noLeaks(t)
			srv, tr := startServerProcess(t, tr.new())
			ctx, cancel := context.WithTimeout(context.Background(), patience)
			defer cancel()
			stream, err := echo.NewClient(dialServer(t, tr)).Download(ctx, wrapperspb.UInt64(1<<50)) // endless
			require.NoError(t, err)
			_, err = stream.Recv()
			require.NoError(t, err)

			require.NoError(t, srv.cmd.Process.Kill())
			killed := time.Now()
			msgs := 0
			for err == nil {
				_, err = stream.Recv()
				msgs++
			}
			// Not context.DeadlineExceeded: the error must come from the
			// server's death, not from the test's patience running out.
			require.Equal(t, codes.Unavailable, status.Code(err), "%v", err)
			t.Logf("%d messages read after the kill, then after %v: %v", msgs-1, time.Since(killed), err)
			_, err = srv.wait(t)
			require.ErrorContains(t, err, "killed")
		})
	}
}
