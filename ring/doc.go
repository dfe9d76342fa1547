// Package ring is a lock-free single-producer, single-consumer ring of
// fixed-size slots in one System V shared memory segment, for messages
// between two processes on one Linux host (or two goroutines, over ordinary
// memory).
//
// # Using it
//
// One process creates the ring and the other opens it by key; each claims
// one role:
//
//	r, err := ring.Create(key, ring.Config{SlotSize: ring.SlotSizeFor(64), Slots: 4096})
//	p, err := r.Producer()
//	err = p.Send(ctx, msg)
//	defer r.Close()
//
//	r, err := ring.Open(key, nil)
//	c, err := r.Consumer()
//	n, err := c.Recv(ctx, buf) // io.EOF after the producer closed and all is read
//
// OpenOrCreate does whichever is needed. New makes a ring over a []byte for
// two goroutines of one process (and for the race detector, which cannot see
// shared memory).
//
// # The segment
//
//	+--------+--------+--------+--------+--------+--------+--------+--------+--------------------+
//	| meta   | head   | tail   | data   | space  | prod   | cons   | (zero) | slot 0 ... slot N-1 |
//	| block 0| block 1| block 2| futex  | futex  | owner, | owner, |        | len u32 | payload  |
//	|        |        |        |        |        | counts | counts |        |                    |
//	+--------+--------+--------+--------+--------+--------+--------+--------+--------------------+
//	0        128      256      384      512      640      768      896      1024
//
// The producer writes slots and then the head cursor; the consumer reads
// slots and then the tail cursor. Cursors count messages and never wrap; a
// slot's index is cursor & (N-1):
//
//	          tail=13          head=18
//	            v                v
//	slot:  0 1 2 3 4 5 6 7     (N = 8)
//	      [m m . . . m m m]    13&7=5: messages 13..17 sit in slots 5,6,7,0,1
//
// Each side keeps a copy of the other's cursor and reads the shared one only
// when its copy says the ring is full (producer) or empty (consumer); each
// publishes its own cursor once per call, however many messages the call
// moves. docs/LAYOUT.md gives every field.
//
// # Waiting
//
// A side that cannot proceed spins, then yields, then sleeps on a futex word
// (WaitAdaptive; see WaitMode for the others). The sleeper raises a flag and
// re-checks before sleeping; the other side makes the wake syscall only when
// it sees the flag, so while both sides keep up, no system call is made at
// all. wait.go gives the ordering argument.
//
// A waiting side checks every Options.Liveness that its peer's process
// still exists (pid and start time, so a reused pid is not mistaken for the
// peer) and returns ErrPeerDead if it does not. A new process can then claim
// the dead side's role and carry on from the cursors in the header.
//
// # Lifetime
//
// A segment outlives the processes that use it. Ring.Close removes it once
// both sides have closed; a ring whose peer died stays, for a takeover, until
// it is removed ("shmring rm -stale", or ipcrm). Slices returned by Reserve,
// Peek and RecvBatch point into the segment: they are valid until Commit,
// Release or the end of the callback, and never after Close.
//
// # Errors
//
// Errors are the sentinels in errors.go, wrapped with the values seen; test
// them with errors.Is. Memory another process can write is not trusted: a
// cursor or length out of range is ErrCorrupt, never a read outside the ring.
package ring
