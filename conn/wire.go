package conn

import (
	"encoding/binary"
	"fmt"
)

// The handshake, over the Unix socket (SOCK_SEQPACKET, so a frame is one
// read). Every frame has the same 28-byte head and, for a refusal, a reason
// after it:
//
//	offset  size  field
//	0       8     magic "SHMRCONN"
//	8       4     version (1)
//	12      4     kind: hello, welcome, refused, ready
//	16      4     pid of the sender, as it sees itself
//	20      4     welcome: id of the segment of the ring server -> client
//	24      4     welcome: id of the segment of the ring client -> server
//	28      ...   refused: the reason, UTF-8, at most maxReason bytes
//
// client                               server
//
//	connect                    ->    accept; SO_PEERCRED
//	hello {pid}                ->    uid allowed? (if not: refused {reason},
//	                                 and close)
//	                                 create two private rings, four eventfds
//	                           <-    welcome {pid, ids} + the eventfds
//	attach, claim roles
//	ready                      ->    the connection is up (Accept returns it)
//
// After ready nothing more is written: each side reads the socket only to
// learn that the other's end closed, which is how a death is noticed at
// once. All integers are little-endian.
const (
	wireMagic   = "SHMRCONN"
	wireVersion = 1
	headSize    = 28
	maxReason   = 512
	maxFrame    = headSize + maxReason
)

type kind uint32

const (
	kindHello kind = iota + 1
	kindWelcome
	kindRefused
	kindReady
)

func (k kind) String() string {
	switch k {
	case kindHello:
		return "hello"
	case kindWelcome:
		return "welcome"
	case kindRefused:
		return "refused"
	case kindReady:
		return "ready"
	}
	return fmt.Sprintf("kind %d", uint32(k))
}

// frame is one handshake message.
type frame struct {
	kind    kind
	pid     int32
	out, in int32 // welcome: segment ids, as the server sees the rings (out: server -> client)
	reason  string
}

func (f frame) encode() []byte {
	b := make([]byte, headSize, headSize+len(f.reason))
	copy(b, wireMagic)
	binary.LittleEndian.PutUint32(b[8:], wireVersion)
	binary.LittleEndian.PutUint32(b[12:], uint32(f.kind))
	binary.LittleEndian.PutUint32(b[16:], uint32(f.pid))
	binary.LittleEndian.PutUint32(b[20:], uint32(f.out))
	binary.LittleEndian.PutUint32(b[24:], uint32(f.in))
	r := f.reason
	if len(r) > maxReason {
		r = r[:maxReason]
	}
	return append(b, r...)
}

// decodeFrame parses b, expecting a frame of kind want (a refusal is
// always accepted). Every failure names what was wrong and the value seen.
func decodeFrame(b []byte, want kind) (frame, error) {
	if len(b) < headSize {
		return frame{}, fmt.Errorf("%w: %d-byte frame, want at least %d", ErrHandshake, len(b), headSize)
	}
	if string(b[:8]) != wireMagic {
		return frame{}, fmt.Errorf("%w: magic %q, want %q", ErrHandshake, b[:8], wireMagic)
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != wireVersion {
		return frame{}, fmt.Errorf("%w: protocol version %d, this side speaks %d", ErrHandshake, v, wireVersion)
	}
	f := frame{
		kind: kind(binary.LittleEndian.Uint32(b[12:])),
		pid:  int32(binary.LittleEndian.Uint32(b[16:])),
		out:  int32(binary.LittleEndian.Uint32(b[20:])),
		in:   int32(binary.LittleEndian.Uint32(b[24:])),
	}
	switch {
	case f.kind == kindRefused:
		f.reason = string(b[headSize:])
		return f, nil
	case f.kind != want:
		return frame{}, fmt.Errorf("%w: got a %v frame, want %v", ErrHandshake, f.kind, want)
	case len(b) != headSize:
		return frame{}, fmt.Errorf("%w: %v frame of %d bytes, want %d", ErrHandshake, f.kind, len(b), headSize)
	case f.pid < 0:
		return frame{}, fmt.Errorf("%w: %v frame with pid %d", ErrHandshake, f.kind, f.pid)
	case f.kind == kindWelcome && (f.out < 0 || f.in < 0 || f.out == f.in):
		return frame{}, fmt.Errorf("%w: welcome with segment ids %d and %d", ErrHandshake, f.out, f.in)
	}
	return f, nil
}
