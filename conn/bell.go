package conn

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// bell is a ring.Doorbell over an eventfd read through Go's netpoller: a
// side asleep on it is a parked goroutine, not a blocked thread. The
// eventfd's counter makes it sticky, as the protocol needs: Ring adds one,
// and a read returns and clears whatever was added since the last, at once
// if anything was. The four bells of a connection are made by the server
// and passed to the client over the socket (SCM_RIGHTS), so both processes
// hold the same four counters.
type bell struct {
	f     *os.File
	fd    int                    // f's descriptor, for SCM_RIGHTS (File.Fd would make f blocking)
	raw   syscall.RawConn        // f's, for Ring's writes
	write func(fd uintptr) bool  // Ring's write, made once: no allocation per ring
	buf   [8]byte                // Wait's read buffer: Wait runs on one goroutine at a time
	gone  *atomic.Pointer[error] // the connection's: set when the peer is gone
}

// newBellFile makes a bell of the eventfd fd, which is non-blocking.
func newBellFile(fd int, gone *atomic.Pointer[error]) (*bell, error) {
	f := os.NewFile(uintptr(fd), "eventfd")
	raw, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("conn: bell fd %d: %w", fd, err)
	}
	return &bell{f: f, fd: fd, raw: raw, gone: gone, write: func(fd uintptr) bool {
		_, _ = unix.Write(int(fd), one[:]) // EAGAIN: the counter is at its maximum, rung already
		return true
	}}, nil
}

// Ring adds one to the counter, without ever waiting: the peer holds the
// same eventfd and may have driven its counter to the maximum, where a
// write would block (EAGAIN, and File.Write parks until it can write).
// Then the counter is non-zero, so the bell is rung already. The write
// goes through the file's RawConn, which holds the descriptor against a
// concurrent close; after the bell is closed (once the rings that ring it
// are) it does nothing.
func (b *bell) Ring() { _ = b.raw.Write(b.write) }

// one is what Ring writes: the eventfd adds it to its counter.
var one = [8]byte{1}

// Wait reads the counter, parking the goroutine until it is non-zero or
// the deadline passes.
func (b *bell) Wait(deadline time.Time) error {
	if err := b.f.SetReadDeadline(deadline); err != nil {
		return fmt.Errorf("conn: bell: %w", err)
	}
	if _, err := b.f.Read(b.buf[:]); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("conn: bell: %w", err)
	}
	return nil
}

// Err is the connection's verdict on its peer.
func (b *bell) Err() error {
	if e := b.gone.Load(); e != nil {
		return *e
	}
	return nil
}

func (b *bell) close() error { return b.f.Close() }
