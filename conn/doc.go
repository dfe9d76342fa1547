// Package conn makes named, two-way connections between processes on one
// Linux host over shmring rings: a server listens under a name, clients dial
// it, and each connection is a ring each way in shared memory.
//
//	l, err := conn.Listen(name, conn.Config{})     // an abstract Unix socket: no file
//	...
//	c, err := l.AcceptContext(ctx) // one per client, handshake done
//	...
//	err = conn.Serve(ctx, c, func(ctx context.Context, req []byte) ([]byte, error) {
//		return lookup(req), nil
//	})
//
// and in the client:
//
//	c, err := conn.Dial(ctx, name, conn.Config{})
//	...
//	reply, err := conn.NewClient(c).Call(ctx, []byte("get a")) // safe from many goroutines
//
// (from Example). Client.AppendCall appends the reply to a buffer of the
// caller's instead, and allocates nothing when it has room. Send and Recv
// move messages of any size both ways, and Producer and Consumer give the
// ring's other calls. A Conn is also a net.Conn, and a Listener a
// net.Listener, for gRPC, HTTP and any protocol written against them (see
// Conn).
//
// # Rendezvous
//
// A name is a Unix socket address (SOCK_SEQPACKET): by default in the
// abstract namespace ("@shmring/" and the name), which no file backs, or a
// path if the name holds a slash. The server makes the two rings for each
// client with ring.CreatePrivate (no key; the segments are marked for
// removal before anything is written to them) and sends their ids over the
// socket, with the four eventfds the two sides sleep on (SCM_RIGHTS). The
// client attaches them by id. The segments are freed by the kernel when the
// second of the two processes detaches, whether it closes, exits or is
// killed: nothing is ever left to clean up. docs/DESIGN.md ("Connections")
// says why this way.
//
// # Who gets in
//
// The server reads the client's credentials from the socket (SO_PEERCRED)
// and refuses any uid but its own and Config.AllowUIDs; the client does the
// same to the server, so a process that took the name first cannot pose as
// the server. Segments are mode 0600. A client that stalls or sends garbage
// is dropped after Config.HandshakeTimeout, on a goroutine of its own.
//
// # Peer death
//
// After the handshake nothing is written to the socket, and each side keeps
// reading it: the read ends when the other process's end closes, which the
// kernel does when that process dies. The side then reports the peer dead
// (ring.ErrPeerDead) to its calls at once, after what the peer sent is
// read, instead of at the next liveness check, and whether or not the two
// processes share a PID namespace.
//
// # Idle connections hold no thread
//
// A side with nothing to do polls briefly, then sleeps reading an eventfd
// through Go's netpoller (ring.Doorbell): a parked goroutine, not a blocked
// thread, so a server with a thousand idle clients has a handful of threads.
package conn
