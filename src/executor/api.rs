//! The executor's public API: [`Executor`], its builder, and what `submit`,
//! `reap` and `wait` return. What it guarantees is in the
//! [module docs](crate::executor).

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use syslets_abi::signature::Blocking;
use syslets_abi::{self as abi, RingEntry, RingHeader};

use crate::batch::completion::Completion;
use crate::confine::policy::Policy;
use crate::confine::seccomp::FilterOptions;
use crate::confine::validate::ValidatedBatch;
use crate::executor::estimator::{run_timed_from, Estimator};
use crate::executor::options::{Backpressure, InlineCompletions, ShutdownMode, Ticket};
use crate::executor::pool::{self, Job, Pool};
use crate::executor::ring::Ring;
use crate::executor::shared::{entry_of, Shared};
use crate::run::probe::{has_probe, Probe};
use crate::sys::atfork;
use crate::sys::rusage;

/// Configuration of an [`Executor`].
#[derive(Clone, Debug)]
pub struct ExecutorBuilder {
    max_workers: usize,
    max_running: Option<usize>,
    ring_size: u32,
    idle_timeout: Duration,
    backpressure: Backpressure,
    inline_completions: InlineCompletions,
    handoff_threshold: Duration,
    reprobe_every: u32,
    policy: Policy,
    seccomp: bool,
    ring_start: u32,
    spare_cpus: bool,
}

impl Default for ExecutorBuilder {
    fn default() -> Self {
        ExecutorBuilder {
            max_workers: 16,
            max_running: None,
            ring_size: 256,
            idle_timeout: Duration::from_secs(5),
            backpressure: Backpressure::Refuse,
            inline_completions: InlineCompletions::Return,
            handoff_threshold: Duration::from_micros(20),
            reprobe_every: 32,
            policy: Policy::default(),
            seccomp: true,
            ring_start: 0,
            spare_cpus: false,
        }
    }
}

impl ExecutorBuilder {
    setters! {
        /// Most worker threads (default 16; at least 1). Workers mostly sleep in
        /// blocking calls, so more than the number of cores helps storage
        /// concurrency.
        max_workers(n: usize) => max_workers = n;

        /// Most workers running chains at once while none is stalled in the
        /// kernel (default: one less than the number of CPUs,
        /// [`available_parallelism`](std::thread::available_parallelism), and at
        /// least one: the submitting thread runs on a CPU too, and a worker more
        /// would only compete with it). The pool grows beyond it, up to
        /// [`max_workers`](Self::max_workers), only while workers are stalled: in
        /// an atom predicted to block (a network call, or a storage call of a
        /// class that currently misses), or asleep in an atom that has run for
        /// longer than 2 ms (or the hand-off threshold, if longer). A worker
        /// that waits for a CPU is not stalled.
        max_running(n: usize) => max_running = Some(n);

        /// Entries of the completion ring, a power of two (default 256).
        ring_size(n: u32) => ring_size = n;

        /// How long a worker waits for work before it exits (default 5 s).
        idle_timeout(d: Duration) => idle_timeout = d;

        /// What `submit` does when the ring could overflow.
        backpressure(b: Backpressure) => backpressure = b;

        /// Where chains that complete inline are reported.
        inline_completions(c: InlineCompletions) => inline_completions = c;

        /// Latency above which a run of a storage call without a non-blocking
        /// form counts as a miss (default 20 µs; see rule 4 of the [executor docs](crate::executor)).
        handoff_threshold(d: Duration) => handoff_threshold = d;

        /// Of the atoms the miss rate sends to workers, run every n-th inline to
        /// re-measure (default 32; 0 never re-probes).
        reprobe_every(n: u32) => reprobe_every = n;

        /// The policy workers are confined to: every worker installs the seccomp
        /// filter generated from it before it runs any atom (default:
        /// [`Policy::default`]). Validate the batches you submit with the same policy:
        /// a call the filter does not allow fails with `EPERM` on a worker.
        policy(p: Policy) => policy = p;

        /// Whether workers run under the policy's seccomp filter (default: yes).
        /// Turning it off leaves only validation between a bug and the kernel; it
        /// exists for environments that forbid `seccomp(2)` itself. Off, a chain
        /// no worker can be started for runs on the submitting thread (on, it
        /// fails: see "When no worker can be started" in the [executor docs](crate::executor)).
        seccomp(on: bool) => seccomp = on;

        /// Use spare CPUs (default: no). A default-mode chain that would run
        /// inline — nothing in it is predicted to block — and is expected to take
        /// long enough to be worth a hand-off (at least 50 µs, from the measured
        /// cost of its calls) may instead be *spread* to a worker, but only while
        /// the executor measures that a worker gets a CPU without taking one from
        /// the submitter or waiting for one: the time this thread and the workers
        /// spend runnable but not running (their `run_delay` in
        /// `/proc/self/task/<tid>/schedstat`) stays under a quarter of the time.
        /// On a busy machine nothing is spread, and the chains run inline as
        /// without this option. At most one spread chain waits for a worker;
        /// [`wait`](Executor::wait) runs waiting spread chains in the calling
        /// thread instead of sleeping.
        ///
        /// For a submitter that has other work to do while a chain runs (a tree
        /// walk issuing the next directory's reads): it then uses a second CPU.
        /// A caller that waits for each chain right away gains nothing and pays
        /// the hand-off, so it is off by default.
        use_spare_cpus(on: bool) => spare_cpus = on;

        /// The value both ring indices start at (default 0). Lets tests cross the
        /// `u32` wrap of the indices quickly.
        ring_start_index(start: u32) => ring_start = start;
    }

