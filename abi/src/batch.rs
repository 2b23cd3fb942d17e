//! The batch buffer: header, atoms, buffer descriptors.

use core::mem::{align_of, offset_of, size_of};
use static_assertions::const_assert_eq;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The 32-byte header that starts every batch buffer.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct BatchHeader {
    /// [`crate::MAGIC`].
    pub magic: u32,
    /// [`crate::VERSION`].
    pub version: u16,
    /// Number of atoms, `1..=MAX_ATOMS`.
    pub natoms: u16,
    /// Number of buffer descriptors, `0..=MAX_BUFS`.
    pub nbufs: u16,
    /// Batch flags (`BATCH_*`).
    pub flags: u16,
    /// Bytes of arena after the buffer descriptors.
    pub arena_len: u32,
    /// Echoed in the completion; never interpreted.
    pub caller_data: u64,
    /// Must be zero.
    pub reserved: u64,
}

/// One system call of a chain (80 bytes, the size of v6's `syslet_uatom`).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct Atom {
    /// Stop flags, [`crate::SKIP_TO_NEXT_ON_STOP`] and the [`crate::NEXT_MASK`] field.
    pub flags: u32,
    /// Native (x86_64) system call number.
    pub nr: u32,
    /// How to read each argument (`ARG_*`).
    pub arg_kind: [u8; 6],
    /// Number of arguments used, equal to the syscall's signature.
    pub nargs: u16,
    /// The arguments; unused ones must be zero immediates.
    pub arg: [u64; 6],
    /// Caller cookie; never read by the executor.
    pub private: u64,
    /// Must be zero.
    pub reserved: u64,
}

/// Describes one buffer of the arena (16 bytes).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct BufDesc {
    /// Offset of the buffer within the arena.
    pub offset: u32,
    /// Length of the buffer in bytes.
    pub len: u32,
    /// [`crate::BUF_IN`] and/or [`crate::BUF_OUT`].
    pub flags: u32,
    /// Must be zero.
    pub reserved: u32,
}

/// One element of a `struct iovec` array in the arena (16 bytes): a buffer of
/// the batch, named like a `BUF` argument, and a length. Validation checks
/// every element against its buffer; the kernel gets a private copy of the
/// array with the element pointers resolved, never the arena's bytes.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct IoVec {
    /// The buffer, as [`buf_arg`](crate::buf_arg)`(index, offset)`.
    pub base: u64,
    /// Bytes from `base`, within the buffer.
    pub len: u64,
}

/// A `struct msghdr` in the arena (56 bytes, the x86_64 layout), for
/// `sendmsg` and `recvmsg`: its three pointers name buffers of the batch like
/// `BUF` arguments ([`buf_arg`](crate::buf_arg)); one whose length is 0
/// names nothing (the kernel gets NULL) whatever its word. Validation
/// checks every one against its buffer and the call's direction, and the
/// kernel gets a private copy with the pointers resolved (and the iovec array
/// a private copy too), never the arena's bytes; after a `recvmsg` the run
/// copies the kernel's `msg_namelen`, `msg_controllen` and `msg_flags` back
/// here.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct MsgHdr {
    /// The address buffer, as `buf_arg(index, offset)` (ignored when
    /// `namelen` is 0).
    pub name: u64,
    /// Bytes of the address (`socklen_t`).
    pub namelen: u32,
    /// Padding: zero.
    pub pad0: u32,
    /// The [`IoVec`] array, as `buf_arg(index, offset)` (ignored when
    /// `iovlen` is 0).
    pub iov: u64,
    /// Elements of the array (at most [`MAX_IOVECS`](crate::MAX_IOVECS)).
    pub iovlen: u64,
    /// The control (ancillary data) buffer, as `buf_arg(index, offset)`
    /// (ignored when `controllen` is 0).
    pub control: u64,
    /// Bytes of control data (at most [`MAX_CONTROL_LEN`](crate::MAX_CONTROL_LEN)).
    pub controllen: u64,
    /// `MSG_*` flags the kernel reports (`recvmsg`).
    pub flags: i32,
    /// Padding: zero.
    pub pad1: u32,
}

const_assert_eq!(size_of::<BatchHeader>(), crate::HEADER_SIZE);
const_assert_eq!(align_of::<BatchHeader>(), 8);
const_assert_eq!(offset_of!(BatchHeader, magic), 0);
const_assert_eq!(offset_of!(BatchHeader, version), 4);
const_assert_eq!(offset_of!(BatchHeader, natoms), 6);
const_assert_eq!(offset_of!(BatchHeader, nbufs), 8);
const_assert_eq!(offset_of!(BatchHeader, flags), 10);
const_assert_eq!(offset_of!(BatchHeader, arena_len), 12);
const_assert_eq!(offset_of!(BatchHeader, caller_data), 16);
const_assert_eq!(offset_of!(BatchHeader, reserved), 24);

const_assert_eq!(size_of::<Atom>(), crate::ATOM_SIZE);
const_assert_eq!(align_of::<Atom>(), 8);
const_assert_eq!(offset_of!(Atom, flags), 0);
const_assert_eq!(offset_of!(Atom, nr), 4);
const_assert_eq!(offset_of!(Atom, arg_kind), 8);
const_assert_eq!(offset_of!(Atom, nargs), 14);
const_assert_eq!(offset_of!(Atom, arg), 16);
const_assert_eq!(offset_of!(Atom, private), 64);
const_assert_eq!(offset_of!(Atom, reserved), 72);

const_assert_eq!(size_of::<BufDesc>(), crate::BUFDESC_SIZE);
const_assert_eq!(align_of::<BufDesc>(), 4);
const_assert_eq!(offset_of!(BufDesc, offset), 0);
const_assert_eq!(offset_of!(BufDesc, len), 4);
const_assert_eq!(offset_of!(BufDesc, flags), 8);
const_assert_eq!(offset_of!(BufDesc, reserved), 12);

const_assert_eq!(size_of::<IoVec>(), crate::IOVEC_SIZE);
const_assert_eq!(offset_of!(IoVec, base), 0);
const_assert_eq!(offset_of!(IoVec, len), 8);

const_assert_eq!(size_of::<MsgHdr>(), crate::MSGHDR_SIZE);
const_assert_eq!(offset_of!(MsgHdr, namelen), 8);
const_assert_eq!(offset_of!(MsgHdr, iov), 16);
const_assert_eq!(offset_of!(MsgHdr, iovlen), 24);
const_assert_eq!(offset_of!(MsgHdr, control), 32);
const_assert_eq!(offset_of!(MsgHdr, controllen), 40);
const_assert_eq!(offset_of!(MsgHdr, flags), 48);
