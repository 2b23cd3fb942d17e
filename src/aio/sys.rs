//! The kernel calls of the AIO shim that are not atoms of a chain: classifying
//! a descriptor at submission, futex waits that report `EINTR` and timeouts,
//! and the signal mask of the threads the shim starts.
#![allow(unsafe_code)]

use std::sync::atomic::AtomicU32;
use std::time::Duration;

use crate::errno::Errno;

/// What kind of descriptor a request goes to, which decides its atom.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FdKind {
    /// Seekable: `pread64`/`pwrite64`. `probe`: the `RWF_NOWAIT` probe can tell
    /// when the call would block (regular files, block devices).
    Positional {
        /// Whether the inline probe applies.
        probe: bool,
    },
    /// A regular file or block device opened with `O_DIRECT`: positional,
    /// no probe, and queued in the kernel (`io_submit`) when it can be.
    Direct,
    /// Not seekable (pipe, socket, terminal): `read`/`write`, in order.
    /// `probe`: `RWF_NOWAIT` works on it (pipes and sockets); otherwise the
    /// request goes straight to a worker.
    Stream {
        /// Whether the inline probe applies.
        probe: bool,
    },
}

/// Classify `fd` (`EBADF` when it is not open).
pub(crate) fn fd_kind(fd: i32) -> Result<FdKind, Errno> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat writes one `struct stat` to the pointer, which points to
    // enough room on this stack frame.
    let rc = unsafe { libc::fstat(fd, st.as_mut_ptr()) };
    if rc < 0 {
        return Err(last_errno());
    }
    // SAFETY: fstat returned 0, so it filled the struct.
    let mode = unsafe { st.assume_init() }.st_mode & libc::S_IFMT;
    Ok(match mode {
        libc::S_IFREG | libc::S_IFBLK | libc::S_IFDIR => {
            // RWF_NOWAIT on an O_DIRECT descriptor does not say "would block":
            // the read is issued and waited for, inline. No probe for those.
            let direct = fd_flags(fd).is_ok_and(|f| f & libc::O_DIRECT != 0);
            if direct && mode != libc::S_IFDIR {
                FdKind::Direct
            } else {
                FdKind::Positional { probe: !direct }
            }
        }
        libc::S_IFIFO | libc::S_IFSOCK => FdKind::Stream { probe: true },
        _ => {
            // Character devices and the rest: seekable or not, no probe.
            // SAFETY: lseek takes no pointer.
            let seekable = unsafe { libc::lseek(fd, 0, libc::SEEK_CUR) } >= 0;
            if seekable {
                FdKind::Positional { probe: false }
            } else {
                FdKind::Stream { probe: false }
            }
        }
    })
}

/// The file status flags of `fd` (`fcntl(F_GETFL)`), `EBADF` when not open.
pub(crate) fn fd_flags(fd: i32) -> Result<i32, Errno> {
    // SAFETY: F_GETFL takes no pointer.
    let rc = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if rc < 0 {
        Err(last_errno())
    } else {
        Ok(rc)
    }
}

fn last_errno() -> Errno {
    Errno::from_raw(
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO),
    )
}

/// How a futex wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Woken, or the word had changed already (or spuriously).
    Woken,
    /// The timeout passed.
    TimedOut,
    /// A signal handler ran.
    Interrupted,
}

/// Sleep while `word` holds `expected`, at most `timeout`.
///
/// The timeout is measured on `CLOCK_MONOTONIC` (the clock of a relative
/// `FUTEX_WAIT`). A wait with a timeout is never restarted after a signal
/// handler, even with `SA_RESTART`, so `Interrupted` is reported reliably:
/// callers that want no limit pass a long timeout.
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) -> Wake {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(i64::MAX as u64 / 2) as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: FUTEX_WAIT reads the aligned u32 behind `word`, which the shared
    // reference keeps alive for the call (the kernel reads it atomically); `ts`
    // is a timespec on this stack frame. The kernel writes nothing.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            &ts as *const libc::timespec,
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    if rc == 0 {
        return Wake::Woken;
    }
    match last_errno().raw() {
        libc::ETIMEDOUT => Wake::TimedOut,
        libc::EINTR => Wake::Interrupted,
        _ => Wake::Woken,
    }
}

/// Wake every thread sleeping in [`futex_wait`] on `word`.
pub(crate) fn futex_wake_all(word: &AtomicU32) {
    // SAFETY: FUTEX_WAKE only uses the address of `word` as a key.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            i32::MAX,
        );
    }
}

pub(crate) use crate::sys::signals::with_signals_blocked;

/// This process's real user id (for `si_uid`).
pub(crate) fn uid() -> u32 {
    // SAFETY: getuid takes no argument and cannot fail.
    unsafe { libc::getuid() }
}
