//! Resource exhaustion: `RLIMIT_NOFILE` reached in the
//! middle of a chain, a one-entry ring under both back-pressure modes, 64-atom
//! chains, a million chains through one ring, and thousands of concurrent
//! submitters. Every test is bounded (no timed asserts; waits have generous
//! timeouts only so that a bug fails instead of hanging).
//!
//! The tests that change process-wide state (the fd limit) or count threads
//! run in a forked child, which reports by exit code: the fd limit never
//! touches the harness, and the child's `/proc/self/task` holds only the
//! threads it made.

mod common;
use common::{getpid_chain, in_child, pid, reap_n};

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex, MutexGuard};
use std::time::Duration;

use syslets::abi;
use syslets::opcode::{Close, Getpid, Gettid, Openat};
use syslets::{
    Backpressure, Chain, Done, Errno, Executor, InlineCompletions, Policy, Stop, SubmitError,
    Submitted, ValidatedBatch,
};

/// Every test of this file holds this lock: two of them fork, and a fork while
/// another test's thread holds a lock (a `OnceLock` being initialised, the
/// thread list during a spawn) leaves that lock held for ever in the child.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Reap whatever is ready, waiting a little first. Unlike [`reap_n`] this
/// tolerates finding nothing: `wait` returns at once while no chain is handed
/// to a worker (an inline completion queued to the ring is posted before
/// `submit` returns, so there is nothing to wait for).
fn reap_some(ex: &Executor) -> Vec<Done> {
    ex.wait(1, Some(Duration::from_millis(10))).unwrap();
    let out = ex.reap().unwrap();
    if out.is_empty() {
        std::thread::yield_now();
    }
    out
}

/// The completion of a submission, whether it completed inline or was queued.
fn finish(ex: &Executor, s: Submitted) -> Done {
    match s {
        Submitted::Done(d) => d,
        Submitted::Queued(t) => {
            let mut got = reap_n(ex, 1);
            assert_eq!(got.len(), 1);
            let d = got.pop().unwrap();
            assert_eq!(d.ticket(), t);
            d
        }
    }
}

fn open_fds() -> BTreeSet<i32> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_str().unwrap().parse().unwrap())
        .collect()
}

fn task_count() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// `open(A) → open(B) → open(C) stops on negative → close(A) → close(B) → close(C)`
/// (`early_close`: `open(A) → close(A) → open(B) → open(C) stop → close(B)`).
struct EmfileChain {
    batch: ValidatedBatch<'static>,
    opens: Vec<syslets::AtomRef>,
    failing: syslets::AtomRef,
}

fn emfile_chain(early_close: bool) -> EmfileChain {
    let mut chain = Chain::new();
    let path = chain.path("/dev/null");
    let open = || {
        Openat::new(libc::AT_FDCWD, path)
            .flags((libc::O_RDONLY | libc::O_CLOEXEC) as u32)
            .stop_on(Stop::NEGATIVE)
    };
    let (opens, failing);
    if early_close {
        let a = chain.push(open());
        chain.push(Close::new(a));
        let b = chain.push(open());
        let c = chain.push(open());
        chain.push(Close::new(b));
        opens = vec![a, b];
        failing = c;
    } else {
        let a = chain.push(open());
        let b = chain.push(open());
        let c = chain.push(open());
        chain.push(Close::new(a));
        chain.push(Close::new(b));
        chain.push(Close::new(c));
        opens = vec![a, b];
        failing = c;
    }
    EmfileChain {
        batch: chain.prepare(&Policy::default()).unwrap(),
        opens,
        failing,
    }
}

/// Lower the soft fd limit, fill every free number below it, then free
/// exactly `free` of them. Returns the fillers still open and the old limit.
fn leave_free_descriptors(free: usize) -> (Vec<i32>, libc::rlimit) {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `old` is a valid out-pointer.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) }, 0);
    let highest = *open_fds().iter().max().unwrap() as u64;
    let new = libc::rlimit {
        rlim_cur: highest + 1 + 8,
        rlim_max: old.rlim_max,
    };
    // SAFETY: `new` is a valid rlimit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) }, 0);
    let mut fillers = Vec::new();
    loop {
        // SAFETY: a NUL-terminated literal path; the fd is owned by `fillers`.
        let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
        if fd < 0 {
            assert_eq!(
                std::io::Error::last_os_error().raw_os_error(),
                Some(libc::EMFILE)
            );
            break;
        }
        fillers.push(fd);
    }
    assert!(fillers.len() > free);
    for _ in 0..free {
        let fd = fillers.pop().unwrap();
        // SAFETY: `fd` was opened above and is closed once.
        unsafe { libc::close(fd) };
    }
    (fillers, old)
}

