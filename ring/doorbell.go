package ring

import "time"

// A Doorbell stands in for the futex word one side of a ring sleeps on, for
// processes that share file descriptors as well as the segment (package
// conn passes eventfds over a Unix socket). A side that must sleep blocks in
// Wait instead of futex_wait, and its peer calls Ring instead of futex_wake.
// What it buys: a Wait can block a goroutine without blocking an OS thread
// (conn's bell reads an eventfd through Go's netpoller), so a process with a
// thousand idle rings holds no thread for each, and the bell can report a
// peer gone (Err) the moment something else notices, rather than at the
// next liveness check.
//
// The wake-up protocol is the futex one (wait.go) with the word's compare
// replaced by stickiness: a Ring that comes before a Wait must make that
// Wait return at once. model/wakeup.pml checks the protocol with such a bell
// (BELL) and shows the wake-up a bell that forgets an early ring would lose
// (MUT_BELL_NOT_STICKY).
//
// Both processes must use doorbells, the same ones, on a ring: a side that
// sleeps on the bell never sees a futex wake. Nothing in the segment records
// it; conn makes its rings so that no third process can attach them.
type Doorbell interface {
	// Ring wakes a Wait in progress, or else the next Wait. Rings before
	// a Wait may wake it once for all of them. It is called from any
	// goroutine, and must not block.
	Ring()
	// Wait blocks until the bell rings (since the last Wait returned),
	// the deadline passes, or Err has something to say; it returns nil
	// in each case, and may return spuriously. Any other error (the bell
	// closed, a failed read) ends the waiting call with it. One
	// goroutine waits on a bell at a time.
	Wait(deadline time.Time) error
	// Err reports the peer gone: nil while it may be alive, then an
	// error that ends every wait of the ring's sides once they have read
	// what the peer left (it should wrap ErrPeerDead). A bell that knows
	// the peer is gone rings itself so a Wait in progress returns.
	Err() error
}

// Doorbells are a ring's two bells: Options.Doorbells.
type Doorbells struct {
	// Data is the consumer's: it waits on it for messages, and the
	// producer rings it when it publishes to a sleeping consumer.
	Data Doorbell
	// Space is the producer's: it waits on it for space in a full ring,
	// and the consumer rings it when it frees slots for a sleeping
	// producer.
	Space Doorbell
}
