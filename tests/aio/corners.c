/* POSIX corners where glibc and libsyslets.so agree: aio_fsync ignores
 * aio_reqprio; aio_suspend with no entries returns at once; sysconf of the
 * AIO priority limit and of a name the library does not own; and a cancel
 * storm in which every aio_cancel answer matches how the request ended.
 * Same output with glibc and libsyslets.so. */
#include "common.h"

#define PIPES 100
#define ROUNDS 30

int main(void)
{
	announce();
	/* POSIX gives aio_fsync no aio_reqprio error. */
	int fd = temp_file(0);
	CHECK(pwrite(fd, "x", 1, 0) == 1);
	struct aiocb s = make_cb(fd, NULL, 0, 0);
	s.aio_reqprio = -1;
	int rc = aio_fsync(O_SYNC, &s);
	printf("fsync reqprio -1: %d\n", rc);
	if (rc == 0) {
		wait_for(&s);
		printf("fsync outcome: %s %zd\n", ename(aio_error(&s)), aio_return(&s));
	}
	close(fd);

	/* Nothing to wait for. */
	const struct aiocb *none[1] = { NULL };
	errno = 0;
	rc = aio_suspend(none, 0, NULL);
	printf("suspend none: %d %s\n", rc, ename(rc ? errno : 0));

	printf("sysconf prio delta: %ld\n", sysconf(_SC_AIO_PRIO_DELTA_MAX));
	printf("sysconf pagesize delegated: %d\n", sysconf(_SC_PAGESIZE) == getpagesize());

	/* The storm: reads of empty pipes, each cancelled right after its
	 * submission. AIO_CANCELED must end ECANCELED, AIO_NOTCANCELED must not
	 * (it gets its byte and completes), AIO_ALLDONE must be done already. */
	int p[PIPES][2];
	for (int i = 0; i < PIPES; i++)
		CHECK(pipe(p[i]) == 0);
	int mismatches = 0, answers = 0;
	char buf[PIPES];
	struct aiocb cb[PIPES];
	int answer[PIPES];
	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < PIPES; i++) {
			cb[i] = make_cb(p[i][0], &buf[i], 1, 0);
			CHECK(aio_read(&cb[i]) == 0);
			answer[i] = aio_cancel(p[i][0], &cb[i]);
			CHECK(answer[i] != -1);
			if (answer[i] == AIO_ALLDONE && aio_error(&cb[i]) == EINPROGRESS)
				mismatches++;
		}
		for (int i = 0; i < PIPES; i++)
			if (answer[i] == AIO_NOTCANCELED)
				CHECK(write(p[i][1], "b", 1) == 1);
		for (int i = 0; i < PIPES; i++) {
			wait_for(&cb[i]);
			int e = aio_error(&cb[i]);
			ssize_t n = aio_return(&cb[i]);
			answers++;
			if (answer[i] == AIO_CANCELED && (e != ECANCELED || n != -1))
				mismatches++;
			if (answer[i] == AIO_NOTCANCELED && (e != 0 || n != 1))
				mismatches++;
		}
	}
	printf("storm: %d answers, %d mismatches\n", answers, mismatches);
	for (int i = 0; i < PIPES; i++) {
		close(p[i][0]);
		close(p[i][1]);
	}
	printf("done\n");
	return 0;
}
