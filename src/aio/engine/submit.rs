//! Submission: admission (the request limit, one request per aiocb), the
//! lock-free fast path for requests outside any lane, registration of the
//! rest, and launching batches into their executors — with whatever an
//! inline completion releases.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::list::List;
use super::notify::Notice;
use super::pools::Class;
use super::port::{self, SubmittedBox, Ticket};
use super::requests::{Launch, Op, Phase, Req, Request};
use super::wake::completed;
use super::{lock, Engine};
use crate::aio::cb::Notify;
use crate::aio::sys::{self, FdKind};
use crate::confine::validate::ValidatedBatch;
use crate::errno::Errno;

impl Engine {
    /// Build the chain of a request and hand it over. On `Err`, nothing was
    /// queued and the aiocb was not touched.
    ///
    /// A request outside any lane (a read or `pwrite64` of a seekable fd) takes
    /// the fast path: it is submitted without entering the request table, and
    /// registered only if the executor queued it — a request that completes
    /// inline costs no lock. Lanes and syncs register first.
    ///
    /// `budget` is what is left of the inline byte budget for this call
    /// (one request, or one `lio_listio`): a file read or write the probe
    /// covers completes inline only if it fits, and uses it up; a larger
    /// one goes straight to a worker, so that the copying overlaps with the
    /// caller and uses another core.
    pub(crate) fn submit(
        self: &Arc<Self>,
        req: Request,
        list: Option<&Arc<List>>,
        budget: &mut usize,
    ) -> Result<(), Errno> {
        if self.closing.load(Ordering::Relaxed) || !self.current() {
            return Err(Errno::EAGAIN);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let kind = match req.op {
            Op::Sync { .. } => None,
            Op::Read | Op::Write => Some(self.kinds.classify(req.fd)),
        };
        // O_DIRECT reads and positional writes go to the kernel queue (no
        // chain); the rest, and those it refuses, are chains.
        let kernel = kind == Some(FdKind::Direct)
            && self.config.kernel_aio
            && (req.op == Op::Read
                || !sys::fd_flags(req.fd).is_ok_and(|f| f & libc::O_APPEND != 0));
        let inline = match kind {
            Some(FdKind::Positional { probe: true }) => match budget.checked_sub(req.buf.len()) {
                Some(left) => {
                    *budget = left;
                    true
                }
                None => {
                    // The rest of a list goes to workers too.
                    *budget = 0;
                    false
                }
            },
            _ => true,
        };
        let (batch, lane, positional, class) = if kernel {
            (None, None, true, Class::Direct)
        } else {
            let (b, lane, positional, class) =
                self.build(id, req.fd, req.op, &req.buf, req.offset, kind, inline)?;
            (Some(b), lane, positional, class)
        };
        let notice = match req.notify {
            // The common case, without a call.
            Notify::None => Notice::None,
            _ => Notice::build(&req.notify, &self.policy)?,
        };
        // Admission: the request limit, and one request per aiocb (its
        // status word says "in progress" from here on).
        // The limit counts requests until `aio_return` (see `Quota`); a
        // request on an aiocb whose last one was never returned frees that
        // one's place first (`claim`).
        let previous = match req.cb.claim() {
            Ok(w) => Some(w),
            // In progress. (An aiocb whose status word only looks in
            // progress — copied into a forked child, say — is taken over.)
            Err(_) if self.busy(req.cb.addr()) => return Err(Errno::EINVAL),
            Err(_) => None,
        };
        if !self.quota.take(self.config.max_requests) {
            if let Some(w) = previous {
                req.cb.unclaim(w);
            }
            return Err(Errno::EAGAIN);
        }
        self.count.fetch_add(1, Ordering::AcqRel);
        req.cb.start(&self.quota);
        if let Some(l) = list {
            l.add();
        }
        let mut req = Req {
            cb: req.cb,
            fd: req.fd,
            op: req.op,
            buf: req.buf,
            offset: req.offset,
            positional,
            class,
            lane,
            seq: 0,
            phase: Phase::Submitting,
            notice,
            list: list.cloned(),
        };
        let Some(batch) = batch else {
            self.submit_kernel(id, req);
            return Ok(());
        };
        if lane.is_none() && !req.sync() {
            self.fast(id, req, batch);
            return Ok(());
        }
        let launch = {
            let mut st = lock(&self.state);
            let launch = if st.register(id, &mut req) {
                Some(batch)
            } else {
                req.phase = Phase::Held(batch);
                None
            };
            st.reqs.insert(id, req);
            launch
        };
        if let Some(batch) = launch {
            self.launch_one((id, class, batch));
        }
        Ok(())
    }

    /// Submit a request outside any lane before registering it.
    fn fast(self: &Arc<Self>, id: u64, req: Req, batch: Box<ValidatedBatch<'static>>) {
        let class = req.class;
        match port::submit(&self.exec(class).ex, batch) {
            Ok(SubmittedBox::Done(done)) => {
                let status = done.completion().status();
                if status == -(libc::ESPIPE as i64) && req.positional {
                    // Not seekable after all: register it and let `finish`
                    // turn it into a stream request.
                    self.register_late(id, req, None);
                    self.launch_released(self.finish(id, status));
                    return;
                }
                let Req {
                    cb, notice, list, ..
                } = req;
                self.publish(cb, status);
                completed();
                self.notify(notice, list);
                self.recycle(done);
            }
            Ok(SubmittedBox::Queued(ticket)) => {
                self.register_late(id, req, Some(ticket));
                self.queued(class);
            }
            // The ring has room for every request (max_requests ≤ ring
            // size), so only a fork can refuse: fail the request.
            Err(_) => {
                self.register_late(id, req, None);
                self.launch_released(self.finish(id, -(libc::EAGAIN as i64)));
            }
        }
    }

    /// Register a fast-path request after its submission. Its completion may
    /// have been processed already (kept in `early`): then finish it now.
    fn register_late(self: &Arc<Self>, id: u64, mut req: Req, ticket: Option<Ticket>) {
        let early = {
            let mut st = lock(&self.state);
            st.register(id, &mut req);
            if let Some(t) = ticket {
                req.phase = Phase::Queued(t);
            }
            st.reqs.insert(id, req);
            st.early.remove(&id)
        };
        if let Some(status) = early {
            self.launch_released(self.finish(id, status));
        }
    }

    /// [`launch`](Self::launch) one batch (the common case: nothing queued).
    pub(super) fn launch_one(self: &Arc<Self>, l: Launch) {
        self.launch_released(self.submit_batch(l));
    }

    /// Hand batches to their executors; process those that complete inline,
    /// and whatever their completion releases.
    pub(super) fn launch(self: &Arc<Self>, mut todo: VecDeque<Launch>) {
        while let Some(l) = todo.pop_front() {
            todo.extend(self.submit_batch(l));
        }
    }

    /// Submit the batch of request `id`; returns what its inline completion
    /// released.
    fn submit_batch(self: &Arc<Self>, (id, class, batch): Launch) -> Vec<Launch> {
        match port::submit(&self.exec(class).ex, batch) {
            Ok(SubmittedBox::Done(done)) => {
                let next = self.finish(id, done.completion().status());
                self.recycle(done);
                next
            }
            Ok(SubmittedBox::Queued(ticket)) => {
                {
                    let mut st = lock(&self.state);
                    if let Some(r) = st.reqs.get_mut(&id) {
                        if matches!(r.phase, Phase::Submitting) {
                            r.phase = Phase::Queued(ticket);
                        }
                    }
                }
                self.queued(class);
                Vec::new()
            }
            // The ring has room for every request (max_requests ≤ ring
            // size), so only a fork can refuse: fail the request.
            Err(_) => self.finish(id, -(libc::EAGAIN as i64)),
        }
    }

    /// [`launch`](Self::launch) what a finished request released, if
    /// anything (the common case: nothing).
    #[inline]
    pub(super) fn launch_released(self: &Arc<Self>, next: Vec<Launch>) {
        if !next.is_empty() {
            self.launch(next.into());
        }
    }
}
