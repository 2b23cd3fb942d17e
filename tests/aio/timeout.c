/* aio_suspend with timeouts at the edge of time_t: the end of the wait (now
 * on CLOCK_MONOTONIC plus the timeout) overflows for {LONG_MAX, 0}; glibc's
 * sum wraps into the past, so the wait times out at once (-1, EAGAIN) while
 * every request is in progress, and returns 0 once one is done. A huge
 * timeout that does not overflow waits for the request. Everything printed
 * on stdout must be the same with glibc and with libsyslets.so preloaded
 * (which must not abort on the overflow). */
#include "common.h"

static int wfd;

static void *write_later(void *arg)
{
	(void)arg;
	struct timespec d = { 0, 100 * 1000 * 1000 };
	nanosleep(&d, NULL);
	CHECK(write(wfd, "t", 1) == 1);
	return NULL;
}

static void suspend_for(const char *what, const struct aiocb *const *list,
			struct timespec t)
{
	double t0 = now_ms();
	errno = 0;
	int rc = aio_suspend(list, 1, &t);
	int e = rc == 0 ? 0 : errno;
	printf("%s: rc=%d errno=%s quick=%d\n", what, rc, ename(e),
	       now_ms() - t0 < 2000);
}

int main(void)
{
	announce();
	int p[2];
	CHECK(pipe(p) == 0);
	wfd = p[1];
	char buf[4];
	struct aiocb cb = make_cb(p[0], buf, 1, 0);
	CHECK(aio_read(&cb) == 0);
	const struct aiocb *list[1] = { &cb };

	/* The request cannot complete: nothing was written yet. */
	suspend_for("pending, {LONG_MAX, 0}", list, (struct timespec){ LONG_MAX, 0 });
	suspend_for("pending, {LONG_MAX, 999999999}", list,
		    (struct timespec){ LONG_MAX, 999999999 });
	printf("still: %s\n", ename(aio_error(&cb)));

	/* Huge but representable: waits until the data comes. */
	pthread_t t;
	CHECK(pthread_create(&t, NULL, write_later, NULL) == 0);
	struct timespec half = { LONG_MAX / 2, 0 };
	double t0 = now_ms();
	int rc;
	while ((rc = aio_suspend(list, 1, &half)) == -1 && errno == EINTR)
		;
	printf("pending, {LONG_MAX/2, 0}: rc=%d waited=%d\n", rc, now_ms() - t0 >= 90);
	CHECK(pthread_join(t, NULL) == 0);
	printf("then: error=%s return=%zd\n", ename(aio_error(&cb)), aio_return(&cb));

	/* A finished request: 0 at once, whatever the timeout. */
	struct aiocb done = make_cb(p[0], buf, 0, 0);
	CHECK(aio_read(&done) == 0);
	wait_for(&done);
	const struct aiocb *dlist[1] = { &done };
	suspend_for("done, {LONG_MAX, 0}", dlist, (struct timespec){ LONG_MAX, 0 });
	close(p[0]);
	close(p[1]);
	printf("done\n");
	return 0;
}
