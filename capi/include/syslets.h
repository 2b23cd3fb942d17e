/*
 * syslets.h - the C API of libsyslets.so: validate a batch laid out per
 * syslet.h (or, from a 32-bit producer, per syslet_compat.h), run it inline,
 * or run it on an executor and reap its completion.
 *
 *   cc prog.c $(pkg-config --cflags --libs syslets)
 *
 * Every function that can fail takes a `struct syslet_error *` (may be NULL)
 * that it fills on failure: a SYSLET_E_* code, the offending atom's index and
 * system call name when one atom is at fault, and the whole message. Nothing
 * of a refused batch runs. No function unwinds or aborts on an internal error
 * (SYSLET_E_PANIC).
 *
 * Threads: a syslet_executor may be used from any thread; a syslet_batch and
 * a syslet_policy by one thread at a time.
 *
 * The second half is an optional builder (static inline, no library calls)
 * that lays out a batch: see examples/c/open_fstat.c.
 *
 * Valid C11 and C++11 and later.
 */
#ifndef SYSLETS_H
#define SYSLETS_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <string.h>

#include "syslet.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes (struct syslet_error.code, and the int the calls return). */
#define SYSLET_OK 0
#define SYSLET_E_INVALID 1   /* refused by validation (nothing ran) */
#define SYSLET_E_COMPAT 2    /* refused by the 32-bit translation (nothing ran) */
#define SYSLET_E_ARGUMENT 3  /* a bad argument to the function (NULL, wrong length) */
#define SYSLET_E_RING_FULL 4 /* completion ring full: reap, then submit again */
#define SYSLET_E_FORKED 5    /* executor made before fork(); this is the child */
#define SYSLET_E_OS 6        /* the kernel refused a call: see os_errno */
#define SYSLET_E_CONFIG 7    /* a bad executor option */
#define SYSLET_E_BUSY 8      /* the batch is in flight on an executor */
#define SYSLET_E_PANIC 9     /* internal error; the call did nothing */

struct syslet_error {
	int code;     /* SYSLET_E_* */
	int atom;     /* the offending atom's index, or -1 */
	int os_errno; /* for SYSLET_E_OS, else 0 */
	int reserved;
	char syscall[32];  /* the atom's system call name, or "" */
	char message[224]; /* e.g. "atom 1 (fstat): syscall not allowed by the policy" */
};

/* A static description of a SYSLET_E_* code (never NULL). */
const char *syslet_strerror(int code);

/* Policies: what a batch may do. NULL wherever a policy is taken is the
 * default policy. */
#define SYSLET_POLICY_DEFAULT 0
#define SYSLET_POLICY_EMPTY 1           /* nothing allowed */
#define SYSLET_POLICY_READ_ONLY_FILES 2
#define SYSLET_POLICY_NETWORK_CLIENT 3

typedef struct syslet_policy syslet_policy;

syslet_policy *syslet_policy_new(int preset); /* NULL for an unknown preset */
/* 0, or -1 (unchanged) for NULL or a number no policy can allow (unknown to
 * the signature table, or on the fixed denylist). */
int syslet_policy_allow(syslet_policy *policy, uint32_t nr);
int syslet_policy_deny(syslet_policy *policy, uint32_t nr); /* 0, or -1 for NULL */
void syslet_policy_free(syslet_policy *policy);

/* A validated batch: the library's copy of the caller's bytes. */
typedef struct syslet_batch syslet_batch;

/* Copy buf[0..len) and validate it; NULL (and *err filled) when refused. */
syslet_batch *syslet_validate(const void *buf, size_t len, const syslet_policy *policy,
			      struct syslet_error *err);
/* The same for a batch a 32-bit (i386) producer wrote per syslet_compat.h;
 * completions and syslet_batch_copy_out give the i386 view back. */
syslet_batch *syslet_validate_compat32(const void *buf, size_t len,
				       const syslet_policy *policy, struct syslet_error *err);

/* Run inline on this thread; copy the completion to *out (NULL: not copied).
 * Returns 0 or a SYSLET_E_* code. A batch may be run again. */
int syslet_run(syslet_batch *batch, struct syslet_completion *out, struct syslet_error *err);
/* The completion of the last run (after syslet_run or once reaped). */
int syslet_batch_completion(syslet_batch *batch, struct syslet_completion *out,
			    struct syslet_error *err);
/* Buffer `index` as the last run left it, valid until the batch is run,
 * submitted or freed; its length in *len (NULL: not stored). NULL for a bad
 * index or a batch in flight. */
const void *syslet_batch_buffer(syslet_batch *batch, uint16_t index, size_t *len);
/* Copy the arena as the last run left it back into the caller's batch bytes
 * (the same buf and len that were validated), so OUT buffers are read where
 * they were laid out. */
