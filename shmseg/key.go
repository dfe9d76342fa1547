package shmseg

import "fmt"

// Key names a segment system-wide, like a file name does a file (key_t).
// Processes that agree on a key find the same segment with [Open]. Keys are
// usually made with [Ftok] or fixed by the application.
type Key int32

// IPCPrivate (IPC_PRIVATE) is not a key but a request for a new segment that
// no key names: [Create] with it always makes a new segment, which other
// processes can reach only by its [ID].
const IPCPrivate Key = 0

// String returns the key as ipcs(1) shows it: "0x" and eight hex digits of
// its 32 bits.
func (k Key) String() string {
	return fmt.Sprintf("0x%08x", uint32(k))
}
