//! Non-blocking forms of blocking calls, used to probe whether an atom would
//! block before running it in the submitting thread: `preadv2`/`pwritev2` with
//! `RWF_NOWAIT`, `openat2` with `RESOLVE_CACHED`, `recvfrom`/`sendto` with
//! `MSG_DONTWAIT`. Each returns the raw kernel result (`-errno` on failure).
#![allow(unsafe_code)]

use super::syscall6;

/// `RWF_NOWAIT` (`include/uapi/linux/fs.h`).
pub(crate) const RWF_NOWAIT: u64 = 0x0000_0008;
/// `RESOLVE_CACHED` (`include/uapi/linux/openat2.h`).
const RESOLVE_CACHED: u64 = 0x20;

const SYS_PREADV2: u32 = 327;
const SYS_PWRITEV2: u32 = 328;
const SYS_OPENAT2: u32 = 437;

/// `struct open_how` (24 bytes).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// `struct iovec`.
#[repr(C)]
struct Iovec {
    base: u64,
    len: u64,
}

/// `preadv2(fd, {buf, len}, 1, offset, RWF_NOWAIT)`; `offset == -1` reads at the
/// file position and advances it, like `read`.
///
/// # Safety
///
/// `buf..buf + len` must be valid for writes for the duration of the call.
pub(crate) unsafe fn preadv2_nowait(fd: u64, buf: u64, len: u64, offset: i64) -> i64 {
    // SAFETY: the caller's contract, which is `one_iovec_nowait`'s for reads.
    unsafe { one_iovec_nowait(SYS_PREADV2, fd, buf, len, offset) }
}

/// `pwritev2(fd, {buf, len}, 1, offset, RWF_NOWAIT)`; `offset == -1` writes at
/// the file position, like `write`.
///
/// # Safety
///
/// `buf..buf + len` must be valid for reads for the duration of the call.
pub(crate) unsafe fn pwritev2_nowait(fd: u64, buf: u64, len: u64, offset: i64) -> i64 {
    // SAFETY: the caller's contract, which is `one_iovec_nowait`'s for writes.
    unsafe { one_iovec_nowait(SYS_PWRITEV2, fd, buf, len, offset) }
}

/// `nr(fd, {buf, len}, 1, offset, RWF_NOWAIT)` for `preadv2`/`pwritev2`.
///
/// # Safety
///
/// `buf..buf + len` must be valid for what `nr` does to it (writes for
/// `preadv2`, reads for `pwritev2`) for the duration of the call.
#[inline]
unsafe fn one_iovec_nowait(nr: u32, fd: u64, buf: u64, len: u64, offset: i64) -> i64 {
    let iov = Iovec { base: buf, len };
    let args = [
        fd,
        &iov as *const Iovec as u64,
        1,
        offset as u64,
        0,
        RWF_NOWAIT,
    ];
    // SAFETY: the iovec lives on this stack frame for the call; the memory it
    // names is valid for the call's access by the caller's contract.
    unsafe { syscall6(nr, &args) }
}

/// `preadv2` (`write` false) or `pwritev2` (`write` true) of the iovec array
/// `iov` (`iovcnt` elements) at `offset` (-1: the file offset, advanced, as
/// `readv`/`writev` do), with `flags | RWF_NOWAIT`.
///
/// # Safety
///
/// `iov` must point to `iovcnt` `struct iovec`s, each naming memory valid
/// for what the call does to it (writes for `preadv2`, reads for
/// `pwritev2`), for the duration of the call.
pub(crate) unsafe fn vectored_nowait(
    write: bool,
    fd: u64,
    iov: u64,
    iovcnt: u64,
    offset: i64,
    flags: u64,
) -> i64 {
    let nr = if write { SYS_PWRITEV2 } else { SYS_PREADV2 };
    let args = [fd, iov, iovcnt, offset as u64, 0, flags | RWF_NOWAIT];
    // SAFETY: the caller's contract; RWF_NOWAIT changes no pointer or length.
    unsafe { syscall6(nr, &args) }
}

/// `openat2(dirfd, path, {flags, mode, RESOLVE_CACHED})`: opens exactly as
/// `openat(dirfd, path, flags, mode)` would when every path component is in the
/// dcache, and fails with `EAGAIN` (opening nothing) when one is not.
///
/// # Safety
///
/// `path` must point to a NUL-terminated string that stays valid for the call.
pub(crate) unsafe fn openat2_cached(dirfd: u64, path: u64, flags: u64, mode: u64) -> i64 {
    let how = OpenHow {
        flags,
        mode,
        resolve: RESOLVE_CACHED,
    };
    let args = [
        dirfd,
        path,
        &how as *const OpenHow as u64,
        size_of::<OpenHow>() as u64,
        0,
        0,
    ];
    // SAFETY: `how` lives on this stack frame and its size is passed; `path` is
    // a valid C string by the caller's contract.
    unsafe { syscall6(SYS_OPENAT2, &args) }
}

/// A socket call `nr` (`recvfrom`, `sendto`, `recvmsg`) with `MSG_DONTWAIT`
/// added to its flags, argument `flags`; the other arguments are passed
/// unchanged.
///
/// # Safety
///
/// The arguments must satisfy the contract of [`syscall6`] for `nr`.
pub(crate) unsafe fn sock_dontwait(nr: u32, mut args: [u64; 6], flags: usize) -> i64 {
    args[flags] |= libc::MSG_DONTWAIT as u64;
    // SAFETY: adding MSG_DONTWAIT changes no pointer or length; the rest is the
    // caller's contract.
    unsafe { syscall6(nr, &args) }
}

/// Whether `fd` is seekable (`lseek(fd, 0, SEEK_CUR)` succeeds): a regular
/// file or a block device, not a pipe, socket or terminal.
pub(crate) fn seekable(fd: u64) -> bool {
    // SAFETY: lseek takes no pointer and SEEK_CUR with offset 0 moves nothing.
    unsafe {
        syscall6(
            libc::SYS_lseek as u32,
            &[fd, 0, libc::SEEK_CUR as u64, 0, 0, 0],
        ) >= 0
    }
}

/// Whether `fd` has `O_NONBLOCK` set (false when `fcntl` fails).
pub(crate) fn nonblocking(fd: u64) -> bool {
    // SAFETY: F_GETFL takes no pointer and changes nothing.
    let fl = unsafe {
        syscall6(
            libc::SYS_fcntl as u32,
            &[fd, libc::F_GETFL as u64, 0, 0, 0, 0],
        )
    };
    fl >= 0 && fl & libc::O_NONBLOCK as i64 != 0
}
