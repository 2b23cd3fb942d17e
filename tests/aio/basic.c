/* Read, write, fsync; bad descriptor, bad aio_reqprio, negative offset;
 * aio_suspend with a timeout and interrupted by a signal; SIGEV_SIGNAL with a
 * handler that calls aio_error/aio_return; ordering on O_APPEND and pipes.
 * Everything printed on stdout must be the same with glibc and with
 * libsyslets.so preloaded. */
#include "common.h"

static void read_write_fsync(void)
{
	int fd = temp_file(0);
	static char out[8192], in[8192];
	for (size_t i = 0; i < sizeof out; i++)
		out[i] = (char)(i * 7 + 3);

	struct aiocb w = make_cb(fd, out, sizeof out, 4096);
	CHECK(aio_write(&w) == 0);
	wait_for(&w);
	printf("write: error=%s return=%zd\n", ename(aio_error(&w)), aio_return(&w));

	struct aiocb s = make_cb(fd, NULL, 0, 0);
	CHECK(aio_fsync(O_SYNC, &s) == 0);
	wait_for(&s);
	printf("fsync O_SYNC: error=%s return=%zd\n", ename(aio_error(&s)), aio_return(&s));
	s = make_cb(fd, NULL, 0, 0);
	CHECK(aio_fsync(O_DSYNC, &s) == 0);
	wait_for(&s);
	printf("fsync O_DSYNC: error=%s return=%zd\n", ename(aio_error(&s)), aio_return(&s));

	struct aiocb r = make_cb(fd, in, sizeof in, 4096);
	CHECK(aio_read(&r) == 0);
	wait_for(&r);
	printf("read: error=%s return=%zd same=%d\n", ename(aio_error(&r)), aio_return(&r),
	       memcmp(in, out, sizeof in) == 0);

	/* A read across end of file is short; one past it returns 0. */
	r = make_cb(fd, in, sizeof in, 8192);
	CHECK(aio_read(&r) == 0);
	wait_for(&r);
	printf("read at eof-4096: return=%zd\n", aio_return(&r));
	r = make_cb(fd, in, sizeof in, 1 << 20);
	CHECK(aio_read(&r) == 0);
	wait_for(&r);
	printf("read past eof: error=%s return=%zd\n", ename(aio_error(&r)), aio_return(&r));

	/* Zero bytes; a buffer the kernel cannot write (EFAULT). */
	r = make_cb(fd, NULL, 0, 0);
	CHECK(aio_read(&r) == 0);
	wait_for(&r);
	printf("read of 0 bytes: error=%s return=%zd\n", ename(aio_error(&r)), aio_return(&r));
	r = make_cb(fd, (void *)16, 4096, 0);
	CHECK(aio_read(&r) == 0);
	wait_for(&r);
	printf("read into a bad buffer: error=%s return=%zd\n", ename(aio_error(&r)), aio_return(&r));

	/* aio_fsync with a bad op or a bad descriptor fails at once. */
	s = make_cb(fd, NULL, 0, 0);
	errno = 0;
	int rc = aio_fsync(12345, &s);
	printf("fsync bad op: rc=%d errno=%s\n", rc, ename(errno));
	s = make_cb(-1, NULL, 0, 0);
	errno = 0;
	rc = aio_fsync(O_SYNC, &s);
	printf("fsync bad fd: rc=%d errno=%s\n", rc, ename(errno));
	close(fd);
}

/* The outcome of a request that fails, whether it is detected when the
 * request is submitted or reported by aio_error (POSIX allows both). */
static const char *outcome(struct aiocb *cb, int write)
{
	errno = 0;
	int rc = write ? aio_write(cb) : aio_read(cb);
	if (rc == -1)
		return ename(errno);
	wait_for(cb);
	CHECK(aio_return(cb) == -1);
	return ename(aio_error(cb));
}

