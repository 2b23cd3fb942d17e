/*
 * syslet.h - the C view of the syslets ABI, version 1.
 *
 * The same layout as the Rust crate `syslets-abi` (abi/src). The conformance
 * tests (tests/abi_conformance.rs) compile this header with the system C
 * compiler, natively and with -m32, and compare every size, offset and
 * constant with the Rust side.
 *
 * All fields are fixed-size and little-endian. 64-bit fields are declared with
 * syslet_u64/syslet_s64, which force 8-byte alignment: i386 would otherwise
 * align them to 4 inside structs, and the layout must be identical everywhere.
 *
 * A batch buffer is: header | atoms[natoms] | bufs[nbufs] | arena[arena_len].
 *
 * The header is valid C11 and C++11 (it only declares types and constants).
 * Names follow the Rust constants with a SYSLET_ prefix, except the batch
 * flags, which keep their v6 names (Rust BATCH_ASYNC is SYSLET_ASYNC, ...), and
 * the atom's `private` field, which is `private_data` here.
 */
#ifndef SYSLET_H
#define SYSLET_H

#include <stdint.h>

typedef uint64_t syslet_u64 __attribute__((aligned(8)));
typedef int64_t syslet_s64 __attribute__((aligned(8)));

#define SYSLET_MAGIC 0x4C535953u /* "SYSL" read as little-endian u32 */
#define SYSLET_VERSION 1

#define SYSLET_MAX_ATOMS 64
#define SYSLET_MAX_BUFS 256
#define SYSLET_MAX_ARENA_LEN (64u << 20)
#define SYSLET_MAX_ARGS 6
#define SYSLET_BATCH_ALIGN 8

/* Sizes of the structs below. */
#define SYSLET_HEADER_SIZE 32
#define SYSLET_ATOM_SIZE 80
#define SYSLET_BUFDESC_SIZE 16
#define SYSLET_IOVEC_SIZE 16
#define SYSLET_MAX_IOVECS 1024
#define SYSLET_MSGHDR_SIZE 56
#define SYSLET_CMSGHDR_SIZE 16
#define SYSLET_MAX_CONTROL_LEN 4096
#define SYSLET_COMPLETION_SIZE (32 + 8 * SYSLET_MAX_ATOMS)
#define SYSLET_RING_HEADER_SIZE 16
#define SYSLET_RING_ENTRY_SIZE 32

/* Atom flags: the v6 values. */
#define SYSLET_STOP_ON_NONZERO 0x08u
#define SYSLET_STOP_ON_ZERO 0x10u
#define SYSLET_STOP_ON_NEGATIVE 0x20u
#define SYSLET_STOP_ON_NON_POSITIVE 0x40u
#define SYSLET_STOP_MASK 0x78u
#define SYSLET_SKIP_TO_NEXT_ON_STOP 0x80u
/* Normal-flow target (v6's ->next, forward only): 0 = linearly next atom,
 * natoms = end the chain after this atom. */
#define SYSLET_NEXT_MASK 0x00ff0000u
#define SYSLET_NEXT_SHIFT 16
#define SYSLET_NEXT(i) (((uint32_t)(i) & 0xffu) << SYSLET_NEXT_SHIFT)
#define SYSLET_ATOM_FLAGS_MASK 0x00ff00f8u

/* Batch flags: the v6 names and values (BATCH_* in Rust). */
#define SYSLET_ASYNC 0x01u
#define SYSLET_SYNC 0x02u
#define SYSLET_NO_COMPLETE 0x04u
/* On behalf of a 32-bit producer: getdents64 and lseek go through the i386
 * entry, so directory offsets are the ones a 32-bit caller gets (not v6). */
#define SYSLET_COMPAT32 0x08u
#define SYSLET_BATCH_FLAGS_MASK 0x0fu

