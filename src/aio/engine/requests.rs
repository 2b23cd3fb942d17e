//! The request table: what a request is (as taken from its aiocb, and as
//! the engine keeps it while it runs), where it stands, and the maps that
//! find it by id and by aiocb address. A request is in the table from
//! registration until its outcome is published; one outside any lane enters
//! it only if it did not complete inline (the fast path takes no lock).

use std::sync::Arc;

use super::hash::Map;
use super::lanes::{Lane, Lanes, Place};
use super::list::List;
use super::notify::Notice;
use super::pools::Class;
use super::port::Ticket;
use crate::aio::cb::{CbPtr, Notify, RawBuf};
use crate::confine::validate::ValidatedBatch;

/// What a request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// `aio_read`, `LIO_READ`.
    Read,
    /// `aio_write`, `LIO_WRITE`.
    Write,
    /// `aio_fsync`: `fdatasync` when `data_only` (`O_DSYNC`), else `fsync`.
    Sync {
        /// `O_DSYNC`.
        data_only: bool,
    },
}

/// A request as taken from its aiocb.
#[derive(Debug)]
pub(crate) struct Request {
    pub cb: CbPtr,
    pub fd: i32,
    pub op: Op,
    pub buf: RawBuf,
    pub offset: i64,
    pub notify: Notify,
}

/// A batch ready to hand to its executor.
pub(super) type Launch = (u64, Class, Box<ValidatedBatch<'static>>);

/// Where a request stands.
#[derive(Debug)]
pub(super) enum Phase {
    /// Waiting behind another request of its fd (its batch ready).
    Held(Box<ValidatedBatch<'static>>),
    /// Being handed to the executor.
    Submitting,
    /// In the executor.
    Queued(Ticket),
    /// Queued in the kernel (`io_submit`): its event comes through the
    /// kernel queue's ring. It cannot be cancelled.
    Kernel,
}

/// A request while the engine holds it.
#[derive(Debug)]
pub(super) struct Req {
    pub(super) cb: CbPtr,
    pub(super) fd: i32,
    pub(super) op: Op,
    /// Kept to rebuild the chain for the `ESPIPE` fallback.
    pub(super) buf: RawBuf,
    pub(super) offset: i64,
    /// The chain is positional (`pread64`/`pwrite64`).
    pub(super) positional: bool,
    /// The executor it goes to.
    pub(super) class: Class,
    pub(super) lane: Option<Lane>,
    /// Registration order on its fd (for the fsync barrier).
    pub(super) seq: u64,
    pub(super) phase: Phase,
    pub(super) notice: Notice,
    pub(super) list: Option<Arc<List>>,
}

impl Req {
    /// Whether it is an `aio_fsync`.
    #[inline]
    pub(super) fn sync(&self) -> bool {
        matches!(self.op, Op::Sync { .. })
    }

    /// Where it stands in its fd's ordering.
    #[inline]
    fn place(&self) -> Place {
        Place {
            fd: self.fd,
            sync: self.sync(),
            lane: self.lane,
        }
    }
}

/// The table, under the engine's one lock.
#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) reqs: Map<u64, Req>,
    pub(super) by_addr: Map<usize, u64>,
    pub(super) fds: Lanes,
    /// Completions of fast-path requests processed before the submitter
    /// registered them (it finishes them when it does).
    pub(super) early: Map<u64, i64>,
    /// Requests cancelled while queued in the executor, whose (cancelled)
    /// completion is still to come through the ring and must be ignored.
    pub(super) canceled: Map<u64, ()>,
}

impl State {
    /// Enter `req` into its fd's bookkeeping (and the address table):
    /// whether it may run now (false: held in its lane or behind earlier
    /// requests, for a sync).
    #[inline]
    pub(super) fn register(&mut self, id: u64, req: &mut Req) -> bool {
        self.by_addr.insert(req.cb.addr(), id);
        let (seq, now) = self.fds.register(id, req.place());
        req.seq = seq;
        now
    }

    /// Take request `id` (removed from `reqs` already) out of the address
    /// table and its fd's bookkeeping; returns the held requests that may
    /// run now.
    #[inline]
    pub(super) fn unregister(&mut self, id: u64, req: &Req) -> Vec<u64> {
        self.by_addr.remove(&req.cb.addr());
        self.fds.retire(id, req.place(), req.seq)
    }

    /// Take the held batch of `id` to launch it.
    pub(super) fn take_held(&mut self, id: u64) -> Option<Launch> {
        let r = self.reqs.get_mut(&id)?;
        match std::mem::replace(&mut r.phase, Phase::Submitting) {
            Phase::Held(b) => Some((id, r.class, b)),
            other => {
                r.phase = other;
                None
            }
        }
    }
}
