package futex

import (
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// The portable wait: Wait and Wake where this package makes no futex(2)
// call (every platform but Linux on amd64 and arm64, and those too when
// built with the tag shmring_portable_futex, which is how Linux tests it).
//
// A waiter queues itself in a table of this process, keyed by the word's
// address, then compares the word, then blocks on its own channel; Wake
// takes up to n waiters off the word's queue and signals them. Queueing
// before comparing gives the promise futex(2) gives: a waker that changes
// the word and then calls Wake either finds the waiter queued, or changed
// the word before the waiter compared it, and the waiter returns at once.
//
// Only this process's waiters are in the table. Memory that another
// process maps too (a file both map) can have its waiter here and its
// waker there, whose Wake finds nobody. So a waiter also looks at the word
// itself, first after poll.min, then at doubling intervals up to poll.max,
// and returns once it changed: across processes a wake-up takes up to
// poll.max instead of microseconds; in one process it is immediate.

// polling is how often a portable waiter looks at its word.
type polling struct{ min, max time.Duration }

// defaultPolling: a waiter in another process sees a change within 10 ms,
// and an idle waiter costs a timer every 10 ms, a hundred a second.
var defaultPolling = polling{min: 50 * time.Microsecond, max: 10 * time.Millisecond}

// waiter is one call of waitPortable. Waiters are recycled through a pool,
// so that a wait allocates nothing once the pool holds one.
type waiter struct {
	ch    chan struct{} // capacity 1: Wake's signal
	timer *time.Timer   // the next look at the word or the deadline

	// Guarded by waiters.mu.
	word   *uint32
	queued bool
	prev   *waiter // the first waiter's prev is the last waiter
	next   *waiter
}

var (
	waiterPool = sync.Pool{New: func() any { return &waiter{ch: make(chan struct{}, 1)} }}

	waiters struct {
		mu sync.Mutex
		q  map[*uint32]*waiter // each word's first waiter, the others by next
	}
)

// waitPortable is Wait without futex(2): the same returns, but only Wake
// calls of this process end the sleep, and polls of the word per p.
func waitPortable(word *uint32, expected uint32, deadline time.Time, p polling) error {
	if err := checkWord("wait", word); err != nil {
		return err
	}
	if !deadline.IsZero() && time.Until(deadline) <= 0 {
		return os.ErrDeadlineExceeded
	}
	w := waiterPool.Get().(*waiter)
	defer release(w)
	enqueue(word, w)
	for poll := p.min; ; poll = min(2*poll, p.max) {
		if atomic.LoadUint32(word) != expected {
			return nil
		}
		d := poll
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				return os.ErrDeadlineExceeded
			}
			d = min(d, left)
		}
		if w.timer == nil {
			w.timer = time.NewTimer(d)
		} else {
			w.timer.Reset(d)
		}
		select {
		case <-w.ch:
			return nil
		case <-w.timer.C:
		}
	}
}

// wakePortable is Wake without futex(2): it signals at most n waiters of
// this process queued on word, the longest waiting first.
func wakePortable(word *uint32, n int) (int, error) {
	if err := checkWord("wake", word); err != nil {
		return 0, err
	}
	woken := 0
	waiters.mu.Lock()
	for ; woken < n; woken++ {
		w := waiters.q[word]
		if w == nil {
			break
		}
		unlink(w)
		// Never blocks: the channel holds one signal, and a waiter is
		// signalled at most once for each time it is queued.
		w.ch <- struct{}{}
	}
	waiters.mu.Unlock()
	return woken, nil
}

// enqueue puts w last in word's queue.
func enqueue(word *uint32, w *waiter) {
	waiters.mu.Lock()
	defer waiters.mu.Unlock()
	if waiters.q == nil {
		waiters.q = make(map[*uint32]*waiter)
	}
	w.word, w.queued, w.next = word, true, nil
	if first := waiters.q[word]; first == nil {
		w.prev = w
		waiters.q[word] = w
	} else {
		last := first.prev
		last.next, w.prev, first.prev = w, last, w
	}
}

// unlink takes a queued w off its word's queue. waiters.mu must be held.
func unlink(w *waiter) {
	first := waiters.q[w.word]
	switch {
	case w == first && w.next == nil:
		delete(waiters.q, w.word)
	case w == first:
		w.next.prev = w.prev
		waiters.q[w.word] = w.next
	default:
		w.prev.next = w.next
		if w.next != nil {
			w.next.prev = w.prev
		} else {
			first.prev = w.prev
		}
	}
	w.word, w.queued, w.prev, w.next = nil, false, nil, nil
}

// release ends w's wait: off the queue if no Wake took it off, timer
// stopped, channel empty (a Wake may have signalled it after the wait had
// returned another way), and back into the pool.
func release(w *waiter) {
	if w.timer != nil {
		w.timer.Stop()
	}
	waiters.mu.Lock()
	if w.queued {
		unlink(w)
	}
	waiters.mu.Unlock()
	// No Wake can signal w now: the channel's state is final.
	select {
	case <-w.ch:
	default:
	}
	waiterPool.Put(w)
}
