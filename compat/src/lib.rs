//! Normalises syslets batches written by 32-bit (i386) producers into the native
//! (x86_64) ABI buffer, and translates what the native chain wrote back into the
//! i386 layout — the job the kernel's compat layer does, done once, up front.
//!
//! ```text
//! 32-bit producer bytes ──normalize──► Normalized::native_bytes() ──► EncodedBatch::from_bytes
//!        ▲                                                              │ validate (Policy)
//!        │                                                              ▼ run
//!        └──────────── Normalized::write_back(arena, completion, &mut compat_bytes) ◄─┘
//! ```
//!
//! # The compat layout
//!
//! A compat batch is `header | atoms[natoms] | pad | bufs[nbufs] | arena[arena_len]`,
//! every section 8-byte aligned, little-endian:
//!
//! * **Header** (32 bytes): the native [`abi::BatchHeader`] — all its fields are
//!   fixed-size and the C header forces 8-byte alignment of its `u64`s, so `gcc
//!   -m32` lays it out identically — with `magic` = [`COMPAT_MAGIC`] (`"SY32"`
//!   instead of `"SYSL"`). Neither kind of buffer is ever mistaken for the other:
//!   the native validator refuses `"SY32"`, [`normalize`] refuses `"SYSL"`.
//! * **Atoms** (44 bytes each, [`CompatAtom`]): `flags u32`, `nr u32` (i386
//!   number), `arg_kind [u8; 6]`, `nargs u16`, `arg [u32; 6]`, `private u32`.
//!   With an odd number of atoms, 4 zero bytes follow the last one
//!   ([`compat_atoms_len`]) so the buffer descriptors start 8-byte aligned.
//! * **Buffer descriptors** and **arena**: exactly the native ones
//!   ([`abi::BufDesc`], 16 bytes, all `u32`).
//!
//! The C view is `abi/include/syslet_compat.h` (`struct syslet_compat_atom`,
//! `struct syslet_compat_sockarg`, `struct syslet_compat_stat64`,
//! `SYSLET_COMPAT_BUF_ARG`); a program built with `gcc -m32` writes it natively.
//!
//! # Arguments
//!
//! * `IMM`: the 32-bit value, widened by the type the signature table gives the
//!   native argument ([`syslets_abi::signature`]): `Fd`, `Int` and `Off`
//!   (`off_t` is 32-bit signed on i386) are sign-extended; `UInt` (flags, modes,
//!   `socklen_t`) and `Size` are zero-extended. A non-zero immediate where the
//!   call takes a pointer is a raw 32-bit address and refused; 0 is NULL.
//! * `RESULT`: the index of an earlier atom, unchanged. The native result flows
//!   (64 bits); for every call whose result fits in 32 bits this is the i386
//!   value too.
//! * `BUF`: one 32-bit word, **buffer index in bits 24..32, offset within the
//!   buffer in bits 0..24** ([`compat_buf_arg`]). 8 index bits cover all
//!   [`abi::MAX_BUFS`] (256) buffers; an offset is at most 16 MiB − 1
//!   ([`COMPAT_MAX_BUF_OFFSET`]) — a larger buffer can be used whole, or split
//!   into several buffers. It becomes the native `(index << 32) | offset`.
//! * `RAW` is always refused: a compat batch comes from another address space.
//!
//! Atom flags (stop conditions, `SKIP_TO_NEXT_ON_STOP`, `NEXT`) have the native
//! meaning, and every compat atom becomes exactly one native atom, so `RESULT`
//! indices and `NEXT` targets stay valid. `private` is zero-extended.
//!
//! # i386 conventions
//!
//! [`table::COMPAT_CALLS`] maps every i386 call to its native one; every call of
//! the signature table is reachable. Where i386 differs:
//!
//! * **64-bit values in two registers**: `pread64(fd, buf, count, pos_lo,
//!   pos_hi)`, `pwrite64` likewise, `ftruncate64(fd, len_lo, len_hi)`,
//!   `fallocate(fd, mode, off_lo, off_hi, len_lo, len_hi)`: both halves must be
//!   immediates and become one native `loff_t`.
//! * **`_llseek(fd, offset_high, offset_low, loff_t *result, whence)`** becomes
//!   `lseek(fd, (high << 32) | low, whence)`. The i386 call stores the new offset
//!   through `result` (an 8-byte `OUT` region, written back) and returns 0; the
//!   completion says 0. Stop flags are translated for the different return value
//!   (`STOP_ON_ZERO` alone, "stop on success only", has no native equivalent and
//!   is refused), and a `RESULT` naming an `_llseek` atom is refused.
//! * **`socketcall(call, args)`**: `call` must be an immediate; `args` is a `BUF`
//!   pointing to an array of [`SocketcallArg`] entries (`{kind u32, value u32}`,
//!   8 bytes each, as many as the call takes) in an `IN`-only buffer. Each entry
//!   is a compat argument like an atom's: an immediate, the `RESULT` of an
//!   earlier atom (the fd `socket` returned), or a compat `BUF` word (a pointer
//!   entry, e.g. `connect`'s `sockaddr`); NULL is `IMM` 0. `accept` becomes
//!   `accept4(.., 0)`, `send`/`recv` become `sendto`/`recvfrom` with NULL
//!   addresses; calls without a native counterpart in the signature table
//!   (`recvmmsg`, `sendmmsg`) are refused.
//! * **`sendmsg`, `recvmsg`** (direct and through `socketcall`) take the
//!   28-byte i386 `msghdr` ([`CompatMsgHdr`]) with 8-byte iovecs; the
//!   translator appends the native header and array, and write-back copies a
//!   `recvmsg`'s `msg_namelen`, `msg_controllen` and `msg_flags` into the i386
//!   header. Control data is translated both ways: a `sendmsg`'s i386
//!   `cmsghdr`s (12 bytes, 4-byte aligned) become native ones (16 bytes,
//!   8-byte aligned) as the kernel's compat path makes them; a `recvmsg`
//!   gets a native control buffer 4 bytes longer than its own (the room for
//!   as many descriptors as an i386 process would get), whose messages
//!   write-back converts into the i386 buffer (`msg_controllen` then counts
//!   i386 bytes).
//! * **`fstat64`, `stat64`, `lstat64`, `fstatat64`** write the i386 `struct
//!   stat64` ([`Stat64`], 96 bytes). They become `fstat`/`newfstatat` (`stat64`
//!   with `AT_FDCWD`, `lstat64` also with `AT_SYMLINK_NOFOLLOW`) writing a native
//!   `struct stat` into a buffer the translator appends; [`Normalized::write_back`]
//!   converts it as the kernel's `cp_stat64` does (the padding stays as the
//!   producer had it; 32-bit fields take the low bits). The `stat64` buffer must be
//!   `OUT`, at least 96 bytes from the offset, and used by no other argument.
//! * **`fstatfs64`** (size an immediate 84) becomes `fstatfs`, its native
//!   `struct statfs` converted into the packed i386 `struct statfs64`
//!   ([`Statfs64`], 84 bytes) the same way. **`fstatfs`** (100) writes the
//!   32-bit [`Statfs32`] (64 bytes) as `put_compat_statfs` fills it; a count
//!   that needs more than 32 bits makes the i386 result `EOVERFLOW` at
//!   write-back (the buffer keeps its bytes).
//! * **`utimensat`** (320) and **`clock_nanosleep`** (267) read
//!   [`OldTimespec32`]s (in an `IN`-only buffer), widened up front into
//!   appended native timespecs; `clock_nanosleep`'s `remain` is converted
//!   back after an `EINTR`, the only result the kernel writes it with.
//! * **`sendfile`** (187): its 32-bit `off_t` (an `IN|OUT` buffer no other
//!   argument uses) is sign-extended into an appended `loff_t` and stored
//!   back in 32 bits after the run; the count, then an immediate, is cut at
//!   `MAX_NON_LFS` as the i386 kernel does.
//! * **`statx`** and **`getdents64`** write the same layout on both; they pass
//!   through. `openat2`'s `open_how` is also identical.
//! * **Directory offsets**: ext4 gives a 32-bit caller 31-bit `d_off` cookies
//!   (end `0x7fffffff`) and a 64-bit one 63-bit cookies; the NFS client also
//!   answers by the caller's ABI. The native
//!   batch is marked [`abi::BATCH_COMPAT32`], and the executor issues its
//!   `getdents64` and `lseek` atoms through the kernel's i386 entry, so the
//!   producer gets the offsets its own kernel gives.
//! * **`rt_tgsigqueueinfo`**: the i386 `siginfo_t` (in an `IN`-only buffer) is
//!   translated up front, as `copy_siginfo_from_user32` does, into a native one
//!   the translator appends; kernel-generated `si_code`s (1..=127) are refused.
//! * **`setsockopt`/`getsockopt`**: options whose value has another layout on
//!   i386 ([`table::UNTRANSLATED_SOCKOPTS`]: old timevals, socket filters,
//!   `MCAST_*` group requests) are refused; level and name must be immediates.
//! * **Results**: the completion keeps its layout (it is identical on i386);
//!   [`Normalized::completion`] makes each result what `eax` would hold.
//!
//! Bad input gets a [`CompatError`] naming the atom and the reason; no native
//! bytes are produced, so nothing runs.
//!
//! # Example
//!
//! A 32-bit producer's `fstat64(0, &st)`, normalised, then "run" (here the
//! native side is simulated; the main crate's `syslets::compat` docs run it for
//! real), then written back:
//!
//! ```
//! use syslets_compat::{normalize, nr32, CompatArg, CompatAtom, CompatWriter, Stat64};
//! use syslets_compat::abi::{self, kernel::Stat, BUF_OUT, Completion};
//! use zerocopy::{FromBytes, IntoBytes};
//!
//! let mut w = CompatWriter::new();
//! let st = w.zeroed(96, BUF_OUT);
//! w.push(CompatAtom::new(nr32::FSTAT64, &[
//!     CompatArg::Imm(0),
//!     CompatArg::Buf { index: st, offset: 0 },
//! ]));
//! let mut compat = w.finish();
//!
//! let norm = normalize(&compat)?;
//! let native = norm.native_bytes();
//! // The native batch: "SYSL", one native fstat atom, and a 144-byte native
//! // `struct stat` buffer appended after the producer's.
//! let header = abi::BatchHeader::read_from_prefix(native).unwrap().0;
//! assert_eq!(header.magic, abi::MAGIC);
//! assert_eq!(header.nbufs, 2);
//! let atom = abi::Atom::read_from_bytes(&native[32..112]).unwrap();
//! assert_eq!(atom.nr, abi::nr::FSTAT);
//! assert_eq!(atom.arg[1], abi::buf_arg(1, 0));
//!
//! // Pretend the kernel ran it: a struct stat in the appended buffer, fstat → 0.
//! let mut arena = native[native.len() - norm.native_arena_len()..].to_vec();
//! let stat = Stat { st_ino: 0x1_0000_0007, st_size: 5 << 30, ..Default::default() };
//! arena[96..96 + 144].copy_from_slice(stat.as_bytes());
//! let done = Completion { natoms: 1, atoms_run: 1, ran_mask: 1, ..Default::default() };
//!
//! let seen = norm.write_back(&arena, &done, &mut compat)?;
//! assert_eq!(seen.results[0], 0);
//! let out = Stat64::read_from_bytes(&compat[compat.len() - 96..]).unwrap();
//! assert_eq!(out.st_ino.get(), 0x1_0000_0007);
//! assert_eq!(out.st_ino_lo, 7);
//! assert_eq!(out.st_size.get(), 5 << 30);
//! # Ok::<(), syslets_compat::CompatError>(())
//! ```
#![deny(unsafe_code)]
#![no_std]
// `alloc`: the translated batch and the bookkeeping for write-back are
// variable-sized; the crate needs no other part of `std`.
extern crate alloc;

