//! Every way the engine reaches into the executor, its workers and the
//! process-wide fork generation, in one place: thin functions and the types
//! they pass, so that the rest of the engine names no executor internals.
//!
//! What the engine needs, and why (each is crate-internal unless noted):
//!
//! * [`executor`]: the public builder, one pool per [`Class`](super::Class),
//!   each sized so that all its workers may run at once.
//! * [`set_completion_hook`] ([`HookFn`]) and [`retire_now`] ([`Retire`]):
//!   a worker that finished a chain lets the engine publish the outcome on
//!   that worker, instead of posting it to the ring for a completion thread
//!   — one hand-off fewer per request; the chain's ring credit is given
//!   back before the outcome is visible.
//! * [`submit`] and [`reap`] ([`SubmittedBox`]): the engine keeps its
//!   batches boxed (queued, held, spare), so it hands the executor a pointer
//!   and gets boxes back, allocating nothing per request.
//! * [`wait`] (public): the completion thread sleeps until its ring has
//!   something.
//! * [`cancel`] ([`Canceled`], [`Ticket`]): `aio_cancel` must know whether a
//!   chain taken by a worker is *sure* to stop (it had not begun its atom),
//!   so that its answer agrees with the request's final state.
//! * [`workers`] (public): a statistic.
//! * `ValidatedBatch::reaim_io` (not called here): a finished one-atom
//!   `pread64`/`pwrite64` batch is re-aimed at the next request's fd,
//!   buffer and offset instead of building and validating a new chain. The
//!   call is unsafe and its contract is the buffer's, so it is made by
//!   [`RawBuf::aim`](crate::aio::cb::RawBuf::aim), which `chains` calls on
//!   a spare from `recycle`.
//! * [`run`] (public): a notification's validated `rt_tgsigqueueinfo` chain
//!   runs inline.
//! * [`generation`]: an engine made before a `fork` refuses work in the
//!   child.

use std::time::Duration;

pub(super) use crate::executor::engine_port::{HookFn, Retire, SubmittedBox};
pub(super) use crate::executor::{Canceled, Executor, Ticket};

use crate::confine::validate::ValidatedBatch;
use crate::errno::Errno;
use crate::executor::{ExecutorError, SubmitError};
use crate::sys::atfork;

/// An executor with a ring of `ring` entries and `workers` workers, all of
/// which may run at once, idle ones leaving after `idle`.
pub(super) fn executor(ring: u32, workers: usize, idle: Duration) -> Result<Executor, Errno> {
    Executor::builder()
        .ring_size(ring)
        .max_workers(workers.max(1))
        // Each pool is sized for its class of I/O (see `Class`): all its
        // workers may run at once, stalled or not.
        .max_running(workers.max(1))
        .idle_timeout(idle)
        .build()
        .map_err(|_| Errno::EINVAL)
}

/// Install `hook` as the completion hook of `ex` (before its first
/// submission).
pub(super) fn set_completion_hook(ex: &Executor, hook: Box<HookFn>) {
    ex.set_completion_hook(hook);
}

/// Submit a boxed batch: done inline (the box given back) or queued.
#[inline]
pub(super) fn submit(
    ex: &Executor,
    batch: Box<ValidatedBatch<'static>>,
) -> Result<SubmittedBox, SubmitError> {
    ex.submit_boxed(batch)
}

/// Take every batch posted to the ring of `ex`, in their boxes.
#[allow(clippy::vec_box)]
#[inline]
pub(super) fn reap(
    ex: &Executor,
    out: &mut Vec<Box<ValidatedBatch<'static>>>,
) -> Result<usize, ExecutorError> {
    ex.reap_boxed(out)
}

/// Sleep until `min` completions are ready on the ring of `ex`, or `timeout`.
#[inline]
pub(super) fn wait(ex: &Executor, min: usize, timeout: Option<Duration>) {
    let _ = ex.wait(min, timeout);
}

/// Cancel `ticket`, and whether a requested cancel is sure to stop it.
#[inline]
pub(super) fn cancel(ex: &Executor, ticket: Ticket) -> Result<(Canceled, bool), ExecutorError> {
    ex.cancel_sure(ticket)
}

/// Worker threads of `ex` alive now.
pub(super) fn workers(ex: &Executor) -> usize {
    ex.workers()
}

/// Run a validated chain inline, in this thread.
#[inline]
pub(super) fn run(batch: &mut ValidatedBatch<'static>) {
    batch.run();
}

/// The fork generation of this process (bumped in every child).
#[inline]
pub(super) fn generation() -> u64 {
    atfork::generation()
}

/// Give the executor back the ring credit of a chain the hook delivers,
/// before its outcome is visible.
#[inline]
pub(super) fn retire_now(retire: &Retire<'_>) {
    retire.now();
}
