/*
 * chain.c - the C API against the library: errors that name the atom,
 * inline runs and copy-out, and the executor (submit, eventfd, wait, reap,
 * ring full, busy handles). Prints one "ok ..." line per check; exits 1 with
 * "FAIL ..." at the first that does not hold.
 *
 * Usage: chain PATH (an existing regular file, whose size fstat must see).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <syslets.h>

#define CHECK(cond, what)                                                                   \
	do {                                                                                \
		if (!(cond)) {                                                              \
			printf("FAIL %s (line %d): %s\n", what, __LINE__, e.message);       \
			exit(1);                                                            \
		}                                                                           \
		printf("ok %s\n", what);                                                    \
	} while (0)

static struct syslet_error e;

/* openat(path) + fstat + close; the stat buffer's index in *st. */
static size_t open_fstat(unsigned char *out, size_t cap, const char *path, int *st)
{
	static struct syslets_builder b;
	int p, fd;
	syslets_builder_init(&b);
	p = syslets_builder_path(&b, path);
	*st = syslets_builder_buf(&b, NULL, sizeof(struct stat), SYSLET_BUF_OUT);
	fd = SYSLETS_ATOM(&b, SYSLET_STOP_ON_NEGATIVE, SYSLET_NR_OPENAT, syslets_imm(AT_FDCWD),
			  syslets_buf(p, 0), syslets_imm(O_RDONLY | O_CLOEXEC), syslets_imm(0));
	SYSLETS_ATOM(&b, 0, SYSLET_NR_FSTAT, syslets_result(fd), syslets_buf(*st, 0));
	SYSLETS_ATOM(&b, 0, SYSLET_NR_CLOSE, syslets_result(fd));
	return syslets_builder_finish(&b, out, cap);
}

static size_t getpid_batch(unsigned char *out, size_t cap, uint64_t caller_data, uint16_t flags)
{
	static struct syslets_builder b;
	syslets_builder_init(&b);
	b.header.caller_data = caller_data;
	b.header.flags = flags;
	SYSLETS_ATOM0(&b, 0, SYSLET_NR_GETPID);
	return syslets_builder_finish(&b, out, cap);
}