static void errors(void)
{
	char buf[16];
	int fd = temp_file(0);

	struct aiocb cb = make_cb(-1, buf, sizeof buf, 0);
	printf("bad fd read: %s\n", outcome(&cb, 0));
	cb = make_cb(12345, buf, sizeof buf, 0);
	printf("bad fd write: %s\n", outcome(&cb, 1));

	/* A bad priority fails at once in both, and the aiocb says so. */
	cb = make_cb(fd, buf, sizeof buf, 0);
	cb.aio_reqprio = AIO_PRIO_DELTA_MAX + 1;
	errno = 0;
	int rc = aio_read(&cb);
	printf("bad reqprio: rc=%d errno=%s error=%s return=%zd\n", rc, ename(errno),
	       ename(aio_error(&cb)), aio_return(&cb));
	cb = make_cb(fd, buf, sizeof buf, 0);
	cb.aio_reqprio = -1;
	printf("negative reqprio: %s\n", outcome(&cb, 0));

	cb = make_cb(fd, buf, sizeof buf, -4096);
	printf("negative offset read: %s\n", outcome(&cb, 0));
	cb = make_cb(fd, buf, sizeof buf, -1);
	printf("negative offset write: %s\n", outcome(&cb, 1));

	/* A read-only descriptor cannot be written. */
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	int ro = open(path, O_RDONLY);
	CHECK(ro >= 0);
	cb = make_cb(ro, buf, sizeof buf, 0);
	printf("write to read-only fd: %s\n", outcome(&cb, 1));
	close(ro);

	/* /proc files are regular but refuse pwrite (ESPIPE): the request falls
	 * back to write(2), which says EBADF for a read-only descriptor. */
	ro = open("/proc/self/stat", O_RDONLY);
	CHECK(ro >= 0);
	cb = make_cb(ro, buf, sizeof buf, 0);
	printf("write to /proc read-only: %s\n", outcome(&cb, 1));
	close(ro);
	close(fd);
}

/* A descriptor number used for a file, closed, and reused for a pipe: the
 * read of the pipe is a stream read (aio_offset ignored). */
static void reused_fd(void)
{
	int fd = temp_file(0);
	char buf[4] = { 0 };
	CHECK(pwrite(fd, "abc", 3, 0) == 3);
	struct aiocb cb = make_cb(fd, buf, 3, 0);
	CHECK(aio_read(&cb) == 0);
	wait_for(&cb);
	printf("file read: return=%zd data=%.3s\n", aio_return(&cb), buf);
	close(fd);
	int p[2];
	CHECK(pipe(p) == 0);
	if (p[0] != fd) {
		CHECK(dup2(p[0], fd) == fd);
		close(p[0]);
	}
	CHECK(write(p[1], "xyz", 3) == 3);
	cb = make_cb(fd, buf, 3, 4096);
	CHECK(aio_read(&cb) == 0);
	wait_for(&cb);
	printf("pipe read on the reused fd: error=%s return=%zd data=%.3s\n", ename(aio_error(&cb)),
	       aio_return(&cb), buf);
	close(fd);
	close(p[1]);
}

static void suspend_timeout(void)
{
	int p[2];
	CHECK(pipe(p) == 0);
	char buf[8];
	struct aiocb cb = make_cb(p[0], buf, sizeof buf, 0);
	CHECK(aio_read(&cb) == 0);
	printf("pipe read pending: %s\n", ename(aio_error(&cb)));

	const struct aiocb *list[3] = { NULL, &cb, NULL };
	struct timespec ts = { 0, 150 * 1000 * 1000 };
	double t0 = now_ms();
	errno = 0;
	int rc = aio_suspend(list, 3, &ts);
	double took = now_ms() - t0;
	printf("suspend 150ms: rc=%d errno=%s waited_enough=%d\n", rc, ename(errno), took >= 145);
	CHECK(took < 5000);

	/* A zero timeout polls. */
	struct timespec zero = { 0, 0 };
	errno = 0;
	rc = aio_suspend(list, 3, &zero);
	printf("suspend 0: rc=%d errno=%s\n", rc, ename(errno));

	CHECK(write(p[1], "abc", 3) == 3);
	ts.tv_sec = 10;
	ts.tv_nsec = 0;
	t0 = now_ms();
	rc = aio_suspend(list, 3, &ts);
	printf("suspend after data: rc=%d quick=%d\n", rc, now_ms() - t0 < 5000);
	wait_for(&cb);
	printf("pipe read: error=%s return=%zd data=%.3s\n", ename(aio_error(&cb)), aio_return(&cb), buf);

	/* A list with nothing in progress returns at once. */
	rc = aio_suspend(list, 3, &ts);
	printf("suspend on done: rc=%d\n", rc);
	close(p[0]);
	close(p[1]);
}

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

static void suspend_eintr(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1; /* no SA_RESTART */
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);

	int p[2];
	CHECK(pipe(p) == 0);
	char buf[8];
	struct aiocb cb = make_cb(p[0], buf, sizeof buf, 0);
	CHECK(aio_read(&cb) == 0);
	pthread_t self = pthread_self(), t;
	CHECK(pthread_create(&t, NULL, kick, &self) == 0);
	const struct aiocb *list[1] = { &cb };
	errno = 0;
	int rc = aio_suspend(list, 1, NULL);
	printf("suspend interrupted: rc=%d errno=%s still=%s\n", rc, ename(errno), ename(aio_error(&cb)));
	pthread_join(t, NULL);
	CHECK(write(p[1], "x", 1) == 1);
	wait_for(&cb);
	printf("then: return=%zd\n", aio_return(&cb));
	close(p[0]);
	close(p[1]);
}

