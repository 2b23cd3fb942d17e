//! The cachemiss workers: a pool that starts empty, grows on demand up to its
//! maximum, and shrinks when a worker has been idle for the idle timeout.
//!
//! A worker takes the rest of a chain — the [`ValidatedBatch`] with its
//! completion so far and its cursor at the first atom not run — and runs it to
//! its end (or to a cancel request), then posts the completion to the ring.
//!
//! How many run at once is the cachemiss rule: at most `max_running` workers
//! (by default one less than the CPUs: the submitting thread runs on one)
//! run chains while not stalled in the kernel; the pool grows beyond that, up
//! to `max_workers`, only while workers are stalled: running an atom
//! predicted to block (a network call, or a storage call whose class
//! currently misses, see the estimator in `executor.rs`), or an atom that has
//! run for longer than [`STALL_MIN`] (or the hand-off threshold if that is
//! longer) *and* whose thread the kernel reports asleep (`S` or `D` in
//! `/proc/self/task/<tid>/stat`, read by the submitter, [`Pool::confirm_stalls`]):
//! a worker that waits for a CPU is runnable (`R`), and another runnable
//! thread would only compete with it. When a stall ends, the surplus worker
//! finishes its chain and goes idle instead of taking another. The decision
//! is re-made when a chain is queued, when a worker is about to run an atom
//! predicted to block (it can wake an idle worker; only the submitter spawns,
//! since the workers' seccomp filter forbids `clone`), and every [`TICK`]
//! while the submitter sleeps in `wait` with chains queued.
//!
//! Spare CPUs (`ExecutorBuilder::use_spare_cpus`): a chain that would run
//! inline may be *spread* to a worker instead, while the pool measures that
//! workers get a CPU without waiting for it ([`Pool::spare_cpu`]): the run
//! delay (`/proc/self/task/<tid>/schedstat`) of the submitter and the workers
//! together stays under [`SPARE_WAIT_MAX`] of the time. At most one spread
//! chain waits in the queue, and a submitter that would sleep in `wait` runs
//! the waiting spread chains itself ([`Pool::take_spread`]).
//!
//! Every worker thread calls [`worker_init`] before it takes any job: that is
//! the single hook point for thread-level confinement (the seccomp filter).

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::confine::seccomp::{install_filter, SeccompFilter};
use crate::confine::validate::ValidatedBatch;
use crate::executor::estimator::{run_timed, Estimator};
use crate::sys::rusage::SchedStat;
use syslets_abi::signature::Blocking;

/// What the workers need from the executor that owns their pool. The pool is
/// generic over it (not tied to the executor's shared state) so that the
/// executor depends on the pool and not the other way round; it is
/// monomorphised, so the calls cost what direct field accesses did.
pub(crate) trait PoolOwner: Send + Sync + 'static {
    /// The pool itself.
    fn pool(&self) -> &Pool;
    /// The workers' seccomp filter, when the executor confines them.
    fn filter(&self) -> Option<&SeccompFilter>;
    /// The handoff estimator the workers feed with the latencies they see.
    fn estimator(&self) -> &Estimator;
    /// Deliver a chain a worker finished (to the completion hook or the ring).
    fn finish_job(&self, ticket: u64, batch: Box<ValidatedBatch<'static>>);
}

/// Start-up of every worker thread, before it runs any atom: install the
/// executor's seccomp filter (generated once from its policy, see
/// [`crate::seccomp`]) on this thread. When this fails the worker runs no
/// atom: every chain it takes is completed at once with `COMPLETION_CANCELED`
/// and the error's `-errno` as status (fail closed).
pub(crate) fn worker_init(filter: Option<&SeccompFilter>) -> io::Result<()> {
    match filter {
        Some(f) => install_filter(f),
        None => Ok(()),
    }
}

/// The rest of a chain, handed to a worker.
#[derive(Debug)]
pub(crate) struct Job {
    pub ticket: u64,
    pub batch: Box<ValidatedBatch<'static>>,
    /// Bytes a non-blocking probe already transferred for the atom at the cursor.
    pub partial: Option<u64>,
    /// Spread to a spare CPU (it would have run inline): the submitter may
    /// take it back while no worker has started it.
    pub spread: bool,
}

