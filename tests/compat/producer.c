/*
 * producer.c - a real 32-bit producer of syslets compat batches.
 *
 * Built with `gcc -m32 -static` by tests/compat_conformance.rs. It
 *  (a) writes one compat batch per chain into OUTDIR/<name>.bin, using
 *      abi/include/syslet_compat.h as a 32-bit program sees it; these are the
 *      golden fixtures kept in tests/compat/fixtures/, and must come out
 *      byte-identical on every run and machine;
 *  (b) when given DIR and PORT, performs the same calls itself with the i386
 *      system calls and writes what it got into OUTDIR/<name>.expect:
 *      `ret <atom> <value>` (-errno on failure) and `buf <index> <hex>`, the
 *      bytes its own kernel left in the memory that stands for that buffer;
 *  (c) when given --dirs DIR, does (b) for the directory chains only, in DIR
 *      (which holds the directories "small" and "big").
 *
 * Fixtures do not depend on the machine: files are opened relative to the
 * directory descriptor FIXTURE_DIRFD (the test patches the real descriptor in),
 * the socket address carries port 0 (the test patches the listener's port
 * into buffer 0 of socketcall_connect), and getdents_seek seeks to offset 0
 * (the test patches in a directory offset getdents_small returned).
 *
 * usage: producer OUTDIR [DIR PORT | --dirs DIR]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "syslet_compat.h"

#if !defined(__i386__)
#error "build with -m32: this is the 32-bit producer"
#endif

#define FIXTURE_DIRFD 100
#define OPEN_FLAGS (0x0000u /* O_RDONLY */ | 0x8000u /* O_LARGEFILE */ | 0x80000u /* O_CLOEXEC */)
#define AF_INET_ 2
#define SOCK_STREAM_CLOEXEC (1u | 0x80000u)
#define STATX_BASIC_STATS_ 0x7ffu
#define FIVE_GIB_HI 1u
#define FIVE_GIB_LO 0x40000000u
#define SIX_GIB_HI 1u
#define SIX_GIB_LO 0x80000000u
#define DIR_FLAGS (OPEN_FLAGS | 0x10000u /* O_DIRECTORY */)
/* What the directory buffers hold before a call: bytes no call wrote stay so. */
#define DIRENT_FILL 0xcc

struct batch {
	const char *name;
	struct syslet_compat_atom atoms[8];
	struct syslet_buf_desc bufs[8];
	uint8_t arena[32768];
	uint32_t natoms, nbufs, arena_len;
};

static void die(const char *what)
{
	perror(what);
	exit(1);
}

/* A buffer of `len` bytes, copied from `bytes` or filled with `fill`. */
static uint16_t add_buf(struct batch *b, const void *bytes, uint32_t len, uint8_t fill,
			uint32_t flags)
{
	struct syslet_buf_desc *d = &b->bufs[b->nbufs];
	d->offset = b->arena_len;
	d->len = len;
	d->flags = flags;
	d->reserved = 0;
	if (bytes)
		memcpy(b->arena + b->arena_len, bytes, len);
	else
		memset(b->arena + b->arena_len, fill, len);
	b->arena_len = (b->arena_len + len + 7u) & ~7u;
	return (uint16_t)b->nbufs++;
}

static uint16_t add_path(struct batch *b, const char *path)
{
	return add_buf(b, path, (uint32_t)strlen(path) + 1, 0, SYSLET_BUF_IN);
}

#define IMM(v) SYSLET_ARG_IMM, (uint32_t)(v)
#define RES(i) SYSLET_ARG_RESULT, (uint32_t)(i)
#define BUF(i) SYSLET_ARG_BUF, SYSLET_COMPAT_BUF_ARG(i, 0)

/* add_atom(b, flags, nr, nargs, kind0, value0, kind1, value1, ...) */
static void add_atom(struct batch *b, uint32_t flags, uint32_t nr, uint16_t nargs, ...)
{
	struct syslet_compat_atom *a = &b->atoms[b->natoms++];
	va_list ap;
	memset(a, 0, sizeof(*a));
	a->flags = flags;
	a->nr = nr;
	a->nargs = nargs;
	va_start(ap, nargs);
	for (int i = 0; i < nargs; i++) {
		a->arg_kind[i] = (uint8_t)va_arg(ap, int);
		a->arg[i] = va_arg(ap, uint32_t);
	}
	va_end(ap);
}

static uint16_t add_sockargs(struct batch *b, int n, const struct syslet_compat_sockarg *args)
{
	return add_buf(b, args, (uint32_t)(n * sizeof(*args)), 0, SYSLET_BUF_IN);
}

