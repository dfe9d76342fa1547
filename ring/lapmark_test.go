package ring

import "encoding/binary"

// publishBy stands in for a producer whose slots a test wrote by hand, in
// the ring whose segment (or heap memory) is buf: it gives each slot from
// tail to head its lap mark, published, each one after head the mark of a
// slot not yet published (whatever its word was), and stores head. Only the
// lap bit of each word changes.
func publishBy(buf []byte, tail, head uint64) {
	h := hdr(buf)
	n, size := uint64(h.slotCount), uint64(h.slotSize)
	for seq := tail; seq < tail+n; seq++ {
		s := buf[HeaderSize+(seq&(n-1))*size:]
		mark := lapBit
		if seq&n != 0 {
			mark = 0
		}
		if seq >= head {
			mark ^= lapBit
		}
		binary.LittleEndian.PutUint32(s, binary.LittleEndian.Uint32(s)&^lapBit|mark)
	}
	h.head.Store(head)
}