#[derive(Debug, Default)]
struct PoolState {
    queue: VecDeque<Job>,
    /// Workers running a chain (or just finished with one: a worker counts
    /// its chain out when it next takes the lock).
    busy: usize,
    /// Worker threads alive (started and not yet returned from their loop).
    threads: usize,
    /// Workers waiting for a job and not yet woken.
    idle: usize,
    /// Idle workers woken for a job that have not yet run (each takes one).
    woken: usize,
    /// Worker slots not used by a live worker.
    free_slots: Vec<usize>,
    shutdown: bool,
    handles: Vec<JoinHandle<()>>,
}

/// How often a submitter sleeping in `wait` with chains queued re-checks for
/// stalled workers (stalls that no prediction announced).
pub(crate) const TICK: Duration = Duration::from_millis(1);

/// How long an atom nothing predicted to block must run before the
/// submitter asks the kernel whether its worker sleeps (a stall) or waits for
/// a CPU (not one). No cached call takes this long unless its thread was
/// preempted; it bounds how long a chain can wait behind an unpredicted block
/// (a read of an empty pipe), and the state check (4–10 µs) is made at most
/// once per [`TICK`] per worker.
pub(crate) const STALL_MIN: Duration = Duration::from_millis(2);

/// Bit of [`WorkerSlot::atom_start`]: the atom was predicted to block.
const PREDICTED: u64 = 1;
/// Bit of [`WorkerSlot::atom_start`]: the submitter saw the worker asleep in
/// this atom ([`Pool::confirm_stalls`]).
const ASLEEP: u64 = 2;

/// Spare-CPU monitor: sample the threads' run delay at most this often.
const SPARE_SAMPLE_NS: u64 = 1_000_000;
/// Spare-CPU monitor: judge over windows of this length. A few scheduler
/// slices (0.75–3 ms), so a worker that competes has been made to wait.
const SPARE_WINDOW_NS: u64 = 5_000_000;
/// Spare-CPU monitor: the submitter and the workers compete when together
/// they waited for a CPU for more than a quarter of the window. With a CPU of
/// their own they wait a few per cent (interrupts, kernel threads); sharing
/// one, each waits about half of the time.
pub(crate) const SPARE_WAIT_MAX: (u64, u64) = (1, 4);
/// Spare-CPU monitor: after a window that competed, spread nothing for this
/// long, doubling (to [`SPARE_BACKOFF_MAX_NS`]) while each retry competes
/// again. The first retry comes soon (a compile's link step ends), later ones
/// rarely: each costs one window of competing.
const SPARE_BACKOFF_MIN_NS: u64 = 32_000_000;
/// Longest back-off: at most 1/200 of the time is spent re-checking.
const SPARE_BACKOFF_MAX_NS: u64 = 1_000_000_000;

/// The spare-CPU verdict on one window: the watched threads competed for
/// CPUs when together they waited for one (`run_delay`) more than
/// [`SPARE_WAIT_MAX`] of the window's length.
fn competing(waited_ns: u64, window_ns: u64) -> bool {
    let (num, den) = SPARE_WAIT_MAX;
    waited_ns.saturating_mul(den) > window_ns.saturating_mul(num)
}

/// A worker's view of its own [`WorkerSlot::atom_start`].
#[derive(Debug)]
pub(crate) struct StallSlot<'a> {
    slot: &'a AtomicU64,
    epoch: Instant,
}

impl StallSlot<'_> {
    /// An atom starts now.
    pub(crate) fn enter(&self, now: Instant, predicted: bool) {
        let ns =
            (now.saturating_duration_since(self.epoch).as_nanos() as u64) & !(PREDICTED | ASLEEP);
        self.slot
            .store(ns.max(4) | u64::from(predicted), Ordering::Relaxed);
    }

    /// The atom returned.
    pub(crate) fn leave(&self) {
        self.slot.store(0, Ordering::Relaxed);
    }
}

/// The pool of workers.
#[derive(Debug)]
pub(crate) struct Pool {
    state: Mutex<PoolState>,
    work: Condvar,
    max: usize,
    /// Workers that may run chains at once while none is stalled.
    max_running: usize,
    idle_timeout: Duration,
    /// One per possible worker, indexed by the slot it was started on.
    workers: Box<[WorkerSlot]>,
    epoch: Instant,
    /// An atom running longer than this stalls its worker.
    stall_ns: u64,
    /// Length of `state.queue`, readable without the lock.
    queued: AtomicUsize,
    /// Spread jobs in `state.queue` (changed under the lock).
    spread_queued: AtomicUsize,
    /// `state.idle`, readable without the lock.
    sleeping: AtomicUsize,
    /// No chain is spread before this time (ns since `epoch`): the spare-CPU
    /// monitor's back-off.
    spare_from: AtomicU64,
    /// When the monitor last sampled (ns since `epoch`).
    spare_sampled: AtomicU64,
    spare: Mutex<SpareMonitor>,
}