static void write_batch(const struct batch *b, const char *outdir)
{
	char path[4096];
	static const uint8_t zero[8];
	struct syslet_batch_header h = {
		.magic = SYSLET_COMPAT_MAGIC,
		.version = SYSLET_VERSION,
		.natoms = (uint16_t)b->natoms,
		.nbufs = (uint16_t)b->nbufs,
		.flags = 0,
		.arena_len = b->arena_len,
		.caller_data = 0x32,
		.reserved = 0,
	};
	size_t atoms = b->natoms * sizeof(b->atoms[0]);
	snprintf(path, sizeof(path), "%s/%s.bin", outdir, b->name);
	FILE *f = fopen(path, "wb");
	if (!f)
		die(path);
	fwrite(&h, sizeof(h), 1, f);
	fwrite(b->atoms, atoms, 1, f);
	fwrite(zero, SYSLET_COMPAT_ATOMS_LEN(b->natoms) - atoms, 1, f);
	fwrite(b->bufs, sizeof(b->bufs[0]), b->nbufs, f);
	fwrite(b->arena, b->arena_len, 1, f);
	if (fclose(f))
		die(path);
}

/* ------------------------------------------------------------------------ */
/* What the producer's own kernel does with the same calls. */

static FILE *expect;

static long rec(int atom, long r)
{
	long v = r == -1 ? -errno : r;
	fprintf(expect, "ret %d %ld\n", atom, v);
	return r;
}

static void rec_buf(int index, const void *p, size_t len)
{
	const uint8_t *b = p;
	fprintf(expect, "buf %d ", index);
	for (size_t i = 0; i < len; i++)
		fprintf(expect, "%02x", b[i]);
	fprintf(expect, "\n");
}

static void open_expect(const char *outdir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s.expect", outdir, name);
	expect = fopen(path, "w");
	if (!expect)
		die(path);
}

static void close_expect(void)
{
	if (fclose(expect))
		die("expect");
}

/* ------------------------------------------------------------------------ */
/* The chains. */

static void open_fstat(const char *outdir, int dirfd)
{
	struct batch b = { .name = "open_fstat" };
	uint16_t path = add_path(&b, "data.txt");
	uint16_t st = add_buf(&b, NULL, sizeof(struct syslet_compat_stat64), 0xa5, SYSLET_BUF_OUT);
	add_atom(&b, SYSLET_STOP_ON_NEGATIVE, SYS_openat, 4, IMM(FIXTURE_DIRFD), BUF(path),
		 IMM(OPEN_FLAGS), IMM(0));
	add_atom(&b, 0, SYS_fstat64, 2, RES(0), BUF(st));
	add_atom(&b, 0, SYS_close, 1, RES(0));
	write_batch(&b, outdir);
	if (dirfd < 0)
		return;

	struct syslet_compat_stat64 s;
	memset(&s, 0xa5, sizeof(s));
	open_expect(outdir, b.name);
	long fd = rec(0, syscall(SYS_openat, dirfd, "data.txt", OPEN_FLAGS, 0));
	rec(1, syscall(SYS_fstat64, fd, &s));
	rec(2, syscall(SYS_close, fd));
	rec_buf(st, &s, sizeof(s));
	close_expect();
}

static void fstatat_statx(const char *outdir, int dirfd)
{
	struct batch b = { .name = "fstatat_statx" };
	uint16_t path = add_path(&b, "data.txt");
	uint16_t st = add_buf(&b, NULL, sizeof(struct syslet_compat_stat64), 0x5a, SYSLET_BUF_OUT);
	uint16_t stx = add_buf(&b, NULL, 256, 0, SYSLET_BUF_OUT);
	add_atom(&b, 0, SYS_fstatat64, 4, IMM(FIXTURE_DIRFD), BUF(path), BUF(st), IMM(0));
	add_atom(&b, 0, SYS_statx, 5, IMM(FIXTURE_DIRFD), BUF(path), IMM(0),
		 IMM(STATX_BASIC_STATS_), BUF(stx));
	write_batch(&b, outdir);
	if (dirfd < 0)
		return;

	struct syslet_compat_stat64 s;
	uint8_t x[256];
	memset(&s, 0x5a, sizeof(s));
	memset(x, 0, sizeof(x));
	open_expect(outdir, b.name);
	rec(0, syscall(SYS_fstatat64, dirfd, "data.txt", &s, 0));
	rec(1, syscall(SYS_statx, dirfd, "data.txt", 0, STATX_BASIC_STATS_, x));
	rec_buf(st, &s, sizeof(s));
	rec_buf(stx, x, sizeof(x));
	close_expect();
}

