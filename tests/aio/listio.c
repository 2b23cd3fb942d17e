/* lio_listio: LIO_WAIT and LIO_NOWAIT, LIO_NOP and NULL entries, per-request
 * and list-wide notification by signal (SI_ASYNCIO, sigev_value) and by
 * thread. Same output with glibc and libsyslets.so. */
#include "common.h"

enum { N = 4, LEN = 1024 };
static char data[N][LEN];

static int make_file(void)
{
	int fd = temp_file(0);
	for (int i = 0; i < N; i++) {
		memset(data[i], 'a' + i, LEN);
		CHECK(pwrite(fd, data[i], LEN, (off_t)i * LEN) == LEN);
	}
	return fd;
}

/* Block `sig` and return the previous mask. */
static sigset_t block(int sig)
{
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, sig);
	CHECK(sigprocmask(SIG_BLOCK, &set, &old) == 0);
	return old;
}

/* Take one queued `sig` (10 s at most); returns its siginfo. */
static siginfo_t take(int sig)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, sig);
	struct timespec ts = { 10, 0 };
	siginfo_t si;
	memset(&si, 0, sizeof si);
	int got = sigtimedwait(&set, &si, &ts);
	CHECK(got == sig);
	return si;
}

static int pending(int sig)
{
	sigset_t set;
	CHECK(sigpending(&set) == 0);
	return sigismember(&set, sig);
}

static void wait_mode(void)
{
	int fd = make_file();
	static char bufs[N][LEN];
	static struct aiocb cbs[N], nop;
	struct aiocb *list[N + 2];
	for (int i = 0; i < N; i++) {
		cbs[i] = make_cb(fd, bufs[i], LEN, (off_t)(N - 1 - i) * LEN);
		cbs[i].aio_lio_opcode = LIO_READ;
		list[i] = &cbs[i];
	}
	nop = make_cb(fd, NULL, 0, 0);
	nop.aio_lio_opcode = LIO_NOP;
	list[N] = &nop;
	list[N + 1] = NULL;
	int rc = lio_listio(LIO_WAIT, list, N + 2, NULL);
	int ok = 1;
	for (int i = 0; i < N; i++)
		ok &= aio_error(&cbs[i]) == 0 && aio_return(&cbs[i]) == LEN &&
		      memcmp(bufs[i], data[N - 1 - i], LEN) == 0;
	printf("LIO_WAIT reads: rc=%d all done and right=%d\n", rc, ok);

	/* Writes, then a failing member: LIO_WAIT says EIO, the member why. */
	static char w[N][16];
	for (int i = 0; i < N; i++) {
		snprintf(w[i], sizeof w[i], "write %d", i);
		cbs[i] = make_cb(fd, w[i], 16, 100000 + 16 * i);
		cbs[i].aio_lio_opcode = LIO_WRITE;
	}
	cbs[2].aio_fildes = -1;
	errno = 0;
	rc = lio_listio(LIO_WAIT, list, N, NULL);
	printf("LIO_WAIT with a bad fd member: rc=%d errno=%s errors=%s,%s,%s,%s\n", rc, ename(errno),
	       ename(aio_error(&cbs[0])), ename(aio_error(&cbs[1])), ename(aio_error(&cbs[2])),
	       ename(aio_error(&cbs[3])));
	char back[16];
	CHECK(pread(fd, back, 16, 100000 + 16 * 3) == 16);
	printf("written: %s\n", back);

	errno = 0;
	rc = lio_listio(42, list, N, NULL);
	printf("bad mode: rc=%d errno=%s\n", rc, ename(errno));
	close(fd);
}

static void wait_mode_signals(void)
{
	int sig = SIGRTMIN + 1;
	sigset_t old = block(sig);
	int fd = make_file();
	static char bufs[N][LEN];
	static struct aiocb cbs[N];
	struct aiocb *list[N];
	for (int i = 0; i < N; i++) {
		cbs[i] = make_cb(fd, bufs[i], LEN, (off_t)i * LEN);
		cbs[i].aio_lio_opcode = LIO_READ;
		cbs[i].aio_sigevent.sigev_notify = SIGEV_SIGNAL;
		cbs[i].aio_sigevent.sigev_signo = sig;
		cbs[i].aio_sigevent.sigev_value.sival_ptr = &cbs[i];
		list[i] = &cbs[i];
	}
	int rc = lio_listio(LIO_WAIT, list, N, NULL);
	int mask = 0, codes = 1, pids = 1;
	for (int i = 0; i < N; i++) {
		siginfo_t si = take(sig);
		struct aiocb *cb = si.si_value.sival_ptr;
		CHECK(cb >= &cbs[0] && cb < &cbs[N]);
		mask |= 1 << (cb - cbs);
		codes &= si.si_code == SI_ASYNCIO;
		pids &= si.si_pid == getpid();
		/* The outcome is there when the signal is. */
		CHECK(aio_error(cb) == 0);
	}
	printf("LIO_WAIT per-request signals: rc=%d mask=%#x SI_ASYNCIO=%d si_pid=%d more=%d\n", rc, mask,
	       codes, pids, pending(sig));
	CHECK(sigprocmask(SIG_SETMASK, &old, NULL) == 0);
	close(fd);
}

