//go:build !amd64 || race || msan || asan

package memcopy

// useMovsb is false: no REP MOVSB here, or a build with a detector (race,
// msan, asan) that cannot see what assembly writes. Copy so never calls
// the two below, which only keep it compiling.
const useMovsb = false

func movsbAligned(dst, src []byte) int { return copy(dst, src) }

func overlap(a, b []byte) bool { return true }
