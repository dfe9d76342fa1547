package ring

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/shmring/shmring/futex"
	"github.com/shmring/shmring/internal/platform/fence"
	"github.com/shmring/shmring/internal/platform/monotime"
)

// The wake-up protocol. Each side has a futex block: a sequence word the side
// sleeps on, and a "sleeping" flag it raises before it sleeps. For the
// consumer waiting on an empty ring (the producer waiting on a full one is
// the mirror image, with tail, spaceSeq and producerSleeping):
//
//	consumer (sleeper)                 producer (waker)
//	  s := dataSeq                       write slots
//	  consumerSleeping = 1    (A)        head = h             (C)
//	  if head != tail: done   (B)        if consumerSleeping  (D)
//	  futex_wait(&dataSeq, s)                consumerSleeping = 0
//	  consumerSleeping = 0                   dataSeq++
//	                                         futex_wake(&dataSeq)
//
// Why no wake-up is lost, with symmetric fences (Config.SymmetricFences):
// A and C are stores that no later load may pass (internal/platform/fence.StoreFull32
// and StoreFull64), B and D loads, so A-then-B and C-then-D cannot both
// read the old value: either B sees the new head (the consumer does not
// sleep), or D sees the flag (the producer wakes it). A Go atomic store is
// not enough on its own: in race builds, one to a shared segment is only a
// release store, and a later load may pass it (fence.StoreFull64 says why),
// so StoreFull is a swap there. If the producer bumps dataSeq before the
// consumer's futex_wait, the kernel sees dataSeq != s and returns at once;
// if after, the consumer is queued on the word and the wake finds it.
// Reading s before A is what makes the bump visible either way.
//
// With asymmetric fences (the default where membarrier(2) works), C is a
// release store (internal/platform/fence.Store64: a plain MOV on amd64), so D may
// read the flag before C is visible to the other CPU, and the argument
// above fails on its own. The sleeper makes up for it: between A and B it
// calls membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) (fence.Heavy), which runs
// a full barrier on the CPU running the producer. If D came before that
// barrier, so did C, and the barrier makes C visible before B; if D came
// after, it sees the flag. internal/platform/fence's package comment has the
// argument, model/wakeup.pml checks it with store buffers, and its
// MUT_NO_MEMBARRIER mutation shows the wake-up it would lose.
//
// The membarrier costs the sleeper microseconds (an interrupt to the other
// CPU). A side that sleeps at once when it must wait (WaitFutex) would pay
// it for every message, so it asks the peer to publish with full fences
// instead (consumerWantsFence at claim); the peer answers at its next wake
// by switching to full stores (fence.StoreFull64) and setting
// producerFenced with a full store, after which every
// one of its earlier release stores is visible. A sleeper that sees the
// answer skips the membarrier: the symmetric argument holds again. A new
// holder of the waker's role clears the answer before it publishes.
//
// Why no syscall while both sides are busy: the producer makes the wake call
// only when D sees the flag, and a consumer raises it only after spinning
// and yielding found nothing. A busy consumer never sleeps, so a busy
// producer never wakes. The flag is cleared by the waker (swap), so a burst
// of publications wakes once.
//
// The cost on the fast path is one store per publication (a plain MOV on
// amd64 with asymmetric fences, an XCHG with symmetric ones) and one plain
// load of the flag. Batched calls publish once per batch.

// poller is implemented by the producer (is there space?) and the consumer
// (is there data?). poll returns true, or an error that ends the wait (the
// peer closed, this side closed, corruption), or false to keep waiting.
// flushCounters copies the side's statistics to the header before it
// sleeps, so a sleeping side's counters are exact. beforeWait runs once
// before a call starts waiting: it counts the stall and makes visible what
// the peer may be waiting for (pending reservations, peeked slots).
// peerCursor is the peer's cursor as the last poll read it.
type poller interface {
	poll() (bool, error)
	flushCounters()
	beforeWait()
	peerCursor() uint64
}

