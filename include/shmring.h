/*
 * shmring.h - join a shmring ring from C (C11) or C++ (C++17 and later).
 *
 * A shmring ring is one System V shared memory segment: a 1024-byte header,
 * then slot_count slots of slot_size bytes, each a little-endian u32 length
 * word and the payload; a message longer than a slot's payload (up to the
 * ring's max_message, which may exceed the whole ring) travels in
 * fragments, one a slot (see "Messages of any size" below). One producer
 * process and one consumer process move messages through it without system
 * calls while both are busy; a side with
 * nothing to do spins, yields, then sleeps on a futex word in the header
 * until the other side wakes it. docs/LAYOUT.md is the reference for the
 * bytes; ring/ (Go) is the reference implementation. This header speaks the
 * same protocol as the Go code, so a C producer can feed a Go consumer and
 * the other way round, and "shmring stat" shows the C side's counters.
 *
 * Layout version 4.0. Rings of another major version are refused
 * (SHMRING_EVERSION), 1.x, 2.x and 3.x included: a 3.x process would read
 * a slot's lap mark (bit 28 of its length word, see "Lap marks" below) as
 * part of the length, and its producer writes no mark, a 2.x process would
 * take a fragment's length word for a corrupt length, and a 1.x one would
 * ignore the ring's asymmetric-fence flag (header.flags,
 * SHMRING_FLAG_ASYMMETRIC) and lose wake-ups. In a ring with that flag, the
 * cursors are published with release stores, and a side about to sleep
 * calls membarrier(2) instead; every process that claims a role in it must
 * register for membarrier first (shmring_membarrier_register, done by the
 * claim). A creator sets the flag unless told not to
 * (shmring_options.symmetric_fences) or unless membarrier does not work
 * here. See "The wake-up protocol" below and docs/LAYOUT.md.
 *
 * The header needs no library and one other file: shmring_layout.h, the
 * shared header's structs and constants, generated from the Go definition;
 * keep the two side by side and include this one only. Every function is
 * static inline. Linux only (futex, /proc), little-endian 64-bit (amd64,
 * arm64), like the Go package. An older C or C++ standard than C11 or C++17
 * stops the build with an #error that names the version needed.
 *
 * Feature macros: the header needs POSIX and the Linux syscall() wrapper. If
 * neither _DEFAULT_SOURCE nor _GNU_SOURCE is defined it defines
 * _DEFAULT_SOURCE, which only works when shmring.h comes before every system
 * header of the translation unit. Otherwise compile with -D_DEFAULT_SOURCE
 * (C++ compilers define _GNU_SOURCE already). An include order that defeats
 * it stops the build with an #error saying so, not with an undeclared
 * clock_gettime.
 *
 * Quick use: a consumer. Both sides name the ring by a System V key: derive
 * it from a file both know with ftok(3) (Go's shmseg.Ftok(path, 1) gives the
 * same key), or agree on a constant. Whichever side comes first creates the
 * ring (shmring_create; shmring_open_or_create creates it or opens it), so
 * a side that only opens may have to wait for it to exist and be ready, as
 * this one does (errors elided; every function returns 0 or a negative
 * code, see "Return codes"; internal/testsupport/cinterop compiles and runs this code):
 *
 *     key_t key = ftok(path, 1);                 // path: a file both sides name
 *     if (key == -1)
 *         return -errno;                         // no such file, or not allowed to stat it
 *     struct shmring r;
 *     int rc = -ENOENT;
 *     for (int tries = 0; tries < 500; tries++) { // up to 5 s for the creator
 *         rc = shmring_open(&r, key, NULL);
 *         if (rc != -ENOENT && rc != SHMRING_ENOTREADY)
 *             break;                             // open, or a real error
 *         usleep(10000);
 *     }
 *     if (rc != 0)
 *         return rc;
 *     if ((rc = shmring_consumer(&r)) != 0) {    // claim the consumer role
 *         shmring_close(&r);
 *         return rc;
 *     }
 *     char buf[4096];
 *     size_t n;
 *     while ((rc = shmring_recv(&r, buf, sizeof buf, &n, -1)) == 0 || rc == SHMRING_EPEERSTOPPED ||
 *            rc == SHMRING_ETORN)                // a message was cut: the next one follows
 *         if (rc == 0)
 *             use(buf, n);
 *     if (rc == SHMRING_EPEERDEAD)               // the producer died: give the ring up,
 *         shmring_remove(&r);                    // even if another process is attached
 *     shmring_close(&r);                         // removes the ring if nobody will use it
 *     return rc == SHMRING_EOF ? 0 : rc;
 *
 * A ring outlives its processes. shmring_close decides, by the same rule
 * as Go's Ring.Close, whether it goes: it removes the segment once both
 * roles have closed, or when this handle held a role, no other process is
 * attached, and the peer's role was never claimed or is held by a dead
 * process (SHMRING_EPEERDEAD). A producer whose consumer has not come yet,
 * or died, leaves its messages for the next one; shmring_abandon does not. A ring whose
 * peer died while another process is attached stays, so that a new process
 * can take the dead role over (shmring_producer and shmring_consumer claim
 * a dead process's role), or until "shmring rm -stale" (or ipcrm).
 *
 * With the commands: cmd/producer and cmd/consumer (and examples/c) make
 * rings of 4096 slots of shmring_slot_size_for(size) bytes, size being their
 * -size (default 64: 72-byte slots), at key 0x73686d72 unless -key names
 * another (or, for the Go commands, -path: ftok(path, -proj), -proj 1 by
 * default). Whichever comes first creates the ring, so a C side that creates
 * it for them must use that geometry: they refuse another (ring.ErrLayout).
 * Their message format is in docs/WIRE.md. They check that their peer is
 * alive every 250 ms; this header's default is 1 s
 * (shmring_options.liveness_ns).
 *
 * Threads: a handle's producer functions must be called by one thread at a
 * time, and its consumer functions by one thread at a time (the same or
 * another). shmring_producer_close and shmring_consumer_close may be called
 * from any thread to end a blocked call, which then returns SHMRING_ECLOSED;
 * shmring_close may be called from any thread and waits for calls that found
 * the ring full or empty and waited to return before it detaches, but (as
 * in Go) it must not run while another thread is inside a call that did
 * not have to wait. Nothing here is
 * async-signal-safe.
 *
 * Return codes: 0 (SHMRING_OK) for success; a negative errno (-ENOENT,
 * -EACCES, -EEXIST, ...) when a system call failed; or one of the negative
 * SHMRING_E* codes below, each matching an error of the Go package.
 * shmring_strerror describes any of them. No function aborts or exits.
 */
#ifndef SHMRING_H
#define SHMRING_H

#if !defined(__linux__)
#error "shmring.h: shmring runs on Linux only (futex, System V shm, /proc)"
#endif

/* The language versions, checked first: without them the first error
 * would be about std::atomic<T>::is_always_lock_free (C++17) or
 * <stdatomic.h> and _Static_assert (C11), not about the version. */
#if defined(__cplusplus) && __cplusplus < 201703L
#error "shmring.h needs C++17 or later (std::atomic<T>::is_always_lock_free): compile with -std=c++17 or newer"
#endif
#if !defined(__cplusplus) && (!defined(__STDC_VERSION__) || __STDC_VERSION__ < 201112L)
#error "shmring.h needs C11 or later (<stdatomic.h>, _Static_assert): compile with -std=c11 or newer"
#endif

#if !defined(_DEFAULT_SOURCE) && !defined(_GNU_SOURCE)
#define _DEFAULT_SOURCE 1
#define SHMRING__DEFINED_DEFAULT_SOURCE 1
#endif

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* The feature macros must have reached <features.h>, which reads them
 * once, at the first system header of the translation unit. If that was
 * before this header, under a strict -std=c11, clock_gettime, nanosleep,
 * kill and syscall are undeclared and CLOCK_MONOTONIC and O_CLOEXEC
 * undefined, and the compiler would report those instead of the cause.
 * CLOCK_MONOTONIC and O_CLOEXEC stand for the POSIX functions; __USE_MISC,
 * glibc's mark of _DEFAULT_SOURCE, for syscall(). */
#if !defined(CLOCK_MONOTONIC) || !defined(O_CLOEXEC) || (defined(__GLIBC__) && !defined(__USE_MISC))
#if defined(SHMRING__DEFINED_DEFAULT_SOURCE)
#error "shmring.h: a system header was included before shmring.h, so the _DEFAULT_SOURCE that shmring.h defines came too late and clock_gettime, syscall and CLOCK_MONOTONIC are hidden: include shmring.h before every system header, or compile with -D_DEFAULT_SOURCE"
#else
#error "shmring.h: _DEFAULT_SOURCE or _GNU_SOURCE was defined after a system header was included, so it came too late and clock_gettime, syscall and CLOCK_MONOTONIC are hidden: define it before every #include, or compile with -D_DEFAULT_SOURCE"
#endif
#endif

/* membarrier(2)'s command numbers come from <linux/membarrier.h> when it
 * is there and new enough (Linux 4.16 headers, which added the expedited
 * global commands); otherwise from the numbers below, which are the
 * kernel's ABI. The enum constants cannot be tested with #ifdef, hence
 * the version check. */
#if defined(__has_include)
#if __has_include(<linux/membarrier.h>) && __has_include(<linux/version.h>)
#include <linux/membarrier.h>
#include <linux/version.h>
#if defined(LINUX_VERSION_CODE) && defined(KERNEL_VERSION)
#if LINUX_VERSION_CODE >= KERNEL_VERSION(4, 16, 0)
#define SHMRING__HAVE_MEMBARRIER_H 1
#endif
#endif
#endif
#endif
#ifdef SHMRING__HAVE_MEMBARRIER_H
#define SHMRING__MEMBARRIER_CMD_QUERY MEMBARRIER_CMD_QUERY
#define SHMRING__MEMBARRIER_CMD_GLOBAL_EXPEDITED MEMBARRIER_CMD_GLOBAL_EXPEDITED
#define SHMRING__MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED
#else
#define SHMRING__MEMBARRIER_CMD_QUERY 0
#define SHMRING__MEMBARRIER_CMD_GLOBAL_EXPEDITED (1 << 1)
#define SHMRING__MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED (1 << 2)
#endif
/* The system call number: <sys/syscall.h> has it with Linux 4.3 headers. */
#if !defined(SYS_membarrier) && defined(__NR_membarrier)
#define SYS_membarrier __NR_membarrier
#endif
#if !defined(SYS_membarrier)
#if defined(__x86_64__)
#define SYS_membarrier 324
#elif defined(__aarch64__)
#define SYS_membarrier 283
#endif
#endif

/* Atomics: C11 <stdatomic.h> in C, <atomic> in C++. Every atomic operation
 * below is sequentially consistent, as Go's sync/atomic is, with three
 * exceptions: in a ring with asymmetric fences a side publishes its cursor
 * with a release store followed by a compiler barrier
 * (SHMRING_STORE_RELEASE, SHMRING_COMPILER_BARRIER; the sleeper's
 * membarrier(2) supplies the store-load ordering, see shmring__wait); the
 * producer stores a slot's length word, lap mark included, with a release
 * store (shmring__seal, shmring__hold, shmring__mark_run: the store of
 * head that follows it, or the sleeper's membarrier, orders it for the
 * wake-up protocol); and the
 * statistics counters are copied to the header with release stores. */
#ifdef __cplusplus
#include <atomic>
#define SHMRING_ATOMIC(T) std::atomic<T>
#define SHMRING_STATIC_ASSERT(cond, msg) static_assert(cond, msg)
#define SHMRING_LOAD(p) std::atomic_load(p)
#define SHMRING_STORE(p, v) std::atomic_store((p), (v))
#define SHMRING_STORE_RELEASE(p, v) std::atomic_store_explicit((p), (v), std::memory_order_release)
#define SHMRING_COMPILER_BARRIER() std::atomic_signal_fence(std::memory_order_seq_cst)
#define SHMRING_SWAP(p, v) std::atomic_exchange((p), (v))
#define SHMRING_ADD(p, v) std::atomic_fetch_add((p), (v))
#define SHMRING_OR(p, v) std::atomic_fetch_or((p), (v))
#define SHMRING_CAS(p, expp, v) std::atomic_compare_exchange_strong((p), (expp), (v))
#define SHMRING_CAST(T, v) reinterpret_cast<T>(v)
#define SHMRING_ALIGNOF(T) alignof(T)
#else
#include <stdatomic.h>
#define SHMRING_ATOMIC(T) _Atomic(T)
#define SHMRING_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#define SHMRING_LOAD(p) atomic_load(p)
#define SHMRING_STORE(p, v) atomic_store((p), (v))
#define SHMRING_STORE_RELEASE(p, v) atomic_store_explicit((p), (v), memory_order_release)
#define SHMRING_COMPILER_BARRIER() atomic_signal_fence(memory_order_seq_cst)
#define SHMRING_SWAP(p, v) atomic_exchange((p), (v))
#define SHMRING_ADD(p, v) atomic_fetch_add((p), (v))
#define SHMRING_OR(p, v) atomic_fetch_or((p), (v))
#define SHMRING_CAS(p, expp, v) atomic_compare_exchange_strong((p), (expp), (v))
#define SHMRING_CAST(T, v) ((T)(v))
#define SHMRING_ALIGNOF(T) _Alignof(T)
#endif

