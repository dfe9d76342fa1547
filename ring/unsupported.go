//go:build 386 || arm || mips || mipsle

package ring

// A ring needs a 64-bit platform. Its cursors, owners and counters are
// 64-bit atomics in memory that another process may map too (NewIn and
// Attach take any mapping), and on 32-bit arm and mips Go makes 64-bit
// atomics with a lock table private to the process, which another process
// never takes: the ring would tear there without a sign. Its sizes are
// 64-bit too, and an int of 32 bits would truncate them. Rather than a
// ring that works in one process only, and untested, the build stops here
// with the reason in the error. Every 64-bit platform Go supports builds
// (System V shared memory itself needs linux/amd64 or linux/arm64).
var _ = shmring_ring_requires_a_64_bit_platform