    /// Make the executor. No thread is started until a chain is handed off.
    pub fn build(self) -> Result<Executor, ExecutorError> {
        if !self.ring_size.is_power_of_two() {
            return Err(ExecutorError::Config("ring size must be a power of two"));
        }
        if self.max_workers == 0 {
            return Err(ExecutorError::Config("at least one worker is needed"));
        }
        let generation = atfork::generation();
        let ring = Ring::new(self.ring_size, self.ring_start);
        let filter = if self.seccomp {
            let eventfd = ring.reserve_eventfd().map_err(ExecutorError::Io)?;
            let opts = FilterOptions {
                eventfd: Some(eventfd),
                ..FilterOptions::default()
            };
            let filter = self.policy.seccomp_filter_with(&opts).map_err(|e| {
                ExecutorError::Io(std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
            })?;
            Some(filter)
        } else {
            None
        };
        let shared = Shared {
            ring,
            filter,
            credits: AtomicU32::new(self.ring_size),
            credit_waiters: AtomicU32::new(0),
            handed_off: AtomicU32::new(0),
            next_ticket: AtomicU64::new(1),
            pool: Pool::new(
                self.max_workers,
                self.max_running.unwrap_or_else(|| {
                    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1))
                }),
                self.idle_timeout,
                self.handoff_threshold.max(pool::STALL_MIN),
            ),
            estimator: Estimator::new(self.handoff_threshold, self.reprobe_every),
            backpressure: self.backpressure,
            inline_completions: self.inline_completions,
            spare_cpus: self.spare_cpus,
            hook: OnceLock::new(),
        };
        Ok(Executor {
            shared: Arc::new(shared),
            generation,
            closed: false,
        })
    }
}

/// A finished chain: its ring entry and the batch, with every result
/// ([`Done::completion`]) and output buffer ([`ValidatedBatch::output`]).
#[derive(Debug)]
pub struct Done {
    entry: RingEntry,
    batch: ValidatedBatch<'static>,
}

impl Done {
    /// The chain's ticket.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.entry.ticket)
    }

    /// The ring entry (the summary a C consumer of the ring sees).
    pub fn entry(&self) -> &RingEntry {
        &self.entry
    }

    /// The full completion: every atom's result.
    pub fn completion(&self) -> &Completion {
        self.batch.completion()
    }

    /// The batch, to read output buffers.
    pub fn batch(&self) -> &ValidatedBatch<'static> {
        &self.batch
    }

    /// The batch, to take the descriptors its atoms opened
    /// ([`ValidatedBatch::take_fds`]).
    pub fn batch_mut(&mut self) -> &mut ValidatedBatch<'static> {
        &mut self.batch
    }

    /// The batch, to run or submit again.
    pub fn into_batch(self) -> ValidatedBatch<'static> {
        self.batch
    }
}

/// What [`Executor::submit`] did with a chain.
#[derive(Debug)]
pub enum Submitted {
    /// It completed inline; here is its completion (nothing was queued).
    Done(Done),
    /// It is in flight (or its inline completion was queued); its completion
    /// will be posted to the ring with this ticket (unless the batch has
    /// `BATCH_NO_COMPLETE`).
    Queued(Ticket),
}

