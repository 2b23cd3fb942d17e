//! The 32-bit (i386) batch layout and the i386 structs the translator converts.
//!
//! The C view of everything here is `abi/include/syslet_compat.h`; a program built
//! with `gcc -m32` writes these structs natively.

use core::mem::{align_of, offset_of, size_of};
use static_assertions::const_assert_eq;
use zerocopy::byteorder::little_endian::{I64, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use syslets_abi as abi;

/// `"SY32"` read as a little-endian `u32`: the first four bytes of a compat batch.
///
/// The compat header is the native 32-byte [`abi::BatchHeader`] (every field is
/// fixed-size and the C header forces 8-byte alignment of its `u64` fields, so
/// i386 lays it out identically); only the magic differs. A compat buffer given
/// to the native validator is refused for its magic, and a native buffer given to
/// [`normalize`](crate::normalize) likewise: one is never mistaken for the other.
pub const COMPAT_MAGIC: u32 = u32::from_le_bytes(*b"SY32");

/// Size of [`CompatAtom`].
pub const COMPAT_ATOM_SIZE: usize = 44;
/// Size of [`SocketcallArg`].
pub const SOCKETCALL_ARG_SIZE: usize = 8;
/// Size of [`CompatIoVec`].
pub const COMPAT_IOVEC_SIZE: usize = 8;
/// Size of [`CompatMsgHdr`].
pub const COMPAT_MSGHDR_SIZE: usize = 28;
/// Size of the i386 `struct cmsghdr` (`struct compat_cmsghdr`: `u32
/// cmsg_len`, `int cmsg_level`, `int cmsg_type`); its data and the next
/// message are 4-byte aligned.
pub const COMPAT_CMSGHDR_SIZE: usize = 12;
/// Size of the i386 kernel's `struct stat64` ([`Stat64`]).
pub const STAT64_SIZE: usize = 96;
/// Size of the i386 kernel's `struct statfs64` ([`Statfs64`]).
pub const STATFS64_SIZE: usize = 84;
/// Size of the i386 kernel's 32-bit `struct statfs` ([`Statfs32`]).
pub const STATFS32_SIZE: usize = 64;
/// Size of the i386 `struct old_timespec32` ([`OldTimespec32`]).
pub const OLD_TIMESPEC32_SIZE: usize = 8;
/// Size of the i386 `off_t` (`compat_off_t`) `sendfile` reads and advances.
pub const COMPAT_OFF_SIZE: usize = 4;
/// Size of the `loff_t` that `_llseek` stores through its `result` pointer.
pub const LLSEEK_RESULT_SIZE: usize = 8;
/// Size of the i386 `siginfo_t` (`compat_siginfo_t`), as `rt_tgsigqueueinfo` reads it.
pub const COMPAT_SIGINFO_SIZE: usize = 128;

/// Bit position of the buffer index in a compat `BUF` argument word.
pub const COMPAT_BUF_INDEX_SHIFT: u32 = 24;
/// The offset bits of a compat `BUF` argument word (offsets up to 16 MiB − 1).
pub const COMPAT_BUF_OFFSET_MASK: u32 = (1 << COMPAT_BUF_INDEX_SHIFT) - 1;
/// Largest offset within a buffer a compat `BUF` word can carry.
pub const COMPAT_MAX_BUF_OFFSET: u32 = COMPAT_BUF_OFFSET_MASK;

// The 8 index bits cover every buffer a batch may have.
const_assert_eq!(abi::MAX_BUFS, 1 << (32 - COMPAT_BUF_INDEX_SHIFT));

/// Build a compat `BUF` argument word: buffer index in bits 24..32, offset within
/// the buffer in bits 0..24. `None` when the index is not below
/// [`abi::MAX_BUFS`] or the offset exceeds [`COMPAT_MAX_BUF_OFFSET`].
pub const fn compat_buf_arg(index: u16, offset: u32) -> Option<u32> {
    if index as usize >= abi::MAX_BUFS || offset > COMPAT_MAX_BUF_OFFSET {
        None
    } else {
        Some(((index as u32) << COMPAT_BUF_INDEX_SHIFT) | offset)
    }
}

/// Split a compat `BUF` argument word into `(buffer_index, offset)`.
pub const fn split_compat_buf_arg(word: u32) -> (u16, u32) {
    (
        (word >> COMPAT_BUF_INDEX_SHIFT) as u16,
        word & COMPAT_BUF_OFFSET_MASK,
    )
}

/// Bytes the atom section of a compat batch with `natoms` atoms occupies:
/// `natoms * 44`, rounded up to 8 so the buffer descriptors stay 8-byte aligned
/// (with an odd number of atoms, 4 bytes of zero padding follow the last atom).
pub const fn compat_atoms_len(natoms: usize) -> usize {
    (natoms * COMPAT_ATOM_SIZE).next_multiple_of(abi::BATCH_ALIGN)
}

/// Byte size of a compat batch with these counts:
/// `header | atoms (padded to 8) | bufs | arena`.
pub const fn compat_batch_size(natoms: usize, nbufs: usize, arena_len: usize) -> usize {
    abi::HEADER_SIZE + compat_atoms_len(natoms) + nbufs * abi::BUFDESC_SIZE + arena_len
}

/// One system call of a chain written by a 32-bit producer (44 bytes).
///
/// The native [`abi::Atom`] with every word 32 bits wide: `nr` is an i386 number,
/// each `arg` a 32-bit value (an immediate, the index of an earlier atom for
/// `RESULT`, or a compat `BUF` word, see [`compat_buf_arg`]), and there is no
/// `reserved` field. `flags` has the native meaning (stop flags,
/// `SKIP_TO_NEXT_ON_STOP`, the `NEXT` field).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct CompatAtom {
    /// Stop flags, `SKIP_TO_NEXT_ON_STOP`, the `NEXT` field (as native).
    pub flags: u32,
    /// i386 system call number.
    pub nr: u32,
    /// How to read each argument (`ARG_IMM`, `ARG_RESULT`, `ARG_BUF`; `ARG_RAW`
    /// is always refused).
    pub arg_kind: [u8; 6],
    /// Number of arguments the i386 call takes (e.g. 5 for `pread64`, whose
    /// offset is split in two words).
    pub nargs: u16,
    /// The arguments, as the i386 registers would hold them; unused ones must
    /// be zero immediates.
    pub arg: [u32; 6],
    /// Caller cookie, zero-extended into the native atom; never read.
    pub private: u32,
}

