// cring is the reference the shmring benchmarks measure against: a minimal
// single-producer, single-consumer ring over a System V shared memory
// segment, written the way one would by hand in C. It runs as two processes
// (it forks its own consumer or echoer), measures, and prints its figures as
// "name value" lines for the Go benchmark to report.
//
//	cring tput SIZE SLOTS SLOTSIZE BATCH COUNT
//	    COUNT messages of SIZE bytes one way; prints ns/msg.
//	cring rtt SIZE SLOTS SLOTSIZE COUNT
//	    COUNT round trips over two rings; prints ns/rt and percentiles.
//	cring line COUNT
//	    COUNT round trips of a bare word each way, no ring and no message:
//	    what a spinning round trip costs here with nothing to carry.
//	cring copy SIZE COUNT
//	    COUNT messages of SIZE bytes one way, each copied whole into one
//	    of two buffers and out again: no ring, the simplest design that
//	    copies in and out; prints ns/msg.
//	cring hist Q... < VALUES
//	    the round trips' histogram alone: quantiles Q of the values on
//	    stdin, one a line (for the test that it matches internal/app/hist).
//	cring ftput SIZE SLOTS SLOTSIZE BATCH COUNT
//	cring frtt SIZE SLOTS SLOTSIZE BATCH COUNT
//	    tput and rtt for messages of any size: a message longer than a
//	    slot's payload is split into fragments, one per slot, in shmring's
//	    format (docs/LAYOUT.md, "Fragments"), copied in from the sender's
//	    buffer and out into the receiver's, as Send and Recv do.
//
// What makes it the limit:
//   - every slot is published by its lap mark (shmring's layout 4.0,
//     docs/LAYOUT.md, "Lap marks"): the producer writes the payload, then
//     the slot's length word with the mark, a release store (a run of
//     fragments its first slot last, below). The
//     consumer reads no cursor: it polls the mark of the slot it is about
//     to read (an acquire load of the word it reads anyway), so a message
//     reaches it with the one cache line that carries it, not after the
//     head cursor's line too;
//   - the producer keeps a copy of the consumer's cursor and reads the
//     shared one only when its copy says the ring is full;
//   - cursors are published with C11 release stores and read with acquire
//     loads: no full fences, no read-modify-write;
//   - the producer stores head once per BATCH messages (and before it
//     waits), as shmring's does, though no consumer here reads it; the
//     consumer releases once per BATCH (and before it waits);
//   - a waiting side busy-spins with the CPU's pause instruction. After
//     4096 polls of one wait it calls sched_yield (and again every 4096),
//     so that it still finishes on one CPU; with the peer on another core
//     a wait is never that long.
//
// The layout mirrors shmring's: head cursor at byte 128, tail at 256 (two
// 128-byte blocks apart), slots from byte 1024, each a u32 length word and
// the payload. Bit 28 of the word is the slot's lap mark: the slot of
// position seq is published when the bit is set on an even lap (seq &
// SLOTS == 0) and clear on an odd one, so the zeros of a new segment read
// as not published, and a slot of the last lap as not yet. The segment is
// IPC_PRIVATE and marked for removal as soon as it is attached, so the
// kernel frees it when both processes are gone, however they end. The
// forked peer dies with its parent (PR_SET_PDEATHSIG).
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
#define cpu_relax() __asm__ __volatile__("" ::: "memory")
#endif

enum { HEADER = 1024, HEAD_OFF = 128, TAIL_OFF = 256, READY_OFF = 384 };

struct ring {
	_Atomic uint64_t *head; // messages published by the producer
	_Atomic uint64_t *tail; // messages released by the consumer
	_Atomic uint32_t *ready; // set by the forked peer once it runs
	unsigned char *slots;
	uint64_t slot_size, mask, n;
};

static void die(const char *what) {
	perror(what);
	exit(2);
}

static void ring_at(struct ring *r, unsigned char *base, uint64_t slots, uint64_t slot_size) {
	r->head = (_Atomic uint64_t *)(base + HEAD_OFF);
	r->tail = (_Atomic uint64_t *)(base + TAIL_OFF);
	r->ready = (_Atomic uint32_t *)(base + READY_OFF);
	r->slots = base + HEADER;
	r->slot_size = slot_size;
	r->mask = slots - 1;
	r->n = slots;
}