mod error;
mod layout;
mod normalize;
pub mod nr32;
pub mod table;
mod writer;

pub use error::{ArgPos, CompatError, CompatErrorKind};
pub use layout::{
    compat_atoms_len, compat_batch_size, compat_buf_arg, split_compat_buf_arg, CompatAtom,
    CompatIoVec, CompatMsgHdr, OldTimespec32, SocketcallArg, Stat64, Statfs32, Statfs64,
    COMPAT_ATOM_SIZE, COMPAT_BUF_INDEX_SHIFT, COMPAT_BUF_OFFSET_MASK, COMPAT_CMSGHDR_SIZE,
    COMPAT_IOVEC_SIZE, COMPAT_MAGIC, COMPAT_MAX_BUF_OFFSET, COMPAT_MSGHDR_SIZE, COMPAT_OFF_SIZE,
    COMPAT_SIGINFO_SIZE, LLSEEK_RESULT_SIZE, OLD_TIMESPEC32_SIZE, SOCKETCALL_ARG_SIZE, STAT64_SIZE,
    STATFS32_SIZE, STATFS64_SIZE,
};
pub use normalize::{normalize, Normalized};
pub use syslets_abi as abi;
pub use writer::{CompatArg, CompatWriter};

#[cfg(test)]
mod tests;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