#ifndef __cplusplus
/* Shared atomics must be lock-free: a lock would live in one process. */
SHMRING_STATIC_ASSERT(ATOMIC_INT_LOCK_FREE == 2, "32-bit atomics must be lock-free");
SHMRING_STATIC_ASSERT(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");
#else
SHMRING_STATIC_ASSERT(std::atomic<uint32_t>::is_always_lock_free, "32-bit atomics must be lock-free");
SHMRING_STATIC_ASSERT(std::atomic<uint64_t>::is_always_lock_free, "64-bit atomics must be lock-free");
#endif
SHMRING_STATIC_ASSERT(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "shmring is little-endian only");
SHMRING_STATIC_ASSERT(SHMRING__MEMBARRIER_CMD_QUERY == 0, "MEMBARRIER_CMD_QUERY is 0");
SHMRING_STATIC_ASSERT(SHMRING__MEMBARRIER_CMD_GLOBAL_EXPEDITED == 2, "MEMBARRIER_CMD_GLOBAL_EXPEDITED is 1 << 1");
SHMRING_STATIC_ASSERT(SHMRING__MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED == 4,
		      "MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED is 1 << 2");
SHMRING_STATIC_ASSERT(sizeof(void *) == 8, "shmring is 64-bit only");

/* ---- Layout (docs/LAYOUT.md, ring/layout.go) --------------------------- */

/* The shared header is defined in shmring_layout.h, which this header
 * includes: the layout's constants (SHMRING_MAGIC, SHMRING_VERSION_MAJOR
 * and _MINOR, SHMRING_HEADER_SIZE, SHMRING_BLOCK_SIZE, SHMRING_LEN_SIZE,
 * the bounds of slot_size and slot_count, the SHMRING_FLAG_* and
 * SHMRING_STATE_* bits, SHMRING_PID_BITS, SHMRING_FLUSH_EVERY, the
 * SHMRING_FRAG_* bits of a slot's length word and its lap mark
 * SHMRING_LAP_BIT, SHMRING_TOTAL_SIZE,
 * SHMRING_MIN_FRAGMENT_SLOT and SHMRING_MAX_MESSAGE_LIMIT), the offset
 * of every field (SHMRING_OFFSET_*, SHMRING_SIDE_OFFSET_*), struct
 * shmring_header and struct shmring_side, and static assertions of every
 * offset. It is generated from the Go definition (go generate ./ring), so
 * the two languages cannot disagree on a byte; edit ring/layout.go, not it.
 *
 * Versions: a segment of another major version is refused; any minor
 * version of major 4 is accepted. 4.0 adds the lap mark (bit 28 of every
 * slot's length word, SHMRING_LAP_BIT; "Lap marks" below): the producer
 * marks each slot published, and a consumer takes a slot by its mark,
 * without reading head, which saves a cache-line transfer per message. A
 * fragment's length therefore has 28 bits, not 29, and slot_size is at
 * most 2^28 (SHMRING_MAX_SLOT_SIZE). A 3.x consumer would read the mark as
 * part of the length (a corrupt length, or a wrong one), and a 3.x producer
 * writes no mark, so a 4.0 consumer would wait for its messages for ever:
 * 4.0 is a major version, and 3.x and 4.x refuse each other's rings at
 * open. 3.1 added header.label (offset 896, reserved in 3.0): a ring's
 * name for people and tools (shmring_options.label, shmring_stats.label).
 * 3.0 added fragments (flag bits in a slot's length word) and
 * header.max_message (at offset 48, reserved in 2.0): a 2.x consumer would
 * read a fragment's length word as a corrupt length in the middle of a
 * stream, so 3.0 was a major version. 2.0 had the bytes of 1.0 and changed
 * the protocol (header.flags and its SHMRING_FLAG_ASYMMETRIC bit, which a
 * 1.x process would ignore, losing wake-ups), so 1.x rings are refused too.
 *
 * Lap marks (docs/LAYOUT.md, "Lap marks"): the slot at cursor position pos
 * (slot pos & (slot_count - 1)) is published when the SHMRING_LAP_BIT of
 * its length word is ready(pos): set on an even lap (pos & slot_count ==
 * 0), clear on an odd one. A new segment is zeros, so no slot of lap 0
 * reads as published, and a slot written in one lap reads as not yet
 * published in the next. The producer writes a slot's payload, then its
 * length word with the mark ready(pos), with a release store, and then
 * stores head as before: head still counts what was published, for the
 * wake-up protocol and for tools. A word written before the slot is to be
 * published (a fragment, until the publication that carries it; Go's
 * reservations) carries the other mark, and the publication marks the run
 * of such slots: slots first+1 .. last in order, then the first
 * (shmring__mark_run). The consumer reads in order, so it sees the whole
 * run or none of it, as one store of head made it in layout 3 (a message
 * in fragments is published in runs of 32 KiB of slots: see "Messages of
 * any size"). A slot the producer writes and publishes at once (a message in one slot, an abort)
 * is marked at once, every slot before it being marked already. The
 * consumer looks at the marks from where its copy of head ends, and takes
 * every slot so marked, up to a ring beyond what it released. It may so
 * pass head, by at most slot_count, and leave it behind for good if the
 * producer dies between its marks and its head: an opener accepts tail <=
 * head + slot_count (and head <= tail + slot_count), and the fill of
 * shmring_stats is 0 while tail >= head. A producer that takes the role
 * over from a dead one starts at head, skips every slot marked published
 * for its position (the consumer may be reading them), stores that
 * position as head, and clears the marks of a run cut short after it (its
 * predecessor died between the rest of a run and its first slot):
 * shmring_producer.
 * The length and flags of a word are word & ~SHMRING_LAP_BIT
 * (SHMRING_FRAG_LEN leaves the bit out).
 *
 * Flags: an opener refuses a ring with a bit set that is not in
 * SHMRING_FLAGS_KNOWN (SHMRING_ELAYOUT). SHMRING_FLAG_ASYMMETRIC: the ring
 * uses asymmetric fences. A side publishes its cursor with a release
 * store, no full fence, and a side about to sleep calls
 * membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) between raising its sleeping
 * flag and its re-check, which makes up for the fence the publisher did not
 * make. Every process must register
 * (MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) before it claims a role.
 * Without the flag, every publication is a sequentially consistent store
 * and nobody calls membarrier (the 1.0 protocol).
 *
 * State: READY is set by the creator, last. A side that closes sets its
 * CLOSED bit, for good: the role is never claimed again. Once
 * SHMRING_STATE_PRODUCER_CLOSED is set, the consumer receives what is left
 * and then SHMRING_EOF; once SHMRING_STATE_CONSUMER_CLOSED is set, every
 * send fails with SHMRING_ECLOSED: nothing would read it (Go: ErrPeerClosed).
 *
 * Messages of any size: a ring carries messages of up to its max_message
 * (header.max_message, set by its creator: shmring_options.max_message;
 * shmring_max_message). One no longer than a slot's payload (slot_size - 4)
 * takes one slot, as in 2.0. A longer one (slots of
 * SHMRING_MIN_FRAGMENT_SLOT bytes or more) is split into fragments, one a
 * slot, marked by the SHMRING_FRAG_* bits of the length word, the first
 * holding the message's total length (docs/LAYOUT.md, "Fragments"). Every
 * fragment but the last is full, so a message of len bytes takes
 * 1 + ceil((len - (slot_size - 12)) / (slot_size - 4)) slots, and the
 * cursors, which count slots, advance by that much (so do shmring_stats'
 * messages and fill).
 *   - A message that takes at most slot_count slots is written once all
 *     its slots are free, before the call returns, published a run of
 *     32 KiB of slots at a time (each run's marks the first slot's last),
 *     with no wait in between, so that the consumer copies one run while
 *     the next is written, and released with one store. The consumer
 *     copies its fragments as they are published (a call that may not
 *     wait, only once all are), and takes it as a message only once it
 *     has read all of them: a call that fails
 *     sent, or received, none of it, and leaves it whole. (A producer that
 *     dies while it marks a run leaves the run's first slot unpublished,
 *     so none of the run is: the producer that takes the role over clears
 *     the marks of the rest and writes over it. A producer that dies
 *     between two runs leaves part of the message published; the producer
 *     that takes the role over publishes an abort after it, as for a
 *     streamed message, and the consumer's recv returns SHMRING_ETORN.)
 *   - A larger one is streamed: the producer publishes its fragments a run
 *     at a time as it writes them (each run marked as above, a dead
 *     producer's last run seen whole or not at all), the consumer copies
 *     them out and releases them as they come, so a message many times the
 *     ring passes through it. A call that may not wait (timeout 0) refuses
 *     such a message (SHMRING_ETOOLARGE). A call that ends in the middle of
 *     one (a timeout, the peer dead or stopped, a close) returns that code
 *     and leaves the message torn. The producer then publishes an abort
 *     slot before its next message (so does a producer that takes the role
 *     over from one that died in the middle of one, at claim if a slot is
 *     free: it never continues another's message); the consumer discards
 *     the rest of the message, up to its last fragment or an abort, and its
 *     next recv returns SHMRING_ETORN (so does the first recv of a consumer
 *     that takes the role over from one that died in the middle of one).
 *     The call after that reads the next message: no other message is lost
 *     or comes twice.
 * The consumer checks every fragment before it copies it, against the
 * slot size, the total and max_message, and copies only into the caller's
 * buffer: a hostile length word or total gets SHMRING_ECORRUPT, never a
 * read outside the segment, and nothing here allocates.
 *
 * Counters (struct shmring_side): a side keeps bytes and stalls in the
 * process and copies them to its block at least every SHMRING_FLUSH_EVERY
 * publications and before it sleeps, so they may lag. stalls counts the
 * calls that found the ring full (producer) or empty (consumer) and waited:
 * one per call (one per wait, for a message larger than the ring), however
 * long it waited and however the wait ended, so a call that times out and
 * is made again counts again (Go: SideStats.Stalls). */
#include "shmring_layout.h"

/* Defaults of struct shmring_options, the same as the Go package's. */
#define SHMRING_DEFAULT_LIVENESS_NS INT64_C(1000000000)
#define SHMRING_DEFAULT_READY_TIMEOUT_NS INT64_C(1000000000)
#define SHMRING_DEFAULT_SPIN_NS INT64_C(20000)
#define SHMRING_DEFAULT_YIELD_NS INT64_C(50000)

/* ---- Return codes ------------------------------------------------------ */

/* Negative codes of this library. System call failures are -errno instead
 * (all errno values are far below 1000). */
enum shmring_status {
	SHMRING_OK = 0,
	/* The producer closed and every message has been received. */
	SHMRING_EOF = -1000,
	/* This side (or the handle) was closed; or, for the producer, the
	 * consumer has closed: nothing will read what it sends, so every send
	 * fails from then on, as in Go. Also claiming a role that was closed
	 * in this ring. (Go splits these: ErrClosed, ErrPeerClosed,
	 * ErrRingClosed.) */
	SHMRING_ECLOSED = -1001,
	/* The peer's process died while this side waited. (ErrPeerDead.) */
	SHMRING_EPEERDEAD = -1002,
	/* The peer's process was found stopped (SIGSTOP, a debugger) at two
	 * liveness checks in a row. Nothing moved; calling again waits again.
	 * (ErrPeerUnresponsive.) */
	SHMRING_EPEERSTOPPED = -1003,
	/* A live process holds the role. (ErrRoleTaken.) */
	SHMRING_EROLETAKEN = -1004,
	/* The message is longer than the ring's max_message
	 * (shmring_max_message), or larger than the ring and the call may not
	 * wait (timeout 0). (ErrMessageTooLarge.) */
	SHMRING_ETOOLARGE = -1005,
	/* A call with timeout 0 found no free slot / no message. (ErrFull,
	 * ErrEmpty.) Not failures: try again. */
	SHMRING_EFULL = -1006,
	SHMRING_EEMPTY = -1007,
	/* Open: not a ring; another major version (1.x and 2.x included);
	 * sizes that do not add up, a max_message out of range, or a flags bit
	 * this version does not know; cursors,
	 * lengths or state out of range; never became ready; writable by
	 * everyone or owned by another user. (ErrBadMagic, ErrVersion,
	 * ErrLayout, ErrCorrupt, ErrNotReady, ErrInsecure.) ECORRUPT is also
	 * returned at run time for a cursor or length the peer could not have
	 * written, or a slot that breaks the fragment format (docs/LAYOUT.md,
	 * "Fragments"): the ring can no longer be trusted. */
	SHMRING_EBADMAGIC = -1008,
	SHMRING_EVERSION = -1009,
	SHMRING_ELAYOUT = -1010,
	SHMRING_ECORRUPT = -1011,
	SHMRING_ENOTREADY = -1012,
	SHMRING_EINSECURE = -1013,
	/* A call with a positive timeout ran out of time. (The Go API's
	 * context deadline.) */
	SHMRING_ETIMEOUT = -1014,
	/* shmring_recv: the buffer is shorter than the message, which stays
	 * in the ring; *len says how long it is. (io.ErrShortBuffer.) */
	SHMRING_ESHORTBUF = -1015,
	/* The handle does not hold the role the call needs, or is read-only. */
	SHMRING_ENOROLE = -1016,
	/* The ring uses asymmetric fences (SHMRING_FLAG_ASYMMETRIC) and this
	 * process cannot use membarrier(2): claiming a role failed because
	 * registration (MEMBARRIER_CMD_QUERY, then
	 * MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) failed, or a wait's
	 * MEMBARRIER_CMD_GLOBAL_EXPEDITED failed (the side stopped waiting and
	 * its sleeping flag is clear). The handle's membarrier_errno has the
	 * errno (ENOSYS: the kernel lacks the commands; EPERM or ENOSYS: often
	 * a seccomp filter). Such a process can only join rings created with
	 * shmring_options.symmetric_fences (Go: Config.SymmetricFences). */
	SHMRING_EMEMBARRIER = -1017,
	/* shmring_recv: a message whose beginning was consumed could not be
	 * finished, and what was left of it has been discarded: its producer
	 * died, closed or gave up in the middle of it (an abort slot), a call
	 * of this consumer ended in the middle of it, or this consumer took
	 * the role over from one that died in the middle of it. Nothing was
	 * received; the next call reads the next message. Only messages
	 * larger than the ring are torn by correct producers (see "Messages
	 * of any size"). (ErrTorn.) */
	SHMRING_ETORN = -1018
};

/* shmring_strerror returns a constant description of code: a SHMRING_*
 * code, or a negated errno. */
static inline const char *shmring_strerror(int code)
{
	switch (code) {
	case SHMRING_OK: return "ok";
	case SHMRING_EOF: return "end of stream: the producer closed and everything was received";
	case SHMRING_ECLOSED: return "closed";
	case SHMRING_EPEERDEAD: return "peer process is dead";
	case SHMRING_EPEERSTOPPED: return "peer process is stopped";
	case SHMRING_EROLETAKEN: return "role is held by a live process";
	case SHMRING_ETOOLARGE: return "message longer than the ring's max_message";
	case SHMRING_EFULL: return "ring full";
	case SHMRING_EEMPTY: return "ring empty";
	case SHMRING_EBADMAGIC: return "bad magic: not a shmring segment";
	case SHMRING_EVERSION: return "unsupported layout version";
	case SHMRING_ELAYOUT: return "layout mismatch";
	case SHMRING_ECORRUPT: return "corrupt segment";
	case SHMRING_ENOTREADY: return "segment never became ready";
	case SHMRING_EINSECURE: return "segment permissions are unsafe";
	case SHMRING_ETIMEOUT: return "timed out";
	case SHMRING_ESHORTBUF: return "buffer shorter than the message";
	case SHMRING_ENOROLE: return "handle does not hold that role";
	case SHMRING_EMEMBARRIER: return "the ring uses asymmetric fences and membarrier(2) failed in this process";
	case SHMRING_ETORN: return "message torn: its rest was discarded";
	}
	if (code < 0 && code > -4096)
		return strerror(-code);
	return "unknown shmring error";
}

/* ---- Options and handle ------------------------------------------------ */

/* How a side waits for its peer (Go: ring.WaitMode). */
enum shmring_wait_mode {
	SHMRING_WAIT_ADAPTIVE = 0, /* spin, then sched_yield, then futex */
	SHMRING_WAIT_SPIN = 1,     /* poll without sleeping */
	SHMRING_WAIT_YIELD = 2,    /* spin, then poll with sched_yield */
	SHMRING_WAIT_FUTEX = 3     /* sleep on the futex at once */
};

/* Per-process settings; not stored in the segment. Fill with
 * shmring_options_default, then change what you need. A zero or negative
 * duration means the default. */
struct shmring_options {
	enum shmring_wait_mode wait;
	int64_t spin_ns;          /* adaptive, yield: spin this long first */
	int64_t yield_ns;         /* adaptive: then yield this long, then sleep */
	int64_t liveness_ns;      /* check the peer's process this often while
				   * waiting; a dead peer is reported within
				   * twice this */
	int64_t ready_timeout_ns; /* open: wait this long for READY */
	int readonly;             /* attach read-only: stats only, no role */
	int allow_insecure;       /* accept a world-writable segment, or one
				   * another user owns */
	uint64_t max_message;     /* create: the ring's max_message, the
				   * longest message either side may send,
				   * up to SHMRING_MAX_MESSAGE_LIMIT; longer
				   * than a slot's payload (slot_size - 4)
				   * only with slots of
				   * SHMRING_MIN_FRAGMENT_SLOT bytes or more
				   * (SHMRING_ELAYOUT). 0 (default):
				   * slot_size - 4, one slot a message, as in
				   * layout 2.0. Ignored by open;
				   * shmring_open_or_create refuses an
				   * existing ring of another max_message.
				   * (Go: Config.MaxMessage.) */
	int symmetric_fences;     /* create: make a ring without
				   * SHMRING_FLAG_ASYMMETRIC, where every
				   * publication is a full fence (tens of ns
				   * more each) and nobody calls membarrier.
				   * For rings a process that cannot use
				   * membarrier(2) must join. 0 (default):
				   * asymmetric if membarrier works here.
				   * Ignored by open. (Go:
				   * Config.SymmetricFences.) */
	const char *label;        /* create: the ring's label
				   * (header.label), for people and tools
				   * ("shmring ls" shows it): UTF-8, at
				   * most SHMRING_LABEL_SIZE - 1 bytes
				   * (-EINVAL otherwise). NULL or ""
				   * (default): none. Read by
				   * shmring_create only, which does not
				   * keep the pointer. Ignored by open.
				   * (Go: Config.Label.) */
};

/* shmring_options_default fills o with the Go package's defaults: adaptive
 * waiting, 20 us spin, 50 us yield, 1 s liveness, 1 s ready timeout,
 * read-write, secure, asymmetric fences where membarrier(2) works, and
 * (for a ring this process creates) one slot a message. */
static inline void shmring_options_default(struct shmring_options *o)
{
	o->wait = SHMRING_WAIT_ADAPTIVE;
	o->spin_ns = SHMRING_DEFAULT_SPIN_NS;
	o->yield_ns = SHMRING_DEFAULT_YIELD_NS;
	o->liveness_ns = SHMRING_DEFAULT_LIVENESS_NS;
	o->ready_timeout_ns = SHMRING_DEFAULT_READY_TIMEOUT_NS;
	o->readonly = 0;
	o->allow_insecure = 0;
	o->symmetric_fences = 0;
	o->max_message = 0;
	o->label = NULL;
}

/* Internal: 0 if label (NULL: none) fits header.label and is UTF-8 as Go's
 * utf8.ValidString has it (no overlong form, surrogate or code point above
 * U+10FFFF), else -EINVAL: what Go refuses with ErrLabel. A NUL cannot be
 * in it: it ends a C string. */
static inline int shmring__check_label(const char *label)
{
	const unsigned char *p = SHMRING_CAST(const unsigned char *, label);
	size_t n, i = 0;
	if (label == NULL)
		return 0;
	n = strnlen(label, SHMRING_LABEL_SIZE);
	if (n >= SHMRING_LABEL_SIZE)
		return -EINVAL;
	while (i < n) {
		unsigned char c = p[i];
		size_t len, k;
		unsigned char lo = 0x80, hi = 0xbf;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			len = 2;
		else if (c >= 0xe0 && c <= 0xef)
			len = 3;
		else if (c >= 0xf0 && c <= 0xf4)
			len = 4;
		else
			return -EINVAL;
		if (c == 0xe0)
			lo = 0xa0; /* overlong */
		else if (c == 0xed)
			hi = 0x9f; /* surrogates */
		else if (c == 0xf0)
			lo = 0x90; /* overlong */
		else if (c == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
		if (i + len > n || p[i + 1] < lo || p[i + 1] > hi)
			return -EINVAL;
		for (k = 2; k < len; k++)
			if (p[i + k] < 0x80 || p[i + k] > 0xbf)
				return -EINVAL;
		i += len;
	}
	return 0;
}

/* The words of one futex block (header block 3 or 4): the sequence word
 * the sleeper sleeps on, its sleeping flag, its request for full fences,
 * and the waker's answer. (Go: futexWords.) */
struct shmring__futex_words {
	SHMRING_ATOMIC(uint32_t) *seq, *sleeping, *wants_fence, *fenced;
};

/* One role's process-local state: the producer's or the consumer's. The
 * two run the same logic on mirrored fields (Go: slots, in the Producer
 * and the Consumer), so they are one type, set up at claim. */
struct shmring__side {
	uint64_t next;      /* next position: to write (producer), to read (consumer) */
	uint64_t published; /* this side's cursor in the header (head, tail) */
	uint64_t peer;      /* producer: tail as last read; consumer: the
			     * first position it has not seen marked
			     * published (its copy of head, from the lap
			     * marks) */
	/* Messages of any size. Lengths below whole take the single-slot
	 * path: shmring__whole, or 0 while this side must first end or
	 * discard a message left unfinished (mid, resync), so that every call
	 * takes the slow path, which does that first: one comparison serves
	 * both (Go: slots.whole). */
	uint64_t whole;
	uint64_t need;      /* slots a wait waits for: free (producer) or
			     * published (consumer); 1 but for a
			     * fragmented message that fits the ring */
	uint64_t left;      /* consumer, mid: bytes of the torn message
			     * still to come, or UINT64_MAX if unknown */
	int mid;            /* producer: it published part of a message and
			     * not the rest (a call ended in the middle of
			     * it, or the holder it took over from died in
			     * it): its next publication is an abort.
			     * Consumer: a call of its own ended in the
			     * middle of a message, whose rest the next
			     * call discards; 2 if that call was told the
			     * message is torn because its producer
			     * closed, so that the end of the stream is
			     * only that (a rest published after the close
			     * is still discarded). */
	int resync;         /* consumer: claimed at tail > 0; the first
			     * slot says whether the previous holder died
			     * in the middle of a message */
	uint64_t waited;    /* consumer: next when its last wait began
			     * (shmring__fetching) */
	uint64_t bytes, stalls;
	uint64_t membarriers; /* membarrier(2) calls of this side's waits */
	unsigned unflushed;
	int relaxed;        /* publish with a release store: an asymmetric
			     * ring, until the peer asks for full fences */
	int64_t next_check; /* liveness check due, carried over timed-out waits */
	int stopped;        /* the peer was stopped at the last check */
	SHMRING_ATOMIC(int) closed;
	/* Set at claim: where this role's words are. */
	int producer;                            /* 1 for the producer role */
	uint32_t closed_bit;                     /* its SHMRING_STATE_*_CLOSED */
	SHMRING_ATOMIC(uint64_t) *cursor;        /* its cursor: head or tail */
	struct shmring_side *block, *peer_block; /* its side block, the peer's */
	struct shmring__futex_words own;         /* the block it sleeps on */
	struct shmring__futex_words theirs;      /* the block the peer sleeps on */
};

/* A process's handle on a ring: the mapping and the roles it holds. It
 * lives wherever the caller puts it; the functions fill it in. Treat the
 * fields as read-only. */
struct shmring {
	struct shmring_header *hdr; /* the mapped segment */
	unsigned char *slots;       /* slot 0 */
	uint64_t slot_size, slot_count, mask, segment_size;
	uint64_t max_message;       /* header.max_message */
	uint64_t slot_whole;        /* the longest message the producer sends
				     * in one slot: min(max_message,
				     * slot_size - 4) */
	int shmid;
	int readonly;
	int created;                /* this handle created the segment */
	int asymmetric;             /* the ring's SHMRING_FLAG_ASYMMETRIC */
	SHMRING_ATOMIC(int) membarrier_errno; /* errno of the failure behind
					       * SHMRING_EMEMBARRIER; 0 if none */
	struct shmring_options opts;
	int has_producer, has_consumer;
	SHMRING_ATOMIC(int) closed;  /* shmring_close was called */
	SHMRING_ATOMIC(int) blocked; /* calls inside a wait */
	struct shmring__side prod; /* the producer role, if has_producer */
	struct shmring__side cons; /* the consumer role, if has_consumer */
};

/* Internal: a side's whole (struct shmring__side) when it has no message
 * to end or discard: the producer sends a message of at most slot_whole
 * bytes (a slot's payload, or max_message if less) in one slot, and the
 * consumer takes a length word no larger than that for a whole message
 * (docs/LAYOUT.md, "Fragments"), as Go's consumer does. */
static inline uint64_t shmring__whole(const struct shmring *r, int producer)
{
	(void)producer;
	return r->slot_whole + 1;
}

/* ---- Small helpers ----------------------------------------------------- */

/* shmring_now_ns returns CLOCK_MONOTONIC in nanoseconds, the clock of every
 * deadline here (and of the Go package's futex deadlines). */
static inline int64_t shmring_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Internal: sleep ns nanoseconds, resuming after signals. */
static inline void shmring__sleep_ns(int64_t ns)
{
	struct timespec ts;
	ts.tv_sec = (time_t)(ns / 1000000000);
	ts.tv_nsec = (long)(ns % 1000000000);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

/* Internal: a hint that the line at p is about to be read (Go:
 * fence.Prefetch). */
static inline void shmring__prefetch(const void *p)
{
	__builtin_prefetch(p, 0, 3);
}

/* Internal: the CPU's spin-wait hint. */
static inline void shmring__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ __volatile__("pause" ::: "memory");
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

/* shmring_slot_size_for returns the smallest valid slot size that holds a
 * message of n bytes: n plus the 4-byte length, rounded up to a multiple of
 * 8 (Go: ring.SlotSizeFor). */
static inline uint64_t shmring_slot_size_for(uint64_t n)
{
	uint64_t s = (n + SHMRING_LEN_SIZE + 7) & ~UINT64_C(7);
	return s < SHMRING_MIN_SLOT_SIZE ? SHMRING_MIN_SLOT_SIZE : s;
}

/* shmring_segment_size checks a geometry as the Go package does and stores
 * the segment size it needs in *size. It returns 0 or SHMRING_ELAYOUT. */
static inline int shmring_segment_size(uint64_t slot_size, uint64_t slot_count, uint64_t *size)
{
	if (slot_size < SHMRING_MIN_SLOT_SIZE || slot_size > SHMRING_MAX_SLOT_SIZE || slot_size % 8 != 0)
		return SHMRING_ELAYOUT;
	if (slot_count < SHMRING_MIN_SLOTS || slot_count > SHMRING_MAX_SLOTS || (slot_count & (slot_count - 1)) != 0)
		return SHMRING_ELAYOUT;
	*size = SHMRING_HEADER_SIZE + slot_size * slot_count;
	return 0;
}

/* Internal: check a ring's max_message, in slots of slot_size bytes, as the
 * Go package does (docs/LAYOUT.md, "Opening", step 12): 1 to
 * SHMRING_MAX_MESSAGE_LIMIT, and no longer than a slot's payload unless the
 * slots can carry fragments (SHMRING_MIN_FRAGMENT_SLOT bytes or more).
 * Returns 0 or SHMRING_ELAYOUT. (Go: geometry.setMax.) */
static inline int shmring__check_max(uint64_t max, uint64_t slot_size)
{
	if (max < 1 || max > SHMRING_MAX_MESSAGE_LIMIT)
		return SHMRING_ELAYOUT;
	if (max > slot_size - SHMRING_LEN_SIZE && slot_size < SHMRING_MIN_FRAGMENT_SLOT)
		return SHMRING_ELAYOUT;
	return 0;
}

/* Internal: the number of slots a message of len bytes takes in slots of
 * slot_size bytes: 1 if it fits a slot's payload, else a first fragment of
 * slot_size - 12 bytes and as many of slot_size - 4 as the rest needs
 * (docs/LAYOUT.md, "Fragments"). len is at most max_message (2^40), and a
 * fragmented one comes with slots of 16 bytes or more, so nothing
 * overflows. (Go: fragmentCount.) */
static inline uint64_t shmring__fragments(uint64_t len, uint64_t slot_size)
{
	uint64_t pay = slot_size - SHMRING_LEN_SIZE;
	if (len <= pay)
		return 1;
	return 1 + (len - (pay - SHMRING_TOTAL_SIZE) + pay - 1) / pay;
}

/* ---- Process identity -------------------------------------------------- */

/* What /proc says of an identity (Go: procStatus). */
enum shmring_proc_status {
	SHMRING_PROC_DEAD = 0,    /* gone, a zombie, or the pid names another process */
	SHMRING_PROC_RUNNING = 1, /* running or sleeping */
	SHMRING_PROC_STOPPED = 2  /* stopped by a signal (T) or a tracer (t) */
};

/* shmring_proc_stat reads /proc/PID/stat: the one-letter state (field 3)
 * into *state and the start time in clock ticks since boot (field 22) into
 * *start. The command name (field 2) may hold spaces and parentheses, so
 * fields are counted from the last ')'. Returns 0, -errno, or
 * SHMRING_ECORRUPT for a line it cannot parse. */
static inline int shmring__stat_file(const char *path, char *state, uint64_t *start);

/* Internal: appends the decimal digits of v (> 0) at path + k; returns the
 * new length. Without stdio. */
static inline size_t shmring__put_decimal(char *path, size_t k, int v)
{
	char digits[24];
	int nd = 0;
	while (v > 0) {
		digits[nd++] = (char)('0' + v % 10);
		v /= 10;
	}
	while (nd > 0)
		path[k++] = digits[--nd];
	return k;
}

static inline int shmring_proc_stat(int pid, char *state, uint64_t *start)
{
	char path[64];
	size_t k;
	if (pid <= 0)
		return -ESRCH;
	/* "/proc/" + decimal pid + "/stat". */
	memcpy(path, "/proc/", 6);
	k = shmring__put_decimal(path, 6, pid);
	memcpy(path + k, "/stat", 6);
	return shmring__stat_file(path, state, start);
}

/* Internal: parses a stat file of /proc, a process's or a thread's
 * (/proc/PID/task/TID/stat, same format), as shmring_proc_stat says. */
static inline int shmring__stat_file(const char *path, char *state, uint64_t *start)
{
	char buf[4096];
	size_t n = 0, i;
	int fd, field;
	const char *p, *end, *close_paren = NULL;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t r = read(fd, buf + n, sizeof buf - 1 - n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			close(fd);
			return (int)r;
		}
		if (r == 0 || n + (size_t)r >= sizeof buf - 1) {
			n += (size_t)r;
			break;
		}
		n += (size_t)r;
	}
	close(fd);
	for (i = 0; i < n; i++)
		if (buf[i] == ')')
			close_paren = buf + i;
	if (close_paren == NULL)
		return SHMRING_ECORRUPT;
	p = close_paren + 1;
	end = buf + n;
	/* Field 3 is the first after ')'; field 22 is the 20th. */
	for (field = 3; field <= 22; field++) {
		const char *tok;
		while (p < end && (*p == ' ' || *p == '\n' || *p == '\t'))
			p++;
		tok = p;
		while (p < end && *p != ' ' && *p != '\n' && *p != '\t')
			p++;
		if (p == tok)
			return SHMRING_ECORRUPT;
		if (field == 3) {
			if (p - tok != 1)
				return SHMRING_ECORRUPT;
			*state = *tok;
		} else if (field == 22) {
			uint64_t v = 0;
			const char *q;
			for (q = tok; q < p; q++) {
				if (*q < '0' || *q > '9' || v > (UINT64_MAX - 9) / 10)
					return SHMRING_ECORRUPT;
				v = v * 10 + (uint64_t)(*q - '0');
			}
			*start = v;
		}
	}
	return 0;
}

/* shmring_make_identity packs pid and start time into an owner word. */
static inline uint64_t shmring_make_identity(int pid, uint64_t start)
{
	return start << SHMRING_PID_BITS | ((uint64_t)pid & ((UINT64_C(1) << SHMRING_PID_BITS) - 1));
}

/* shmring_identity_pid returns the pid of an owner word (0: nobody). */
static inline int shmring_identity_pid(uint64_t id)
{
	return (int)(id & ((UINT64_C(1) << SHMRING_PID_BITS) - 1));
}

/* shmring_identity_of stores the identity of the live process pid in *id.
 * Returns 0, -errno (-ENOENT: no such process) or SHMRING_ECORRUPT. */
static inline int shmring_identity_of(int pid, uint64_t *id)
{
	char state;
	uint64_t start;
	int rc = shmring_proc_stat(pid, &state, &start);
	if (rc != 0)
		return rc;
	*id = shmring_make_identity(pid, start);
	return 0;
}

/* Internal: the status of a process whose /proc entry could not be read
 * (Go: unreadable). Dead only if kill(pid, 0) fails with ESRCH; any other
 * failure (EMFILE, ENOMEM, /proc mounted with hidepid) says nothing of it,
 * and it counts as running, so that nobody takes a live holder's role. */
static inline enum shmring_proc_status shmring__unreadable(int pid)
{
	if (kill(pid, 0) != 0 && errno == ESRCH)
		return SHMRING_PROC_DEAD;
	return SHMRING_PROC_RUNNING;
}

/* Internal: the state of a thread of process pid, other than its main
 * thread, that has not exited; 0 if there is none; '?' if /proc could not
 * say (a read failed other than with ENOENT or ESRCH, the process or thread
 * gone), which the caller judges as an unreadable entry. */
static inline char shmring__other_thread(int pid)
{
	char dir[64], path[128], state;
	size_t k;
	uint64_t start;
	DIR *d;
	struct dirent *e;
	int unknown = 0, rc;

	memcpy(dir, "/proc/", 6);
	k = shmring__put_decimal(dir, 6, pid);
	memcpy(dir + k, "/task", 6);
	d = opendir(dir);
	if (d == NULL)
		return errno == ENOENT || errno == ESRCH ? 0 : '?';
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name), j;
		int tid = 0;
		if (len == 0 || len > 7)
			continue;
		for (j = 0; j < len && e->d_name[j] >= '0' && e->d_name[j] <= '9'; j++)
			tid = tid * 10 + (e->d_name[j] - '0');
		if (j != len || tid == pid || tid <= 0)
			continue;
		memcpy(path, dir, k + 5);
		path[k + 5] = '/';
		j = shmring__put_decimal(path, k + 6, tid);
		memcpy(path + j, "/stat", 6);
		rc = shmring__stat_file(path, &state, &start);
		if (rc != 0) {
			if (rc != -ENOENT && rc != -ESRCH)
				unknown = 1;
		} else if (state != 'Z' && state != 'X' && state != 'x') {
			closedir(d);
			return state;
		}
	}
	closedir(d);
	return unknown ? '?' : 0;
}