/* Argument kinds. */
#define SYSLET_ARG_IMM 0
#define SYSLET_ARG_RESULT 1
#define SYSLET_ARG_BUF 2
#define SYSLET_ARG_RAW 3 /* in-process builders only; refused in decoded batches */
#define SYSLET_BUF_ARG(index, offset) (((uint64_t)(uint16_t)(index) << 32) | (uint32_t)(offset))

/* Buffer flags. */
#define SYSLET_BUF_IN 0x1u
#define SYSLET_BUF_OUT 0x2u
#define SYSLET_BUF_FLAGS_MASK 0x3u

/* Completion flags. */
#define SYSLET_COMPLETION_STOPPED 0x1u
#define SYSLET_COMPLETION_CANCELED 0x2u
#define SYSLET_COMPLETION_INLINE 0x4u

/*
 * Native (x86_64) system call numbers for syslet_atom.nr: every call the
 * signature table (abi/src/signature.rs) knows. A producer built for another
 * ABI (e.g. -m32) must use these, not its own <sys/syscall.h> numbers.
 */
#define SYSLET_NR_READ 0
#define SYSLET_NR_WRITE 1
#define SYSLET_NR_CLOSE 3
#define SYSLET_NR_FSTAT 5
#define SYSLET_NR_LSEEK 8
#define SYSLET_NR_PREAD64 17
#define SYSLET_NR_PWRITE64 18
#define SYSLET_NR_GETPID 39
#define SYSLET_NR_SOCKET 41
#define SYSLET_NR_CONNECT 42
#define SYSLET_NR_SENDTO 44
#define SYSLET_NR_RECVFROM 45
#define SYSLET_NR_SENDMSG 46
#define SYSLET_NR_RECVMSG 47
#define SYSLET_NR_SHUTDOWN 48
#define SYSLET_NR_BIND 49
#define SYSLET_NR_LISTEN 50
#define SYSLET_NR_SETSOCKOPT 54
#define SYSLET_NR_GETSOCKOPT 55
#define SYSLET_NR_FSYNC 74
#define SYSLET_NR_FDATASYNC 75
#define SYSLET_NR_FTRUNCATE 77
#define SYSLET_NR_GETTID 186
#define SYSLET_NR_GETDENTS64 217
#define SYSLET_NR_TGKILL 234
#define SYSLET_NR_OPENAT 257
#define SYSLET_NR_MKDIRAT 258
#define SYSLET_NR_NEWFSTATAT 262
#define SYSLET_NR_UNLINKAT 263
#define SYSLET_NR_LINKAT 265
#define SYSLET_NR_SYMLINKAT 266
#define SYSLET_NR_RENAMEAT2 316
#define SYSLET_NR_SENDFILE 40
#define SYSLET_NR_FSTATFS 138
#define SYSLET_NR_CLOCK_NANOSLEEP 230
#define SYSLET_NR_FCHOWNAT 260
#define SYSLET_NR_READLINKAT 267
#define SYSLET_NR_FCHMODAT 268
#define SYSLET_NR_FCHMODAT2 452
#define SYSLET_NR_SPLICE 275
#define SYSLET_NR_UTIMENSAT 280
#define SYSLET_NR_DUP3 292
#define SYSLET_NR_PIPE2 293
#define SYSLET_NR_COPY_FILE_RANGE 326
#define SYSLET_NR_FACCESSAT2 439
#define SYSLET_NR_FALLOCATE 285
#define SYSLET_NR_ACCEPT4 288
#define SYSLET_NR_RT_TGSIGQUEUEINFO 297
#define SYSLET_NR_STATX 332
#define SYSLET_NR_OPENAT2 437
#define SYSLET_NR_GETSOCKNAME 51
#define SYSLET_NR_GETPEERNAME 52
#define SYSLET_NR_SOCKETPAIR 53
#define SYSLET_NR_READV 19
#define SYSLET_NR_WRITEV 20
#define SYSLET_NR_PREADV2 327
#define SYSLET_NR_PWRITEV2 328
#define SYSLET_NR_EPOLL_CREATE1 291
#define SYSLET_NR_EPOLL_CTL 233
#define SYSLET_NR_EPOLL_PWAIT 281

