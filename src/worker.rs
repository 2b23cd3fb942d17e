//! The cachemiss workers: a pool that starts empty, grows on demand up to its
//! maximum, and shrinks when a worker has been idle for the idle timeout.
//!
//! A worker takes the rest of a chain — the [`ValidatedBatch`] with its
//! completion so far and its cursor at the first atom not run — and runs it to
//! its end (or to a cancel request), then posts the completion to the ring.
//!
//! Every worker thread calls [`worker_init`] before it takes any job: that is
//! the single hook point for thread-level confinement (the seccomp filter).

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::executor::{run_timed, Shared};
use crate::seccomp::{install_filter, SeccompFilter};
use crate::validate::ValidatedBatch;

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
    pub cancel: Arc<AtomicBool>,
}

#[derive(Debug, Default)]
struct PoolState {
    queue: VecDeque<Job>,
    /// Cancel flags of the chains workers are running, by ticket.
    running: HashMap<u64, Arc<AtomicBool>>,
    /// Worker threads alive (started and not yet returned from their loop).
    threads: usize,
    /// Workers waiting for a job.
    idle: usize,
    shutdown: bool,
    handles: Vec<JoinHandle<()>>,
}

/// The pool of workers.
#[derive(Debug)]
pub(crate) struct Pool {
    state: Mutex<PoolState>,
    work: Condvar,
    max: usize,
    idle_timeout: Duration,
}

/// What [`Pool::cancel`] found.
pub(crate) enum Found {
    /// The job was queued; here it is, removed from the queue.
    Queued(Box<Job>),
    /// A worker runs it; its cancel flag is now set.
    Running,
    /// No such job (finished, never queued, or unknown).
    None,
}

impl Pool {
    pub(crate) fn new(max: usize, idle_timeout: Duration) -> Pool {
        Pool {
            state: Mutex::new(PoolState::default()),
            work: Condvar::new(),
            max,
            idle_timeout,
        }
    }

    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Worker threads alive now.
    pub(crate) fn threads(&self) -> usize {
        self.lock().threads
    }

    /// Queue `job`, starting a worker when no idle one is left for it.
    pub(crate) fn dispatch(shared: &Arc<Shared>, job: Job) {
        let pool = &shared.pool;
        let (spawn, finished) = {
            let mut st = pool.lock();
            st.queue.push_back(job);
            let spawn = st.queue.len() > st.idle && st.threads < pool.max;
            if spawn {
                st.threads += 1;
            } else if st.idle > 0 {
                // (A notify costs a futex syscall even with nobody waiting;
                // busy workers find the job when they come back for more.)
                pool.work.notify_one();
            }
            // Collect the handles of workers that left after an idle timeout.
            let finished = if spawn {
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
        if !spawn {
            return;
        }
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
                    .spawn(move || worker_main(worker_shared))
            })
        };
        match spawned {
            Ok(h) => pool.lock().handles.push(h),
            Err(_) => {
                // No thread: if no worker is left to run the queue, run it here
                // (blocking the submitter) rather than leave chains stranded.
                let orphans: Vec<Job> = {
                    let mut st = pool.lock();
                    st.threads -= 1;
                    if st.threads == 0 {
                        st.queue.drain(..).collect()
                    } else {
                        Vec::new()
                    }
                };
                for job in orphans {
                    let (ticket, batch) = execute(shared, job, None);
                    shared.complete_job(ticket, batch);
                }
            }
        }
    }

    /// Find `ticket`: remove it from the queue, or flag it when it is running.
    pub(crate) fn cancel(&self, ticket: u64) -> Found {
        let mut st = self.lock();
        if let Some(pos) = st.queue.iter().position(|j| j.ticket == ticket) {
            let job = st.queue.remove(pos).expect("position is in range");
            return Found::Queued(Box::new(job));
        }
        match st.running.get(&ticket) {
            Some(flag) => {
                flag.store(true, Ordering::Relaxed);
                Found::Running
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
            for flag in st.running.values() {
                flag.store(true, Ordering::Relaxed);
            }
            st.queue.drain(..).collect()
        } else {
            Vec::new()
        };
        self.work.notify_all();
        (std::mem::take(&mut st.handles), jobs)
    }
}

fn worker_main(shared: Arc<Shared>) {
    let init = worker_init(shared.filter.as_ref()).err();
    let pool = &shared.pool;
    let mut st = pool.lock();
    loop {
        let job = loop {
            if let Some(job) = st.queue.pop_front() {
                break Some(job);
            }
            if st.shutdown {
                break None;
            }
            st.idle += 1;
            let (guard, timeout) = pool
                .work
                .wait_timeout(st, pool.idle_timeout)
                .unwrap_or_else(|e| e.into_inner());
            st = guard;
            st.idle -= 1;
            if timeout.timed_out() && st.queue.is_empty() {
                break None;
            }
        };
        let Some(job) = job else {
            st.threads -= 1;
            return;
        };
        st.running.insert(job.ticket, Arc::clone(&job.cancel));
        drop(st);
        let (ticket, batch) = execute(&shared, job, init.as_ref());
        // Forget the cancel flag before posting, so that a cancel after the
        // completion was reaped finds nothing.
        pool.lock().running.remove(&ticket);
        shared.complete_job(ticket, batch);
        st = pool.lock();
    }
}

/// Run the rest of `job`; returns the finished chain for the caller to post.
/// `init_error`: the worker could not be confined, so nothing runs (see
/// [`worker_init`]).
#[must_use]
pub(crate) fn execute(
    shared: &Shared,
    job: Job,
    init_error: Option<&io::Error>,
) -> (u64, Box<ValidatedBatch<'static>>) {
    let Job {
        ticket,
        mut batch,
        partial,
        cancel,
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
        while !batch.finished() {
            if cancel.load(Ordering::Relaxed) {
                cancel_rest(&mut batch, -(libc::ECANCELED as i64));
                break;
            }
            run_timed(&shared.estimator, &mut batch);
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
