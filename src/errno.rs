//! [`Errno`]: an error number returned by a system call.

use std::fmt;
use std::io;

/// A Linux error number (`EBADF`, `ENOENT`, …), as an atom's negative return
/// value carries it. Converts into [`io::Error`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(i32);

impl Errno {
    /// `EINVAL`.
    pub const EINVAL: Errno = Errno(libc::EINVAL);
    /// `EFAULT`.
    pub const EFAULT: Errno = Errno(libc::EFAULT);
    /// `ENOENT`.
    pub const ENOENT: Errno = Errno(libc::ENOENT);
    /// `EBADF`.
    pub const EBADF: Errno = Errno(libc::EBADF);
    /// `EAGAIN`.
    pub const EAGAIN: Errno = Errno(libc::EAGAIN);
    /// `ECANCELED`.
    pub const ECANCELED: Errno = Errno(libc::ECANCELED);

    /// Wrap a raw positive error number.
    pub const fn from_raw(errno: i32) -> Self {
        Errno(errno)
    }

    /// The raw positive error number.
    pub const fn raw(self) -> i32 {
        self.0
    }

    /// Split a raw syscall return value: `-4095..=-1` is an error, anything else a value.
    pub const fn result(ret: i64) -> Result<i64, Errno> {
        if ret < 0 && ret >= -4095 {
            Err(Errno(-ret as i32))
        } else {
            Ok(ret)
        }
    }

    /// The symbolic name (`"ENOENT"`), when known.
    pub fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            libc::EPERM => "EPERM",
            libc::ENOENT => "ENOENT",
            libc::EINTR => "EINTR",
            libc::EIO => "EIO",
            libc::EBADF => "EBADF",
            libc::EAGAIN => "EAGAIN",
            libc::ENOMEM => "ENOMEM",
            libc::EACCES => "EACCES",
            libc::EFAULT => "EFAULT",
            libc::EEXIST => "EEXIST",
            libc::ENOTDIR => "ENOTDIR",
            libc::EISDIR => "EISDIR",
            libc::EINVAL => "EINVAL",
            libc::EMFILE => "EMFILE",
            libc::ENOSPC => "ENOSPC",
            libc::ESPIPE => "ESPIPE",
            libc::EPIPE => "EPIPE",
            libc::ENOSYS => "ENOSYS",
            libc::ENOTSOCK => "ENOTSOCK",
            libc::EAFNOSUPPORT => "EAFNOSUPPORT",
            libc::EADDRINUSE => "EADDRINUSE",
            libc::ECONNRESET => "ECONNRESET",
            libc::ENOTCONN => "ENOTCONN",
            libc::ETIMEDOUT => "ETIMEDOUT",
            libc::ECONNREFUSED => "ECONNREFUSED",
            libc::EINPROGRESS => "EINPROGRESS",
            libc::ECANCELED => "ECANCELED",
            _ => return None,
        })
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "Errno({})", self.0),
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = io::Error::from_raw_os_error(self.0);
        match self.name() {
            Some(name) => write!(f, "{name}: {text}"),
            None => write!(f, "{text}"),
        }
    }
}

impl std::error::Error for Errno {}

impl From<Errno> for io::Error {
    fn from(e: Errno) -> io::Error {
        io::Error::from_raw_os_error(e.0)
    }
}
