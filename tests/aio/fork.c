/* A program that never calls aio_init and forks: before any AIO, and with a
 * request in flight (whose threads the child does not have). AIO works in
 * both processes. Same output with glibc and libsyslets.so. */
#include "common.h"
#include <sys/wait.h>

/* One read of a pipe that needs a thread (no data yet), one of a file. */
static int exercise(const char *who)
{
	int p[2];
	CHECK(pipe(p) == 0);
	char buf[8] = { 0 };
	struct aiocb cb = make_cb(p[0], buf, 3, 0);
	CHECK(aio_read(&cb) == 0);
	usleep(20 * 1000);
	CHECK(write(p[1], who, 3) == 3);
	wait_for(&cb);
	int ok = aio_return(&cb) == 3 && memcmp(buf, who, 3) == 0;

	int fd = temp_file(0);
	CHECK(pwrite(fd, "filedata", 8, 0) == 8);
	struct aiocb f = make_cb(fd, buf, 8, 0);
	CHECK(aio_read(&f) == 0);
	wait_for(&f);
	ok &= aio_return(&f) == 8 && memcmp(buf, "filedata", 8) == 0;
	close(fd);
	close(p[0]);
	close(p[1]);
	return ok;
}

static int in_child(int (*f)(const char *), const char *who)
{
	fflush(stdout);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(f(who) ? 0 : 1);
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int main(void)
{
	announce();
	printf("child before any AIO: ok=%d\n", in_child(exercise, "kid"));
	printf("parent: ok=%d\n", exercise("par"));

	/* Fork with a request of the parent in flight. */
	int p[2];
	CHECK(pipe(p) == 0);
	char buf[8] = { 0 };
	struct aiocb cb = make_cb(p[0], buf, 3, 0);
	CHECK(aio_read(&cb) == 0);
	usleep(50 * 1000);
	printf("child with a parent request in flight: ok=%d\n", in_child(exercise, "two"));
	/* In a child, the inherited request never completes: aio_cancel and
	 * aio_error agree that it is not cancelled and still in progress. */
	fflush(stdout);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		int answer = aio_cancel(p[0], &cb);
		printf("child: cancel inherited=%s error=%s\n",
		       answer == AIO_NOTCANCELED ? "AIO_NOTCANCELED" :
		       answer == AIO_CANCELED ? "AIO_CANCELED" :
		       answer == AIO_ALLDONE ? "AIO_ALLDONE" : "-1",
		       ename(aio_error(&cb)));
		fflush(stdout);
		_exit(0);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(write(p[1], "end", 3) == 3);
	wait_for(&cb);
	printf("parent's request: return=%zd data=%.3s\n", aio_return(&cb), buf);
	printf("done\n");
	return 0;
}
