/* Where libsyslets.so deliberately differs from glibc, the behaviour POSIX
 * allows and this library promises. Run only with the library preloaded;
 * exits 1 (and says why) on any difference, and when the library is not in
 * effect. */
#include "common.h"

#define EXPECT_FAIL(expr, err)                                                 \
	do {                                                                   \
		errno = 0;                                                     \
		long rc_ = (long)(expr);                                       \
		if (rc_ != -1 || errno != (err)) {                             \
			fprintf(stderr, "%s:%d: %s gave %ld errno %s, want -1 %s\n", \
				__FILE__, __LINE__, #expr, rc_, ename(errno), ename(err)); \
			exit(1);                                               \
		}                                                              \
	} while (0)

static void on_usr1(int sig)
{
	(void)sig;
}

static void *kick(void *arg)
{
	usleep(100 * 1000);
	pthread_kill(*(pthread_t *)arg, SIGUSR1);
	return NULL;
}

int main(void)
{
	announce();
	if (!syslets_active()) {
		fprintf(stderr, "libsyslets.so is not preloaded\n");
		return 1;
	}
	int fd = temp_file(0);
	char buf[64] = "0123456789";
	CHECK(pwrite(fd, buf, 10, 0) == 10);

	/* aio_return on an unfinished request: EINVAL (glibc returns the field). */
	int p[2];
	CHECK(pipe(p) == 0);
	struct aiocb pending = make_cb(p[0], buf, 4, 0);
	CHECK(aio_read(&pending) == 0);
	CHECK(aio_error(&pending) == EINPROGRESS);
	EXPECT_FAIL(aio_return(&pending), EINVAL);
	/* Submitting an aiocb that is in progress: EINVAL, and it is left alone. */
	EXPECT_FAIL(aio_read(&pending), EINVAL);
	CHECK(aio_error(&pending) == EINPROGRESS);
	CHECK(write(p[1], "data", 4) == 4);
	wait_for(&pending);
	CHECK(aio_return(&pending) == 4);

	/* aio_return twice: the second is EINVAL (glibc returns the value again),
	 * while aio_error keeps saying how it ended. */
	struct aiocb cb = make_cb(fd, buf, 10, 0);
	CHECK(aio_read(&cb) == 0);
	wait_for(&cb);
	CHECK(aio_return(&cb) == 10);
	EXPECT_FAIL(aio_return(&cb), EINVAL);
	CHECK(aio_error(&cb) == 0);

	/* aio_error/aio_return on an aiocb never submitted: EINVAL (glibc: 0). */
	struct aiocb fresh = make_cb(fd, buf, 10, 0);
	EXPECT_FAIL(aio_error(&fresh), EINVAL);
	EXPECT_FAIL(aio_return(&fresh), EINVAL);

	/* A negative offset and a size overflow are refused at submission (glibc
	 * reports the former from aio_error), and the aiocb says EINVAL too. */
	cb = make_cb(fd, buf, 10, -1);
	EXPECT_FAIL(aio_read(&cb), EINVAL);
	CHECK(aio_error(&cb) == EINVAL);
	CHECK(aio_return(&cb) == -1);
	EXPECT_FAIL(aio_return(&cb), EINVAL);
	cb = make_cb(fd, buf, (size_t)SSIZE_MAX + 1, 0);
	EXPECT_FAIL(aio_read(&cb), EINVAL);
	cb = make_cb(fd, buf, 10, LLONG_MAX - 4);
	EXPECT_FAIL(aio_write(&cb), EINVAL);

	/* A bad signal number is refused at submission. */
	cb = make_cb(fd, buf, 10, 0);
	cb.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
	cb.aio_sigevent.sigev_signo = 1000;
	EXPECT_FAIL(aio_read(&cb), EINVAL);

	/* lio_listio: a member that cannot be submitted makes it EIO (POSIX);
	 * glibc gives the member's errno when no member could be submitted. */
	struct aiocb bad = make_cb(fd, buf, 10, 0);
	bad.aio_reqprio = 1000;
	bad.aio_lio_opcode = LIO_READ;
	struct aiocb *list[1] = { &bad };
	EXPECT_FAIL(lio_listio(LIO_NOWAIT, list, 1, NULL), EIO);
	CHECK(aio_error(&bad) == EINVAL);
	/* An unknown opcode is an invalid member. */
	bad = make_cb(fd, buf, 10, 0);
	bad.aio_lio_opcode = 77;
	EXPECT_FAIL(lio_listio(LIO_WAIT, list, 1, NULL), EIO);
	CHECK(aio_error(&bad) == EINVAL);

	/* The inline fast path: a read of cached file data completes inside
	 * aio_read (glibc always hands it to a thread). */
	cb = make_cb(fd, buf, 10, 0);
	CHECK(aio_read(&cb) == 0);
	CHECK(aio_error(&cb) == 0);
	CHECK(aio_return(&cb) == 10);

	/* aio_suspend without a timeout returns EINTR on a handler even with
	 * SA_RESTART (glibc restarts it). */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sa.sa_flags = SA_RESTART;
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
	struct aiocb blocked = make_cb(p[0], buf, 1, 0);
	CHECK(aio_read(&blocked) == 0);
	pthread_t self = pthread_self(), t;
	CHECK(pthread_create(&t, NULL, kick, &self) == 0);
	const struct aiocb *one[1] = { &blocked };
	EXPECT_FAIL(aio_suspend(one, 1, NULL), EINTR);
	pthread_join(t, NULL);
	/* A timeout with a negative field or a tv_nsec of 10^9 or more: EINVAL
	 * at once (glibc adds it to the clock anyway, and aborts on the latter). */
	const struct timespec bad_ts[] = { { -1, 0 }, { 0, -1 }, { 0, 1000000000 } };
	for (size_t i = 0; i < sizeof bad_ts / sizeof bad_ts[0]; i++)
		EXPECT_FAIL(aio_suspend(one, 1, &bad_ts[i]), EINVAL);
	CHECK(aio_error(&blocked) == EINPROGRESS);
	CHECK(write(p[1], "z", 1) == 1);
	wait_for(&blocked);
	CHECK(aio_return(&blocked) == 1);

	/* The request limit (glibc: sysconf says -1 and there is none): it
	 * counts requests until aio_return, and a lio_listio member beyond it
	 * says EAGAIN. */
	long max = sysconf(_SC_AIO_MAX);
	CHECK(max > 0 && sysconf(_SC_AIO_LISTIO_MAX) == max);
	struct aiocb *many = calloc(max + 2, sizeof *many);
	CHECK(many != NULL);
	for (long i = 0; i < max; i++) {
		many[i] = make_cb(fd, buf, 1, 0);
		CHECK(aio_read(&many[i]) == 0);
	}
	/* All completed inline, none returned: the next is refused. */
	CHECK(aio_error(&many[max - 1]) == 0);
	many[max] = make_cb(fd, buf, 1, 0);
	EXPECT_FAIL(aio_read(&many[max]), EAGAIN);
	CHECK(aio_return(&many[0]) == 1);
	many[max + 1] = make_cb(fd, buf, 1, 0);
	many[max].aio_lio_opcode = LIO_READ;
	many[max + 1].aio_lio_opcode = LIO_READ;
	struct aiocb *two[2] = { &many[max], &many[max + 1] };
	EXPECT_FAIL(lio_listio(LIO_WAIT, two, 2, NULL), EAGAIN);
	CHECK(aio_error(&many[max]) == 0);
	CHECK(aio_error(&many[max + 1]) == EAGAIN);
	CHECK(aio_return(&many[max + 1]) == -1);
	for (long i = 1; i <= max; i++)
		CHECK(aio_return(&many[i]) == 1);
	/* Returned, the places are free again. */
	CHECK(aio_read(&many[0]) == 0);
	wait_for(&many[0]);
	CHECK(aio_return(&many[0]) == 1);
	free(many);

	close(p[0]);
	close(p[1]);
	close(fd);
	printf("posix: all as promised\n");
	return 0;
}
