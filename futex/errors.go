package futex

import "errors"

// ErrUnaligned is returned by Wait and Wake, wrapped with the address, when
// the word is nil or not 4-byte aligned. The kernel would refuse such a word
// with EINVAL; refusing it here names the address and never makes the call.
var ErrUnaligned = errors.New("futex: word is nil or not 4-byte aligned")