/// One entry of a `socketcall` argument array (8 bytes).
///
/// The i386 `socketcall(call, args)` multiplexer passes its arguments in an array
/// in memory. In a compat batch that array lies in the arena (an `IN`-only
/// buffer the `args` argument points to) and each entry carries its own kind, so
/// that, exactly like an atom argument, an entry can be an immediate, the result
/// of an earlier atom (the fd `socket` returned) or a compat `BUF` word (the
/// `sockaddr` of `connect`). `ARG_RAW` is refused; a NULL pointer is an `IMM` 0.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct SocketcallArg {
    /// `ARG_IMM`, `ARG_RESULT` or `ARG_BUF`.
    pub kind: u32,
    /// The value, as in [`CompatAtom::arg`].
    pub value: u32,
}

/// One element of an i386 iovec array in a compat arena (8 bytes: the i386
/// `struct iovec` is two 32-bit words). The translator widens each into a
/// native [`IoVec`](syslets_abi::IoVec) of 16 bytes.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct CompatIoVec {
    /// The buffer, as a compat `BUF` word ([`compat_buf_arg`]).
    pub base: u32,
    /// Bytes from `base`.
    pub len: u32,
}

/// The i386 `struct msghdr` (`struct compat_msghdr`, 28 bytes): the
/// pointers are compat `BUF` words ([`compat_buf_arg`]), ignored when
/// their length is 0, the array [`CompatIoVec`]s.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct CompatMsgHdr {
    /// The address buffer (ignored when `namelen` is 0).
    pub name: u32,
    /// Bytes of the address.
    pub namelen: u32,
    /// The iovec array.
    pub iov: u32,
    /// Its elements.
    pub iovlen: u32,
    /// The control buffer (ignored when `controllen` is 0), of i386
    /// `cmsghdr`s ([`COMPAT_CMSGHDR_SIZE`]).
    pub control: u32,
    /// Bytes of control data.
    pub controllen: u32,
    /// `MSG_*` flags the kernel reports (`recvmsg`).
    pub flags: u32,
}

