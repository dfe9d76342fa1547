//go:build amd64 && !race && !msan && !asan

package memcopy

import "testing"

// TestMovsbAligned checks the assembly itself, whether or not this CPU
// makes Copy use it: REP MOVSB runs on every x86-64.
func TestMovsbAligned(t *testing.T) {
	checkCopy(t, func(dst, src []byte) int {
		n := min(len(dst), len(src))
		if n < 64 {
			return copy(dst, src)
		}
		return movsbAligned(dst[:n], src[:n])
	})
}