impl Submitted {
    /// The chain's ticket.
    pub fn ticket(&self) -> Ticket {
        match self {
            Submitted::Done(d) => d.ticket(),
            Submitted::Queued(t) => *t,
        }
    }
}

/// How [`Executor::begin`] went on with a chain.
pub(super) enum Begun {
    /// Completed inline, to be returned (its ring credit already released).
    Done(u64),
    /// Completed inline, to be posted to the ring ([`InlineCompletions::Queue`]).
    Queue(u64),
    /// To be handed to a worker (bytes a probe already transferred; whether
    /// it is spread to a spare CPU, [`ExecutorBuilder::use_spare_cpus`]).
    Handoff(u64, Option<u64>, bool),
}

/// Why [`Executor::begin`] refused a chain (nothing of it ran).
pub(super) enum Refused {
    RingFull,
    Forked,
}

/// Why a submission was refused; the batch is given back, nothing of it ran.
#[derive(Debug)]
pub enum SubmitError {
    /// Everything in flight plus everything unreaped already fills the ring
    /// ([`Backpressure::Refuse`]). Reap, then submit again.
    RingFull(Box<ValidatedBatch<'static>>),
    /// This executor was made before a `fork()` and this is the child.
    Forked(Box<ValidatedBatch<'static>>),
}

impl SubmitError {
    /// The batch that was not submitted.
    pub fn into_batch(self) -> ValidatedBatch<'static> {
        match self {
            SubmitError::RingFull(b) | SubmitError::Forked(b) => *b,
        }
    }
}

impl fmt::Display for SubmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitError::RingFull(_) => f.write_str(
                "completion ring full: chains in flight plus unreaped completions fill it; reap first",
            ),
            SubmitError::Forked(_) => {
                f.write_str("executor was created before fork(); make a new one in the child")
            }
        }
    }
}

impl std::error::Error for SubmitError {}

/// Why an executor call failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ExecutorError {
    /// This executor was made before a `fork()` and this is the child.
    Forked,
    /// A bad builder setting.
    Config(&'static str),
    /// The kernel refused something (creating the eventfd).
    Io(io::Error),
}

impl fmt::Display for ExecutorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecutorError::Forked => {
                f.write_str("executor was created before fork(); make a new one in the child")
            }
            ExecutorError::Config(why) => write!(f, "bad executor configuration: {why}"),
            ExecutorError::Io(e) => write!(f, "executor: {e}"),
        }
    }
}

impl std::error::Error for ExecutorError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ExecutorError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// What [`Executor::cancel`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Canceled {
    /// The chain had not started on a worker: it was removed, and its
    /// completion (`COMPLETION_CANCELED`, `-ECANCELED`) is posted.
    NotStarted,
    /// A worker runs it: it stops before its next atom.
    Requested,
    /// Nothing to cancel: it already completed (or the ticket is unknown).
    NotFound,
}

/// A handle to the completion eventfd: readable while completions were posted
/// since the last [`clear`](CompletionFd::clear). For poll/epoll/mio/tokio.
#[derive(Clone, Debug)]
pub struct CompletionFd {
    shared: Arc<Shared>,
}

impl CompletionFd {
    /// Reset the counter (do it before reaping); returns the completions
    /// posted since the last clear.
    pub fn clear(&self) -> u64 {
        self.shared.ring.attached_eventfd().map_or(0, |e| e.drain())
    }
}

impl AsFd for CompletionFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.shared
            .ring
            .attached_eventfd()
            .expect("a CompletionFd exists only once the eventfd is attached")
            .as_fd()
    }
}

impl AsRawFd for CompletionFd {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

/// Runs chains inline or on cachemiss workers and posts their completions to
/// a ring. `Send + Sync`: submit, reap and cancel from any thread.
///
/// ```
/// use syslets::{Chain, Policy, Executor, Submitted, opcode::Getpid};
/// let ex = Executor::new();
/// let mut chain = Chain::new();
/// let pid = chain.push(Getpid::new());
/// match ex.submit(chain.prepare(&Policy::default())?)? {
///     Submitted::Done(done) => assert_eq!(done.completion().result(pid), Some(std::process::id() as i64)),
///     Submitted::Queued(_) => unreachable!("getpid never blocks"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Executor {
    pub(super) shared: Arc<Shared>,
    generation: u64,
    closed: bool,
}