static void nowait_signal(void)
{
	int sig = SIGRTMIN + 2;
	sigset_t old = block(sig);
	int fd = make_file();
	static char bufs[N][LEN];
	static struct aiocb cbs[N];
	struct aiocb *list[N];
	for (int i = 0; i < N; i++) {
		cbs[i] = make_cb(fd, bufs[i], LEN, (off_t)i * LEN);
		cbs[i].aio_lio_opcode = LIO_READ;
		list[i] = &cbs[i];
	}
	struct sigevent ev;
	memset(&ev, 0, sizeof ev);
	ev.sigev_notify = SIGEV_SIGNAL;
	ev.sigev_signo = sig;
	ev.sigev_value.sival_int = 4242;
	int rc = lio_listio(LIO_NOWAIT, list, N, &ev);
	siginfo_t si = take(sig);
	/* When the list's signal comes, every member has completed. */
	int all = 1;
	for (int i = 0; i < N; i++)
		all &= aio_error(&cbs[i]) == 0 && aio_return(&cbs[i]) == LEN &&
		       memcmp(bufs[i], data[i], LEN) == 0;
	printf("LIO_NOWAIT list signal: rc=%d value=%d SI_ASYNCIO=%d all done=%d more=%d\n", rc,
	       si.si_value.sival_int, si.si_code == SI_ASYNCIO, all, pending(sig));

	/* A list of only LIO_NOP and NULL entries signals at once. */
	static struct aiocb nop;
	nop = make_cb(fd, NULL, 0, 0);
	nop.aio_lio_opcode = LIO_NOP;
	struct aiocb *nops[2] = { &nop, NULL };
	ev.sigev_value.sival_int = 7;
	rc = lio_listio(LIO_NOWAIT, nops, 2, &ev);
	si = take(sig);
	printf("LIO_NOWAIT of nothing: rc=%d value=%d\n", rc, si.si_value.sival_int);
	CHECK(sigprocmask(SIG_SETMASK, &old, NULL) == 0);
	close(fd);
}

static sem_t sem;
static volatile int thread_value;
static volatile int done_when_called;
static volatile int on_other_thread;
static pthread_t main_thread;
static struct aiocb tcbs[N];

static void on_list(union sigval v)
{
	int all = 1;
	for (int i = 0; i < N; i++)
		all &= aio_error(&tcbs[i]) == 0;
	done_when_called = all;
	on_other_thread = !pthread_equal(pthread_self(), main_thread);
	thread_value = v.sival_int;
	sem_post(&sem);
}

static volatile int per_request_mask;

static void on_request(union sigval v)
{
	struct aiocb *cb = v.sival_ptr;
	if (aio_error(cb) == 0)
		__atomic_fetch_or(&per_request_mask, 1 << (cb - tcbs), __ATOMIC_SEQ_CST);
	sem_post(&sem);
}

static void sem_wait10(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	CHECK(sem_timedwait(&sem, &ts) == 0);
}

static void nowait_thread(void)
{
	main_thread = pthread_self();
	CHECK(sem_init(&sem, 0, 0) == 0);
	int fd = make_file();
	static char bufs[N][LEN];
	struct aiocb *list[N];
	for (int i = 0; i < N; i++) {
		tcbs[i] = make_cb(fd, bufs[i], LEN, (off_t)i * LEN);
		tcbs[i].aio_lio_opcode = LIO_READ;
		list[i] = &tcbs[i];
	}
	struct sigevent ev;
	memset(&ev, 0, sizeof ev);
	ev.sigev_notify = SIGEV_THREAD;
	ev.sigev_notify_function = on_list;
	ev.sigev_value.sival_int = 99;
	int rc = lio_listio(LIO_NOWAIT, list, N, &ev);
	sem_wait10();
	printf("LIO_NOWAIT list thread: rc=%d value=%d all done when called=%d other thread=%d\n", rc,
	       thread_value, done_when_called, on_other_thread);

	/* Per-request thread notification under LIO_WAIT. */
	for (int i = 0; i < N; i++) {
		tcbs[i] = make_cb(fd, bufs[i], LEN, (off_t)i * LEN);
		tcbs[i].aio_lio_opcode = LIO_READ;
		tcbs[i].aio_sigevent.sigev_notify = SIGEV_THREAD;
		tcbs[i].aio_sigevent.sigev_notify_function = on_request;
		tcbs[i].aio_sigevent.sigev_value.sival_ptr = &tcbs[i];
	}
	rc = lio_listio(LIO_WAIT, list, N, NULL);
	for (int i = 0; i < N; i++)
		sem_wait10();
	printf("LIO_WAIT per-request threads: rc=%d mask=%#x\n", rc, per_request_mask);
	close(fd);
}

int main(void)
{
	announce();
	wait_mode();
	wait_mode_signals();
	nowait_signal();
	nowait_thread();
	printf("done\n");
	return 0;
}
