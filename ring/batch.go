package ring

import (
	"encoding/binary"

	"github.com/shmring/shmring/internal/platform/fence"
)

// The loops of the batch calls, SendBatch and RecvBatch: what they do for
// every message of a batch.

// recvBatch hands the available messages to fn and releases them.
//
// The slot is read here, not through payload: payload is too large to
// inline, and a call per message is a frame and a round of spills and
// reloads on top of fn's, which the loop pays anyway. fn is opaque to the
// compiler, so everything the loop keeps is reloaded after it: the loop
// keeps little, and updates tail and the byte count in the Consumer
// itself, so that a message fn has seen counts as received even if fn
// panics.
//
// A slot the loop does not take (a fragment, or any slot while a torn
// message is being discarded) ends the batch before it (with ErrCorrupt if
// it cannot begin a message), or, first in the batch, makes recvBatch
// return notWhole, and the caller hands it to recvBatchLarge with its
// context: a context or max still needed after the loop would be kept
// across every fn call.
func (c *Consumer) recvBatch(max int, fn func(msg []byte) error) (n int, err error) {
	avail := c.cachedHead - c.tail
	if max > 0 && uint64(max) < avail {
		avail = uint64(max)
	}
	for ; uint64(n) < avail; n++ {
		off := (c.tail & c.mask) * c.size
		s := c.area[off : off+c.size : off+c.size]
		w := binary.LittleEndian.Uint32(s)
		if (w^c.ready(c.tail))&lapBit != 0 {
			// Not published, though head said so (refreshBatch):
			// take nothing from here on, and read marks.
			c.cachedHead, c.headLied = c.tail, true
			break
		}
		k := w &^ lapBit
		if int(k) > c.whole {
			if n == 0 {
				return notWhole, nil
			}
			if c.frag == fragNone {
				// A first fragment waits for the next call;
				// anything else is refused now.
				_, _, err = c.first(k)
			}
			break
		}
		c.tail++
		c.bytes += uint64(k)
		if err = fn(s[lenSize : lenSize+k : lenSize+k]); err != nil {
			n++
			break
		}
	}
	if c.tail != c.released {
		c.release()
	}
	return n, err
}

// putRun writes msgs into the slots from head on, each message's length
// word and then its payload. The caller checked space and sizes. If the
// run publish marks begins here (marked == head), every word carries its
// slot's lap mark, published, but the first's: a consumer reads in order
// and takes none of the run until markRun marks that one last, after
// every payload. A producer killed before that leaves a cut run, marked
// from its second slot on, which the next one clears (start). Behind
// slots reserved and not yet marked, every word is left unpublished for
// markRun, which marks them all in order: marks after an unmarked slot
// that is not the run's first would be a cut run start does not find.
//
// Between two processes the loop is bound by its stores. Every slot was
// read by the consumer a lap ago, so its line is the consumer core's, and
// a store waits in the CPU's store buffer until the line is this core's
// again; the buffer holds a fixed number of stores, and the fewer stores a
// message takes, the more lines are on their way at once. Go keeps no
// register across a call: each value the loop still needs after memmove
// is stored to the stack before it, a store per value per message. So the
// byte count is summed first, in a loop that makes no call, the copy
// loop carries only the index across memmove, and a small payload is
// copied without a call (putSmall).
//
// Lengths are not written ahead of the payloads, as ReserveBatch writes
// them (docs/DESIGN.md, "Writing a batch"): with a copy to make after each
// length, a slot's line is stored to twice, far apart, and across
// processes that was no faster for small slots and much slower for slots
// of a cache line or more.
func (p *Producer) putRun(msgs [][]byte) {
	var bytes uint64
	for _, m := range msgs {
		bytes += uint64(len(m))
	}
	head, area, mask, size := p.head, p.area, p.mask, p.size
	// Words left unpublished for markRun: the run's first (first), and
	// every one behind slots reserved and not yet marked (rest).
	first, rest := lapBit, uint32(0)
	if p.marked != head {
		rest = lapBit
	} else {
		p.restMarked = head + uint64(len(msgs))
	}
	for i := range msgs {
		seq := head + uint64(i)
		off := (seq & mask) * size
		m := msgs[i]
		w := uint32(len(m)) | p.ready(seq) ^ rest
		if i == 0 {
			w ^= first &^ rest
		}
		fence.Store32(lenWord(area[off:off+size]), w) // the consumer may be polling it
		if dst := area[off+lenSize : off+size]; crashPoints || !putSmall(dst, m) {
			putPayload(dst, m)
		}
	}
	p.head += uint64(len(msgs))
	p.bytes += bytes
}

// putSmall copies a payload of 8 to 16 bytes into dst with one or two
// word moves (two overlap below 16 bytes), and reports whether it did;
// any other length is left to the caller. It inlines, so that a loop
// copying such messages makes no call: for small messages memmove's call
// costs more than its copy, and its spills more than the payload's own
// stores. A build with crash points does not call it: every payload goes
// through putPayload, which may die halfway.
func putSmall(dst, msg []byte) bool {
	n := len(msg)
	if n < 8 || n > 16 || len(dst) < n {
		return false
	}
	binary.LittleEndian.PutUint64(dst, binary.LittleEndian.Uint64(msg))
	if n > 8 {
		binary.LittleEndian.PutUint64(dst[n-8:], binary.LittleEndian.Uint64(msg[n-8:]))
	}
	return true
}