static inline unsigned char *slot(const struct ring *r, uint64_t seq) {
	return r->slots + (seq & r->mask) * r->slot_size;
}

// Lap marks. LAP is a slot's mark, bit 28 of its length word; the length
// (and a fragment's flags) are the other bits.
#define LAP 0x10000000u

static inline _Atomic uint32_t *word(const struct ring *r, uint64_t seq) {
	return (_Atomic uint32_t *)slot(r, seq);
}

// ready is the mark of the slot at seq once published: set on even laps.
static inline uint32_t ready(const struct ring *r, uint64_t seq) {
	return seq & r->n ? 0 : LAP;
}

// seal publishes the slot at seq, whose payload is written: its word w
// with the mark, a release store. Slots are sealed in cursor order, but
// for the first slot of a run of fragments, sealed last (publish).
static inline void seal(const struct ring *r, uint64_t seq, uint32_t w) {
	atomic_store_explicit(word(r, seq), w | ready(r, seq), memory_order_release);
}

// sealed reports whether the slot at seq is published (an acquire load of
// its word) and stores the word without its mark in *w. seq is less than a
// ring beyond what the consumer released: the slot holds the word of seq,
// or of seq minus a ring, whose mark is the other.
static inline int sealed(const struct ring *r, uint64_t seq, uint32_t *w) {
	uint32_t v = atomic_load_explicit(word(r, seq), memory_order_acquire);
	*w = v & ~LAP;
	return (v & LAP) == ready(r, seq);
}

// spin is one poll's pause; k counts the polls of the current wait.
static inline void spin(unsigned *k) {
	cpu_relax();
	if ((++*k & 4095) == 0)
		sched_yield();
}

static uint64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

// A private segment, attached, and already marked for removal.
static unsigned char *segment(size_t size) {
	int id = shmget(IPC_PRIVATE, size, IPC_CREAT | 0600);
	if (id < 0)
		die("shmget");
	void *p = shmat(id, NULL, 0);
	if (p == (void *)-1) {
		shmctl(id, IPC_RMID, NULL);
		die("shmat");
	}
	if (shmctl(id, IPC_RMID, NULL) < 0)
		die("shmctl IPC_RMID");
	return p;
}

static pid_t fork_peer(void) {
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(3);
	}
	return pid;
}

static int wait_peer(pid_t pid) {
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			die("waitpid");
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}

static void await_ready(struct ring *r) {
	unsigned k = 0;
	while (atomic_load_explicit(r->ready, memory_order_acquire) == 0)
		spin(&k);
}

// Throughput: the parent produces, the child consumes and reads the first
// and last byte of each payload in place.

static int consume(struct ring *r, uint32_t size, uint64_t batch, uint64_t count) {
	uint64_t tail = 0, released = 0, cached = 0;
	unsigned sum = 0, k = 0;
	atomic_store_explicit(r->ready, 1, memory_order_release);
	while (tail < count) {
		uint32_t len;
		if (tail == cached) {
			// A stream waits for head, stored once per batch, not
			// for the next slot's mark: polling the mark, it would
			// read the lines the producer is writing. shmring's
			// RecvBatch does the same (refreshBatch), and checks
			// each slot's mark as it takes it, as below.
			if (released != tail) {
				atomic_store_explicit(r->tail, tail, memory_order_release);
				released = tail;
			}
			k = 0;
			while ((cached = atomic_load_explicit(r->head, memory_order_acquire)) == tail)
				spin(&k);
		}
		if (!sealed(r, tail, &len)) {
			fprintf(stderr, "cring: head passed message %llu, which is not marked published\n",
				(unsigned long long)tail);
			return 1;
		}
		const unsigned char *s = slot(r, tail);
		if (len != size) {
			fprintf(stderr, "cring: message %llu has length %u, want %u\n",
				(unsigned long long)tail, len, size);
			return 1;
		}
		sum += s[4] + s[4 + len - 1];
		tail++;
		if (tail - released >= batch) {
			atomic_store_explicit(r->tail, tail, memory_order_release);
			released = tail;
		}
	}
	atomic_store_explicit(r->tail, tail, memory_order_release);
	return sum == 0xffffffff; // keep sum alive; never true
}

