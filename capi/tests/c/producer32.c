/*
 * producer32.c - a 32-bit (gcc -m32) producer: writes to stdout a compat
 * batch laid out per syslet_compat.h with i386 numbers,
 *
 *   0 openat(AT_FDCWD, BUF path, O_RDONLY|O_LARGEFILE|O_CLOEXEC, 0)  STOP_ON_NEGATIVE
 *   1 fstat64(RESULT 0, BUF struct stat64)
 *   2 close(RESULT 0)
 *
 * for the 64-bit side to run through syslet_validate_compat32. MODE "bad"
 * gives atom 1 an i386 number no one knows, which the translation refuses.
 *
 * Usage: producer32 PATH run|bad
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "syslet_compat.h"

#if !defined(__i386__)
#error "build with gcc -m32: this is the 32-bit producer"
#endif

/* i386 values (arch/x86/entry/syscalls/syscall_32.tbl, asm-generic/fcntl.h). */
#define NR32_CLOSE 6
#define NR32_FSTAT64 197
#define NR32_OPENAT 295
#define NR32_UNKNOWN 4000
#define AT_FDCWD_ (-100)
#define OPEN_FLAGS (0x0000u /* O_RDONLY */ | 0x8000u /* O_LARGEFILE */ | 0x80000u /* O_CLOEXEC */)

#define NATOMS 3
#define NBUFS 2

static void atom(struct syslet_compat_atom *a, uint32_t flags, uint32_t nr, uint16_t nargs,
		 const uint8_t *kinds, const uint32_t *args)
{
	memset(a, 0, sizeof *a);
	a->flags = flags;
	a->nr = nr;
	a->nargs = nargs;
	memcpy(a->arg_kind, kinds, nargs);
	memcpy(a->arg, args, nargs * sizeof *args);
}

int main(int argc, char **argv)
{
	static const uint8_t zero[8];
	struct syslet_batch_header h;
	struct syslet_compat_atom atoms[NATOMS];
	struct syslet_buf_desc bufs[NBUFS];
	static unsigned char arena[4096 + 8 + sizeof(struct syslet_compat_stat64)];
	uint32_t path_len;

	if (argc != 3 || strlen(argv[1]) >= 4096 ||
	    (strcmp(argv[2], "run") != 0 && strcmp(argv[2], "bad") != 0)) {
		fprintf(stderr, "usage: producer32 PATH run|bad\n");
		return 2;
	}
	path_len = (uint32_t)strlen(argv[1]) + 1;
	memcpy(arena, argv[1], path_len);
	memset(bufs, 0, sizeof bufs);
	bufs[0].len = path_len;
	bufs[0].flags = SYSLET_BUF_IN;
	bufs[1].offset = (path_len + 7u) & ~7u;
	bufs[1].len = sizeof(struct syslet_compat_stat64);
	bufs[1].flags = SYSLET_BUF_OUT;

	{
		const uint8_t k0[4] = {SYSLET_ARG_IMM, SYSLET_ARG_BUF, SYSLET_ARG_IMM, SYSLET_ARG_IMM};
		const uint32_t a0[4] = {(uint32_t)AT_FDCWD_, SYSLET_COMPAT_BUF_ARG(0, 0), OPEN_FLAGS, 0};
		const uint8_t k1[2] = {SYSLET_ARG_RESULT, SYSLET_ARG_BUF};
		const uint32_t a1[2] = {0, SYSLET_COMPAT_BUF_ARG(1, 0)};
		const uint8_t k2[1] = {SYSLET_ARG_RESULT};
		const uint32_t a2[1] = {0};
		atom(&atoms[0], SYSLET_STOP_ON_NEGATIVE, NR32_OPENAT, 4, k0, a0);
		atom(&atoms[1], 0, strcmp(argv[2], "bad") == 0 ? NR32_UNKNOWN : NR32_FSTAT64, 2, k1,
		     a1);
		atom(&atoms[2], 0, NR32_CLOSE, 1, k2, a2);
	}

	memset(&h, 0, sizeof h);
	h.magic = SYSLET_COMPAT_MAGIC;
	h.version = SYSLET_VERSION;
	h.natoms = NATOMS;
	h.nbufs = NBUFS;
	h.arena_len = bufs[1].offset + ((bufs[1].len + 7u) & ~7u);
	h.caller_data = 0x32;
	if (fwrite(&h, sizeof h, 1, stdout) != 1 || fwrite(atoms, sizeof atoms, 1, stdout) != 1 ||
	    fwrite(zero, SYSLET_COMPAT_ATOMS_LEN(NATOMS) - sizeof atoms, 1, stdout) != 1 ||
	    fwrite(bufs, sizeof bufs, 1, stdout) != 1 ||
	    fwrite(arena, h.arena_len, 1, stdout) != 1 || fflush(stdout) != 0) {
		perror("producer32: write");
		return 1;
	}
	return 0;
}
