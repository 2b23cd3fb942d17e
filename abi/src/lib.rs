//! The fixed-layout ABI of `syslets`, version 1.
//!
//! Everything a batch, a completion or a completion ring holds is declared here as
//! `#[repr(C)]` structs of fixed-size little-endian fields: no `long`, no raw
//! pointer, no padding. The same layout is declared for C in
//! `abi/include/syslet.h`; the conformance tests compile that header with the
//! system C compiler (64-bit and `-m32`) and compare every size, offset and
//! constant with this crate.
//!
//! A batch buffer is `header | atoms[natoms] | bufs[nbufs] | arena[arena_len]`,
//! every section starting on an 8-byte boundary (atoms and buffer descriptors are
//! multiples of 8 bytes, so there is never padding between sections).
//!
//! ```
//! use syslets_abi::{Atom, BatchHeader, ATOM_SIZE, HEADER_SIZE};
//! assert_eq!(core::mem::size_of::<BatchHeader>(), HEADER_SIZE);
//! assert_eq!(core::mem::size_of::<Atom>(), ATOM_SIZE);
//! ```
#![no_std]
#![deny(unsafe_code)]

mod batch;
pub mod compat32;
mod completion;
pub mod kernel;
pub mod signature;
pub mod sockopt;
pub mod syscalls;

pub use signature::nr;

pub use batch::{Atom, BatchHeader, BufDesc, IoVec, MsgHdr};
pub use completion::{Completion, RingEntry, RingHeader};

/// `"SYSL"` read as a little-endian `u32`: the first four bytes of every batch.
pub const MAGIC: u32 = u32::from_le_bytes(*b"SYSL");
/// The ABI version this crate reads and writes.
pub const VERSION: u16 = 1;

/// Most atoms one batch may hold (v6 chains were unbounded; Linus asked for "max n").
pub const MAX_ATOMS: usize = 64;
/// Most buffer descriptors one batch may hold.
pub const MAX_BUFS: usize = 256;
/// Largest arena one batch may carry (64 MiB).
pub const MAX_ARENA_LEN: usize = 64 << 20;
/// Arguments per atom (the syscall ABI passes at most six).
pub const MAX_ARGS: usize = 6;
/// Alignment of every section of a batch buffer.
pub const BATCH_ALIGN: usize = 8;
/// Most elements of one `struct iovec` array (the kernel's `IOV_MAX`).
pub const MAX_IOVECS: usize = 1024;
/// Most bytes of control data one `sendmsg`/`recvmsg` atom may name.
pub const MAX_CONTROL_LEN: usize = 4096;

/// Size of [`BatchHeader`].
pub const HEADER_SIZE: usize = 32;
/// Size of [`Atom`] (the size of v6's `syslet_uatom`).
pub const ATOM_SIZE: usize = 80;
/// Size of [`BufDesc`].
pub const BUFDESC_SIZE: usize = 16;
/// Size of [`IoVec`].
pub const IOVEC_SIZE: usize = 16;
/// Size of [`MsgHdr`] (the x86_64 `struct msghdr`).
pub const MSGHDR_SIZE: usize = 56;
/// Size of the x86_64 `struct cmsghdr` (`size_t cmsg_len`, `int cmsg_level`,
/// `int cmsg_type`); its data is 8-byte aligned.
pub const CMSGHDR_SIZE: usize = 16;
/// Size of [`Completion`].
pub const COMPLETION_SIZE: usize = 32 + 8 * MAX_ATOMS;
/// Size of [`RingHeader`].
pub const RING_HEADER_SIZE: usize = 16;
/// Size of [`RingEntry`].
pub const RING_ENTRY_SIZE: usize = 32;

// ---------------------------------------------------------------------------
// Atom flags: the v6 values, unchanged.