/* shmring_identity_status looks an owner word up in /proc exactly as the Go
 * package does: another start time (the pid was reused) is dead, and an
 * entry that cannot be read is judged by shmring__unreadable. The process's
 * own line shows its main thread, Z once
 * that has exited even while other threads run (pthread_exit in main), so
 * for Z the other threads decide: dead if none is left. Otherwise Z/X/x is
 * dead, T/t is stopped, and anything else runs. Identity 0 is dead. */
static inline enum shmring_proc_status shmring_identity_status(uint64_t id)
{
	char state;
	uint64_t start;
	if (id == 0)
		return SHMRING_PROC_DEAD;
	if (shmring_proc_stat(shmring_identity_pid(id), &state, &start) != 0)
		return shmring__unreadable(shmring_identity_pid(id));
	if (start != id >> SHMRING_PID_BITS)
		return SHMRING_PROC_DEAD;
	if (state == 'Z')
		state = shmring__other_thread(shmring_identity_pid(id));
	if (state == '?')
		return shmring__unreadable(shmring_identity_pid(id));
	switch (state) {
	case 0:
		return SHMRING_PROC_DEAD;
	case 'Z': case 'X': case 'x':
		return SHMRING_PROC_DEAD;
	case 'T': case 't':
		return SHMRING_PROC_STOPPED;
	}
	return SHMRING_PROC_RUNNING;
}

/* ---- Futex ------------------------------------------------------------- */

/* From <linux/futex.h>. FUTEX_PRIVATE_FLAG is deliberately never used: the
 * words are shared between processes. FUTEX_WAIT_BITSET takes an absolute
 * CLOCK_MONOTONIC deadline. */
#define SHMRING__FUTEX_WAKE 1
#define SHMRING__FUTEX_WAIT_BITSET 9
#define SHMRING__FUTEX_BITSET_MATCH_ANY 0xffffffffu

/* Sleep while *word == expect, until a wake, a signal or deadline_ns
 * (CLOCK_MONOTONIC; 0 = none). Returns 0 (woken, value changed, signal,
 * deadline) or -errno for anything else. */
static inline int shmring__futex_wait(SHMRING_ATOMIC(uint32_t) *word, uint32_t expect, int64_t deadline_ns)
{
	struct timespec ts, *tsp = NULL;
	long rc;
	if (deadline_ns > 0) {
		ts.tv_sec = (time_t)(deadline_ns / 1000000000);
		ts.tv_nsec = (long)(deadline_ns % 1000000000);
		tsp = &ts;
	}
	rc = syscall(SYS_futex, SHMRING_CAST(void *, word), SHMRING__FUTEX_WAIT_BITSET, expect, tsp,
		     (void *)0, SHMRING__FUTEX_BITSET_MATCH_ANY);
	if (rc == 0 || errno == EAGAIN || errno == EINTR || errno == ETIMEDOUT)
		return 0;
	return -errno;
}

