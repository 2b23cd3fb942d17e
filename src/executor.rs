//! [`Executor`]: asynchronous submission of validated chains, the syslet way.
//!
//! ```text
//! submit(batch) ─► SYNC:    every atom inline, in the caller's thread
//!               ─► ASYNC:   straight to a cachemiss worker
//!               ─► default: inline while the next atom will not block; the rest
//!                           of the chain (with its results so far) to a worker
//!                           when it may
//! worker / cancel / queued inline completion ─► completion ring ─► reap / wait / eventfd
//! ```
//!
//! # When an atom runs inline (the default mode)
//!
//! Userspace cannot see the scheduler, so the executor decides before each atom,
//! in this order:
//!
//! 1. A call whose signature says it never blocks (`Blocking::Never`: close,
//!    lseek, fstat, socket, bind, getpid, …) runs inline.
//! 2. A call with a non-blocking form is *probed*: `read`/`pread64` with
//!    `preadv2(…, RWF_NOWAIT)`, `write`/`pwrite64` with `pwritev2(…, RWF_NOWAIT)`,
//!    `openat` with `openat2(…, RESOLVE_CACHED)`, `recvfrom`/`sendto` with
//!    `MSG_DONTWAIT`. The probe *is* the call when it succeeds (its result is the
//!    atom's); on `EAGAIN` nothing happened and the chain is handed to a worker
//!    at this atom; when a read or write transferred only part of the buffer
//!    (and the real call would have gone on: a file, or a blocking stream), the
//!    worker transfers the rest and the atom returns the sum. When the kernel
//!    refuses the non-blocking form (`EOPNOTSUPP`, `EINVAL`; `openat` with
//!    `O_CREAT`/`O_TRUNC`/`O_TMPFILE`, unknown flags or a mode), storage calls
//!    fall to rule 4 and network calls to rule 3.
//! 3. A network call with no probe (`connect`, `accept4`) goes to a worker: how
//!    long a peer takes cannot be predicted.
//! 4. Any other storage call (`newfstatat`, `statx`, `getdents64`, `fsync`,
//!    `mkdirat`, `unlinkat`, `openat2`, …) has no non-blocking form, so the
//!    executor predicts from recent history. Every run of such a call, inline
//!    *or on a worker*, is timed; one that took longer than the hand-off
//!    threshold ([`ExecutorBuilder::handoff_threshold`], default 20 µs — about
//!    what a cross-thread hand-off costs, and far above a cached `stat`) is a
//!    *miss* (`getdents64` is allowed three thresholds plus one per KiB it
//!    returned: a cached ext4 directory read is long, not blocked). Per syscall number the
//!    executor keeps the decayed miss rate (`rate += (miss − rate) / 64`).
//!    While at most 1/64 of recent calls missed, the atom runs inline; above
//!    that the rest of the chain goes to a worker, except every
//!    [`ExecutorBuilder::reprobe_every`]-th time (default 32), when the atom
//!    runs inline to re-measure.
//!
//!    Why a miss *rate* and not a mean latency: on a cold tree misses come
//!    between hits (one inode-table read serves a dozen inodes), so the mean
//!    stays low while nearly every chain of 64 stats would stall the submitter
//!    several times. Why 1/64 with that decay: one stray slow call (a
//!    preemption on a busy machine) reaches the limit but does not cross it;
//!    two misses within a few dozen calls — a cold cache — do. Once handed
//!    off, the workers' own timings (and the re-probes) bring a class back
//!    inline after a few dozen fast calls.
//!
//! No thread is created on the inline path; a chain that completes inline
//! costs no cross-thread round trip at all.
//!
//! # Completions
//!
//! A chain that completes inline is returned directly as
//! [`Submitted::Done`] (v6: "cached completions are returned directly"), or, with
//! [`InlineCompletions::Queue`], posted to the ring like any other with
//! `COMPLETION_INLINE` set. Every other chain is posted to the completion ring
//! (the `ring` module describes the protocol: v7 `syslet_ring`) and its full [`Done`] — the ring
//! entry plus the batch with every result and output buffer — is returned by
//! [`Executor::reap`]. `BATCH_NO_COMPLETE` chains post nothing; descriptors
//! their atoms left open are closed when they end on a worker.
//!
//! # Back-pressure
//!
//! The ring has `elements` entries. Every accepted chain that may post holds one
//! of them from `submit` until its entry is reaped (or until it is returned
//! inline), so the ring can never overflow and no completion is ever lost.
//! (A `BATCH_SYNC` chain with [`InlineCompletions::Return`] and a
//! `BATCH_NO_COMPLETE` chain never post, so they are never refused.) When
//! none is free, `submit` fails with [`SubmitError::RingFull`] (giving the batch
//! back) or blocks until a reap frees one ([`Backpressure`]).
//!
//! # Cancellation
//!
//! [`Executor::cancel`] on a chain still queued for a worker removes it and posts
//! its completion at once with `COMPLETION_CANCELED` and status `-ECANCELED`
//! (atoms that already ran inline keep their results). On a chain a worker is
//! running it sets a flag: the worker finishes the atom it is in (a blocking call
//! is not interrupted) and stops before the next; the completion then has
//! `COMPLETION_CANCELED`, status `-ECANCELED`, and `atoms_run`, `ran_mask`,
//! `last_atom` and the results say how far it got. A chain whose last atom was
//! already running when the cancel came completes normally. (A worker that hit
//! an internal panic also completes its chain this way, with status
//! `-ENOTRECOVERABLE`, instead of losing it.)
//!
//! # When no worker can be started
//!
//! A chain handed off while no worker exists and none can be started (thread
//! creation fails, e.g. at `RLIMIT_NPROC` or under a tight `RLIMIT_AS`) is not
//! run on the submitting thread, which lacks the workers' seccomp filter: its
//! completion is posted at once with `COMPLETION_CANCELED` and the thread
//! creation's `-errno` (`-EAGAIN`) as status, atoms that ran inline keeping
//! their results. If some worker is alive, it takes the chain from the queue.
//! An executor built with [`ExecutorBuilder::seccomp`]`(false)` runs such a
//! chain on the submitter instead (its workers would be unconfined too). See
//! [`crate::security`].
//!
//! # Shutdown, drop and fork
//!
//! [`Executor::shutdown`] finishes ([`Shutdown::Finish`]) or cancels
//! ([`Shutdown::Cancel`]) the chains in flight, joins every worker and returns
//! every completion not yet reaped. Dropping an executor is `shutdown(Cancel)`
//! with the completions dropped, after closing the descriptors their atoms
//! left open. After `fork()`, in the child, every method returns
//! [`ExecutorError::Forked`] (the child has none of the parent's workers and its
//! locks may be held); dropping it there releases nothing. Make a new executor in
//! the child.