int syslet_batch_copy_out(syslet_batch *batch, void *buf, size_t len, struct syslet_error *err);
/* Free a batch (not one in flight). Descriptors its atoms opened and did not
 * close stay open: they are the caller's. */
void syslet_batch_free(syslet_batch *batch);

/* Executors: run batches inline while nothing blocks, the rest of a chain
 * on a worker thread (under a seccomp filter made from the policy), and post
 * every completion to a ring. */
#define SYSLET_EXECUTOR_BLOCK 0x1u      /* submit waits for ring space (reap on another thread) */
#define SYSLET_EXECUTOR_NO_SECCOMP 0x2u /* workers without the seccomp filter */

struct syslet_executor_options {
	unsigned max_workers; /* 0: default (16) */
	unsigned ring_size;   /* power of two; 0: default (256) */
	unsigned flags;       /* SYSLET_EXECUTOR_* */
	unsigned reserved;    /* 0 */
};

typedef struct syslet_executor syslet_executor;

/* opts and policy may be NULL (defaults). Validate batches with a policy no
 * wider than the executor's. */
syslet_executor *syslet_executor_new(const struct syslet_executor_options *opts,
				     const syslet_policy *policy, struct syslet_error *err);
/* Start `batch`; its completion is posted with *ticket (NULL: not stored).
 * Until a reap hands it back the handle is the executor's: do not run, read
 * or free it. On failure nothing ran and the batch is still the caller's.
 * SYSLET_NO_COMPLETE batches are refused (they could never be reaped). */
int syslet_executor_submit(syslet_executor *ex, syslet_batch *batch, uint64_t *ticket,
			   struct syslet_error *err);
/* Wait until `min` completions are ready or timeout_ns passed (negative: no
 * limit); returns how many are ready, or -1. */
int syslet_executor_wait(syslet_executor *ex, size_t min, int64_t timeout_ns,
			 struct syslet_error *err);
/* Store up to `max` completed batches in out[] (the handles that were
 * submitted, completion and outputs filled in; the caller's again); returns
 * how many, or -1. Does not wait. */
int syslet_executor_reap(syslet_executor *ex, syslet_batch **out, size_t max,
			 struct syslet_error *err);
/* The executor's eventfd (the same on every call): readable while
 * completions were posted since it was last read. Non-blocking; read its
 * 8-byte counter before reaping. Owned by the executor: do not close it. */
int syslet_executor_eventfd(syslet_executor *ex, struct syslet_error *err);
/* Cancel what is queued, wait for what runs, stop the workers; batches still
 * in flight or unreaped are freed with it. */
void syslet_executor_free(syslet_executor *ex);

#ifdef __cplusplus
}
#endif

/* The same sizes as the library's (capi/src/error.rs, capi/src/executor.rs). */
SYSLET_STATIC_ASSERT(sizeof(struct syslet_error) == 272, "syslet_error size");
SYSLET_STATIC_ASSERT(offsetof(struct syslet_error, syscall) == 16, "syslet_error.syscall");
SYSLET_STATIC_ASSERT(offsetof(struct syslet_error, message) == 48, "syslet_error.message");
SYSLET_STATIC_ASSERT(sizeof(struct syslet_executor_options) == 16, "executor options size");

/* ---- The builder: lay out a native batch in a syslets_builder ---------- */

#define SYSLETS_BUILDER_MAX_BUFS 32
#define SYSLETS_BUILDER_MAX_ARENA 16384

/* One atom argument: SYSLET_ARG_IMM, _RESULT or _BUF and its value. */
struct syslets_arg {
	uint8_t kind;
	uint64_t value;
};

static inline struct syslets_arg syslets_imm(int64_t value)
{
	struct syslets_arg a;
	a.kind = SYSLET_ARG_IMM;
	a.value = (uint64_t)value;
	return a;
}

/* The result of an earlier atom (e.g. open's fd flowing into fstat). */
static inline struct syslets_arg syslets_result(int atom)
{
	struct syslets_arg a;
	a.kind = SYSLET_ARG_RESULT;
	a.value = (uint64_t)(uint16_t)atom;
	return a;
}

/* A pointer into buffer `index` at `offset`. */
static inline struct syslets_arg syslets_buf(int index, uint32_t offset)
{
	struct syslets_arg a;
	a.kind = SYSLET_ARG_BUF;
	a.value = SYSLET_BUF_ARG(index, offset);
	return a;
}

struct syslets_builder {
	struct syslet_batch_header header;
	struct syslet_atom atoms[SYSLET_MAX_ATOMS];
	struct syslet_buf_desc bufs[SYSLETS_BUILDER_MAX_BUFS];
	unsigned char arena[SYSLETS_BUILDER_MAX_ARENA];
	int overflow; /* set when something did not fit: finish then fails */
};

static inline void syslets_builder_init(struct syslets_builder *b)
{
	memset(b, 0, sizeof *b);
	b->header.magic = SYSLET_MAGIC;
	b->header.version = SYSLET_VERSION;
}