/// The spare-CPU monitor's state ([`Pool::spare_cpu`]).
#[derive(Debug, Default)]
struct SpareMonitor {
    /// The threads watched (the sampling submitter, the live workers): tid,
    /// its schedstat, the run delay last read.
    threads: Vec<(u32, SchedStat, u64)>,
    /// Start of the current window (ns since the pool's epoch) and the run
    /// delay summed over the threads since.
    window_start: u64,
    window_wait: u64,
    /// The next back-off.
    backoff: u64,
    /// The next sample only re-reads the counters (after a back-off: what
    /// accumulated meanwhile is not a measurement of spreading).
    fresh: bool,
    /// `schedstat` cannot be read here: never spread.
    unavailable: bool,
}

/// What the pool knows of one worker without its lock.
///
/// `tid` is the worker thread's id (0: no live worker on this slot), for the
/// submitter's looks at its state and run delay.
///
/// `ticket` (0: none) and `cancel` are the chain it runs, for
/// [`Pool::cancel`]: set, and reset, only under the lock (by the worker taking
/// a job; by `cancel` and `stop` for the flag); a worker clears its ticket
/// without the lock when its chain ended, before posting the completion, so
/// that a cancel after the completion was reaped finds nothing. One lock
/// acquisition per job on the worker's side: taking the next job (the old
/// chain is counted out there).
#[derive(Debug, Default)]
struct WorkerSlot {
    ticket: AtomicU64,
    /// [`CANCEL`] and [`IN_ATOM`] bits of the chain it runs.
    cancel: AtomicU8,
    /// Start of the atom the worker is running, for the cachemiss rule
    /// (nanoseconds since the pool's epoch, a multiple of 4, `| PREDICTED`
    /// when predicted to block, `| ASLEEP` once seen asleep in it); 0 between
    /// atoms.
    atom_start: AtomicU64,
    tid: AtomicU32,
    /// When the submitter last read this worker's state (ns since the epoch).
    checked: AtomicU64,
}

/// In [`WorkerSlot::cancel`]: the chain is asked to stop before its next atom.
pub(crate) const CANCEL: u8 = 1;
/// In [`WorkerSlot::cancel`]: the worker began an atom (set from before the
/// atom's cancel check until the next check; kept after the last atom), so a
/// cancel that finds it clear is sure to stop the chain.
pub(crate) const IN_ATOM: u8 = 2;

/// What [`Pool::cancel`] found.
pub(crate) enum Found {
    /// The job was queued; here it is, removed from the queue.
    Queued(Box<Job>),
    /// A worker runs it, inside an atom (or past its last); its cancel flag
    /// is now set.
    Running,
    /// A worker had taken it but not begun its next atom: its cancel flag is
    /// now set, and the worker will not begin another atom.
    Stopping,
    /// No such job (finished, never queued, or unknown).
    None,
}

impl Pool {
    pub(crate) fn new(
        max: usize,
        max_running: usize,
        idle_timeout: Duration,
        stall: Duration,
    ) -> Pool {
        let state = PoolState {
            free_slots: (0..max).rev().collect(),
            ..PoolState::default()
        };
        Pool {
            state: Mutex::new(state),
            work: Condvar::new(),
            max,
            max_running: max_running.clamp(1, max),
            idle_timeout,
            workers: (0..max).map(|_| WorkerSlot::default()).collect(),
            epoch: Instant::now(),
            stall_ns: stall.as_nanos().min(u64::MAX as u128) as u64,
            queued: AtomicUsize::new(0),
            spread_queued: AtomicUsize::new(0),
            sleeping: AtomicUsize::new(0),
            spare_from: AtomicU64::new(0),
            spare_sampled: AtomicU64::new(0),
            spare: Mutex::new(SpareMonitor {
                backoff: SPARE_BACKOFF_MIN_NS,
                fresh: true,
                ..SpareMonitor::default()
            }),
        }
    }

    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Whether chains are waiting for a worker.
    pub(crate) fn has_queued(&self) -> bool {
        self.queued.load(Ordering::Relaxed) > 0
    }

