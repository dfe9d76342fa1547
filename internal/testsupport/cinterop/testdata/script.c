/*
 * script: one process's side of a ring, driven line by line from stdin by
 * internal/cinterop's tests of what the shared fields mean (shared_test.go),
 * so that a Go test can interleave its own calls with this process's. Each
 * command prints one line: the command and the code it returned (0, or a
 * negative SHMRING_* code or -errno), and for stats the header's words.
 *
 *   open KEY               shmring_open, default options
 *   create KEY SLOT_SIZE SLOTS MAX
 *                          shmring_create, mode 0600, with max_message MAX
 *                          (0: the default, slot_size - 4)
 *   producer | consumer    claim the role
 *   send LEN TIMEOUT_NS    shmring_send of LEN bytes of 'x'
 *   sendpat LEN SEED TIMEOUT_NS
 *                          shmring_send of LEN bytes of the pattern of SEED
 *                          (pattern below; fragment_test.go has its twin)
 *   recv TIMEOUT_NS        shmring_recv; prints the length too
 *   recvcrc TIMEOUT_NS CAP shmring_recv into a buffer of CAP bytes (0: the
 *                          largest, BIG); prints the length and the
 *                          CRC-32C of the message
 *   recvdirty TIMEOUT_NS CAP
 *                          shmring_recv into CAP bytes (at most BIG) that
 *                          were zeroed first; prints the length and how
 *                          many of the CAP bytes are no longer zero
 *   producer_close | consumer_close | flush | close | remove
 *   stats                  shmring_stats, as key=value pairs
 *   fetching               whether the consumer's next wait fetches the
 *                          second line of its slot (shmring__fetching), as
 *                          the code: 1 or 0
 */
#include "shmring.h"

#include <stdio.h>
#include <stdlib.h>

/* The largest message sendpat and recvcrc take. */
#define BIG (8u << 20)

/* pattern fills msg with n bytes of the pattern of seed: byte i is
 * i * 131 + seed * 977 + i / 512, modulo 256, so that no two offsets a
 * fragment apart, and no two seeds, look alike. */
static void pattern(unsigned char *msg, uint64_t n, uint64_t seed)
{
	uint64_t i;
	for (i = 0; i < n; i++)
		msg[i] = (unsigned char)(i * 131 + seed * 977 + (i >> 9));
}

/* crc32c is CRC-32C (Castagnoli), bit by bit: Go's crc32.Checksum with
 * crc32.Castagnoli. */
static uint32_t crc32c(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	int k;
	while (n-- > 0) {
		c ^= *p++;
		for (k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
	}
	return ~c;
}

int main(void)
{
	struct shmring r;
	char line[256], cmd[32];
	unsigned char buf[4096];
	unsigned char *big = (unsigned char *)malloc(BIG);

	if (big == NULL)
		return 1;
	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(&r, 0, sizeof r); /* so that nothing the header leaves unset looks set */
	memset(buf, 'x', sizeof buf);
	while (fgets(line, sizeof line, stdin) != NULL) {
		long long a = 0, b = 0, c = 0, d = 0;
		size_t len = 0;
		int rc;

		if (sscanf(line, "%31s %lli %lli %lli %lli", cmd, &a, &b, &c, &d) < 1)
			continue;
		if (strcmp(cmd, "open") == 0) {
			rc = shmring_open(&r, (key_t)a, NULL);
		} else if (strcmp(cmd, "create") == 0) {
			struct shmring_options o;
			shmring_options_default(&o);
			o.max_message = (uint64_t)d;
			rc = shmring_create(&r, (key_t)a, (uint32_t)b, (uint32_t)c, 0600, &o);
		} else if (strcmp(cmd, "sendpat") == 0) {
			if (a >= 0 && (unsigned long long)a <= BIG) {
				pattern(big, (uint64_t)a, (uint64_t)b);
				rc = shmring_send(&r, big, (size_t)a, c);
			} else {
				rc = -EINVAL;
			}
		} else if (strcmp(cmd, "recvcrc") == 0) {
			size_t cap = b > 0 && (unsigned long long)b < BIG ? (size_t)b : BIG;
			rc = shmring_recv(&r, big, cap, &len, a);
			printf("recvcrc %d %zu %u\n", rc, len, rc == 0 ? (unsigned)crc32c(big, len) : 0u);
			continue;
		} else if (strcmp(cmd, "recvdirty") == 0) {
			size_t cap = b > 0 && (unsigned long long)b < BIG ? (size_t)b : BIG, i, dirty = 0;
			memset(big, 0, cap);
			rc = shmring_recv(&r, big, cap, &len, a);
			for (i = 0; i < cap; i++)
				dirty += big[i] != 0;
			printf("recvdirty %d %zu %zu\n", rc, len, dirty);
			continue;
		} else if (strcmp(cmd, "remove") == 0) {
			rc = shmring_remove(&r);
		} else if (strcmp(cmd, "producer") == 0) {
			rc = shmring_producer(&r);
		} else if (strcmp(cmd, "consumer") == 0) {
			rc = shmring_consumer(&r);
		} else if (strcmp(cmd, "send") == 0) {
			rc = a >= 0 && (size_t)a <= sizeof buf ? shmring_send(&r, buf, (size_t)a, b) : -EINVAL;
		} else if (strcmp(cmd, "recv") == 0) {
			rc = shmring_recv(&r, buf, sizeof buf, &len, a);
			printf("recv %d %zu\n", rc, len);
			continue;
		} else if (strcmp(cmd, "producer_close") == 0) {
			rc = shmring_producer_close(&r);
		} else if (strcmp(cmd, "consumer_close") == 0) {
			rc = shmring_consumer_close(&r);
		} else if (strcmp(cmd, "flush") == 0) {
			shmring_flush(&r);
			rc = 0;
		} else if (strcmp(cmd, "close") == 0) {
			rc = shmring_close(&r);
		} else if (strcmp(cmd, "fetching") == 0) {
			rc = shmring__fetching(&r);
		} else if (strcmp(cmd, "stats") == 0) {
			struct shmring_stats st;
			shmring_stats(&r, &st);
			printf("stats producer_closed=%d consumer_closed=%d producer_pid=%d consumer_pid=%d "
			       "producer_stalls=%llu consumer_stalls=%llu producer_messages=%llu consumer_messages=%llu "
			       "producer_bytes=%llu consumer_bytes=%llu slot_size=%llu slots=%llu max_message=%llu fill=%llu\n",
			       st.producer_closed, st.consumer_closed, st.producer.pid, st.consumer.pid,
			       (unsigned long long)st.producer.stalls, (unsigned long long)st.consumer.stalls,
			       (unsigned long long)st.producer.messages, (unsigned long long)st.consumer.messages,
			       (unsigned long long)st.producer.bytes, (unsigned long long)st.consumer.bytes,
			       (unsigned long long)st.slot_size, (unsigned long long)st.slots,
			       (unsigned long long)st.max_message, (unsigned long long)st.fill);
			continue;
		} else {
			rc = -EINVAL;
		}
		printf("%s %d\n", cmd, rc);
	}
	return 0;
}
