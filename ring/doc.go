// Package ring is a lock-free single-producer, single-consumer ring of
// fixed-size slots in one System V shared memory segment, for messages
// between two processes on one Linux host (or two goroutines, over ordinary
// memory, on other 64-bit platforms too: see "Other platforms").
//
// # Using it
//
// Two processes find a ring by a System V key, a [shmseg.Key]: derive it
// from a file both know with [shmseg.Ftok] (a C program's ftok(3) gives
// the same key), or agree on a constant. One process creates the ring and
// the other opens it; each claims one role. In the creating process, from
// ExampleCreate (which has the whole program; errors are handled there):
//
//	key, err := shmseg.Ftok(path, 1)
//	...
//	r, err := ring.Create(key, ring.Config{MaxMessage: 64, Slots: 4096})
//	...
//	defer r.Close() // the last side to close removes the segment
//	p, err := r.Producer()
//	...
//	if err := p.Send(ctx, []byte(m)); err != nil { // waits while the ring is full
//	...
//	return p.Close() // the receiver reads io.EOF after the last message
//
// and in the other, once the ring exists (Open fails with
// shmseg.ErrNotExist until then):
//
//	r, err := ring.Open(key, ring.Options{})
//	...
//	c, err := r.Consumer()
//	...
//	n, err := c.Recv(ctx, buf)
//	if errors.Is(err, io.EOF) {
//		return nil // the sender has closed, and everything is read
//	}
//
// A consumer that runs for long also meets ErrPeerUnresponsive (a stopped
// producer: call again) and ErrPeerDead (a dead one, whose role a new
// process may take over); examples/linepipe runs both sides as two
// programs and handles both.
//
// OpenOrCreate does whichever is needed. New makes a ring in ordinary
// memory for two goroutines of one process (and for the race detector,
// which cannot see shared memory); NewIn does so in memory the caller
// provides. A Config is written in message sizes (MaxMessage); the slot is
// derived from it. Options are passed by value: the zero Options are the
// defaults.
//
// The types: a [Ring] is one process's handle on a ring (the mapping, and
// the roles it holds); a [Producer] and a [Consumer] are the two roles, one
// of each per ring at a time, system-wide. [Config] describes a new ring and
// [Options] how a handle waits and judges its peer; [Stats] is a snapshot of
// the header, readable by any process (a read-only attach is enough).
//
// # The segment
//
//	+--------+--------+--------+--------+--------+--------+--------+--------+--------+-----+----------+
//	| meta   | head   | tail   | data   | space  | prod   | cons   | label, | slot 0 | ... | slot N-1 |
//	| block 0| block 1| block 2| futex  | futex  | owner, | owner, | (zero) |        |     |          |
//	|        |        |        |        |        | counts | counts |        |        |     |          |
//	+--------+--------+--------+--------+--------+--------+--------+--------+--------+-----+----------+
//	0        128      256      384      512      640      768      896      1024
//
// A slot is a little-endian u32 length and the payload. The producer writes
// slots and then the head cursor; the consumer reads slots and then the tail
// cursor. Cursors count slots (a message in k fragments takes k, see
// "Large messages") and never wrap; a slot's index is
// cursor & (N-1). With N = 8, tail = 13 and head = 18, messages 13 to 17 sit
// in slots 5, 6, 7, 0 and 1; the consumer reads slot 5 (13&7) next and the
// producer writes slot 2 (18&7) next:
//
//	slot:    0    1    2    3    4    5    6    7
//	       +----+----+----+----+----+----+----+----+
//	       | 16 | 17 |    |    |    | 13 | 14 | 15 |
//	       +----+----+----+----+----+----+----+----+
//	                   ^              ^
//	                   head&7 = 2     tail&7 = 5
//
// Each side keeps a copy of the other's cursor and reads the shared one only
// when its copy says the ring is full (producer) or empty (consumer); each
// publishes its own cursor once per call, however many messages the call
// moves. docs/LAYOUT.md gives every field; docs/DESIGN.md explains the
// design.
//
// # Large messages
//
// A ring carries messages up to its MaxMessage (Config.MaxMessage, stored
// in the header; at most MaxMessageLimit, 1 TiB; by default 1 GiB), whatever
// its slot size. A message longer than a slot's payload (SlotSize-4 bytes)
// travels in fragments in consecutive slots, marked by flag bits in each
// slot's length word (docs/LAYOUT.md, "Fragments"); a message that fits a
// slot costs what it always did. A fragmented message that fits the ring
// (no more fragments than slots) is sent once all its slots are free, and
// published a run of 32 KiB of slots at a time while the consumer copies
// it out; the consumer releases it with one store once all of it is
// copied, and a call that ends early on either side leaves it whole. A
// longer one streams: the producer publishes its fragments as slots free
// up and the consumer copies and releases them as they come, so a 100 MiB
// message passes through a 256 KiB ring. The
// cursors, and Stats' message counts, count slots.
//
// Recv with a buffer too short for a message, fragmented or not, returns
// its length and io.ErrShortBuffer, and leaves it in the ring. RecvBatch
// hands a fragmented message to its callback from a buffer the Consumer
// keeps. Peek, Reserve and ReserveBatch work on one slot: Peek refuses a
// fragmented message and Reserve a length beyond a slot's payload, with
// ErrMessageTooLarge; TrySend and TryRecv refuse a message longer than the
// ring, which is never there whole.
//
// Their counterparts for a message of any length work in place too.
// Consumer.Reader returns a MessageReader: Next hands out the message's
// fragments one by one where they lie in the ring, Read and WriteTo make
// an io.Reader and an io.WriterTo of it, Close releases it (a message that
// fits the ring with one store) and discards what was not read.
// Producer.Writer(ctx, n) returns a MessageWriter for a message of at most
// n bytes: Next hands out the next fragment's payload, Commit says how much
// of it was written, Write and ReadFrom copy into the slots, and Close
// publishes. If n bytes fit the ring, Writer waits for their slots, nothing
// is published before Close, and Close publishes exactly the bytes
// committed, in one slot if they fit one: a serializer reserves the most
// it may write and commits what it wrote (bytes past that never reach the
// consumer). Reserve and CommitN do the same within one slot. A longer
// message streams from a MessageWriter and into a MessageReader as it does
// from Send and into Recv, and tears as they do; such a message must be
// given all n bytes, or Close aborts it with ErrTorn. Neither allocates:
// each side has one reader or writer, returned for every message, and the
// context given to Reader or Writer governs every wait of it, as an
// http.Request's context governs the request.
//
// Only a streaming message can be torn by a call: when a call ends in the
// middle of one (its context, a dead or stopped peer, Close), or a consumer
// takes over in the middle of one. A message that fits the ring, if
// published in more than one run, is torn only by its producer's death
// between two runs. The consumer then never receives part of it as if it
// were whole: the call returns ErrTorn (with the error that ended it), its
// next call discards the rest and returns ErrTorn, and the next message
// arrives whole. (A call waiting for the rest of a message that fits the
// ring returns its wait's error, ErrPeerDead, and leaves the message; the
// abort below ends it at the next call, which returns ErrTorn with
// nothing left to discard. A producer that closes in the middle of one,
// which only a Ring.Close that stopped waiting for its Send does, tears
// it too: ErrTorn, then io.EOF, or ErrTorn once more first if a run of it
// is published after the close, which that call discards. So does one
// that closes in the middle of a streaming message.) A producer that
// takes the role over from one that died mid-message publishes an abort
// before anything else; it never continues the dead one's message.
//
// # Concurrency
//
// A Producer is used by one goroutine at a time, and so is a Consumer (the
// same goroutine or another); only their Close may be called from any
// goroutine, to end the side and unblock a call waiting in it. Ring's
// methods are safe for concurrent use, Ring.Close included: it closes the
// sides, wakes a call blocked in a wait, and waits for every call under
// way to end before it unmaps the segment, so a call in flight finishes or
// returns ErrClosed and nothing touches unmapped memory. If slices from
// Reserve, ReserveBatch, Peek, or the Next of a MessageReader or
// MessageWriter, may still be in use, Close swaps the segment's pages for
// private memory rather than unmap them: a late write to such a slice is
// lost, a late read sees zeros, neither faults.
// Across processes there is no lock: the two sides synchronise only through
// the cursors, with atomic loads and stores.
//
// # Waiting
//
// A side that cannot proceed spins, then yields, then sleeps on a futex word
// (WaitAdaptive; see WaitMode for the others). The sleeper raises a flag and
// re-checks before sleeping; the other side makes the wake syscall only when
// it sees the flag, so while both sides keep up, no system call is made at
// all. wait.go gives the ordering argument. It holds in race builds too
// (go test -race), where Go's atomic stores to shared memory are weaker,
// so a program that embeds the ring loses no wake-up under the race
// detector either.
//
// A waiting side checks every Options.Liveness that its peer's process
// still exists (pid and start time, so a reused pid is not mistaken for the
// peer) and returns ErrPeerDead if it does not, or ErrPeerUnresponsive if
// the peer was stopped (SIGSTOP, a debugger) at two checks in a row. A new
// process can then claim the dead side's role and carry on from the cursors
// in the header. Only waiting calls check: TrySend and TryRecv never do.
//
// # Lifetime
//
// A segment outlives the processes that use it. Ring.Close removes it once
// both sides have closed, or when the closing side's peer never came or
// died and no other process is attached (Ring.Close has the whole rule). A
// ring whose sides both died stays until it is removed ("shmring rm
// -stale", or ipcrm).
//
// Slices returned by Reserve, Batch.Slot, Peek, RecvBatch, MessageReader.Next
// and MessageWriter.Next point into the segment, not into a copy:
//
//   - a Reserve or Batch.Slot slice is valid until the message is
//     published, by Commit or by a Send, TrySend or SendBatch (which publish
//     pending reservations);
//   - a Peek slice is valid until the message is released, by Release or by
//     a Recv, TryRecv or RecvBatch (which release peeked messages);
//   - a RecvBatch slice is valid only during the callback;
//   - a MessageReader, and a MessageWriter, is valid until its Close or
//     until another call of its side (for a MessageWriter, one that writes
//     a slot), which ends it; a slice from its Next is valid until its next
//     call.
//
// None is valid after Ring.Close, which unmaps the memory: using one then
// faults. Memory another process can write may change under a reader: copy
// a message from an untrusted producer before validating it.
//
// # Other platforms
//
// Create, Open, OpenID and OpenOrCreate need System V shared memory, which
// the package uses on linux/amd64 and linux/arm64 only; elsewhere they fail
// with an error wrapping errors.ErrUnsupported. New, NewIn and Attach
// build and work on the other 64-bit platforms Go supports too (Plan 9
// excepted), macOS and Windows included, so code written there runs
// unchanged; TestOtherPlatforms builds a program for both, and runs it on
// Linux over the stand-in for futex(2) they use. Off Linux a side that
// sleeps waits on the futex package's stand-in for futex(2) (a wake-up
// from another process reaches it by polling, within 10 ms), publications
// are full fences (there is no membarrier(2)), and a peer is judged by its
// pid alone (kill(pid, 0); on Windows a peer always counts as alive). A
// 32-bit platform stops the build with the reason (unsupported.go).
//
// # Errors
//
// Errors are the sentinels in errors.go, wrapped with the values seen; test
// them with errors.Is. Besides them, Consumer calls return io.EOF at the end
// of the stream and io.ErrShortBuffer for a buffer too small, waiting calls
// return their context's error, and Create, Open, OpenID, OpenOrCreate and
// Close return the shmseg package's errors, wrapped. A few failures have no
// sentinel: claiming a role through a read-only handle, failing to read this
// process's own /proc/self/stat, and a futex call that fails (other than by
// timing out). Memory another process can write is not trusted: a cursor or
// length out of range is ErrCorrupt, never a read outside the ring.
package ring
