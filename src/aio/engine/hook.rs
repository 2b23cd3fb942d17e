//! Hook delivery: the completion hook each executor calls on the worker
//! that finished a chain, so that the worker publishes the outcome itself —
//! no completion thread, no second hand-off — whenever that needs nothing a
//! seccomp-filtered worker may not do. Everything else is given back to the
//! ring for the completion thread (`pools`).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::notify::Notice;
use super::pools::{Class, CLASSES};
use super::port::{self, HookFn, Retire};
use super::wake::completed;
use super::{lock, Engine};
use crate::confine::validate::ValidatedBatch;

impl Engine {
    /// Install the completion hook of every executor. A hook holds the
    /// engine weakly (the engine owns the executors) and counts itself in
    /// `hooks` while it runs, so that `close` can wait for the last one.
    pub(super) fn install_hooks(self: &Arc<Self>) {
        for c in CLASSES {
            let weak = Arc::downgrade(self);
            let hooks = Arc::clone(&self.hooks);
            let hook: Box<HookFn> = Box::new(move |_ticket, batch, retire| {
                hooks.fetch_add(1, Ordering::SeqCst);
                let back = match weak.upgrade() {
                    Some(e) => e.deliver(c, batch, retire),
                    // Being dropped: its executors reap and drop the rest.
                    None => Some(batch),
                };
                hooks.fetch_sub(1, Ordering::SeqCst);
                back
            });
            port::set_completion_hook(&self.exec(c).ex, hook);
        }
    }

    /// The completion hook of executor `class`: finish the request of a
    /// chain that a worker just ran, on that worker (no completion thread),
    /// when that needs nothing a seccomp-filtered worker may not do and
    /// releases no other request (docs/aio.md, "Completions: who publishes"):
    ///
    /// * the request is registered (a fast-path request whose submitter has
    ///   not registered it yet goes through the ring and `early`);
    /// * not `ESPIPE` (the stream fallback resubmits: may start workers);
    /// * no ordering lane, no list, and for a data request no `aio_fsync`
    ///   waiting on its fd: then `retire` releases nothing (no launch, which
    ///   may start threads);
    /// * its notification is none, a signal (the validated
    ///   `rt_tgsigqueueinfo` chain, which the workers' filter allows for this
    ///   process), or a `SIGEV_THREAD` function while the notifier thread
    ///   runs (queueing starts no thread).
    ///
    /// Anything else is given back (counted for the completion thread, which
    /// is woken) and posted to the ring as before.
    pub(super) fn deliver(
        &self,
        class: Class,
        batch: Box<ValidatedBatch<'static>>,
        retire: &Retire<'_>,
    ) -> Option<Box<ValidatedBatch<'static>>> {
        let c = batch.completion();
        let (id, status) = (c.caller_data(), c.status());
        if status == -(libc::ESPIPE as i64) {
            return self.hand_back(class, batch);
        }
        let notice = {
            let mut st = lock(&self.state);
            let Some(r) = st.reqs.get(&id) else {
                drop(st);
                return self.hand_back(class, batch);
            };
            let releases =
                r.lane.is_some() || r.list.is_some() || (!r.sync() && st.fds.sync_waiting(r.fd));
            let notice_ok = match r.notice {
                Notice::None | Notice::Signal(_) => true,
                Notice::Thread { .. } => self.notifier.running(),
            };
            if releases || !notice_ok {
                drop(st);
                return self.hand_back(class, batch);
            }
            let mut req = st.reqs.remove(&id).expect("looked up above");
            let next = st.unregister(id, &req);
            debug_assert!(next.is_empty(), "a delivered request released {next:?}");
            // The credit before the outcome: the submitter may submit again
            // as soon as it sees it.
            port::retire_now(retire);
            // Published under the lock, as in `finish`.
            let notice = std::mem::replace(&mut req.notice, Notice::None);
            self.publish(req.cb, status);
            notice
        };
        self.delivered.fetch_add(1, Ordering::Relaxed);
        completed();
        notice.fire(&self.notifier);
        self.recycle(batch);
        None
    }

    /// A finished chain the hook does not deliver: count it for the
    /// completion thread of `class` and wake it; the executor posts it.
    fn hand_back(
        &self,
        class: Class,
        batch: Box<ValidatedBatch<'static>>,
    ) -> Option<Box<ValidatedBatch<'static>>> {
        self.exec(class).expect_from_ring();
        Some(batch)
    }
}
