/*
 * common.h - what the C example producer and consumer share: the message
 * format of cmd/producer and cmd/consumer (internal/app/wire), a software
 * CRC32C, flag parsing, and joining a ring the way internal/app does.
 *
 * Message format (little-endian), the same as internal/app/wire:
 *
 *     0        4                12               20                 len
 *     | crc32c | seq (u64)      | sent (i64)     | filler ...       |
 *              '------------- covered by crc32c --------------------'
 *
 * seq numbers the messages from the ring's cursors: a producer starts at
 * the head cursor it finds, a consumer expects the tail cursor it finds,
 * each divided by the slots a message of -size bytes takes (the cursors
 * count slots, and a message larger than a slot's payload takes several),
 * so on a fresh ring the messages are 0, 1, 2, ...; sent
 * is CLOCK_MONOTONIC in nanoseconds; the CRC is CRC-32C (Castagnoli). The
 * filler byte at offset 20+i is (i mod 512) * 131 + 17, truncated to 8
 * bits; only the CRC checks it.
 */
#ifndef SHMRING_EXAMPLE_COMMON_H
#define SHMRING_EXAMPLE_COMMON_H

#include "shmring.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- CRC-32C ----------------------------------------------------------- */

/* Eight tables: crc_tab[k][b] is the CRC register after byte b followed by
 * k zero bytes, which lets the loop take 8 bytes per step. */
static uint32_t crc_tab[8][256];

static inline uint32_t crc32c(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	while (n >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		w ^= c;
		c = crc_tab[7][w & 0xff] ^ crc_tab[6][(w >> 8) & 0xff] ^ crc_tab[5][(w >> 16) & 0xff] ^
		    crc_tab[4][(w >> 24) & 0xff] ^ crc_tab[3][(w >> 32) & 0xff] ^ crc_tab[2][(w >> 40) & 0xff] ^
		    crc_tab[1][(w >> 48) & 0xff] ^ crc_tab[0][w >> 56];
		p += 8;
		n -= 8;
	}
	while (n-- > 0)
		c = (c >> 8) ^ crc_tab[0][(c ^ *p++) & 0xff];
	return ~c;
}

/* crc_init builds the tables and checks them against the standard check
 * value of CRC-32C ("123456789" -> 0xe3069283). Returns 0 if they agree. */
