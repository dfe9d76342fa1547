// Package reliability holds the tests of ../shared/RELIABILITY.md that span
// packages and processes: soak, lost wake-ups, the fast path, crash points,
// random kills, stopped peers, pid reuse, takeover, leaks, permissions and a
// hostile writer. docs/RELIABILITY.md maps every item to its test.
//
// Every test has a short form that runs in "go test ./..." and a long form
// chosen by environment variables (SHMRING_SOAK_MESSAGES,
// SHMRING_PINGPONG_ROUNDS, SHMRING_FASTPATH_MESSAGES, SHMRING_FAULT_RUNS,
// SHMRING_HOSTILE_RUNS), which "make soak" and "make fault" set.
//
// The other process of a test is internal/peer, built by the tests with
// -tags shmring_crashpoints so that SHMRING_CRASH can kill it at a chosen
// point inside the ring; messages follow internal/stream, so any consumer
// can check that message n is exactly the n-th sent.
package reliability
