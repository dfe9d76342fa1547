package app

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shmring/shmring/ring"
)

// isTerminal reports whether w is a terminal (the ioctl that reads its
// termios works on it: ioctlReadTermios). golang.org/x/term does the same;
// it is not worth a dependency.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), ioctlReadTermios)
	return err == nil
}

// progressEvery is the refresh period of the progress line.
const progressEvery = 250 * time.Millisecond

// progress draws a one-line status on w every progressEvery: messages so
// far, the rate over the last period, and the ring's fill level. It reads
// the counters from the ring header (Stats), so the send and receive loops
// pay nothing for it; those count slots, perMessage to a message. The
// returned function stops it, waits for it and clears the line; it must be
// called before the ring is closed.
func progress(w io.Writer, r *ring.Ring, role Role, perMessage uint64) (stop func()) {
	count := func(st ring.Stats) uint64 {
		if role == Producer {
			return st.Producer.Messages / perMessage
		}
		return st.Consumer.Messages / perMessage
	}
	start := count(r.Stats())
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		last, lastAt := start, time.Now()
		for {
			select {
			case <-quit:
				fmt.Fprint(w, "\r\033[K")
				return
			case now := <-t.C:
				st := r.Stats()
				n := count(st)
				rate := float64(n-last) / now.Sub(lastAt).Seconds()
				last, lastAt = n, now
				fmt.Fprintf(w, "\r\033[K%s: %d messages, %s msg/s, ring %d%% full",
					role, n-start, si(rate), st.Fill*100/st.Slots)
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}
