//go:build amd64 && !race && !msan && !asan

package memcopy

import (
	"strconv"
	"testing"
)

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

// BenchmarkMovsb: copy and the assembly (whether or not Copy uses it
// here) into a destination 4 bytes past an aligned one, as into a slot's
// payload, in cache; the ring's case, through memory, is bench's
// BenchmarkThroughputLarge. 2 KiB is below Long: the size that set it.
func BenchmarkMovsb(b *testing.B) {
	for _, n := range []int{2 << 10, 4 << 10, 8 << 10, 16 << 10, 64 << 10} {
		src := make([]byte, n)
		dst := make([]byte, n+4)
		for _, c := range []struct {
			name string
			fn   func(dst, src []byte) int
		}{{"copy", func(d, s []byte) int { return copy(d, s) }}, {"movsb", movsbAligned}} {
			b.Run(c.name+"/"+strconv.Itoa(n), func(b *testing.B) {
				b.SetBytes(int64(n))
				for b.Loop() {
					c.fn(dst[4:], src)
				}
			})
		}
	}
}
