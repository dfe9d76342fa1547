/*
 * consumer.c - the C twin of cmd/consumer: receives the messages of a
 * producer (cmd/producer, examples/c/producer.c) through the shmring ring at
 * a SysV key, creating the ring if no producer has yet, and checks every
 * one: a good CRC32C and exactly the next sequence number, starting from
 * the ring's tail when it joined (0 on a fresh ring).
 *
 *     cc -std=c11 -O2 -I../../include -o consumer consumer.c
 *     ./consumer -key 0x5e7a0001 -size 64 -expect 1000000
 *
 * Prints one summary line to stdout; exit status 0 ok, 1 failure
 * (including any message corrupt, torn or out of sequence, or a count other than
 * -expect), 2 bad usage.
 */
#include "common.h"

static const char help[] =
	"usage: consumer [flags]\n"
	"\n"
	"Receives and checks the messages of a shmring producer (the format of\n"
	"cmd/producer) through the ring at a SysV key, creating the ring if no\n"
	"producer has yet. Every message must have a good CRC32C and the next\n"
	"sequence number. Stops when the producer closes, after -count messages,\n"
	"or at SIGINT/SIGTERM, and prints one summary line.\n"
	"\n"
	"flags:\n"
	"  -key HEX       SysV key of the ring (default 0x73686d72)\n"
	"  -size N        message size in bytes, 20 to 2^30 (default 64): with\n"
	"                 -slot-size and -slots, the geometry of the ring;\n"
	"                 messages may be shorter\n"
	"  -slot-size N   bytes per slot, its 4-byte length included, a multiple of 8\n"
	"                 (default: -size plus 4, rounded up to 8, at most 16392)\n"
	"  -slots N       number of slots (default 4096)\n"
	"  -count N       stop after this many messages; 0 = until the producer\n"
	"                 closes (default 0)\n"
	"  -expect N      fail unless exactly N messages were received\n"
	"  -timeout D     how long to wait for the ring and for a producer (default 10s)\n"
	"  -wait MODE     spin, yield, futex or adaptive (default adaptive)\n"
	"  -spin D        spin this long before yielding (adaptive, yield; default 20us)\n"
	"  -yield D       then yield this long before sleeping (adaptive; default 50us)\n"
	"  -symmetric     if this side creates the ring: symmetric fences (a full fence\n"
	"                 per publication, no membarrier), for peers that cannot use\n"
	"                 membarrier(2)\n"
	"\n"
	"exit status: 0 ok, 1 failure, 2 bad usage\n";

