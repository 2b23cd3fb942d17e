//! The kernel queue path: `O_DIRECT` reads and positional writes are queued
//! in the kernel with `io_submit` (no worker carries them), and one reaper
//! thread finishes their events. What the kernel refuses — at submission, or
//! later with `-EAGAIN` from the block layer — goes to a `Direct` worker as
//! a chain instead.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::requests::{Op, Phase, Req};
use super::wake::{completed, FOREVER};
use super::{lock, spawn, Engine};
use crate::aio::sys::FdKind;
use crate::sys::kernel_aio::{KernelQueue, Refused};

/// Most requests in the kernel queue at once (the kernel counts twice this
/// against the system-wide `/proc/sys/fs/aio-max-nr`); more go to workers.
const KERNEL_QUEUE_DEPTH: u32 = 256;

/// In `early`: the kernel refused a request after `io_submit` took it
/// (`-EAGAIN` from the block layer) before it was registered.
const KERNEL_REFUSED: i64 = i64::MIN;

impl Engine {
    /// The kernel queue, set up on first use (None when the kernel has no
    /// AIO for us or its reaper thread could not start: workers then).
    fn kernel_queue(self: &Arc<Self>) -> Option<&KernelQueue> {
        self.kernel
            .get_or_init(|| {
                let q = KernelQueue::new(KERNEL_QUEUE_DEPTH.min(self.config.max_requests as u32))
                    .ok()?;
                let me = Arc::clone(self);
                let spawned = spawn("aio-kernel", move || me.reaper_loop());
                *lock(&self.reaper) = Some(spawned.ok()?);
                Some(q)
            })
            .as_ref()
    }

    /// Queue request `id` in the kernel, then register it; to a worker when
    /// the kernel refuses it.
    pub(super) fn submit_kernel(self: &Arc<Self>, id: u64, req: Req) {
        let Some(q) = self.kernel_queue() else {
            return self.register_for_workers(id, req);
        };
        let mut tries = 0;
        loop {
            match q.submit(req.fd, req.op == Op::Write, &req.buf, req.offset, id) {
                Ok(()) => {
                    self.kernel_requests.fetch_add(1, Ordering::Relaxed);
                    return self.register_kernel(id, req);
                }
                // Full (events not reaped yet) or busy: reap once, try again.
                Err(Refused::WouldBlock) if tries == 0 && q.in_flight() > 0 => {
                    tries += 1;
                    self.reap_kernel();
                }
                Err(Refused::WouldBlock) => break,
                Err(Refused::Unsupported(_)) => {
                    // Not for this descriptor (or file system): workers from
                    // now on.
                    self.kinds.set(req.fd, FdKind::Positional { probe: false });
                    break;
                }
            }
        }
        self.register_for_workers(id, req);
    }

    /// Register a request queued in the kernel. Its event may have been
    /// reaped already (kept in `early`): then finish it now, or send it to a
    /// worker if the kernel refused it after all.
    fn register_kernel(self: &Arc<Self>, id: u64, mut req: Req) {
        req.phase = Phase::Kernel;
        let early = {
            let mut st = lock(&self.state);
            st.register(id, &mut req);
            st.reqs.insert(id, req);
            st.early.remove(&id)
        };
        match early {
            None => {}
            Some(KERNEL_REFUSED) => self.to_workers(id),
            Some(status) => self.launch_released(self.finish(id, status)),
        }
    }

    /// Register a direct request that goes to a worker without the kernel
    /// queue, and launch it.
    fn register_for_workers(self: &Arc<Self>, id: u64, mut req: Req) {
        req.phase = Phase::Kernel;
        {
            let mut st = lock(&self.state);
            st.register(id, &mut req);
            st.reqs.insert(id, req);
        }
        self.to_workers(id);
    }

    /// Send registered request `id` (in phase `Kernel`, not in the kernel
    /// queue) to a worker of the `Direct` pool as a chain.
    fn to_workers(self: &Arc<Self>, id: u64) {
        let launch = {
            let mut st = lock(&self.state);
            let Some(r) = st.reqs.get_mut(&id) else {
                return;
            };
            debug_assert!(matches!(r.phase, Phase::Kernel));
            let positional = Some(FdKind::Positional { probe: false });
            match self.build(id, r.fd, r.op, &r.buf, r.offset, positional, true) {
                Ok((batch, _, _, class)) => {
                    r.phase = Phase::Submitting;
                    r.class = class;
                    Ok((id, class, batch))
                }
                Err(e) => Err(e),
            }
        };
        match launch {
            Ok(l) => self.launch_one(l),
            Err(e) => self.launch_released(self.finish(id, -(e.raw() as i64))),
        }
    }

    /// Take the events the kernel queue has and finish their requests (a
    /// request the block layer refused, `-EAGAIN`, goes to a worker).
    /// Returns how many; 0 also when another thread is reaping.
    pub(super) fn reap_kernel(self: &Arc<Self>) -> usize {
        let Some(Some(q)) = self.kernel.get() else {
            return 0;
        };
        let mut todo = VecDeque::new();
        let mut refused = Vec::new();
        let n = q
            .reap(|id, res| {
                if res == -(libc::EAGAIN as i64) {
                    refused.push(id);
                } else {
                    todo.extend(self.finish_waking(id, res, false));
                }
            })
            .unwrap_or(0);
        if n > refused.len() {
            // One wake-up for the batch (see `finish_waking`).
            completed();
        }
        for id in refused {
            let fd = {
                let mut st = lock(&self.state);
                let fd = st.reqs.get(&id).map(|r| r.fd);
                if fd.is_none() {
                    // Not registered yet: its submitter sends it on.
                    st.early.insert(id, KERNEL_REFUSED);
                }
                fd
            };
            if let Some(fd) = fd {
                // Classified again on its next request: it may not be an
                // O_DIRECT file any more.
                self.kinds.forget(fd);
                self.to_workers(id);
            }
        }
        self.launch(todo);
        n
    }

    /// The kernel queue's reaper: sleeps in `poll` on its eventfd, which
    /// every completion signals, and finishes what the ring holds.
    fn reaper_loop(self: Arc<Self>) {
        // Started from inside the `kernel` initialiser, which stores the
        // queue right after the spawn.
        let q = loop {
            match self.kernel.get() {
                Some(Some(q)) => break q,
                Some(None) => return,
                None => std::thread::yield_now(),
            }
        };
        loop {
            self.reap_kernel();
            if self.stop.load(Ordering::SeqCst) && q.in_flight() == 0 {
                return;
            }
            q.wait(FOREVER);
        }
    }
}
