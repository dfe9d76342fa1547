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
//	consumer (sleeper, waiter.sleep)   producer (waker, publishCursor)
//	  s := dataSeq                       write slots
//	  consumerSleeping = 1    (A)        head = h             (C)
//	  [membarrier()]          (M)        if consumerSleeping  (D)
//	  if head != tail: done   (B)            consumerSleeping = 0
//	  futex_wait(&dataSeq, s)                dataSeq++
//	  consumerSleeping = 0                   futex_wake(&dataSeq)
//
// (M) is there only with asymmetric fences, below.
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
	// pollAll is poll that also reads what the peer may have stored
	// without publishing its cursor after it: the poll before a sleep
	// (B), and the final poll after the peer was found dead.
	pollAll() (bool, error)
	flushCounters()
	beforeWait()
	peerCursor() uint64
}

// waiter is one side's way of waiting, set up when the side claims its role
// (claim) and used by every call of the side that finds the ring full or
// empty. It owns the side's futex words, its schedule of liveness checks,
// its context wake-up and its backoff.
type waiter struct {
	own, peer futexWords // the block this side sleeps on; the one its peer sleeps on
	me, them  *side      // the header blocks: this side's (waits, wakes), the peer's (owner)
	b         backoff
	liveness  time.Duration // Options.Liveness
	asym      bool          // the ring has asymmetric fences: a sleep needs membarrier
	noProc    bool          // Options.NoProcCheck
	live      liveCheck     // when to check the peer next, across waiting calls
	// stretch: the yield phase of this side's waits lasts b.yield <<
	// stretch (adapt).
	stretch uint
	cw      ctxWake // wakes a sleep when its context ends
}

// backoff is a side's waiting policy, chosen once from its WaitStrategy
// (newBackoff): first re-read the peer's cursor first times, a spin-wait
// hint before each; then poll with a hint before each poll for spin
// nanoseconds, then poll with runtime.Gosched in between for yield
// nanoseconds, then sleep on the futex until woken, polling once before
// each sleep. forever means the phase never ends: WaitSpin spins for ever,
// WaitYield yields for ever, and neither sleeps. adapt stretches the yield
// phase (WaitAdaptive, adapt).
//
// The first polls are the side's own: the consumer's catch-up (waitData)
// makes them before it calls waitFor, with its cursor read inlined
// (refresh), so that a reply on its way (a ping-pong, a request answered)
// is found and read with no interface call, no setup of the wait and no
// look at the closing flags between its arrival and the answer. Measured
// on the project VM, 64-byte spin round trips, medians of 10 interleaved
// runs: 1.2x the C ring with them, 1.6x without, in the VM's slow mode.
// Only the consumer makes them: a producer waits for space only behind a
// consumer that fell behind, where they would save nothing.
type backoff struct {
	first       int // the first polls, 0 when the strategy must not spin (firstPolls)
	spin, yield int64
	adapt       bool
	clockMask   int // spin reads the clock when the poll count & clockMask is 0
}

// forever is a phase that does not end.
const forever = math.MaxInt64

func newBackoff(ws WaitStrategy) backoff {
	var b backoff
	switch ws.Mode {
	case WaitSpin:
		b = backoff{spin: forever}
	case WaitYield:
		b = backoff{spin: int64(ws.Spin), yield: forever}
	case WaitFutex:
		b = backoff{}
	default:
		b = backoff{spin: int64(ws.Spin), yield: int64(ws.Yield), adapt: true}
	}
	b.clockMask = spinClockEvery - 1
	if b.spin < int64(shortSpin) {
		// A spin shorter than spinClockEvery polls can take would be
		// stretched by them: read the clock at every poll.
		b.clockMask = 0
	}
	if b.spin >= int64(firstPollsSpin) {
		// Shorter spins get no first polls, which would stretch them
		// (the lost-wakeup tests spin 1 ns so that their sides sleep
		// as often as they can).
		b.first = firstPolls
	}
	return b
}

// firstPolls is how many polls a side's catch-up makes itself before it
// calls waitFor (backoff.first): about 0.8 µs of polling on the project
// VM, longer than most round trips' remaining wait. firstPollsSpin is the
// shortest spin phase that has them: what they take on a CPU whose hint
// takes 100 ns.
const (
	firstPolls     = 32
	firstPollsSpin = firstPolls * 100 * time.Nanosecond
)

