package ring

import "github.com/shmring/shmring/internal/platform/memcopy"

// copyIn is copy(dst, src) for the copies into and out of slots: a long
// one goes through memcopy.Copy (REP MOVSB from a cache-line boundary,
// where that is faster; docs/DESIGN.md, "Copies"). The length check comes
// first so that short copies stay inlined ones.
func copyIn(dst, src []byte) int {
	if len(src) < memcopy.Long || len(dst) < memcopy.Long {
		return copy(dst, src)
	}
	return memcopy.Copy(dst, src)
}