/* Internal: wake one sleeper on word (shared futex). */
static inline void shmring__futex_wake(SHMRING_ATOMIC(uint32_t) *word)
{
	(void)syscall(SYS_futex, SHMRING_CAST(void *, word), SHMRING__FUTEX_WAKE, 1, (void *)0, (void *)0, 0);
}

/* Bump a sequence word and wake its sleeper (Go: wake). */
static inline void shmring__wake(SHMRING_ATOMIC(uint32_t) *seq)
{
	SHMRING_ADD(seq, 1u);
	shmring__futex_wake(seq);
}

/* The block the consumer sleeps on (Go: dataWords). */
static inline struct shmring__futex_words shmring__data_words(struct shmring_header *h)
{
	struct shmring__futex_words w;
	w.seq = &h->data_seq;
	w.sleeping = &h->consumer_sleeping;
	w.wants_fence = &h->consumer_wants_fence;
	w.fenced = &h->producer_fenced;
	return w;
}

/* The block the producer sleeps on (Go: spaceWords). */
static inline struct shmring__futex_words shmring__space_words(struct shmring_header *h)
{
	struct shmring__futex_words w;
	w.seq = &h->space_seq;
	w.sleeping = &h->producer_sleeping;
	w.wants_fence = &h->producer_wants_fence;
	w.fenced = &h->consumer_fenced;
	return w;
}

/* Store a cursor (Go: slots.store): with a release store when relaxed
 * (an asymmetric ring: the sleeper's membarrier supplies the store-load
 * ordering), else sequentially consistent. The compiler barrier keeps the
 * caller's next load, of the peer's sleeping flag, after the store in the
 * machine code: membarrier orders the two only as the CPU runs them. */
static inline void shmring__store_cursor(SHMRING_ATOMIC(uint64_t) *cursor, uint64_t v, int relaxed)
{
	if (relaxed) {
		SHMRING_STORE_RELEASE(cursor, v);
		SHMRING_COMPILER_BARRIER();
	} else {
		SHMRING_STORE(cursor, v);
	}
}

/* Wake the peer if it said it may sleep (Go: wakePeer, wakeSleeper); w is
 * the peer's futex block. The load keeps the common case free of
 * read-modify-write instructions; the swap makes a burst of publications
 * wake once. Before the wake it answers the peer's request for full fences,
 * if the peer made one and this side has not answered yet: from then on
 * every publication is sequentially consistent, and the answer is a
 * sequentially consistent store too, so every release store before it is
 * visible before the peer can see the answer (and skip its membarrier). */
static inline void shmring__wake_peer(struct shmring__futex_words w, int *relaxed, struct shmring_side *me)
{
	if (SHMRING_LOAD(w.sleeping) == 0)
		return;
	if (*relaxed && SHMRING_LOAD(w.wants_fence) != 0) {
		*relaxed = 0;
		SHMRING_STORE(w.fenced, 1u);
	}
	if (SHMRING_SWAP(w.sleeping, 0u) != 0) {
		SHMRING_ADD(&me->wakes, UINT64_C(1));
		shmring__wake(w.seq);
	}
}

/* ---- Membarrier -------------------------------------------------------- */

/* Internal: membarrier(cmd, 0, 0): the result, or -errno. */
static inline long shmring__membarrier(int cmd)
{
#ifdef SYS_membarrier
	long rc = syscall(SYS_membarrier, cmd, 0u, 0);
	return rc < 0 ? -errno : rc;
#else
	(void)cmd;
	return -ENOSYS;
#endif
}

/* shmring_membarrier_register registers this process for expedited global
 * barriers, as the Go package's internal/platform/fence.Register does:
 * membarrier(MEMBARRIER_CMD_QUERY) must list both
 * MEMBARRIER_CMD_GLOBAL_EXPEDITED and
 * MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, then
 * membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED, 0) must succeed.
 * Another process's MEMBARRIER_CMD_GLOBAL_EXPEDITED then interrupts this
 * one's threads, until it exits. Returns 0, or -errno of the call that
 * failed (-ENOSYS also when the query lacks a command: kernels before
 * 4.16). The first result is kept and returned by later calls (once per
 * translation unit, as the header has no library; registering again is
 * harmless). Claiming a role in an asymmetric ring calls it, and
 * shmring_create does to choose the flag; call it yourself to know in
 * advance. Thread-safe. */
static inline int shmring_membarrier_register(void)
{
	/* 1: registered; < 0: -errno; 0: not tried yet. */
	static SHMRING_ATOMIC(int) result;
	int rc = SHMRING_LOAD(&result);
	long q;
	if (rc != 0)
		return rc < 0 ? rc : 0;
	q = shmring__membarrier(SHMRING__MEMBARRIER_CMD_QUERY);
	if (q < 0)
		rc = (int)q;
	else if ((q & SHMRING__MEMBARRIER_CMD_GLOBAL_EXPEDITED) == 0 ||
		 (q & SHMRING__MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED) == 0)
		rc = -ENOSYS;
	else if ((q = shmring__membarrier(SHMRING__MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED)) < 0)
		rc = (int)q;
	else
		rc = 1;
	SHMRING_STORE(&result, rc);
	return rc < 0 ? rc : 0;
}

/* Internal: a full memory barrier on every CPU that runs a thread of a
 * registered process, this one's included
 * (MEMBARRIER_CMD_GLOBAL_EXPEDITED), retried on EINTR. Microseconds: a
 * system call and an inter-processor interrupt per such CPU. Returns 0 or
 * -errno. (Go: fence.Heavy.) */
static inline int shmring__membarrier_heavy(void)
{
	for (;;) {
		long rc = shmring__membarrier(SHMRING__MEMBARRIER_CMD_GLOBAL_EXPEDITED);
		if (rc != -EINTR)
			return rc < 0 ? (int)rc : 0;
	}
}

/* ---- Opening ----------------------------------------------------------- */

/* Internal: reset a role's state (no role held). */
static inline void shmring__init_side(struct shmring__side *s)
{
	s->next = s->published = s->peer = s->waited = 0;
	s->whole = 0;
	s->need = 1;
	s->left = UINT64_MAX;
	s->mid = s->resync = 0;
	s->bytes = s->stalls = s->membarriers = 0;
	s->unflushed = 0;
	s->relaxed = 0;
	s->next_check = 0;
	s->stopped = 0;
	SHMRING_STORE(&s->closed, 0);
	s->producer = 0;
	s->closed_bit = 0;
	s->cursor = NULL;
	s->block = s->peer_block = NULL;
	s->own.seq = s->own.sleeping = s->own.wants_fence = s->own.fenced = NULL;
	s->theirs = s->own;
}

/* Internal: reset r and take the options (NULL: defaults; zero or
 * negative durations: their defaults). */
static inline void shmring__init_handle(struct shmring *r, const struct shmring_options *o)
{
	r->hdr = NULL;
	r->slots = NULL;
	r->slot_size = r->slot_count = r->mask = r->segment_size = 0;
	r->max_message = r->slot_whole = 0;
	r->shmid = -1;
	r->readonly = 0;
	r->created = 0;
	r->asymmetric = 0;
	SHMRING_STORE(&r->membarrier_errno, 0);
	if (o != NULL)
		r->opts = *o;
	else
		shmring_options_default(&r->opts);
	if (r->opts.spin_ns <= 0)
		r->opts.spin_ns = SHMRING_DEFAULT_SPIN_NS;
	if (r->opts.yield_ns <= 0)
		r->opts.yield_ns = SHMRING_DEFAULT_YIELD_NS;
	if (r->opts.liveness_ns <= 0)
		r->opts.liveness_ns = SHMRING_DEFAULT_LIVENESS_NS;
	if (r->opts.ready_timeout_ns <= 0)
		r->opts.ready_timeout_ns = SHMRING_DEFAULT_READY_TIMEOUT_NS;
	r->has_producer = r->has_consumer = 0;
	SHMRING_STORE(&r->closed, 0);
	SHMRING_STORE(&r->blocked, 0);
	shmring__init_side(&r->prod);
	shmring__init_side(&r->cons);
}

/* Read both cursors of a ring that may be live (Go: cursors). Tail first.
 * It may pass head, by at most a ring: the consumer takes slots by their
 * lap marks, which the producer stores before head, and a producer that
 * dies between the two leaves head behind for good. So tail <= head +
 * slot_count holds for any pair read in this order, and head <= tail +
 * slot_count only if tail did not move while head was read: *ok says it
 * did not. */
static inline void shmring__cursors(struct shmring_header *h, uint64_t *head, uint64_t *tail, int *ok)
{
	int i;
	*ok = 0;
	for (i = 0; i < 8; i++) {
		*tail = SHMRING_LOAD(&h->tail);
		*head = SHMRING_LOAD(&h->head);
		if (SHMRING_LOAD(&h->tail) == *tail) {
			*ok = 1;
			return;
		}
	}
}

/* Poll the state word until READY (Go: waitReady). */
static inline int shmring__wait_ready(struct shmring_header *h, int64_t timeout_ns)
{
	int64_t deadline = shmring_now_ns() + timeout_ns, sleep = 50000;
	for (;;) {
		uint64_t m;
		if (SHMRING_LOAD(&h->state) & SHMRING_STATE_READY)
			return 0;
		m = *(volatile uint64_t *)&h->magic;
		if (m != 0 && m != SHMRING_MAGIC)
			return SHMRING_EBADMAGIC;
		if (shmring_now_ns() > deadline)
			return SHMRING_ENOTREADY;
		shmring__sleep_ns(sleep);
		sleep = sleep * 2 > 10000000 ? 10000000 : sleep * 2;
	}
}

/* Validate a READY header against the segment's real size (Go: validate),
 * reading each field once, and fill in the geometry of r. */
static inline int shmring__validate(struct shmring *r, uint64_t real_size)
{
	struct shmring_header *h = r->hdr;
	uint64_t seg, need, head, tail, max;
	uint32_t st, flags;
	int ok, rc;

	if (h->magic != SHMRING_MAGIC)
		return SHMRING_EBADMAGIC;
	if (h->major != SHMRING_VERSION_MAJOR)
		return SHMRING_EVERSION;
	st = SHMRING_LOAD(&h->state);
	if ((st & ~SHMRING_STATE_KNOWN) != 0 || (st & SHMRING_STATE_READY) == 0)
		return SHMRING_ECORRUPT;
	if (h->header_size != SHMRING_HEADER_SIZE)
		return SHMRING_ELAYOUT;
	r->slot_size = h->slot_size;
	r->slot_count = h->slot_count;
	if ((rc = shmring_segment_size(r->slot_size, r->slot_count, &need)) != 0)
		return rc;
	flags = h->flags;
	if ((flags & ~SHMRING_FLAGS_KNOWN) != 0)
		return SHMRING_ELAYOUT;
	max = h->max_message;
	if ((rc = shmring__check_max(max, r->slot_size)) != 0)
		return rc;
	seg = h->segment_size;
	if (seg != need || seg > real_size)
		return SHMRING_ELAYOUT;
	shmring__cursors(h, &head, &tail, &ok);
	if (tail > head + r->slot_count || (ok && head > tail + r->slot_count))
		return SHMRING_ECORRUPT;
	r->segment_size = seg;
	r->asymmetric = (flags & SHMRING_FLAG_ASYMMETRIC) != 0;
	r->mask = r->slot_count - 1;
	r->max_message = max;
	r->slot_whole = max < r->slot_size - SHMRING_LEN_SIZE ? max : r->slot_size - SHMRING_LEN_SIZE;
	r->slots = SHMRING_CAST(unsigned char *, h) + SHMRING_HEADER_SIZE;
	return 0;
}

/* shmring_open_id attaches the existing ring with System V id shmid into r
 * and validates it as the Go opener does: unless o->allow_insecure (or
 * o->readonly), a segment writable by every user or owned by another user
 * is refused (SHMRING_EINSECURE); then it waits up to o->ready_timeout_ns
 * for READY (SHMRING_ENOTREADY; another non-zero magic fails at once with
 * SHMRING_EBADMAGIC), and checks magic, major version (SHMRING_EVERSION),
 * state bits (SHMRING_ECORRUPT), header size, slot size and count, flags
 * (no bit but SHMRING_FLAGS_KNOWN), max_message (shmring__check_max),
 * segment size against the header and
 * against shm_segsz (SHMRING_ELAYOUT), and the cursors (SHMRING_ECORRUPT).
 * Opening does not need membarrier(2); claiming a role in an asymmetric
 * ring does (shmring_producer). o may be NULL for the defaults. On error
 * nothing stays attached and r must not be used. */
static inline int shmring_open_id(struct shmring *r, int shmid, const struct shmring_options *o)
{
	struct shmid_ds ds;
	void *addr;
	int rc;

	shmring__init_handle(r, o);
	addr = shmat(shmid, NULL, r->opts.readonly ? SHM_RDONLY : 0);
	if (addr == (void *)-1)
		return -errno;
	r->hdr = SHMRING_CAST(struct shmring_header *, addr);
	r->shmid = shmid;
	r->readonly = r->opts.readonly;
	/* The checks of docs/LAYOUT.md, in its order. */
	if (shmctl(shmid, IPC_STAT, &ds) != 0)
		rc = -errno;
	else if (!r->opts.allow_insecure && !r->opts.readonly &&
		 ((ds.shm_perm.mode & 0002) != 0 || ds.shm_perm.uid != geteuid()))
		rc = SHMRING_EINSECURE;
	else if ((uint64_t)ds.shm_segsz < SHMRING_HEADER_SIZE)
		rc = SHMRING_ELAYOUT;
	else
		rc = shmring__wait_ready(r->hdr, r->opts.ready_timeout_ns);
	if (rc == 0)
		rc = shmring__validate(r, (uint64_t)ds.shm_segsz);
	if (rc != 0) {
		shmdt(addr);
		r->hdr = NULL;
		return rc;
	}
	return 0;
}

/* shmring_open looks the ring up by System V key and opens it as
 * shmring_open_id does. -ENOENT: no segment has that key (yet). Key
 * IPC_PRIVATE names no segment: -EINVAL. */
static inline int shmring_open(struct shmring *r, key_t key, const struct shmring_options *o)
{
	int id;
	shmring__init_handle(r, o);
	if (key == IPC_PRIVATE)
		return -EINVAL;
	id = shmget(key, 0, 0);
	if (id < 0)
		return -errno;
	return shmring_open_id(r, id, o);
}

/* shmring_create makes a new segment for key (it must not exist: -EEXIST),
 * of slot_count slots of slot_size bytes (length prefix included; see
 * shmring_slot_size_for), with permission bits mode (0 means 0600), and
 * formats a ring in it: every field first, READY last. Its max_message is
 * o->max_message, or slot_size - 4 if that is 0; one longer than a slot's
 * payload needs slots of SHMRING_MIN_FRAGMENT_SLOT bytes or more, and none
 * may exceed SHMRING_MAX_MESSAGE_LIMIT (SHMRING_ELAYOUT). The ring uses
 * asymmetric fences (SHMRING_FLAG_ASYMMETRIC) unless o->symmetric_fences
 * is set or this process cannot register for membarrier(2)
 * (shmring_membarrier_register); shmring_stats says which. Its label is
 * o->label (-EINVAL if too long or not UTF-8). The handle holds no role
 * yet. On error nothing is left behind. (Go: ring.Create.) */
