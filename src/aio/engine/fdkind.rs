//! The fd-kind cache: how a request's descriptor is classified (positional
//! with or without the `RWF_NOWAIT` probe, `O_DIRECT`, stream) without an
//! `fstat` per request. Only seekable kinds are cached: a cached descriptor
//! reused for a pipe or socket is caught by `ESPIPE`, whereas a cached
//! stream reused for a file would silently read at the file position.

use std::sync::atomic::{AtomicU8, Ordering};

use crate::aio::sys::{self, FdKind};

/// Descriptors known to be positional (regular files, block devices), by
/// number, so that a request on one needs no `fstat`. A descriptor closed and
/// reused for a pipe or socket is caught when `pread64`/`pwrite64` fails with
/// `ESPIPE`: the entry is dropped and the request goes again as a stream
/// request (glibc falls back to `read`/`write` on `ESPIPE` the same way).
#[derive(Debug)]
pub(super) struct KindCache(Box<[AtomicU8]>);

impl KindCache {
    const POSITIONAL_PROBE: u8 = 1;
    const POSITIONAL: u8 = 2;
    const DIRECT: u8 = 3;

    pub(super) fn new() -> KindCache {
        KindCache((0..1024).map(|_| AtomicU8::new(0)).collect())
    }

    #[inline]
    pub(super) fn get(&self, fd: i32) -> Option<FdKind> {
        let slot = self.0.get(usize::try_from(fd).ok()?)?;
        match slot.load(Ordering::Relaxed) {
            Self::POSITIONAL_PROBE => Some(FdKind::Positional { probe: true }),
            Self::POSITIONAL => Some(FdKind::Positional { probe: false }),
            Self::DIRECT => Some(FdKind::Direct),
            _ => None,
        }
    }

    #[inline]
    pub(super) fn set(&self, fd: i32, kind: FdKind) {
        let v = match kind {
            FdKind::Positional { probe: true } => Self::POSITIONAL_PROBE,
            FdKind::Positional { probe: false } => Self::POSITIONAL,
            FdKind::Direct => Self::DIRECT,
            FdKind::Stream { .. } => 0,
        };
        if let Some(slot) = usize::try_from(fd).ok().and_then(|i| self.0.get(i)) {
            slot.store(v, Ordering::Relaxed);
        }
    }

    #[inline]
    pub(super) fn forget(&self, fd: i32) {
        self.set(fd, FdKind::Stream { probe: false });
    }

    /// What kind of descriptor `fd` is (cached for positional ones).
    #[inline]
    pub(super) fn classify(&self, fd: i32) -> FdKind {
        if let Some(k) = self.get(fd) {
            return k;
        }
        match sys::fd_kind(fd) {
            Ok(k) => {
                self.set(fd, k);
                k
            }
            // A bad descriptor still gets its chain: the atom fails with
            // EBADF and the request reports it, as glibc does.
            Err(_) => FdKind::Positional { probe: true },
        }
    }
}
