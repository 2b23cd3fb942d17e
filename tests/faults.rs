//! Fault injection: with worker creation, futex or eventfd
//! calls failing (the `#[doc(hidden)]` switches of `syslets::fault`), the
//! executor returns clear errors, never hangs and loses no completion.
//!
//! The switches are process-wide, so every test holds `SERIAL` and switches
//! every fault off again when it ends (also when it fails).

mod common;
use common::{pid, reap_n, LONG};

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use syslets::abi;
use syslets::fault::{self, Fault};
use syslets::opcode::{Getpid, Gettid};
use syslets::{
    Backpressure, Chain, Done, Executor, ExecutorError, InlineCompletions, Policy, ShutdownMode,
    Submitted, ValidatedBatch,
};

static SERIAL: Mutex<()> = Mutex::new(());

/// Holds the lock; switches every fault off when dropped.
struct Faults(#[allow(dead_code)] MutexGuard<'static, ()>);

impl Drop for Faults {
    fn drop(&mut self) {
        fault::clear_all();
    }
}

fn faults() -> Faults {
    let g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    fault::clear_all();
    Faults(g)
}

fn chain(flags: u16, data: u64) -> ValidatedBatch<'static> {
    let mut chain = Chain::new();
    chain.push(Getpid::new());
    chain.push(Gettid::new());
    chain.set_flags(flags).set_caller_data(data);
    chain.prepare(&Policy::default()).unwrap()
}

/// Every caller data in `0..n` exactly once, each chain complete.
fn assert_all_once(done: &[Done], n: usize) {
    let mut seen = vec![false; n];
    for d in done {
        let c = d.completion();
        let k = c.caller_data() as usize;
        assert!(!seen[k], "completion {k} twice");
        seen[k] = true;
        assert!(!c.canceled(), "completion {k} canceled: {}", c.status());
        assert_eq!(c.atoms_run(), 2);
        assert_eq!(c.results()[0], pid());
    }
    assert!(seen.iter().all(|&s| s), "a completion was lost");
}

#[test]
fn without_worker_threads_confined_chains_fail_and_unconfined_ones_run_on_the_submitter() {
    let _f = faults();
    const N: usize = 200;
    // With the workers' seccomp filter (the default) the submitting thread,
    // which has none, must not run them: each fails with the spawn error.
    let ex = Executor::builder().max_workers(4).build().unwrap();
    fault::set(Fault::WorkerSpawn, true);
    for i in 0..N {
        assert!(matches!(
            ex.submit(chain(abi::BATCH_ASYNC, i as u64)),
            Ok(Submitted::Queued(_))
        ));
    }
    assert_eq!(ex.workers(), 0, "no thread could be made");
    // Failed in `submit`: every completion is already posted, none lost.
    assert_eq!(ex.in_flight(), 0);
    assert_eq!(ex.ready(), N);
    let done = ex.reap().unwrap();
    let mut seen = [false; N];
    for d in &done {
        let c = d.completion();
        let k = c.caller_data() as usize;
        assert!(
            !std::mem::replace(&mut seen[k], true),
            "completion {k} twice"
        );
        assert!(c.canceled());
        assert_eq!(c.status(), -(libc::EAGAIN as i64));
        assert_eq!(c.atoms_run(), 0, "nothing ran");
    }
    assert!(seen.iter().all(|&s| s), "a completion was lost");
    assert!(ex.shutdown(ShutdownMode::Finish).unwrap().is_empty());

    // Without seccomp a worker would be as unconfined as this thread: the
    // orphans run here.
    let ex = Executor::builder()
        .max_workers(4)
        .seccomp(false)
        .build()
        .unwrap();
    for i in 0..N {
        assert!(matches!(
            ex.submit(chain(abi::BATCH_ASYNC, i as u64)),
            Ok(Submitted::Queued(_))
        ));
    }
    assert_eq!(ex.workers(), 0, "no thread could be made");
    assert_eq!(ex.in_flight(), 0);
    assert_eq!(ex.ready(), N);
    let done = ex.reap().unwrap();
    assert_all_once(&done, N);
    // They ran on this thread (gettid is ours), not on a worker.
    // SAFETY: gettid takes no argument.
    let me = unsafe { libc::gettid() } as i64;
    assert!(done.iter().all(|d| d.completion().results()[1] == me));
    assert!(ex.shutdown(ShutdownMode::Finish).unwrap().is_empty());
}

#[test]
fn when_spawning_starts_failing_live_workers_and_submitters_finish_everything() {
    let _f = faults();
    let ex = Arc::new(
        Executor::builder()
            .max_workers(4)
            .ring_size(16)
            .backpressure(Backpressure::Block)
            .build()
            .unwrap(),
    );
    // Some workers exist, then thread creation fails for every later spawn.
    for i in 0..8 {
        ex.submit(chain(abi::BATCH_ASYNC, i)).unwrap();
    }
    let first = reap_n(&ex, 8);
    assert_eq!(first.len(), 8);
    fault::set(Fault::WorkerSpawn, true);
    const PER: usize = 300;
    let reaper = {
        let ex = Arc::clone(&ex);
        std::thread::spawn(move || {
            let mut out = Vec::new();
            while out.len() < 2 * PER {
                ex.wait(1, Some(Duration::from_millis(10))).unwrap();
                ex.reap_into(&mut out).unwrap();
            }
            out
        })
    };
    let submitters: Vec<_> = (0..2)
        .map(|t| {
            let ex = Arc::clone(&ex);
            std::thread::spawn(move || {
                for k in 0..PER {
                    let data = (t * PER + k) as u64;
                    let s = ex.submit(chain(abi::BATCH_ASYNC, data)).unwrap();
                    assert!(matches!(s, Submitted::Queued(_)));
                }
            })
        })
        .collect();
    for s in submitters {
        s.join().unwrap();
    }
    let done = reaper.join().unwrap();
    assert_all_once(&done, 2 * PER);
    let ex = Arc::into_inner(ex).unwrap();
    assert!(ex.shutdown(ShutdownMode::Finish).unwrap().is_empty());
}

