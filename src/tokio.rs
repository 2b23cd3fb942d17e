//! `async` chains on a [tokio](https://docs.rs/tokio) runtime (feature `tokio`).
//!
//! [`AsyncExecutor`] wraps an [`Executor`] and gives it an `async fn`:
//! `executor.run(batch).await` submits the batch and resolves to its [`Done`]
//! (every atom's result, every output buffer, the descriptors its atoms
//! opened), whether the chain completed inline or on a worker.
//!
//! ```
//! use syslets::opcode::Newfstatat;
//! use syslets::tokio::AsyncExecutor;
//! use syslets::{Chain, Executor, Policy, Stat};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let rt = tokio::runtime::Builder::new_multi_thread().enable_io().build()?;
//! rt.block_on(async {
//!     let ex = std::sync::Arc::new(AsyncExecutor::new(Executor::new())?);
//!     let mut tasks = Vec::new();
//!     for path in ["/etc/hostname", "/etc/passwd"] {
//!         let ex = ex.clone();
//!         tasks.push(tokio::spawn(async move {
//!             let mut chain = Chain::new();
//!             let p = chain.path(path);
//!             let st = chain.output::<Stat>();
//!             let stat = chain.push(Newfstatat::new(libc::AT_FDCWD, p, st));
//!             let done = ex.run(chain.prepare(&Policy::default())?).await?;
//!             assert_eq!(done.completion().outcome(stat), Some(Ok(0)));
//!             Ok::<_, Box<dyn std::error::Error + Send + Sync>>(done.batch().output(st).st_size)
//!         }));
//!     }
//!     for (task, path) in tasks.into_iter().zip(["/etc/hostname", "/etc/passwd"]) {
//!         let size = task.await?.map_err(|e| e.to_string())?;
//!         assert_eq!(size as u64, std::fs::metadata(path)?.len());
//!     }
//!     Ok(())
//! })
//! # }
//! ```
//!
//! # How completions reach their `run`
//!
//! * **One reaper per executor**, a task spawned on the runtime that was
//!   current when the [`AsyncExecutor`] was made. It sleeps on the
//!   executor's completion eventfd ([`Executor::attach_eventfd`], which is
//!   non-blocking) through [`AsyncFd`], reaps every posted completion and
//!   hands each to the `run` waiting for its [`Ticket`](crate::Ticket). It
//!   runs whether or not any `run` is being polled, so completions never
//!   pile up in the ring.
//! * **Back-pressure** by waiting, not retrying: every `run` first takes a
//!   permit of a semaphore sized like the ring and gives it back only once
//!   its chain's ring entry is free again (the chain completed inline, or
//!   the reaper reaped it). So the executor can never answer
//!   [`SubmitError::RingFull`], and a `run` that finds the ring full sleeps
//!   (first come, first served) until a reap frees room.
//! * **Cancellation.** Dropping a `run` future never loses anything: before
//!   submission nothing ran and the batch is just dropped; after it, the
//!   chain runs to its end, and the reaper closes the descriptors its atoms
//!   left open (as [`ValidatedBatch::take_fds`] would hand them out) and
//!   frees its ring entry. Other runs are not affected.
//! * **Drop.** Dropping the [`AsyncExecutor`] (which every `run` borrows, so
//!   none is left) stops the reaper and drops the [`Executor`]: chains in
//!   flight are canceled and their descriptors closed, the workers joined
//!   (see "Shutdown, drop and fork" in the executor's docs).
//!
//! A chain that completes inline is returned by the submitting `run` at
//! once, without a ring entry, a channel or a wake-up.

#![allow(unsafe_code)] // registering the eventfd with the runtime's epoll

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll};

use ::tokio::io::unix::AsyncFd;
use ::tokio::io::Interest;
use ::tokio::runtime::Handle;
use ::tokio::sync::{oneshot, Semaphore};
use ::tokio::task::JoinHandle;

use crate::{
    abi, CompletionFd, Done, Executor, ExecutorError, SubmitError, Submitted, ValidatedBatch,
};

/// An [`Executor`] with an `async fn` [`run`](AsyncExecutor::run) for tokio.
///
/// `Send + Sync`: share it with an `Arc` and call `run` from as many tasks as
/// you like. It is the executor's only reaper; see the [module docs](self).
pub struct AsyncExecutor {
    shared: Arc<Shared>,
    reaper: JoinHandle<()>,
}