/// Stop the chain when the atom returns anything but zero.
pub const STOP_ON_NONZERO: u32 = 0x08;
/// Stop the chain when the atom returns zero.
pub const STOP_ON_ZERO: u32 = 0x10;
/// Stop the chain when the atom returns a negative value (an error).
pub const STOP_ON_NEGATIVE: u32 = 0x20;
/// Stop the chain when the atom returns zero or a negative value.
pub const STOP_ON_NON_POSITIVE: u32 = 0x40;
/// Every stop condition.
pub const STOP_MASK: u32 = STOP_ON_NONZERO | STOP_ON_ZERO | STOP_ON_NEGATIVE | STOP_ON_NON_POSITIVE;
/// When a stop condition holds, continue with the linearly next atom instead of
/// stopping. (In v6 normal flow followed `->next` while this flag picked the
/// linearly next atom; here normal flow follows the atom's [`NEXT_MASK`] field.)
pub const SKIP_TO_NEXT_ON_STOP: u32 = 0x80;
/// Bits 16..24 of the atom flags: the index of the atom that normal flow (no stop)
/// continues with, v6's `->next` restricted to forward jumps. `0` means "the
/// linearly next atom"; `natoms` means "the chain ends after this atom".
pub const NEXT_MASK: u32 = 0x00ff_0000;
/// Shift of the [`NEXT_MASK`] field.
pub const NEXT_SHIFT: u32 = 16;
/// Every atom-flag bit with a meaning; any other bit set is refused.
pub const ATOM_FLAGS_MASK: u32 = STOP_MASK | SKIP_TO_NEXT_ON_STOP | NEXT_MASK;

/// Encode a normal-flow target for the [`NEXT_MASK`] field.
pub const fn next_field(target: u8) -> u32 {
    (target as u32) << NEXT_SHIFT
}

// ---------------------------------------------------------------------------
// Batch flags: the v6 values.

/// Queue the batch to a worker at once; do not try to run any of it inline.
pub const BATCH_ASYNC: u16 = 0x01;
/// Run the whole batch inline in the submitting thread, even if it blocks.
pub const BATCH_SYNC: u16 = 0x02;
/// Do not post a completion for this batch.
pub const BATCH_NO_COMPLETE: u16 = 0x04;
/// The batch runs on behalf of a 32-bit (i386) producer (the compat translator's
/// `normalize` sets it; not a v6 flag): the calls whose outcome depends on the
/// calling ABI — `getdents64` and `lseek`, whose directory offsets ext4 and NFS
/// make 32-bit for 32-bit callers — go through the kernel's i386 entry
/// (`int 0x80`) where the kernel has one.
pub const BATCH_COMPAT32: u16 = 0x08;
/// Every batch-flag bit with a meaning.
pub const BATCH_FLAGS_MASK: u16 = BATCH_ASYNC | BATCH_SYNC | BATCH_NO_COMPLETE | BATCH_COMPAT32;

// ---------------------------------------------------------------------------
// Argument kinds (`Atom::arg_kind[i]`).

/// The argument is the value itself.
pub const ARG_IMM: u8 = 0;
/// The argument is the return value of an earlier atom; `arg` holds its index.
pub const ARG_RESULT: u8 = 1;
/// The argument points into the batch's arena: `arg` is
/// `(buffer_index << 32) | offset_within_buffer`.
pub const ARG_BUF: u8 = 2;
/// The argument is a raw user pointer. Only batches built in-process by the typed
/// builders may carry it; a batch decoded from bytes never may.
pub const ARG_RAW: u8 = 3;

/// Build the `arg` word of an [`ARG_BUF`] argument.
pub const fn buf_arg(index: u16, offset: u32) -> u64 {
    ((index as u64) << 32) | offset as u64
}

/// Split the `arg` word of an [`ARG_BUF`] argument into `(index, offset)`.
/// Bits 48..64 must be zero; the validator refuses them.
pub const fn split_buf_arg(arg: u64) -> (u64, u32) {
    (arg >> 32, arg as u32)
}

// ---------------------------------------------------------------------------
// Buffer descriptor flags.

/// The kernel reads this buffer (paths, data to write, socket addresses).
pub const BUF_IN: u32 = 0x1;
/// The kernel writes this buffer (stat output, data read).
pub const BUF_OUT: u32 = 0x2;
/// Every buffer-flag bit with a meaning.
pub const BUF_FLAGS_MASK: u32 = BUF_IN | BUF_OUT;

// ---------------------------------------------------------------------------
// Completion flags.

/// The chain ended on a stop condition (not by running off its end).
pub const COMPLETION_STOPPED: u16 = 0x1;
/// The chain was cancelled before it ran to its end.
pub const COMPLETION_CANCELED: u16 = 0x2;
/// The chain ran entirely inline, in the submitting thread.
pub const COMPLETION_INLINE: u16 = 0x4;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