// liveCheck is a side's schedule of liveness checks. It lasts from one
// waiting call to the next when a call ends by its context, so that a
// caller who waits in short calls (a context whose deadline is shorter than
// Options.Liveness, in a loop) still has its peer checked once per interval
// of waiting: each call resumes the schedule instead of starting it again,
// which would push the first check past every call's end. The schedule
// starts afresh once the peer's cursor has moved since it began (the peer
// was alive then), and after a call that ended any other way.
type liveCheck struct {
	next    time.Time // the next check; zero until a wait first reads the clock
	stopped bool      // the peer was stopped at the last check
	mark    uint64    // the peer's cursor when the schedule began
}

// waitFor blocks until p.poll reports true or an error, the context ends, or
// the peer is found dead or stopped too long. s holds this side's futex
// block (own), its call mark and its liveness schedule; me counts the
// waits, peer is checked for liveness.
//
// It makes no allocation: waits are frequent, and a wait that allocates
// turns a steady stream into garbage.
//
// The call that waits has marked its side as inside a call (slots.begin)
// and looked that its side is open: Ring.Close, which closes the sides and
// then waits for the mark to go, wakes the wait, whose poll sees the side
// closed (ErrClosed), and cannot unmap under it. On success the call goes
// on to write or read the slot it waited for, still marked.
func (r *Ring) waitFor(ctx context.Context, p poller, s *slots, cw *ctxWake, me, peer *side) error {
	ok, err := p.poll()
	if err == nil && !ok {
		if c := p.peerCursor(); c != s.live.mark {
			s.live = liveCheck{mark: c}
		}
		p.beforeWait()
		err = r.wait(ctx, p, cw, s, me, peer)
	}
	if err != nil {
		// Only a wait cut short by its context keeps the schedule for
		// the next call. After a finding (dead, stopped) or anything
		// else, the next call starts a schedule of its own: calling
		// again after ErrPeerUnresponsive waits again, at least an
		// interval, instead of failing at its first look at the clock.
		if ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
			s.live = liveCheck{mark: p.peerCursor()}
		}
		// A wait that fails (closed, cancelled, dead peer) is a good
		// time to bring the counters up to date; still inside the
		// call, so Close has not unmapped.
		p.flushCounters()
		return err
	}
	if hookWaited != nil {
		hookWaited()
	}
	return nil
}

