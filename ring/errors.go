package ring

import (
	"errors"
	"os"
)

// Errors returned by this package. Each is wrapped with the values seen, so
// test with errors.Is, not ==.
var (
	// ErrClosed: this side, or this ring handle, was closed, here: by
	// its Close or by Ring.Close. It is os.ErrClosed, so errors.Is(err,
	// os.ErrClosed) holds too, and its message reads "file already
	// closed".
	ErrClosed = os.ErrClosed

	// ErrPeerClosed: the consumer has closed the ring, so nothing will
	// read what the producer sends: every sending call of the producer
	// (Send, TrySend, SendBatch, Reserve, ReserveBatch, Commit) fails with
	// it from then on, as a write to a pipe whose reader has gone fails
	// with EPIPE. The consumer learns that the producer closed from
	// io.EOF, after it has received everything.
	ErrPeerClosed = errors.New("ring: peer closed")

	// ErrRingClosed: Ring.Producer or Ring.Consumer found the role closed
	// in this ring, which is for good: a closed role is never claimed
	// again, so the ring is finished. Make a new ring.
	ErrRingClosed = errors.New("ring: role closed for good; the ring is finished")

	// ErrPeerDead: the other side's process exited (or was killed, or is a
	// zombie, or its pid now names another process) while this side waited
	// for it. Only waiting calls report it, and only when the ring holds
	// nothing more for them: the wait polls once more after finding the
	// peer dead, so a consumer has received every message the producer
	// published (all but part of a fragmented message it died in the
	// middle of, which is never delivered: see ErrTorn). A new process may take
	// the dead side's role over; see Ring.Producer. Two sides in different
	// PID namespaces see each other as dead (docs/OPERATIONS.md).
	ErrPeerDead = errors.New("ring: peer process is dead")

	// ErrPeerUnresponsive: the other side's process exists but was found
	// stopped (SIGSTOP, a debugger) at two liveness checks in a row, so for
	// at least Options.Liveness, while this side waited for it. Nothing
	// was sent or received by the call that returns it; calling again
	// waits again, and once the peer continues (SIGCONT) the ring carries
	// on where it was, with nothing lost.
	ErrPeerUnresponsive = errors.New("ring: peer process is stopped")

	// ErrRoleTaken: the producer (or consumer) role is held by a live
	// process, possibly this one.
	ErrRoleTaken = errors.New("ring: role is held by a live process")

	// ErrMessageTooLarge: a message longer than the ring's MaxMessage
	// (the header's max_message), naming the length and the limit; or a
	// size to Reserve or ReserveBatch that is negative or longer than a
	// slot's payload (SlotSize-4 bytes: they write in one slot); or a
	// message that the call cannot handle whole, which stays for another
	// call: TrySend or TryRecv of a message of more fragments than the
	// ring has slots (Send and Recv stream it), Peek of a fragmented
	// message (Recv and RecvBatch take it).
	ErrMessageTooLarge = errors.New("ring: message too large")

	// ErrTorn: a message whose beginning was sent or consumed could not
	// be finished: its producer died or gave up in the middle of it (a
	// streaming Send whose wait ended), a receiving call's wait ended in
	// the middle of it, or a consumer took the role over from one that
	// died in the middle of it. What remained of it was, or will be,
	// discarded: the consumer never receives part of a message as if it
	// were whole. The call whose wait ended returns its error wrapped with
	// ErrTorn as well (errors.Is holds for both), and the consumer's next
	// call, having discarded the rest, returns ErrTorn alone; the call
	// after that receives the next message. A message that fits the ring
	// is torn by nothing but its producer's death (or close) between two
	// runs of it: a call of either side that ends early leaves it whole.
	ErrTorn = errors.New("ring: message torn")

	// ErrFull and ErrEmpty: a non-blocking call found no free slot, or no
	// message. They are not failures: try again later.
	ErrFull  = errors.New("ring: full")
	ErrEmpty = errors.New("ring: empty")

	// ErrBadMagic: the memory does not start with a ring header.
	ErrBadMagic = errors.New("ring: bad magic: not a shmring segment")

	// ErrVersion: the header's major layout version is not this code's.
	ErrVersion = errors.New("ring: unsupported layout version")

	// ErrLayout: sizes disagree: slot size or count out of range, header or
	// segment size not what the slots need, memory smaller than the header
	// says (or than the header itself) or not 8-byte aligned, or an
	// existing ring's geometry differs from the one OpenOrCreate asked for.
	ErrLayout = errors.New("ring: layout mismatch")

	// ErrCorrupt: a cursor, message length or state word out of range,
	// or fragments no producer writes (flags that do not go together, a
	// length or total that disagrees with the others, a message begun
	// where another was unfinished), at open or at run time. The ring
	// cannot be trusted; nothing outside it was read.
	ErrCorrupt = errors.New("ring: corrupt segment")

	// ErrNotReady: the segment did not become ready within
	// Options.ReadyTimeout, though a creator could still have been making
	// it: it carries the ring's magic (its creator died, or is slow, after
	// its first store), or its creator process is alive.
	ErrNotReady = errors.New("ring: segment never became ready")

	// ErrNotRing: Open or OpenID found a segment without the ring's magic
	// that nobody can make into a ring any more: its creator process is
	// gone, or no ring has its size. A creator writes the magic right
	// after it attaches, so such a segment is another program's, or a
	// ring whose creator died between shmget and its first store. Open
	// fails at once, without waiting Options.ReadyTimeout; the message
	// names the segment's size, owner, mode and creator pid.
	ErrNotRing = errors.New("ring: segment is not a ring")

	// ErrLabel: a Config.Label that the header cannot hold as it is:
	// longer than MaxLabel bytes, with a NUL byte, or not UTF-8. A label
	// read from a header is never an error (Stats.Label).
	ErrLabel = errors.New("ring: invalid label")

	// ErrInsecure: the segment is writable by every user, or owned by
	// another user than this process's effective uid; Open and OpenID
	// refuse it unless Options.AllowInsecure or Options.ReadOnly is set.
	ErrInsecure = errors.New("ring: segment permissions are unsafe")
)
