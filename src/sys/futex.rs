//! `futex(2)` wait and wake on an [`AtomicU32`] of this process: the
//! executor's ring and credits ([`wait`], [`wake`]) and the AIO shim's
//! completion sequence and doorbells ([`wait_timed`], [`wake_all`]).
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
    match futex_wait(word, expected, ts.as_ref()) {
        Ok(()) => Ok(()),
        Err(err) => match err.raw_os_error() {
            Some(libc::EAGAIN | libc::EINTR | libc::ETIMEDOUT) => Ok(()),
            _ => Err(err),
        },
    }
}

/// How a [`wait_timed`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Woken, or the word had changed already (or spuriously).
    Woken,
    /// The timeout passed.
    TimedOut,
    /// A signal handler ran.
    Interrupted,
}

/// Sleep while `word` holds `expected`, at most `timeout`, and say how the
/// wait ended.
///
/// The timeout is measured on `CLOCK_MONOTONIC` (the clock of a relative
/// `FUTEX_WAIT`). A wait with a timeout is never restarted after a signal
/// handler, even with `SA_RESTART`, so `Interrupted` is reported reliably:
/// callers that want no limit pass a long timeout.
pub(crate) fn wait_timed(word: &AtomicU32, expected: u32, timeout: Duration) -> Wake {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(i64::MAX as u64 / 2) as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    match futex_wait(word, expected, Some(&ts)) {
        Ok(()) => Wake::Woken,
        Err(err) => match err.raw_os_error() {
            Some(libc::ETIMEDOUT) => Wake::TimedOut,
            Some(libc::EINTR) => Wake::Interrupted,
            _ => Wake::Woken,
        },
    }
}

/// The one `FUTEX_WAIT` of the crate (relative timeout, `None`: no limit).
fn futex_wait(word: &AtomicU32, expected: u32, ts: Option<&libc::timespec>) -> io::Result<()> {
    let ts_ptr = ts.map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: FUTEX_WAIT reads the aligned u32 behind `word`, which the shared
    // reference keeps alive for the call (an AtomicU32 has the size and alignment
    // of a u32, and the kernel reads it atomically); `ts_ptr` is NULL or points to
    // a timespec the caller's borrow keeps alive. The kernel writes nothing.
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
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Wake up to `n` threads sleeping in [`wait`] on `word`.
pub(crate) fn wake(word: &AtomicU32, n: i32) {
    if crate::fault::active(crate::fault::Fault::Futex) {
        return;
    }
    futex_wake(word, n);
}

/// Wake every thread sleeping in [`wait_timed`] on `word` (the AIO shim's
/// wakes, which fault injection leaves alone).
pub(crate) fn wake_all(word: &AtomicU32) {
    futex_wake(word, i32::MAX);
}

/// The one `FUTEX_WAKE` of the crate.
fn futex_wake(word: &AtomicU32, n: i32) {
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