// wait is waitFor's loop. s is the waiting side's: its futex block, its
// liveness schedule and its stretch.
func (r *Ring) wait(ctx context.Context, p poller, cw *ctxWake, s *slots, me, peer *side) error {
	w, lc := s.own, &s.live
	seq, sleeping := w.seq, w.sleeping
	ws := r.opts.Wait
	ctxDeadline, hasDeadline := ctx.Deadline()
	var (
		spinUntil  int64 // then yield; set at the first look at the clock
		yieldUntil int64 // then sleep; set when yielding starts
		yielding   bool
	)

	for i := 0; ; i++ {
		if ok, err := p.poll(); ok || err != nil {
			return err
		}
		// Spin, then yield, then sleep, as the mode says. Spinning yields
		// now and then too (GOMAXPROCS=1: the peer may be a goroutine
		// waiting for this P). The clock is read only now and then: every
		// 64 polls while spinning, after each yield while yielding, and
		// the context and the peer are looked at every 1024 polls.
		sleep := false
		switch {
		case ws.Mode == WaitFutex:
			sleep = true
		case ws.Mode == WaitSpin || !yielding:
			// After the first 128 polls (two looks at the clock:
			// a ping-pong's answer usually arrives before, if the
			// consumer's quick polls have not found it already,
			// and a Spin shorter than that has ended), each poll waits
			// for a spin-wait hint first: a longer spin that
			// reads the peer's cursor as fast as the CPU can
			// would take the core from the peer, if that runs on
			// the other hardware thread of the same core.
			if i >= 128 {
				fence.Pause(1)
			}
			if i&63 != 63 {
				continue
			}
			if i&127 == 127 {
				runtime.Gosched()
			}
			if ws.Mode != WaitSpin {
				// The first look at the clock is after 64 polls: a
				// peer that answers sooner costs no clock read.
				switch t := monotime.Now(); {
				case spinUntil == 0:
					spinUntil = later(t, int64(ws.Spin))
				case t >= spinUntil:
					yielding = true
					yieldUntil = later(t, stretched(ws.Yield, s.stretch))
				}
			}
			if i&1023 != 1023 {
				continue
			}
		default:
			runtime.Gosched()
			if ws.Mode == WaitAdaptive && monotime.Now() >= yieldUntil {
				sleep = true
			} else if i&63 != 63 {
				continue
			}
		}
		now := time.Now()
		if err := ctx.Err(); err != nil {
			return err
		}
		if hasDeadline && !now.Before(ctxDeadline) {
			return context.DeadlineExceeded
		}
		if lc.next.IsZero() {
			lc.next = now.Add(r.opts.Liveness)
		} else if !now.Before(lc.next) {
			if now.Sub(lc.next) > r.opts.Liveness {
				// More than two intervals since the last check,
				// not all of them spent waiting: what that check
				// saw says nothing of now. "Stopped at two checks
				// in a row" means one stop an interval long.
				lc.stopped = false
			}
			if err := checkPeer(peer, &lc.stopped); err != nil {
				// The peer may have published (or freed) one
				// more slot between the last poll and its death.
				// It can do nothing more now, so this poll is
				// final: report death only if it finds nothing
				// (model/wakeup.pml, MUT_NO_FINAL_POLL).
				if ok, perr := p.poll(); ok || perr != nil {
					return perr
				}
				return err
			}
			lc.next = now.Add(r.opts.Liveness)
		}
		if !sleep {
			continue
		}

		cw.arm(ctx, seq)
		deadline := lc.next
		if hasDeadline && ctxDeadline.Before(deadline) {
			deadline = ctxDeadline
		}
		p.flushCounters()
		if hookSnapshot != nil {
			hookSnapshot(seq)
		}
		v := seq.Load()
		fence.StoreFull32(sleeping, 1)
		if r.asym && w.fenced.Load() == 0 {
			// The peer's last cursor store may still sit in its
			// CPU's store buffer, and its flag load may have
			// passed it: this barrier runs on that CPU and makes
			// the store visible to the poll below. Not needed
			// once the peer publishes with full fences.
			if err := fence.Heavy(); err != nil {
				sleeping.Store(0)
				return fmt.Errorf("ring: wait: %w", err)
			}
		}
		if ok, err := p.poll(); ok || err != nil {
			sleeping.Store(0)
			return err
		}
		// A context that ended since the check above may have bumped
		// the word before s was read: the futex would not return
		// until the next liveness check. Its error is set before its
		// AfterFunc bumps, so looking now, after reading s, is enough.
		if err := ctx.Err(); err != nil {
			sleeping.Store(0)
			return err
		}
		me.waits.Add(1)
		adaptive := ws.Mode == WaitAdaptive // only it has a yield phase to stretch
		var asleep int64
		if adaptive {
			asleep = monotime.Now()
		}
		err := futex.Wait(word(seq), v, deadline)
		sleeping.Store(0)
		if adaptive {
			s.adapt(monotime.Now()-asleep, err == nil, ws)
		}
		if err != nil && !os.IsTimeout(err) {
			return fmt.Errorf("ring: wait: %w", err)
		}
	}
}

// Stretching the yield phase (WaitAdaptive). Polling before a sleep is
// worth it when the peer moves within about what a sleep and a wake cost,
// which the default durations are. A side that sleeps and is woken soon
// after, within twice as long as it polled, has a busy peer that was only
// late (a copy of a large message, a peer descheduled for a moment, other
// work between messages, a slow phase of the machine), and it paid two
// system calls and a wake-up's latency that one or two more doublings of
// its polling would have saved. Such a sleep doubles the yield phase of
// the side's next waits, up to maxStretch doublings; any other sleep (a
// longer one, or one that ran to its deadline: the peer was idle, not
// late) halves it again. A peer with a steady pace does not make the side
// flip between two lengths: the longer the polling, the longer the sleeps
// that count as short, so a side that grows once for a gap keeps growing
// until it polls through it, and one that shrinks keeps shrinking to the
// default. A saturated stream whose peer keeps stalling for a little
// longer than the defaults allow stops making system calls after a few
// stalls, and a side whose peer is idle polls for the default time before
// it sleeps, as before. The spin phase is never stretched: it is the one
// that competes with a peer on the other hardware thread of the same core.
const maxStretch = 3 // the yield phase at most 8 times WaitStrategy.Yield