/// Why [`AsyncExecutor::run`] gave no completion.
#[derive(Debug)]
#[non_exhaustive]
pub enum RunError {
    /// The executor refused the batch (nothing of it ran); the batch is in
    /// the error ([`SubmitError::into_batch`]).
    Refused(SubmitError),
    /// The batch has `BATCH_NO_COMPLETE`: it never posts a completion, so
    /// there is nothing to await. Submit it with [`Executor::submit`].
    NoCompletion(Box<ValidatedBatch<'static>>),
    /// The reaper stopped (the eventfd failed, the process forked, or the
    /// runtime it ran on shut down), so no completion can be delivered. A
    /// chain already submitted still runs; its descriptors are closed when
    /// the executor is dropped.
    Stopped,
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Refused(e) => e.fmt(f),
            RunError::NoCompletion(_) => f.write_str(
                "the batch has BATCH_NO_COMPLETE: it posts no completion to await; use Executor::submit",
            ),
            RunError::Stopped => f.write_str("the executor's reaper stopped; no completion can be delivered"),
        }
    }
}

impl std::error::Error for RunError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RunError::Refused(e) => Some(e),
            _ => None,
        }
    }
}

struct Shared {
    executor: Executor,
    /// One permit per ring entry; held by a `run` from before its submission
    /// until its entry is free again.
    space: Semaphore,
    dispatch: Mutex<Dispatch>,
}

#[derive(Default)]
struct Dispatch {
    /// Tickets of the queued chains: their `run` waiting, or a completion
    /// reaped before its `run` registered.
    slots: HashMap<u64, Slot>,
    /// The reaper has stopped: nothing new is registered.
    stopped: bool,
}

enum Slot {
    /// The `run` awaits the receiver (or was dropped: then the send fails).
    Waiting(oneshot::Sender<Done>),
    /// Reaped between `submit` returning and the `run` registering.
    Early(Done),
}

impl Shared {
    fn dispatch(&self) -> MutexGuard<'_, Dispatch> {
        // A panic while holding the lock leaves the map consistent (each
        // operation is one insert or remove).
        self.dispatch.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hand a reaped completion to its `run`, or close what it left open if
    /// the `run` is gone. Its ring entry is free now: give the permit back.
    fn deliver(&self, done: Done) {
        let ticket = done.ticket().as_u64();
        let mut dispatch = self.dispatch();
        match dispatch.slots.remove(&ticket) {
            Some(Slot::Waiting(tx)) => {
                drop(dispatch);
                self.space.add_permits(1);
                if let Err(done) = tx.send(done) {
                    dispose(done);
                }
            }
            // Its `run` is between `submit` and registering; it gives the
            // permit back when it takes the completion.
            None => {
                dispatch.slots.insert(ticket, Slot::Early(done));
            }
            Some(Slot::Early(_)) => unreachable!("tickets are unique"),
        }
    }

    /// No more completions will be delivered: wake every waiting `run` (its
    /// sender is dropped) and every `run` waiting for ring space.
    fn stop(&self) {
        let slots = {
            let mut dispatch = self.dispatch();
            dispatch.stopped = true;
            std::mem::take(&mut dispatch.slots)
        };
        for slot in slots.into_values() {
            if let Slot::Early(done) = slot {
                dispose(done);
            }
        }
        self.space.close();
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Completions reaped for a `run` that never registered: none can be
        // left (every `run` borrows the AsyncExecutor), but never leak fds.
        let dispatch = self.dispatch.get_mut().unwrap_or_else(|e| e.into_inner());
        for (_, slot) in dispatch.slots.drain() {
            if let Slot::Early(done) = slot {
                dispose(done);
            }
        }
    }
}

/// A completion nobody will read: close the descriptors its atoms left open.
fn dispose(mut done: Done) {
    drop(done.batch_mut().take_fds());
}

