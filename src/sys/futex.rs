//! `futex(2)` wait and wake on an [`AtomicU32`] of this process.
#![allow(unsafe_code)]

use std::io;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// Sleep while `word` holds `expected`, at most `timeout` (`None`: no limit).
///
/// Returns at once if `word` no longer holds `expected`; may also return
/// spuriously (a signal, a wake for another value), so callers re-check their
/// condition in a loop. An error means the kernel refused to sleep at all
/// (not a timeout, a signal or a changed value): callers then yield and poll.
pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> io::Result<()> {
    if crate::fault::active(crate::fault::Fault::Futex) {
        return Err(io::Error::from_raw_os_error(libc::ENOSYS));
    }
    let ts = timeout.map(|d| libc::timespec {
        tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: FUTEX_WAIT reads the aligned u32 behind `word`, which the shared
    // reference keeps alive for the call (an AtomicU32 has the size and alignment
    // of a u32, and the kernel reads it atomically); `ts_ptr` is NULL or points to
    // a timespec on this stack frame. The kernel writes nothing.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            ts_ptr,
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EAGAIN | libc::EINTR | libc::ETIMEDOUT) => Ok(()),
        _ => Err(err),
    }
}

/// Wake up to `n` threads sleeping in [`wait`] on `word`.
pub(crate) fn wake(word: &AtomicU32, n: i32) {
    if crate::fault::active(crate::fault::Fault::Futex) {
        return;
    }
    // SAFETY: FUTEX_WAKE only uses the address of `word` as a key to find
    // waiters; it neither reads nor writes memory.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            n,
        );
    }
}
