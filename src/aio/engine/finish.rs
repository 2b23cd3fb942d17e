//! Finishing a request: its outcome published into the aiocb (under the
//! table lock, so that `aio_cancel` never answers `AIO_ALLDONE` before the
//! outcome is visible), its waiters woken, its notification fired, and what
//! waited for it on the same descriptor released. A positional request that
//! met `ESPIPE` is not finished but goes again as a stream request.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::list::List;
use super::notify::Notice;
use super::requests::{Launch, Phase, Req, State};
use super::wake::completed;
use super::{lock, Engine};
use crate::aio::cb::CbPtr;
use crate::aio::sys::FdKind;

impl Engine {
    /// Publish `status` into the aiocb of a request leaving the engine, and
    /// count it out.
    #[inline]
    pub(super) fn publish(&self, cb: CbPtr, status: i64) {
        cb.publish(status);
        self.count.fetch_sub(1, Ordering::AcqRel);
    }

    /// Finish request `id` with `status` (≥ 0 or `-errno`): publish, wake,
    /// notify. Returns what may run now. A stale id (cancelled earlier) is
    /// ignored. A positional request that failed with `ESPIPE` goes again as
    /// a stream request instead.
    pub(super) fn finish(&self, id: u64, status: i64) -> Vec<Launch> {
        self.finish_waking(id, status, true)
    }

    /// [`finish`](Self::finish); with `wake` false the waiters of the
    /// completion counter are not woken: the caller calls [`completed`] once for a
    /// batch of requests (a waiter woken for the first would otherwise
    /// preempt the thread finishing the rest).
    pub(super) fn finish_waking(&self, id: u64, status: i64, wake: bool) -> Vec<Launch> {
        let (notice, list, next) = {
            let mut st = lock(&self.state);
            let Some(mut req) = st.reqs.remove(&id) else {
                // Cancelled while queued (published then), or a fast-path
                // request its submitter has not registered yet.
                if st.canceled.remove(&id).is_none() {
                    st.early.insert(id, status);
                }
                return Vec::new();
            };
            if status == -(libc::ESPIPE as i64) && req.positional {
                return self.as_stream(&mut st, id, req).into_iter().collect();
            }
            let next: Vec<_> = st
                .unregister(id, &req)
                .into_iter()
                .filter_map(|n| st.take_held(n))
                .collect();
            let notice = std::mem::replace(&mut req.notice, Notice::None);
            let list = req.list.take();
            // Published under the lock, so that aio_cancel's AIO_ALLDONE
            // always comes after the outcome is visible.
            self.publish(req.cb, status);
            (notice, list, next)
        };
        if wake {
            completed();
        }
        self.notify(notice, list);
        next
    }

    /// Put a positional request that met `ESPIPE` back as a stream request
    /// (`read`/`write`, in its fd's lane). Returns it if it may run now.
    fn as_stream(&self, st: &mut State, id: u64, mut req: Req) -> Option<Launch> {
        self.kinds.forget(req.fd);
        let stream = Some(FdKind::Stream { probe: false });
        let (batch, lane, _, class) = self
            .build(id, req.fd, req.op, &req.buf, req.offset, stream, true)
            .expect("a chain that validated once validates again");
        req.positional = false;
        req.lane = lane;
        req.class = class;
        let lane = lane.expect("stream requests have a lane");
        if st.fds.enter_lane(req.fd, lane, id) {
            req.phase = Phase::Submitting;
            st.reqs.insert(id, req);
            Some((id, class, batch))
        } else {
            req.phase = Phase::Held(batch);
            st.reqs.insert(id, req);
            None
        }
    }

    /// Fire a finished request's notification and count it out of its list.
    #[inline]
    pub(super) fn notify(&self, notice: Notice, list: Option<Arc<List>>) {
        if !matches!(notice, Notice::None) {
            notice.fire(&self.notifier);
        }
        if let Some(l) = list {
            l.done(&self.notifier);
        }
    }
}