fn restore(fillers: Vec<i32>, old: libc::rlimit) {
    for fd in fillers {
        // SAFETY: each filler was opened by `leave_free_descriptors` and is closed once.
        unsafe { libc::close(fd) };
    }
    // SAFETY: `old` is the limit read before.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &old) }, 0);
}

/// Checks one EMFILE chain's completion; returns 0 or the failing check's code.
fn check_emfile(c: &EmfileChain, batch: &mut ValidatedBatch<'static>, base: i32) -> i32 {
    let done = *batch.completion();
    if !done.stopped() {
        return base + 1;
    }
    if done.outcome(c.failing) != Some(Err(Errno::from_raw(libc::EMFILE))) {
        return base + 2;
    }
    if done.last_atom() != c.failing.index() || done.status() != -(libc::EMFILE as i64) {
        return base + 3;
    }
    for &o in &c.opens {
        if !matches!(done.outcome(o), Some(Ok(fd)) if fd >= 0) {
            return base + 4;
        }
    }
    // What the chain opened and did not close itself is reported (exactly the
    // opens whose close atom never ran) and handed over once.
    let expected: Vec<_> = if c.opens.len() == 2 && c.failing.index() == 3 {
        // early_close: A was closed by its own close atom; B is left.
        vec![(c.opens[1], done.result(c.opens[1]).unwrap() as i32)]
    } else {
        c.opens
            .iter()
            .map(|&o| (o, done.result(o).unwrap() as i32))
            .collect()
    };
    if batch.unclosed_fds() != expected {
        return base + 5;
    }
    let taken = batch.take_fds();
    if taken.len() != expected.len() || !batch.take_fds().is_empty() {
        return base + 6;
    }
    drop(taken);
    0
}

#[test]
fn emfile_in_the_middle_of_a_chain_stops_it_and_leaks_nothing() {
    let _serial = serial();
    let code = in_child(|| {
        let before = open_fds();
        // Built before the limit is lowered: the executor reserves its eventfd.
        let ex = Executor::new();
        let with_ex = open_fds();

        // Inline run: open, open, open (EMFILE) → the closes never run.
        let mut c1 = emfile_chain(false);
        let (fillers, old) = leave_free_descriptors(2);
        c1.batch.run();
        let mut b1 = std::mem::replace(&mut c1.batch, emfile_chain(false).batch);
        let r = check_emfile(&c1, &mut b1, 10);
        restore(fillers, old);
        if r != 0 {
            return r;
        }
        if open_fds() != with_ex {
            return 20;
        }

        // Through the executor (default mode), with a close before the EMFILE.
        let c2 = emfile_chain(true);
        let (fillers, old) = leave_free_descriptors(1);
        let s = ex.submit(c2.batch).map_err(|_| ()).unwrap();
        let done = finish(&ex, s);
        let probe = EmfileChain {
            batch: emfile_chain(true).batch,
            opens: c2.opens.clone(),
            failing: c2.failing,
        };
        let mut b2 = done.into_batch();
        let r = check_emfile(&probe, &mut b2, 30);
        restore(fillers, old);
        if r != 0 {
            return r;
        }
        drop(ex);
        if open_fds() != before {
            return 40;
        }
        0
    });
    assert_eq!(code, 0, "child check failed with code {code}");
}

#[test]
fn one_entry_ring_refuse_returns_the_batch_and_loses_nothing() {
    let _serial = serial();
    const N: u64 = 3000;
    let ex = Executor::builder()
        .ring_size(1)
        .max_workers(2)
        .backpressure(Backpressure::Refuse)
        .build()
        .unwrap();
    let mut seen = vec![false; N as usize];
    let mut refused = 0;
    for i in 0..N {
        let mut batch = getpid_chain(abi::BATCH_ASYNC, i);
        loop {
            match ex.submit(batch) {
                Ok(Submitted::Queued(_)) => break,
                Ok(Submitted::Done(_)) => panic!("an ASYNC chain never completes inline"),
                Err(SubmitError::RingFull(b)) => {
                    refused += 1;
                    assert_eq!(b.caller_data(), i, "the refused batch comes back");
                    batch = *b;
                    for d in reap_n(&ex, 1) {
                        let k = d.completion().caller_data() as usize;
                        assert!(!seen[k], "completion {k} reaped twice");
                        seen[k] = true;
                        assert_eq!(d.completion().status(), pid());
                    }
                }
                Err(e) => panic!("{e}"),
            }
        }
    }
    for d in reap_n(&ex, ex.in_flight() + ex.ready()) {
        let k = d.completion().caller_data() as usize;
        assert!(!seen[k], "completion {k} reaped twice");
        seen[k] = true;
    }
    assert!(seen.iter().all(|&s| s), "a completion was lost");
    // One entry: every submission after the first found it taken.
    assert!(refused >= N - 1, "refused {refused} of {N}");
    assert!(ex
        .shutdown(syslets::ShutdownMode::Finish)
        .unwrap()
        .is_empty());
}