/// The i386 kernel's `struct stat64` (96 bytes; `arch/x86/include/uapi/asm/stat.h`),
/// what `fstat64`, `stat64`, `lstat64` and `fstatat64` write.
///
/// On i386 a `long long` inside a struct is 4-byte aligned, so the 64-bit fields
/// after `st_rdev` sit at offsets that are not multiples of 8; they are declared
/// as unaligned little-endian integers. The kernel never writes `pad0` or `pad3`:
/// the translator leaves them as the producer had them.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[allow(missing_docs)]
pub struct Stat64 {
    pub st_dev: U64,
    pub pad0: [u8; 4],
    /// The low 32 bits of the inode number (`STAT64_HAS_BROKEN_ST_INO`).
    pub st_ino_lo: u32,
    pub st_mode: u32,
    pub st_nlink: u32,
    pub st_uid: u32,
    pub st_gid: u32,
    pub st_rdev: U64,
    pub pad3: [u8; 4],
    pub st_size: I64,
    pub st_blksize: u32,
    pub st_blocks: U64,
    pub st_atime: u32,
    pub st_atime_nsec: u32,
    pub st_mtime: u32,
    pub st_mtime_nsec: u32,
    pub st_ctime: u32,
    pub st_ctime_nsec: u32,
    pub st_ino: U64,
}

/// The i386 kernel's `struct statfs64` (`struct compat_statfs64`, packed to 4
/// bytes on x86), as `fstatfs64` writes it: the 64-bit counts sit at offsets
/// that are not multiples of 8, declared as unaligned little-endian integers.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[allow(missing_docs)]
pub struct Statfs64 {
    pub f_type: u32,
    pub f_bsize: u32,
    pub f_blocks: U64,
    pub f_bfree: U64,
    pub f_bavail: U64,
    pub f_files: U64,
    pub f_ffree: U64,
    pub f_fsid: [i32; 2],
    pub f_namelen: u32,
    pub f_frsize: u32,
    pub f_flags: u32,
    pub f_spare: [u32; 4],
}

/// The i386 kernel's 32-bit `struct statfs` (`struct compat_statfs`), as
/// i386 `fstatfs` writes it: every field 32 bits wide.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[allow(missing_docs)]
pub struct Statfs32 {
    pub f_type: u32,
    pub f_bsize: u32,
    pub f_blocks: u32,
    pub f_bfree: u32,
    pub f_bavail: u32,
    pub f_files: u32,
    pub f_ffree: u32,
    pub f_fsid: [i32; 2],
    pub f_namelen: u32,
    pub f_frsize: u32,
    pub f_flags: u32,
    pub f_spare: [u32; 4],
}

/// The i386 `struct old_timespec32` (`struct timespec` of a 32-bit-time
/// program): what `utimensat` (320) and `clock_nanosleep` (267) read and write.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct OldTimespec32 {
    /// Seconds (signed, sign-extended into the native `tv_sec`).
    pub tv_sec: i32,
    /// Nanoseconds (or `UTIME_NOW`/`UTIME_OMIT`), sign-extended.
    pub tv_nsec: i32,
}

