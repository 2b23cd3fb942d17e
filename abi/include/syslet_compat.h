/*
 * syslet_compat.h - the 32-bit (i386) producer's view of the syslets ABI.
 *
 * The same layout as the Rust crate `syslets-compat` (compat/src/layout.rs).
 * A program built with `gcc -m32` writes these structs natively; the 64-bit
 * side turns them into a native batch with syslets_compat::normalize() and
 * converts output structs back afterwards (Normalized::write_back).
 *
 * A compat batch is:
 *   header | atoms[natoms] | pad | bufs[nbufs] | arena[arena_len]
 * - header: struct syslet_batch_header (32 bytes, syslet.h) with
 *   magic = SYSLET_COMPAT_MAGIC ("SY32");
 * - atoms: struct syslet_compat_atom, 44 bytes each, i386 syscall numbers;
 *   with an odd natoms, 4 zero bytes follow so the next section is 8-aligned
 *   (SYSLET_COMPAT_ATOMS_LEN);
 * - bufs and arena: exactly as native (struct syslet_buf_desc).
 *
 * A BUF argument is one 32-bit word: buffer index in bits 24..32, offset in
 * the buffer in bits 0..24 (SYSLET_COMPAT_BUF_ARG; offsets up to 16 MiB - 1).
 *
 * socketcall(call, args): `call` is an immediate; `args` is a BUF pointing to
 * an array of struct syslet_compat_sockarg in an IN-only buffer, one entry per
 * argument of the call, each a (kind, value) pair like an atom argument.
 */
#ifndef SYSLET_COMPAT_H
#define SYSLET_COMPAT_H

#include <stdint.h>
#include "syslet.h"

#define SYSLET_COMPAT_MAGIC 0x32335953u /* "SY32" read as little-endian u32 */

#define SYSLET_COMPAT_ATOM_SIZE 44
#define SYSLET_COMPAT_ATOMS_LEN(natoms) ((((natoms) * SYSLET_COMPAT_ATOM_SIZE) + 7u) & ~7u)

#define SYSLET_COMPAT_BUF_INDEX_SHIFT 24
#define SYSLET_COMPAT_BUF_OFFSET_MASK 0x00ffffffu
#define SYSLET_COMPAT_BUF_ARG(index, offset)                                   \
	((((uint32_t)(index) & 0xffu) << SYSLET_COMPAT_BUF_INDEX_SHIFT) |     \
	 ((uint32_t)(offset) & SYSLET_COMPAT_BUF_OFFSET_MASK))

/* A 64-bit field with the alignment i386 gives `long long` inside a struct. */
typedef uint64_t syslet_compat_u64 __attribute__((aligned(4)));
typedef int64_t syslet_compat_s64 __attribute__((aligned(4)));

struct syslet_compat_atom {
	uint32_t flags;    /* as native: STOP_ON_*, SKIP_TO_NEXT_ON_STOP, NEXT */
	uint32_t nr;       /* i386 syscall number */
	uint8_t arg_kind[6];
	uint16_t nargs;    /* arguments of the i386 call (pread64: 5) */
	uint32_t arg[6];
	uint32_t private_data; /* "private" in Rust; a C++ keyword */
};

struct syslet_compat_sockarg {
	uint32_t kind;  /* SYSLET_ARG_IMM, _RESULT or _BUF */
	uint32_t value;
};

/* One element of an i386 iovec array (readv, writev, preadv2, pwritev2): base
 * is a BUF word (SYSLET_COMPAT_BUF_ARG), len bytes from there. The array lies
 * in an IN-only buffer; the translator widens it to struct syslet_iovec. */
struct syslet_compat_iovec {
	uint32_t base;
	uint32_t len;
};

/* The i386 struct msghdr (sendmsg, recvmsg; the kernel's compat_msghdr):
 * name, iov and control are BUF words (SYSLET_COMPAT_BUF_ARG), each ignored
 * when its length is 0; iov is an array of iovlen struct syslet_compat_iovec;
 * control holds i386 cmsghdrs (u32 cmsg_len, int level, int type: 12 bytes,
 * messages 4-byte aligned), which the translator converts both ways. After a
 * recvmsg, namelen, controllen (i386 bytes) and flags hold what the call
 * reported. */
struct syslet_compat_msghdr {
	uint32_t name;
	uint32_t namelen;
	uint32_t iov;
	uint32_t iovlen;
	uint32_t control;
	uint32_t controllen;
	uint32_t flags;
};

/* The i386 kernel's struct stat64 (arch/x86/include/uapi/asm/stat.h). */
struct syslet_compat_stat64 {
	syslet_compat_u64 st_dev;
	uint8_t pad0[4];
	uint32_t st_ino_lo; /* __st_ino: low 32 bits of st_ino */
	uint32_t st_mode;
	uint32_t st_nlink;
	uint32_t st_uid;
	uint32_t st_gid;
	syslet_compat_u64 st_rdev;
	uint8_t pad3[4];
	syslet_compat_s64 st_size;
	uint32_t st_blksize;
	syslet_compat_u64 st_blocks;
	uint32_t st_atime_;
	uint32_t st_atime_nsec;
	uint32_t st_mtime_;
	uint32_t st_mtime_nsec;
	uint32_t st_ctime_;
	uint32_t st_ctime_nsec;
	syslet_compat_u64 st_ino;
};

SYSLET_STATIC_ASSERT(sizeof(struct syslet_compat_atom) == 44, "compat atom size");
SYSLET_STATIC_ASSERT(__builtin_offsetof(struct syslet_compat_atom, arg) == 16, "compat atom arg");
SYSLET_STATIC_ASSERT(__builtin_offsetof(struct syslet_compat_atom, private_data) == 40,
		     "compat atom private");
SYSLET_STATIC_ASSERT(sizeof(struct syslet_compat_sockarg) == 8, "sockarg size");
SYSLET_STATIC_ASSERT(sizeof(struct syslet_compat_msghdr) == 28, "compat msghdr size");
SYSLET_STATIC_ASSERT(sizeof(struct syslet_compat_stat64) == 96, "stat64 size");
SYSLET_STATIC_ASSERT(__builtin_offsetof(struct syslet_compat_stat64, st_size) == 44, "st_size");
SYSLET_STATIC_ASSERT(__builtin_offsetof(struct syslet_compat_stat64, st_blocks) == 56, "st_blocks");
SYSLET_STATIC_ASSERT(__builtin_offsetof(struct syslet_compat_stat64, st_ino) == 88, "st_ino");
SYSLET_STATIC_ASSERT(SYSLET_COMPAT_ATOMS_LEN(1) == 48, "atoms padded to 8");

#endif /* SYSLET_COMPAT_H */
