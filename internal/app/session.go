package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shmring/shmring/ring"
	"github.com/shmring/shmring/shmseg"
)

// Causes of the end of a run, as context.Cause reports them.
var (
	// errDone: -duration has passed.
	errDone = errors.New("duration reached")
	// errNoPeer: the peer did not claim its role within -timeout.
	errNoPeer = errors.New("peer did not show up")
)

// interrupted is the cause when a signal ends the run.
type interrupted struct{ sig os.Signal }

func (i interrupted) Error() string {
	if s, ok := i.sig.(syscall.Signal); ok && unix.SignalName(s) != "" {
		return "stopped by " + unix.SignalName(s)
	}
	return "stopped by signal " + i.sig.String()
}

// Run runs the producer or the consumer with cfg (args are the arguments
// left after the flags: there must be none), until its end or SIGINT or
// SIGTERM, and returns the exit status. The report goes to stdout; errors,
// notes and the progress line go to stderr.
func Run(role Role, cfg Config, args []string, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case sig := <-sigs:
			// A second signal kills as usual: a way out if the
			// clean end hangs.
			signal.Stop(sigs)
			cancel(interrupted{sig})
		case <-ctx.Done():
		}
	}()
	defer signal.Stop(sigs)
	return RunContext(ctx, role, cfg, args, stdout, stderr)
}

// RunContext is Run without the signal handling: the run ends cleanly, as at
// Ctrl-C, when ctx ends.
func RunContext(ctx context.Context, role Role, cfg Config, args []string, stdout, stderr io.Writer) int {
	s, err := cfg.check(role, args)
	if err != nil {
		printErr(stderr, role.String(), err)
		return exitCode(err)
	}
	sess, err := attach(ctx, s)
	if err != nil {
		printErr(stderr, role.String(), err)
		return exitCode(err)
	}
	var rep report
	if role == Producer {
		rep = sess.produce(ctx, stderr)
	} else {
		rep = sess.consume(ctx, stderr)
	}
	if err := rep.print(stdout, s.json); err != nil {
		printErr(stderr, role.String(), err)
		return 1
	}
	if e := rep.problem(); e != nil {
		printErr(stderr, role.String(), e)
	}
	return rep.exitCode()
}

// session is one side's hold on the ring.
type session struct {
	settings
	r       *ring.Ring
	created bool
	p       *ring.Producer
	c       *ring.Consumer
}

// attach opens the ring at s.key, or creates it, and claims s.role. It
// retries, for up to s.timeout, while the ring is not ready yet or this role
// was closed in it by an earlier run whose peer is still draining (once
// that ring is gone, a new one is made). A ring of another geometry, a
// role held by a live process, or a segment that is not a ring
// (ring.ErrNotRing) fails at once.
func attach(ctx context.Context, s settings) (*session, error) {
	cfg := ring.Config{
		MaxMessage:      s.size,
		SlotSize:        s.slotSize,
		Slots:           s.slots,
		SymmetricFences: s.symmetricFences,
		Options: ring.Options{
			Wait:     ring.WaitStrategy{Mode: s.wait, NoTrail: s.noTrail},
			Liveness: Liveness,
		},
	}
	deadline := time.Now().Add(s.timeout)
	for {
		// An Open waits for a ring being made a second at most, so that
		// ctx is looked at, and never past the deadline.
		cfg.ReadyTimeout = max(min(time.Until(deadline), time.Second), time.Millisecond)
		sess, err := tryAttach(s, cfg)
		if err == nil {
			return sess, nil
		}
		retry := errors.Is(err, ring.ErrNotReady) || errors.Is(err, ring.ErrRingClosed) ||
			errors.Is(err, shmseg.ErrNotExist)
		if !retry {
			return nil, err
		}
		if time.Now().After(deadline) {
			if errors.Is(err, ring.ErrNotReady) {
				// err names the last Open's wait: name the whole one.
				return nil, fmt.Errorf("ring %v: %w within -timeout %v", s.key, ring.ErrNotReady, s.timeout)
			}
			return nil, fmt.Errorf("%w (gave up after -timeout %v)", err, s.timeout)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (while waiting: %v)", err, context.Cause(ctx))
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func tryAttach(s settings, cfg ring.Config) (*session, error) {
	r, created, err := ring.OpenOrCreate(s.key, cfg)
	if err != nil {
		return nil, err
	}
	sess := &session{settings: s, r: r, created: created}
	if s.role == Producer {
		sess.p, err = r.Producer()
	} else {
		sess.c, err = r.Consumer()
	}
	if err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("ring %v: %w", s.key, err)
	}
	return sess, nil
}

// peerState describes the other side's role.
type peerState int

const (
	peerAbsent peerState = iota // never claimed
	peerLive
	peerClosed
	peerDead // claimed by a process that is gone
)

func (s *session) peer(st ring.Stats) (peerState, int) {
	side, closed := st.Consumer, st.ConsumerClosed
	if s.role == Consumer {
		side, closed = st.Producer, st.ProducerClosed
	}
	switch {
	case closed:
		return peerClosed, side.PID
	case side.PID == 0:
		return peerAbsent, 0
	case side.Alive:
		return peerLive, side.PID
	}
	return peerDead, side.PID
}

// watchPeer cancels ctx with errNoPeer if the peer has not claimed its role
// within s.timeout. The returned function stops the watch and waits for it.
func (s *session) watchPeer(cancel context.CancelCauseFunc) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		deadline := time.Now().Add(s.timeout)
		for {
			if st, _ := s.peer(s.r.Stats()); st != peerAbsent {
				return
			}
			if time.Now().After(deadline) {
				cancel(fmt.Errorf("%w: no %s claimed ring %v within -timeout %v", errNoPeer, s.role.peer(), s.key, s.timeout))
				return
			}
			select {
			case <-quit:
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

// messages converts a count of slots (the ring's cursors and fill level
// count slots, and a message of -size bytes takes s.perMessage of them)
// into messages, a message begun counting as one.
func (s *session) messages(slots uint64) uint64 {
	return (slots + s.perMessage - 1) / s.perMessage
}

// close ends this side and detaches. Whether the segment goes is
// ring.Ring.Close's policy (Abandon's, when a producer does not keep its
// messages for a consumer yet to come); this says what happened, for the
// report, from what is there after. It returns a note, or "".
func (s *session) close(keepForPeer bool) (note string) {
	st := s.r.Stats()
	ps, pid := s.peer(st)
	id := s.r.Segment().ID()
	closeRing := s.r.Close
	if !keepForPeer {
		closeRing = s.r.Abandon
	}
	err := closeRing()
	_, statErr := shmseg.Stat(id)
	removed := errors.Is(statErr, shmseg.ErrNotExist)
	var notes []string
	switch {
	case ps == peerDead && removed:
		notes = append(notes, fmt.Sprintf("the %s (pid %d) died; ring %v removed", s.role.peer(), pid, s.key))
	case ps == peerDead:
		notes = append(notes, fmt.Sprintf("the %s (pid %d) died; ring %v left, for a new %s or shmring rm -stale",
			s.role.peer(), pid, s.key, s.role.peer()))
	case ps == peerAbsent && !removed && st.Fill > 0:
		notes = append(notes, fmt.Sprintf("no %s yet: %d messages wait in ring %v for one", s.role.peer(), s.messages(uint64(st.Fill)), s.key))
	}
	if err != nil {
		notes = append(notes, fmt.Sprintf("closing ring %v: %v", s.key, err))
	}
	return strings.Join(notes, "; ")
}