const_assert_eq!(size_of::<Statfs32>(), STATFS32_SIZE);
const_assert_eq!(offset_of!(Statfs32, f_fsid), 28);
const_assert_eq!(offset_of!(Statfs32, f_namelen), 36);
const_assert_eq!(offset_of!(Statfs32, f_spare), 48);
const_assert_eq!(size_of::<OldTimespec32>(), OLD_TIMESPEC32_SIZE);

const_assert_eq!(size_of::<Statfs64>(), STATFS64_SIZE);
const_assert_eq!(offset_of!(Statfs64, f_blocks), 8);
const_assert_eq!(offset_of!(Statfs64, f_fsid), 48);
const_assert_eq!(offset_of!(Statfs64, f_namelen), 56);
const_assert_eq!(offset_of!(Statfs64, f_spare), 68);

const_assert_eq!(size_of::<CompatAtom>(), COMPAT_ATOM_SIZE);
const_assert_eq!(align_of::<CompatAtom>(), 4);
const_assert_eq!(offset_of!(CompatAtom, flags), 0);
const_assert_eq!(offset_of!(CompatAtom, nr), 4);
const_assert_eq!(offset_of!(CompatAtom, arg_kind), 8);
const_assert_eq!(offset_of!(CompatAtom, nargs), 14);
const_assert_eq!(offset_of!(CompatAtom, arg), 16);
const_assert_eq!(offset_of!(CompatAtom, private), 40);

const_assert_eq!(size_of::<CompatIoVec>(), COMPAT_IOVEC_SIZE);
const_assert_eq!(size_of::<CompatMsgHdr>(), COMPAT_MSGHDR_SIZE);
const_assert_eq!(offset_of!(CompatMsgHdr, controllen), 20);
const_assert_eq!(offset_of!(CompatMsgHdr, flags), 24);
const_assert_eq!(offset_of!(CompatIoVec, base), 0);
const_assert_eq!(offset_of!(CompatIoVec, len), 4);
const_assert_eq!(size_of::<SocketcallArg>(), SOCKETCALL_ARG_SIZE);
const_assert_eq!(offset_of!(SocketcallArg, kind), 0);
const_assert_eq!(offset_of!(SocketcallArg, value), 4);

const_assert_eq!(size_of::<Stat64>(), STAT64_SIZE);
const_assert_eq!(offset_of!(Stat64, st_dev), 0);
const_assert_eq!(offset_of!(Stat64, pad0), 8);
const_assert_eq!(offset_of!(Stat64, st_ino_lo), 12);
const_assert_eq!(offset_of!(Stat64, st_mode), 16);
const_assert_eq!(offset_of!(Stat64, st_nlink), 20);
const_assert_eq!(offset_of!(Stat64, st_uid), 24);
const_assert_eq!(offset_of!(Stat64, st_gid), 28);
const_assert_eq!(offset_of!(Stat64, st_rdev), 32);
const_assert_eq!(offset_of!(Stat64, pad3), 40);
const_assert_eq!(offset_of!(Stat64, st_size), 44);
const_assert_eq!(offset_of!(Stat64, st_blksize), 52);
const_assert_eq!(offset_of!(Stat64, st_blocks), 56);
const_assert_eq!(offset_of!(Stat64, st_atime), 64);
const_assert_eq!(offset_of!(Stat64, st_atime_nsec), 68);
const_assert_eq!(offset_of!(Stat64, st_mtime), 72);
const_assert_eq!(offset_of!(Stat64, st_mtime_nsec), 76);
const_assert_eq!(offset_of!(Stat64, st_ctime), 80);
const_assert_eq!(offset_of!(Stat64, st_ctime_nsec), 84);
const_assert_eq!(offset_of!(Stat64, st_ino), 88);

// Sections stay 8-byte aligned.
const_assert_eq!(compat_atoms_len(1), 48);
const_assert_eq!(compat_atoms_len(2), 88);
const_assert_eq!(compat_atoms_len(abi::MAX_ATOMS) % abi::BATCH_ALIGN, 0);
