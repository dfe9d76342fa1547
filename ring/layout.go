package ring

import (
	"fmt"
	"math/bits"
	"sync/atomic"
)

// The segment, byte for byte (docs/LAYOUT.md is the reference; TestLayout pins
// every offset below with a literal number, and TestLayoutDoc checks the
// reference against the header type). include/shmring_layout.h, the C
// definition, is generated from the header type: after a change here, run
// go generate ./ring (TestCLayout fails until then).
//
//go:generate go test -run ^TestCLayout$ -write-c-layout
//
//
//	offset  block  contents                                   written by
//	     0      0  magic, versions, sizes, state, flags,      creator (state: both)
//	                created, max_message
//	   128      1  head: producer cursor                      producer
//	   256      2  tail: consumer cursor                      consumer
//	   384      3  dataSeq, consumerSleeping, (futex)         producer / consumer
//	                consumerWantsFence, producerFenced
//	   512      4  spaceSeq, producerSleeping, (futex)        consumer / producer
//	                producerWantsFence, consumerFenced
//	   640      5  producer owner and counters                producer
//	   768      6  consumer owner and counters                consumer
//	   896      7  label (informational, 3.1), reserved       creator
//	  1024         slot 0 | slot 1 | ... | slot Slots-1
//
//	slot:   0          4                                SlotSize
//	        | length   | payload (length bytes) ... pad |
//
// A message longer than a slot's payload is split into fragments, one per
// slot, marked by flag bits above the length (fragment.go has the format).
//
// Each block is 128 bytes: two 64-byte lines, because x86 prefetches lines in
// adjacent pairs, so a 64-byte separation still lets the two sides' cursors
// bounce together. The cursors count slots (a message of k fragments
// takes k) from 0 and never wrap in
// practice (2^64 messages at a billion a second is 584 years); a slot index is
// cursor & (Slots-1). All integers are little-endian (the only byte order of
// the platforms shmring builds for).

// Layout constants. A segment whose major version differs is refused; a newer
// minor version is accepted (minor versions only define fields in reserved
// space, which older code leaves alone). Version 2.0 has the bytes of 1.0;
// what changed is the protocol: the asymmetric-fence flag, which a 1.0
// process would have ignored, losing wake-ups. Version 3.0 adds fragments
// (flag bits in a slot's length word) and max_message: a 2.x reader would
// take a fragment's length word for a corrupt length, so 3.0 had to be a
// major version, which 2.x refuses at open. Version 3.1 adds the label
// (offset 896, reserved in 3.0): a 3.0 reader ignores it, and a 3.0
// creator leaves it zero, which reads as no label, so it is a minor version.
// Version 4.0 adds the lap mark (lapBit) to every slot's length word, and
// lets a consumer take a slot whose mark says it is published before the
// producer's cursor says so: a 3.x consumer would read the mark as part of
// the length (ErrCorrupt, or a wrong length), and a 3.x producer writes no
// mark, so a 4.0 consumer would wait for ever. Both must refuse the other,
// so it is a major version.
const (
	Magic        uint64 = 0x00676e69726d6873 // "shmring\x00" little-endian
	VersionMajor        = 4
	VersionMinor        = 0
	HeaderSize          = 1024 // bytes before slot 0 in this version
	blockSize           = 128
	lenSize             = 4 // bytes of the length prefix in each slot

	// MaxLabel bounds Config.Label, in bytes: the header's label field
	// has labelSize bytes, and its last is always NUL, so that C reads
	// the field as a string.
	MaxLabel  = labelSize - 1
	labelSize = 64

	// MinSlotSize and MaxSlotSize bound Config.SlotSize; it must also be a
	// multiple of 8 so every length prefix is 4-byte aligned and slots tile
	// cache lines predictably.
	MinSlotSize = 8
	MaxSlotSize = 1 << 28 // a fragment's length has 28 bits

	// MaxSlots bounds Config.Slots (a power of two).
	MaxSlots = 1 << 30
	minSlots = 2 // a ring of one slot could not tell full from empty
)

