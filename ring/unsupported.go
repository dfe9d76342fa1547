//go:build !linux || !(amd64 || arm64)

package ring

// shmring needs 64-bit Linux (amd64 or arm64): System V shared memory,
// shared futexes and 64-bit atomics in a segment. This undefined name makes
// the build stop here, with the reason in the error, on any other platform.
var _ = shmring_requires_linux_amd64_or_arm64