#[test]
fn one_entry_ring_block_waits_and_loses_nothing() {
    let _serial = serial();
    const N: usize = 3000;
    for inline in [false, true] {
        let ex = Arc::new(
            Executor::builder()
                .ring_size(1)
                .max_workers(2)
                .backpressure(Backpressure::Block)
                .inline_completions(InlineCompletions::Queue)
                .build()
                .unwrap(),
        );
        let reaper = {
            let ex = Arc::clone(&ex);
            std::thread::spawn(move || {
                let mut seen = vec![false; N];
                let mut n = 0;
                while n < N {
                    for d in reap_some(&ex) {
                        let k = d.completion().caller_data() as usize;
                        assert!(!seen[k], "completion {k} reaped twice");
                        seen[k] = true;
                        assert_eq!(d.completion().status(), pid());
                        n += 1;
                    }
                }
                seen
            })
        };
        // Default mode: getpid completes inline and is queued to the ring
        // (InlineCompletions::Queue), so it needs the one entry too.
        let flags = if inline { 0 } else { abi::BATCH_ASYNC };
        for i in 0..N {
            assert!(matches!(
                ex.submit(getpid_chain(flags, i as u64)),
                Ok(Submitted::Queued(_))
            ));
            assert!(ex.in_flight() + ex.ready() <= 1, "more than the ring holds");
        }
        let seen = reaper.join().unwrap();
        assert!(seen.iter().all(|&s| s), "a completion was lost");
        assert_eq!(ex.ready(), 0);
    }
}

fn sixty_four_atoms(flags: u16, data: u64) -> ValidatedBatch<'static> {
    let mut chain = Chain::new();
    for i in 0..64 {
        if i % 2 == 0 {
            chain.push(Getpid::new().stop_on(Stop::NEGATIVE));
        } else {
            chain.push(Gettid::new().stop_on(Stop::NEGATIVE));
        }
    }
    chain.set_flags(flags).set_caller_data(data);
    chain.prepare(&Policy::default()).unwrap()
}

fn check_sixty_four(d: &Done) -> bool {
    let c = d.completion();
    c.atoms_run() == 64
        && c.last_atom() == 63
        && !c.stopped()
        && !c.canceled()
        && c.results().len() >= 64
        && (0..64).all(|i| {
            let r = c.results()[i];
            if i % 2 == 0 {
                r == pid()
            } else {
                r > 0
            }
        })
}

#[test]
fn sixty_four_atom_chains_through_the_executor_have_every_result() {
    let _serial = serial();
    let ex = Executor::builder().max_workers(2).build().unwrap();
    for round in 0..50u64 {
        // Default mode (every atom inline), SYNC and ASYNC (on a worker).
        for flags in [0, abi::BATCH_SYNC] {
            match ex.submit(sixty_four_atoms(flags, round)).unwrap() {
                Submitted::Done(d) => assert!(check_sixty_four(&d), "round {round}"),
                Submitted::Queued(_) => panic!("getpid/gettid never block"),
            }
        }
        let t = ex
            .submit(sixty_four_atoms(abi::BATCH_ASYNC, round))
            .unwrap()
            .ticket();
        let d = reap_n(&ex, 1).pop().unwrap();
        assert_eq!(d.ticket(), t);
        assert_eq!(d.completion().caller_data(), round);
        assert!(check_sixty_four(&d), "async round {round}");
        // The worker's gettid is not the submitter's.
        let tid = d.completion().results()[1];
        // SAFETY: gettid takes no argument.
        assert_ne!(tid, unsafe { libc::gettid() } as i64);
    }
}