static inline int shmring_create(struct shmring *r, key_t key, uint32_t slot_size, uint32_t slot_count, int mode,
				 const struct shmring_options *o)
{
	uint64_t size, max;
	struct shmring_header *h;
	struct timespec now;
	void *addr;
	uint32_t flags = 0;
	int id, rc;

	shmring__init_handle(r, o);
	if (r->opts.readonly)
		return -EINVAL;
	if ((rc = shmring_segment_size(slot_size, slot_count, &size)) != 0)
		return rc;
	max = r->opts.max_message != 0 ? r->opts.max_message : (uint64_t)slot_size - SHMRING_LEN_SIZE;
	if ((rc = shmring__check_max(max, slot_size)) != 0)
		return rc;
	if ((rc = shmring__check_label(r->opts.label)) != 0)
		return rc;
	if (mode == 0)
		mode = 0600;
	if ((mode & ~0777) != 0)
		return -EINVAL;
	if (!r->opts.symmetric_fences && shmring_membarrier_register() == 0)
		flags |= SHMRING_FLAG_ASYMMETRIC;
	id = shmget(key, (size_t)size, IPC_CREAT | IPC_EXCL | mode);
	if (id < 0)
		return -errno;
	addr = shmat(id, NULL, 0);
	if (addr == (void *)-1) {
		rc = -errno;
		shmctl(id, IPC_RMID, NULL);
		return rc;
	}
	h = SHMRING_CAST(struct shmring_header *, addr);
	clock_gettime(CLOCK_REALTIME, &now);
	/* A new segment is zero-filled; write every field anyway, as Go's
	 * format does, and READY last. The magic goes first, and the barrier
	 * keeps the compiler from moving the other plain stores before it: a
	 * creator killed here leaves zeros or the magic with state 0, which
	 * `shmring rm -stale` recognises as unfinished, never fields without
	 * the magic. */
	h->magic = SHMRING_MAGIC;
	SHMRING_COMPILER_BARRIER();
	h->major = SHMRING_VERSION_MAJOR;
	h->minor = SHMRING_VERSION_MINOR;
	h->header_size = SHMRING_HEADER_SIZE;
	h->slot_size = slot_size;
	h->slot_count = slot_count;
	h->segment_size = size;
	h->flags = flags;
	h->created = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	h->max_message = max;
	memset(h->label, 0, sizeof h->label);
	if (r->opts.label != NULL)
		memcpy(h->label, r->opts.label, strlen(r->opts.label)); /* checked: < SHMRING_LABEL_SIZE */
	r->opts.label = NULL; /* the caller's memory: not kept */
	SHMRING_STORE(&h->head, UINT64_C(0));
	SHMRING_STORE(&h->tail, UINT64_C(0));
	SHMRING_STORE(&h->data_seq, 0u);
	SHMRING_STORE(&h->consumer_sleeping, 0u);
	SHMRING_STORE(&h->space_seq, 0u);
	SHMRING_STORE(&h->producer_sleeping, 0u);
	SHMRING_STORE(&h->consumer_wants_fence, 0u);
	SHMRING_STORE(&h->producer_fenced, 0u);
	SHMRING_STORE(&h->producer_wants_fence, 0u);
	SHMRING_STORE(&h->consumer_fenced, 0u);
	{
		struct shmring_side *sides[2];
		int i;
		sides[0] = &h->producer;
		sides[1] = &h->consumer;
		for (i = 0; i < 2; i++) {
			SHMRING_STORE(&sides[i]->owner, UINT64_C(0));
			SHMRING_STORE(&sides[i]->bytes, UINT64_C(0));
			SHMRING_STORE(&sides[i]->stalls, UINT64_C(0));
			SHMRING_STORE(&sides[i]->waits, UINT64_C(0));
			SHMRING_STORE(&sides[i]->wakes, UINT64_C(0));
		}
	}
	SHMRING_STORE(&h->state, SHMRING_STATE_READY);
	r->hdr = h;
	r->shmid = id;
	r->created = 1;
	rc = shmring__validate(r, size);
	if (rc != 0) { /* cannot happen; keep the promise anyway */
		shmdt(addr);
		shmctl(id, IPC_RMID, NULL);
		r->hdr = NULL;
	}
	return rc;
}

/* shmring_open_or_create opens the ring at key, or creates it (mode 0600)
 * if there is none, whichever process comes first; *created (may be NULL)
 * says which. o->symmetric_fences matters only if this process creates. An
 * existing ring of another slot size or count, or of another max_message
 * than o->max_message (slot_size - 4 if that is 0, as shmring_create
 * makes it), is refused with SHMRING_ELAYOUT. (Go: ring.OpenOrCreate.) */
static inline int shmring_open_or_create(struct shmring *r, key_t key, uint32_t slot_size, uint32_t slot_count,
					 const struct shmring_options *o, int *created)
{
	int i, rc = -ENOENT;
	if (created != NULL)
		*created = 0;
	for (i = 0; i < 10; i++) {
		rc = shmring_create(r, key, slot_size, slot_count, 0, o);
		if (rc == 0) {
			if (created != NULL)
				*created = 1;
			return 0;
		}
		if (rc != -EEXIST)
			return rc;
		rc = shmring_open(r, key, o);
		if (rc == -ENOENT || rc == -EIDRM)
			continue; /* removed between our create and open: race again */
		if (rc != 0)
			return rc;
		if (r->slot_size != slot_size || r->slot_count != slot_count ||
		    r->max_message != (o != NULL && o->max_message != 0 ? o->max_message
									 : (uint64_t)slot_size - SHMRING_LEN_SIZE)) {
			shmdt(r->hdr);
			r->hdr = NULL;
			return SHMRING_ELAYOUT;
		}
		return 0;
	}
	return rc;
}

/* shmring_max_message returns the largest message the ring carries: its
 * max_message, which its creator chose (shmring_options.max_message; Go:
 * Config.MaxMessage). A buffer this long holds any message shmring_recv
 * returns; a shorter one gets SHMRING_ESHORTBUF and the length of a longer
 * message. It may be far larger than the ring: allocate from it with care. */
static inline uint64_t shmring_max_message(const struct shmring *r)
{
	return r->max_message;
}

/* ---- Slots and lap marks ---------------------------------------------- */

/* Internal: the slot of cursor position pos. The mask keeps it inside the
 * segment whatever pos is. */
static inline unsigned char *shmring__slot(const struct shmring *r, uint64_t pos)
{
	return r->slots + (pos & r->mask) * r->slot_size;
}

/* Internal: the length word of the slot of position pos, for its atomic
 * accesses: 4-byte aligned, as every slot starts at a multiple of 8. */
static inline SHMRING_ATOMIC(uint32_t) *shmring__word(const struct shmring *r, uint64_t pos)
{
	return SHMRING_CAST(SHMRING_ATOMIC(uint32_t) *, shmring__slot(r, pos));
}

/* Internal: the lap mark of the slot of position pos once it is
 * published: SHMRING_LAP_BIT on an even lap, 0 on an odd one ("Lap marks"
 * above; Go: slots.ready). */
static inline uint32_t shmring__ready(const struct shmring *r, uint64_t pos)
{
	return (pos & r->slot_count) == 0 ? SHMRING_LAP_BIT : 0;
}

/* Internal: publish the slot of position pos, whose payload is written:
 * store its length word w (length and flags) with the slot's ready mark,
 * a release store, so that a consumer that sees the mark sees the payload.
 * The producer calls it for a slot it publishes at once, every slot before
 * it being marked already, or for a run's slots (shmring__mark_run), and
 * stores head after it (Go: Producer.seal, markRun). */
static inline void shmring__seal(const struct shmring *r, uint64_t pos, uint32_t w)
{
	SHMRING_STORE_RELEASE(shmring__word(r, pos), w | shmring__ready(r, pos));
}

/* Internal: store the length word w of the slot of position pos with the
 * mark of a slot not yet published (the other than ready(pos)), a release
 * store: the word of a fragment the publication that carries it will mark
 * (shmring__mark_run), or, at a takeover, of a slot of a run cut short
 * (shmring__claim_role). Atomic, as every store of a length word: a
 * consumer may be loading it to see whether the slot is published (Go:
 * Producer.hold). */
static inline void shmring__hold(const struct shmring *r, uint64_t pos, uint32_t w)
{
	SHMRING_STORE_RELEASE(shmring__word(r, pos), w | (shmring__ready(r, pos) ^ SHMRING_LAP_BIT));
}

/* Internal: is the slot of position pos marked published? A sequentially
 * consistent load of its word (an acquire, as the payload is read after
 * it; and the re-check of a consumer about to sleep, in the wake-up
 * protocol), which a mov on amd64 and an ldar on arm64 make: no dearer than
 * an acquire load. The answer holds where the callers look: the consumer
 * less than a ring beyond what it released, where a slot holds the word of
 * pos or of pos - slot_count, released, whose mark is the other; a
 * producer taking the role over from head on, up to the first slot not so
 * marked (Go: slots.sealed). */
static inline int shmring__sealed(const struct shmring *r, uint64_t pos)
{
	return (SHMRING_LOAD(shmring__word(r, pos)) & SHMRING_LAP_BIT) == shmring__ready(r, pos);
}

/* Internal: the length word of the slot of position pos without its lap
 * mark: the length and the SHMRING_FRAG_* flags. For a slot known to be
 * published and not yet released, or one the producer wrote and reads
 * back, which nobody writes meanwhile (Go: lenOf). */
static inline uint32_t shmring__len(const struct shmring *r, uint64_t pos)
{
	uint32_t w;
	memcpy(&w, shmring__slot(r, pos), SHMRING_LEN_SIZE);
	return w & ~SHMRING_LAP_BIT;
}

/* Internal: publish the run of slots of positions first to end - 1, which
 * the producer wrote with shmring__hold: mark slots first + 1 .. end - 1
 * in order, then the run's first slot, last. The consumer reads in order,
 * so it sees the whole run or none of it (a run of a message's fragments,
 * a batch), as one store of head made it in
 * layout 3. A producer that dies in the middle leaves the first slot
 * unpublished and some after it marked: no consumer reaches them, and the
 * producer that takes the role over clears their marks
 * (shmring__claim_role). Each word is read back without its mark
 * (shmring__len: the producer is its only writer) and stored with its
 * ready mark (Go: Producer.markRun). */
static inline void shmring__mark_run(const struct shmring *r, uint64_t first, uint64_t end)
{
	uint64_t pos;
	for (pos = first + 1; pos < end; pos++)
		shmring__seal(r, pos, shmring__len(r, pos));
	shmring__seal(r, first, shmring__len(r, first));
}

/* ---- Roles ------------------------------------------------------------- */

/* Claim a side by compare-and-swap of its owner word (Go: claim). */
static inline int shmring__claim(struct shmring_side *s)
{
	uint64_t me;
	int rc = shmring_identity_of((int)getpid(), &me);
	if (rc != 0)
		return rc;
	for (;;) {
		uint64_t cur = SHMRING_LOAD(&s->owner);
		if (cur == 0) {
			uint64_t zero = 0;
			if (SHMRING_CAS(&s->owner, &zero, me))
				return 0;
		} else if (cur == me) {
			return SHMRING_EROLETAKEN; /* held by this process */
		} else if (shmring_identity_status(cur) != SHMRING_PROC_DEAD) {
			return SHMRING_EROLETAKEN;
		} else if (SHMRING_CAS(&s->owner, &cur, me)) {
			return 0; /* took over from a dead holder */
		}
	}
}

/* Internal: may this handle claim the role whose CLOSED bit is closed_bit?
 * In an asymmetric ring this process registers for membarrier(2) first,
 * before its first publication: the peer's barrier must reach it.
 * (Go: Ring.claimable.) */
static inline int shmring__claimable(struct shmring *r, uint32_t closed_bit)
{
	int rc;
	if (r->hdr == NULL || SHMRING_LOAD(&r->closed))
		return SHMRING_ECLOSED;
	if (r->readonly)
		return SHMRING_ENOROLE;
	if (SHMRING_LOAD(&r->hdr->state) & closed_bit)
		return SHMRING_ECLOSED;
	if (r->asymmetric && (rc = shmring_membarrier_register()) != 0) {
		SHMRING_STORE(&r->membarrier_errno, -rc);
		return SHMRING_EMEMBARRIER;
	}
	return 0;
}

/* Internal: set up a side's fence words as it claims its role, before its
 * first publication (Go: slots.claimWords). A previous holder of the role
 * may have answered the peer's request for full fences; this one has not,
 * and says so (sequentially consistent, before it publishes anything with
 * a release store: a sleeper that read the old answer raised its flag
 * before this store, so this side's next flag load sees it). It asks for
 * full fences from the peer if it sleeps at once when it must wait
 * (SHMRING_WAIT_FUTEX), so that its sleeps need no membarrier. */
static inline void shmring__claim_words(struct shmring *r, struct shmring__side *s)
{
	SHMRING_STORE(s->theirs.fenced, 0u);
	SHMRING_STORE(s->own.wants_fence, r->opts.wait == SHMRING_WAIT_FUTEX ? 1u : 0u);
	s->relaxed = r->asymmetric;
}

static inline void shmring__publish(struct shmring__side *s);

/* Internal: claim a role for this handle: the producer's if producer, else
 * the consumer's (Go: Ring.Producer, Ring.Consumer). The side resumes at
 * the role's cursor in the header, and its counters where the previous
 * holder left them. */
static inline int shmring__claim_role(struct shmring *r, int producer)
{
	struct shmring_header *h = r->hdr;
	struct shmring__side *s = producer ? &r->prod : &r->cons;
	int *held = producer ? &r->has_producer : &r->has_consumer;
	uint32_t closed_bit = producer ? SHMRING_STATE_PRODUCER_CLOSED : SHMRING_STATE_CONSUMER_CLOSED;
	int rc;

	if (*held)
		return SHMRING_EROLETAKEN;
	if ((rc = shmring__claimable(r, closed_bit)) != 0)
		return rc;
	if ((rc = shmring__claim(producer ? &h->producer : &h->consumer)) != 0)
		return rc;
	shmring__init_side(s);
	s->producer = producer;
	s->closed_bit = closed_bit;
	s->cursor = producer ? &h->head : &h->tail;
	s->block = producer ? &h->producer : &h->consumer;
	s->peer_block = producer ? &h->consumer : &h->producer;
	s->own = producer ? shmring__space_words(h) : shmring__data_words(h);
	s->theirs = producer ? shmring__data_words(h) : shmring__space_words(h);
	s->next = s->published = SHMRING_LOAD(s->cursor);
	/* The consumer's copy of head starts at its own tail: "empty" makes
	 * its first call look at the marks from there. */
	s->peer = producer ? SHMRING_LOAD(&h->tail) : s->next;
	s->waited = s->next; /* no slot taken since a wait: none fetches at first */
	s->bytes = SHMRING_LOAD(&s->block->bytes);
	s->stalls = SHMRING_LOAD(&s->block->stalls);
	s->whole = shmring__whole(r, producer);
	if (producer) {
		/* The holder before this one may have marked slots published
		 * and died before it stored head: the consumer may have read
		 * them, or be reading them. Start after every slot from head
		 * on that carries its position's ready mark, never writing
		 * over one; they are whole runs from head on, of at most a
		 * ring (a slot a lap on reads as not published).
		 *
		 * After the first slot not published there may be marked
		 * ones: the rest of a run whose first slot's mark, stored
		 * last (shmring__mark_run), never was. No consumer has read
		 * them, since it reads in order, and none may: this producer
		 * writes those slots anew, and a stale mark would hand the
		 * consumer a slot while it is being written. So they are
		 * marked not published first, before anything is written,
		 * from the last back: a producer killed while it clears them
		 * leaves a shorter run after the same slot, which the next
		 * one finds (front to back, it would leave marks beyond a
		 * cleared slot that no later scan reaches).
		 * (Go: Producer.start.) */
		uint64_t i, pos, end;
		for (i = 0; i < r->slot_count && shmring__sealed(r, s->next); i++)
			s->next++;
		end = s->next + 1;
		while (end < s->next + r->slot_count && shmring__sealed(r, end))
			end++;
		for (pos = end; pos > s->next + 1; pos--)
			shmring__hold(r, pos - 1, shmring__len(r, pos - 1));
	}
	if (producer && s->next > 0) {
		/* The last slot published, before head or among those just
		 * skipped: MORE (with or without CONT) says the holder this
		 * one takes over from died in the middle of a message, which
		 * this one must not continue (Go: Producer.resume). Its word
		 * is the one published: consumers never write slots, and the
		 * slot carries its position's ready mark, which a producer
		 * stores once the word is final. */
		uint32_t w = shmring__len(r, s->next - 1);
		s->mid = (w & (SHMRING_FRAG_MORE | SHMRING_FRAG_ABORT)) == SHMRING_FRAG_MORE;
	} else if (!producer && s->next > 0) {
		s->resync = 1; /* the previous holder may have died mid-message */
	}
	if (s->mid || s->resync)
		s->whole = 0;
	shmring__claim_words(r, s);
	if (producer && s->next != s->published) {
		/* What was skipped is published: head says so, for the
		 * wake-up protocol and for tools. */
		SHMRING_STORE(&h->head, s->next);
		s->published = s->next;
	}
	*held = 1;
	if (s->mid && s->next - s->peer < r->slot_count) {
		/* End the dead one's message now if a slot is free, so that a
		 * consumer waiting in it learns at once; else the first send
		 * does. */
		shmring__seal(r, s->next, SHMRING_FRAG_CONT | SHMRING_FRAG_ABORT);
		s->next++;
		s->mid = 0;
		s->whole = shmring__whole(r, 1);
		shmring__publish(s);
	}
	return 0;
}

/* shmring_producer claims the producer role for this handle. If a live
 * process holds it (this one included): SHMRING_EROLETAKEN. If the holder's
 * process is dead, this one takes the role over and resumes at the
 * published cursor, after any slots the dead one marked published beyond
 * it (it stores their end as head, and clears the marks of a run the dead
 * one cut short: "Lap marks" above); if the dead one was in the middle of
 * a fragmented message, this one does not continue it: it publishes an
 * abort slot (the consumer discards the message, SHMRING_ETORN), at once
 * if a slot is free, else before its first message. If a producer has
 * closed this ring: SHMRING_ECLOSED. If the ring uses asymmetric fences
 * and this process cannot register for membarrier(2): SHMRING_EMEMBARRIER
 * (r->membarrier_errno says why). Counters resume from what the previous
 * holder left. */
static inline int shmring_producer(struct shmring *r)
{
	return shmring__claim_role(r, 1);
}

/* shmring_consumer claims the consumer role, as shmring_producer does. A
 * consumer that takes over from a dead one resumes at the released cursor:
 * what the dead one had received but not released comes again. If the
 * dead one was in the middle of a message larger than the ring (released
 * in part), the first shmring_recv discards the rest of it and returns
 * SHMRING_ETORN. */
static inline int shmring_consumer(struct shmring *r)
{
	return shmring__claim_role(r, 0);
}

/* ---- Polls, counters, the wait ----------------------------------------- */

/* Internal: copy a side's process-local counters to its side block.
 * Statistics need no fence: release stores, whatever the ring's fences. */