static volatile sig_atomic_t handled;
static volatile sig_atomic_t seen_error = -2;
static volatile ssize_t seen_return = -2;
static volatile sig_atomic_t seen_code;

static void on_done(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)ctx;
	struct aiocb *cb = si->si_value.sival_ptr;
	seen_code = si->si_code;
	/* Async-signal-safe: the outcome must already be there. */
	seen_error = aio_error(cb);
	seen_return = aio_return(cb);
	handled = 1;
}

static void signal_handler(void)
{
	int sig = SIGRTMIN + 3;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_done;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	CHECK(sigaction(sig, &sa, NULL) == 0);

	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, sig);
	CHECK(sigprocmask(SIG_BLOCK, &set, &old) == 0);

	int p[2];
	CHECK(pipe(p) == 0);
	char buf[8];
	struct aiocb cb = make_cb(p[0], buf, sizeof buf, 0);
	cb.aio_sigevent.sigev_notify = SIGEV_SIGNAL;
	cb.aio_sigevent.sigev_signo = sig;
	cb.aio_sigevent.sigev_value.sival_ptr = &cb;
	CHECK(aio_read(&cb) == 0);
	CHECK(write(p[1], "hello", 5) == 5);
	double t0 = now_ms();
	while (!handled && now_ms() - t0 < 10000)
		sigsuspend(&old);
	CHECK(sigprocmask(SIG_SETMASK, &old, NULL) == 0);
	printf("signal handler: handled=%d code_is_asyncio=%d error=%s return=%zd\n", handled,
	       seen_code == SI_ASYNCIO, ename(seen_error), (ssize_t)seen_return);
	close(p[0]);
	close(p[1]);
}

static void append_order(void)
{
	int fd = temp_file(O_APPEND);
	enum { N = 40 };
	static struct aiocb cbs[N];
	static char recs[N][17];
	for (int i = 0; i < N; i++) {
		snprintf(recs[i], sizeof recs[i], "record %03d ...\n", i);
		cbs[i] = make_cb(fd, recs[i], 16, 0);
		CHECK(aio_write(&cbs[i]) == 0);
	}
	int bad = 0;
	for (int i = 0; i < N; i++) {
		wait_for(&cbs[i]);
		bad += aio_return(&cbs[i]) != 16;
	}
	char all[N * 16 + 1];
	CHECK(pread(fd, all, sizeof all, 0) == N * 16);
	int in_order = 1;
	for (int i = 0; i < N; i++)
		in_order &= memcmp(all + 16 * i, recs[i], 16) == 0;
	printf("O_APPEND: %d writes, failed=%d, in submission order=%d\n", N, bad, in_order);
	close(fd);
}

static void pipe_order(void)
{
	int p[2];
	CHECK(pipe(p) == 0);
	enum { N = 20 };
	static struct aiocb cbs[N];
	static char bufs[N][4];
	for (int i = 0; i < N; i++) {
		cbs[i] = make_cb(p[0], bufs[i], 4, 0);
		CHECK(aio_read(&cbs[i]) == 0);
	}
	for (int i = 0; i < N; i++) {
		char chunk[4];
		snprintf(chunk, sizeof chunk, "%03d", i);
		CHECK(write(p[1], chunk, 4) == 4);
		wait_for(&cbs[i]); /* one chunk at a time: reads get whole chunks */
	}
	int in_order = 1;
	for (int i = 0; i < N; i++) {
		char want[4];
		snprintf(want, sizeof want, "%03d", i);
		in_order &= aio_return(&cbs[i]) == 4 && memcmp(bufs[i], want, 4) == 0;
	}
	printf("pipe reads: %d in submission order=%d\n", N, in_order);

	static struct aiocb ws[N];
	static char wbufs[N][4];
	for (int i = 0; i < N; i++) {
		snprintf(wbufs[i], sizeof wbufs[i], "%03d", i);
		ws[i] = make_cb(p[1], wbufs[i], 4, 0);
		CHECK(aio_write(&ws[i]) == 0);
	}
	for (int i = 0; i < N; i++) {
		wait_for(&ws[i]);
		CHECK(aio_return(&ws[i]) == 4);
	}
	char got[N * 4];
	CHECK(read(p[0], got, sizeof got) == sizeof got);
	in_order = 1;
	for (int i = 0; i < N; i++)
		in_order &= memcmp(got + 4 * i, wbufs[i], 4) == 0;
	printf("pipe writes: %d in submission order=%d\n", N, in_order);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	announce();
	read_write_fsync();
	errors();
	reused_fd();
	suspend_timeout();
	suspend_eintr();
	signal_handler();
	append_order();
	pipe_order();
	printf("done\n");
	return 0;
}
