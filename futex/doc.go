// Package futex blocks a thread on a 32-bit word in memory shared between
// processes, and wakes it from any process that maps the same memory.
//
// It is a thin layer over futex(2) with two calls: [Wait] sleeps while a
// word holds an expected value, [Wake] wakes sleepers on a word. Neither
// knows what the word means; the contract below is what makes them correct.
// futex(2) is Linux's: on other platforms the same two calls keep the
// contract within one process (see "Other platforms").
//
// # The contract
//
// A waiter and a waker share a sequence word (the futex word) and a
// "sleeping" flag. The waker changes the state the waiter waits for, bumps
// the sequence, and calls Wake only if the waiter announced that it may
// sleep. The waiter snapshots the sequence before it looks at the state, so
// a change it did not see is caught by the kernel's comparison:
//
//	// waiter
//	for {
//	    s := seq.Load()              // snapshot, before looking at the state
//	    sleeping.Store(1)            // (A) announce
//	    if ready(state) {            // (B) re-check
//	        sleeping.Store(0)
//	        break
//	    }
//	    err := futex.Wait(&seq, s, deadline) // sleeps only while seq == s
//	    sleeping.Store(0)
//	    if errors.Is(err, os.ErrDeadlineExceeded) {
//	        // timed out: check the peer is alive, give up,
//	        // or loop with a new deadline
//	    } else if err != nil {
//	        return err               // EFAULT and the like: never loop on it
//	    }
//	    // nil: woken, seq had moved, or a signal: loop and re-check
//	}
//
//	// waker
//	publish(state)                   // (C)
//	seq.Add(1)                       // bump the sequence
//	if sleeping.Load() != 0 {        // (D) only if someone announced
//	    sleeping.Store(0)
//	    futex.Wake(&seq, 1)
//	}
//
// No wake-up is lost. The announce (A, the Store of 1) and the publication
// (C) are stores, the re-check (B) and the waker's test (D) are loads, and
// Go's atomics are sequentially consistent: B and D cannot both miss the
// other side's store. Either B sees the state (the waiter does not sleep) or
// D sees the flag (the waker wakes). In the second case the waker's bump of
// seq either comes before the waiter's Wait, which then sees seq != s and
// returns at once (the kernel compares and queues atomically), or after,
// and the Wake finds the waiter queued. Drop the snapshot, the re-check or
// the bump and a wake-up can be lost.
//
// The bump may move inside the if, as long as it precedes the Wake: a waker
// whose waiter did not announce then touches only the state and the flag.
// Either way the fast path, when nobody announced, makes no system call.
//
// # Shared, not private
//
// The kernel finds the waiters of a word by a key. A private futex
// (FUTEX_PRIVATE_FLAG, what the Go runtime uses for its own locks) is keyed
// by the calling process's address space and the virtual address, so a
// Wake in another process never finds the waiter. This package never sets
// the flag: a shared futex is keyed by the underlying memory object and the
// offset in it, so two processes meet on the word even when they map the
// segment at different addresses. The cost is a page lookup per call.
//
// # Deadlines
//
// A deadline is absolute. Wait converts it on each call to CLOCK_MONOTONIC
// (the current monotonic time plus time.Until(deadline)) and hands it to
// FUTEX_WAIT_BITSET, whose timeout is an instant, not a duration. A signal
// may end the sleep early (a nil return); a caller that loops on spurious
// returns passes the same deadline again, so signals, wake-ups meant for
// nobody and changed values never stretch the total wait. A deadline already past returns
// os.ErrDeadlineExceeded at once, without a system call; a zero deadline
// waits for ever. Deadlines from time.Now().Add carry a monotonic reading and
// ignore wall-clock steps; a deadline built from a wall-clock date (time.Date,
// time.Unix) is measured against the wall clock at each call.
//
// # Spurious wake-ups
//
// Wait returns nil when it was woken, when the word did not hold the
// expected value on entry (EAGAIN), and when a signal interrupted the sleep
// (EINTR). A nil return says only "look again": the word may not have
// changed, and a Wake may have been meant for another waiter on the same
// word. Callers always re-check their condition in a loop.
//
// # Threads
//
// A waiter blocks its OS thread in the kernel, through a system call the Go
// runtime knows about: the runtime hands the thread's P to another thread,
// so other goroutines and the garbage collector keep running, even with
// GOMAXPROCS=1. Each blocked waiter holds one thread.
//
// # Other platforms
//
// Where futex(2) is not called (every platform but Linux on amd64 and
// arm64), Wait and Wake keep the contract above between goroutines of one
// process, with no system call: a waiter queues itself on the word's
// address in a table of its process, compares the word, and blocks its
// goroutine (not a thread) on a channel; Wake signals up to n waiters
// queued on the address. Queueing comes before comparing, so no wake-up is
// lost, as with the kernel's atomic compare and sleep.
//
// A Wake in another process does not reach such a waiter: the table is
// per process. A waiter also looks at the word itself, at intervals that
// grow from 50 µs to 10 ms, and returns when it has changed, so that two
// processes that map the same memory (a file both map) still work, with a
// wake-up latency of up to 10 ms instead of microseconds. An idle waiter
// costs a timer every 10 ms. Wake counts only the waiters of its own
// process. Linux uses this implementation too when built with the tag
// shmring_portable_futex, which is how it is tested there.
//
// # Errors
//
// [Wait] returns nil to mean "look again" (see above),
// [os.ErrDeadlineExceeded] when the deadline passes, [ErrUnaligned] for a
// nil or misaligned word (without a system call), and any other failure of
// the system call wrapped with the operation and the address, matching its
// errno with errors.Is (unix.EFAULT for memory that is not mapped). A caller
// must not loop on those: the word is unusable. [Wake] returns [ErrUnaligned]
// or a wrapped errno the same way. Both need the word to stay mapped for the
// whole call.
package futex