#[test]
fn an_eventfd_that_cannot_be_made_is_a_clear_error_and_completions_still_arrive() {
    let _f = faults();
    fault::set(Fault::Eventfd, true);
    // With seccomp (the default) the executor reserves its eventfd when it is
    // built, so building is what fails, with the kernel's error.
    match Executor::builder().build() {
        Err(ExecutorError::Io(e)) => assert_eq!(e.raw_os_error(), Some(libc::EMFILE)),
        other => panic!("expected an Io error, got {other:?}"),
    }
    let ex = Executor::builder()
        .seccomp(false)
        .inline_completions(InlineCompletions::Queue)
        .build()
        .unwrap();
    match ex.attach_eventfd() {
        Err(ExecutorError::Io(e)) => {
            assert_eq!(e.raw_os_error(), Some(libc::EMFILE));
            assert!(ExecutorError::Io(e).to_string().starts_with("executor: "));
        }
        other => panic!("expected an Io error, got {other:?}"),
    }
    const N: usize = 100;
    for i in 0..N {
        let flags = if i % 2 == 0 { abi::BATCH_ASYNC } else { 0 };
        ex.submit(chain(flags, i as u64)).unwrap();
    }
    assert_all_once(&reap_n(&ex, N), N);
    // Once eventfds work again, attaching does.
    fault::set(Fault::Eventfd, false);
    assert!(ex.attach_eventfd().is_ok());
}

#[test]
fn a_failing_eventfd_write_loses_no_completion() {
    let _f = faults();
    let ex = Executor::builder().max_workers(2).build().unwrap();
    let efd = ex.attach_eventfd().unwrap();
    fault::set(Fault::Eventfd, true);
    const N: usize = 100;
    for i in 0..N {
        ex.submit(chain(abi::BATCH_ASYNC, i as u64)).unwrap();
    }
    let done = reap_n(&ex, N);
    assert_all_once(&done, N);
    // The signals were lost (and reading fails): the ring is what counts.
    assert_eq!(efd.clear(), 0);
    fault::set(Fault::Eventfd, false);
    ex.submit(chain(abi::BATCH_ASYNC, 0)).unwrap();
    assert_eq!(reap_n(&ex, 1).len(), 1);
    // The worker signals the eventfd just after it publishes the entry: wait
    // for the signal (a lost one fails here after 10 s).
    let mut pfd = libc::pollfd {
        fd: std::os::fd::AsRawFd::as_raw_fd(&efd),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `pfd` is one valid pollfd for the duration of the call.
    #[allow(unsafe_code)]
    let ready = unsafe { libc::poll(&mut pfd, 1, 10_000) };
    assert_eq!(ready, 1, "the eventfd is signalled again");
    assert!(efd.clear() >= 1, "the eventfd works again");
}

#[test]
fn without_futex_wait_polls_and_loses_nothing() {
    let _f = faults();
    let ex = Arc::new(
        Executor::builder()
            .max_workers(2)
            .ring_size(4)
            .backpressure(Backpressure::Block)
            .build()
            .unwrap(),
    );
    fault::set(Fault::Futex, true);
    // wait() with nothing to wait for still returns (give-up rule).
    assert_eq!(ex.wait(1, None).unwrap(), 0);
    // Block back-pressure with a 4-entry ring: the submitter sleeps on the
    // credit futex, which now fails, while a reaper sleeps on the ring futex.
    const N: usize = 400;
    let reaper = {
        let ex = Arc::clone(&ex);
        std::thread::spawn(move || {
            let mut out = Vec::new();
            while out.len() < N {
                ex.wait(1, LONG).unwrap();
                ex.reap_into(&mut out).unwrap();
            }
            out
        })
    };
    for i in 0..N {
        let s = ex.submit(chain(abi::BATCH_ASYNC, i as u64)).unwrap();
        assert!(matches!(s, Submitted::Queued(_)));
    }
    let done = reaper.join().unwrap();
    assert_all_once(&done, N);
    // A wait with a timeout still ends when nothing comes.
    let t = ex.submit(chain(abi::BATCH_ASYNC, 0)).unwrap().ticket();
    let got = reap_n(&ex, 1);
    assert_eq!(got[0].ticket(), t);
    assert_eq!(ex.wait(1, Some(Duration::from_millis(20))).unwrap(), 0);
    fault::set(Fault::Futex, false);
    let ex = Arc::into_inner(ex).unwrap();
    assert!(ex.shutdown(ShutdownMode::Finish).unwrap().is_empty());
}
