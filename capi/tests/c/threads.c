/*
 * threads.c - one executor, PRODUCERS threads submitting (SYSLET_EXECUTOR_BLOCK:
 * a full ring makes them wait) while the main thread reaps through the
 * eventfd. Every chain completes inline and is posted to the ring during its
 * submit, so the reaper often sees a completion before its submitter has
 * recorded the handle: none may be lost, none handed out twice, and each
 * handle must come back with its own completion.
 *
 * Prints "reaped N" and exits 0, or "FAIL ..." and exits 1.
 */
#define _GNU_SOURCE
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <syslets.h>

#define PRODUCERS 4
#define PER_PRODUCER 500
#define TOTAL (PRODUCERS * PER_PRODUCER)

static syslet_executor *ex;
static syslet_batch *handles[TOTAL];

static void fail(const char *what, const struct syslet_error *e)
{
	printf("FAIL %s: %s\n", what, e ? e->message : "");
	exit(1);
}

static void *producer(void *arg)
{
	long t = (long)arg;
	struct syslet_error e;
	int i;
	for (i = 0; i < PER_PRODUCER; i++) {
		int k = (int)t * PER_PRODUCER + i;
		if (syslet_executor_submit(ex, handles[k], NULL, &e) != SYSLET_OK)
			fail("submit", &e);
	}
	return NULL;
}

int main(void)
{
	static unsigned char bytes[sizeof(struct syslets_builder)];
	static struct syslets_builder b;
	static unsigned char seen[TOTAL];
	struct syslet_executor_options opts = {0, 16, SYSLET_EXECUTOR_BLOCK, 0};
	struct syslet_error e;
	struct syslet_completion c;
	pthread_t threads[PRODUCERS];
	syslet_batch *out[32];
	int reaped = 0, fd, i, n;
	long t;

	for (i = 0; i < TOTAL; i++) {
		size_t len;
		syslets_builder_init(&b);
		b.header.caller_data = (uint64_t)i;
		SYSLETS_ATOM0(&b, 0, SYSLET_NR_GETPID);
		len = syslets_builder_finish(&b, bytes, sizeof bytes);
		handles[i] = syslet_validate(bytes, len, NULL, &e);
		if (!handles[i])
			fail("validate", &e);
	}
	ex = syslet_executor_new(&opts, NULL, &e);
	if (!ex)
		fail("executor", &e);
	fd = syslet_executor_eventfd(ex, &e);
	if (fd < 0)
		fail("eventfd", &e);
	for (t = 0; t < PRODUCERS; t++)
		if (pthread_create(&threads[t], NULL, producer, (void *)t) != 0)
			fail("pthread_create", NULL);
	while (reaped < TOTAL) {
		struct pollfd pfd = {fd, POLLIN, 0};
		uint64_t counter;
		/* A short timeout too: a completion kept back because its submitter
		 * had not recorded the handle yet posts no new eventfd count. */
		if (poll(&pfd, 1, 10) < 0)
			fail("poll", NULL);
		if (pfd.revents & POLLIN && read(fd, &counter, 8) != 8)
			fail("read eventfd", NULL);
		n = syslet_executor_reap(ex, out, 32, &e);
		if (n < 0)
			fail("reap", &e);
		for (i = 0; i < n; i++) {
			if (syslet_batch_completion(out[i], &c, &e) != SYSLET_OK)
				fail("completion", &e);
			if (c.caller_data >= TOTAL || out[i] != handles[c.caller_data])
				fail("a reaped handle is not the one submitted with its caller_data", NULL);
			if (seen[c.caller_data]++)
				fail("a handle was reaped twice", NULL);
			if (c.status != getpid() || c.atoms_run != 1)
				fail("wrong completion", NULL);
		}
		reaped += n;
	}
	for (t = 0; t < PRODUCERS; t++)
		pthread_join(threads[t], NULL);
	if (syslet_executor_reap(ex, out, 32, &e) != 0)
		fail("a completion beyond the submitted ones", NULL);
	syslet_executor_free(ex);
	for (i = 0; i < TOTAL; i++)
		syslet_batch_free(handles[i]);
	printf("reaped %d\n", reaped);
	return 0;
}
