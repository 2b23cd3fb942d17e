/*
 * layout.c - print every size, alignment, field offset and constant of
 * abi/include/syslet.h, one fact a line:
 *
 *   sizeof syslet_atom 80
 *   alignof syslet_atom 8
 *   offsetof syslet_atom.arg 16
 *   sizeof syslet_atom.arg 48
 *   const SYSLET_STOP_ON_ZERO 16
 *   macro SYSLET_NEXT(5) 327680
 *
 * tests/abi_conformance.rs builds the same list from the Rust crate and
 * compares the two; it writes nr_consts.inc, the SYSLET_NR_* lines, from the
 * system-call table. Valid C11 and C++17, so it is built with cc, cc -m32 and
 * c++; every build must print the same lines.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>

#include "syslet.h"

#ifdef __cplusplus
#define ALIGNOF(t) alignof(t)
#else
#define ALIGNOF(t) _Alignof(t)
#endif

#define TYPE(t)                                                              \
	printf("sizeof %s %zu\nalignof %s %zu\n", #t, sizeof(t), #t,          \
	       (size_t)ALIGNOF(t))
#define STRUCT(s)                                                            \
	printf("sizeof %s %zu\nalignof %s %zu\n", #s, sizeof(struct s), #s,   \
	       (size_t)ALIGNOF(struct s))
#define FIELD(s, f)                                                          \
	printf("offsetof %s.%s %zu\nsizeof %s.%s %zu\n", #s, #f,               \
	       offsetof(struct s, f), #s, #f, sizeof(((struct s *)0)->f))
#define CONST(c) printf("const %s %" PRIu64 "\n", #c, (uint64_t)(c))
#define MACRO(m) printf("macro %s %" PRIu64 "\n", #m, (uint64_t)(m))

int main(void)
{
	TYPE(syslet_u64);
	TYPE(syslet_s64);

	STRUCT(syslet_batch_header);
	FIELD(syslet_batch_header, magic);
	FIELD(syslet_batch_header, version);
	FIELD(syslet_batch_header, natoms);
	FIELD(syslet_batch_header, nbufs);
	FIELD(syslet_batch_header, flags);
	FIELD(syslet_batch_header, arena_len);
	FIELD(syslet_batch_header, caller_data);
	FIELD(syslet_batch_header, reserved);

	STRUCT(syslet_atom);
	FIELD(syslet_atom, flags);
	FIELD(syslet_atom, nr);
	FIELD(syslet_atom, arg_kind);
	FIELD(syslet_atom, nargs);
	FIELD(syslet_atom, arg);
	FIELD(syslet_atom, private_data);
	FIELD(syslet_atom, reserved);

	STRUCT(syslet_buf_desc);
	FIELD(syslet_buf_desc, offset);
	FIELD(syslet_buf_desc, len);
	FIELD(syslet_buf_desc, flags);
	FIELD(syslet_buf_desc, reserved);
	STRUCT(syslet_iovec);
	FIELD(syslet_iovec, base);
	FIELD(syslet_iovec, len);
	STRUCT(syslet_msghdr);
	FIELD(syslet_msghdr, name);
	FIELD(syslet_msghdr, namelen);
	FIELD(syslet_msghdr, pad0);
	FIELD(syslet_msghdr, iov);
	FIELD(syslet_msghdr, iovlen);
	FIELD(syslet_msghdr, control);
	FIELD(syslet_msghdr, controllen);
	FIELD(syslet_msghdr, flags);
	FIELD(syslet_msghdr, pad1);

	STRUCT(syslet_completion);
	FIELD(syslet_completion, caller_data);
	FIELD(syslet_completion, status);
	FIELD(syslet_completion, ran_mask);
	FIELD(syslet_completion, last_atom);
	FIELD(syslet_completion, atoms_run);
	FIELD(syslet_completion, natoms);
	FIELD(syslet_completion, flags);
	FIELD(syslet_completion, results);

	STRUCT(syslet_ring);
	FIELD(syslet_ring, kernel_head);
	FIELD(syslet_ring, user_tail);
	FIELD(syslet_ring, elements);
	FIELD(syslet_ring, wait_group);

	STRUCT(syslet_ring_entry);
	FIELD(syslet_ring_entry, ticket);
	FIELD(syslet_ring_entry, caller_data);
	FIELD(syslet_ring_entry, status);
	FIELD(syslet_ring_entry, last_atom);
	FIELD(syslet_ring_entry, atoms_run);
	FIELD(syslet_ring_entry, flags);

	CONST(SYSLET_MAGIC);
	CONST(SYSLET_VERSION);
	CONST(SYSLET_MAX_ATOMS);
	CONST(SYSLET_MAX_BUFS);
	CONST(SYSLET_MAX_ARENA_LEN);
	CONST(SYSLET_MAX_ARGS);
	CONST(SYSLET_BATCH_ALIGN);
	CONST(SYSLET_HEADER_SIZE);
	CONST(SYSLET_ATOM_SIZE);
	CONST(SYSLET_BUFDESC_SIZE);
	CONST(SYSLET_IOVEC_SIZE);
	CONST(SYSLET_MAX_IOVECS);
	CONST(SYSLET_MSGHDR_SIZE);
	CONST(SYSLET_CMSGHDR_SIZE);
	CONST(SYSLET_MAX_CONTROL_LEN);
	CONST(SYSLET_COMPLETION_SIZE);
	CONST(SYSLET_RING_HEADER_SIZE);
	CONST(SYSLET_RING_ENTRY_SIZE);

	CONST(SYSLET_STOP_ON_NONZERO);
	CONST(SYSLET_STOP_ON_ZERO);
	CONST(SYSLET_STOP_ON_NEGATIVE);
	CONST(SYSLET_STOP_ON_NON_POSITIVE);
	CONST(SYSLET_STOP_MASK);
	CONST(SYSLET_SKIP_TO_NEXT_ON_STOP);
	CONST(SYSLET_NEXT_MASK);
	CONST(SYSLET_NEXT_SHIFT);
	CONST(SYSLET_ATOM_FLAGS_MASK);

	CONST(SYSLET_ASYNC);
	CONST(SYSLET_SYNC);
	CONST(SYSLET_NO_COMPLETE);
	CONST(SYSLET_COMPAT32);
	CONST(SYSLET_BATCH_FLAGS_MASK);

	CONST(SYSLET_ARG_IMM);
	CONST(SYSLET_ARG_RESULT);
	CONST(SYSLET_ARG_BUF);
	CONST(SYSLET_ARG_RAW);

	CONST(SYSLET_BUF_IN);
	CONST(SYSLET_BUF_OUT);
	CONST(SYSLET_BUF_FLAGS_MASK);

	CONST(SYSLET_COMPLETION_STOPPED);
	CONST(SYSLET_COMPLETION_CANCELED);
	CONST(SYSLET_COMPLETION_INLINE);

	/* One CONST(SYSLET_NR_...) per row of the system-call table, written
	 * by the test from the table (so a new row needs no line here). */
#include "nr_consts.inc"

	MACRO(SYSLET_NEXT(0));
	MACRO(SYSLET_NEXT(1));
	MACRO(SYSLET_NEXT(255));
	MACRO(SYSLET_BUF_ARG(0, 0));
	MACRO(SYSLET_BUF_ARG(3, 0x1234));
	MACRO(SYSLET_BUF_ARG(65535, 0xffffffffu));

	return fflush(stdout) == 0 ? 0 : 1;
}
