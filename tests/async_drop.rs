//! Dropping an executor with work in flight joins every worker and closes
//! every descriptor its chains left open. One test in its own binary, so that
//! the thread and descriptor counts of this process are not disturbed by other
//! tests running in parallel.

use std::time::{Duration, Instant};

use syslets::abi;
use syslets::opcode::{Getpid, Openat};
use syslets::{Chain, Executor, Policy, ShutdownMode, Stop, Submitted};

fn count(dir: &str) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

/// Wait (bounded) until `dir` holds `want` entries; a joined thread can stay
/// listed for an instant while it finishes exiting. The bound (1 s) is well
/// under the executors' idle timeout (5 s), so a worker that shutdown failed to
/// wake — one that would leave only by timing out — is caught.
fn settle(dir: &str, want: usize) -> usize {
    let end = Instant::now() + Duration::from_secs(1);
    loop {
        let n = count(dir);
        if n == want || Instant::now() > end {
            return n;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn open_devnull_chain(flags: u16) -> syslets::ValidatedBatch<'static> {
    let mut chain = Chain::new();
    let path = chain.path("/dev/null");
    chain.push(Openat::new(libc::AT_FDCWD, path).stop_on(Stop::NEGATIVE));
    chain.push(Getpid::new());
    chain.set_flags(flags);
    chain.prepare(&Policy::default()).unwrap()
}

#[test]
fn drop_and_shutdown_leak_no_thread_and_no_descriptor() {
    let threads0 = count("/proc/self/task");
    let fds0 = count("/proc/self/fd");

    // 1. Drop with work queued and running: every worker joined, every
    // descriptor opened by an unreaped chain closed.
    for round in 0..5 {
        let ex = Executor::builder().max_workers(4).build().unwrap();
        let mut queued = 0;
        for i in 0..200 {
            let flags = match i % 3 {
                0 => abi::BATCH_ASYNC,
                1 => abi::BATCH_ASYNC | abi::BATCH_NO_COMPLETE,
                _ => 0,
            };
            match ex.submit(open_devnull_chain(flags)).unwrap() {
                Submitted::Queued(_) => queued += 1,
                // Inline: the caller owns the descriptor; close it.
                Submitted::Done(mut d) => drop(d.batch_mut().take_fds()),
            }
        }
        assert!(queued > 100);
        // Some completions posted and not reaped: their chains hold open
        // descriptors that drop must close.
        assert!(ex.wait(20, Some(Duration::from_secs(20))).unwrap() >= 20);
        // And more work queued or running while the executor is dropped.
        for _ in 0..100 {
            ex.submit(open_devnull_chain(abi::BATCH_ASYNC)).unwrap();
        }
        assert!(ex.workers() >= 1, "round {round}: hand-offs start workers");
        assert!(ex.workers() <= 4);
        drop(ex);
        assert_eq!(
            settle("/proc/self/task", threads0),
            threads0,
            "worker leaked"
        );
        assert_eq!(count("/proc/self/fd"), fds0, "descriptor leaked");
    }

    // 2. Shutdown hands back every completion; the caller takes the fds.
    let ex = Executor::builder().max_workers(3).build().unwrap();
    let mut tickets = Vec::new();
    for _ in 0..50 {
        tickets.push(
            ex.submit(open_devnull_chain(abi::BATCH_ASYNC))
                .unwrap()
                .ticket(),
        );
    }
    let mut got = Vec::new();
    for mut d in ex.shutdown(ShutdownMode::Finish).unwrap() {
        assert!(d.completion().status() > 0);
        let fds = d.batch_mut().take_fds();
        assert_eq!(fds.len(), 1, "the open atom's descriptor is handed out");
        got.push(d.ticket());
    }
    got.sort();
    assert_eq!(got, tickets, "no completion lost");
    assert_eq!(settle("/proc/self/task", threads0), threads0);
    assert_eq!(count("/proc/self/fd"), fds0);

    // 3. Idle workers exit by themselves after the idle timeout.
    let ex = Executor::builder()
        .max_workers(2)
        .idle_timeout(Duration::from_millis(30))
        .build()
        .unwrap();
    for _ in 0..20 {
        ex.submit(open_devnull_chain(
            abi::BATCH_ASYNC | abi::BATCH_NO_COMPLETE,
        ))
        .unwrap();
    }
    let end = Instant::now() + Duration::from_secs(10);
    while ex.workers() > 0 && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(ex.workers(), 0, "idle workers must exit");
    drop(ex);
    assert_eq!(settle("/proc/self/task", threads0), threads0);
    assert_eq!(count("/proc/self/fd"), fds0);
}