/* Add a buffer of `len` bytes (a copy of `data`, or zeroed when data is
 * NULL) with SYSLET_BUF_IN/OUT flags; its index, or -1 when full. */
static inline int syslets_builder_buf(struct syslets_builder *b, const void *data, uint32_t len,
				      uint32_t flags)
{
	uint32_t at = b->header.arena_len;
	uint32_t padded = (len + 7u) & ~7u;
	int index = b->header.nbufs;
	if (index >= SYSLETS_BUILDER_MAX_BUFS || padded < len ||
	    padded > SYSLETS_BUILDER_MAX_ARENA - at) {
		b->overflow = 1;
		return -1;
	}
	if (data)
		memcpy(b->arena + at, data, len);
	b->bufs[index].offset = at;
	b->bufs[index].len = len;
	b->bufs[index].flags = flags;
	b->header.arena_len = at + padded;
	b->header.nbufs = (uint16_t)(index + 1);
	return index;
}

/* A NUL-terminated path as an IN buffer. */
static inline int syslets_builder_path(struct syslets_builder *b, const char *path)
{
	size_t n = strlen(path) + 1;
	if (n > SYSLETS_BUILDER_MAX_ARENA) {
		b->overflow = 1;
		return -1;
	}
	return syslets_builder_buf(b, path, (uint32_t)n, SYSLET_BUF_IN);
}

/* Append atom `nr` (native x86_64 number, SYSLET_NR_*) with atom flags
 * (SYSLET_STOP_ON_*, SYSLET_NEXT(i), ...) and `nargs` struct syslets_arg
 * arguments; its index, or -1 when full. Prefer SYSLETS_ATOM. */
static inline int syslets_builder_atomv(struct syslets_builder *b, uint32_t flags, uint32_t nr,
					unsigned nargs, ...)
{
	int index = b->header.natoms;
	struct syslet_atom *a;
	unsigned i;
	va_list ap;
	if (index >= SYSLET_MAX_ATOMS || nargs > SYSLET_MAX_ARGS) {
		b->overflow = 1;
		return -1;
	}
	a = &b->atoms[index];
	memset(a, 0, sizeof *a);
	a->flags = flags;
	a->nr = nr;
	a->nargs = (uint16_t)nargs;
	va_start(ap, nargs);
	for (i = 0; i < nargs; i++) {
		struct syslets_arg arg = va_arg(ap, struct syslets_arg);
		a->arg_kind[i] = arg.kind;
		a->arg[i] = arg.value;
	}
	va_end(ap);
	b->header.natoms = (uint16_t)(index + 1);
	return index;
}

/* SYSLETS_ATOM(b, flags, nr, args...): 1 to 6 arguments, each made with
 * syslets_imm/_result/_buf; SYSLETS_ATOM0(b, flags, nr) for none. */
#define SYSLETS_NARGS_(a1, a2, a3, a4, a5, a6, n, ...) n
#define SYSLETS_NARGS(...) SYSLETS_NARGS_(__VA_ARGS__, 6, 5, 4, 3, 2, 1, 0)
#define SYSLETS_ATOM(b, flags, nr, ...)                                                     \
	syslets_builder_atomv((b), (flags), (nr), SYSLETS_NARGS(__VA_ARGS__), __VA_ARGS__)
#define SYSLETS_ATOM0(b, flags, nr) syslets_builder_atomv((b), (flags), (nr), 0u)

/* Bytes the finished batch takes. */
static inline size_t syslets_builder_size(const struct syslets_builder *b)
{
	return SYSLET_HEADER_SIZE + (size_t)b->header.natoms * SYSLET_ATOM_SIZE +
	       (size_t)b->header.nbufs * SYSLET_BUFDESC_SIZE + b->header.arena_len;
}

/* Write the batch (header | atoms | bufs | arena) to out[0..cap); returns its
 * size, or 0 when something overflowed or cap is too small. */
static inline size_t syslets_builder_finish(const struct syslets_builder *b, void *out, size_t cap)
{
	size_t n = syslets_builder_size(b);
	unsigned char *p = (unsigned char *)out;
	if (b->overflow || cap < n)
		return 0;
	memcpy(p, &b->header, SYSLET_HEADER_SIZE);
	p += SYSLET_HEADER_SIZE;
	memcpy(p, b->atoms, (size_t)b->header.natoms * SYSLET_ATOM_SIZE);
	p += (size_t)b->header.natoms * SYSLET_ATOM_SIZE;
	memcpy(p, b->bufs, (size_t)b->header.nbufs * SYSLET_BUFDESC_SIZE);
	p += (size_t)b->header.nbufs * SYSLET_BUFDESC_SIZE;
	memcpy(p, b->arena, b->header.arena_len);
	return n;
}

#endif /* SYSLETS_H */
