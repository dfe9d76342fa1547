/*
 * script: one process's side of a ring, driven line by line from stdin by
 * internal/cinterop's tests of what the shared fields mean (shared_test.go),
 * so that a Go test can interleave its own calls with this process's. Each
 * command prints one line: the command and the code it returned (0, or a
 * negative SHMRING_* code or -errno), and for stats the header's words.
 *
 *   open KEY               shmring_open, default options
 *   producer | consumer    claim the role
 *   send LEN TIMEOUT_NS    shmring_send of LEN bytes of 'x'
 *   recv TIMEOUT_NS        shmring_recv; prints the length too
 *   producer_close | consumer_close | flush | close
 *   stats                  shmring_stats, as key=value pairs
 */
#include "shmring.h"

#include <stdio.h>
#include <stdlib.h>

int main(void)
{
	struct shmring r;
	char line[256], cmd[32];
	unsigned char buf[4096];

	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(buf, 'x', sizeof buf);
	while (fgets(line, sizeof line, stdin) != NULL) {
		long long a = 0, b = 0;
		size_t len = 0;
		int rc;

		if (sscanf(line, "%31s %lli %lli", cmd, &a, &b) < 1)
			continue;
		if (strcmp(cmd, "open") == 0) {
			rc = shmring_open(&r, (key_t)a, NULL);
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
		} else if (strcmp(cmd, "stats") == 0) {
			struct shmring_stats st;
			shmring_stats(&r, &st);
			printf("stats producer_closed=%d consumer_closed=%d producer_pid=%d consumer_pid=%d "
			       "producer_stalls=%llu consumer_stalls=%llu producer_messages=%llu consumer_messages=%llu\n",
			       st.producer_closed, st.consumer_closed, st.producer.pid, st.consumer.pid,
			       (unsigned long long)st.producer.stalls, (unsigned long long)st.consumer.stalls,
			       (unsigned long long)st.producer.messages, (unsigned long long)st.consumer.messages);
			continue;
		} else {
			rc = -EINVAL;
		}
		printf("%s %d\n", cmd, rc);
	}
	return 0;
}