// lapBit is a slot's lap mark, bit 28 of its length word. A slot at cursor
// position seq is published when its mark is ready(seq): set on even laps
// (seq/Slots even), clear on odd ones. A new segment is all zeros, so no
// slot of lap 0 reads as published, and a slot written in lap L reads as
// not yet published in lap L+1. The producer writes a slot's word with the
// mark of "not yet" (ready(seq)^lapBit) while the payload may still change,
// and stores the ready mark with a release store once it is complete, in
// cursor order, before it stores head; the slots after a run's first,
// which is marked last, it may mark at any time (putRun marks them with
// their words, ahead of their payloads): no consumer passes the first. A consumer then needs no look at
// head to know a message is there: it polls the slot it is about to read,
// and the message arrives with the one cache line that carries the word,
// instead of two (head's, then the slot's). head stays the producer's
// count of what it published, for the wake-up protocol (a sleeper re-reads
// marks and head after raising its flag) and for tools, and may lag the
// marks by the run being published, or for good if the producer died
// between the two: docs/LAYOUT.md, "Lap marks", has the rules, the
// takeover among them.
const lapBit uint32 = 1 << 28

// Bits of header.flags, set by the creator before READY and never changed.
//
// flagAsymmetric: the ring uses asymmetric fences. A side publishes its
// cursor with a release store, no full fence (internal/platform/fence.Store64), and
// a side about to sleep calls membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)
// after raising its sleeping flag and before its re-check, which makes up
// for the fence the publisher did not make. Every process that claims a
// role must first register (MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED).
// A side that would rather not pay the membarrier at every sleep (a
// WaitFutex side) asks its peer for full fences instead with its wantsFence
// word; the peer answers with its fenced word, and a sleeper that sees the
// answer skips the membarrier. A process that claims a role clears its
// answer word (a full store) before it publishes anything: its
// predecessor's answer does not bind it. wait.go has the protocol.
// Without the flag every publication is a full store (fence.StoreFull64)
// and nobody calls membarrier.
const (
	flagAsymmetric uint32 = 1 << 0
	flagsKnown            = flagAsymmetric
)

// State bits of header.state. Zero means the creator is still initialising.
const (
	stateReady          uint32 = 1 << 0
	stateProducerClosed uint32 = 1 << 1
	stateConsumerClosed uint32 = 1 << 2
	stateKnown                 = stateReady | stateProducerClosed | stateConsumerClosed
)

// header is the start of the segment. It holds no Go pointers (a test walks
// it by reflection): it lives in memory another process writes.
//
// It is also the definition the C header's structs are generated from
// (TestCLayout): a field's name there is its name here in snake case, or
// its layout tag; its comments here become its comments there. A comment
// that starts with an offset ("384:", "+16:") must give the field's real
// offset (TestCLayout checks), and should read well in both languages.
type header struct {
	// Block 0: written by the creator before it publishes READY, then
	// read-only, except state.
	magic      uint64        // 0: "shmring\x00" little-endian
	major      uint16        // 8: layout major version
	minor      uint16        // 10: layout minor version
	headerSize uint32        // 12: bytes before slot 0
	slotSize   uint32        // 16: bytes per slot, length prefix included
	slotCount  uint32        // 20: number of slots, a power of two
	segSize    uint64        `layout:"segment_size"` // 24: header_size + slot_size * slot_count
	state      atomic.Uint32 // 32: state bits (READY, PRODUCER_CLOSED, CONSUMER_CLOSED)
	flags      uint32        // 36: flag bits (ASYMMETRIC)
	created    int64         // 40: creation time, Unix nanoseconds, informational
	maxMessage uint64        // 48: the largest message either side sends or accepts, in bytes
	_          [blockSize - 56]byte

	// Block 1: the producer cursor, the number of messages published.
	head atomic.Uint64 // 128
	_    [blockSize - 8]byte

	// Block 2: the consumer cursor, the number of messages released.
	tail atomic.Uint64 // 256
	_    [blockSize - 8]byte

	// Block 3: the consumer sleeps on data_seq when the ring is empty.
	dataSeq          atomic.Uint32 // 384: bumped by the producer before a wake
	consumerSleeping atomic.Uint32 // 388: 1 while the consumer may sleep
	// 392: 1 if the consumer sleeps at once when the ring is empty (the
	// futex wait mode) and asks the producer to publish with full fences,
	// so that its sleeps need no membarrier. Written by the consumer at
	// claim.
	consumerWantsFence atomic.Uint32
	// 396: 1 once the producer publishes with full fences (its answer to
	// consumer_wants_fence). Zeroed by a producer at claim, set at most
	// once per holder of the role.
	producerFenced atomic.Uint32
	_              [blockSize - 16]byte

	// Block 4: the producer sleeps on space_seq when the ring is full.
	spaceSeq           atomic.Uint32 // 512: bumped by the consumer before a wake
	producerSleeping   atomic.Uint32 // 516: 1 while the producer may sleep
	producerWantsFence atomic.Uint32 // 520: as consumer_wants_fence, for the producer's sleeps
	consumerFenced     atomic.Uint32 // 524: as producer_fenced, the consumer's answer
	_                  [blockSize - 16]byte

	// Blocks 5 and 6: who holds each role, and what it has done.
	prod side `layout:"producer"` // 640: the producer role
	cons side `layout:"consumer"` // 768: the consumer role

	// Block 7: written by the creator before READY, then read-only.
	// 896: the ring's label, for people and tools (Go: Config.Label; C:
	// shmring_options.label): UTF-8, at most 63 bytes, NUL-padded, so
	// the last byte is always NUL. Informational: not checked at open; a
	// reader takes the bytes before the first NUL (at most 63) and
	// replaces invalid UTF-8. All zeros (a 3.0 ring): no label.
	label [labelSize]byte
	_     [blockSize - labelSize]byte
}