// end_stream ends a stream of count messages begun at t0: it waits until
// the consumer, process pid, has released up to cursor tail, then for it
// to exit, and prints the figures.
static int end_stream(struct ring *r, uint64_t tail, pid_t pid, uint64_t count, uint64_t t0) {
	unsigned k = 0;
	while (atomic_load_explicit(r->tail, memory_order_acquire) != tail)
		spin(&k);
	uint64_t t1 = now_ns();
	if (wait_peer(pid) != 0)
		return 1;
	printf("msgs %llu\n", (unsigned long long)count);
	printf("ns/msg %.3f\n", (double)(t1 - t0) / (double)count);
	return 0;
}

static int tput(uint32_t size, uint64_t slots, uint64_t slot_size, uint64_t batch, uint64_t count) {
	struct ring r;
	ring_at(&r, segment(HEADER + slots * slot_size), slots, slot_size);
	pid_t pid = fork_peer();
	if (pid == 0)
		_exit(consume(&r, size, batch, count));

	unsigned char *msg = malloc(size);
	memset(msg, 0xa5, size);
	await_ready(&r);
	uint64_t head = 0, cached_tail = 0, published = 0;
	unsigned k = 0;
	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < count; i++) {
		if (head - cached_tail == r.n) {
			if (published != head) {
				atomic_store_explicit(r.head, head, memory_order_release);
				published = head;
			}
			k = 0;
			while (head - (cached_tail = atomic_load_explicit(r.tail, memory_order_acquire)) == r.n)
				spin(&k);
		}
		unsigned char *s = slot(&r, head);
		memcpy(s + 4, msg, size);
		seal(&r, head, size);
		head++;
		if (head - published >= batch) {
			atomic_store_explicit(r.head, head, memory_order_release);
			published = head;
		}
	}
	atomic_store_explicit(r.head, head, memory_order_release);
	return end_stream(&r, count, pid, count, t0);
}

// Messages of any size. A message that fits a slot's payload (SLOTSIZE-4)
// is one slot, as above. A longer one is split as shmring splits it
// (docs/LAYOUT.md, "Fragments"): the length word carries MORE (another
// fragment follows) and CONT (this one continues a message) above the lap
// mark and a 28-bit length; the first fragment has the message's total
// length, a u64, after
// its word and SLOTSIZE-12 bytes of payload; the middle ones SLOTSIZE-4;
// the last the rest. The sender copies each fragment in from its message
// buffer and publishes every BATCH slots, at the end of each message, and
// before it waits; the receiver copies each out into its buffer and
// releases likewise, so that a message larger than the whole ring streams
// through it. The receiver checks each word's kind and length as a
// consumer must, and the total.
//
// A publication's run of fragments is seen whole, as shmring's
// (docs/LAYOUT.md, "Lap marks"; ring/producer.go, markRun): the run's
// first slot is marked last, so the consumer, reading in order, takes
// none of the run before all of it is marked. shmring writes each
// fragment's word unpublished, then marks the run; by hand one seals the
// run's other slots as they are written and keeps back only the first
// slot's word, which publish stores: the same order for the consumer, a
// store fewer per slot.

#define F_MORE 0x80000000u // another fragment of this message follows
#define F_CONT 0x40000000u // this slot continues a message begun earlier
#define F_LEN 0x0fffffffu  // the length bits, below the lap mark

struct sender {
	struct ring *r;
	uint64_t head, cached_tail, published, batch;
	uint32_t first; // the word of the slot at published, if held
	int held;       // a run's first slot written, its word not yet stored
};

struct receiver {
	struct ring *r;
	uint64_t tail, released, batch;
};

// publish marks the run's first slot, if a fragment's word is held there,
// after the rest of the run, then stores head.
static inline void publish(struct sender *s) {
	if (s->held) {
		seal(s->r, s->published, s->first);
		s->held = 0;
	}
	atomic_store_explicit(s->r->head, s->head, memory_order_release);
	s->published = s->head;
}

// seal_fragment seals the fragment at head, whose payload is written, with
// its word w; but the first slot of a run (nothing written since the last
// publication) keeps its word back for publish, which marks it last.
static inline void seal_fragment(struct sender *s, uint32_t w) {
	if (s->head == s->published) {
		s->first = w;
		s->held = 1;
	} else {
		seal(s->r, s->head, w);
	}
}