static inline void shmring__flush(struct shmring__side *s)
{
	SHMRING_STORE_RELEASE(&s->block->bytes, s->bytes);
	SHMRING_STORE_RELEASE(&s->block->stalls, s->stalls);
	s->unflushed = 0;
}

/* Is there a free slot (need free slots, for a fragmented message written
 * whole)? 1 yes, 0 not yet, or an error: this producer closed, the
 * consumer closed while the ring is full, or a consumer cursor that no
 * consumer of this ring could have written: one that went back, or passed
 * what this producer marked (every slot it wrote: its marks may run ahead
 * of head, and so may tail) (Go: Producer.poll). */
static inline int shmring__prod_poll(struct shmring *r)
{
	struct shmring__side *p = &r->prod;
	uint64_t t;
	if (SHMRING_LOAD(&p->closed))
		return SHMRING_ECLOSED;
	t = SHMRING_LOAD(&r->hdr->tail);
	if (t > p->next || t < p->peer || p->published > t + r->slot_count)
		return SHMRING_ECORRUPT;
	p->peer = t;
	if (p->next - t + p->need <= r->slot_count)
		return 1;
	if (SHMRING_LOAD(&r->hdr->state) & SHMRING_STATE_CONSUMER_CLOSED)
		return SHMRING_ECLOSED;
	return 0;
}

/* Look for messages published beyond the consumer's copy of head: is
 * there a message (need published slots, for a fragmented message read
 * whole)? It reads the lap marks of the slots from c->peer on, not head,
 * up to a ring beyond what this consumer released, and moves c->peer past
 * every slot marked published: the message comes with the cache line of
 * its slot, not after head's too. (Go: Consumer.refresh, scan.) */
static inline int shmring__cons_refresh(struct shmring *r)
{
	struct shmring__side *c = &r->cons;
	uint64_t h = c->peer, end = c->published + r->slot_count;
	while (h != end && shmring__sealed(r, h))
		h++;
	c->peer = h;
	return h - c->next >= c->need;
}

/* When the consumer's wait fetches the second cache line of the slot it
 * waits for at every poll (Go: Consumer.fetching, fetchNext; docs/DESIGN.md,
 * "Smaller choices"): the copy out reads that line only after the first
 * line's word said the slot is published, a second miss to the producer's
 * CPU after the first, which the CPU hides unasked in slots of up to
 * SHMRING__FETCH_SLOT bytes. In a ping-pong (one slot taken since the last
 * wait) of messages of one slot that spill into that line, of at most
 * SHMRING__FETCH_MAX bytes, in a wait for one slot: polls that take the
 * line back while the producer writes a long message cost more than they
 * save. */
#define SHMRING__FETCH_SLOT 768
#define SHMRING__FETCH_MAX 256

/* Internal: does the consumer's wait about to begin fetch? The last
 * message's word is an atomic load: the slot may be released, and the
 * producer writing it again; a fragment's flags make the length larger
 * than SHMRING__FETCH_MAX. */
static inline int shmring__fetching(const struct shmring *r)
{
	const struct shmring__side *c = &r->cons;
	uint32_t n;
	if (r->slot_size <= SHMRING__FETCH_SLOT || c->need != 1 || c->next - c->waited != 1)
		return 0;
	n = SHMRING_LOAD(shmring__word(r, c->next - 1)) & ~SHMRING_LAP_BIT;
	return n > 64 - SHMRING_LEN_SIZE && n <= SHMRING__FETCH_MAX;
}

/* Is there a message? 1 yes, 0 not yet, SHMRING_EOF once the producer has
 * closed and everything was received, or an error (Go: Consumer.poll). */
static inline int shmring__cons_poll(struct shmring *r)
{
	int rc;
	if (SHMRING_LOAD(&r->cons.closed))
		return SHMRING_ECLOSED;
	if ((rc = shmring__cons_refresh(r)) != 0)
		return rc;
	if (SHMRING_LOAD(&r->hdr->state) & SHMRING_STATE_PRODUCER_CLOSED) {
		/* The producer publishes before it sets the bit: look again. */
		if ((rc = shmring__cons_refresh(r)) != 0)
			return rc;
		if (SHMRING_LOAD(&r->cons.closed))
			return SHMRING_ECLOSED;
		/* Also with part of a message that fits the ring published
		 * (need > 1): its producer closed without finishing it (a Go
		 * producer whose ring was closed under its send, or one of
		 * this header's closed from another thread). shmring_recv
		 * tears it. */
		return SHMRING_EOF;
	}
	return 0;
}

/* Can side s go on: a free slot for the producer, a message for the
 * consumer? As the two polls above (Go: poller.poll). */
static inline int shmring__poll(struct shmring *r, struct shmring__side *s)
{
	return s->producer ? shmring__prod_poll(r) : shmring__cons_poll(r);
}

/* Go: checkPeer. A free role is not death (closing is reported by poll);
 * a stopped peer is reported at the second check in a row that finds it
 * stopped. */
static inline int shmring__check_peer(struct shmring_side *peer, int *stopped)
{
	uint64_t id = SHMRING_LOAD(&peer->owner);
	if (id == 0) {
		*stopped = 0;
		return 0;
	}
	switch (shmring_identity_status(id)) {
	case SHMRING_PROC_DEAD:
		return SHMRING_EPEERDEAD;
	case SHMRING_PROC_STOPPED:
		if (*stopped)
			return SHMRING_EPEERSTOPPED;
		*stopped = 1;
		break;
	default:
		*stopped = 0;
	}
	return 0;
}

/* The wake-up protocol (Go: ring/wait.go). The sleeper (here the
 * consumer; the producer on a full ring mirrors it, polling tail) and the
 * waker:
 *
 *     consumer (shmring__wait)             producer (shmring__publish)
 *     s = data_seq                         write the slot, mark it (M)
 *     consumer_sleeping = 1        (A)     head = h                    (C)
 *     [asymmetric: membarrier]             if consumer_sleeping != 0   (D)
 *     poll: slot marked? -> done   (B)       and swap(it, 0) != 0:
 *     futex_wait(&data_seq, s)                 data_seq++
 *     consumer_sleeping = 0                    futex_wake(&data_seq)
 *
 * A and C are stores, B and D loads. With symmetric fences all four are
 * sequentially consistent, so A-then-B and C-then-D cannot both miss the
 * other's store: either B sees what C published, or D sees the flag. B
 * reads the lap mark (M, a release store) rather than head (layout 4.0),
 * and M comes before C: whatever makes C visible to B (the full fence of a
 * sequentially consistent store, or the membarrier below) makes M visible
 * too. Reading s before A makes a bump that comes before the futex_wait
 * fail it at once (the kernel compares the word), and one after it find
 * the sleeper queued.
 *
 * With asymmetric fences (SHMRING_FLAG_ASYMMETRIC) C is a release store and
 * D may be performed before C is visible to other CPUs (x86 store buffer),
 * so the argument fails on its own. The sleeper makes up for it: between A
 * and B it calls membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED), which runs a
 * full barrier on every CPU running a thread of a registered process (every
 * process that claims a role registers first). The barrier lands between
 * two instructions of the waker: if D came before it, so did C, which the
 * barrier makes visible before B; if D came after, it comes after A and
 * sees the flag. A waker that is not running was switched out, a barrier
 * too. C and D must stay in that order in the machine code: the compiler
 * barrier after the release store (shmring__store_cursor) sees to it.
 *
 * The membarrier costs the sleeper microseconds. A side that sleeps at once
 * (SHMRING_WAIT_FUTEX) asks the waker for full fences instead
 * (*_wants_fence, set at claim); the waker answers at its next wake by
 * switching to sequentially consistent stores and setting its *_fenced
 * word; a sleeper that reads the answer skips the membarrier, and the
 * symmetric argument holds again (shmring__wake_peer, shmring__claim_words).
 */

/* The wait of side s (Go: Ring.waitFor). deadline_ns is
 * absolute CLOCK_MONOTONIC, 0 for none. Returns 0 when the poll succeeds,
 * or an error. The sleeper's half of the protocol above:
 *
 *     s = *seq; *sleeping = 1;
 *     in an asymmetric ring, unless the peer answered with full fences:
 *         membarrier (on failure: *sleeping = 0, SHMRING_EMEMBARRIER);
 *     if the poll succeeds: *sleeping = 0, done;
 *     futex_wait(seq, s); *sleeping = 0; loop */
static inline int shmring__wait(struct shmring *r, struct shmring__side *s, int64_t deadline_ns)
{
	struct shmring__futex_words w = s->own;
	SHMRING_ATOMIC(uint32_t) *seq = w.seq;
	SHMRING_ATOMIC(uint32_t) *sleeping = w.sleeping;
	enum shmring_wait_mode mode = r->opts.wait;
	/* The liveness schedule outlives a wait that timed out, so that a
	 * caller looping on timeouts shorter than the liveness interval still
	 * has its peer checked. */
	int64_t spin_until = 0, yield_until = 0, next_check = s->next_check;
	int yielding = 0, stopped = s->stopped, rc;
	const unsigned char *fetch = NULL; /* the line shmring__fetching asks for */
	uint64_t i;

	/* Counted as blocked before touching the segment; shmring_close sets
	 * closed, then waits for blocked to drop to 0 (both sequentially
	 * consistent, so one of the two sees the other). On success the
	 * count stays up: the caller drops it (shmring__unblock) once it is
	 * done with the slot it waited for. */
	SHMRING_ADD(&r->blocked, 1);
	if (SHMRING_LOAD(&r->closed)) {
		SHMRING_ADD(&r->blocked, -1);
		return SHMRING_ECLOSED;
	}
	if (!s->producer) {
		if (shmring__fetching(r))
			fetch = shmring__slot(r, s->peer) + 64;
		s->waited = s->next;
	}
	for (i = 0;; i++) {
		int sleep = 0;
		int64_t now, dl;
		uint32_t v;

		rc = shmring__poll(r, s);
		if (rc != 0)
			break;
		if (fetch != NULL)
			shmring__prefetch(fetch);
		if (mode == SHMRING_WAIT_FUTEX) {
			sleep = 1;
		} else if (mode == SHMRING_WAIT_SPIN || !yielding) {
			shmring__cpu_relax();
			if ((i & 63) != 63)
				continue;
			if ((i & 1023) == 1023 && mode == SHMRING_WAIT_SPIN)
				sched_yield(); /* so that it still ends on one CPU */
			if (mode != SHMRING_WAIT_SPIN) {
				int64_t t = shmring_now_ns();
				if (spin_until == 0) {
					spin_until = t + r->opts.spin_ns;
				} else if (t >= spin_until) {
					yielding = 1;
					yield_until = t + r->opts.yield_ns;
				}
			}
			if ((i & 1023) != 1023)
				continue;
		} else {
			sched_yield();
			if (mode == SHMRING_WAIT_ADAPTIVE && shmring_now_ns() >= yield_until)
				sleep = 1;
			else if ((i & 63) != 63)
				continue;
		}
		now = shmring_now_ns();
		if (deadline_ns > 0 && now >= deadline_ns) {
			rc = SHMRING_ETIMEOUT;
			break;
		}
		if (next_check == 0) {
			next_check = now + r->opts.liveness_ns;
		} else if (now >= next_check) {
			if ((rc = shmring__check_peer(s->peer_block, &stopped)) != 0) {
				/* The peer may have published (or freed) a
				 * slot between the last poll and its death or
				 * stop; it can do no more now, so one last
				 * poll is final, as in Go: the peer is
				 * reported only if it finds nothing. */
				int last = shmring__poll(r, s);
				if (last != 0)
					rc = last;
				break;
			}
			next_check = now + r->opts.liveness_ns;
		}
		if (!sleep)
			continue;

		dl = next_check;
		if (deadline_ns > 0 && deadline_ns < dl)
			dl = deadline_ns;
		shmring__flush(s);
		v = SHMRING_LOAD(seq);
		SHMRING_STORE(sleeping, 1u);
		if (r->asymmetric && SHMRING_LOAD(w.fenced) == 0) {
			/* The peer's last cursor store may still sit in its
			 * CPU's store buffer, and its flag load may have
			 * passed it: this barrier runs on that CPU and makes
			 * the store visible to the poll below. */
			s->membarriers++;
			if ((rc = shmring__membarrier_heavy()) != 0) {
				SHMRING_STORE(sleeping, 0u);
				SHMRING_STORE(&r->membarrier_errno, -rc);
				rc = SHMRING_EMEMBARRIER;
				break;
			}
		}
		rc = shmring__poll(r, s);
		if (rc != 0) {
			SHMRING_STORE(sleeping, 0u);
			break;
		}
		SHMRING_ADD(&s->block->waits, UINT64_C(1));
		rc = shmring__futex_wait(seq, v, dl);
		SHMRING_STORE(sleeping, 0u);
		if (rc != 0)
			break;
	}
	if (rc == SHMRING_ETIMEOUT) {
		s->next_check = next_check;
		s->stopped = stopped;
	} else {
		s->next_check = 0;
		s->stopped = 0;
	}
	if (rc < 0) {
		/* A failed wait is a good time to bring the counters up to
		 * date. */
		shmring__flush(s);
		SHMRING_ADD(&r->blocked, -1);
		return rc;
	}
	return 0;
}

/* Internal: ends what a successful shmring__wait began, once the call is
 * done with the segment (waited: whether it waited). */
static inline void shmring__unblock(struct shmring *r, int waited)
{
	if (waited)
		SHMRING_ADD(&r->blocked, -1);
}

/* Internal: the waits of one sending or receiving call. A call waits once
 * for a message that fits a slot, and may wait more often for a fragmented
 * one: the deadline is the call's, fixed at its first wait, and the call
 * counts as blocked once (waited) from its first successful wait until it
 * is done with the segment (shmring__unblock). */
struct shmring__call {
	int64_t timeout_ns; /* as shmring_send and shmring_recv take it */
	int64_t deadline;   /* absolute CLOCK_MONOTONIC; 0: none, or not fixed yet */
	int waited;
};

/* Internal: the wait of a call whose copy of the peer's cursor says the
 * ring is full (producer) or empty (consumer), or has fewer than s->need
 * free or published slots. It polls, and waits if the poll agrees, up to
 * the call's deadline; none is the code of a call that may not wait
 * (timeout_ns 0). Returns 0 once the poll found room or a message, or an
 * error. Every wait counts one stall, however it ends: the meaning of the
 * shared stalls counter, the same as Go's (Go: waitFor, beforeWait). */
static inline int shmring__await(struct shmring *r, struct shmring__side *s, struct shmring__call *call, int none)
{
	int rc = shmring__poll(r, s);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	if (call->timeout_ns == 0)
		return none;
	if (call->timeout_ns > 0 && call->deadline == 0)
		call->deadline = shmring_now_ns() + call->timeout_ns;
	s->stalls++;
	rc = shmring__wait(r, s, call->deadline);
	if (rc != 0)
		return rc;
	if (call->waited)
		SHMRING_ADD(&r->blocked, -1); /* the call was counted already */
	call->waited = 1;
	return 0;
}

/* Internal: publish side s's position as its cursor, head or tail (a
 * release store in an asymmetric ring, else sequentially consistent), then
 * wake the peer only if it said it may sleep, and copy the counters to the
 * header when they are due (Go: Producer.publish, Consumer.release). */
static inline void shmring__publish(struct shmring__side *s)
{
	s->published = s->next;
	shmring__store_cursor(s->cursor, s->next, s->relaxed);
	shmring__wake_peer(s->theirs, &s->relaxed, s->block);
	if (++s->unflushed >= SHMRING_FLUSH_EVERY)
		shmring__flush(s);
}

/* Internal: close side s, which this handle holds if held (Go:
 * Producer.Close, Consumer.Close, Ring.closeSide): set its CLOSED bit,
 * free the role and wake both futex words, so that a call blocked in
 * either side, here or in the peer, returns. Another thread may be inside
 * a call of the side, so this touches nothing of its process-local state
 * but the closed flag (shmring_close flushes the counters). */
static inline int shmring__close_side(struct shmring *r, struct shmring__side *s, int held)
{
	int zero = 0;
	if (!held)
		return SHMRING_ENOROLE;
	if (!SHMRING_CAS(&s->closed, &zero, 1))
		return SHMRING_ECLOSED;
	SHMRING_OR(&r->hdr->state, s->closed_bit);
	SHMRING_STORE(&s->block->owner, UINT64_C(0));
	shmring__wake(&r->hdr->data_seq);
	shmring__wake(&r->hdr->space_seq);
	return 0;
}

/* ---- Fragments --------------------------------------------------------- */

/* Internal: what a slot's length word w, without its lap mark
 * (shmring__len), says it is (docs/LAYOUT.md, "Fragments"), its flags and
 * length both checked; SHMRING__BAD for any word no producer of this ring
 * writes. A whole message fits the slot, a
 * first fragment and a middle one are full, a last one holds at least a
 * byte, an abort nothing. (Go: fragment.go, Consumer.first.) */
enum shmring__kind { SHMRING__WHOLE, SHMRING__FIRST, SHMRING__MIDDLE, SHMRING__LAST, SHMRING__ABORT, SHMRING__BAD };

