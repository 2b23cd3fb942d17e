//! What the AIO shim asks the kernel outside the atoms of a chain, issued
//! by [`crate::sys`]: classifying a descriptor at submission, futex waits that
//! report `EINTR` and timeouts, and the signal mask and user id of the
//! threads the shim starts.

use crate::errno::Errno;
use crate::sys::fd;
pub(crate) use crate::sys::fd::status_flags as fd_flags;
pub(crate) use crate::sys::futex::{wait_timed as futex_wait, wake_all as futex_wake_all, Wake};
pub(crate) use crate::sys::signals::{uid, with_signals_blocked};

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
    let mode = fd::file_type(fd)?;
    Ok(match mode {
        libc::S_IFREG | libc::S_IFBLK | libc::S_IFDIR => {
            // RWF_NOWAIT on an O_DIRECT descriptor does not say "would block":
            // the read is issued and waited for, inline. No probe for those.
            let direct = fd::status_flags(fd).is_ok_and(|f| f & libc::O_DIRECT != 0);
            if direct && mode != libc::S_IFDIR {
                FdKind::Direct
            } else {
                FdKind::Positional { probe: !direct }
            }
        }
        libc::S_IFIFO | libc::S_IFSOCK => FdKind::Stream { probe: true },
        // Character devices and the rest: seekable or not, no probe.
        _ if fd::seekable(fd) => FdKind::Positional { probe: false },
        _ => FdKind::Stream { probe: false },
    })
}