use std::cell::Cell;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use syslets_abi::signature::Blocking;
use syslets_abi::{self as abi, RingEntry, RingHeader};

use crate::completion::Completion;
use crate::policy::Policy;
use crate::ring::Ring;
use crate::seccomp::{FilterOptions, SeccompFilter};
use crate::sys::rusage;
use crate::sys::{atfork, futex};
use crate::validate::ValidatedBatch;
use crate::worker::{self, Found, Job, Pool};
use crate::worker_step::{has_probe, Probe};

/// Identifies a submitted chain; echoed in its ring entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ticket(u64);

impl Ticket {
    /// The number (as in [`RingEntry::ticket`]).
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

/// What to do with a submission when the ring could overflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Backpressure {
    /// Refuse it with [`SubmitError::RingFull`] (the default).
    #[default]
    Refuse,
    /// Block until a reap frees room. (A thread that is also the only reaper
    /// must not use this.)
    Block,
}

/// Where a chain that completed inline is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum InlineCompletions {
    /// Returned directly by `submit` as [`Submitted::Done`] (the default).
    #[default]
    Return,
    /// Posted to the ring like any other (with `COMPLETION_INLINE`).
    Queue,
}

/// How [`Executor::shutdown`] treats the chains in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shutdown {
    /// Run every queued chain to its end.
    Finish,
    /// Cancel queued chains; running ones stop before their next atom.
    Cancel,
}

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
    /// Most worker threads (default 16; at least 1). Workers mostly sleep in
    /// blocking calls, so more than the number of cores helps storage
    /// concurrency.
    pub fn max_workers(mut self, n: usize) -> Self {
        self.max_workers = n;
        self
    }

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
    pub fn max_running(mut self, n: usize) -> Self {
        self.max_running = Some(n);
        self
    }

    /// Entries of the completion ring, a power of two (default 256).
    pub fn ring_size(mut self, n: u32) -> Self {
        self.ring_size = n;
        self
    }

    /// How long a worker waits for work before it exits (default 5 s).
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.idle_timeout = d;
        self
    }

    /// What `submit` does when the ring could overflow.
    pub fn backpressure(mut self, b: Backpressure) -> Self {
        self.backpressure = b;
        self
    }

    /// Where chains that complete inline are reported.
    pub fn inline_completions(mut self, c: InlineCompletions) -> Self {
        self.inline_completions = c;
        self
    }

    /// Latency above which a run of a storage call without a non-blocking
    /// form counts as a miss (default 20 µs; see the module docs, rule 4).
    pub fn handoff_threshold(mut self, d: Duration) -> Self {
        self.handoff_threshold = d;
        self
    }

    /// Of the atoms the miss rate sends to workers, run every n-th inline to
    /// re-measure (default 32; 0 never re-probes).
    pub fn reprobe_every(mut self, n: u32) -> Self {
        self.reprobe_every = n;
        self
    }

    /// The policy workers are confined to: every worker installs the seccomp
    /// filter generated from it before it runs any atom (default:
    /// [`Policy::default`]). Validate the batches you submit with the same policy:
    /// a call the filter does not allow fails with `EPERM` on a worker.
    pub fn policy(mut self, p: Policy) -> Self {
        self.policy = p;
        self
    }

    /// Whether workers run under the policy's seccomp filter (default: yes).
    /// Turning it off leaves only validation between a bug and the kernel; it
    /// exists for environments that forbid `seccomp(2)` itself. Off, a chain
    /// no worker can be started for runs on the submitting thread (on, it
    /// fails: see the module docs, "When no worker can be started").
    pub fn seccomp(mut self, on: bool) -> Self {
        self.seccomp = on;
        self
    }

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
    pub fn use_spare_cpus(mut self, on: bool) -> Self {
        self.spare_cpus = on;
        self
    }

    /// The value both ring indices start at (default 0). Lets tests cross the
    /// `u32` wrap of the indices quickly.
    pub fn ring_start_index(mut self, start: u32) -> Self {
        self.ring_start = start;
        self
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
                self.handoff_threshold.max(worker::STALL_MIN),
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

/// Per-syscall-number miss rates (rule 4 of the module docs).
#[derive(Debug)]
pub(crate) struct Estimator {
    /// Decayed fraction of recent calls slower than the threshold, by syscall
    /// number, in units of 2^-16.
    miss_rate: [AtomicU32; 512],
    /// Counts hand-off decisions, for the periodic inline re-probe.
    handoffs: [AtomicU32; 512],
    /// Decayed mean cost of a call, by syscall number, in nanoseconds (for
    /// the spread rule: is a chain worth a hand-off).
    cost_ns: [AtomicU32; 512],
    threshold_ns: u128,
    reprobe_every: u32,
}

/// Weight of one sample: `rate += (sample - rate) / 64`.
const MISS_DECAY_SHIFT: u32 = 6;
/// Hand off while more than 1/64 of recent calls missed (one miss alone,
/// from a rate of 0, reaches exactly this and does not flip the class).
const MISS_RATE_MAX: u32 = 1 << (16 - 6);
/// Weight of one sample of a call's mean cost: `cost += (took - cost) / 16`
/// (a class's cost follows the cache within a few dozen calls).
const COST_DECAY_SHIFT: u32 = 4;
/// A chain is spread only if it is expected to take this long: a hand-off to
/// a busy worker costs 2–5 µs (queue, ring, reap, the chain's cache lines
/// moving to the other CPU) and one that wakes an idle worker 20–40 µs on
/// the project's VM, so a chain of at least 50 µs gains at least half of its
/// time even then.
const SPREAD_MIN_NS: u64 = 50_000;
/// What an atom that is not timed (never blocks, or is probed) is assumed to
/// cost for the spread rule.
const UNTIMED_COST_NS: u64 = 500;

impl Estimator {
    fn new(threshold: Duration, reprobe_every: u32) -> Estimator {
        Estimator {
            miss_rate: [const { AtomicU32::new(0) }; 512],
            handoffs: [const { AtomicU32::new(0) }; 512],
            cost_ns: [const { AtomicU32::new(0) }; 512],
            threshold_ns: threshold.as_nanos(),
            reprobe_every,
        }
    }

    /// Whether calls of `nr` currently miss (are expected to block).
    pub(crate) fn missing(&self, nr: u32) -> bool {
        self.miss_rate[nr as usize & 511].load(Ordering::Relaxed) > MISS_RATE_MAX
    }

    /// Whether an atom of `nr` should run inline now.
    fn inline_ok(&self, nr: u32) -> bool {
        let i = nr as usize & 511;
        if self.miss_rate[i].load(Ordering::Relaxed) <= MISS_RATE_MAX {
            return true;
        }
        let n = self.handoffs[i].fetch_add(1, Ordering::Relaxed);
        self.reprobe_every != 0 && n % self.reprobe_every == self.reprobe_every - 1
    }

    /// Feed one measured latency of `nr`, which returned `ret`.
    pub(crate) fn record(&self, nr: u32, took: Duration, ret: i64) {
        let i = nr as usize & 511;
        let mut allowed = self.threshold_ns;
        if abi::signature::lookup(nr).is_some_and(|s| s.cost == abi::signature::Cost::PerKib) {
            // Long even when cached: the first read of an ext4 htree directory
            // sets up its hash walk (30-50 µs here), and each KiB of entries
            // costs ~10 µs. Allow three thresholds plus one per KiB returned; a
            // read that waits for the disk (≥ 150 µs per I/O) still misses.
            allowed = self.threshold_ns * (3 + ret.max(0) as u128 / 1024);
        }
        // A slow call is a miss only if the thread slept in it: on a busy
        // machine a preempted call is slow too, but a worker would not help.
        let sample: i64 = if took.as_nanos() > allowed && rusage::slept() {
            1 << 16
        } else {
            0
        };
        let old = self.miss_rate[i].load(Ordering::Relaxed) as i64;
        // Racing updates may lose a sample; the rate stays a rate.
        let new = old + ((sample - old) >> MISS_DECAY_SHIFT);
        self.miss_rate[i].store(new as u32, Ordering::Relaxed);
        let took = took.as_nanos().min(u32::MAX as u128) as i64;
        let old = self.cost_ns[i].load(Ordering::Relaxed) as i64;
        let new = old + ((took - old) >> COST_DECAY_SHIFT);
        self.cost_ns[i].store(new as u32, Ordering::Relaxed);
    }

    /// Whether the atoms of `batch` from its cursor on are expected to run
    /// inline (none predicted to block) and to take at least
    /// [`SPREAD_MIN_NS`] together: worth spreading to a spare CPU.
    fn worth_spreading(&self, batch: &ValidatedBatch<'_>) -> bool {
        let mut total: u64 = 0;
        for i in batch.cursor as usize..batch.len() {
            let step = batch.step(i);
            let nr = step.nr;
            total += match step.sig().blocking {
                Blocking::Never => UNTIMED_COST_NS,
                Blocking::Network => return false,
                Blocking::Storage if self.missing(nr) => return false,
                Blocking::Storage if has_probe(nr) => UNTIMED_COST_NS,
                Blocking::Storage => self.cost_ns[nr as usize & 511].load(Ordering::Relaxed) as u64,
            };
            if total >= SPREAD_MIN_NS {
                return true;
            }
        }
        false
    }
}

/// State shared by the executor and its workers.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) ring: Ring,
    /// Ring entries not claimed by a chain in flight or an unreaped entry.
    credits: AtomicU32,
    credit_waiters: AtomicU32,
    /// Chains handed to the pool that will post a completion and have not yet.
    /// Decremented before the entry is published, so a waiter that sees it
    /// non-zero (after reading `kernel_head`) is sure a later post wakes it.
    handed_off: AtomicU32,
    next_ticket: AtomicU64,
    pub(crate) pool: Pool,
    pub(crate) estimator: Estimator,
    /// The workers' seccomp filter (generated from the policy), if enabled.
    pub(crate) filter: Option<SeccompFilter>,
    backpressure: Backpressure,
    inline_completions: InlineCompletions,
    /// [`ExecutorBuilder::use_spare_cpus`].
    spare_cpus: bool,
    /// Delivers a worker's finished chain instead of the ring, when it can
    /// ([`Executor::set_completion_hook`]).
    hook: OnceLock<CompletionHook>,
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
    fn take_credit(&self, block: bool) -> bool {
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

    fn release_credits(&self, n: u32) {
        if n == 0 {
            return;
        }
        self.credits.fetch_add(n, Ordering::SeqCst);
        if self.credit_waiters.load(Ordering::SeqCst) > 0 {
            futex::wake(&self.credits, i32::MAX);
        }
    }

    /// Chains handed to workers whose completion is not posted yet.
    fn in_flight(&self) -> u32 {
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

/// Run the atom at the cursor and feed its latency to the estimator.
pub(crate) fn run_timed(estimator: &Estimator, batch: &mut ValidatedBatch<'_>) {
    let i = batch.cursor as usize;
    let nr = batch.step(i).nr;
    let t0 = Instant::now();
    batch.run_one();
    estimator.record(nr, t0.elapsed(), batch.completion().0.results[i]);
}

fn entry_of(ticket: u64, c: &Completion) -> RingEntry {
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

/// What [`Executor::submit_boxed`] did with a chain.
#[derive(Debug)]
pub(crate) enum SubmittedBox {
    /// It completed inline; here is the batch with its completion.
    Done(Box<ValidatedBatch<'static>>),
    /// It is in flight (or its inline completion was queued).
    Queued(Ticket),
}

/// How [`Executor::begin`] went on with a chain.
enum Begun {
    /// Completed inline, to be returned (its ring credit already released).
    Done(u64),
    /// Completed inline, to be posted to the ring ([`InlineCompletions::Queue`]).
    Queue(u64),
    /// To be handed to a worker (bytes a probe already transferred; whether
    /// it is spread to a spare CPU, [`ExecutorBuilder::use_spare_cpus`]).
    Handoff(u64, Option<u64>, bool),
}

/// Why [`Executor::begin`] refused a chain (nothing of it ran).
enum Refused {
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
    shared: Arc<Shared>,
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

    fn check(&self) -> Result<(), ExecutorError> {
        if atfork::generation() != self.generation {
            return Err(ExecutorError::Forked);
        }
        Ok(())
    }

    /// Submit a chain (see the module docs for SYNC, ASYNC and the default).
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

    /// [`submit`](Self::submit) for a batch kept in a box: the box is handed
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

    /// The part of a submission that does not depend on who owns the batch:
    /// admission (fork check, ring credit), the ticket, and the inline run.
    fn begin(&self, batch: &mut ValidatedBatch<'static>) -> Result<Begun, Refused> {
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
            while !batch.finished() {
                self.run_timed(batch);
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
    fn hand_off(
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

    fn run_timed(&self, batch: &mut ValidatedBatch<'_>) {
        run_timed(&self.shared.estimator, batch);
    }

    /// Run atoms inline while they will not block. `None`: the chain ended;
    /// `Some(partial)`: hand the rest to a worker.
    fn run_until_blocking(&self, batch: &mut ValidatedBatch<'_>) -> Option<Option<u64>> {
        while !batch.finished() {
            let step = batch.step(batch.cursor as usize);
            let (nr, blocking) = (step.nr, step.sig().blocking);
            if blocking == Blocking::Never {
                batch.run_one();
                continue;
            }
            if has_probe(nr) {
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
            self.run_timed(batch);
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

    /// [`reap_into`](Self::reap_into) giving the finished batches in their
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
    fn drain(&self, mut each: impl FnMut(RingEntry, Box<ValidatedBatch<'static>>)) -> usize {
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
                .then(|| Instant::now().checked_add(worker::TICK))
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

    /// Install the completion hook (once; before the first submission that
    /// may hand off). Crate-internal: the AIO engine delivers most of its
    /// requests from the worker that ran them ([`HookFn`], docs/async.md).
    /// Returns false if a hook was installed already.
    pub(crate) fn set_completion_hook(&self, hook: Box<HookFn>) -> bool {
        self.shared.hook.set(CompletionHook(hook)).is_ok()
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

    /// Cancel a chain (see the module docs for the rule).
    pub fn cancel(&self, ticket: Ticket) -> Result<Canceled, ExecutorError> {
        self.cancel_sure(ticket).map(|(c, _)| c)
    }

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
                worker::cancel_rest(&mut batch, -(libc::ECANCELED as i64));
                self.shared.complete_job(ticket, batch);
                Ok((Canceled::NotStarted, false))
            }
            Found::Running => Ok((Canceled::Requested, false)),
            Found::Stopping => Ok((Canceled::Requested, true)),
            Found::None => Ok((Canceled::NotFound, false)),
        }
    }

    /// Finish or cancel the chains in flight, join every worker, and return
    /// every completion not reaped yet.
    pub fn shutdown(mut self, mode: Shutdown) -> Result<Vec<Done>, ExecutorError> {
        self.check()?;
        Ok(self.close(mode))
    }

    fn close(&mut self, mode: Shutdown) -> Vec<Done> {
        self.closed = true;
        let (handles, canceled) = self.shared.pool.stop(mode == Shutdown::Cancel);
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
            worker::cancel_rest(&mut batch, -(libc::ECANCELED as i64));
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
        for mut done in self.close(Shutdown::Cancel) {
            drop(done.batch.take_fds());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::Chain;
    use crate::opcode::Getpid;
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
        use crate::opcode::{Gettid, Newfstatat};
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
        use crate::opcode::Read;
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