impl AsyncExecutor {
    /// Take over `executor` and spawn its reaper on the current tokio runtime
    /// (which needs its IO driver: `enable_io` or `enable_all`).
    ///
    /// Fails if there is no current runtime, if the eventfd cannot be made,
    /// or if `executor` has completions this adapter would not know whom to
    /// give (chains in flight or completions not reaped): start from a fresh
    /// one, or reap it first.
    pub fn new(executor: Executor) -> io::Result<AsyncExecutor> {
        let handle = Handle::try_current().map_err(|e| io::Error::other(e.to_string()))?;
        if executor.in_flight() != 0 || executor.ready() != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the executor has chains in flight or completions not reaped",
            ));
        }
        let eventfd = executor.attach_eventfd().map_err(executor_io)?;
        let eventfd = {
            let _enter = handle.enter();
            // SAFETY: `register_with_interest` needs the descriptor open, and
            // the same, for the AsyncFd's whole life. A `CompletionFd` keeps
            // the executor state that owns the eventfd alive (an `Arc`), the
            // eventfd is never closed or replaced while that state lives (it
            // is attached once), and `as_raw_fd` always returns it; the
            // AsyncFd owns this `CompletionFd`, so both outlive the
            // registration.
            unsafe { AsyncFd::register_with_interest(eventfd, Interest::READABLE) }
                .map_err(io::Error::from)?
        };
        let elements = executor.ring_header().elements as usize;
        let shared = Arc::new(Shared {
            executor,
            space: Semaphore::new(elements),
            dispatch: Mutex::default(),
        });
        let reaper = handle.spawn(reap(ReaperGuard(Arc::downgrade(&shared)), eventfd));
        Ok(AsyncExecutor { shared, reaper })
    }

    /// Submit `batch` and wait for its completion: at once when it completes
    /// inline, else when a worker has posted it and the reaper has reaped it.
    /// Waits for ring space first when the ring is full.
    ///
    /// Cancel-safe in the sense of the [module docs](self#how-completions-reach-their-run):
    /// a dropped future loses no completion and leaks no descriptor.
    pub async fn run(&self, batch: ValidatedBatch<'static>) -> Result<Done, RunError> {
        if batch.flags() & abi::BATCH_NO_COMPLETE != 0 {
            return Err(RunError::NoCompletion(Box::new(batch)));
        }
        let sh = &*self.shared;
        // Closed only when the reaper stopped.
        let permit = sh.space.acquire().await.map_err(|_| RunError::Stopped)?;
        let ticket = match sh.executor.submit(batch) {
            Ok(Submitted::Done(done)) => return Ok(done),
            Ok(Submitted::Queued(ticket)) => ticket.as_u64(),
            Err(e) => return Err(RunError::Refused(e)),
        };
        // From here the permit is given back by whoever sees the entry free:
        // the reaper (`deliver`), or this `run` for an early completion.
        permit.forget();
        let rx = {
            let mut dispatch = sh.dispatch();
            match dispatch.slots.remove(&ticket) {
                Some(Slot::Early(done)) => {
                    drop(dispatch);
                    sh.space.add_permits(1);
                    return Ok(done);
                }
                Some(Slot::Waiting(_)) => unreachable!("tickets are unique"),
                None if dispatch.stopped => return Err(RunError::Stopped),
                None => {
                    let (tx, rx) = oneshot::channel();
                    dispatch.slots.insert(ticket, Slot::Waiting(tx));
                    rx
                }
            }
        };
        Awaiting(rx).await
    }

    /// Chains on workers whose completion is not posted yet
    /// ([`Executor::in_flight`]).
    pub fn in_flight(&self) -> usize {
        self.shared.executor.in_flight()
    }

    /// Worker threads alive now ([`Executor::workers`]).
    pub fn workers(&self) -> usize {
        self.shared.executor.workers()
    }
}

impl Drop for AsyncExecutor {
    fn drop(&mut self) {
        self.reaper.abort();
    }
}

impl fmt::Debug for AsyncExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncExecutor")
            .field("executor", &self.shared.executor)
            .finish_non_exhaustive()
    }
}

fn executor_io(e: ExecutorError) -> io::Error {
    match e {
        ExecutorError::Io(e) => e,
        e => io::Error::other(e),
    }
}

/// The receiving end of one queued `run`. Dropped before the completion
/// arrived, it closes the channel, so the reaper's send fails and the reaper
/// disposes of the completion; one sent just before is disposed of here.
struct Awaiting(oneshot::Receiver<Done>);

impl Future for Awaiting {
    type Output = Result<Done, RunError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0)
            .poll(cx)
            .map(|r| r.map_err(|_| RunError::Stopped))
    }
}

impl Drop for Awaiting {
    fn drop(&mut self) {
        self.0.close();
        if let Ok(done) = self.0.try_recv() {
            dispose(done);
        }
    }
}

/// Stops the dispatch when the reaper ends for any reason (an error, an
/// abort, its runtime shutting down), so no `run` waits for ever.
struct ReaperGuard(Weak<Shared>);

impl Drop for ReaperGuard {
    fn drop(&mut self) {
        if let Some(sh) = self.0.upgrade() {
            sh.stop();
        }
    }
}

/// The reaper: sleep until the eventfd is readable, reset it, reap, deliver.
/// The guard is an argument, not a local: a task dropped before its first
/// poll drops its arguments but never runs its body.
async fn reap(guard: ReaperGuard, eventfd: AsyncFd<CompletionFd>) {
    let shared = &guard.0;
    let mut reaped = Vec::new();
    loop {
        let Ok(mut ready) = eventfd.readable().await else {
            return;
        };
        // Reset before reaping: a completion posted after this makes the
        // eventfd readable again (a new edge), one posted before is reaped.
        let posted = eventfd.get_ref().clear();
        let Some(sh) = shared.upgrade() else {
            return;
        };
        if sh.executor.reap_into(&mut reaped).is_err() {
            return;
        }
        for done in reaped.drain(..) {
            sh.deliver(done);
        }
        drop(sh);
        // Only once the eventfd was seen empty (the read would block) is
        // tokio told so; it keeps the readiness of a post after that read.
        if posted == 0 {
            ready.clear_ready();
        }
    }
}
