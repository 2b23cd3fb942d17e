/*
 * write_batch.c - write a batch buffer with the structs of
 * abi/include/syslet.h, for Rust to decode, validate and run:
 *
 *   0 openat(AT_FDCWD, BUF path, O_RDONLY|O_CLOEXEC, 0)   STOP_ON_NEGATIVE
 *   1 fstat(RESULT 0, BUF stat)                           STOP_ON_NONZERO
 *   2 pread64(RESULT 0, BUF data, 64, 0)    NEXT = 4: normal flow skips atom 3
 *   3 getpid()
 *   4 close(RESULT 0)
 *
 * Usage: write_batch OUT PATH MODE. MODE "run" writes the batch above; MODE
 * "raw" makes fstat's stat pointer an ARG_RAW pointer to this program's memory,
 * which a batch decoded from bytes may never carry.
 *
 * Everything written is little-endian (the ABI's byte order, and x86's), with
 * x86_64 values for the kernel's constants whatever this program is built for.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "syslet.h"

/* x86_64 (and generic) values; not taken from <fcntl.h>, which -m32 builds see. */
#define X86_64_AT_FDCWD (-100)
#define X86_64_O_RDONLY 0
#define X86_64_O_CLOEXEC 02000000
#define X86_64_STAT_SIZE 144

#define NATOMS 5
#define NBUFS 3
#define DATA_LEN 64
#define ALIGN8(n) (((n) + 7u) & ~(uint32_t)7u)

static void die(const char *what)
{
	fprintf(stderr, "write_batch: %s\n", what);
	exit(2);
}

static unsigned char raw_target[X86_64_STAT_SIZE];

int main(int argc, char **argv)
{
	struct syslet_batch_header h;
	struct syslet_atom atoms[NATOMS];
	struct syslet_buf_desc bufs[NBUFS];
	unsigned char *arena;
	uint32_t path_len, arena_len;
	int raw;
	FILE *f;

	if (argc != 4)
		die("usage: write_batch OUT PATH run|raw");
	if (strcmp(argv[3], "run") != 0 && strcmp(argv[3], "raw") != 0)
		die("MODE must be run or raw");
	raw = strcmp(argv[3], "raw") == 0;
	if (strlen(argv[2]) >= 4096)
		die("PATH too long");

	/* Arena: path (IN), struct stat (OUT), data (OUT); each 8-byte aligned. */
	path_len = (uint32_t)strlen(argv[2]) + 1;
	memset(bufs, 0, sizeof bufs);
	bufs[0].offset = 0;
	bufs[0].len = path_len;
	bufs[0].flags = SYSLET_BUF_IN;
	bufs[1].offset = ALIGN8(path_len);
	bufs[1].len = X86_64_STAT_SIZE;
	bufs[1].flags = SYSLET_BUF_OUT;
	bufs[2].offset = bufs[1].offset + ALIGN8(X86_64_STAT_SIZE);
	bufs[2].len = DATA_LEN;
	bufs[2].flags = SYSLET_BUF_OUT;
	arena_len = bufs[2].offset + ALIGN8(DATA_LEN);
	arena = (unsigned char *)calloc(1, arena_len);
	if (!arena)
		die("out of memory");
	memcpy(arena, argv[2], path_len);

	memset(&h, 0, sizeof h);
	h.magic = SYSLET_MAGIC;
	h.version = SYSLET_VERSION;
	h.natoms = NATOMS;
	h.nbufs = NBUFS;
	h.flags = SYSLET_SYNC;
	h.arena_len = arena_len;
	h.caller_data = UINT64_C(0xc0ffee0000c0ffee);

	memset(atoms, 0, sizeof atoms);
	atoms[0].nr = SYSLET_NR_OPENAT;
	atoms[0].flags = SYSLET_STOP_ON_NEGATIVE;
	atoms[0].nargs = 4;
	atoms[0].arg_kind[0] = SYSLET_ARG_IMM;
	atoms[0].arg[0] = (uint64_t)(int64_t)X86_64_AT_FDCWD; /* sign-extended int */
	atoms[0].arg_kind[1] = SYSLET_ARG_BUF;
	atoms[0].arg[1] = SYSLET_BUF_ARG(0, 0);
	atoms[0].arg_kind[2] = SYSLET_ARG_IMM;
	atoms[0].arg[2] = X86_64_O_RDONLY | X86_64_O_CLOEXEC;
	atoms[0].arg_kind[3] = SYSLET_ARG_IMM;
	atoms[0].arg[3] = 0;
	atoms[0].private_data = UINT64_C(0x0b0e000000000000);

	atoms[1].nr = SYSLET_NR_FSTAT;
	atoms[1].flags = SYSLET_STOP_ON_NONZERO;
	atoms[1].nargs = 2;
	atoms[1].arg_kind[0] = SYSLET_ARG_RESULT;
	atoms[1].arg[0] = 0;
	if (raw) {
		atoms[1].arg_kind[1] = SYSLET_ARG_RAW;
		atoms[1].arg[1] = (uint64_t)(uintptr_t)raw_target;
	} else {
		atoms[1].arg_kind[1] = SYSLET_ARG_BUF;
		atoms[1].arg[1] = SYSLET_BUF_ARG(1, 0);
	}

	atoms[2].nr = SYSLET_NR_PREAD64;
	atoms[2].flags = SYSLET_STOP_ON_NEGATIVE | SYSLET_NEXT(4);
	atoms[2].nargs = 4;
	atoms[2].arg_kind[0] = SYSLET_ARG_RESULT;
	atoms[2].arg[0] = 0;
	atoms[2].arg_kind[1] = SYSLET_ARG_BUF;
	atoms[2].arg[1] = SYSLET_BUF_ARG(2, 0);
	atoms[2].arg_kind[2] = SYSLET_ARG_IMM;
	atoms[2].arg[2] = DATA_LEN;
	atoms[2].arg_kind[3] = SYSLET_ARG_IMM;
	atoms[2].arg[3] = 0;

	atoms[3].nr = SYSLET_NR_GETPID;
	atoms[3].nargs = 0;

	atoms[4].nr = SYSLET_NR_CLOSE;
	atoms[4].nargs = 1;
	atoms[4].arg_kind[0] = SYSLET_ARG_RESULT;
	atoms[4].arg[0] = 0;

	f = fopen(argv[1], "wb");
	if (!f)
		die("cannot create OUT");
	if (fwrite(&h, sizeof h, 1, f) != 1 || fwrite(atoms, sizeof atoms, 1, f) != 1 ||
	    fwrite(bufs, sizeof bufs, 1, f) != 1 || fwrite(arena, arena_len, 1, f) != 1 ||
	    fclose(f) != 0)
		die("cannot write OUT");
	free(arena);
	return 0;
}
