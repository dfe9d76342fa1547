package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/shmring/shmring/internal/platform/monotime"
	"github.com/shmring/shmring/ring"
)

func (s *session) baseReport() Report {
	return Report{
		Role:            s.role.String(),
		Key:             s.key.String(),
		Size:            s.size,
		SlotSize:        s.slotSize,
		Slots:           s.slots,
		SlotsPerMessage: s.perMessage,
		Wait:            s.wait.String(),
		NoTrail:         s.noTrail,
		Batch:           s.batch,
		Created:         s.created,
		Fences:          fencesName(s.r.Stats().AsymmetricFences),
	}
}

// run is the state both loops share: when to stop, and why.
type run struct {
	ctx     context.Context
	stop    atomic.Bool // set when ctx ends; polled once per message or batch
	endAt   int64       // monotime at which -duration ends; 0 for none
	ended   string      // why the loop ended, when it ended by itself
	cleanup []func()
	stderr  io.Writer
}

// stalled reports whether err says the peer is stopped (SIGSTOP, a
// debugger). Such a wait is not a failure: the loop notes it on stderr and
// waits again, and the stream resumes when the peer does.
func (rn *run) stalled(role fmt.Stringer, err error) bool {
	if !errors.Is(err, ring.ErrPeerUnresponsive) {
		return false
	}
	fmt.Fprintf(rn.stderr, "%s: %v; still waiting\n", role, err)
	return true
}

// start prepares a run of s under parent: the -duration deadline, the
// watch for a peer that never comes, and the progress line.
func (s *session) start(parent context.Context, stderr io.Writer) *run {
	ctx, cancel := context.WithCancelCause(parent)
	rn := &run{stderr: stderr}
	rn.cleanup = append(rn.cleanup, func() { cancel(nil) })
	if s.duration > 0 {
		var cancelT context.CancelFunc
		ctx, cancelT = context.WithTimeoutCause(ctx, s.duration, errDone)
		rn.cleanup = append(rn.cleanup, cancelT)
		rn.endAt = monotime.Now() + int64(s.duration)
	}
	rn.ctx = ctx
	unhook := context.AfterFunc(ctx, func() { rn.stop.Store(true) })
	rn.cleanup = append(rn.cleanup, func() { unhook() })
	rn.cleanup = append(rn.cleanup, s.watchPeer(cancel))
	if !s.json && isTerminal(stderr) {
		rn.cleanup = append(rn.cleanup, progress(stderr, s.r, s.role, s.perMessage))
	}
	return rn
}

// finish stops the helpers (progress line, peer watch) and classifies the
// end of the loop into rep: err is the error that ended it, if any.
func (rn *run) finish(rep *Report, err error) {
	stopped := rn.stop.Load() || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
	cause := context.Cause(rn.ctx) // before the cleanup cancels ctx
	for i := len(rn.cleanup) - 1; i >= 0; i-- {
		rn.cleanup[i]()
	}
	if err != nil && !stopped {
		rep.fail(err)
		return
	}
	if !stopped {
		rep.Ended = rn.ended
		return
	}
	var sig interrupted
	switch {
	case errors.Is(cause, errDone):
		rep.Ended = "duration"
	case errors.As(cause, &sig):
		rep.Ended = "interrupted"
		rep.addNote(sig.Error())
	case cause == nil:
		rep.Ended = rn.ended
	case errors.Is(cause, context.Canceled): // RunContext's ctx, cancelled
		rep.Ended = "interrupted"
	default:
		rep.fail(cause)
	}
}