impl Default for Executor {
    fn default() -> Self {
        Executor::new()
    }
}

impl Executor {
    /// An executor with the default configuration.
    pub fn new() -> Executor {
        ExecutorBuilder::default()
            .build()
            .expect("the default configuration is valid")
    }

    /// Configure one.
    pub fn builder() -> ExecutorBuilder {
        ExecutorBuilder::default()
    }

    pub(super) fn check(&self) -> Result<(), ExecutorError> {
        if atfork::generation() != self.generation {
            return Err(ExecutorError::Forked);
        }
        Ok(())
    }

    /// Submit a chain (see the [executor docs](crate::executor) for SYNC, ASYNC and the default).
    pub fn submit(&self, batch: ValidatedBatch<'static>) -> Result<Submitted, SubmitError> {
        // Boxed only when it leaves this thread (the worker queue, the ring):
        // a chain that completes inline costs no allocation here.
        let mut batch = batch;
        match self.begin(&mut batch) {
            Err(Refused::RingFull) => Err(SubmitError::RingFull(Box::new(batch))),
            Err(Refused::Forked) => Err(SubmitError::Forked(Box::new(batch))),
            Ok(Begun::Handoff(ticket, partial, spread)) => {
                self.hand_off(ticket, Box::new(batch), partial, spread);
                Ok(Submitted::Queued(Ticket(ticket)))
            }
            Ok(Begun::Queue(ticket)) => {
                self.shared.complete(ticket, Box::new(batch));
                Ok(Submitted::Queued(Ticket(ticket)))
            }
            Ok(Begun::Done(ticket)) => {
                let entry = entry_of(ticket, batch.completion());
                Ok(Submitted::Done(Done { entry, batch }))
            }
        }
    }

    /// The part of a submission that does not depend on who owns the batch:
    /// admission (fork check, ring credit), the ticket, and the inline run.
    pub(super) fn begin(&self, batch: &mut ValidatedBatch<'static>) -> Result<Begun, Refused> {
        if self.check().is_err() {
            return Err(Refused::Forked);
        }
        let sh = &self.shared;
        let flags = batch.flags();
        // A SYNC chain whose completion is returned never touches the ring.
        let returned_sync =
            flags & abi::BATCH_SYNC != 0 && sh.inline_completions == InlineCompletions::Return;
        let posts = flags & abi::BATCH_NO_COMPLETE == 0 && !returned_sync;
        if posts && !sh.take_credit(sh.backpressure == Backpressure::Block) {
            return Err(Refused::RingFull);
        }
        let ticket = sh.next_ticket.fetch_add(1, Ordering::Relaxed);
        batch.reset();
        let mut spread = false;
        let handoff = if flags & abi::BATCH_ASYNC != 0 {
            Some(None)
        } else if flags & abi::BATCH_SYNC != 0 {
            let mut clock = None;
            while !batch.finished() {
                clock = Some(run_timed_from(&sh.estimator, batch, clock));
            }
            None
        } else if sh.spare_cpus
            && posts
            && sh.estimator.worth_spreading(batch)
            && sh.pool.spare_cpu()
        {
            spread = true;
            Some(None)
        } else {
            self.run_until_blocking(batch)
        };
        if let Some(partial) = handoff {
            if posts {
                sh.handed_off.fetch_add(1, Ordering::SeqCst);
            }
            return Ok(Begun::Handoff(ticket, partial, spread));
        }
        batch.completion_mut().0.flags |= abi::COMPLETION_INLINE;
        if posts && sh.inline_completions == InlineCompletions::Queue {
            return Ok(Begun::Queue(ticket));
        }
        if posts {
            sh.release_credits(1);
        }
        Ok(Begun::Done(ticket))
    }

    /// Queue the rest of a chain [`begin`](Self::begin) handed off.
    pub(super) fn hand_off(
        &self,
        ticket: u64,
        batch: Box<ValidatedBatch<'static>>,
        partial: Option<u64>,
        spread: bool,
    ) {
        let job = Job {
            ticket,
            batch,
            partial,
            spread,
        };
        Pool::dispatch(&self.shared, job);
    }

