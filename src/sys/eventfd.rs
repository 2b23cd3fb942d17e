//! The completion eventfd: a counter the ring bumps on every posted completion,
//! so that poll/epoll (and so mio/tokio) can wait for completions.
#![allow(unsafe_code)]

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// A non-blocking, close-on-exec eventfd.
#[derive(Debug)]
pub(crate) struct EventFd(File);

impl EventFd {
    /// A new eventfd with counter 0.
    pub(crate) fn new() -> io::Result<Self> {
        if crate::fault::active(crate::fault::Fault::Eventfd) {
            return Err(io::Error::from_raw_os_error(libc::EMFILE));
        }
        // SAFETY: eventfd takes no pointer; it returns a new descriptor or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by eventfd and nothing else owns it.
        Ok(EventFd(File::from(unsafe { OwnedFd::from_raw_fd(fd) })))
    }

    /// Add one to the counter (makes the fd readable).
    pub(crate) fn signal(&self) {
        if crate::fault::active(crate::fault::Fault::Eventfd) {
            return;
        }
        // An eventfd write of 8 bytes fails only when the counter would overflow
        // (2^64 - 2 unread events), and then it is readable anyway.
        let _ = (&self.0).write(&1u64.to_ne_bytes());
    }

    /// Read and reset the counter; 0 when it was already 0.
    pub(crate) fn drain(&self) -> u64 {
        if crate::fault::active(crate::fault::Fault::Eventfd) {
            return 0;
        }
        let mut buf = [0u8; 8];
        match (&self.0).read(&mut buf) {
            Ok(8) => u64::from_ne_bytes(buf),
            _ => 0,
        }
    }
}

impl AsFd for EventFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl AsRawFd for EventFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}
