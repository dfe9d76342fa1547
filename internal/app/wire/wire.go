// Package wire is the message format of the producer and consumer commands:
// what each message carries so the consumer can tell a lost, duplicated,
// reordered or damaged message from a good one, and how long it took.
//
//	0        4                12               20                 size
//	| crc32c | seq (u64)      | sent (i64)     | filler ...       |
//	         '------------- covered by crc32c --------------------'
//
// seq is the message's position in the ring (the producer starts at the
// ring's head cursor, so message n sits in slot n mod slots); sent is
// CLOCK_MONOTONIC in nanoseconds (internal/platform/monotime), comparable between
// processes on one host; the CRC is Castagnoli (hardware-accelerated on
// amd64 and arm64). Integers are little-endian. The filler is a fixed
// pattern: the CRC, not the pattern, is what detects damage to it.
package wire

import (
	"encoding/binary"
	"hash/crc32"
)

// HeaderSize is the smallest message: the CRC, sequence number and
// timestamp.
const HeaderSize = 20

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Fill writes the filler pattern after the header of msg. Messages that are
// built in one buffer and sent by copy need it once; messages written in
// place into a ring slot need it every time.
func Fill(msg []byte) {
	for b := msg[min(HeaderSize, len(msg)):]; len(b) > 0; {
		b = b[copy(b, pattern[:]):]
	}
}

// pattern is the filler, repeated as often as a message needs.
var pattern = func() (p [512]byte) {
	for i := range p {
		p[i] = byte(i*131 + 17)
	}
	return p
}()

// Put stamps msg (at least HeaderSize bytes, filler already in place) with
// seq and sent and seals it with the CRC of everything after the CRC field.
func Put(msg []byte, seq uint64, sent int64) {
	_ = msg[HeaderSize-1]
	binary.LittleEndian.PutUint64(msg[4:], seq)
	binary.LittleEndian.PutUint64(msg[12:], uint64(sent))
	binary.LittleEndian.PutUint32(msg[0:], crc32.Checksum(msg[4:], castagnoli))
}

// Check returns the sequence number and send time of msg, and ok == false if
// it is shorter than HeaderSize or its CRC does not match (then seq and sent
// are not to be trusted).
func Check(msg []byte) (seq uint64, sent int64, ok bool) {
	if len(msg) < HeaderSize {
		return 0, 0, false
	}
	if binary.LittleEndian.Uint32(msg) != crc32.Checksum(msg[4:], castagnoli) {
		return 0, 0, false
	}
	return binary.LittleEndian.Uint64(msg[4:]), int64(binary.LittleEndian.Uint64(msg[12:])), true
}