// free_slot returns the slot at head once it is free, publishing what was
// written before it waits.
static inline unsigned char *free_slot(struct sender *s) {
	if (s->head - s->cached_tail == s->r->n) {
		if (s->published != s->head)
			publish(s);
		unsigned k = 0;
		while (s->head - (s->cached_tail = atomic_load_explicit(s->r->tail, memory_order_acquire)) == s->r->n)
			spin(&k);
	}
	return slot(s->r, s->head);
}

// written counts the slot at head as written: published with the batch.
static inline void written(struct sender *s) {
	s->head++;
	if (s->head - s->published >= s->batch)
		publish(s);
}

// send_msg writes each slot's payload, then seals it with its word: a
// message in one slot at once, fragments by seal_fragment.
static void send_msg(struct sender *s, const unsigned char *msg, uint64_t size) {
	uint64_t pay = s->r->slot_size - 4;
	unsigned char *d = free_slot(s);
	if (size <= pay) {
		memcpy(d + 4, msg, size);
		seal(s->r, s->head, (uint32_t)size);
		written(s);
		publish(s);
		return;
	}
	memcpy(d + 4, &size, 8);
	memcpy(d + 12, msg, pay - 8);
	seal_fragment(s, F_MORE | (uint32_t)(pay - 8));
	written(s);
	for (uint64_t off = pay - 8; off < size;) {
		uint64_t n = size - off < pay ? size - off : pay;
		d = free_slot(s);
		memcpy(d + 4, msg + off, n);
		seal_fragment(s, F_CONT | (off + n < size ? F_MORE : 0) | (uint32_t)n);
		off += n;
		written(s);
	}
	publish(s);
}

static inline void release(struct receiver *c) {
	atomic_store_explicit(c->r->tail, c->tail, memory_order_release);
	c->released = c->tail;
}

// full_slot returns the slot at tail once it is published (its lap mark),
// with its word in *w, releasing what was read before it waits.
static inline const unsigned char *full_slot(struct receiver *c, uint32_t *w) {
	if (!sealed(c->r, c->tail, w)) {
		if (c->released != c->tail)
			release(c);
		unsigned k = 0;
		while (!sealed(c->r, c->tail, w))
			spin(&k);
	}
	return slot(c->r, c->tail);
}

static inline void consumed(struct receiver *c) {
	c->tail++;
	if (c->tail - c->released >= c->batch)
		release(c);
}

// recv_msg receives one message of size bytes into buf; 1 if it is not
// one (a bad word, length or total).
static int recv_msg(struct receiver *c, unsigned char *buf, uint64_t size) {
	uint64_t pay = c->r->slot_size - 4;
	uint32_t w;
	const unsigned char *s = full_slot(c, &w);
	if ((w & ~F_LEN) == 0) {
		if (w != size)
			return 1;
		memcpy(buf, s + 4, w);
		consumed(c);
		release(c);
		return 0;
	}
	uint64_t total;
	memcpy(&total, s + 4, 8);
	if (w != (F_MORE | (uint32_t)(pay - 8)) || total != size)
		return 1;
	memcpy(buf, s + 12, pay - 8);
	uint64_t off = pay - 8;
	consumed(c);
	do {
		s = full_slot(c, &w);
		uint32_t n = w & F_LEN;
		// A continuation; full unless it is the last, which ends the
		// message exactly.
		if ((w & ~(F_MORE | F_LEN)) != F_CONT || n == 0 || n > size - off ||
		    ((w & F_MORE) ? n != pay : off + n != size))
			return 1;
		memcpy(buf + off, s + 4, n);
		off += n;
		consumed(c);
	} while (w & F_MORE);
	release(c);
	return 0;
}

// The rings of ftput and frtt are up to 64 MiB, and on the project's VM
// the first access to a page of a new segment costs some 12 us, in the
// process that allocates it and again in the one that maps it: a fresh
// 64 MiB ring would spend 0.4 s of its first lap in page faults, which a
// ring in use has long paid. So the parent writes a byte of every page
// before it forks and the child reads one before it says it is ready, as
// the Go benchmarks do (bench/large_test.go, prefault). madvise's
// MADV_POPULATE_WRITE or _READ first (Linux 5.14; refused before) halves
// the cost. The parent prints "ready" once the child is, so that the Go
// benchmark's own clock, which steers its iteration count, starts there
// too.
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#define MADV_POPULATE_WRITE 23
#endif