    /// Workers stalled in the kernel now: in an atom predicted to block, or
    /// seen asleep in a long one ([`confirm_stalls`](Self::confirm_stalls)).
    fn stalled(&self) -> usize {
        self.workers
            .iter()
            .map(|w| w.atom_start.load(Ordering::Relaxed))
            .filter(|&v| v & (PREDICTED | ASLEEP) != 0)
            .count()
    }

    /// From a submitting thread (the workers' filter allows no `open`): mark
    /// workers whose unpredicted atom has run longer than the stall time and
    /// that the kernel reports asleep, so that [`stalled`](Self::stalled)
    /// counts them. A worker that is runnable — preempted, waiting for a CPU
    /// — is not stalled: one more runnable thread would only compete. Costs a
    /// few atomic loads unless an atom runs long; then one `/proc` read per
    /// worker per [`TICK`].
    pub(crate) fn confirm_stalls(&self) {
        let mut now = 0;
        for w in self.workers.iter() {
            let v = w.atom_start.load(Ordering::Relaxed);
            if v == 0 || v & (PREDICTED | ASLEEP) != 0 {
                continue;
            }
            if now == 0 {
                now = self.now_ns();
            }
            if now.saturating_sub(v) <= self.stall_ns
                || now.saturating_sub(w.checked.load(Ordering::Relaxed)) < TICK.as_nanos() as u64
            {
                continue;
            }
            w.checked.store(now, Ordering::Relaxed);
            let tid = w.tid.load(Ordering::Relaxed);
            if tid != 0 && crate::sys::rusage::sleeping(tid) == Some(true) {
                // Only if it is still in the same atom.
                let _ = w.atom_start.compare_exchange(
                    v,
                    v | ASLEEP,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
            }
        }
    }

    /// Whether a chain that would run inline may be spread to a worker now:
    /// no spread chain is waiting for a worker already, and the spare-CPU
    /// monitor finds that the submitter and the workers get CPUs without
    /// waiting for them ([executor docs](crate::executor)). Called by a submitting thread; at most
    /// once per [`SPARE_SAMPLE_NS`] it reads the run delay of itself and each
    /// live worker (about 1 µs each).
    pub(crate) fn spare_cpu(&self) -> bool {
        if self.spread_queued.load(Ordering::Relaxed) > 0 {
            return false;
        }
        let now = self.now_ns();
        if now < self.spare_from.load(Ordering::Relaxed) {
            return false;
        }
        if now.saturating_sub(self.spare_sampled.load(Ordering::Relaxed)) < SPARE_SAMPLE_NS {
            return true;
        }
        let Ok(mut m) = self.spare.try_lock() else {
            // Another submitter is sampling.
            return true;
        };
        self.spare_sampled.store(now, Ordering::Relaxed);
        self.sample(&mut m, now)
    }

    /// Tests: let the next spread decisions find a spare CPU without
    /// sampling (for a second).
    #[cfg(test)]
    pub(crate) fn assume_spare_cpu(&self) {
        self.spare_from.store(0, Ordering::Relaxed);
        self.spare_sampled
            .store(self.now_ns() + 1_000_000_000, Ordering::Relaxed);
    }

    /// One sample of the spare-CPU monitor; false when spreading must stop.
    fn sample(&self, m: &mut SpareMonitor, now: u64) -> bool {
        if m.unavailable {
            return false;
        }
        let me = crate::sys::rusage::gettid();
        let tids = std::iter::once(me).chain(
            self.workers
                .iter()
                .map(|w| w.tid.load(Ordering::Relaxed))
                .filter(|&t| t != 0),
        );
        let mut waited = 0;
        let mut kept = Vec::with_capacity(m.threads.len() + 1);
        for tid in tids {
            let known = m.threads.iter().position(|t| t.0 == tid);
            let (stat, last) = match known {
                Some(i) => {
                    let (_, stat, last) = m.threads.swap_remove(i);
                    (stat, Some(last))
                }
                None => match SchedStat::open(tid) {
                    Some(stat) => (stat, None),
                    None if tid == me => {
                        m.unavailable = true;
                        return false;
                    }
                    // A worker that just left.
                    None => continue,
                },
            };
            let Some(delay) = stat.run_delay() else {
                continue;
            };
            if let Some(last) = last {
                waited += delay.saturating_sub(last);
            }
            kept.push((tid, stat, delay));
        }
        m.threads = kept;
        if std::mem::take(&mut m.fresh) {
            m.window_start = now;
            m.window_wait = 0;
            return true;
        }
        m.window_wait += waited;
        let span = now.saturating_sub(m.window_start);
        if span < SPARE_WINDOW_NS {
            return true;
        }
        let competing = competing(m.window_wait, span);
        m.window_start = now;
        m.window_wait = 0;
        if competing {
            self.spare_from.store(now + m.backoff, Ordering::Relaxed);
            m.backoff = (m.backoff * 2).min(SPARE_BACKOFF_MAX_NS);
            m.fresh = true;
            false
        } else {
            m.backoff = SPARE_BACKOFF_MIN_NS;
            true
        }
    }

    /// A queued spread chain no worker has started, for the submitter to run
    /// itself (the newest: the workers take from the front).
    pub(crate) fn take_spread(&self) -> Option<Job> {
        if self.spread_queued.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut st = self.lock();
        let pos = st.queue.iter().rposition(|j| j.spread)?;
        let job = st.queue.remove(pos).expect("position is in range");
        self.unqueued(&st, &job);
        Some(job)
    }

    /// Update the lock-free mirrors after `job` left the queue.
    fn unqueued(&self, st: &PoolState, job: &Job) {
        self.queued.store(st.queue.len(), Ordering::Relaxed);
        if job.spread {
            self.spread_queued.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Workers alive, not idle and not stalled: running a chain, starting,
    /// woken, or between two chains.
    fn unstalled(&self, st: &PoolState) -> usize {
        (st.threads - st.idle).saturating_sub(self.stalled())
    }

    /// The cachemiss rule ([executor docs](crate::executor)): wake idle workers, or ask for a new
    /// one (`may_spawn`: the caller can start threads), while chains are
    /// queued and fewer than `max_running` workers run unstalled. Returns
    /// the worker slot of a thread to start (`threads` already counts it).
    fn plan(&self, st: &mut PoolState, may_spawn: bool) -> Option<usize> {
        let queued = st.queue.len().saturating_sub(st.woken);
        if queued == 0 {
            return None;
        }
        let running = self.unstalled(st);
        if running >= self.max_running {
            return None;
        }
        let want = queued.min(self.max_running - running);
        if st.idle > 0 {
            // (A notify costs a futex syscall even with nobody waiting, so
            // only as many as there are sleepers and jobs.)
            for _ in 0..want.min(st.idle) {
                st.idle -= 1;
                st.woken += 1;
                self.work.notify_one();
            }
            self.sleeping.store(st.idle, Ordering::Relaxed);
            return None;
        }
        if !may_spawn || st.threads >= self.max {
            return None;
        }
        let slot = st.free_slots.pop()?;
        st.threads += 1;
        Some(slot)
    }

    /// Re-apply the cachemiss rule from the submitting thread (it may spawn).
    pub(crate) fn rebalance<S: PoolOwner>(shared: &Arc<S>) {
        shared.pool().confirm_stalls();
        let spawn = {
            let mut st = shared.pool().lock();
            shared.pool().plan(&mut st, true)
        };
        if let Some(slot) = spawn {
            Self::spawn(shared, slot);
        }
    }

    /// A worker is about to run an atom predicted to block: wake an idle
    /// worker for the queue if it would otherwise wait behind the stall.
    fn before_stall(&self) {
        if self.has_queued() && self.sleeping.load(Ordering::Relaxed) > 0 {
            let mut st = self.lock();
            self.plan(&mut st, false);
        }
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every queued job, taken out of the queue, whose counters go to zero
    /// with it (under the state lock, so no submitter sees them disagree).
    fn take_queue(&self, st: &mut PoolState) -> Vec<Job> {
        let jobs = st.queue.drain(..).collect();
        self.queued.store(0, Ordering::Relaxed);
        self.spread_queued.store(0, Ordering::Relaxed);
        jobs
    }

    /// Worker threads alive now.
    pub(crate) fn threads(&self) -> usize {
        self.lock().threads
    }

    /// Queue `job`, then wake or start a worker for it if the cachemiss rule
    /// allows one more to run.
    pub(crate) fn dispatch<S: PoolOwner>(shared: &Arc<S>, job: Job) {
        let pool = shared.pool();
        pool.confirm_stalls();
        let (spawn, finished) = {
            let mut st = pool.lock();
            if job.spread {
                pool.spread_queued.fetch_add(1, Ordering::Relaxed);
            }
            st.queue.push_back(job);
            pool.queued.store(st.queue.len(), Ordering::Relaxed);
            let spawn = pool.plan(&mut st, true);
            // Collect the handles of workers that left after an idle timeout.
            let finished = if spawn.is_some() {
                let (done, alive) = std::mem::take(&mut st.handles)
                    .into_iter()
                    .partition(|h| h.is_finished());
                st.handles = alive;
                done
            } else {
                Vec::new()
            };
            (spawn, finished)
        };
        for h in finished {
            let _ = h.join();
        }
        if let Some(slot) = spawn {
            Self::spawn(shared, slot);
        }
    }

    /// Start a worker on worker slot `slot` (`threads` already counts it).
    fn spawn<S: PoolOwner>(shared: &Arc<S>, slot: usize) {
        let pool = shared.pool();
        let worker_shared = Arc::clone(shared);
        // Workers start with every signal blocked: a handler the application
        // installed must never run on them (and a signal must not interrupt an
        // atom a worker is running).
        let spawned = if crate::fault::active(crate::fault::Fault::WorkerSpawn) {
            Err(io::Error::from_raw_os_error(libc::EAGAIN))
        } else {
            crate::sys::signals::with_signals_blocked(|| {
                std::thread::Builder::new()
                    .name("syslet-worker".into())
                    .spawn(move || worker_main(worker_shared, slot))
            })
        };
        match spawned {
            Ok(h) => pool.lock().handles.push(h),
            Err(err) => {
                // No thread: if no worker is left to run the queue, end it here
                // rather than leave chains stranded. This thread has no seccomp
                // filter (installing one would confine the caller for good), so
                // with a filter the chains fail as a worker that cannot be
                // confined fails them (the rest cancelled, status -errno of the
                // thread creation); only without one, when a worker would be as
                // unconfined as this thread, do they run here.
                let refuse = shared.filter().is_some().then_some(&err);
                let orphans: Vec<Job> = {
                    let mut st = pool.lock();
                    st.threads -= 1;
                    st.free_slots.push(slot);
                    if st.threads == 0 {
                        pool.take_queue(&mut st)
                    } else {
                        Vec::new()
                    }
                };
                for job in orphans {
                    let (ticket, batch) = execute(&**shared, job, &AtomicU8::new(0), refuse, None);
                    shared.finish_job(ticket, batch);
                }
            }
        }
    }

    /// Find `ticket`: remove it from the queue, or flag it when it is running.
    pub(crate) fn cancel(&self, ticket: u64) -> Found {
        let mut st = self.lock();
        if let Some(pos) = st.queue.iter().position(|j| j.ticket == ticket) {
            let job = st.queue.remove(pos).expect("position is in range");
            self.unqueued(&st, &job);
            return Found::Queued(Box::new(job));
        }
        // (Under the lock, so no worker takes a new job into a slot between
        // the match and the flag.)
        match self
            .workers
            .iter()
            .find(|w| w.ticket.load(Ordering::Acquire) == ticket)
        {
            Some(r) => {
                if r.cancel.fetch_or(CANCEL, Ordering::AcqRel) & IN_ATOM != 0 {
                    Found::Running
                } else {
                    Found::Stopping
                }
            }
            None => Found::None,
        }
    }

    /// Stop the pool: no worker waits for more work; with `cancel`, queued
    /// jobs are returned (not run) and running ones asked to stop before
    /// their next atom. Returns the handles to join and the removed jobs.
    pub(crate) fn stop(&self, cancel: bool) -> (Vec<JoinHandle<()>>, Vec<Job>) {
        let mut st = self.lock();
        st.shutdown = true;
        let jobs = if cancel {
            for r in self.workers.iter() {
                if r.ticket.load(Ordering::Acquire) != 0 {
                    r.cancel.fetch_or(CANCEL, Ordering::AcqRel);
                }
            }
            self.take_queue(&mut st)
        } else {
            Vec::new()
        };
        self.work.notify_all();
        (std::mem::take(&mut st.handles), jobs)
    }
}

fn worker_main<S: PoolOwner>(shared: Arc<S>, slot: usize) {
    let pool = shared.pool();
    let run = &pool.workers[slot];
    run.tid
        .store(crate::sys::rusage::gettid(), Ordering::Relaxed);
    let init = worker_init(shared.filter()).err();
    let stall = StallSlot {
        slot: &run.atom_start,
        epoch: pool.epoch,
    };
    let mut st = pool.lock();
    let mut had_job = false;
    // Whether this worker slept (idle) since it last ran an atom.
    let mut slept = false;
    loop {
        if std::mem::take(&mut had_job) {
            // The chain ended (its completion is posted): count it out.
            st.busy -= 1;
        }
        let job = loop {
            // Take a job unless enough other workers (`unstalled` counts
            // this one too) already run unstalled
            // (a surplus worker, started during a stall, goes idle instead).
            // With no job running at all, always take one: the queue never
            // waits for a worker that does not exist.
            if !st.queue.is_empty() && (st.busy == 0 || pool.unstalled(&st) <= pool.max_running) {
                let job = st.queue.pop_front().expect("not empty");
                pool.unqueued(&st, &job);
                break Some(job);
            }
            if st.shutdown {
                break None;
            }
            st.idle += 1;
            pool.sleeping.store(st.idle, Ordering::Relaxed);
            let (guard, timeout) = pool
                .work
                .wait_timeout(st, pool.idle_timeout)
                .unwrap_or_else(|e| e.into_inner());
            st = guard;
            slept = true;
            if st.woken > 0 {
                st.woken -= 1;
            } else {
                st.idle -= 1;
            }
            pool.sleeping.store(st.idle, Ordering::Relaxed);
            if timeout.timed_out() && st.queue.is_empty() {
                break None;
            }
        };
        let Some(job) = job else {
            run.tid.store(0, Ordering::Relaxed);
            st.threads -= 1;
            st.free_slots.push(slot);
            return;
        };
        st.busy += 1;
        had_job = true;
        run.cancel.store(0, Ordering::Relaxed);
        run.ticket.store(job.ticket, Ordering::Release);
        drop(st);
        if std::mem::take(&mut slept) {
            // Outside the pool lock: the estimator must not count the idle
            // sleep against the next atom (`rusage::slept`).
            crate::sys::rusage::mark();
        }
        let (ticket, batch) = execute(&*shared, job, &run.cancel, init.as_ref(), Some(&stall));
        // Forget the ticket before posting (the post releases this store),
        // so that a cancel after the completion was reaped finds nothing.
        // (Or before the completion hook delivers it: a cancel that finds
        // nothing then must wait for the delivery, see the AIO engine.)
        run.ticket.store(0, Ordering::Release);
        shared.finish_job(ticket, batch);
        st = pool.lock();
    }
}

/// Run the rest of `job`; returns the finished chain for the caller to post.
/// `init_error`: the worker could not be confined (see [`worker_init`]), or
/// no worker could be started for a confined pool, so nothing runs.
#[must_use]
pub(crate) fn execute<S: PoolOwner>(
    shared: &S,
    job: Job,
    cancel: &AtomicU8,
    init_error: Option<&io::Error>,
    stall: Option<&StallSlot<'_>>,
) -> (u64, Box<ValidatedBatch<'static>>) {
    let Job {
        ticket,
        mut batch,
        partial,
        ..
    } = job;
    if let Some(err) = init_error {
        let errno = err.raw_os_error().unwrap_or(libc::EPERM) as i64;
        if let Some(done) = partial {
            let i = batch.cursor as usize;
            batch.record(i, done as i64);
        }
        cancel_rest(&mut batch, -errno);
        return (ticket, batch);
    }
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        if let Some(done) = partial {
            // A read or write continued; probed calls are not estimated.
            batch.resume_partial(done);
        }
        // Whether this chain already let an idle worker take the queue.
        let mut announced = false;
        while !batch.finished() {
            // One read-modify-write against `Pool::cancel`'s: either it
            // sees IN_ATOM (the atom runs) or this sees CANCEL (it does not).
            if cancel.fetch_or(IN_ATOM, Ordering::AcqRel) & CANCEL != 0 {
                cancel_rest(&mut batch, -(libc::ECANCELED as i64));
                break;
            }
            match stall {
                Some(slot) => run_watched(shared, slot, &mut batch, &mut announced),
                None => run_timed(shared.estimator(), &mut batch),
            }
            if !batch.finished() {
                cancel.fetch_and(!IN_ATOM, Ordering::AcqRel);
            }
        }
    }));
    if run.is_err() {
        // A bug, not a syscall failure: still post the chain's completion (what
        // ran so far, marked cancelled) rather than lose it with the thread.
        cancel_rest(&mut batch, -(libc::ENOTRECOVERABLE as i64));
    }
    (ticket, batch)
}

/// Mark the chain cancelled where it stands: the atoms that ran keep their
/// results; the status says why it stopped.
pub(crate) fn cancel_rest(batch: &mut ValidatedBatch<'static>, status: i64) {
    let c = &mut batch.completion_mut().0;
    c.flags |= syslets_abi::COMPLETION_CANCELED;
    c.status = status;
    batch.cursor = batch.len() as u16;
}

/// [`run_timed`] on a worker, with the atom's start in the worker's stall
/// slot. The first atom of a chain predicted to block first lets an idle
/// worker take the queue (`announced`); later ones leave that to the
/// submitter's dispatch and wait ticks: in a cold walk nearly every atom is
/// predicted, and each would take the pool lock.
fn run_watched<S: PoolOwner>(
    shared: &S,
    stall: &StallSlot<'_>,
    batch: &mut ValidatedBatch<'static>,
    announced: &mut bool,
) {
    let i = batch.cursor as usize;
    let step = batch.step(i);
    let nr = step.nr;
    let predicted = match step.sig().blocking {
        Blocking::Never => false,
        Blocking::Network => true,
        Blocking::Storage => shared.estimator().missing(nr),
    };
    let t0 = Instant::now();
    stall.enter(t0, predicted);
    if predicted && !std::mem::replace(announced, true) {
        shared.pool().before_stall();
    }
    batch.run_one();
    stall.leave();
    shared
        .estimator()
        .record(nr, t0.elapsed(), batch.completion().0.results[i]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> Pool {
        Pool::new(4, 1, Duration::from_secs(1), STALL_MIN)
    }

    #[test]
    fn waiting_for_a_cpu_a_quarter_of_the_time_is_competing() {
        let ms = 1_000_000;
        assert!(!competing(0, 5 * ms), "no wait");
        assert!(!competing(ms / 4, 5 * ms), "a few per cent: interrupts");
        assert!(!competing(5 * ms / 4, 5 * ms), "exactly a quarter");
        assert!(competing(5 * ms / 4 + 1, 5 * ms), "more than a quarter");
        assert!(competing(5 * ms, 5 * ms), "sharing one CPU: half each");
        assert!(!competing(u64::MAX, u64::MAX), "no overflow");
    }

    /// Only a predicted block, or an atom the kernel showed asleep, is a
    /// stall; an atom that merely runs long (preempted, waiting for a CPU on
    /// a busy machine) is not, however long.
    #[test]
    fn a_long_atom_is_a_stall_only_once_seen_asleep() {
        let p = pool();
        assert_eq!(p.stalled(), 0);
        p.workers[0].atom_start.store(4, Ordering::Relaxed);
        assert_eq!(p.stalled(), 0, "a long unpredicted atom, not seen asleep");
        p.workers[1]
            .atom_start
            .store(8 | PREDICTED, Ordering::Relaxed);
        assert_eq!(p.stalled(), 1, "predicted to block");
        p.workers[0].atom_start.store(4 | ASLEEP, Ordering::Relaxed);
        assert_eq!(p.stalled(), 2, "seen asleep");
        p.workers[0].atom_start.store(0, Ordering::Relaxed);
        assert_eq!(p.stalled(), 1, "between atoms");
    }

    /// A worker that is running (this thread: the kernel reports it `R`) in
    /// an atom far older than the stall time is not marked asleep.
    #[test]
    fn a_running_worker_is_not_confirmed_as_stalled() {
        let p = pool();
        std::thread::sleep(STALL_MIN * 2);
        p.workers[0]
            .tid
            .store(crate::sys::rusage::gettid(), Ordering::Relaxed);
        p.workers[0].atom_start.store(4, Ordering::Relaxed);
        p.confirm_stalls();
        assert_eq!(p.workers[0].atom_start.load(Ordering::Relaxed), 4);
        assert_eq!(p.stalled(), 0);
    }

    #[test]
    fn a_sleeping_worker_in_a_long_atom_is_confirmed_as_stalled() {
        let p = pool();
        let (tx, rx) = std::sync::mpsc::channel();
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            tx.send(crate::sys::rusage::gettid()).unwrap();
            wait.recv().unwrap();
        });
        p.workers[0]
            .tid
            .store(rx.recv().unwrap(), Ordering::Relaxed);
        std::thread::sleep(STALL_MIN * 2);
        p.workers[0].atom_start.store(4, Ordering::Relaxed);
        // The thread may not have reached its recv yet: look again, as the
        // submitter does every TICK.
        for _ in 0..1000 {
            p.confirm_stalls();
            if p.stalled() == 1 {
                break;
            }
            std::thread::sleep(TICK);
        }
        assert_eq!(p.stalled(), 1, "a thread blocked in recv is a stall");
        go.send(()).unwrap();
        t.join().unwrap();
    }
}