static inline enum shmring__kind shmring__kind_of(const struct shmring *r, uint32_t w)
{
	uint64_t n = w & SHMRING_FRAG_LEN, pay = r->slot_size - SHMRING_LEN_SIZE;
	switch (w & SHMRING_FRAG_FLAGS) {
	case 0: /* no longer than max_message either */
		return n <= r->slot_whole ? SHMRING__WHOLE : SHMRING__BAD;
	case SHMRING_FRAG_MORE:
		/* In slots under 16 bytes pay - 8 wraps: no length matches. */
		return n == pay - SHMRING_TOTAL_SIZE ? SHMRING__FIRST : SHMRING__BAD;
	case SHMRING_FRAG_MORE | SHMRING_FRAG_CONT:
		return n == pay ? SHMRING__MIDDLE : SHMRING__BAD;
	case SHMRING_FRAG_CONT:
		return n >= 1 && n <= pay ? SHMRING__LAST : SHMRING__BAD;
	case SHMRING_FRAG_CONT | SHMRING_FRAG_ABORT:
		return n == 0 ? SHMRING__ABORT : SHMRING__BAD;
	}
	return SHMRING__BAD;
}

/* Internal: how many slots a side writes or reads of a fragmented message
 * between two stores of its cursor (the producer: of any fragmented
 * message; the consumer: of one larger than the ring): a quarter of the
 * ring, or 32 KiB of slots if that is fewer, and at least one, so that the
 * peer copies one run while this side copies the next, at a store per
 * 32 KiB (Go: streamRunFor). */
static inline uint64_t shmring__run(const struct shmring *r)
{
	uint64_t quarter = r->slot_count / 4, run = ((32u << 10) + r->slot_size - 1) / r->slot_size;
	if (quarter < run)
		run = quarter;
	return run > 0 ? run : 1;
}

/* Internal: write the part of msg (len bytes) that starts at byte off into
 * the slot of position pos, as the fragment it is, and return its length:
 * the whole message (off 0, len no more than a slot's payload), a first
 * fragment (off 0: the length word, the total, slot_size - 12 bytes), a
 * middle one (slot_size - 4 bytes, more to come) or the last. The payload
 * goes first, then the length word with the mark of a slot not yet
 * published (shmring__hold): the publication that carries the fragment
 * marks it, with the rest of its run, the run's first slot last
 * (shmring__publish_run), so that a consumer sees the message's slots
 * that fit the ring all or none (Go: putFragments). */
static inline uint64_t shmring__put(const struct shmring *r, uint64_t pos, const unsigned char *msg, uint64_t len,
				    uint64_t off)
{
	unsigned char *slot = shmring__slot(r, pos), *at = slot + SHMRING_LEN_SIZE;
	uint64_t pay = r->slot_size - SHMRING_LEN_SIZE, n;
	uint32_t w;
	if (off == 0 && len <= pay) {
		n = len;
		w = (uint32_t)n;
	} else if (off == 0) {
		n = pay - SHMRING_TOTAL_SIZE;
		w = SHMRING_FRAG_MORE | (uint32_t)n;
		memcpy(at, &len, SHMRING_TOTAL_SIZE);
		at += SHMRING_TOTAL_SIZE;
	} else if (len - off > pay) {
		n = pay;
		w = SHMRING_FRAG_MORE | SHMRING_FRAG_CONT | (uint32_t)n;
	} else {
		n = len - off;
		w = SHMRING_FRAG_CONT | (uint32_t)n;
	}
	if (n > 0)
		memcpy(at, msg + off, (size_t)n);
	shmring__hold(r, pos, w);
	return n;
}

/* Internal: copy the continuation at position pos of a message of total
 * bytes, *got of which are in out already, after them, checking it against
 * what is left: a middle fragment must leave some, a last one take exactly
 * the rest. Returns SHMRING__MIDDLE, SHMRING__LAST, SHMRING__ABORT (nothing
 * copied), or SHMRING__BAD for anything else (a whole message or a first
 * fragment where a continuation was due included). */
static inline enum shmring__kind shmring__get(const struct shmring *r, uint64_t pos, unsigned char *out, uint64_t total,
					      uint64_t *got)
{
	const unsigned char *slot = shmring__slot(r, pos);
	uint32_t w = shmring__len(r, pos);
	uint64_t n;
	enum shmring__kind k;
	n = w & SHMRING_FRAG_LEN;
	k = shmring__kind_of(r, w);
	if ((k == SHMRING__MIDDLE && n < total - *got) || (k == SHMRING__LAST && n == total - *got)) {
		memcpy(out + *got, slot + SHMRING_LEN_SIZE, (size_t)n);
		*got += n;
		return k;
	}
	return k == SHMRING__ABORT ? k : SHMRING__BAD;
}

/* ---- Producer ---------------------------------------------------------- */

/* Internal: publish the fragments the producer wrote since it last
 * published, positions published to next - 1: mark them as one run, its
 * first slot last (shmring__mark_run), then store head (Go:
 * Producer.publishLarge). Each was written with shmring__hold: a slot the
 * producer marks at once (a message in one slot, an abort) it publishes
 * at once too, so none lies in that range. */
static inline void shmring__publish_run(struct shmring *r)
{
	struct shmring__side *p = &r->prod;
	if (p->next != p->published)
		shmring__mark_run(r, p->published, p->next);
	shmring__publish(p);
}

/* Internal: make room for need more slots, publishing what the call has
 * written first (the consumer may be waiting for it), and waiting as the
 * call may (Go: Producer.waitSpace). */
static inline int shmring__room(struct shmring *r, struct shmring__call *call, uint64_t need)
{
	struct shmring__side *p = &r->prod;
	int rc;
	if (p->next - p->peer + need <= r->slot_count)
		return 0;
	if (p->next != p->published)
		shmring__publish_run(r);
	p->need = need;
	rc = shmring__await(r, p, call, SHMRING_EFULL);
	p->need = 1;
	return rc;
}

/* Internal: shmring_send for what the single-slot path does not take: a
 * message longer than a slot holds whole, or any message while the
 * producer is mid-message (p->whole is 0 then). See "Messages of any
 * size" above. */
static inline int shmring__send_slow(struct shmring *r, const unsigned char *msg, size_t len, int64_t timeout_ns)
{
	struct shmring__side *p = &r->prod;
	struct shmring__call call = {timeout_ns, 0, 0};
	uint64_t k, off = 0, i;
	int rc;

	if (len > r->max_message)
		return SHMRING_ETOOLARGE;
	k = shmring__fragments(len, r->slot_size);
	if (k > r->slot_count && timeout_ns == 0)
		return SHMRING_ETOOLARGE; /* it is never in the ring whole */
	if (SHMRING_LOAD(&p->closed) || (SHMRING_LOAD(&r->hdr->state) & SHMRING_STATE_CONSUMER_CLOSED))
		return SHMRING_ECLOSED;
	if (p->mid) {
		/* End the message left unfinished: an abort, published on
		 * its own, so that it stays published whatever becomes of
		 * this message. */
		if ((rc = shmring__room(r, &call, 1)) != 0)
			return rc;
		shmring__seal(r, p->next, SHMRING_FRAG_CONT | SHMRING_FRAG_ABORT);
		p->next++;
		p->mid = 0;
		p->whole = shmring__whole(r, 1);
		shmring__publish(p);
	}
	if (k <= r->slot_count) {
		/* It fits the ring: written once there is room for all of it,
		 * so a call that fails publishes none of it, then published a
		 * run at a time with no wait in between (each run's slots
		 * marked the first last, head stored), so that the consumer
		 * copies one run while the next is written. */
		if ((rc = shmring__room(r, &call, k)) == 0) {
			uint64_t run = shmring__run(r);
			for (i = 0; i < k; i++) {
				off += shmring__put(r, p->next, msg, len, off);
				p->next++;
				if (i + 1 < k && p->next - p->published >= run)
					shmring__publish_run(r);
			}
			p->bytes += len;
			shmring__publish_run(r);
		}
		shmring__unblock(r, call.waited);
		return rc;
	}
	/* Larger than the ring: streamed, published a run at a time (a run
	 * is less than the ring, and so is what shmring__room publishes:
	 * the slot before head keeps the last word published, which a
	 * producer taking the role over reads). */
	if ((rc = shmring__room(r, &call, 1)) != 0) {
		shmring__unblock(r, call.waited);
		return rc;
	}
	for (;;) {
		off += shmring__put(r, p->next, msg, len, off);
		p->next++;
		if (off == len)
			break;
		if (p->next - p->published >= shmring__run(r))
			shmring__publish_run(r);
		if ((rc = shmring__room(r, &call, 1)) != 0) {
			/* What was written is published (shmring__room):
			 * the next publication must be an abort. */
			p->mid = 1;
			p->whole = 0;
			shmring__unblock(r, call.waited);
			return rc;
		}
	}
	p->bytes += len;
	shmring__publish_run(r);
	shmring__unblock(r, call.waited);
	return 0;
}

/* shmring_send copies msg (len bytes, at most shmring_max_message) into the
 * ring and publishes it, waiting while the ring is full: forever if
 * timeout_ns < 0, not at all if 0 (SHMRING_EFULL), up to timeout_ns
 * nanoseconds if > 0 (SHMRING_ETIMEOUT). A message longer than a slot's
 * payload goes in fragments ("Messages of any size" above): one that fits
 * the ring waits until all its slots are free, and is then published a run
 * of 32 KiB of slots at a time, with no further wait;
 * one larger than the ring is streamed, which needs waiting: with
 * timeout_ns 0 it is refused (SHMRING_ETOOLARGE; Go: TrySend).
 * Errors: SHMRING_ETOOLARGE (longer than max_message, or larger than the
 * ring with timeout_ns 0), SHMRING_ENOROLE (no producer role),
 * SHMRING_ECLOSED (this producer closed, or the consumer has closed:
 * nothing would read the message), SHMRING_EPEERDEAD (the consumer's
 * process died while the ring was full: it was still full after the
 * consumer was found dead), SHMRING_EPEERSTOPPED (it was stopped for a
 * liveness interval; call again to keep waiting), SHMRING_ECORRUPT. Nothing
 * was sent on error, except of a message larger than the ring, whose
 * beginning may have been published: the consumer will discard it
 * (SHMRING_ETORN), and this producer's next send publishes an abort slot
 * first, which it may wait for as that call may. The peer's liveness is
 * checked every o->liveness_ns of waiting, counted across calls that time
 * out, so a loop of short timeouts is told of a dead peer as soon as one
 * long wait would be. Each wait counts one stall
 * (shmring_side_stats.stalls), however it ends. (Go: Producer.Send,
 * TrySend.) */
static inline int shmring_send(struct shmring *r, const void *msg, size_t len, int64_t timeout_ns)
{
	struct shmring__side *p = &r->prod;
	struct shmring__call call = {timeout_ns, 0, 0};
	unsigned char *slot;
	int rc;

	if (!r->has_producer)
		return SHMRING_ENOROLE;
	if (len >= p->whole)
		return shmring__send_slow(r, (const unsigned char *)msg, len, timeout_ns);
	if (SHMRING_LOAD(&p->closed) || (SHMRING_LOAD(&r->hdr->state) & SHMRING_STATE_CONSUMER_CLOSED))
		return SHMRING_ECLOSED;
	if (p->next - p->peer >= r->slot_count && (rc = shmring__await(r, p, &call, SHMRING_EFULL)) != 0)
		return rc;
	slot = shmring__slot(r, p->next);
	if (len > 0)
		memcpy(slot + SHMRING_LEN_SIZE, msg, len);
	shmring__seal(r, p->next, (uint32_t)len);
	p->next++;
	p->bytes += len;
	shmring__publish(p);
	shmring__unblock(r, call.waited);
	return 0;
}

/* shmring_producer_close ends this handle's producer: what was sent stays
 * for the consumer, which drains it and then gets SHMRING_EOF. It sets
 * PRODUCER_CLOSED, frees the role and wakes both futex words (a send
 * blocked in another thread returns SHMRING_ECLOSED). A second call returns
 * SHMRING_ECLOSED; without the role, SHMRING_ENOROLE. It does not detach:
 * shmring_close does. It publishes no abort for a message left unfinished
 * (it may run while a send does, in another thread): a consumer in the
 * middle of that message gets SHMRING_ETORN, then SHMRING_EOF. */
static inline int shmring_producer_close(struct shmring *r)
{
	return shmring__close_side(r, &r->prod, r->has_producer);
}

/* ---- Consumer ---------------------------------------------------------- */

/* Internal: wait until need slots are published beyond the consumer's
 * position, releasing what the call has read first (the producer may be
 * waiting for it), and waiting as the call may (Go: Consumer.waitData). */
static inline int shmring__more(struct shmring *r, struct shmring__call *call, uint64_t need)
{
	struct shmring__side *c = &r->cons;
	int rc;
	if (c->peer - c->next >= need)
		return 0;
	if (c->next != c->published)
		shmring__publish(c);
	c->need = need;
	rc = shmring__await(r, c, call, SHMRING_EEMPTY);
	c->need = 1;
	return rc;
}

/* Internal: the code of a receiving call whose wait failed with rc. A
 * producer that closed in the middle of a message will never finish it:
 * the message is torn, and the end of the stream comes next. A run of it
 * published after the close (a Go producer whose ring was closed under its
 * send, one of this header's closed from another thread) is still
 * discarded (mid 2: the caller was told). */
static inline int shmring__recv_failed(struct shmring *r, int rc)
{
	struct shmring__side *c = &r->cons;
	if (rc == SHMRING_EOF && c->mid == 1) {
		c->mid = 2;
		return SHMRING_ETORN;
	}
	if (rc == SHMRING_EOF && c->mid == 2) {
		c->mid = 0;
		c->whole = c->resync ? 0 : shmring__whole(r, 0);
	}
	return rc;
}

/* Internal: discard the rest of a message: one a call of this consumer
 * left unfinished (mid), or, first after a claim (resync), one the
 * previous holder of the role died in the middle of, if the slot at tail
 * continues a message. It releases slots up to and including the
 * message's last fragment or abort, and returns SHMRING_ETORN; or 0 if
 * resync finds a message beginning at tail; or an error, after which the
 * next call goes on discarding. */
static inline int shmring__skip(struct shmring *r, struct shmring__call *call)
{
	struct shmring__side *c = &r->cons;
	for (;;) {
		enum shmring__kind k;
		uint32_t w;
		uint64_t n;
		int rc;
		if (c->next - c->published >= shmring__run(r))
			shmring__publish(c);
		if ((rc = shmring__more(r, call, 1)) != 0) {
			/* This call discarded a run published after the
			 * producer closed (mid 2: it is entered only with a
			 * slot to take): it says so, as Go's skip does, and
			 * the end of the stream comes next. */
			if (rc == SHMRING_EOF && c->mid == 2)
				return SHMRING_ETORN;
			return shmring__recv_failed(r, rc);
		}
		w = shmring__len(r, c->next);
		if (c->resync) {
			c->resync = 0;
			if ((w & SHMRING_FRAG_CONT) == 0) {
				c->whole = shmring__whole(r, 0);
				return 0;
			}
			c->mid = 1;
			c->left = UINT64_MAX; /* how much is left is not known */
		}
		k = shmring__kind_of(r, w);
		n = w & SHMRING_FRAG_LEN;
		if (k == SHMRING__MIDDLE && n < c->left) {
			if (c->left != UINT64_MAX)
				c->left -= n;
			c->next++;
			continue;
		}
		if (!(k == SHMRING__ABORT || (k == SHMRING__LAST && (c->left == UINT64_MAX || n == c->left))))
			return SHMRING_ECORRUPT;
		c->next++;
		c->mid = 0;
		c->whole = shmring__whole(r, 0);
		shmring__publish(c);
		return SHMRING_ETORN;
	}
}

/* Internal: shmring_recv for what the single-slot path does not take: a
 * fragment, a length word no producer writes, or any slot while a message
 * is to be discarded (c->whole is 0 then). call is the call's, which may
 * have waited already. See "Messages of any size" above. */
static inline int shmring__recv_slow(struct shmring *r, unsigned char *out, size_t cap, size_t *len,
				     struct shmring__call *call)
{
	struct shmring__side *c = &r->cons;
	const uint64_t pay = r->slot_size - SHMRING_LEN_SIZE;
	const unsigned char *slot;
	uint64_t total, got, k, i;
	uint32_t w;
	enum shmring__kind kind;
	int rc = 0;

