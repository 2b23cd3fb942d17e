/* aio_cancel on a socket: reads on one socket run one at a time in order, so
 * with no data the first blocks and the rest wait behind it. Cancelling
 * every request of the fd cancels the waiting ones (ECANCELED, with their
 * notification) and not the running one (AIO_NOTCANCELED), which then
 * completes when data comes. Same output with glibc and libsyslets.so. */
#include "common.h"

static sem_t notified;
static volatile int notified_values[8];
static volatile int notified_count;

static void on_notify(union sigval v)
{
	int i = __atomic_fetch_add(&notified_count, 1, __ATOMIC_SEQ_CST);
	if (i < 8)
		notified_values[i] = v.sival_int;
	sem_post(&notified);
}

static void wait_notified(int n)
{
	struct timespec ts;
	for (int i = 0; i < n; i++) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 10;
		CHECK(sem_timedwait(&notified, &ts) == 0);
	}
}

static void cancel_all(void)
{
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	enum { N = 4 };
	static struct aiocb cbs[N];
	static char bufs[N][8];
	for (int i = 0; i < N; i++) {
		cbs[i] = make_cb(sv[0], bufs[i], 5, 0);
		cbs[i].aio_sigevent.sigev_notify = SIGEV_THREAD;
		cbs[i].aio_sigevent.sigev_notify_function = on_notify;
		cbs[i].aio_sigevent.sigev_value.sival_int = 100 + i;
		CHECK(aio_read(&cbs[i]) == 0);
	}
	/* Let the first read start blocking in its thread. */
	usleep(300 * 1000);
	for (int i = 0; i < N; i++)
		printf("before cancel: cb%d %s\n", i, ename(aio_error(&cbs[i])));

	int rc = aio_cancel(sv[0], NULL);
	printf("aio_cancel(fd, NULL) = %s\n",
	       rc == AIO_CANCELED ? "AIO_CANCELED" : rc == AIO_NOTCANCELED ? "AIO_NOTCANCELED" :
	       rc == AIO_ALLDONE ? "AIO_ALLDONE" : "-1");
	for (int i = 0; i < N; i++)
		printf("after cancel: cb%d %s\n", i, ename(aio_error(&cbs[i])));
	for (int i = 1; i < N; i++)
		printf("cb%d return=%zd\n", i, aio_return(&cbs[i]));

	/* The cancelled ones were notified (in any order). */
	wait_notified(N - 1);
	int mask = 0;
	for (int i = 0; i < N - 1; i++)
		mask |= 1 << (notified_values[i] - 100);
	printf("notified for cancelled: mask=%#x\n", mask);

	/* The running read completes when data comes. */
	CHECK(write(sv[1], "hello", 5) == 5);
	wait_for(&cbs[0]);
	wait_notified(1);
	printf("cb0: error=%s return=%zd data=%.5s last_notified=%d\n", ename(aio_error(&cbs[0])),
	       aio_return(&cbs[0]), bufs[0], notified_values[N - 1]);

	rc = aio_cancel(sv[0], NULL);
	printf("aio_cancel again = %s\n", rc == AIO_ALLDONE ? "AIO_ALLDONE" : "other");
	close(sv[0]);
	close(sv[1]);
}

static void cancel_one(void)
{
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	static struct aiocb a, b, c;
	static char ba[4], bb[4], bc[4];
	a = make_cb(sv[0], ba, 3, 0);
	b = make_cb(sv[0], bb, 3, 0);
	c = make_cb(sv[0], bc, 3, 0);
	CHECK(aio_read(&a) == 0);
	CHECK(aio_read(&b) == 0);
	CHECK(aio_read(&c) == 0);
	usleep(300 * 1000);

	int rc = aio_cancel(sv[0], &b);
	printf("cancel the middle one = %s\n", rc == AIO_CANCELED ? "AIO_CANCELED" : "other");
	rc = aio_cancel(sv[0], &a);
	printf("cancel the running one = %s\n", rc == AIO_NOTCANCELED ? "AIO_NOTCANCELED" : "other");
	printf("a=%s b=%s c=%s\n", ename(aio_error(&a)), ename(aio_error(&b)), ename(aio_error(&c)));

	/* The order holds for what remains: a gets the first bytes, c the next. */
	CHECK(write(sv[1], "AAABBB", 6) == 6);
	wait_for(&a);
	wait_for(&c);
	printf("a=%zd:%.3s c=%zd:%.3s\n", aio_return(&a), ba, aio_return(&c), bc);
	rc = aio_cancel(sv[0], &a);
	printf("cancel a finished one = %s\n", rc == AIO_ALLDONE ? "AIO_ALLDONE" : "other");

	/* Errors: a bad descriptor, an aiocb of another descriptor. */
	errno = 0;
	rc = aio_cancel(-1, NULL);
	printf("cancel bad fd: rc=%d errno=%s\n", rc, ename(errno));
	errno = 0;
	rc = aio_cancel(sv[1], &a);
	printf("cancel with another fd's aiocb: rc=%d errno=%s\n", rc, ename(errno));
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	announce();
	CHECK(sem_init(&notified, 0, 0) == 0);
	cancel_all();
	cancel_one();
	printf("done\n");
	return 0;
}