// The cadence of the polling phases, in polls (powers of two): how often a spinning side
// reads the clock (its spin phase may be over) and gives up its P (the peer
// may be a goroutine waiting for it: GOMAXPROCS=1), and how often a
// spinning or yielding side looks at its context and its peer (check).
// Reading the clock costs about as much as a poll, time.Now and a context
// more, so the polls between them find a prompt peer without either.
const (
	spinClockEvery  = 64
	spinYieldEvery  = 128
	spinCheckEvery  = 1024
	yieldCheckEvery = 64
	// shortSpin is about how long spinClockEvery polls take, with a
	// hint before each, on a CPU whose hint takes 100 ns.
	shortSpin = spinClockEvery * 100 * time.Nanosecond
)

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

// claim sets up the waiter of a side that claims its role, before its
// first publication. A previous holder of the role may have answered the
// peer's request for full fences; this one has not, and says so before it
// publishes anything with a release store. The clear is a full store
// (fence.StoreFull32): a sleeper that still read the old answer would skip
// its membarrier, so this side's flag load must not pass the clear. It asks
// for full fences from the peer if it sleeps at once when it must wait
// (WaitFutex): a sleep then needs no membarrier.
func (w *waiter) claim(r *Ring, own, peer futexWords, me, them *side) {
	ws := r.opts.Wait
	*w = waiter{own: own, peer: peer, me: me, them: them,
		b: newBackoff(ws), liveness: r.opts.Liveness, asym: r.asym, noProc: r.opts.NoProcCheck}
	fence.StoreFull32(peer.fenced, 0)
	var want uint32
	if ws.Mode == WaitFutex {
		want = 1
	}
	own.wantsFence.Store(want)
}