static unsigned prefault(unsigned char *base, size_t size, int write) {
	// madvise wants a page-aligned start: from the segment's, which is.
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	unsigned char *start = (unsigned char *)((uintptr_t)base & ~(uintptr_t)(page - 1));
	madvise(start, size + (size_t)(base - start), write ? MADV_POPULATE_WRITE : MADV_POPULATE_READ);
	unsigned sum = 0;
	for (size_t i = 0; i < size; i += page) {
		if (write)
			((volatile unsigned char *)base)[i] = 0;
		else
			sum += ((volatile unsigned char *)base)[i];
	}
	return sum;
}

static void say_ready(void) {
	printf("ready\n");
	fflush(stdout);
}

// ftput is tput for messages of any size: the parent sends, the child
// receives each message into a buffer and reads its first and last byte.
static int fconsume(struct ring *r, uint64_t size, uint64_t batch, uint64_t count) {
	struct receiver c = {.r = r, .batch = batch};
	unsigned char *buf = malloc(size);
	unsigned sum = prefault(r->slots, r->n * r->slot_size, 0);
	atomic_store_explicit(r->ready, 1, memory_order_release);
	for (uint64_t i = 0; i < count; i++) {
		if (recv_msg(&c, buf, size) != 0) {
			fprintf(stderr, "cring: message %llu is not one of %llu bytes\n",
				(unsigned long long)i, (unsigned long long)size);
			return 1;
		}
		sum += buf[0] + buf[size - 1];
	}
	return sum == 0xffffffff; // keep sum alive; never true
}

static int ftput(uint64_t size, uint64_t slots, uint64_t slot_size, uint64_t batch, uint64_t count) {
	struct ring r;
	ring_at(&r, segment(HEADER + slots * slot_size), slots, slot_size);
	prefault(r.slots, slots * slot_size, 1);
	pid_t pid = fork_peer();
	if (pid == 0)
		_exit(fconsume(&r, size, batch, count));

	unsigned char *msg = malloc(size);
	memset(msg, 0xa5, size);
	struct sender s = {.r = &r, .batch = batch};
	await_ready(&r);
	say_ready();
	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < count; i++)
		send_msg(&s, msg, size);
	printf("slots %llu\n", (unsigned long long)s.head);
	return end_stream(&r, s.head, pid, count, t0);
}

// copy is the simplest design that copies each message in and out: no
// slots, no fragments, no lengths. The segment holds two buffers of a
// whole message each; the parent copies message i into buffer i&1 and
// stores head = i+1; the child waits for it, copies the buffer out into its
// own, reads the first and last byte, and stores tail = i+1, so the parent
// fills one buffer while the child empties the other.
static int copy_out(struct ring *r, uint64_t size, uint64_t count) {
	unsigned char *buf = malloc(size);
	unsigned sum = prefault(r->slots, 2 * size, 0), k = 0;
	atomic_store_explicit(r->ready, 1, memory_order_release);
	for (uint64_t i = 0; i < count; i++) {
		k = 0;
		while (atomic_load_explicit(r->head, memory_order_acquire) == i)
			spin(&k);
		memcpy(buf, slot(r, i), size);
		sum += buf[0] + buf[size - 1];
		atomic_store_explicit(r->tail, i + 1, memory_order_release);
	}
	return sum == 0xffffffff; // keep sum alive; never true
}

static int copy(uint64_t size, uint64_t count) {
	struct ring r;
	ring_at(&r, segment(HEADER + 2 * size), 2, size);
	prefault(r.slots, 2 * size, 1);
	pid_t pid = fork_peer();
	if (pid == 0)
		_exit(copy_out(&r, size, count));

	unsigned char *msg = malloc(size);
	memset(msg, 0xa5, size);
	unsigned k = 0;
	await_ready(&r);
	say_ready();
	uint64_t t0 = now_ns();
	for (uint64_t i = 0; i < count; i++) {
		k = 0;
		while (i - atomic_load_explicit(r.tail, memory_order_acquire) == 2)
			spin(&k);
		memcpy(slot(&r, i), msg, size);
		atomic_store_explicit(r.head, i + 1, memory_order_release);
	}
	return end_stream(&r, count, pid, count, t0);
}

// Latencies go into internal/app/hist's log-linear histogram, ported here so
// that the Go and C percentiles come from the same buckets and the same
// rank rule (bench's TestCRingHistogram feeds both the same values and
// wants the same answers): below 64 every value has its own bucket; above,
// every power of two [2^e, 2^(e+1)) is split into 32 equal buckets. A
// quantile is the middle of the bucket holding its rank, clamped to the
// exact minimum and maximum.

