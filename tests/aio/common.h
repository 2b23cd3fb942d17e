/* Shared helpers of the AIO conformance programs (tests/aio_c.rs builds and
 * runs them with and without LD_PRELOAD=libsyslets.so and compares what
 * they print on stdout). stdout carries only behaviour that both
 * implementations must agree on; stderr says which one is in effect. */
#define _GNU_SOURCE
#include <aio.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <limits.h>

#ifndef AIO_PRIO_DELTA_MAX
#define AIO_PRIO_DELTA_MAX 20
#endif

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: check failed: %s (errno %d: %s)\n", \
				__FILE__, __LINE__, #cond, errno, strerror(errno)); \
			exit(1);                                               \
		}                                                              \
	} while (0)

/* Whether libsyslets.so provides aio_* in this process. */
static inline int syslets_active(void)
{
	return dlsym(RTLD_DEFAULT, "syslets_aio_active") != NULL;
}

/* Say on stderr which implementation runs (the test checks it). */
static inline void announce(void)
{
	fprintf(stderr, "impl=%s\n", syslets_active() ? "syslets" : "glibc");
}

static inline const char *ename(int e)
{
	switch (e) {
	case 0: return "0";
	case EINPROGRESS: return "EINPROGRESS";
	case ECANCELED: return "ECANCELED";
	case EINVAL: return "EINVAL";
	case EBADF: return "EBADF";
	case EAGAIN: return "EAGAIN";
	case EINTR: return "EINTR";
	case EIO: return "EIO";
	case EFAULT: return "EFAULT";
	default: {
		static char buf[32];
		snprintf(buf, sizeof buf, "errno%d", e);
		return buf;
	}
	}
}

static inline struct aiocb make_cb(int fd, void *buf, size_t n, off_t off)
{
	struct aiocb cb;
	memset(&cb, 0, sizeof cb);
	cb.aio_fildes = fd;
	cb.aio_buf = buf;
	cb.aio_nbytes = n;
	cb.aio_offset = off;
	cb.aio_sigevent.sigev_notify = SIGEV_NONE;
	return cb;
}

/* Wait for `cb` with aio_suspend (no timeout), retrying on EINTR. */
static inline void wait_for(struct aiocb *cb)
{
	const struct aiocb *list[1] = { cb };
	while (aio_error(cb) == EINPROGRESS) {
		int rc = aio_suspend(list, 1, NULL);
		CHECK(rc == 0 || errno == EINTR);
	}
}

/* An unlinked temporary file in the current directory. */
static inline int temp_file(int extra_flags)
{
	char name[] = "aio-test-XXXXXX";
	int fd = mkostemp(name, extra_flags);
	CHECK(fd >= 0);
	CHECK(unlink(name) == 0);
	return fd;
}

static inline double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}
