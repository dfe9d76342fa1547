package conn

import (
	"errors"
	"net"
)

var (
	// ErrRefused: the server turned the client away, and said why (its
	// uid not allowed, a handshake it could not parse). The error's text
	// carries the server's reason.
	ErrRefused = errors.New("conn: refused by the server")
	// ErrHandshake: the other side broke the handshake: a frame that is
	// not one, another version of the protocol, descriptors that are not
	// eventfds, or its end closed before the connection was up.
	ErrHandshake = errors.New("conn: handshake failed")
	// ErrUntrusted: the process at the other end runs under a uid this
	// side does not accept (Config.AllowUIDs).
	ErrUntrusted = errors.New("conn: peer's uid is not allowed")
	// ErrClosed is net.ErrClosed: the Listener or Conn was closed by this
	// process.
	ErrClosed = net.ErrClosed
)