// side is one role's block: who holds the role and what it has done. Only the
// holder writes it (others read it for Stats and liveness).
type side struct {
	// +0: the holder's identity: pid in the low 22 bits, process start
	// time (clock ticks since boot, /proc/PID/stat field 22) above. Zero:
	// the role is free. Claimed and taken over by compare-and-swap,
	// zeroed when the holder closes the role.
	owner atomic.Uint64
	bytes atomic.Uint64 // +8: payload bytes moved (may lag)
	// +16: calls that found the ring full (producer) or empty (consumer)
	// and waited: one per call, however long it waited and however the
	// wait ended, so a call that times out and is made again counts again
	// (may lag, as bytes).
	stalls atomic.Uint64
	waits  atomic.Uint64 // +24: futex waits
	wakes  atomic.Uint64 // +32: futex wakes issued to the peer by publications
	_      [blockSize - 40]byte
}

// geometry is a validated slot layout, and the ring's flags.
type geometry struct {
	slotSize uint64
	slots    uint64
	segSize  uint64
	flags    uint32
	maxMsg   uint64 // header max_message
}

// setMax sets the ring's largest message, m bytes: at most MaxMessageLimit,
// and more than a slot's payload only in slots large enough to fragment
// (MinFragmentSlot).
func (g *geometry) setMax(m uint64) error {
	switch {
	case m < 1 || m > MaxMessageLimit:
		return fmt.Errorf("%w: max_message %d: want 1 to %d", ErrLayout, m, uint64(MaxMessageLimit))
	case m > g.slotSize-lenSize && g.slotSize < MinFragmentSlot:
		return fmt.Errorf("%w: max_message %d is longer than a %d-byte slot holds, and fragments need slots of %d bytes or more",
			ErrLayout, m, g.slotSize, MinFragmentSlot)
	}
	g.maxMsg = m
	return nil
}

// SegmentSize returns the number of bytes a ring with slots slots of
// slotSize bytes occupies, or an error naming the bad value.
func SegmentSize(slotSize, slots int) (int, error) {
	g, err := newGeometry(slotSize, slots)
	return int(g.segSize), err
}

// SlotSizeFor returns the smallest valid slot size that holds a message of n
// bytes: n plus the 4-byte length, rounded up to a multiple of 8.
func SlotSizeFor(n int) int {
	s := (n + lenSize + 7) &^ 7
	return max(s, MinSlotSize)
}

// IsSegmentSize reports whether a ring of some valid geometry has a segment
// of exactly size bytes. Create makes no segment of another size.
func IsSegmentSize(size uint64) bool {
	if size <= HeaderSize || size > HeaderSize+MaxSlotSize*MaxSlots {
		return false
	}
	rest := size - HeaderSize
	for slots := uint64(2); slots <= MaxSlots && rest%slots == 0; slots *= 2 {
		if _, err := newGeometry(int(rest/slots), int(slots)); err == nil {
			return true
		}
	}
	return false
}

func newGeometry(slotSize, slots int) (geometry, error) {
	switch {
	case slotSize < MinSlotSize || slotSize > MaxSlotSize || slotSize%8 != 0:
		return geometry{}, fmt.Errorf("%w: slot size %d: want a multiple of 8 in [%d, %d]",
			ErrLayout, slotSize, MinSlotSize, MaxSlotSize)
	case slots < minSlots || slots > MaxSlots || bits.OnesCount(uint(slots)) != 1:
		return geometry{}, fmt.Errorf("%w: slot count %d: want a power of two in [%d, %d]",
			ErrLayout, slots, minSlots, MaxSlots)
	}
	g := geometry{slotSize: uint64(slotSize), slots: uint64(slots)}
	g.segSize = HeaderSize + g.slotSize*g.slots
	return g, nil
}

