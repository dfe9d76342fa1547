/*
 * producer.c - the C twin of cmd/producer: sends numbered, timestamped,
 * CRC32C-sealed messages through the shmring ring at a SysV key, creating
 * the ring if no consumer has yet. Any consumer reads them: cmd/consumer,
 * examples/c/consumer.c, or your own.
 *
 *     cc -std=c11 -O2 -I../../include -o producer producer.c
 *     ./producer -key 0x5e7a0001 -count 1000000 -size 64
 *
 * Prints one summary line to stdout; exit status 0 ok, 1 failure, 2 bad
 * usage.
 */
#include "common.h"

static const char help[] =
	"usage: producer [flags]\n"
	"\n"
	"Sends numbered, timestamped, CRC32C-checked messages into the shmring ring\n"
	"at a SysV key (the format of cmd/producer), creating the ring if no consumer\n"
	"has yet. Stops after -count messages, at SIGINT/SIGTERM, or when the\n"
	"consumer closes, and prints one summary line.\n"
	"\n"
	"flags:\n"
	"  -key HEX       SysV key of the ring (default 0x73686d72)\n"
	"  -size N        message size in bytes, 20 to 2^30 (default 64); a message\n"
	"                 larger than a slot travels in fragments, one per slot\n"
	"  -slot-size N   bytes per slot, its 4-byte length included, a multiple of 8\n"
	"                 (default: -size plus 4, rounded up to 8, at most 16392)\n"
	"  -slots N       number of slots if this side creates the ring (default 4096)\n"
	"  -count N       messages to send; 0 = until interrupted (default 1000000)\n"
	"  -timeout D     how long to wait for the ring and for a consumer (default 10s)\n"
	"  -wait MODE     spin, yield, futex or adaptive (default adaptive)\n"
	"  -spin D        spin this long before yielding (adaptive, yield; default 20us)\n"
	"  -yield D       then yield this long before sleeping (adaptive; default 50us)\n"
	"  -symmetric     if this side creates the ring: symmetric fences (a full fence\n"
	"                 per publication, no membarrier), for peers that cannot use\n"
	"                 membarrier(2)\n"
	"  -vary          vary message sizes from 20 to -size bytes\n"
	"\n"
	"exit status: 0 ok, 1 failure, 2 bad usage\n";

int main(int argc, char **argv)
{
	struct flags f;
	struct shmring r;
	struct shmring_stats st0, st;
	unsigned char *msg;
	uint64_t seq, n = 0, bytes = 0, span;
	int64_t start, first = 0, last = 0;
	int created = 0, rc = 0, normal;
	const char *ended = "count";
	double secs;

	prog = "producer";
	parse_flags(argc, argv, 1, &f, help);
	if (crc_init() != 0) {
		fprintf(stderr, "producer: CRC32C self-test failed\n");
		return 1;
	}
	catch_signals();
	if (join(&r, &f, 1, &created) != 0)
		return 1;
	shmring_stats(&r, &st0);
	seq = st0.producer.messages / per_message(&f); /* the ring's head, in messages */
	msg = (unsigned char *)malloc((size_t)f.size);
	if (msg == NULL) {
		fprintf(stderr, "producer: out of memory\n");
		leave(&r, &f, 1, 0);
		return 1;
	}
	wire_fill(msg, (size_t)f.size);
	span = f.size - WIRE_HEADER_SIZE + 1;
	start = shmring_now_ns();
	for (;;) {
		size_t len = (size_t)f.size;
		int64_t now;
		if (stop_signal) {
			ended = "interrupted";
			break;
		}
		if (f.count > 0 && n >= f.count) {
			ended = "count";
			break;
		}
		if (f.vary) /* a spread of sizes that is not periodic in the ring: whole ones, fragmented ones */
			len = WIRE_HEADER_SIZE + (size_t)((seq * UINT64_C(2654435761)) % span);
		now = shmring_now_ns();
		wire_put(msg, len, seq, now);
		rc = shmring_send(&r, msg, len, SLICE_NS);
		if (rc == SHMRING_ETIMEOUT) {
			rc = 0;
			if (peer_absent(&r, 1) && shmring_now_ns() - start > f.timeout) {
				fprintf(stderr, "producer: no consumer claimed ring %#x within -timeout\n",
					(unsigned)f.key);
				rc = SHMRING_ETIMEOUT;
				ended = "error";
				break;
			}
			continue;
		}
		if (rc == SHMRING_EPEERSTOPPED) {
			fprintf(stderr, "producer: %s; still waiting\n", shmring_strerror(rc));
			rc = 0;
			continue;
		}
		if (rc == SHMRING_ECLOSED) { /* the consumer stopped first: a normal end */
			rc = 0;
			ended = "consumer closed";
			break;
		}
		if (rc != 0) {
			fprintf(stderr, "producer: send message %llu: %s\n", (unsigned long long)seq,
				shmring_strerror(rc));
			ended = "error";
			break;
		}
		if (n == 0)
			first = now;
		last = shmring_now_ns();
		seq++;
		n++;
		bytes += len;
	}
	shmring_flush(&r);
	shmring_stats(&r, &st);
	secs = last > first ? (double)(last - first) / 1e9 : 0;
	printf("producer: %s messages=%llu bytes=%llu first_seq=%llu size=%llu vary=%d slots=%llu wait=%s "
	       "created=%d fences=%s membarriers=%llu seconds=%.3f msgs_per_sec=%.0f stalls=%llu waits=%llu "
	       "wakes=%llu ended=%s\n",
	       rc == 0 ? "ok" : "FAILED", (unsigned long long)n, (unsigned long long)bytes,
	       (unsigned long long)(st0.producer.messages / per_message(&f)), (unsigned long long)f.size, f.vary,
	       (unsigned long long)st.slots, wait_name(f.wait), created, fences_name(&st),
	       (unsigned long long)r.prod.membarriers, secs, secs > 0 ? (double)n / secs : 0.0,
	       (unsigned long long)(st.producer.stalls - st0.producer.stalls),
	       (unsigned long long)(st.producer.waits - st0.producer.waits),
	       (unsigned long long)(st.producer.wakes - st0.producer.wakes), ended);
	fflush(stdout);
	normal = rc == 0 && strcmp(ended, "count") == 0;
	leave(&r, &f, 1, normal);
	free(msg);
	return rc == 0 ? 0 : 1;
}
