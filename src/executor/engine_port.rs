//! The executor's interface for the AIO engine (crate-internal): the few
//! things the engine does that the public API does not offer, each because a
//! request per system call must cost no more than the call itself.
//!
//! * **Boxed batches** ([`Executor::submit_boxed`], [`Executor::reap_boxed`]):
//!   the engine keeps its batches in boxes; the executor hands the box on (to
//!   the worker queue, the ring) and gives it back, so a submission moves a
//!   pointer instead of a batch and allocates nothing. Guarantees: the same
//!   admission, ticket, inline run and hand-off as [`Executor::submit`], and
//!   the same ring order as [`Executor::reap_into`]; every batch submitted is
//!   given back exactly once (refused, done inline, reaped, or to the hook).
//! * **The completion hook** ([`Executor::set_completion_hook`], [`HookFn`],
//!   [`Retire`]): the thread that finished a handed-off chain delivers it
//!   itself instead of posting it to the ring, so a request a worker ran
//!   is published without a hop to a completion thread. Guarantees: the hook
//!   runs once per handed-off chain that posts a completion, on the thread
//!   that finished it (a worker, under its seccomp filter); what it gives
//!   back is posted as without a hook; [`Retire::now`] releases the chain's
//!   ring credit and in-flight count exactly once, before its outcome is
//!   visible.
//! * **Re-aiming a spare batch**
//!   ([`ValidatedBatch::reaim_io`], which lives in the validation stage
//!   because it re-checks what validation checks for the arguments it
//!   changes): a finished one-atom read or write is pointed at a new fd,
//!   buffer, length and offset, so a request does not build, encode and
//!   validate a chain.
//!
//! * **Sure cancellation** ([`Executor::cancel_sure`]): `aio_cancel` must
//!   answer `AIO_CANCELED` only for a request that will end `ECANCELED`, so
//!   it needs to know whether a chain a worker took is sure to stop (the
//!   worker had not begun its atom). Guarantees: the same effect as
//!   [`Executor::cancel`], plus that answer.
//!
//! Nothing else of the executor is used by the engine; everything else it
//! needs is the public API ([`Executor::builder`], [`Executor::cancel`], …).

use crate::confine::validate::ValidatedBatch;
use crate::executor::api::{Begun, Canceled, Executor, ExecutorError, Refused, SubmitError};
use crate::executor::options::Ticket;
use crate::executor::pool::{self, Found, Job};
use crate::executor::shared::CompletionHook;
pub(crate) use crate::executor::shared::{HookFn, Retire};

/// What [`Executor::submit_boxed`] did with a chain.
#[derive(Debug)]
pub(crate) enum SubmittedBox {
    /// It completed inline; here is the batch with its completion.
    Done(Box<ValidatedBatch<'static>>),
    /// It is in flight (or its inline completion was queued).
    Queued(Ticket),
}

impl Executor {
    /// [`submit`](Executor::submit) for a batch kept in a box: the box is handed
    /// on as it is (to the worker queue, the ring) or given back, so a caller
    /// that keeps its batches boxed (the AIO engine) moves a pointer, not the
    /// batch, and allocates nothing per submission.
    pub(crate) fn submit_boxed(
        &self,
        mut batch: Box<ValidatedBatch<'static>>,
    ) -> Result<SubmittedBox, SubmitError> {
        match self.begin(&mut batch) {
            Err(Refused::RingFull) => Err(SubmitError::RingFull(batch)),
            Err(Refused::Forked) => Err(SubmitError::Forked(batch)),
            Ok(Begun::Handoff(ticket, partial, spread)) => {
                self.hand_off(ticket, batch, partial, spread);
                Ok(SubmittedBox::Queued(Ticket(ticket)))
            }
            Ok(Begun::Queue(ticket)) => {
                self.shared.complete(ticket, batch);
                Ok(SubmittedBox::Queued(Ticket(ticket)))
            }
            Ok(Begun::Done(_)) => Ok(SubmittedBox::Done(batch)),
        }
    }

    /// [`reap_into`](Executor::reap_into) giving the finished batches in their
    /// boxes (each batch's completion holds its caller data and status), to
    /// be kept or submitted again without moving them out.
    #[allow(clippy::vec_box)]
    pub(crate) fn reap_boxed(
        &self,
        out: &mut Vec<Box<ValidatedBatch<'static>>>,
    ) -> Result<usize, ExecutorError> {
        self.check()?;
        Ok(self.drain(|_entry, batch| out.push(batch)))
    }

    /// Install the completion hook (once; before the first submission that
    /// may hand off): see [`HookFn`] and [`Retire`] for what it must do.
    /// Returns false if a hook was installed already.
    pub(crate) fn set_completion_hook(&self, hook: Box<HookFn>) -> bool {
        self.shared.hook.set(CompletionHook(hook)).is_ok()
    }
}

impl Executor {
    /// [`cancel`](Self::cancel), and whether a [`Canceled::Requested`] chain
    /// is sure to stop: its worker had not begun its next atom, so it ends
    /// with `-ECANCELED` (false: it is inside an atom, or past its last).
    pub(crate) fn cancel_sure(&self, ticket: Ticket) -> Result<(Canceled, bool), ExecutorError> {
        self.check()?;
        match self.shared.pool.cancel(ticket.0) {
            Found::Queued(job) => {
                let Job {
                    ticket,
                    mut batch,
                    partial,
                    ..
                } = *job;
                if let Some(done) = partial {
                    let i = batch.cursor as usize;
                    batch.record(i, done as i64);
                }
                pool::cancel_rest(&mut batch, -(libc::ECANCELED as i64));
                self.shared.complete_job(ticket, batch);
                Ok((Canceled::NotStarted, false))
            }
            Found::Running => Ok((Canceled::Requested, false)),
            Found::Stopping => Ok((Canceled::Requested, true)),
            Found::None => Ok((Canceled::NotFound, false)),
        }
    }
}