    /// Run spread chains no worker has started here, in the calling thread,
    /// instead of sleeping for them (the rule of [`begin`](Self::begin) for a
    /// chain that would have run inline: a part predicted to block still goes
    /// to a worker). Returns whether it ran any.
    fn run_spread_here(&self) -> bool {
        let sh = &self.shared;
        let mut ran = false;
        while let Some(job) = sh.pool.take_spread() {
            ran = true;
            let Job {
                ticket, mut batch, ..
            } = job;
            match self.run_until_blocking(&mut batch) {
                None => sh.finish_job(ticket, batch),
                Some(partial) => self.hand_off(ticket, batch, partial, false),
            }
        }
        ran
    }

    /// Run atoms inline while they will not block. `None`: the chain ended;
    /// `Some(partial)`: hand the rest to a worker.
    fn run_until_blocking(&self, batch: &mut ValidatedBatch<'_>) -> Option<Option<u64>> {
        // The clock read that ended the last timed atom, while only
        // bookkeeping ran since (`run_timed_from`): a run of timed atoms (a
        // chain of stats) reads the clock once per atom, not twice.
        let mut clock = None;
        while !batch.finished() {
            let step = batch.step(batch.cursor as usize);
            let (nr, blocking) = (step.nr, step.sig().blocking);
            if blocking == Blocking::Never {
                batch.run_one();
                clock = None;
                continue;
            }
            if has_probe(nr) {
                clock = None;
                match batch.probe_current() {
                    Probe::Ran => continue,
                    Probe::Partial(n) => return Some(Some(n)),
                    Probe::WouldBlock => return Some(None),
                    Probe::Unavailable => {}
                }
            }
            if blocking == Blocking::Network || !self.shared.estimator.inline_ok(nr) {
                return Some(None);
            }
            clock = Some(run_timed_from(&self.shared.estimator, batch, clock));
        }
        None
    }

    /// Take every completion posted so far, oldest first.
    pub fn reap(&self) -> Result<Vec<Done>, ExecutorError> {
        let mut out = Vec::new();
        self.reap_into(&mut out)?;
        Ok(out)
    }

    /// Append every completion posted so far to `out`; returns how many.
    pub fn reap_into(&self, out: &mut Vec<Done>) -> Result<usize, ExecutorError> {
        self.check()?;
        Ok(self.reap_unchecked(out))
    }

    fn reap_unchecked(&self, out: &mut Vec<Done>) -> usize {
        self.drain(|entry, batch| {
            out.push(Done {
                entry,
                batch: *batch,
            })
        })
    }

    /// Take every posted entry, oldest first, hand each with its batch to
    /// `each`, and free their ring entries; returns how many.
    pub(super) fn drain(
        &self,
        mut each: impl FnMut(RingEntry, Box<ValidatedBatch<'static>>),
    ) -> usize {
        let mut raw = Vec::new();
        let n = self.shared.ring.drain(&mut raw);
        for r in raw {
            each(
                r.entry,
                r.batch.expect("every posted entry carries its batch"),
            );
        }
        self.shared.release_credits(n as u32);
        n
    }

    /// Sleep (on a futex on `kernel_head`) until at least `min` completions
    /// are ready to reap, `timeout` passes, or no chain handed to a worker is
    /// left to post one. Returns the number ready (less than `min` in the last
    /// two cases). A timeout that reaches past what the monotonic clock can
    /// represent (such as `Duration::MAX`) waits as `None` does.
    pub fn wait(&self, min: usize, timeout: Option<Duration>) -> Result<usize, ExecutorError> {
        self.check()?;
        let sh = &self.shared;
        let min = min.min(sh.ring.elements() as usize) as u32;
        let ready = sh.ring.ready();
        if ready >= min {
            return Ok(ready as usize);
        }
        // A timeout past the clock's range (`Duration::MAX`) is no deadline.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            // Spread chains still waiting for a worker: run them here rather
            // than sleep for them.
            if self.run_spread_here() {
                let ready = sh.ring.ready();
                if ready >= min || sh.in_flight() == 0 {
                    return Ok(ready as usize);
                }
            }
            // While chains are queued, wake up every TICK to re-apply the
            // cachemiss rule: workers may have stalled since they took their
            // chains (worker.rs).
            let tick = sh
                .pool
                .has_queued()
                .then(|| Instant::now().checked_add(pool::TICK))
                .flatten()
                .filter(|t| deadline.is_none_or(|d| *t < d));
            let ready = sh.ring.wait(min, tick.or(deadline), || sh.in_flight() == 0);
            // This thread probably slept: a later slow atom of its own must
            // not count that sleep (estimator, `rusage::slept`).
            rusage::mark();
            if tick.is_none() || ready >= min || sh.in_flight() == 0 {
                return Ok(ready as usize);
            }
            Pool::rebalance(sh);
        }
    }