static void llseek_read(const char *outdir, int dirfd)
{
	struct batch b = { .name = "llseek_read" };
	uint16_t path = add_path(&b, "sparse.bin");
	uint16_t res = add_buf(&b, NULL, 8, 0xee, SYSLET_BUF_OUT);
	uint16_t data = add_buf(&b, NULL, 16, 0, SYSLET_BUF_OUT);
	add_atom(&b, SYSLET_STOP_ON_NEGATIVE, SYS_openat, 4, IMM(FIXTURE_DIRFD), BUF(path),
		 IMM(OPEN_FLAGS), IMM(0));
	add_atom(&b, SYSLET_STOP_ON_NEGATIVE, SYS__llseek, 5, RES(0), IMM(FIVE_GIB_HI),
		 IMM(FIVE_GIB_LO), BUF(res), IMM(SEEK_SET));
	add_atom(&b, 0, SYS_read, 3, RES(0), BUF(data), IMM(16));
	add_atom(&b, 0, SYS_close, 1, RES(0));
	write_batch(&b, outdir);
	if (dirfd < 0)
		return;

	uint8_t r[8], d[16];
	memset(r, 0xee, sizeof(r));
	memset(d, 0, sizeof(d));
	open_expect(outdir, b.name);
	long fd = rec(0, syscall(SYS_openat, dirfd, "sparse.bin", OPEN_FLAGS, 0));
	rec(1, syscall(SYS__llseek, fd, FIVE_GIB_HI, FIVE_GIB_LO, r, SEEK_SET));
	rec(2, syscall(SYS_read, fd, d, 16));
	rec(3, syscall(SYS_close, fd));
	rec_buf(res, r, sizeof(r));
	rec_buf(data, d, sizeof(d));
	close_expect();
}

static void pread64_sparse(const char *outdir, int dirfd)
{
	struct batch b = { .name = "pread64_sparse" };
	uint16_t path = add_path(&b, "sparse.bin");
	uint16_t data = add_buf(&b, NULL, 16, 0, SYSLET_BUF_OUT);
	add_atom(&b, SYSLET_STOP_ON_NEGATIVE, SYS_openat, 4, IMM(FIXTURE_DIRFD), BUF(path),
		 IMM(OPEN_FLAGS), IMM(0));
	add_atom(&b, 0, SYS_pread64, 5, RES(0), BUF(data), IMM(16), IMM(SIX_GIB_LO),
		 IMM(SIX_GIB_HI));
	add_atom(&b, 0, SYS_close, 1, RES(0));
	write_batch(&b, outdir);
	if (dirfd < 0)
		return;

	uint8_t d[16];
	memset(d, 0, sizeof(d));
	open_expect(outdir, b.name);
	long fd = rec(0, syscall(SYS_openat, dirfd, "sparse.bin", OPEN_FLAGS, 0));
	rec(1, syscall(SYS_pread64, fd, d, 16, SIX_GIB_LO, SIX_GIB_HI));
	rec(2, syscall(SYS_close, fd));
	rec_buf(data, d, sizeof(d));
	close_expect();
}

static void socketcall_connect(const char *outdir, unsigned port)
{
	struct batch b = { .name = "socketcall_connect" };
	/* struct sockaddr_in for 127.0.0.1:port (port 0 in the fixture). */
	uint8_t sa[16] = { AF_INET_, 0, 0, 0, 127, 0, 0, 1 };
	uint16_t addr = add_buf(&b, sa, sizeof(sa), 0, SYSLET_BUF_IN);
	struct syslet_compat_sockarg socket_args[3] = {
		{ IMM(AF_INET_) }, { IMM(SOCK_STREAM_CLOEXEC) }, { IMM(0) },
	};
	struct syslet_compat_sockarg connect_args[3] = {
		{ RES(0) }, { BUF(addr) }, { IMM(sizeof(sa)) },
	};
	uint16_t sargs = add_sockargs(&b, 3, socket_args);
	uint16_t cargs = add_sockargs(&b, 3, connect_args);
	add_atom(&b, SYSLET_STOP_ON_NEGATIVE, SYS_socketcall, 2, IMM(1 /* SYS_SOCKET */),
		 BUF(sargs));
	add_atom(&b, 0, SYS_socketcall, 2, IMM(3 /* SYS_CONNECT */), BUF(cargs));
	add_atom(&b, 0, SYS_close, 1, RES(0));
	write_batch(&b, outdir);
	if (!port)
		return;

	sa[2] = (uint8_t)(port >> 8);
	sa[3] = (uint8_t)port;
	open_expect(outdir, b.name);
	unsigned long sock[3] = { AF_INET_, SOCK_STREAM_CLOEXEC, 0 };
	long fd = rec(0, syscall(SYS_socketcall, 1, sock));
	unsigned long conn[3] = { (unsigned long)fd, (unsigned long)sa, sizeof(sa) };
	rec(1, syscall(SYS_socketcall, 3, conn));
	rec(2, syscall(SYS_close, fd));
	close_expect();
}

