package ring

// Fragments. A message longer than a slot's payload (SlotSize-4 bytes) is
// split over consecutive slots, one fragment each. The slot's u32 length
// word carries the fragment's kind in its top three bits and its payload
// length in the 29 below:
//
//	kind      MORE CONT ABORT  slot layout                      length
//	whole       0    0    0    +4 payload                       <= SlotSize-4
//	first       1    0    0    +4 u64 total, +12 payload        == SlotSize-12
//	middle      1    1    0    +4 payload                       == SlotSize-4
//	last        0    1    0    +4 payload                       1 .. SlotSize-4
//	abort       0    1    1    nothing                          0
//
// A whole message is the 2.x slot with the lap mark: its word has no flag
// bit set and a length no larger than the payload, so the single-slot
// paths clear the mark, test one bound (length <= SlotSize-4) and meet
// every fragment as "too long".
// total is the message's length, all fragments together. The producer
// fills every fragment but the last, so the number of slots a message takes
// follows from total (fragmentCount), and a consumer knows before it reads
// a byte how many slots to wait for. An abort ends a message begun in
// earlier slots unfinished: a producer that gave up mid-message, or one that
// took over from a producer that died mid-message, publishes it before
// anything else. docs/LAYOUT.md, "Fragments", is the reference.
const (
	fragMore  uint32 = 1 << 31 // another fragment of this message follows
	fragCont  uint32 = 1 << 30 // this slot continues a message begun earlier
	fragAbort uint32 = 1 << 29 // with fragCont and length 0: the message ends here, unfinished
	fragFlags        = fragMore | fragCont | fragAbort
	fragLen          = lapBit - 1 // the length bits

	totalSize = 8 // bytes of a first fragment's total, after its length word

	// MinFragmentSlot is the smallest slot that can carry fragments: a
	// first fragment's length word and total, and a payload.
	MinFragmentSlot = 16
	// MaxMessageLimit bounds Config.MaxMessage and a ring's max_message.
	MaxMessageLimit = 1 << 40
	// DefaultMaxMessage is the largest message of a ring whose Config sets
	// neither MaxMessage nor SlotSize.
	DefaultMaxMessage = 1 << 30
	// DefaultMaxSlotPayload caps the slot Config derives from MaxMessage:
	// a ring for larger messages gets slots of this payload and carries
	// the rest in fragments.
	DefaultMaxSlotPayload = 16 << 10
)

// fragmentCount returns the number of slots a message of total bytes takes
// in slots of slotSize bytes: 1 if it fits a slot's payload, else a first
// fragment of slotSize-12 bytes, then as many of slotSize-4 as needed. The
// caller has bounded total by max_message (at most 2^40), so nothing
// overflows.
func fragmentCount(total, slotSize uint64) uint64 {
	if total <= slotSize-lenSize {
		return 1
	}
	rest := total - (slotSize - lenSize - totalSize)
	mid := slotSize - lenSize
	return 1 + (rest+mid-1)/mid
}

// fragmentBytes returns how many bytes of a fragmented message its first
// j >= 1 fragments carry when all are full, in slots of slotSize bytes: the
// first fragment's slotSize-12, then slotSize-4 a middle one. It is where
// fragment j begins in the message.
func fragmentBytes(j, slotSize uint64) uint64 {
	return slotSize - lenSize - totalSize + (j-1)*(slotSize-lenSize)
}