static inline int crc_init(void)
{
	const uint32_t poly = 0x82f63b78u; /* Castagnoli, bit-reversed */
	int b, k;
	for (b = 0; b < 256; b++) {
		uint32_t c = (uint32_t)b;
		for (k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ poly : c >> 1;
		crc_tab[0][b] = c;
	}
	for (b = 0; b < 256; b++)
		for (k = 1; k < 8; k++)
			crc_tab[k][b] = (crc_tab[k - 1][b] >> 8) ^ crc_tab[0][crc_tab[k - 1][b] & 0xff];
	return crc32c((const unsigned char *)"123456789", 9) == 0xe3069283u ? 0 : -1;
}

/* ---- Message format ---------------------------------------------------- */

#define WIRE_HEADER_SIZE 20

static inline void put_le32(unsigned char *p, uint32_t v)
{
	int i;
	for (i = 0; i < 4; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline void put_le64(unsigned char *p, uint64_t v)
{
	int i;
	for (i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint32_t get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t get_le64(const unsigned char *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

/* wire_fill writes the filler after the header of a message of n bytes. */
static inline void wire_fill(unsigned char *msg, size_t n)
{
	size_t i;
	for (i = WIRE_HEADER_SIZE; i < n; i++)
		msg[i] = (unsigned char)(((i - WIRE_HEADER_SIZE) % 512) * 131 + 17);
}

/* wire_put stamps a message of n >= 20 bytes, filler in place. */
static inline void wire_put(unsigned char *msg, size_t n, uint64_t seq, int64_t sent)
{
	put_le64(msg + 4, seq);
	put_le64(msg + 12, (uint64_t)sent);
	put_le32(msg, crc32c(msg + 4, n - 4));
}

/* wire_check returns 1 and the header fields if msg is a good message. */
static inline int wire_check(const unsigned char *msg, size_t n, uint64_t *seq, int64_t *sent)
{
	if (n < WIRE_HEADER_SIZE || get_le32(msg) != crc32c(msg + 4, n - 4))
		return 0;
	*seq = get_le64(msg + 4);
	*sent = (int64_t)get_le64(msg + 12);
	return 1;
}

/* ---- Flags ------------------------------------------------------------- */

/* -size is at most 1 GiB (Go: app.MaxSize): each program holds a whole
 * message in memory of its own. A slot derived from -size holds at most
 * 16 KiB (Go: ring.DefaultMaxSlotPayload). */
#define MAX_SIZE (UINT64_C(1) << 30)
#define MAX_SLOT_PAYLOAD (UINT64_C(16) << 10)

/* The flags both commands take; the names and defaults are cmd/producer's
 * and cmd/consumer's. */
struct flags {
	key_t key;
	uint64_t size;     /* -size: message bytes (the largest, with -vary) */
	uint64_t slot_size; /* -slot-size; 0: derived from -size (ring_slot_size) */
	uint64_t slots;    /* -slots */
	uint64_t count;    /* -count */
	int64_t timeout;   /* -timeout, ns: for the ring and for the peer */
	enum shmring_wait_mode wait;
	int64_t spin, yield; /* -spin, -yield, ns: the wait phases (0: default) */
	int symmetric;     /* -symmetric: create the ring with symmetric fences */
	int vary;          /* producer -vary: sizes from 20 to -size */
	int has_expect;    /* consumer -expect N */
	uint64_t expect;
};

static const char *prog = "shmring-example";

/* Exit status 2: bad usage, as the Go commands. */
static inline void usage_fail(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", prog);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (-h for help)\n");
	exit(2);
}

static inline int parse_u64(const char *s, uint64_t *v)
{
	char *end;
	if (*s == '\0' || *s == '-')
		return -1;
	errno = 0;
	*v = strtoull(s, &end, 10);
	return (errno != 0 || *end != '\0') ? -1 : 0;
}

/* parse_key: hex, with or without 0x, as ipcs shows it; not 0. */
static inline int parse_key(const char *s, key_t *k)
{
	char *end;
	unsigned long v;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	if (*s == '\0' || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 16);
	if (errno != 0 || *end != '\0' || v == 0 || v > 0xffffffffUL)
		return -1;
	*k = (key_t)(int32_t)(uint32_t)v;
	return 0;
}

/* parse_duration accepts Go's duration syntax for the units that matter
 * here: a sequence of decimal numbers with ns, us, ms, s, m or h ("10s",
 * "1m30s", "250ms", "1.5s"). */
static inline int parse_duration(const char *s, int64_t *ns)
{
	double total = 0;
	if (*s == '\0')
		return -1;
	if (strcmp(s, "0") == 0) {
		*ns = 0;
		return 0;
	}
	while (*s != '\0') {
		char *end;
		double v, unit;
		errno = 0;
		v = strtod(s, &end);
		if (end == s || errno != 0 || v < 0)
			return -1;
		s = end;
		if (strncmp(s, "ns", 2) == 0)
			unit = 1, s += 2;
		else if (strncmp(s, "us", 2) == 0)
			unit = 1e3, s += 2;
		else if (strncmp(s, "ms", 2) == 0)
			unit = 1e6, s += 2;
		else if (*s == 's')
			unit = 1e9, s += 1;
		else if (*s == 'm')
			unit = 60e9, s += 1;
		else if (*s == 'h')
			unit = 3600e9, s += 1;
		else
			return -1;
		total += v * unit;
	}
	if (total > 9e18)
		return -1;
	*ns = (int64_t)total;
	return 0;
}

static inline int parse_wait(const char *s, enum shmring_wait_mode *m)
{
	if (strcmp(s, "adaptive") == 0)
		*m = SHMRING_WAIT_ADAPTIVE;
	else if (strcmp(s, "spin") == 0)
		*m = SHMRING_WAIT_SPIN;
	else if (strcmp(s, "yield") == 0)
		*m = SHMRING_WAIT_YIELD;
	else if (strcmp(s, "futex") == 0)
		*m = SHMRING_WAIT_FUTEX;
	else
		return -1;
	return 0;
}

static inline const char *fences_name(const struct shmring_stats *st)
{
	return st->asymmetric_fences ? "asymmetric" : "symmetric";
}

static const char *wait_name(enum shmring_wait_mode m)
{
	switch (m) {
	case SHMRING_WAIT_SPIN: return "spin";
	case SHMRING_WAIT_YIELD: return "yield";
	case SHMRING_WAIT_FUTEX: return "futex";
	default: return "adaptive";
	}
}

/* parse_flags reads "-name value", "-name=value" and "--name..." forms, like
 * Go's flag package. is_producer picks the flag set and defaults. */
static inline void parse_flags(int argc, char **argv, int is_producer, struct flags *f, const char *help)
{
	int i;
	f->key = (key_t)0x73686d72; /* "shmr", app.DefaultKey */
	f->size = 64;
	f->slot_size = 0;
	f->slots = 4096;
	f->count = is_producer ? 1000000 : 0;
	f->timeout = INT64_C(10000000000);
	f->wait = SHMRING_WAIT_ADAPTIVE;
	f->spin = f->yield = 0;
	f->symmetric = 0;
	f->vary = 0;
	f->has_expect = 0;
	f->expect = 0;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL, *eq;
		char name[32];
		size_t len;
		if (a[0] != '-')
			usage_fail("unexpected argument %s (flags only)", a);
		a += (a[1] == '-') ? 2 : 1;
		eq = strchr(a, '=');
		len = eq ? (size_t)(eq - a) : strlen(a);
		if (len == 0 || len >= sizeof name)
			usage_fail("bad flag %s", argv[i]);
		memcpy(name, a, len);
		name[len] = '\0';
		if (strcmp(name, "h") == 0 || strcmp(name, "help") == 0) {
			fputs(help, stdout);
			exit(0);
		}
		if (is_producer && strcmp(name, "vary") == 0) {
			f->vary = eq ? strcmp(eq + 1, "false") != 0 && strcmp(eq + 1, "0") != 0 : 1;
			continue;
		}
		if (strcmp(name, "symmetric") == 0) {
			f->symmetric = eq ? strcmp(eq + 1, "false") != 0 && strcmp(eq + 1, "0") != 0 : 1;
			continue;
		}
		if (eq)
			val = eq + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else
			usage_fail("flag needs an argument: -%s", name);
		if (strcmp(name, "key") == 0) {
			if (parse_key(val, &f->key) != 0)
				usage_fail("-key %s: want up to 8 hex digits, not 0, as ipcs shows it", val);
		} else if (strcmp(name, "size") == 0) {
			if (parse_u64(val, &f->size) != 0 || f->size < WIRE_HEADER_SIZE || f->size > MAX_SIZE)
				usage_fail("-size %s: want 20 (sequence number, timestamp and CRC32C) to 2^30 bytes", val);
		} else if (strcmp(name, "slot-size") == 0) {
			if (parse_u64(val, &f->slot_size) != 0 || f->slot_size < SHMRING_MIN_SLOT_SIZE ||
			    f->slot_size > SHMRING_MAX_SLOT_SIZE || f->slot_size % 8 != 0)
				usage_fail("-slot-size %s: want a multiple of 8 from 8 to 2^28", val);
		} else if (strcmp(name, "slots") == 0) {
			uint64_t seg;
			if (parse_u64(val, &f->slots) != 0 || shmring_segment_size(8, f->slots, &seg) != 0)
				usage_fail("-slots %s: want a power of two from 2 to 2^30", val);
		} else if (strcmp(name, "count") == 0) {
			if (parse_u64(val, &f->count) != 0)
				usage_fail("-count %s: want a number of messages", val);
		} else if (strcmp(name, "timeout") == 0) {
			if (parse_duration(val, &f->timeout) != 0 || f->timeout <= 0)
				usage_fail("-timeout %s: want a positive duration (10s, 500ms)", val);
		} else if (strcmp(name, "spin") == 0 || strcmp(name, "yield") == 0) {
			if (parse_duration(val, name[0] == 's' ? &f->spin : &f->yield) != 0)
				usage_fail("-spin/-yield %s: want a duration (20us, 1ns)", val);
		} else if (strcmp(name, "wait") == 0) {
			if (parse_wait(val, &f->wait) != 0)
				usage_fail("-wait %s: want spin, yield, futex or adaptive", val);
		} else if (!is_producer && strcmp(name, "expect") == 0) {
			if (parse_u64(val, &f->expect) != 0)
				usage_fail("-expect %s: want a number of messages", val);
			f->has_expect = 1;
		} else {
			usage_fail("unknown flag -%s", name);
		}
	}
	if (f->slot_size != 0 && f->size > f->slot_size - SHMRING_LEN_SIZE && f->slot_size < SHMRING_MIN_FRAGMENT_SLOT) {
		char v[24];
		snprintf(v, sizeof v, "%llu", (unsigned long long)f->slot_size);
		usage_fail("-slot-size %s: -size does not fit, and fragments need slots of 16 bytes or more", v);
	}
}

/* ring_slot_size is the slot of the ring for messages of f->size bytes:
 * -slot-size, or -size plus the 4-byte length rounded up to 8 with at most
 * 16 KiB of payload, as the Go commands (and ring.Config) derive it; a
 * longer message goes in fragments. */
static inline uint64_t ring_slot_size(const struct flags *f)
{
	if (f->slot_size != 0)
		return f->slot_size;
	return shmring_slot_size_for(f->size < MAX_SLOT_PAYLOAD ? f->size : MAX_SLOT_PAYLOAD);
}

/* per_message is the number of slots a message of f->size bytes takes: 1 if
 * it fits a slot's payload, else a first fragment of slot_size - 12 bytes
 * and as many of slot_size - 4 as the rest needs (docs/LAYOUT.md,
 * "Fragments"). The cursors count slots; this turns them into messages. */
static inline uint64_t per_message(const struct flags *f)
{
	uint64_t slot = ring_slot_size(f), pay = slot - SHMRING_LEN_SIZE;
	if (f->size <= pay)
		return 1;
	return 1 + (f->size - (pay - SHMRING_TOTAL_SIZE) + pay - 1) / pay;
}

/* ---- Running ----------------------------------------------------------- */

static volatile sig_atomic_t stop_signal;

static inline void on_signal(int sig)
{
	stop_signal = sig;
}

/* catch_signals makes SIGINT and SIGTERM end the run cleanly, as in the Go
 * commands. No SA_RESTART: a sleep in the library returns early, and every
 * wait is cut into slices short enough to notice the flag. */
static inline void catch_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* Each blocking call waits at most this long before the loop looks at the
 * signal flag and at whether the peer ever came. */
#define SLICE_NS INT64_C(100000000)

/* The options of the Go commands: their wait mode, a 250 ms liveness
 * interval, a ready timeout of min(-timeout, 1 s); -spin and -yield; and,
 * if this side creates the ring, symmetric fences with -symmetric. */
static inline struct shmring_options run_options(const struct flags *f)
{
	struct shmring_options o;
	shmring_options_default(&o);
	o.wait = f->wait;
	o.spin_ns = f->spin; /* 0: the default */
	o.yield_ns = f->yield;
	o.symmetric_fences = f->symmetric;
	o.liveness_ns = INT64_C(250000000);
	o.ready_timeout_ns = f->timeout < INT64_C(1000000000) ? f->timeout : INT64_C(1000000000);
	return o;
}

/* join opens the ring at f->key or creates it (whichever process comes
 * first, as internal/app does) and claims a role. The ring carries
 * messages of up to -size bytes: one made with another max_message, like
 * one of another geometry, is refused (SHMRING_ELAYOUT). It retries for up
 * to -timeout while the segment is not ready, is gone, or has this role
 * closed by an earlier run whose peer still drains it. Returns 0 or a
 * shmring code, having printed why. */
static inline int join(struct shmring *r, const struct flags *f, int is_producer, int *created)
{
	struct shmring_options o = run_options(f);
	int64_t deadline = shmring_now_ns() + f->timeout;
	uint64_t slot = ring_slot_size(f);
	o.max_message = f->size;
	for (;;) {
		int rc = shmring_open_or_create(r, f->key, (uint32_t)slot, (uint32_t)f->slots, &o, created);
		if (rc == 0) {
			rc = is_producer ? shmring_producer(r) : shmring_consumer(r);
			if (rc == 0)
				return 0;
			shmring_close(r);
		}
		if (rc != SHMRING_ENOTREADY && rc != SHMRING_ECLOSED && rc != -ENOENT && rc != -EIDRM) {
			fprintf(stderr, "%s: ring %#x: %s\n", prog, (unsigned)f->key, shmring_strerror(rc));
			return rc;
		}
		if (shmring_now_ns() > deadline || stop_signal) {
			fprintf(stderr, "%s: ring %#x: %s (gave up after -timeout)\n", prog, (unsigned)f->key,
				shmring_strerror(rc));
			return rc;
		}
		shmring__sleep_ns(20000000);
	}
}

/* peer_absent: the other role was never claimed (free and not closed). */
static inline int peer_absent(const struct shmring *r, int is_producer)
{
	struct shmring_stats st;
	const struct shmring_side_stats *peer;
	shmring_stats(r, &st);
	peer = is_producer ? &st.consumer : &st.producer;
	return peer->pid == 0 && !(is_producer ? st.consumer_closed : st.producer_closed);
}

/* leave ends the session: the segment goes by shmring_close's rule (the
 * library's, shared with Go), or shmring_abandon's when a producer does not
 * keep its messages for a consumer yet to come; this only says what
 * happened. */
static inline void leave(struct shmring *r, const struct flags *f, int is_producer, int keep_for_peer)
{
	struct shmring_stats st;
	const struct shmring_side_stats *peer;
	int peer_closed;
	shmring_stats(r, &st);
	peer = is_producer ? &st.consumer : &st.producer;
	peer_closed = is_producer ? st.consumer_closed : st.producer_closed;
	if (!peer_closed && peer->pid == 0 && keep_for_peer && st.fill > 0)
		fprintf(stderr, "%s: note: no %s yet: %llu messages wait in ring %#x for one\n", prog,
			is_producer ? "consumer" : "producer",
			(unsigned long long)((st.fill + per_message(f) - 1) / per_message(f)), (unsigned)f->key);
	else if (!peer_closed && peer->pid != 0 && !peer->alive)
		fprintf(stderr, "%s: note: the %s (pid %d) died\n", prog, is_producer ? "consumer" : "producer",
			peer->pid);
	if (keep_for_peer)
		shmring_close(r);
	else
		shmring_abandon(r);
}

#endif