// mark writes the ring's magic, a creator's first store. It is atomic so
// that no later store of the header can be moved before it: a creator
// killed at any point leaves either zeros or the magic.
func (h *header) mark() { atomic.StoreUint64(&h.magic, Magic) }

// loadMagic reads the magic of a header another process may be writing.
func (h *header) loadMagic() uint64 { return atomic.LoadUint64(&h.magic) }

// format writes a fresh header for g into h and publishes it: the magic
// first, every other field next, stateReady last, so an opener that sees
// READY sees the rest. label has been checked (checkLabel).
func format(h *header, g geometry, created int64, label string) {
	h.mark()
	h.major = VersionMajor
	h.minor = VersionMinor
	h.headerSize = HeaderSize
	h.slotSize = uint32(g.slotSize)
	h.slotCount = uint32(g.slots)
	h.segSize = g.segSize
	h.flags = g.flags
	h.created = created
	h.maxMessage = g.maxMsg
	h.label = [labelSize]byte{}
	copy(h.label[:MaxLabel], label)
	h.head.Store(0)
	h.tail.Store(0)
	h.dataSeq.Store(0)
	h.consumerSleeping.Store(0)
	h.spaceSeq.Store(0)
	h.producerSleeping.Store(0)
	h.consumerWantsFence.Store(0)
	h.producerFenced.Store(0)
	h.producerWantsFence.Store(0)
	h.consumerFenced.Store(0)
	for _, s := range []*side{&h.prod, &h.cons} {
		s.owner.Store(0)
		s.bytes.Store(0)
		s.stalls.Store(0)
		s.waits.Store(0)
		s.wakes.Store(0)
	}
	if crashPoints {
		crash("create-before-ready")
	}
	h.state.Store(stateReady)
}

// validate checks a header that has been published (READY) against size, the
// real length of the memory it sits in. Each failure has its own sentinel and
// names the value seen. It reads each shared field once, so a header changing
// underneath cannot pass a check and then fail a use.
func validate(h *header, size int) (geometry, error) {
	if h.magic != Magic {
		return geometry{}, fmt.Errorf("%w: got %#016x, want %#016x", ErrBadMagic, h.magic, Magic)
	}
	if h.major != VersionMajor {
		return geometry{}, fmt.Errorf("%w: layout version %d.%d, this code reads %d.x",
			ErrVersion, h.major, h.minor, VersionMajor)
	}
	if st := h.state.Load(); st&^stateKnown != 0 || st&stateReady == 0 {
		return geometry{}, fmt.Errorf("%w: state %#x", ErrCorrupt, st)
	}
	if hs := h.headerSize; hs != HeaderSize {
		return geometry{}, fmt.Errorf("%w: header size %d, version %d.x has %d",
			ErrLayout, hs, VersionMajor, HeaderSize)
	}
	g, err := newGeometry(int(h.slotSize), int(h.slotCount))
	if err != nil {
		return geometry{}, err
	}
	f := h.flags
	if f&^flagsKnown != 0 {
		return geometry{}, fmt.Errorf("%w: flags %#x, version %d.%d knows %#x", ErrLayout, f, VersionMajor, VersionMinor, flagsKnown)
	}
	g.flags = f
	if err := g.setMax(h.maxMessage); err != nil {
		return geometry{}, err
	}
	if seg := h.segSize; seg != g.segSize || seg > uint64(size) {
		return geometry{}, fmt.Errorf("%w: header says segment size %d, slots need %d (%d x %d + %d), memory is %d",
			ErrLayout, seg, g.segSize, g.slots, g.slotSize, HeaderSize, size)
	}
	if head, tail, ok := cursors(h); tail > head+g.slots || (ok && head > tail+g.slots) {
		return geometry{}, fmt.Errorf("%w: cursors head %d tail %d with %d slots", ErrCorrupt, head, tail, g.slots)
	}
	return g, nil
}

// cursors reads both cursors of a ring that may be live. Tail is read
// first. It may pass head, by at most a ring: a consumer takes slots by
// their lap marks, which the producer stores before head (lapBit), and a
// producer that dies between the two leaves head behind for good. So
// tail <= head+slots holds for any pair, and head-tail <= slots only if tail
// did not move while head was read; ok reports a snapshot where it did not.
func cursors(h *header) (head, tail uint64, ok bool) {
	for range 8 {
		tail = h.tail.Load()
		head = h.head.Load()
		if h.tail.Load() == tail {
			return head, tail, true
		}
	}
	return head, tail, false
}