// waitFor blocks until p.poll reports true or an error, the context ends, or
// the peer is found dead or stopped too long. It makes no allocation: waits
// are frequent, and a wait that allocates turns a steady stream into
// garbage.
//
// The call that waits has marked its side as inside a call (slots.begin)
// and looked that its side is open: Ring.Close, which closes the sides and
// then waits for the mark to go, wakes the wait, whose poll sees the side
// closed (ErrClosed), and cannot unmap under it. On success the call goes
// on to write or read the slot it waited for, still marked.
func (w *waiter) waitFor(ctx context.Context, p poller) error {
	ok, err := p.poll()
	if err == nil && !ok {
		if c := p.peerCursor(); c != w.live.mark {
			w.live = liveCheck{mark: c}
		}
		p.beforeWait()
		err = w.wait(ctx, p)
	}
	if err != nil {
		// Only a wait cut short by its context keeps the schedule for
		// the next call. After a finding (dead, stopped) or anything
		// else, the next call starts a schedule of its own: calling
		// again after ErrPeerUnresponsive waits again, at least an
		// interval, instead of failing at its first look at the clock.
		// The error decides, not ctx.Err(): a context that ends while
		// the check reads /proc must not keep the schedule of a call
		// that reported the peer dead (TestPeerDeadAsDeadlinePasses).
		if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			w.live = liveCheck{mark: p.peerCursor()}
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

// wait runs the backoff's phases in turn: spin, yield, sleep. Each phase
// returns true when a poll found what the side waits for, an error that
// ends the wait, or false, nil when it is over.
func (w *waiter) wait(ctx context.Context, p poller) error {
	if ok, err := w.spin(ctx, p); ok || err != nil {
		return err
	}
	if ok, err := w.yield(ctx, p); ok || err != nil {
		return err
	}
	for {
		if ok, err := p.poll(); ok || err != nil {
			return err
		}
		if ok, err := w.check(ctx, p); ok || err != nil {
			return err
		}
		if ok, err := w.sleep(ctx, p); ok || err != nil {
			return err
		}
	}
}

// spin polls with a spin-wait hint before each poll, for b.spin. A poll as
// fast as the CPU can would take the core from the peer, if that runs on
// the other hardware thread of the same core; a hint (about 25 ns on the
// project VM) still finds a reply on its way (a ping-pong) within a few
// dozen nanoseconds of its arrival.
func (w *waiter) spin(ctx context.Context, p poller) (bool, error) {
	if w.b.spin == 0 {
		return false, nil
	}
	until := int64(forever)
	if w.b.spin != forever {
		until = later(monotime.Now(), w.b.spin)
	}
	for i := 1; ; i++ {
		fence.Pause(1)
		if ok, err := p.poll(); ok || err != nil {
			return ok, err
		}
		if i&w.b.clockMask != 0 { // a mask, not %: no division per poll
			continue
		}
		if until != forever && monotime.Now() >= until {
			return false, nil
		}
		if i%spinYieldEvery == 0 {
			runtime.Gosched()
		}
		if i%spinCheckEvery == 0 {
			if ok, err := w.checkAll(ctx, p); ok || err != nil {
				return ok, err
			}
		}
	}
}

// yield polls with runtime.Gosched before each poll, for b.yield stretched
// (adapt).
func (w *waiter) yield(ctx context.Context, p poller) (bool, error) {
	if w.b.yield == 0 {
		return false, nil
	}
	until := int64(forever)
	if w.b.yield != forever {
		until = later(monotime.Now(), stretched(time.Duration(w.b.yield), w.stretch))
	}
	for i := 1; ; i++ {
		runtime.Gosched()
		if ok, err := p.poll(); ok || err != nil {
			return ok, err
		}
		if until != forever && monotime.Now() >= until {
			return false, nil
		}
		if i%yieldCheckEvery == 0 {
			if ok, err := w.checkAll(ctx, p); ok || err != nil {
				return ok, err
			}
		}
	}
}

// checkAll is check for the spin and yield phases, which may never end
// (WaitSpin, WaitYield): a poll that reads everything the peer stored
// (pollAll) first, then check.
func (w *waiter) checkAll(ctx context.Context, p poller) (bool, error) {
	if ok, err := p.pollAll(); ok || err != nil {
		return ok, err
	}
	return w.check(ctx, p)
}

// check looks at the context and, when the schedule says so, at the peer's
// process: ErrPeerDead, ErrPeerUnresponsive, or ctx's error end the wait.
// It reports true when the final poll after finding the peer dead found
// what the side waits for (the wait then ends well).
func (w *waiter) check(ctx context.Context, p poller) (bool, error) {
	now := time.Now()
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if d, ok := ctx.Deadline(); ok && !now.Before(d) {
		return false, context.DeadlineExceeded
	}
	if w.own.bell != nil {
		// The bell knows at once (conn: the peer's socket ended).
		if err := w.own.bell.Err(); err != nil {
			return w.final(p, err)
		}
	}
	lc := &w.live
	switch {
	case lc.next.IsZero():
		lc.next = now.Add(w.liveness)
		return false, nil
	case now.Before(lc.next):
		return false, nil
	case now.Sub(lc.next) > w.liveness:
		// More than two intervals since the last check, not all of
		// them spent waiting: what that check saw says nothing of now.
		// "Stopped at two checks in a row" means one stop an interval
		// long.
		lc.stopped = false
	}
	lc.next = now.Add(w.liveness)
	if w.noProc {
		return false, nil
	}
	if err := checkPeer(w.them, &lc.stopped); err != nil {
		if hookFound != nil {
			hookFound()
		}
		return w.final(p, err)
	}
	return false, nil
}

// final is the poll after the peer was found dead (err): it may have
// published (or freed) one more slot between the last poll and its death.
// It can do nothing more now, so this poll is final: report death only if
// it finds nothing (model/wakeup.pml, MUT_NO_FINAL_POLL). An
// ErrPeerUnresponsive ends the wait the same way.
func (w *waiter) final(p poller, err error) (bool, error) {
	if ok, perr := p.pollAll(); ok || perr != nil {
		return ok, perr
	}
	return false, err
}

// sleep is one sleep of the protocol above, step by step as in
// model/wakeup.pml's consumer (s, A, M, B, futex_wait): it reads the word,
// raises the flag, makes the peer's stores visible if they may not be, polls
// once more, and sleeps until woken, the next liveness check or the
// context's deadline. check has run just before, so the schedule is set.
func (w *waiter) sleep(ctx context.Context, p poller) (bool, error) {
	seq, sleeping := w.own.seq, w.own.sleeping
	w.cw.arm(ctx, w.own)
	deadline := w.live.next
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	p.flushCounters()
	if hookSnapshot != nil {
		hookSnapshot(seq)
	}
	s := seq.Load()
	fence.StoreFull32(sleeping, 1) // (A)
	if w.asym && w.own.fenced.Load() == 0 {
		// (M) The peer's last cursor store may still sit in its
		// CPU's store buffer, and its flag load may have passed it:
		// this barrier runs on that CPU and makes the store visible
		// to the poll below. Not needed once the peer publishes with
		// full fences.
		if err := fence.Heavy(); err != nil {
			sleeping.Store(0)
			return false, fmt.Errorf("ring: wait: %w", err)
		}
	}
	if ok, err := p.pollAll(); ok || err != nil { // (B)
		sleeping.Store(0)
		return ok, err
	}
	// A context that ended since check may have bumped the word before s
	// was read: the futex would not return until the next liveness
	// check. Its error is set before its AfterFunc bumps, so looking
	// now, after reading s, is enough.
	if err := ctx.Err(); err != nil {
		sleeping.Store(0)
		return false, err
	}
	w.me.waits.Add(1)
	var asleep int64
	if w.b.adapt {
		asleep = monotime.Now()
	}
	var err error
	if w.own.bell != nil {
		// The bell's stickiness does what the futex's compare with s
		// does: a ring since (A) ends this wait at once.
		err = w.own.bell.Wait(deadline)
	} else {
		err = futex.Wait(word(seq), s, deadline)
	}
	sleeping.Store(0)
	if w.b.adapt {
		w.adapt(monotime.Now()-asleep, err == nil)
	}
	if err != nil && !os.IsTimeout(err) {
		return false, fmt.Errorf("ring: wait: %w", err)
	}
	return false, nil
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
func (w *waiter) adapt(slept int64, woken bool) {
	polled := later(w.b.spin, stretched(time.Duration(w.b.yield), w.stretch))
	if woken && slept/2 <= polled {
		w.stretch = min(w.stretch+1, maxStretch)
	} else {
		w.stretch = max(w.stretch, 1) - 1
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

// arm makes sure ctx's end wakes the side sleeping on f.
func (w *ctxWake) arm(ctx context.Context, f futexWords) {
	d := ctx.Done()
	if d == nil || d == w.done {
		return
	}
	w.disarm()
	fired := make(chan struct{})
	w.done, w.fired = d, fired
	w.stop = context.AfterFunc(ctx, func() {
		f.wake()
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

// wake bumps the sequence word and wakes its sleeper: futex_wake, or the
// doorbell that stands in for it. Used by the waker (wakeSleeper) once the
// flag said so, and on the slow paths (close, cancellation) where the flag
// is not consulted.
func (f futexWords) wake() {
	f.seq.Add(1)
	if f.bell != nil {
		f.bell.Ring()
		return
	}
	_, _ = futex.Wake(word(f.seq), 1)
}

// futexWords are the words of one futex block (header block 3 or 4): the
// sequence word the sleeper sleeps on, its sleeping flag, its request for
// full fences, and the waker's answer; and the doorbell that replaces the
// sequence word's futex, if the handle has one (Options.Doorbells).
type futexWords struct {
	seq, sleeping, wantsFence, fenced *atomic.Uint32
	bell                              Doorbell
}

// dataWords is the block the consumer sleeps on.
func (r *Ring) dataWords() futexWords {
	h := r.h
	f := futexWords{seq: &h.dataSeq, sleeping: &h.consumerSleeping, wantsFence: &h.consumerWantsFence, fenced: &h.producerFenced}
	if b := r.opts.Doorbells; b != nil {
		f.bell = b.Data
	}
	return f
}

// spaceWords is the block the producer sleeps on.
func (r *Ring) spaceWords() futexWords {
	h := r.h
	f := futexWords{seq: &h.spaceSeq, sleeping: &h.producerSleeping, wantsFence: &h.producerWantsFence, fenced: &h.consumerFenced}
	if b := r.opts.Doorbells; b != nil {
		f.bell = b.Space
	}
	return f
}
