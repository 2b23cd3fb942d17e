//! The state an executor shares with its workers: the ring, the ring credits,
//! the pool, the estimator, the workers' filter and the completion hook.

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::OnceLock;

use syslets_abi::{self as abi, RingEntry};

use crate::batch::completion::Completion;
use crate::confine::seccomp::SeccompFilter;
use crate::confine::validate::ValidatedBatch;
use crate::executor::estimator::Estimator;
use crate::executor::options::{Backpressure, InlineCompletions, Ticket};
use crate::executor::pool::{Pool, PoolOwner};
use crate::executor::ring::Ring;
use crate::sys::futex;

/// State shared by the executor and its workers.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) ring: Ring,
    /// Ring entries not claimed by a chain in flight or an unreaped entry.
    pub(crate) credits: AtomicU32,
    pub(crate) credit_waiters: AtomicU32,
    /// Chains handed to the pool that will post a completion and have not yet.
    /// Decremented before the entry is published, so a waiter that sees it
    /// non-zero (after reading `kernel_head`) is sure a later post wakes it.
    pub(crate) handed_off: AtomicU32,
    pub(crate) next_ticket: AtomicU64,
    pub(crate) pool: Pool,
    pub(crate) estimator: Estimator,
    /// The workers' seccomp filter (generated from the policy), if enabled.
    pub(crate) filter: Option<SeccompFilter>,
    pub(crate) backpressure: Backpressure,
    pub(crate) inline_completions: InlineCompletions,
    /// [`ExecutorBuilder::use_spare_cpus`](crate::ExecutorBuilder::use_spare_cpus).
    pub(crate) spare_cpus: bool,
    /// Delivers a worker's finished chain instead of the ring, when it can
    /// ([`Executor::set_completion_hook`](crate::Executor::set_completion_hook)).
    pub(crate) hook: OnceLock<CompletionHook>,
}

/// A crate-internal completion hook: called on the thread that finished a
/// handed-off chain (a worker, under the seccomp filter; or the submitter
/// ending it when no worker could be started: failing it, or, without
/// seccomp, running it) with its ticket and batch,
/// *instead of* posting it to the ring. It returns `None` when it took the
/// completion over (it must then have called [`Retire::now`]), or the batch,
/// untouched, to be posted as usual.
pub(crate) type HookFn = dyn Fn(Ticket, Box<ValidatedBatch<'static>>, &Retire<'_>) -> Option<Box<ValidatedBatch<'static>>>
    + Send
    + Sync;

/// A [`HookFn`] (with a `Debug` for [`Shared`]).
pub(crate) struct CompletionHook(pub(crate) Box<HookFn>);

impl fmt::Debug for CompletionHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CompletionHook")
    }
}

/// What a chain delivered by the completion hook gives back to the executor:
/// its ring credit (it will never hold an entry) and its place among the
/// chains in flight (so that `wait` may give up on it). The hook calls
/// [`now`](Self::now) once it has committed to delivering the chain and
/// before the outcome is visible to anyone (a submitter that sees it may
/// submit again at once, and must find the credit free); if it does not, the
/// executor does it when the hook returns `None`.
pub(crate) struct Retire<'a> {
    shared: &'a Shared,
    done: Cell<bool>,
}

impl Retire<'_> {
    /// Release the chain's ring credit and in-flight count (once).
    pub(crate) fn now(&self) {
        if !self.done.replace(true) {
            self.shared.ring.retire(&self.shared.handed_off);
            self.shared.release_credits(1);
        }
    }
}

impl Shared {
    pub(crate) fn take_credit(&self, block: bool) -> bool {
        loop {
            let c = self.credits.load(Ordering::Acquire);
            if c > 0 {
                if self
                    .credits
                    .compare_exchange_weak(c, c - 1, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
                {
                    return true;
                }
                continue;
            }
            if !block {
                return false;
            }
            self.credit_waiters.fetch_add(1, Ordering::SeqCst);
            // No futex (an error): poll (the loop re-checks), giving the CPU away.
            if self.credits.load(Ordering::SeqCst) == 0
                && futex::wait(&self.credits, 0, None).is_err()
            {
                std::thread::yield_now();
            }
            self.credit_waiters.fetch_sub(1, Ordering::SeqCst);
        }
    }

    pub(crate) fn release_credits(&self, n: u32) {
        if n == 0 {
            return;
        }
        self.credits.fetch_add(n, Ordering::SeqCst);
        if self.credit_waiters.load(Ordering::SeqCst) > 0 {
            futex::wake(&self.credits, i32::MAX);
        }
    }

    /// Chains handed to workers whose completion is not posted yet.
    pub(crate) fn in_flight(&self) -> u32 {
        self.handed_off.load(Ordering::SeqCst)
    }

    /// Post the completion of a chain that was handed to the pool (see
    /// [`complete`](Self::complete)).
    pub(crate) fn complete_job(&self, ticket: u64, batch: Box<ValidatedBatch<'static>>) {
        self.post(ticket, batch, Some(&self.handed_off));
    }

    /// The completion of a chain that was handed to the pool and has just
    /// finished running (on a worker), or ended in a submitter when no
    /// worker could start: offered to the completion hook first, posted if the hook
    /// gives it back. Cancellation and shutdown post with
    /// [`complete_job`](Self::complete_job) (their callers may hold locks
    /// the hook takes).
    pub(crate) fn finish_job(&self, ticket: u64, batch: Box<ValidatedBatch<'static>>) {
        let Some(hook) = self.hook.get() else {
            return self.complete_job(ticket, batch);
        };
        if batch.flags() & abi::BATCH_NO_COMPLETE != 0 {
            // Holds no credit and is not counted in flight: nothing to deliver.
            return self.complete_job(ticket, batch);
        }
        let retire = Retire {
            shared: self,
            done: Cell::new(false),
        };
        match (hook.0)(Ticket(ticket), batch, &retire) {
            None => retire.now(),
            Some(batch) => {
                // A retired chain has no credit left to post with: that
                // would be a bug of the hook.
                assert!(
                    !retire.done.get(),
                    "completion hook retired a chain and gave it back"
                );
                self.complete_job(ticket, batch);
            }
        }
    }

    /// Post the completion of `batch` (or, for `BATCH_NO_COMPLETE`, close the
    /// descriptors its atoms left open and drop it).
    pub(crate) fn complete(&self, ticket: u64, batch: Box<ValidatedBatch<'static>>) {
        self.post(ticket, batch, None);
    }

    fn post(
        &self,
        ticket: u64,
        mut batch: Box<ValidatedBatch<'static>>,
        pending: Option<&AtomicU32>,
    ) {
        if batch.flags() & abi::BATCH_NO_COMPLETE != 0 {
            drop(batch.take_fds());
            return;
        }
        let entry = entry_of(ticket, batch.completion());
        self.ring.post(entry, Some(batch), pending);
    }
}

pub(crate) fn entry_of(ticket: u64, c: &Completion) -> RingEntry {
    let c = c.as_abi();
    RingEntry {
        ticket,
        caller_data: c.caller_data,
        status: c.status,
        last_atom: c.last_atom,
        atoms_run: c.atoms_run,
        flags: c.flags as u32,
    }
}

impl PoolOwner for Shared {
    fn pool(&self) -> &Pool {
        &self.pool
    }

    fn filter(&self) -> Option<&SeccompFilter> {
        self.filter.as_ref()
    }

    fn estimator(&self) -> &Estimator {
        &self.estimator
    }

    fn finish_job(&self, ticket: u64, batch: Box<ValidatedBatch<'static>>) {
        Shared::finish_job(self, ticket, batch)
    }
}