int main(int argc, char **argv)
{
	static unsigned char bytes[sizeof(struct syslets_builder)];
	struct syslet_completion c;
	struct stat want;
	const struct stat *st;
	syslet_policy *policy;
	syslet_batch *batch, *many[8], *reaped[8];
	syslet_executor *ex;
	struct syslet_executor_options opts;
	size_t len, n;
	int stbuf, i, j, r, fd;
	uint64_t ticket, counter;
	struct pollfd pfd;

	if (argc != 2 || stat(argv[1], &want) != 0)
		return 2;

	/* Refusals name the atom, its call and the reason; nothing runs. */
	len = open_fstat(bytes, sizeof bytes, argv[1], &stbuf);
	CHECK(len > 0, "the builder lays out open+fstat+close");
	policy = syslet_policy_new(SYSLET_POLICY_DEFAULT);
	CHECK(policy && syslet_policy_deny(policy, SYSLET_NR_FSTAT) == 0, "a policy without fstat");
	batch = syslet_validate(bytes, len, policy, &e);
	CHECK(!batch && e.code == SYSLET_E_INVALID && e.atom == 1 &&
		      strcmp(e.syscall, "fstat") == 0 && strstr(e.message, "atom 1 (fstat)"),
	      "a call the policy denies is refused naming atom 1 (fstat)");
	CHECK(syslet_policy_allow(policy, 99999) == -1, "an unknown number cannot be allowed");
	CHECK(syslet_policy_allow(policy, 59 /* execve: denylisted */) == -1,
	      "nor a denylisted one");
	CHECK(syslet_policy_allow(policy, SYSLET_NR_FSTAT) == 0, "fstat allowed again");
	batch = syslet_validate(bytes, len, policy, &e);
	CHECK(batch != NULL, "and the batch validates");
	syslet_batch_free(batch);
	syslet_policy_free(policy);
	CHECK(syslet_policy_new(42) == NULL, "an unknown preset is NULL");
	batch = syslet_validate(bytes, len - 8, NULL, &e);
	CHECK(!batch && e.code == SYSLET_E_INVALID && e.atom == -1, "a truncated batch is refused");
	batch = syslet_validate(NULL, 16, NULL, &e);
	CHECK(!batch && e.code == SYSLET_E_ARGUMENT, "a NULL buffer is a bad argument");
	CHECK(syslet_run(NULL, &c, &e) == SYSLET_E_ARGUMENT, "running NULL is a bad argument");
	CHECK(strcmp(syslet_strerror(SYSLET_E_RING_FULL), "completion ring full; reap first") == 0,
	      "syslet_strerror describes a code");

	/* Inline: outputs through syslet_batch_buffer and copy-out. */
	batch = syslet_validate(bytes, len, NULL, &e);
	CHECK(batch != NULL, "the default policy validates open+fstat+close");
	CHECK(syslet_run(batch, &c, &e) == SYSLET_OK && c.atoms_run == 3 && c.results[0] >= 0 &&
		      c.results[1] == 0 && c.results[2] == 0,
	      "syslet_run runs all three atoms");
	st = (const struct stat *)syslet_batch_buffer(batch, (uint16_t)stbuf, &n);
	CHECK(st && n == sizeof *st && st->st_size == want.st_size && st->st_ino == want.st_ino,
	      "the stat buffer holds what stat(2) sees");
	CHECK(syslet_batch_buffer(batch, 9, &n) == NULL, "a buffer index out of range is NULL");
	CHECK(syslet_batch_copy_out(batch, bytes, len - 1, &e) == SYSLET_E_ARGUMENT,
	      "copy-out with another length is refused");
	CHECK(syslet_batch_copy_out(batch, bytes, len, &e) == SYSLET_OK, "copy-out");
	{
		const struct syslet_batch_header *h = (const struct syslet_batch_header *)bytes;
		const struct syslet_buf_desc *d =
			(const struct syslet_buf_desc *)(bytes + SYSLET_HEADER_SIZE +
							 h->natoms * SYSLET_ATOM_SIZE);
		const unsigned char *arena = (const unsigned char *)(d + h->nbufs);
		struct stat copied;
		memcpy(&copied, arena + d[stbuf].offset, sizeof copied);
		CHECK(copied.st_size == want.st_size, "copy-out writes the stat where it was laid out");
	}

	/* The executor: the reaped handle is the one submitted. */
	ex = syslet_executor_new(NULL, NULL, &e);
	CHECK(ex != NULL, "an executor with the defaults");
	fd = syslet_executor_eventfd(ex, &e);
	CHECK(fd >= 0 && fd == syslet_executor_eventfd(ex, &e), "one eventfd per executor");
	CHECK(syslet_executor_submit(ex, batch, &ticket, &e) == SYSLET_OK, "submit");
	CHECK(syslet_executor_submit(ex, batch, NULL, &e) == SYSLET_E_BUSY,
	      "a batch in flight cannot be submitted again");
	CHECK(syslet_run(batch, &c, &e) == SYSLET_E_BUSY, "nor run");
	pfd.fd = fd;
	pfd.events = POLLIN;
	CHECK(poll(&pfd, 1, 10000) == 1 && read(fd, &counter, 8) == 8 && counter >= 1,
	      "the eventfd turns readable");
	CHECK(read(fd, &counter, 8) == -1, "the eventfd is non-blocking");
	CHECK(syslet_executor_wait(ex, 1, -1, &e) >= 1, "wait sees the completion");
	CHECK(syslet_executor_reap(ex, reaped, 8, &e) == 1 && reaped[0] == batch,
	      "reap hands back the submitted handle");
	CHECK(syslet_batch_completion(batch, &c, &e) == SYSLET_OK && c.atoms_run == 3,
	      "its completion");
	st = (const struct stat *)syslet_batch_buffer(batch, (uint16_t)stbuf, &n);
	CHECK(st && st->st_size == want.st_size, "and its outputs");
	syslet_batch_free(batch);
	CHECK(syslet_executor_reap(ex, reaped, 8, &e) == 0, "nothing more to reap");

	/* A read of an empty pipe goes to a worker; the handle comes back once
	 * the data arrived. */
	{
		static struct syslets_builder pb;
		int pipefd[2], data;
		CHECK(pipe2(pipefd, O_CLOEXEC) == 0, "a pipe");
		syslets_builder_init(&pb);
		data = syslets_builder_buf(&pb, NULL, 8, SYSLET_BUF_OUT);
		SYSLETS_ATOM(&pb, 0, SYSLET_NR_READ, syslets_imm(pipefd[0]), syslets_buf(data, 0),
			     syslets_imm(8));
		len = syslets_builder_finish(&pb, bytes, sizeof bytes);
		batch = syslet_validate(bytes, len, NULL, &e);
		CHECK(batch && syslet_executor_submit(ex, batch, &ticket, &e) == SYSLET_OK,
		      "submit a read of an empty pipe");
		CHECK(syslet_executor_wait(ex, 1, 50000000, &e) == 0, "it waits on a worker");
		CHECK(write(pipefd[1], "syslets", 7) == 7, "write to the pipe");
		CHECK(syslet_executor_wait(ex, 1, -1, &e) == 1 &&
			      syslet_executor_reap(ex, reaped, 8, &e) == 1 && reaped[0] == batch,
		      "the worker's completion hands the handle back");
		CHECK(syslet_batch_completion(batch, &c, &e) == SYSLET_OK && c.status == 7 &&
			      memcmp(syslet_batch_buffer(batch, (uint16_t)data, &n), "syslets", 7) == 0,
		      "with what the worker read");
		syslet_batch_free(batch);
		close(pipefd[0]);
		close(pipefd[1]);
	}

	len = getpid_batch(bytes, sizeof bytes, 7, SYSLET_NO_COMPLETE);
	batch = syslet_validate(bytes, len, NULL, &e);
	CHECK(batch && syslet_executor_submit(ex, batch, NULL, &e) == SYSLET_E_ARGUMENT,
	      "a NO_COMPLETE batch is refused (it could never be reaped)");
	CHECK(syslet_run(batch, &c, &e) == SYSLET_OK && c.status == getpid(),
	      "and is still the caller's");
	syslet_batch_free(batch);
	syslet_executor_free(ex);

	/* A small ring fills: the refused batch stays the caller's. */
	memset(&opts, 0, sizeof opts);
	opts.ring_size = 4;
	opts.flags = 0x80;
	CHECK(syslet_executor_new(&opts, NULL, &e) == NULL && e.code == SYSLET_E_ARGUMENT,
	      "unknown option flags are refused");
	opts.flags = 0;
	ex = syslet_executor_new(&opts, NULL, &e);
	CHECK(ex != NULL, "an executor with a 4-entry ring");
	for (i = 0; i < 8; i++) {
		len = getpid_batch(bytes, sizeof bytes, 100 + i, 0);
		many[i] = syslet_validate(bytes, len, NULL, &e);
		if (!many[i])
			return 1;
	}
	for (i = 0; i < 8; i++) {
		r = syslet_executor_submit(ex, many[i], NULL, &e);
		if (r != SYSLET_OK)
			break;
	}
	CHECK(i == 4 && r == SYSLET_E_RING_FULL, "the fifth submission finds the ring full");
	CHECK(syslet_run(many[4], &c, &e) == SYSLET_OK && c.caller_data == 104,
	      "the refused batch still runs inline");
	CHECK(syslet_executor_wait(ex, 4, 10000000000LL, &e) == 4, "four completions ready");
	r = syslet_executor_reap(ex, reaped, 3, &e);
	CHECK(r == 3, "reap stops at max");
	r += syslet_executor_reap(ex, reaped + 3, 5, &e);
	CHECK(r == 4, "and keeps the rest for the next reap");
	for (i = 0; i < 4; i++) {
		int found = 0;
		for (j = 0; j < 4; j++)
			found += reaped[i] == many[j];
		CHECK(found == 1 && syslet_batch_completion(reaped[i], &c, &e) == SYSLET_OK &&
			      c.status == getpid() && c.caller_data >= 100 && c.caller_data < 104,
		      "each reaped handle is one submitted, with its own completion");
	}
	for (i = 4; i < 8; i++)
		CHECK(syslet_executor_submit(ex, many[i], NULL, &e) == SYSLET_OK,
		      "room again after the reap");
	/* Freeing the executor frees the four still in flight. */
	syslet_executor_free(ex);
	for (i = 0; i < 4; i++)
		syslet_batch_free(many[i]);
	printf("done\n");
	return 0;
}
