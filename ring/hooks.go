package ring

import "sync/atomic"

// Test hooks: nil outside this package's tests (export_test.go), which set
// them before starting the calls they watch and clear them after those
// calls end. They sit on slow paths (a wait, a message larger than the
// ring), never on the fast path.
var (
	// hookSnapshot runs in wait just before a side reads the sequence
	// word it is about to sleep on.
	hookSnapshot func(seq *atomic.Uint32)
	// hookWaited runs in waitFor when a wait has succeeded, before the
	// call that waited uses the slot it waited for.
	hookWaited func()
	// hookStreamStore runs when a side stores its cursor in the middle
	// of a message larger than the ring (stream, assemble), with the
	// value stored.
	hookStreamStore func(producer bool, cursor uint64)
	// hookClear runs before a producer taking the role over clears the
	// mark of the slot at seq (start); false stops the clearing there,
	// as the death of that producer would.
	hookClear func(seq uint64) bool
	// hookFound runs in check when the peer's process was found dead or
	// stopped, before the final poll.
	hookFound func()
)
