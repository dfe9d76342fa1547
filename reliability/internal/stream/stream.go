// Package stream is the message stream of the reliability tests: message n
// of a ring has a length and a content that depend on n alone, so a
// consumer in any process can tell, message by message, that it received
// exactly message n as some producer (possibly an earlier, killed one) sent
// it.
//
// A message is the wire format of the commands (internal/app/wire: CRC32C,
// sequence number, timestamp, filler) at the length Len(n) gives. Check
// refuses a message whose length, CRC or sequence number is not message
// n's. Lengths vary from message to message, so every slot and the wrap
// point see many of them.
package stream

import (
	"fmt"

	"github.com/shmring/shmring/internal/app/wire"
	"github.com/shmring/shmring/internal/platform/monotime"
)

// MinLen is the shortest message: the wire header.
const MinLen = wire.HeaderSize

// Sizes is the range of message lengths of a stream, both ends included.
type Sizes struct{ Min, Max int }

// Fixed is a stream whose messages all have n bytes.
func Fixed(n int) Sizes { return Sizes{n, n} }

// Upto is a stream of lengths from MinLen to max.
func Upto(max int) Sizes { return Sizes{MinLen, max} }

func (s Sizes) String() string {
	if s.Min == s.Max {
		return fmt.Sprintf("%dB", s.Min)
	}
	return fmt.Sprintf("%d-%dB", s.Min, s.Max)
}

// Valid reports whether the range is usable with slots of payload max bytes.
func (s Sizes) Valid(payload int) error {
	if s.Min < MinLen || s.Max < s.Min || s.Max > payload {
		return fmt.Errorf("stream: sizes %d-%d: want %d <= min <= max <= %d", s.Min, s.Max, MinLen, payload)
	}
	return nil
}

// mix is splitmix64's finaliser: neighbouring n get unrelated lengths.
func mix(n uint64) uint64 {
	n += 0x9e3779b97f4a7c15
	n = (n ^ n>>30) * 0xbf58476d1ce4e5b9
	n = (n ^ n>>27) * 0x94d049bb133111eb
	return n ^ n>>31
}

// Len is the length of message n.
func (s Sizes) Len(n uint64) int {
	if s.Min == s.Max {
		return s.Min
	}
	return s.Min + int(mix(n)%uint64(s.Max-s.Min+1))
}

// Put writes message n into buf (at least Len(n) bytes) and returns it.
func (s Sizes) Put(buf []byte, n uint64) []byte {
	m := buf[:s.Len(n)]
	wire.Fill(m)
	wire.Put(m, n, monotime.Now())
	return m
}

// Check returns nil if msg is message n.
func (s Sizes) Check(msg []byte, n uint64) error {
	if want := s.Len(n); len(msg) != want {
		return fmt.Errorf("message %d: length %d, want %d", n, len(msg), want)
	}
	seq, _, ok := wire.Check(msg)
	if !ok {
		return fmt.Errorf("message %d: CRC32C mismatch", n)
	}
	if seq != n {
		return fmt.Errorf("message %d: carries sequence number %d", n, seq)
	}
	return nil
}