enum { SUB_BITS = 5, SUB = 1 << SUB_BITS, BUCKETS = (64 - SUB_BITS + 1) << SUB_BITS };

struct hist {
	uint64_t counts[BUCKETS];
	uint64_t n, min, max;
};

static unsigned hist_index(uint64_t v) {
	int len = v == 0 ? 0 : 64 - __builtin_clzll(v);
	int shift = len - SUB_BITS - 1;
	if (shift < 0)
		shift = 0;
	return ((unsigned)shift << SUB_BITS) + (unsigned)(v >> shift);
}

static void hist_record(struct hist *h, uint64_t v) {
	h->counts[hist_index(v)]++;
	if (h->n == 0 || v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
	h->n++;
}

static uint64_t hist_quantile(const struct hist *h, double q) {
	if (h->n == 0)
		return 0;
	uint64_t rank = (uint64_t)(q * (double)h->n + 0.5);
	if (rank < 1)
		rank = 1;
	if (rank >= h->n)
		return h->max;
	uint64_t seen = 0;
	for (unsigned i = 0; i < BUCKETS; i++) {
		seen += h->counts[i];
		if (seen < rank)
			continue;
		uint64_t low = i, width = 1;
		if (i >= 2 * SUB) {
			unsigned shift = (i >> SUB_BITS) - 1;
			low = (uint64_t)(i - (shift << SUB_BITS)) << shift;
			width = (uint64_t)1 << shift;
		}
		uint64_t v = low + (width - 1) / 2;
		return v < h->min ? h->min : v > h->max ? h->max : v;
	}
	return h->max;
}

// hist_main reads one value a line from stdin and prints "Q VALUE" for
// each quantile Q of its arguments: the histogram alone, for the test.
static int hist_main(int nq, char **qs) {
	struct hist *h = calloc(1, sizeof *h);
	unsigned long long v;
	while (scanf("%llu", &v) == 1)
		hist_record(h, v);
	if (!feof(stdin)) {
		fprintf(stderr, "cring: hist: stdin is not one number a line\n");
		return 2;
	}
	for (int i = 0; i < nq; i++) {
		char *end;
		double q = strtod(qs[i], &end);
		if (*end != 0 || q < 0 || q > 1) {
			fprintf(stderr, "cring: bad quantile \"%s\"\n", qs[i]);
			return 2;
		}
		printf("%s %llu\n", qs[i], (unsigned long long)hist_quantile(h, q));
	}
	return 0;
}

// record_rt records the time since *last in h, and makes now the last.
static inline void record_rt(struct hist *h, uint64_t *last) {
	uint64_t t = now_ns();
	hist_record(h, t - *last);
	*last = t;
}

// print_rtts prints the figures of count round trips that took ns in all
// and whose times h holds.
static void print_rtts(const struct hist *h, uint64_t count, uint64_t ns) {
	printf("rts %llu\n", (unsigned long long)count);
	printf("ns/rt %.3f\n", (double)ns / (double)count);
	printf("p50-ns %llu\n", (unsigned long long)hist_quantile(h, 0.50));
	printf("p99-ns %llu\n", (unsigned long long)hist_quantile(h, 0.99));
	printf("p99.9-ns %llu\n", (unsigned long long)hist_quantile(h, 0.999));
}

// Round trip: the parent sends one message on ring a and waits for its echo
// on ring b; the child copies each message from a's slot to b's slot.

static int echo(struct ring *a, struct ring *b, uint64_t count) {
	unsigned k = 0;
	atomic_store_explicit(a->ready, 1, memory_order_release);
	for (uint64_t i = 0; i < count; i++) {
		uint32_t len;
		k = 0;
		while (!sealed(a, i, &len))
			spin(&k);
		const unsigned char *in = slot(a, i);
		if (len + 4 > a->slot_size)
			return 1;
		// b has room: the parent reads each echo before its next send.
		memcpy(slot(b, i) + 4, in + 4, len);
		seal(b, i, len);
		atomic_store_explicit(b->head, i + 1, memory_order_release);
		atomic_store_explicit(a->tail, i + 1, memory_order_release);
	}
	return 0;
}

static int rtt(uint32_t size, uint64_t slots, uint64_t slot_size, uint64_t count) {
	uint64_t warm = count < 10000 ? count / 10 : 1000;
	uint64_t total = warm + count;
	size_t one = HEADER + slots * slot_size;
	unsigned char *base = segment(2 * one);
	struct ring a, b;
	ring_at(&a, base, slots, slot_size);
	ring_at(&b, base + one, slots, slot_size);
	pid_t pid = fork_peer();
	if (pid == 0)
		_exit(echo(&a, &b, total));

	struct hist *h = calloc(1, sizeof *h);
	unsigned char *msg = malloc(size);
	memset(msg, 0x5a, size);
	unsigned k = 0, sum = 0;
	await_ready(&a);
	uint64_t start = 0, last = 0;
	for (uint64_t i = 0; i < total; i++) {
		if (i == warm)
			start = last = now_ns();
		unsigned char *s = slot(&a, i);
		memcpy(s + 4, msg, size);
		seal(&a, i, size);
		atomic_store_explicit(a.head, i + 1, memory_order_release);
		uint32_t len;
		k = 0;
		while (!sealed(&b, i, &len))
			spin(&k);
		const unsigned char *in = slot(&b, i);
		if (len != size) {
			fprintf(stderr, "cring: echo %llu has length %u, want %u\n", (unsigned long long)i, len, size);
			return 1;
		}
		sum += in[4];
		atomic_store_explicit(b.tail, i + 1, memory_order_release);
		if (i >= warm)
			record_rt(h, &last);
	}
	if (wait_peer(pid) != 0)
		return 1;
	print_rtts(h, count, last - start);
	printf("checksum %u\n", sum);
	return 0;
}

// line is what every round trip above costs with nothing to carry: no
// slots and no message, one sequence word each way, a ring's head (ping)
// and tail (pong) in 128-byte blocks of their own. The parent stores i in
// ping and spins until pong reads i; the child spins until ping reads i and
// stores it in pong. Each round trip moves one cache line to the child's
// core and another back, polling as the rings above poll.
static int line(uint64_t count) {
	uint64_t warm = count < 10000 ? count / 10 : 1000;
	uint64_t total = warm + count;
	struct ring r;
	ring_at(&r, segment(HEADER), 1, 0);
	pid_t pid = fork_peer();
	if (pid == 0) {
		unsigned k = 0;
		atomic_store_explicit(r.ready, 1, memory_order_release);
		for (uint64_t i = 1; i <= total; i++) {
			k = 0;
			while (atomic_load_explicit(r.head, memory_order_acquire) != i)
				spin(&k);
			atomic_store_explicit(r.tail, i, memory_order_release);
		}
		_exit(0);
	}

	struct hist *h = calloc(1, sizeof *h);
	unsigned k = 0;
	await_ready(&r);
	uint64_t start = 0, last = 0;
	for (uint64_t i = 1; i <= total; i++) {
		if (i == warm + 1)
			start = last = now_ns();
		atomic_store_explicit(r.head, i, memory_order_release);
		k = 0;
		while (atomic_load_explicit(r.tail, memory_order_acquire) != i)
			spin(&k);
		if (i > warm)
			record_rt(h, &last);
	}
	if (wait_peer(pid) != 0)
		return 1;
	print_rtts(h, count, last - start);
	return 0;
}

// frtt is rtt for messages of any size: the parent sends a message on ring
// a and receives its echo on ring b; the child receives each message into
// a buffer and sends it back from there.
static int fecho(struct ring *a, struct ring *b, uint64_t size, uint64_t batch, uint64_t count) {
	struct receiver c = {.r = a, .batch = batch};
	struct sender s = {.r = b, .batch = batch};
	unsigned char *buf = malloc(size);
	prefault(a->slots, a->n * a->slot_size, 0);
	prefault(b->slots, b->n * b->slot_size, 0);
	atomic_store_explicit(a->ready, 1, memory_order_release);
	for (uint64_t i = 0; i < count; i++) {
		if (recv_msg(&c, buf, size) != 0)
			return 1;
		send_msg(&s, buf, size);
	}
	return 0;
}

static int frtt(uint64_t size, uint64_t slots, uint64_t slot_size, uint64_t batch, uint64_t count) {
	uint64_t warm = count < 10000 ? count / 10 : 1000;
	uint64_t total = warm + count;
	size_t one = HEADER + slots * slot_size;
	unsigned char *base = segment(2 * one);
	struct ring a, b;
	ring_at(&a, base, slots, slot_size);
	ring_at(&b, base + one, slots, slot_size);
	prefault(base, 2 * one, 1);
	pid_t pid = fork_peer();
	if (pid == 0)
		_exit(fecho(&a, &b, size, batch, total));

	struct hist *h = calloc(1, sizeof *h);
	unsigned char *msg = malloc(size), *in = malloc(size);
	memset(msg, 0x5a, size);
	struct sender s = {.r = &a, .batch = batch};
	struct receiver c = {.r = &b, .batch = batch};
	unsigned sum = 0;
	await_ready(&a);
	say_ready();
	uint64_t start = 0, last = 0;
	for (uint64_t i = 0; i < total; i++) {
		if (i == warm)
			start = last = now_ns();
		send_msg(&s, msg, size);
		if (recv_msg(&c, in, size) != 0) {
			fprintf(stderr, "cring: echo %llu is not one of %llu bytes\n", (unsigned long long)i, (unsigned long long)size);
			return 1;
		}
		sum += in[0];
		if (i >= warm)
			record_rt(h, &last);
	}
	if (wait_peer(pid) != 0)
		return 1;
	print_rtts(h, count, last - start);
	printf("checksum %u\n", sum);
	return 0;
}

static uint64_t arg(const char *s, const char *name) {
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != 0 || v == 0) {
		fprintf(stderr, "cring: bad %s \"%s\"\n", name, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv) {
	if (argc == 7 && strcmp(argv[1], "tput") == 0) {
		uint64_t size = arg(argv[2], "size"), slots = arg(argv[3], "slots"),
			 slot_size = arg(argv[4], "slot size"), batch = arg(argv[5], "batch"),
			 count = arg(argv[6], "count");
		if ((slots & (slots - 1)) != 0 || size + 4 > slot_size || slot_size % 8 != 0 || size >= LAP) {
			fprintf(stderr, "cring: bad geometry\n");
			return 2;
		}
		return tput((uint32_t)size, slots, slot_size, batch, count);
	}
	if (argc == 6 && strcmp(argv[1], "rtt") == 0) {
		uint64_t size = arg(argv[2], "size"), slots = arg(argv[3], "slots"),
			 slot_size = arg(argv[4], "slot size"), count = arg(argv[5], "count");
		if ((slots & (slots - 1)) != 0 || slots < 2 || size + 4 > slot_size || slot_size % 8 != 0 || size >= LAP) {
			fprintf(stderr, "cring: bad geometry\n");
			return 2;
		}
		return rtt((uint32_t)size, slots, slot_size, count);
	}
	if (argc == 7 && (strcmp(argv[1], "ftput") == 0 || strcmp(argv[1], "frtt") == 0)) {
		uint64_t size = arg(argv[2], "size"), slots = arg(argv[3], "slots"),
			 slot_size = arg(argv[4], "slot size"), batch = arg(argv[5], "batch"),
			 count = arg(argv[6], "count");
		// Fragments need a first fragment's word, total and a byte.
		if ((slots & (slots - 1)) != 0 || slots < 2 || slot_size % 8 != 0 || slot_size < 16 ||
		    slot_size - 4 > F_LEN) {
			fprintf(stderr, "cring: bad geometry\n");
			return 2;
		}
		if (argv[1][1] == 't')
			return ftput(size, slots, slot_size, batch, count);
		return frtt(size, slots, slot_size, batch, count);
	}
	if (argc == 4 && strcmp(argv[1], "copy") == 0)
		return copy(arg(argv[2], "size"), arg(argv[3], "count"));
	if (argc == 3 && strcmp(argv[1], "line") == 0)
		return line(arg(argv[2], "count"));
	if (argc >= 2 && strcmp(argv[1], "hist") == 0)
		return hist_main(argc - 2, argv + 2);
	fprintf(stderr, "usage: cring tput SIZE SLOTS SLOTSIZE BATCH COUNT\n"
			"       cring rtt SIZE SLOTS SLOTSIZE COUNT\n"
			"       cring ftput SIZE SLOTS SLOTSIZE BATCH COUNT\n"
			"       cring frtt SIZE SLOTS SLOTSIZE BATCH COUNT\n"
			"       cring line COUNT\n"
			"       cring copy SIZE COUNT\n"
			"       cring hist Q... < values\n");
	return 2;
}
