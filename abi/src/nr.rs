//! Native (x86_64) system call numbers of every call the signature table knows.
//!
//! Spelled out here rather than taken from `libc` so that this `no_std` crate
//! describes the x86_64 ABI on any host (the compat translator and the C
//! conformance tests build it for i386 too). `abi/include/syslet.h` has the same
//! numbers as `SYSLET_NR_*`; `tests/abi_conformance.rs` checks each one against
//! the header and against `libc::SYS_*`.
#![allow(missing_docs)]

pub const READ: u32 = 0;
pub const WRITE: u32 = 1;
pub const CLOSE: u32 = 3;
pub const FSTAT: u32 = 5;
pub const LSEEK: u32 = 8;
pub const PREAD64: u32 = 17;
pub const PWRITE64: u32 = 18;
pub const GETPID: u32 = 39;
pub const SOCKET: u32 = 41;
pub const CONNECT: u32 = 42;
pub const SENDTO: u32 = 44;
pub const RECVFROM: u32 = 45;
pub const SHUTDOWN: u32 = 48;
pub const BIND: u32 = 49;
pub const LISTEN: u32 = 50;
pub const SETSOCKOPT: u32 = 54;
pub const GETSOCKOPT: u32 = 55;
pub const FSYNC: u32 = 74;
pub const FDATASYNC: u32 = 75;
pub const FTRUNCATE: u32 = 77;
pub const GETTID: u32 = 186;
pub const GETDENTS64: u32 = 217;
pub const TGKILL: u32 = 234;
pub const OPENAT: u32 = 257;
pub const MKDIRAT: u32 = 258;
pub const NEWFSTATAT: u32 = 262;
pub const UNLINKAT: u32 = 263;
pub const FALLOCATE: u32 = 285;
pub const ACCEPT4: u32 = 288;
pub const RT_TGSIGQUEUEINFO: u32 = 297;
pub const STATX: u32 = 332;
pub const OPENAT2: u32 = 437;
