//! i386 system call numbers (`arch/x86/entry/syscalls/syscall_32.tbl`) of every
//! call the translator accepts.
//!
//! Spelled out rather than taken from `libc`, whose i386 constants exist only when
//! building for i386. The tests check each one against the i386 `unistd_32.h` of
//! the installed kernel headers.
#![allow(missing_docs)]

pub const READ: u32 = 3;
pub const WRITE: u32 = 4;
pub const CLOSE: u32 = 6;
pub const LSEEK: u32 = 19;
pub const GETPID: u32 = 20;
pub const FTRUNCATE: u32 = 93;
pub const SOCKETCALL: u32 = 102;
pub const FSYNC: u32 = 118;
pub const LLSEEK: u32 = 140;
pub const FDATASYNC: u32 = 148;
pub const PREAD64: u32 = 180;
pub const PWRITE64: u32 = 181;
pub const FTRUNCATE64: u32 = 194;
pub const STAT64: u32 = 195;
pub const LSTAT64: u32 = 196;
pub const FSTAT64: u32 = 197;
pub const GETDENTS64: u32 = 220;
pub const GETTID: u32 = 224;
pub const TGKILL: u32 = 270;
pub const OPENAT: u32 = 295;
pub const MKDIRAT: u32 = 296;
pub const FSTATAT64: u32 = 300;
pub const UNLINKAT: u32 = 301;
pub const FALLOCATE: u32 = 324;
pub const RT_TGSIGQUEUEINFO: u32 = 335;
pub const SOCKET: u32 = 359;
pub const BIND: u32 = 361;
pub const CONNECT: u32 = 362;
pub const LISTEN: u32 = 363;
pub const ACCEPT4: u32 = 364;
pub const GETSOCKOPT: u32 = 365;
pub const SETSOCKOPT: u32 = 366;
pub const SENDTO: u32 = 369;
pub const RECVFROM: u32 = 371;
pub const SHUTDOWN: u32 = 373;
pub const STATX: u32 = 383;
pub const OPENAT2: u32 = 437;

/// `socketcall` call numbers (`include/uapi/linux/net.h`).
pub mod socketcall {
    pub const SOCKET: u32 = 1;
    pub const BIND: u32 = 2;
    pub const CONNECT: u32 = 3;
    pub const LISTEN: u32 = 4;
    pub const ACCEPT: u32 = 5;
    pub const GETSOCKNAME: u32 = 6;
    pub const GETPEERNAME: u32 = 7;
    pub const SOCKETPAIR: u32 = 8;
    pub const SEND: u32 = 9;
    pub const RECV: u32 = 10;
    pub const SENDTO: u32 = 11;
    pub const RECVFROM: u32 = 12;
    pub const SHUTDOWN: u32 = 13;
    pub const SETSOCKOPT: u32 = 14;
    pub const GETSOCKOPT: u32 = 15;
    pub const SENDMSG: u32 = 16;
    pub const RECVMSG: u32 = 17;
    pub const ACCEPT4: u32 = 18;
    pub const RECVMMSG: u32 = 19;
    pub const SENDMMSG: u32 = 20;
}
