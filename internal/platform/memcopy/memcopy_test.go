package memcopy

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCopy checks Copy against copy for every alignment of either side
// within a cache line, lengths around Long, a shorter side of either
// kind, and overlapping slices in both directions. Where useMovsb is
// false it compares copy with copy; TestMovsbAligned (amd64) checks the
// assembly on any x86-64.
func TestCopy(t *testing.T) {
	t.Logf("REP MOVSB in use: %v", useMovsb)
	checkCopy(t, Copy)
	long := bytes.Repeat(testBytes(), 2)
	for _, shift := range []int{-1, 1, -64, 64, -Long + 1, Long - 1} {
		want := bytes.Clone(long)
		got := bytes.Clone(long)
		from, to := Long, Long+shift
		n := 2 * Long
		copy(want[to:to+n], want[from:from+n])
		Copy(got[to:to+n], got[from:from+n])
		require.True(t, bytes.Equal(want, got), "overlap by shift %d: bytes differ", shift)
	}
}

func testBytes() []byte {
	b := make([]byte, 3*Long+256)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// checkCopy checks fn against copy, for slices that do not overlap.
func checkCopy(t *testing.T, fn func(dst, src []byte) int) {
	t.Helper()
	src := testBytes()
	for _, n := range []int{0, 1, 63, 64, Long - 1, Long, Long + 1, 3*Long + 17} {
		for so := range 64 {
			for do := range 64 {
				for _, cut := range []struct{ dst, src int }{{0, 0}, {1, 0}, {0, 1}} {
					if n < 1 && cut != (struct{ dst, src int }{}) {
						continue
					}
					want := make([]byte, n+128)
					got := make([]byte, n+128)
					s := src[so : so+n-cut.src]
					k := copy(want[do:do+n-cut.dst], s)
					require.Equal(t, k, fn(got[do:do+n-cut.dst], s), "n %d src+%d dst+%d cut %v", n, so, do, cut)
					require.True(t, bytes.Equal(want, got), "n %d src+%d dst+%d cut %v: bytes differ", n, so, do, cut)
				}
			}
		}
	}
}

// TestAppend checks Append against append, with room in dst and without.
func TestAppend(t *testing.T) {
	src := bytes.Repeat([]byte("0123456789abcdef"), Long/8)
	for _, n := range []int{0, 5, Long, len(src)} {
		roomy := make([]byte, 3, 3+n)
		copy(roomy, "abc")
		got := Append(roomy, src[:n])
		require.Equal(t, append([]byte("abc"), src[:n]...), got)
		require.Equal(t, cap(roomy), cap(got), "appended in place")
		require.Equal(t, append([]byte("abc"), src[:n]...), Append([]byte("abc"), src[:n]))
	}
}