	if (c->mid || c->resync) {
		rc = shmring__skip(r, call);
		if (rc != 0)
			goto out;
	}
	if ((rc = shmring__more(r, call, 1)) != 0)
		goto out;
	slot = shmring__slot(r, c->next);
	w = shmring__len(r, c->next);
	kind = shmring__kind_of(r, w);
	if (kind == SHMRING__WHOLE) { /* after a resync or a discarded message */
		*len = w;
		if (w > cap) {
			rc = SHMRING_ESHORTBUF;
			goto out;
		}
		if (w > 0)
			memcpy(out, slot + SHMRING_LEN_SIZE, w);
		c->next++;
		c->bytes += w;
		shmring__publish(c);
		goto out;
	}
	/* A continuation here is one of a message that began before this
	 * consumer's position, where no discarding is due: no producer of
	 * this ring writes that. */
	if (kind != SHMRING__FIRST) {
		rc = SHMRING_ECORRUPT;
		goto out;
	}
	/* The total, checked before anything is sized from it: a fragmented
	 * message does not fit a slot and fits max_message, so its fragment
	 * count follows from it and is small enough to add up. */
	memcpy(&total, slot + SHMRING_LEN_SIZE, SHMRING_TOTAL_SIZE);
	if (total <= pay || total > r->max_message) {
		rc = SHMRING_ECORRUPT;
		goto out;
	}
	*len = (size_t)total;
	if (total > cap) {
		rc = SHMRING_ESHORTBUF;
		goto out;
	}
	got = pay - SHMRING_TOTAL_SIZE;
	k = shmring__fragments(total, r->slot_size);
	if (k > r->slot_count && call->timeout_ns == 0) {
		rc = SHMRING_ETOOLARGE; /* it is never in the ring whole */
		goto out;
	}
	if (k <= r->slot_count) {
		/* Published in runs once its producer has room for all of it:
		 * read each fragment once it is published (so that a producer
		 * that died in the middle of it, and the abort of the one that
		 * took over, are seen without waiting for k slots), release it
		 * all with one store. A wait that ends, with timeout_ns 0 too,
		 * leaves it where it is.
		 *
		 * With timeout_ns 0 the fragments' words are looked at first,
		 * and nothing is copied while the poll finds the message
		 * unfinished: a caller polling while a long message is
		 * published would otherwise copy its published part again at
		 * every call (Go: Consumer.TryRecv, arrived). The look stops
		 * where the loop below would stop without waiting: at a closed
		 * producer or consumer, and at a word that is no fragment of
		 * this message (an abort, or a corrupt one), which the loop
		 * then reports. */
		if (call->timeout_ns == 0) {
			/* The kinds suffice: one before the last is a middle
			 * fragment only if full (shmring__kind_of), and the
			 * last one's length, which the look reaches only once
			 * all is published, the copy checks. */
			for (i = 1; i < k; i++) {
				if ((rc = shmring__more(r, call, i + 1)) == SHMRING_EEMPTY)
					goto out;
				if (rc != 0)
					break;
				kind = shmring__kind_of(r, shmring__len(r, c->next + i));
				if (kind != (i + 1 < k ? SHMRING__MIDDLE : SHMRING__LAST))
					break;
			}
			rc = 0;
		}
		memcpy(out, slot + SHMRING_LEN_SIZE + SHMRING_TOTAL_SIZE, (size_t)got);
		for (i = 1; i < k; i++) {
			if ((rc = shmring__more(r, call, i + 1)) == SHMRING_EOF) {
				/* Its producer closed in the middle of it (a Go
				 * producer whose ring was closed under its send,
				 * or one of this header's closed from another
				 * thread): torn. What was published of it goes,
				 * and the rest, should a run of it still come
				 * after the close, is discarded as after any
				 * torn recv; the end of the stream follows. */
				c->next = c->peer;
				c->mid = 2;
				c->left = total - got;
				c->whole = 0;
				shmring__publish(c);
				rc = SHMRING_ETORN;
				goto out;
			}
			if (rc != 0)
				goto out;
			kind = shmring__get(r, c->next + i, out, total, &got);
			if (kind == SHMRING__ABORT) { /* as Go: torn, not corrupt */
				c->next += i + 1;
				shmring__publish(c);
				rc = SHMRING_ETORN;
				goto out;
			}
			if (kind != (i + 1 < k ? SHMRING__MIDDLE : SHMRING__LAST)) {
				rc = SHMRING_ECORRUPT; /* it stays, for the next call to find */
				goto out;
			}
		}
		c->next += k;
		c->bytes += total;
		shmring__publish(c);
		goto out;
	}
	/* Larger than the ring: read as it is published, released a run at
	 * a time. */
	memcpy(out, slot + SHMRING_LEN_SIZE + SHMRING_TOTAL_SIZE, (size_t)got);
	c->next++;
	for (;;) {
		if (c->next - c->published >= shmring__run(r))
			shmring__publish(c);
		if ((rc = shmring__more(r, call, 1)) != 0) {
			/* Ended in the middle: the next call discards the rest. */
			c->mid = 1;
			c->left = total - got;
			c->whole = 0;
			rc = shmring__recv_failed(r, rc);
			goto out;
		}
		kind = shmring__get(r, c->next, out, total, &got);
		if (kind == SHMRING__BAD) {
			rc = SHMRING_ECORRUPT;
			goto out;
		}
		c->next++;
		if (kind == SHMRING__LAST) {
			c->bytes += total;
			shmring__publish(c);
			goto out;
		}
		if (kind == SHMRING__ABORT) { /* its producer gave up on it */
			shmring__publish(c);
			rc = SHMRING_ETORN;
			goto out;
		}
	}
out:
	if (rc == SHMRING_ETORN)
		*len = 0;
	shmring__unblock(r, call->waited);
	return rc;
}

/* shmring_recv copies the next message into buf (cap bytes) and stores its
 * length in *len, waiting while the ring is empty: forever if timeout_ns <
 * 0, not at all if 0 (SHMRING_EEMPTY), up to timeout_ns if > 0
 * (SHMRING_ETIMEOUT). It returns SHMRING_EOF once the producer has closed
 * and every message was received. If buf is too short it returns
 * SHMRING_ESHORTBUF with the message's length in *len, and the message
 * stays (fragmented or not, even larger than the ring: the first fragment
 * has the length). A fragmented message that fits the ring is copied as its
 * fragments are published, and released at once when all of it is read; a
 * wait that ends in the middle of it leaves it where it is, for the next
 * call. With timeout_ns 0, a call that finds it not all published, and
 * nothing wrong with what is, writes nothing to buf and returns
 * SHMRING_EEMPTY, as Go's TryRecv returns ErrEmpty. One larger than the
 * ring is copied as it comes and released a run at a time, which needs
 * waiting: with timeout_ns 0 it is refused, and stays (SHMRING_ETOOLARGE,
 * with its length in *len; Go: TryRecv). A call that ends in the middle of
 * such a message returns why (SHMRING_ETIMEOUT, SHMRING_EPEERDEAD, ...),
 * and the next call discards the rest of it and returns SHMRING_ETORN with
 * *len 0; so does a call that finds the message's producer gave up on it
 * (an abort slot), or closed in the middle of it (then SHMRING_EOF comes
 * next, or SHMRING_ETORN once more if a run of it was published after the
 * close, which that call discards). Other errors: SHMRING_ENOROLE,
 * SHMRING_ECLOSED (this consumer closed), SHMRING_EPEERDEAD (the producer's
 * process died while the ring was empty; the ring is looked at once more
 * after the producer is found dead, so nothing it published is left
 * behind), SHMRING_EPEERSTOPPED (call again to keep waiting),
 * SHMRING_ECORRUPT (a cursor, a length or a fragment the producer could not
 * have written; docs/LAYOUT.md, "Fragments", lists the checks). Liveness
 * checks and stalls count as in shmring_send. It never reads outside the
 * segment, and never writes past buf + cap. (Go: Consumer.Recv, TryRecv.) */
static inline int shmring_recv(struct shmring *r, void *buf, size_t cap, size_t *len, int64_t timeout_ns)
{
	struct shmring__side *c = &r->cons;
	struct shmring__call call = {timeout_ns, 0, 0};
	const unsigned char *slot;
	uint32_t n;
	int rc;

	if (!r->has_consumer)
		return SHMRING_ENOROLE;
	if (SHMRING_LOAD(&c->closed))
		return SHMRING_ECLOSED;
	if (c->next == c->peer && (rc = shmring__await(r, c, &call, SHMRING_EEMPTY)) != 0)
		return shmring__recv_failed(r, rc);
	slot = shmring__slot(r, c->next);
	n = shmring__len(r, c->next);
	if (n >= c->whole)
		return shmring__recv_slow(r, (unsigned char *)buf, cap, len, &call);
	*len = n;
	if (n > cap) {
		shmring__unblock(r, call.waited);
		return SHMRING_ESHORTBUF;
	}
	if (n > 0)
		memcpy(buf, slot + SHMRING_LEN_SIZE, n);
	c->next++;
	c->bytes += n;
	shmring__publish(c);
	shmring__unblock(r, call.waited);
	return 0;
}

/* shmring_consumer_close ends this handle's consumer: every later send of
 * the producer returns its SHMRING_ECLOSED, and one blocked in another
 * thread or process returns it too. Sets CONSUMER_CLOSED, frees the role
 * and wakes both futex words. A second call returns SHMRING_ECLOSED;
 * without the role, SHMRING_ENOROLE. */
static inline int shmring_consumer_close(struct shmring *r)
{
	return shmring__close_side(r, &r->cons, r->has_consumer);
}

/* ---- Closing, removing, statistics ------------------------------------- */

/* shmring_flush copies the counters this handle keeps in the process (bytes
 * and stalls of the roles it holds, which reach the header only every
 * SHMRING_FLUSH_EVERY messages, before a sleep and at shmring_close) to the
 * header now, so that shmring_stats, here or in any process, shows them
 * exactly. Call it where the roles' calls are made (the same thread, or
 * one that waited for their calls to end), not while one runs. */
static inline void shmring_flush(struct shmring *r)
{
	if (r->hdr == NULL || r->readonly)
		return;
	if (r->has_producer)
		shmring__flush(&r->prod);
	if (r->has_consumer)
		shmring__flush(&r->cons);
}

/* shmring_nattch returns how many attachments the segment has (this one
 * included), or -errno. */
static inline int shmring_nattch(const struct shmring *r)
{
	struct shmid_ds ds;
	if (shmctl(r->shmid, IPC_STAT, &ds) != 0)
		return -errno;
	return (int)ds.shm_nattch;
}

/* shmring__abandoned is Go's Ring.abandoned: whether nobody will use the
 * segment once this handle, which held the roles it says, detaches. keep:
 * a producer leaves its committed messages for a consumer yet to come. */
static inline int shmring__abandoned(struct shmring *r, int keep)
{
	uint32_t both = SHMRING_STATE_PRODUCER_CLOSED | SHMRING_STATE_CONSUMER_CLOSED;
	uint32_t st = SHMRING_LOAD(&r->hdr->state), peer_closed;
	struct shmring_side *peer;
	uint64_t id;
	if ((st & both) == both)
		return 1;
	if (r->has_producer == r->has_consumer) /* neither role, or both and closed above */
		return 0;
	peer = r->has_producer ? &r->hdr->consumer : &r->hdr->producer;
	peer_closed = r->has_producer ? SHMRING_STATE_CONSUMER_CLOSED : SHMRING_STATE_PRODUCER_CLOSED;
	id = SHMRING_LOAD(&peer->owner);
	if ((st & peer_closed) != 0 || (id != 0 && shmring_identity_status(id) != SHMRING_PROC_DEAD))
		return 0;
	if (r->has_producer && keep) {
		/* Committed messages wait for a consumer to come or take
		 * over; none while tail is at head or past it (lap marks). */
		uint64_t head, tail;
		int ok;
		shmring__cursors(r->hdr, &head, &tail, &ok);
		if (head > tail)
			return 0;
	}
	return shmring_nattch(r) == 1;
}

static inline int shmring__close(struct shmring *r, int keep)
{
	int zero = 0, rc = 0;
	if (r->hdr == NULL || !SHMRING_CAS(&r->closed, &zero, 1))
		return SHMRING_ECLOSED;
	if (r->has_consumer)
		(void)shmring_consumer_close(r);
	if (r->has_producer)
		(void)shmring_producer_close(r);
	while (SHMRING_LOAD(&r->blocked) != 0)
		shmring__sleep_ns(100000);
	/* No call is under way now: the counters can be read. A closed role
	 * is never claimed again, so its block is still this side's. */
	shmring_flush(r);
	if (!r->readonly && shmring__abandoned(r, keep)) {
		/* The peer may have removed it already: both sides try. */
		if (shmctl(r->shmid, IPC_RMID, NULL) != 0 && errno != EINVAL && errno != EIDRM)
			rc = -errno;
	}
	if (shmdt(r->hdr) != 0 && rc == 0)
		rc = -errno;
	r->hdr = NULL;
	r->slots = NULL;
	return rc;
}

/* shmring_close closes the roles this handle holds (consumer first, as Go
 * does), waits for calls blocked in them to return, copies their counters
 * to the header (shmring_flush), and detaches. It removes the segment
 * (IPC_RMID) when nobody will use it again, by the rule above the header's
 * quick-use example (Go's Ring.Close has the same). A second call returns
 * SHMRING_ECLOSED. After it, r's memory may be reused. */
static inline int shmring_close(struct shmring *r) { return shmring__close(r, 1); }

/* shmring_abandon is shmring_close for a producer that gives up on its
 * messages: where shmring_close would leave them for a consumer that has
 * not come yet, it removes the segment (if no other process is attached).
 * For a handle without the producer role it is shmring_close. */
static inline int shmring_abandon(struct shmring *r) { return shmring__close(r, 0); }

/* shmring_remove marks the segment for removal (IPC_RMID) now: the kernel
 * frees it when the last process detaches, and its key is free at once.
 * For a ring whose peer never came or died. Returns 0 or -errno. */
static inline int shmring_remove(struct shmring *r)
{
	if (shmctl(r->shmid, IPC_RMID, NULL) != 0)
		return -errno;
	return 0;
}


/* One side's counters as the header shows them (Go: SideStats). */
struct shmring_side_stats {
	int pid;           /* holder's pid; 0 if the role is free */
	int alive;         /* the holder's process exists (pid and start time match) */
	uint64_t messages; /* the side's cursor: head or tail, which count
			    * slots (a message of k fragments counts k) */
	uint64_t bytes;    /* may lag by up to SHMRING_FLUSH_EVERY messages */
	uint64_t stalls;   /* calls that found the ring full (producer) or
			    * empty (consumer) and waited, one per call
			    * however the wait ended; lags like bytes */
	uint64_t waits;
	uint64_t wakes;
};

/* A snapshot of the header (Go: Stats). */
struct shmring_stats {
	uint64_t slot_size, slots;
	uint64_t max_message; /* the longest message the ring carries */
	uint64_t fill;       /* slots published and not yet released, as
			      * head and tail say: 0 while tail is at
			      * head or past it (lap marks) */
	int64_t created_ns;  /* Unix nanoseconds */
	int ready, producer_closed, consumer_closed;
	int asymmetric_fences; /* SHMRING_FLAG_ASYMMETRIC: release-store
				* publications, membarrier before a sleep
				* (Go: Stats.AsymmetricFences) */
	char label[SHMRING_LABEL_SIZE]; /* header.label up to its first NUL,
					 * at most SHMRING_LABEL_SIZE - 1
					 * bytes, NUL-terminated; "" if none.
					 * The bytes as the creator wrote
					 * them: UTF-8 from Go and from
					 * shmring_create, but not checked
					 * (Go's Stats.Label replaces invalid
					 * UTF-8) */
	struct shmring_side_stats producer, consumer;
};

/* Internal: one side block as shmring_side_stats. */
static inline void shmring__side_stats(struct shmring_side *s, uint64_t cursor, struct shmring_side_stats *out)
{
	uint64_t id = SHMRING_LOAD(&s->owner);
	out->pid = shmring_identity_pid(id);
	out->alive = shmring_identity_status(id) != SHMRING_PROC_DEAD;
	out->messages = cursor;
	out->bytes = SHMRING_LOAD(&s->bytes);
	out->stalls = SHMRING_LOAD(&s->stalls);
	out->waits = SHMRING_LOAD(&s->waits);
	out->wakes = SHMRING_LOAD(&s->wakes);
}

/* shmring_stats reads both sides' counters and the fill level. Works on a
 * read-only handle; fields are read one by one from a live ring. */
static inline void shmring_stats(const struct shmring *r, struct shmring_stats *st)
{
	struct shmring_header *h = r->hdr;
	uint64_t head, tail;
	uint32_t state;
	int ok;
	shmring__cursors(h, &head, &tail, &ok);
	state = SHMRING_LOAD(&h->state);
	st->slot_size = r->slot_size;
	st->slots = r->slot_count;
	st->max_message = r->max_message;
	/* None while the consumer is at head or past it: it takes slots by
	 * their lap marks, before head says they are published. */
	st->fill = tail >= head ? 0 : head - tail < r->slot_count ? head - tail : r->slot_count;
	st->created_ns = h->created;
	st->ready = (state & SHMRING_STATE_READY) != 0;
	st->producer_closed = (state & SHMRING_STATE_PRODUCER_CLOSED) != 0;
	st->consumer_closed = (state & SHMRING_STATE_CONSUMER_CLOSED) != 0;
	st->asymmetric_fences = r->asymmetric;
	{
		/* One copy, then the cut: the creator may be any process
		 * that can write the segment. */
		size_t n;
		memcpy(st->label, h->label, SHMRING_LABEL_SIZE - 1);
		st->label[SHMRING_LABEL_SIZE - 1] = '\0';
		n = strlen(st->label);
		memset(st->label + n, 0, SHMRING_LABEL_SIZE - n);
	}
	shmring__side_stats(&h->producer, head, &st->producer);
	shmring__side_stats(&h->consumer, tail, &st->consumer);
}

#endif /* SHMRING_H */
