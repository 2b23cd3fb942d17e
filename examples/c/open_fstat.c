/*
 * open_fstat.c - openat + fstat + close as one chain, through libsyslets.so:
 * once inline (syslet_run), once on an executor (submit, wait, reap).
 *
 *   make -C capi install PREFIX=$HOME/.local
 *   cc examples/c/open_fstat.c $(pkg-config --cflags --libs syslets) -o open_fstat
 *   ./open_fstat /etc/hostname
 *
 * Prints the size fstat saw, both ways; a missing file stops the chain at
 * the openat (STOP_ON_NEGATIVE) and prints its errno.
 */
#define _POSIX_C_SOURCE 200809L /* AT_FDCWD, O_CLOEXEC under -std=c11 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <syslets.h>

static int fail(const char *what, const struct syslet_error *e)
{
	fprintf(stderr, "%s: %s (code %d, atom %d%s%s)\n", what, e->message, e->code, e->atom,
		e->syscall[0] ? ", " : "", e->syscall);
	return 1;
}

/* The chain's outcome: the fstat'ed size, or why it stopped. */
static int report(const char *how, syslet_batch *batch, int st_buf)
{
	struct syslet_completion c;
	struct syslet_error e;
	const struct stat *st;
	size_t len;

	if (syslet_batch_completion(batch, &c, &e) != SYSLET_OK)
		return fail("completion", &e);
	if (c.flags & SYSLET_COMPLETION_STOPPED) {
		printf("%s: stopped at atom %u: %s\n", how, (unsigned)c.last_atom,
		       strerror((int)-c.status));
		return 0;
	}
	st = (const struct stat *)syslet_batch_buffer(batch, (uint16_t)st_buf, &len);
	if (!st || len != sizeof *st)
		return 1;
	printf("%s: atoms_run=%u size=%lld\n", how, (unsigned)c.atoms_run, (long long)st->st_size);
	return 0;
}

int main(int argc, char **argv)
{
	static struct syslets_builder b;
	static unsigned char bytes[sizeof b];
	struct syslet_error e;
	syslet_batch *batch, *reaped[1];
	syslet_executor *ex;
	size_t len;
	int path, st, fd;

	if (argc != 2) {
		fprintf(stderr, "usage: open_fstat PATH\n");
		return 2;
	}

	syslets_builder_init(&b);
	path = syslets_builder_path(&b, argv[1]);
	st = syslets_builder_buf(&b, NULL, sizeof(struct stat), SYSLET_BUF_OUT);
	fd = SYSLETS_ATOM(&b, SYSLET_STOP_ON_NEGATIVE, SYSLET_NR_OPENAT, syslets_imm(AT_FDCWD),
			  syslets_buf(path, 0), syslets_imm(O_RDONLY | O_CLOEXEC), syslets_imm(0));
	SYSLETS_ATOM(&b, 0, SYSLET_NR_FSTAT, syslets_result(fd), syslets_buf(st, 0));
	SYSLETS_ATOM(&b, 0, SYSLET_NR_CLOSE, syslets_result(fd));
	len = syslets_builder_finish(&b, bytes, sizeof bytes);
	if (len == 0) {
		fprintf(stderr, "the chain does not fit the builder\n");
		return 1;
	}

	/* NULL policy: the default one. */
	batch = syslet_validate(bytes, len, NULL, &e);
	if (!batch)
		return fail("validate", &e);
	if (syslet_run(batch, NULL, &e) != SYSLET_OK)
		return fail("run", &e);
	if (report("inline", batch, st))
		return 1;

	ex = syslet_executor_new(NULL, NULL, &e);
	if (!ex)
		return fail("executor", &e);
	if (syslet_executor_submit(ex, batch, NULL, &e) != SYSLET_OK)
		return fail("submit", &e);
	if (syslet_executor_wait(ex, 1, -1, &e) < 1)
		return fail("wait", &e);
	if (syslet_executor_reap(ex, reaped, 1, &e) != 1)
		return fail("reap", &e);
	if (report("executor", reaped[0], st))
		return 1;

	syslet_batch_free(reaped[0]); /* the same handle as `batch` */
	syslet_executor_free(ex);
	return 0;
}
