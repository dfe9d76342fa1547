//go:build !amd64 || race

package memcopy

// useMovsb is false: no REP MOVSB here, or a build with the race detector.
const useMovsb = false

func movsbAligned(dst, src []byte) int { return copy(dst, src) }

func overlap(a, b []byte) bool { return false }