/* ------------------------------------------------------------------------ */
/* Directory chains: what d_off and the directory's end are for a 32-bit
 * caller (on ext4: 31-bit hash cookies, end 0x7fffffff). */

/* The d_off of the entry after the first one in a getdents64 buffer: where
 * seekdir(telldir()) after reading one entry goes. */
static uint64_t second_d_off(const uint8_t *ents)
{
	uint16_t reclen;
	uint64_t off;
	memcpy(&reclen, ents + 16, sizeof(reclen));
	memcpy(&off, ents + reclen + 8, sizeof(off));
	return off;
}

/* Reads "small" whole; returns the d_off getdents_seek seeks to. */
static uint64_t getdents_small(const char *outdir, int dirfd)
{
	struct batch b = { .name = "getdents_small" };
	uint16_t path = add_path(&b, "small");
	uint16_t ents = add_buf(&b, NULL, 4096, DIRENT_FILL, SYSLET_BUF_OUT);
	uint16_t more = add_buf(&b, NULL, 64, DIRENT_FILL, SYSLET_BUF_OUT);
	uint16_t end = add_buf(&b, NULL, 8, 0xee, SYSLET_BUF_OUT);
	add_atom(&b, SYSLET_STOP_ON_NEGATIVE, SYS_openat, 4, IMM(FIXTURE_DIRFD), BUF(path),
		 IMM(DIR_FLAGS), IMM(0));
	add_atom(&b, 0, SYS_getdents64, 3, RES(0), BUF(ents), IMM(4096));
	add_atom(&b, 0, SYS_getdents64, 3, RES(0), BUF(more), IMM(64));
	add_atom(&b, 0, SYS__llseek, 5, RES(0), IMM(0), IMM(0), BUF(end), IMM(SEEK_END));
	add_atom(&b, 0, SYS_lseek, 3, RES(0), IMM(0), IMM(SEEK_CUR));
	add_atom(&b, 0, SYS_close, 1, RES(0));
	write_batch(&b, outdir);
	if (dirfd < 0)
		return 0;

	uint8_t e[4096], m[64], r[8];
	memset(e, DIRENT_FILL, sizeof(e));
	memset(m, DIRENT_FILL, sizeof(m));
	memset(r, 0xee, sizeof(r));
	open_expect(outdir, b.name);
	long fd = rec(0, syscall(SYS_openat, dirfd, "small", DIR_FLAGS, 0));
	rec(1, syscall(SYS_getdents64, fd, e, sizeof(e)));
	rec(2, syscall(SYS_getdents64, fd, m, sizeof(m)));
	rec(3, syscall(SYS__llseek, fd, 0, 0, r, SEEK_END));
	rec(4, syscall(SYS_lseek, fd, 0, SEEK_CUR));
	rec(5, syscall(SYS_close, fd));
	rec_buf(ents, e, sizeof(e));
	rec_buf(more, m, sizeof(m));
	rec_buf(end, r, sizeof(r));
	close_expect();
	return second_d_off(e);
}

/* Reads "big" (several blocks: an indexed directory on ext4) in two parts,
 * asking where it is in between. */