int main(int argc, char **argv)
{
	struct flags f;
	struct shmring r;
	struct shmring_stats st0, st;
	unsigned char *buf;
	uint64_t expected, expected0, n = 0, bytes = 0, corrupt = 0, out_of_order = 0, torn = 0, bad_at = 0, bad_got = 0;
	size_t cap;
	uint64_t min_len = UINT64_MAX, max_len = 0;
	int64_t start, first = 0, last = 0, lat_max = 0, last_seq = -1;
	double lat_sum = 0, secs;
	int created = 0, rc = 0, failed;
	const char *ended = "eof";

	prog = "consumer";
	parse_flags(argc, argv, 0, &f, help);
	if (crc_init() != 0) {
		fprintf(stderr, "consumer: CRC32C self-test failed\n");
		return 1;
	}
	catch_signals();
	if (join(&r, &f, 0, &created) != 0)
		return 1;
	shmring_stats(&r, &st0);
	expected = expected0 = st0.consumer.messages / per_message(&f); /* the ring's tail, in messages */
	/* -size bytes, or a slot's payload if that is more (a producer of
	 * another -size that the same slot holds); not the ring's
	 * max_message, which another program may have set to a terabyte. */
	cap = (size_t)f.size;
	if (cap < shmring_max_message(&r) && cap < r.slot_size - SHMRING_LEN_SIZE)
		cap = (size_t)(shmring_max_message(&r) < r.slot_size - SHMRING_LEN_SIZE ? shmring_max_message(&r)
											     : r.slot_size - SHMRING_LEN_SIZE);
	buf = (unsigned char *)malloc(cap);
	if (buf == NULL) {
		fprintf(stderr, "consumer: out of memory\n");
		leave(&r, &f, 0, 0);
		return 1;
	}
	start = shmring_now_ns();
	for (;;) {
		size_t len = 0;
		uint64_t seq;
		int64_t sent, now;
		if (f.count > 0 && n >= f.count) {
			ended = "count";
			break;
		}
		if (stop_signal) {
			ended = "interrupted";
			break;
		}
		rc = shmring_recv(&r, buf, cap, &len, SLICE_NS);
		if (rc == SHMRING_ETIMEOUT) {
			rc = 0;
			if (peer_absent(&r, 0) && shmring_now_ns() - start > f.timeout) {
				fprintf(stderr, "consumer: no producer claimed ring %#x within -timeout\n",
					(unsigned)f.key);
				rc = SHMRING_ETIMEOUT;
				ended = "error";
				break;
			}
			continue;
		}
		if (rc == SHMRING_EPEERSTOPPED) {
			fprintf(stderr, "consumer: %s; still waiting\n", shmring_strerror(rc));
			rc = 0;
			continue;
		}
		if (rc == SHMRING_EOF) {
			rc = 0;
			ended = "eof";
			break;
		}
		if (rc == SHMRING_ETORN) { /* its producer died or gave up in the middle of it */
			fprintf(stderr, "consumer: message %llu: %s\n", (unsigned long long)expected, shmring_strerror(rc));
			torn++;
			rc = 0;
			continue;
		}
		if (rc == SHMRING_ESHORTBUF) {
			fprintf(stderr, "consumer: message %llu is %zu bytes, longer than this consumer's -size %llu: "
					"give it the producer's -size\n",
				(unsigned long long)expected, len, (unsigned long long)f.size);
			ended = "error";
			break;
		}
		if (rc != 0) {
			fprintf(stderr, "consumer: receive message %llu: %s\n", (unsigned long long)expected,
				shmring_strerror(rc));
			ended = "error";
			break;
		}
		now = shmring_now_ns();
		if (n == 0)
			first = now;
		last = now;
		n++;
		bytes += len;
		min_len = len < min_len ? len : min_len;
		max_len = len > max_len ? len : max_len;
		if (!wire_check(buf, len, &seq, &sent)) {
			if (corrupt + out_of_order == 0)
				bad_at = expected, bad_got = UINT64_MAX;
			corrupt++;
			expected++;
			continue;
		}
		if (seq != expected) {
			if (corrupt + out_of_order == 0)
				bad_at = expected, bad_got = seq;
			out_of_order++;
			expected = seq + 1;
			continue;
		}
		expected++;
		last_seq = (int64_t)seq;
		lat_sum += (double)(now - sent);
		if (now - sent > lat_max)
			lat_max = now - sent;
	}
	shmring_flush(&r);
	shmring_stats(&r, &st);
	secs = last > first ? (double)(last - first) / 1e9 : 0;
	failed = rc != 0 || corrupt != 0 || out_of_order != 0 || torn != 0 || (f.has_expect && n != f.expect);
	printf("consumer: %s messages=%llu bytes=%llu first_seq=%llu last_seq=%lld min_len=%llu max_len=%llu "
	       "corrupt=%llu out_of_order=%llu torn=%llu slots=%llu slot_size=%llu wait=%s created=%d fences=%s membarriers=%llu "
	       "seconds=%.3f msgs_per_sec=%.0f "
	       "latency_mean_ns=%.0f latency_max_ns=%lld stalls=%llu waits=%llu wakes=%llu ended=%s\n",
	       failed ? "FAILED" : "ok", (unsigned long long)n, (unsigned long long)bytes,
	       (unsigned long long)expected0, (long long)last_seq,
	       (unsigned long long)(n ? min_len : 0), (unsigned long long)max_len, (unsigned long long)corrupt,
	       (unsigned long long)out_of_order, (unsigned long long)torn, (unsigned long long)st.slots,
	       (unsigned long long)st.slot_size, wait_name(f.wait), created,
	       fences_name(&st), (unsigned long long)r.cons.membarriers, secs,
	       secs > 0 ? (double)n / secs : 0.0, n > corrupt + out_of_order ? lat_sum / (double)(n - corrupt - out_of_order) : 0.0,
	       (long long)lat_max, (unsigned long long)(st.consumer.stalls - st0.consumer.stalls),
	       (unsigned long long)(st.consumer.waits - st0.consumer.waits),
	       (unsigned long long)(st.consumer.wakes - st0.consumer.wakes), ended);
	fflush(stdout);
	if (corrupt + out_of_order > 0) {
		if (bad_got == UINT64_MAX)
			fprintf(stderr, "consumer: check failed: message %llu is corrupt (bad CRC32C or shorter "
					"than 20 bytes); %llu corrupt, %llu out of sequence in all\n",
				(unsigned long long)bad_at, (unsigned long long)corrupt,
				(unsigned long long)out_of_order);
		else
			fprintf(stderr, "consumer: check failed: expected sequence %llu, got %llu; %llu corrupt, "
					"%llu out of sequence in all\n",
				(unsigned long long)bad_at, (unsigned long long)bad_got, (unsigned long long)corrupt,
				(unsigned long long)out_of_order);
	}
	if (f.has_expect && n != f.expect)
		fprintf(stderr, "consumer: check failed: received %llu messages, -expect %llu\n",
			(unsigned long long)n, (unsigned long long)f.expect);
	leave(&r, &f, 0, 0);
	free(buf);
	return failed ? 1 : 0;
}