#[test]
fn a_million_chains_through_one_ring() {
    let _serial = serial();
    const TOTAL: usize = 1_000_000;
    const RING: u32 = 1024;
    // One batch per ring entry, reused: `Done::into_batch` gives it back to
    // be submitted again. Inline completions are queued, so every one of the
    // million goes through the ring. Tickets are unique per submission; the
    // caller data names the reused batch.
    let ex = Executor::builder()
        .ring_size(RING)
        .backpressure(Backpressure::Refuse)
        .inline_completions(InlineCompletions::Queue)
        .build()
        .unwrap();
    let mut free: Vec<ValidatedBatch<'static>> =
        (0..RING as u64).map(|i| getpid_chain(0, i)).collect();
    let mut seen = vec![0u64; TOTAL / 64 + 1];
    let mut per_batch = vec![0usize; RING as usize];
    let mut submitted = 0;
    let mut reaped = 0;
    let mut out = Vec::with_capacity(RING as usize);
    while reaped < TOTAL {
        while submitted < TOTAL {
            let Some(batch) = free.pop() else { break };
            match ex.submit(batch) {
                Ok(Submitted::Queued(_)) => submitted += 1,
                Ok(Submitted::Done(_)) => panic!("inline completions are queued"),
                Err(SubmitError::RingFull(b)) => {
                    free.push(*b);
                    break;
                }
                Err(e) => panic!("{e}"),
            }
        }
        out.clear();
        ex.reap_into(&mut out).unwrap();
        for d in out.drain(..) {
            let t = d.ticket().as_u64() as usize - 1;
            assert!(t < TOTAL, "ticket {t} out of range");
            let (w, bit) = (t / 64, 1u64 << (t % 64));
            assert_eq!(seen[w] & bit, 0, "ticket {t} reaped twice");
            seen[w] |= bit;
            assert_eq!(d.completion().status(), pid());
            assert_eq!(d.entry().caller_data, d.completion().caller_data());
            per_batch[d.completion().caller_data() as usize] += 1;
            free.push(d.into_batch());
            reaped += 1;
        }
    }
    assert_eq!(submitted, TOTAL);
    assert_eq!(reaped, TOTAL);
    let ones: u32 = seen.iter().map(|w| w.count_ones()).sum();
    assert_eq!(ones as usize, TOTAL, "every ticket seen once");
    assert_eq!(per_batch.iter().sum::<usize>(), TOTAL);
    assert!(per_batch.iter().all(|&n| n > 0), "every batch was reused");
    assert_eq!(ex.ready(), 0);
    let h = ex.ring_header();
    assert_eq!(h.kernel_head.wrapping_sub(h.user_tail), 0);
}

#[test]
fn thousands_of_concurrent_submitters() {
    let _serial = serial();
    const THREADS: usize = 2000;
    const PER_THREAD: usize = 3;
    let code = in_child(|| {
        let start_tasks = task_count();
        if start_tasks != 1 {
            return 10;
        }
        let ex = Arc::new(
            Executor::builder()
                .ring_size(8)
                .max_workers(4)
                .backpressure(Backpressure::Block)
                .inline_completions(InlineCompletions::Queue)
                .build()
                .unwrap(),
        );
        let total = THREADS * PER_THREAD;
        let reaper = {
            let ex = Arc::clone(&ex);
            std::thread::spawn(move || {
                let mut seen = vec![false; total];
                let mut n = 0;
                while n < total {
                    for d in reap_some(&ex) {
                        let k = d.completion().caller_data() as usize;
                        if seen[k] || d.completion().status() != pid() {
                            return None;
                        }
                        seen[k] = true;
                        n += 1;
                    }
                }
                Some(seen)
            })
        };
        // The submitters start together once this thread has counted them.
        let barrier = Arc::new(Barrier::new(THREADS + 1));
        let queued = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::with_capacity(THREADS);
        for t in 0..THREADS {
            let (ex, barrier, queued) =
                (Arc::clone(&ex), Arc::clone(&barrier), Arc::clone(&queued));
            let h = std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    barrier.wait();
                    for k in 0..PER_THREAD {
                        let flags = if k % 2 == 0 { abi::BATCH_ASYNC } else { 0 };
                        let data = (t * PER_THREAD + k) as u64;
                        if let Ok(Submitted::Queued(_)) = ex.submit(getpid_chain(flags, data)) {
                            queued.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            match h {
                Ok(h) => handles.push(h),
                Err(_) => return 11, // the thread limit: see the test's docs
            }
        }
        if task_count() < THREADS + 2 {
            return 12; // all submitters, the reaper and this thread are alive
        }
        barrier.wait();
        for h in handles {
            if h.join().is_err() {
                return 13;
            }
        }
        if queued.load(Ordering::Relaxed) != total {
            return 14;
        }
        let seen = match reaper.join() {
            Ok(Some(seen)) => seen,
            _ => return 15,
        };
        if !seen.iter().all(|&s| s) {
            return 16;
        }
        if ex.ready() != 0 || ex.in_flight() != 0 {
            return 17;
        }
        let ex = Arc::into_inner(ex).unwrap();
        if !ex
            .shutdown(syslets::ShutdownMode::Finish)
            .unwrap()
            .is_empty()
        {
            return 18;
        }
        if task_count() != start_tasks {
            return 19;
        }
        0
    });
    assert_eq!(code, 0, "child check failed with code {code}");
}