// adapt updates the side's stretch after a sleep of slept nanoseconds that
// ended by a wake-up (woken) or by its deadline.
func (s *slots) adapt(slept int64, woken bool, ws WaitStrategy) {
	polled := later(int64(ws.Spin), stretched(ws.Yield, s.stretch))
	if woken && slept/2 <= polled {
		s.stretch = min(s.stretch+1, maxStretch)
	} else {
		s.stretch = max(s.stretch, 1) - 1
	}
}

// stretched is d doubled k times, or the largest duration if that is
// larger.
func stretched(d time.Duration, k uint) int64 {
	if int64(d) > math.MaxInt64>>k {
		return math.MaxInt64
	}
	return int64(d) << k
}

// later is t+d for d >= 0, or the largest time if that is later: a Spin or
// Yield of hundreds of years means for ever, not an overflow into the past.
func later(t, d int64) int64 {
	if t > math.MaxInt64-d {
		return math.MaxInt64
	}
	return t + d
}

// ctxWake makes the end of a context wake a side that sleeps on seq. The
// registration (context.AfterFunc, which allocates) is kept from one wait to
// the next and serves every context with the same Done channel, so a side
// that waits again and again under one context allocates once, not once per
// sleep. A context that ends while its side is not waiting bumps the word
// for nobody: a spurious wake-up, which the protocol allows.
//
// It belongs to the side's goroutine; Ring.Close disarms it once no call is
// under way, before the word is unmapped.
type ctxWake struct {
	done  <-chan struct{}
	stop  func() bool
	fired chan struct{}
}

// arm makes sure ctx's end wakes seq.
func (w *ctxWake) arm(ctx context.Context, seq *atomic.Uint32) {
	d := ctx.Done()
	if d == nil || d == w.done {
		return
	}
	w.disarm()
	fired := make(chan struct{})
	w.done, w.fired = d, fired
	w.stop = context.AfterFunc(ctx, func() {
		wake(seq)
		close(fired)
	})
}

// disarm drops the registration, waiting for it to finish if it has begun:
// after disarm nothing touches the word on a context's account.
func (w *ctxWake) disarm() {
	if w.stop != nil && !w.stop() {
		<-w.fired
	}
	*w = ctxWake{}
}

// checkPeer returns ErrPeerDead if the peer's role is held by a process that
// no longer exists, and ErrPeerUnresponsive if the process is stopped (by
// SIGSTOP or a debugger) at this check and was at the previous one, which
// was at least one liveness interval earlier: a stop shorter than the
// interval is never reported. *stopped carries the previous check's
// finding. A free role (no peer yet, or it closed) is not death: closing is
// reported by poll.
func checkPeer(peer *side, stopped *bool) error {
	id := identity(peer.owner.Load())
	if id == 0 {
		*stopped = false
		return nil
	}
	switch id.status() {
	case procDead:
		return fmt.Errorf("%w: pid %d", ErrPeerDead, id.pid())
	case procStopped:
		if *stopped {
			return fmt.Errorf("%w: pid %d found stopped (SIGSTOP or a debugger) at two liveness checks in a row",
				ErrPeerUnresponsive, id.pid())
		}
		*stopped = true
	default:
		*stopped = false
	}
	return nil
}

// wake bumps a sequence word and wakes its sleeper. Used on the slow paths
// (close, cancellation) where the sleeping flag is not consulted.
func wake(seq *atomic.Uint32) {
	seq.Add(1)
	_, _ = futex.Wake(word(seq), 1)
}

// futexWords are the words of one futex block (header block 3 or 4): the
// sequence word the sleeper sleeps on, its sleeping flag, its request for
// full fences, and the waker's answer.
type futexWords struct {
	seq, sleeping, wantsFence, fenced *atomic.Uint32
}

// dataWords is the block the consumer sleeps on.
func dataWords(h *header) futexWords {
	return futexWords{&h.dataSeq, &h.consumerSleeping, &h.consumerWantsFence, &h.producerFenced}
}

// spaceWords is the block the producer sleeps on.
func spaceWords(h *header) futexWords {
	return futexWords{&h.spaceSeq, &h.producerSleeping, &h.producerWantsFence, &h.consumerFenced}
}