    /// Completions ready to reap.
    pub fn ready(&self) -> usize {
        self.shared.ring.ready() as usize
    }

    /// Chains handed to workers whose completion is not posted yet.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight() as usize
    }

    /// A snapshot of the ring header (`kernel_head`, `user_tail`, `elements`,
    /// `wait_group`).
    pub fn ring_header(&self) -> RingHeader {
        self.shared.ring.header()
    }

    /// Worker threads alive now.
    pub fn workers(&self) -> usize {
        self.shared.pool.threads()
    }

    /// Attach the completion eventfd (once; later calls return the same one).
    /// It becomes readable when a completion is posted; call
    /// [`CompletionFd::clear`] before reaping. It is non-blocking and
    /// close-on-exec ([eventfd(2)](https://man7.org/linux/man-pages/man2/eventfd.2.html)
    /// with `EFD_NONBLOCK | EFD_CLOEXEC`), as epoll-based runtimes require.
    pub fn attach_eventfd(&self) -> Result<CompletionFd, ExecutorError> {
        self.check()?;
        self.shared.ring.eventfd().map_err(ExecutorError::Io)?;
        Ok(CompletionFd {
            shared: Arc::clone(&self.shared),
        })
    }

    /// Cancel a chain (see "Cancellation" in the [executor docs](crate::executor)).
    pub fn cancel(&self, ticket: Ticket) -> Result<Canceled, ExecutorError> {
        self.cancel_sure(ticket).map(|(c, _)| c)
    }

    /// Finish or cancel the chains in flight, join every worker, and return
    /// every completion not reaped yet.
    pub fn shutdown(mut self, mode: ShutdownMode) -> Result<Vec<Done>, ExecutorError> {
        self.check()?;
        Ok(self.close(mode))
    }

    fn close(&mut self, mode: ShutdownMode) -> Vec<Done> {
        self.closed = true;
        let (handles, canceled) = self.shared.pool.stop(mode == ShutdownMode::Cancel);
        for job in canceled {
            let Job {
                ticket,
                mut batch,
                partial,
                ..
            } = job;
            if let Some(done) = partial {
                let i = batch.cursor as usize;
                batch.record(i, done as i64);
            }
            pool::cancel_rest(&mut batch, -(libc::ECANCELED as i64));
            self.shared.complete_job(ticket, batch);
        }
        for h in handles {
            let _ = h.join();
        }
        let mut out = Vec::new();
        self.reap_unchecked(&mut out);
        out
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        if self.closed {
            return;
        }
        if self.check().is_err() {
            // In a forked child: the parent's workers do not exist here and its
            // locks may be held. Touch nothing; never free the shared state.
            std::mem::forget(Arc::clone(&self.shared));
            return;
        }
        for mut done in self.close(ShutdownMode::Cancel) {
            drop(done.batch.take_fds());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::chain::Chain;
    use crate::builder::opcode::Getpid;
    use crate::executor::engine_port::{HookFn, SubmittedBox};
    use std::sync::atomic::AtomicUsize;

    fn async_getpid(caller: u64) -> Box<ValidatedBatch<'static>> {
        let mut chain = Chain::new();
        chain.set_caller_data(caller);
        chain.push(Getpid::new());
        chain.set_flags(abi::BATCH_ASYNC);
        Box::new(chain.prepare(&Policy::default()).unwrap())
    }

    /// A chain of 63 stats of this crate's manifest (a few µs each: six path
    /// components) and a gettid.
    fn long_stat_chain(caller: u64) -> ValidatedBatch<'static> {
        use crate::builder::opcode::{Gettid, Newfstatat};
        let mut chain = Chain::new();
        for _ in 0..63 {
            let p = chain.path(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"));
            let st = chain.output::<crate::Stat>();
            chain.push(Newfstatat::new(libc::AT_FDCWD, p, st));
        }
        chain.push(Gettid::new());
        chain.set_caller_data(caller);
        chain.prepare(&Policy::default()).unwrap()
    }

    /// With spare CPUs on, a chain worth a hand-off is spread to a worker;
    /// one that no worker has started when the submitter waits is run by
    /// `wait` in the submitter's own thread (here the only worker is blocked
    /// in a read of an empty socket), and its completion is posted as usual.
    #[test]
    fn wait_runs_a_waiting_spread_chain_in_the_submitter() {
        use crate::builder::opcode::Read;
        use std::io::Write;
        use std::os::unix::net::UnixStream;
        let ex = Executor::builder()
            .use_spare_cpus(true)
            .max_workers(1)
            .build()
            .unwrap();
        let (mut tx, rx) = UnixStream::pair().unwrap();
        let mut chain = Chain::new();
        let buf = chain.output_bytes(1);
        chain.push(Read::new(rx.as_raw_fd(), buf));
        chain.set_flags(abi::BATCH_ASYNC).set_caller_data(1000);
        let read = ex
            .submit(chain.prepare(&Policy::default()).unwrap())
            .unwrap();
        assert!(matches!(read, Submitted::Queued(_)));
        let t0 = Instant::now();
        while ex.shared.pool.has_queued() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "no worker took the read"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        // Inline until the calls' cost is known, then spread.
        let me = crate::sys::rusage::gettid() as i64;
        let mut spread = None;
        for i in 0..200 {
            ex.shared.pool.assume_spare_cpu();
            match ex.submit(long_stat_chain(i)).unwrap() {
                Submitted::Done(d) => assert_eq!(d.completion().results()[63], me),
                Submitted::Queued(t) => {
                    spread = Some(t);
                    break;
                }
            }
        }
        let spread = spread.expect("a 63-stat chain is worth spreading");
        assert!(ex.shared.pool.has_queued(), "the only worker is busy");
        assert_eq!(ex.wait(1, Some(Duration::from_secs(10))).unwrap(), 1);
        let done = ex.reap().unwrap();
        assert_eq!(done.len(), 1);
        assert_eq!(done[0].ticket(), spread);
        assert_eq!(done[0].completion().results()[63], me, "ran in this thread");
        assert!(done[0].completion().results()[..63].iter().all(|&r| r == 0));
        tx.write_all(b"x").unwrap();
        assert_eq!(ex.wait(1, Some(Duration::from_secs(10))).unwrap(), 1);
        let done = ex.reap().unwrap();
        assert_eq!(done[0].completion().caller_data(), 1000);
        assert_eq!(done[0].completion().status(), 1);
    }

    /// Chains the completion hook delivers give back their ring credit (a
    /// ring of 2 takes 50 of them in a row under `Refuse`) and their
    /// in-flight count (`wait` returns instead of sleeping for an entry that
    /// never comes); chains it gives back are posted and reaped as usual.
    #[test]
    fn hook_delivered_chains_release_credit_and_in_flight() {
        let ex = Executor::builder().ring_size(2).build().unwrap();
        let delivered = Arc::new(AtomicUsize::new(0));
        let d = Arc::clone(&delivered);
        let hook: Box<HookFn> = Box::new(move |_t, batch, retire| {
            // Deliver odd callers, give even ones back.
            if batch.completion().caller_data() % 2 == 0 {
                return Some(batch);
            }
            // Count before retiring: once retired the chain is no longer in
            // flight, and the test may read the count at once.
            d.fetch_add(1, Ordering::SeqCst);
            retire.now();
            None
        });
        assert!(ex.set_completion_hook(hook));
        let mut reaped = 0;
        for i in 0..50u64 {
            let b = async_getpid(i);
            assert!(matches!(ex.submit_boxed(b), Ok(SubmittedBox::Queued(_))));
            // Returns once the chain is delivered (nothing to wait for) or
            // posted; never hangs.
            let t0 = Instant::now();
            ex.wait(1, None).unwrap();
            assert!(t0.elapsed() < Duration::from_secs(5));
            while ex.in_flight() > 0 {
                std::thread::yield_now();
            }
            reaped += ex.reap().unwrap().len();
        }
        assert_eq!(delivered.load(Ordering::SeqCst), 25);
        assert_eq!(reaped, 25);
        assert_eq!(ex.in_flight(), 0);
    }
}