struct syslet_batch_header {
	uint32_t magic;
	uint16_t version;
	uint16_t natoms;
	uint16_t nbufs;
	uint16_t flags;
	uint32_t arena_len;
	syslet_u64 caller_data;
	syslet_u64 reserved;
};

struct syslet_atom {
	uint32_t flags;
	uint32_t nr; /* native x86_64 syscall number */
	uint8_t arg_kind[6];
	uint16_t nargs;
	syslet_u64 arg[6];
	syslet_u64 private_data; /* "private" in Rust; a C++ keyword */
	syslet_u64 reserved;
};

struct syslet_buf_desc {
	uint32_t offset;
	uint32_t len;
	uint32_t flags;
	uint32_t reserved;
};

/* One element of a struct iovec array in the arena: base is a buffer named like
 * a BUF argument, SYSLET_BUF_ARG(index, offset); len bytes from there. */
struct syslet_iovec {
	syslet_u64 base;
	syslet_u64 len;
};

/* A struct msghdr in the arena (sendmsg, recvmsg): name, iov and control are
 * buffers named like BUF arguments, SYSLET_BUF_ARG(index, offset); one whose
 * length is 0 names nothing. iov is an array of iovlen struct syslet_iovec;
 * control holds x86_64 cmsghdrs (SYSLET_CMSGHDR_SIZE bytes, 8-byte aligned).
 * After a recvmsg, namelen, controllen and flags hold what the kernel wrote. */
struct syslet_msghdr {
	syslet_u64 name;
	uint32_t namelen;
	uint32_t pad0;
	syslet_u64 iov;
	syslet_u64 iovlen;
	syslet_u64 control;
	syslet_u64 controllen;
	int32_t flags;
	uint32_t pad1;
};

struct syslet_completion {
	syslet_u64 caller_data;
	syslet_s64 status;
	syslet_u64 ran_mask;
	uint16_t last_atom;
	uint16_t atoms_run;
	uint16_t natoms;
	uint16_t flags;
	syslet_s64 results[SYSLET_MAX_ATOMS];
};

struct syslet_ring {
	uint32_t kernel_head;
	uint32_t user_tail;
	uint32_t elements;
	uint32_t wait_group;
};

struct syslet_ring_entry {
	syslet_u64 ticket;
	syslet_u64 caller_data;
	syslet_s64 status;
	uint16_t last_atom;
	uint16_t atoms_run;
	uint32_t flags;
};

/* C11 spells it _Static_assert, C++11 static_assert. */
#ifdef __cplusplus
#define SYSLET_STATIC_ASSERT(c, m) static_assert(c, m)
#else
#define SYSLET_STATIC_ASSERT(c, m) _Static_assert(c, m)
#endif
SYSLET_STATIC_ASSERT(sizeof(struct syslet_batch_header) == SYSLET_HEADER_SIZE, "header size");
SYSLET_STATIC_ASSERT(sizeof(struct syslet_atom) == SYSLET_ATOM_SIZE, "atom size");
SYSLET_STATIC_ASSERT(sizeof(struct syslet_buf_desc) == SYSLET_BUFDESC_SIZE, "buf desc size");
SYSLET_STATIC_ASSERT(sizeof(struct syslet_iovec) == SYSLET_IOVEC_SIZE, "iovec size");
SYSLET_STATIC_ASSERT(sizeof(struct syslet_msghdr) == SYSLET_MSGHDR_SIZE, "msghdr size");
SYSLET_STATIC_ASSERT(sizeof(struct syslet_completion) == SYSLET_COMPLETION_SIZE,
		     "completion size");
SYSLET_STATIC_ASSERT(sizeof(struct syslet_ring) == SYSLET_RING_HEADER_SIZE, "ring header size");
SYSLET_STATIC_ASSERT(sizeof(struct syslet_ring_entry) == SYSLET_RING_ENTRY_SIZE,
		     "ring entry size");

#endif /* SYSLET_H */
