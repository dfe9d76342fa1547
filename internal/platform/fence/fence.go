// Package fence has the two halves of an asymmetric memory barrier between
// processes that share memory: a release store, which costs what a plain
// store does, for the side that is fast and busy, and a heavy barrier,
// membarrier(2), for the side that is about to sleep.
//
// The ring's wake-up protocol is a Dekker pattern: a waker stores its cursor
// then loads the peer's "sleeping" flag; a sleeper stores the flag then
// loads the cursor. On its own each side needs a full fence between its
// store and its load (store-load ordering is the one reordering x86 makes),
// and in Go that is a sequentially consistent store (StoreFull64): an XCHG
// on amd64, tens of nanoseconds when the line is contended, paid on every
// message.
//
// With the heavy barrier the waker needs none. The sleeper raises its flag,
// calls Heavy, then loads the cursor. Heavy makes every CPU that runs a
// thread of a registered process execute a full barrier before it returns,
// which splits the waker's instruction stream in two: if the waker's flag
// load came before that point, its cursor store (earlier in program order)
// is globally visible once Heavy returns, and the sleeper's load sees it;
// if the load came after, it sees the flag, and the waker wakes the
// sleeper. Either way no wake-up is lost. The waker's store and load must
// stay in program order: on arm64 Store64 is an assembly routine (STLR),
// which the compiler neither inlines nor reorders memory operations across;
// on amd64 it is a plain Go store, which the gc compiler keeps in order
// with the atomic load after it (store_amd64.go says why), and which it
// inlines, so that the ring's publication step inlines too.
//
// A process whose Store another process's Heavy must order has to call
// Register first: Heavy interrupts only registered processes. A Store that
// needs only release ordering (statistics, a flag read in this process)
// needs no registration.
//
// membarrier(2) is Linux's. Elsewhere Register and Heavy return an error
// wrapping errors.ErrUnsupported, and a ring made there publishes with full
// fences on both sides (StoreFull64), as one made with
// Config.SymmetricFences does on Linux.
//
// Pause, the CPU's spin-wait hint, is here too: it is what the ring's
// spinning loops run between looks at memory another process writes; and
// Prefetch, a read prefetch hint, which the ring's consumer issues at each
// poll of some waits.
package fence
