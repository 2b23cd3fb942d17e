//! Output structs the x86_64 kernel writes into batch buffers.
//!
//! These are the kernel's own layouts (`arch/x86/include/uapi/asm/stat.h`,
//! `include/uapi/linux/stat.h`), which glibc's match on x86_64. They carry zerocopy
//! derives so typed accessors read them out of the arena with `read_from_bytes`.

use core::mem::{offset_of, size_of};
use static_assertions::const_assert_eq;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// x86_64 `struct stat`, as written by `fstat`, `newfstatat` (144 bytes).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[allow(missing_docs)]
pub struct Stat {
    pub st_dev: u64,
    pub st_ino: u64,
    pub st_nlink: u64,
    pub st_mode: u32,
    pub st_uid: u32,
    pub st_gid: u32,
    pub pad0: u32,
    pub st_rdev: u64,
    pub st_size: i64,
    pub st_blksize: i64,
    pub st_blocks: i64,
    pub st_atime: i64,
    pub st_atime_nsec: i64,
    pub st_mtime: i64,
    pub st_mtime_nsec: i64,
    pub st_ctime: i64,
    pub st_ctime_nsec: i64,
    pub unused: [i64; 3],
}

/// `struct statx_timestamp` (16 bytes).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[allow(missing_docs)]
pub struct StatxTimestamp {
    pub tv_sec: i64,
    pub tv_nsec: u32,
    pub reserved: i32,
}

/// `struct statx` (256 bytes; identical on i386 and x86_64).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[allow(missing_docs)]
pub struct Statx {
    pub stx_mask: u32,
    pub stx_blksize: u32,
    pub stx_attributes: u64,
    pub stx_nlink: u32,
    pub stx_uid: u32,
    pub stx_gid: u32,
    pub stx_mode: u16,
    pub spare0: u16,
    pub stx_ino: u64,
    pub stx_size: u64,
    pub stx_blocks: u64,
    pub stx_attributes_mask: u64,
    pub stx_atime: StatxTimestamp,
    pub stx_btime: StatxTimestamp,
    pub stx_ctime: StatxTimestamp,
    pub stx_mtime: StatxTimestamp,
    pub stx_rdev_major: u32,
    pub stx_rdev_minor: u32,
    pub stx_dev_major: u32,
    pub stx_dev_minor: u32,
    pub stx_mnt_id: u64,
    pub stx_dio_mem_align: u32,
    pub stx_dio_offset_align: u32,
    pub spare3: [u64; 12],
}

/// Size of [`Stat`].
pub const STAT_SIZE: usize = 144;
/// Size of [`Statx`].
pub const STATX_SIZE: usize = 256;
/// Size of `siginfo_t` as `rt_tgsigqueueinfo` reads it.
pub const SIGINFO_SIZE: usize = 128;
/// Size of `struct sockaddr_storage`.
pub const SOCKADDR_STORAGE_SIZE: usize = 128;

const_assert_eq!(size_of::<Stat>(), STAT_SIZE);
const_assert_eq!(offset_of!(Stat, st_mode), 24);
const_assert_eq!(offset_of!(Stat, st_rdev), 40);
const_assert_eq!(offset_of!(Stat, st_size), 48);
const_assert_eq!(offset_of!(Stat, st_blocks), 64);
const_assert_eq!(offset_of!(Stat, st_atime), 72);
const_assert_eq!(offset_of!(Stat, st_ctime_nsec), 112);
const_assert_eq!(size_of::<StatxTimestamp>(), 16);
const_assert_eq!(size_of::<Statx>(), STATX_SIZE);
const_assert_eq!(offset_of!(Statx, stx_mode), 28);
const_assert_eq!(offset_of!(Statx, stx_ino), 32);
const_assert_eq!(offset_of!(Statx, stx_size), 40);
const_assert_eq!(offset_of!(Statx, stx_atime), 64);
const_assert_eq!(offset_of!(Statx, stx_mtime), 112);
const_assert_eq!(offset_of!(Statx, stx_rdev_major), 128);
const_assert_eq!(offset_of!(Statx, stx_mnt_id), 144);
const_assert_eq!(offset_of!(Statx, spare3), 160);

/// `O_NOFOLLOW` on x86_64 (and i386).
pub const O_NOFOLLOW: u64 = 0o400000;
/// `AT_SYMLINK_NOFOLLOW`.
pub const AT_SYMLINK_NOFOLLOW: u64 = 0x100;
/// `AT_SYMLINK_FOLLOW` (`linkat`: follow a final symlink of the old path).
pub const AT_SYMLINK_FOLLOW: u64 = 0x400;

/// x86_64 `struct statfs`, as written by `fstatfs` (120 bytes).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[allow(missing_docs)]
pub struct Statfs {
    pub f_type: i64,
    pub f_bsize: i64,
    pub f_blocks: u64,
    pub f_bfree: u64,
    pub f_bavail: u64,
    pub f_files: u64,
    pub f_ffree: u64,
    pub f_fsid: [i32; 2],
    pub f_namelen: i64,
    pub f_frsize: i64,
    pub f_flags: i64,
    pub f_spare: [i64; 4],
}

/// Size of [`Statfs`].
pub const STATFS_SIZE: usize = 120;
const_assert_eq!(size_of::<Statfs>(), STATFS_SIZE);
const_assert_eq!(offset_of!(Statfs, f_fsid), 56);
const_assert_eq!(offset_of!(Statfs, f_namelen), 64);

/// `SOL_SOCKET`: the level of the socket's own control messages.
pub const SOL_SOCKET: i32 = 1;
/// `SCM_RIGHTS`: a control message carrying descriptors (`int`s).
pub const SCM_RIGHTS: i32 = 1;
/// `SCM_PIDFD` (Linux 6.5): a control message carrying one pidfd, which
/// `recvmsg` installs when the socket has `SO_PASSPIDFD`.
pub const SCM_PIDFD: i32 = 4;
/// `MSG_CTRUNC`: `recvmsg` found more control data than its buffer held.
pub const MSG_CTRUNC: u32 = 0x8;
/// `MSG_CMSG_CLOEXEC`: descriptors `recvmsg` installs get `FD_CLOEXEC`.
pub const MSG_CMSG_CLOEXEC: u32 = 0x4000_0000;
