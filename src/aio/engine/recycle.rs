//! Recycling: finished one-atom `pread64` and `pwrite64` batches are kept
//! and re-aimed at the next request of their kind, so that the usual request
//! neither builds nor validates a chain nor allocates. Boxed: the executor
//! takes and gives back boxes, so a batch moves as a pointer.

use std::sync::Mutex;

use syslets_abi::signature::Io;

use super::{lock, Engine};
use crate::confine::validate::ValidatedBatch;

/// Most spare batches kept per kind (a few more than the requests usually in
/// flight at once; the rest are dropped).
const SPARES: usize = 64;

/// The spare batches: `pread64` (0) and `pwrite64` (1).
#[derive(Debug, Default)]
pub(super) struct Spares(#[allow(clippy::vec_box)] [Mutex<Vec<Box<ValidatedBatch<'static>>>>; 2]);

impl Spares {
    /// A spare batch of a `pwrite64` (`write`) or `pread64`, to re-aim.
    #[inline]
    pub(super) fn take(&self, write: bool) -> Option<Box<ValidatedBatch<'static>>> {
        lock(&self.0[write as usize]).pop()
    }

    /// Keep a finished batch as a spare if it is a one-atom `pread64` or
    /// `pwrite64` (the chains of the fast path), else drop it.
    #[inline]
    pub(super) fn keep(&self, batch: Box<ValidatedBatch<'static>>) {
        if batch.len() != 1 {
            return;
        }
        let write = match batch.step(0).sig().io {
            Io::Pread => false,
            Io::Pwrite => true,
            _ => return,
        };
        let mut spares = lock(&self.0[write as usize]);
        if spares.len() < SPARES {
            spares.push(batch);
        }
    }
}

impl Engine {
    /// Keep a finished batch for reuse, or drop it ([`Spares::keep`]).
    #[inline]
    pub(super) fn recycle(&self, batch: Box<ValidatedBatch<'static>>) {
        self.spares.keep(batch);
    }
}
