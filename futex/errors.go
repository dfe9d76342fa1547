package futex

import (
	"errors"
	"fmt"
	"unsafe"
)

// ErrUnaligned is returned by Wait and Wake, wrapped with the address, when
// the word is nil or not 4-byte aligned. The kernel would refuse such a word
// with EINVAL; refusing it here names the address and never makes the call.
var ErrUnaligned = errors.New("futex: word is nil or not 4-byte aligned")

// checkWord refuses a nil or misaligned word before the kernel sees it.
func checkWord(op string, word *uint32) error {
	if word == nil || uintptr(unsafe.Pointer(word))%4 != 0 {
		return fmt.Errorf("futex: %s %p: %w", op, word, ErrUnaligned)
	}
	return nil
}