static void getdents_big(const char *outdir, int dirfd)
{
	struct batch b = { .name = "getdents_big" };
	uint16_t path = add_path(&b, "big");
	uint16_t first = add_buf(&b, NULL, 1024, DIRENT_FILL, SYSLET_BUF_OUT);
	uint16_t cur = add_buf(&b, NULL, 8, 0xee, SYSLET_BUF_OUT);
	uint16_t rest = add_buf(&b, NULL, 16384, DIRENT_FILL, SYSLET_BUF_OUT);
	uint16_t more = add_buf(&b, NULL, 64, DIRENT_FILL, SYSLET_BUF_OUT);
	add_atom(&b, SYSLET_STOP_ON_NEGATIVE, SYS_openat, 4, IMM(FIXTURE_DIRFD), BUF(path),
		 IMM(DIR_FLAGS), IMM(0));
	add_atom(&b, 0, SYS_getdents64, 3, RES(0), BUF(first), IMM(1024));
	add_atom(&b, 0, SYS__llseek, 5, RES(0), IMM(0), IMM(0), BUF(cur), IMM(SEEK_CUR));
	add_atom(&b, 0, SYS_getdents64, 3, RES(0), BUF(rest), IMM(16384));
	add_atom(&b, 0, SYS_getdents64, 3, RES(0), BUF(more), IMM(64));
	add_atom(&b, 0, SYS_close, 1, RES(0));
	write_batch(&b, outdir);
	if (dirfd < 0)
		return;

	static uint8_t f[1024], r[16384];
	uint8_t c[8], m[64];
	memset(f, DIRENT_FILL, sizeof(f));
	memset(c, 0xee, sizeof(c));
	memset(r, DIRENT_FILL, sizeof(r));
	memset(m, DIRENT_FILL, sizeof(m));
	open_expect(outdir, b.name);
	long fd = rec(0, syscall(SYS_openat, dirfd, "big", DIR_FLAGS, 0));
	rec(1, syscall(SYS_getdents64, fd, f, sizeof(f)));
	rec(2, syscall(SYS__llseek, fd, 0, 0, c, SEEK_CUR));
	rec(3, syscall(SYS_getdents64, fd, r, sizeof(r)));
	rec(4, syscall(SYS_getdents64, fd, m, sizeof(m)));
	rec(5, syscall(SYS_close, fd));
	rec_buf(first, f, sizeof(f));
	rec_buf(cur, c, sizeof(c));
	rec_buf(rest, r, sizeof(r));
	rec_buf(more, m, sizeof(m));
	close_expect();
}

/* seekdir to a d_off getdents_small returned (0 in the fixture), read on. */
static void getdents_seek(const char *outdir, int dirfd, uint64_t cookie)
{
	struct batch b = { .name = "getdents_seek" };
	uint16_t path = add_path(&b, "small");
	uint16_t pos = add_buf(&b, NULL, 8, 0xee, SYSLET_BUF_OUT);
	uint16_t ents = add_buf(&b, NULL, 4096, DIRENT_FILL, SYSLET_BUF_OUT);
	add_atom(&b, SYSLET_STOP_ON_NEGATIVE, SYS_openat, 4, IMM(FIXTURE_DIRFD), BUF(path),
		 IMM(DIR_FLAGS), IMM(0));
	add_atom(&b, 0, SYS__llseek, 5, RES(0), IMM(0), IMM(0), BUF(pos), IMM(SEEK_SET));
	add_atom(&b, 0, SYS_getdents64, 3, RES(0), BUF(ents), IMM(4096));
	add_atom(&b, 0, SYS_close, 1, RES(0));
	write_batch(&b, outdir);
	if (dirfd < 0)
		return;

	uint8_t p[8], e[4096];
	memset(p, 0xee, sizeof(p));
	memset(e, DIRENT_FILL, sizeof(e));
	open_expect(outdir, b.name);
	long fd = rec(0, syscall(SYS_openat, dirfd, "small", DIR_FLAGS, 0));
	rec(1, syscall(SYS__llseek, fd, (uint32_t)(cookie >> 32), (uint32_t)cookie, p,
		       SEEK_SET));
	rec(2, syscall(SYS_getdents64, fd, e, sizeof(e)));
	rec(3, syscall(SYS_close, fd));
	rec_buf(pos, p, sizeof(p));
	rec_buf(ents, e, sizeof(e));
	close_expect();
}

static void dir_chains(const char *outdir, int dirfd)
{
	uint64_t cookie = getdents_small(outdir, dirfd);
	getdents_big(outdir, dirfd);
	getdents_seek(outdir, dirfd, cookie);
}

int main(int argc, char **argv)
{
	if (argc != 2 && argc != 4) {
		fprintf(stderr, "usage: %s OUTDIR [DIR PORT | --dirs DIR]\n", argv[0]);
		return 2;
	}
	const char *outdir = argv[1];
	int dirfd = -1;
	unsigned port = 0;
	if (argc == 4) {
		const char *dir = strcmp(argv[2], "--dirs") ? argv[2] : argv[3];
		dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dirfd < 0)
			die(dir);
		if (!strcmp(argv[2], "--dirs")) {
			dir_chains(outdir, dirfd);
			return 0;
		}
		port = (unsigned)strtoul(argv[3], NULL, 10);
		if (!port || port > 65535) {
			fprintf(stderr, "bad port %s\n", argv[3]);
			return 2;
		}
	}
	open_fstat(outdir, dirfd);
	fstatat_statx(outdir, dirfd);
	llseek_read(outdir, dirfd);
	pread64_sparse(outdir, dirfd);
	socketcall_connect(outdir, port);
	dir_chains(outdir, -1);
	return 0;
}
