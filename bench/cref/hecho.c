/*
 * hecho: the echo of a round trip through the C header, include/shmring.h
 * (bench/large_test.go, headerRoundTripLarge). Arguments: KEY_IN KEY_OUT,
 * the keys of two rings the benchmark made. It takes the consumer's role of
 * the first and the producer's of the second, both spinning, reads a byte
 * of every page of both segments (as the Go peers do), says "ready", and
 * sends every message it receives back until the producer of the first
 * closes; then it says "done COUNT".
 */
#include "shmring.h"

#include <stdio.h>
#include <stdlib.h>

/* The longest message echoed. */
#define BIG (16u << 20)

/* sink keeps prefault's reads. */
static volatile unsigned sink;

/* prefault reads a byte of every page of r's slots. */
static unsigned prefault(const struct shmring *r)
{
	volatile const unsigned char *p = r->slots;
	uint64_t i, n = r->slot_count * r->slot_size;
	unsigned sum = 0;
	for (i = 0; i < n; i += 4096)
		sum += p[i];
	return sum;
}

static int open_ring(struct shmring *r, const char *key, int producer)
{
	struct shmring_options o;
	int rc;
	shmring_options_default(&o);
	o.wait = SHMRING_WAIT_SPIN;
	if ((rc = shmring_open(r, (key_t)strtoul(key, NULL, 0), &o)) != 0)
		return rc;
	return producer ? shmring_producer(r) : shmring_consumer(r);
}

int main(int argc, char **argv)
{
	struct shmring in, out;
	unsigned char *buf = (unsigned char *)malloc(BIG);
	unsigned long count = 0;
	size_t n;
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: hecho KEY_IN KEY_OUT\n");
		return 2;
	}
	if (buf == NULL) {
		fprintf(stderr, "hecho: no memory for a %u-byte buffer\n", BIG);
		return 1;
	}
	if ((rc = open_ring(&in, argv[1], 0)) != 0 || (rc = open_ring(&out, argv[2], 1)) != 0) {
		fprintf(stderr, "hecho: open: %d\n", rc);
		return 1;
	}
	sink = prefault(&in) + prefault(&out);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("ready\n");
	while ((rc = shmring_recv(&in, buf, BIG, &n, -1)) == 0) {
		if ((rc = shmring_send(&out, buf, n, -1)) != 0)
			break;
		count++;
	}
	if (rc != SHMRING_EOF) {
		fprintf(stderr, "hecho: after %lu messages: %d\n", count, rc);
		return 1;
	}
	printf("done %lu\n", count);
	shmring_close(&out);
	shmring_close(&in);
	return 0;
}
