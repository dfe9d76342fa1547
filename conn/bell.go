package conn

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
)

// bell is a ring.Doorbell over an eventfd read through Go's netpoller: a
// side asleep on it is a parked goroutine, not a blocked thread. The
// eventfd's counter makes it sticky, as the protocol needs: Ring adds one,
// and a read returns and clears whatever was added since the last, at once
// if anything was. The four bells of a connection are made by the server
// and passed to the client over the socket (SCM_RIGHTS), so both processes
// hold the same four counters.
type bell struct {
	f    *os.File
	raw  int                    // f's descriptor, for SCM_RIGHTS (File.Fd would make f blocking)
	buf  [8]byte                // Wait's read buffer: Wait runs on one goroutine at a time
	gone *atomic.Pointer[error] // the connection's: set when the peer is gone
}

// Ring adds one to the counter. A write fails only once the bell is closed,
// after the rings that ring it are.
func (b *bell) Ring() { _, _ = b.f.Write(one[:]) }

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
