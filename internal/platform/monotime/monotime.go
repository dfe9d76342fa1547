// Package monotime reads CLOCK_MONOTONIC cheaply, for timestamps that two
// processes on one host compare (a message's send time against its receive
// time).
//
// time.Now carries a monotonic reading too, but only as an offset from the
// process's own start, so it cannot be compared across processes; and
// unix.ClockGettime is a real system call on every read. The runtime's
// nanotime is CLOCK_MONOTONIC read through the vDSO: no system call, the same
// clock in every process, tens of nanoseconds a read.
//
// That is Linux. Elsewhere Now is whatever monotonic clock the runtime reads
// there (mach_absolute_time on macOS); only Linux's is tested to be
// CLOCK_MONOTONIC, the clock another process compares with.
package monotime

import (
	_ "unsafe" // for go:linkname
)

// nanotime is runtime.nanotime: CLOCK_MONOTONIC in nanoseconds, through the
// vDSO. The runtime keeps this symbol linkable on purpose ("many external
// packages also linkname nanotime", runtime/time_nofake.go).
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64

// Now returns CLOCK_MONOTONIC in nanoseconds: time since an arbitrary
// point (boot, on Linux) that is the same for every process on the host and
// never goes back. It does not count time the system spends suspended.
func Now() int64 { return nanotime() }
