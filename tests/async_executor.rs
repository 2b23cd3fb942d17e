//! Integration tests of the asynchronous executor: submission modes,
//! hand-off and resumption, the completion ring (wrap, back-pressure, wait,
//! eventfd), concurrency, cancellation and shutdown.

mod common;
use common::{getpid_chain, pid, reap_n, LONG};

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use syslets::abi;
use syslets::opcode::{Getpid, Gettid, Newfstatat, Read as ReadAtom, Write as WriteAtom};
use syslets::{
    Backpressure, Canceled, Chain, Executor, InlineCompletions, Policy, ShutdownMode, Stat,
    SubmitError, Submitted, ValidatedBatch,
};

/// A chain whose first atom reads from `fd` (blocks until data arrives).
fn read_chain(fd: i32, flags: u16, data: u64, then_getpid: usize) -> ValidatedBatch<'static> {
    let mut chain = Chain::new();
    let buf = chain.output_bytes(16);
    chain.push(ReadAtom::new(fd, buf));
    for _ in 0..then_getpid {
        chain.push(Getpid::new());
    }
    chain.set_flags(flags).set_caller_data(data);
    chain.prepare(&Policy::default()).unwrap()
}

#[test]
fn cached_chain_completes_inline_without_a_thread() {
    let ex = Executor::new();
    let mut chain = Chain::new();
    let p = chain.push(Getpid::new());
    let root = chain.path("/");
    let st = chain.output::<Stat>();
    chain.push(Newfstatat::new(libc::AT_FDCWD, root, st));
    let batch = chain.prepare(&Policy::default()).unwrap();
    let Submitted::Done(done) = ex.submit(batch).unwrap() else {
        panic!("a cached getpid + stat of / must complete inline");
    };
    assert_eq!(done.completion().result(p), Some(pid()));
    assert_eq!(done.completion().atoms_run(), 2);
    assert_ne!(done.entry().flags & abi::COMPLETION_INLINE as u32, 0);
    assert_eq!(
        done.batch().output(st).st_mode & libc::S_IFMT,
        libc::S_IFDIR
    );
    assert_eq!(ex.workers(), 0, "the inline path must not start a worker");
    assert_eq!(
        ex.ready(),
        0,
        "an inline completion returned directly is not queued"
    );
}

#[test]
fn async_flag_goes_to_a_worker_and_sync_stays_inline() {
    let ex = Executor::new();
    let mut chain = Chain::new();
    let t = chain.push(Gettid::new());
    chain.set_flags(abi::BATCH_SYNC);
    let Submitted::Done(inline) = ex
        .submit(chain.prepare(&Policy::default()).unwrap())
        .unwrap()
    else {
        panic!("SYNC runs inline");
    };
    let my_tid = inline.completion().result(t).unwrap();

    let mut chain = Chain::new();
    let t = chain.push(Gettid::new());
    chain.set_flags(abi::BATCH_ASYNC).set_caller_data(7);
    let sub = ex
        .submit(chain.prepare(&Policy::default()).unwrap())
        .unwrap();
    let Submitted::Queued(ticket) = sub else {
        panic!("ASYNC must be queued");
    };
    let done = reap_n(&ex, 1).pop().unwrap();
    assert_eq!(done.ticket(), ticket);
    assert_eq!(done.entry().caller_data, 7);
    assert_eq!(done.entry().flags & abi::COMPLETION_INLINE as u32, 0);
    let worker_tid = done.completion().result(t).unwrap();
    assert!(worker_tid > 0);
    assert_ne!(worker_tid, my_tid, "ASYNC ran in the submitting thread");
    assert!(ex.workers() >= 1);
}

#[test]
fn default_mode_hands_off_at_the_blocking_atom_with_results_so_far() {
    let ex = Executor::new();
    let (mut tx, rx) = UnixStream::pair().unwrap();
    let mut chain = Chain::new();
    let t0 = chain.push(Gettid::new());
    let buf = chain.output_bytes(5);
    let r = chain.push(ReadAtom::new(rx.as_raw_fd(), buf));
    let t2 = chain.push(Gettid::new());
    let sub = ex
        .submit(chain.prepare(&Policy::default()).unwrap())
        .unwrap();
    assert!(
        matches!(sub, Submitted::Queued(_)),
        "a read of an empty socket must be handed off"
    );
    tx.write_all(b"hello").unwrap();
    let done = reap_n(&ex, 1).pop().unwrap();
    let c = done.completion();
    assert_eq!(c.atoms_run(), 3);
    assert_eq!(c.result(r), Some(5));
    assert_eq!(done.batch().bytes(buf), b"hello");
    // Atom 0 ran inline (the test thread), atom 2 on the worker.
    let mut sync = Chain::new();
    let me = sync.push(Gettid::new());
    sync.set_flags(abi::BATCH_SYNC);
    let my_tid = match ex
        .submit(sync.prepare(&Policy::default()).unwrap())
        .unwrap()
    {
        Submitted::Done(d) => d.completion().result(me).unwrap(),
        Submitted::Queued(_) => panic!("SYNC runs inline"),
    };
    assert_eq!(c.result(t0), Some(my_tid));
    assert_ne!(c.result(t2), Some(my_tid));
}

#[test]
fn data_already_there_is_read_inline_by_the_probe() {
    let ex = Executor::new();
    let (mut tx, rx) = UnixStream::pair().unwrap();
    tx.write_all(b"ready").unwrap();
    let mut chain = Chain::new();
    let buf = chain.output_bytes(64);
    let r = chain.push(ReadAtom::new(rx.as_raw_fd(), buf));
    let out = chain.input(b"pong");
    let w = chain.push(WriteAtom::new(rx.as_raw_fd(), out));
    let Submitted::Done(done) = ex
        .submit(chain.prepare(&Policy::default()).unwrap())
        .unwrap()
    else {
        panic!("data is there: the RWF_NOWAIT probe must complete the read inline");
    };
    // A short read of a socket is the real call's result, not a partial one.
    assert_eq!(done.completion().result(r), Some(5));
    assert_eq!(&done.batch().bytes(buf)[..5], b"ready");
    assert_eq!(done.completion().result(w), Some(4));
    let mut got = [0u8; 4];
    tx.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"pong");
    assert_eq!(ex.workers(), 0);
}

/// Voluntary context switches of the calling thread.
fn voluntary_switches() -> i64 {
    switches().0
}

/// This thread's (voluntary, involuntary) context switches so far.
fn switches() -> (i64, i64) {
    // SAFETY: getrusage fills the zeroed plain C struct behind the pointer.
    #[allow(unsafe_code)]
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        assert_eq!(libc::getrusage(libc::RUSAGE_THREAD, &mut ru), 0);
        (ru.ru_nvcsw, ru.ru_nivcsw)
    }
}

#[test]
fn adaptive_rule_hands_off_slow_classes_and_reprobes() {
    // Threshold 0: any fsync that sleeps (a miss needs a slow call during
    // which the thread slept) makes the class "slow". The file is on the
    // build directory's file system: an fsync of fresh data waits for the
    // disk there (checked first, so that the test cannot pass by accident).
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("adaptive-rule");
    std::fs::create_dir_all(&dir).unwrap();
    let file = std::fs::File::create(dir.join("dirty")).unwrap();
    let dirty = || {
        use std::os::unix::fs::FileExt;
        file.write_all_at(&[7u8; 4096], 0).unwrap();
    };
    dirty();
    let before = voluntary_switches();
    file.sync_all().unwrap();
    assert!(
        voluntary_switches() > before,
        "fsync of fresh data did not sleep: {} is not on a disk-backed file system",
        dir.display()
    );
    let fsync = || {
        dirty();
        let mut chain = Chain::new();
        chain.push(syslets::opcode::Fsync::new(file.as_raw_fd()));
        chain.prepare(&Policy::default()).unwrap()
    };
    // One sequence on a fresh executor; None when an inline fsync did not
    // sleep (another process's writeback flushed the page first) or was also
    // preempted (a loaded machine), which leaves the rule nothing to see:
    // the sequence is then run again.
    let sequence = || {
        let ex = Executor::builder()
            .handoff_threshold(Duration::ZERO)
            .reprobe_every(3)
            .max_workers(1)
            .build()
            .unwrap();
        let mut kinds = String::new();
        for _ in 0..7 {
            // Dirty the page and build the chain first: only the fsync may
            // count as the sleep.
            let batch = fsync();
            let before = switches();
            match ex.submit(batch).unwrap() {
                Submitted::Done(d) => {
                    assert_eq!(d.completion().status(), 0);
                    // The executor's rule: a sleep is a voluntary switch with
                    // no preemption in the same call.
                    let after = switches();
                    if after.0 == before.0 || after.1 != before.1 {
                        return None;
                    }
                    kinds.push('D');
                }
                Submitted::Queued(_) => {
                    kinds.push('Q');
                    // Let the worker finish (and feed the average) before
                    // the next one.
                    reap_n(&ex, 1);
                }
            }
        }
        Some(kinds)
    };
    let kinds = (0..5)
        .find_map(|_| sequence())
        .expect("in 5 sequences an inline fsync did not sleep unpreempted each time");
    // No history: inline. One miss alone does not flip the class, the second
    // does; then every third hand-off decision re-probes inline.
    assert_eq!(kinds, "DDQQDQQ");

    // Slow but never asleep is no miss: a stat with threshold 0 stays inline.
    let busy = Executor::builder()
        .handoff_threshold(Duration::ZERO)
        .build()
        .unwrap();
    let stat_root = || {
        let mut chain = Chain::new();
        let root = chain.path("/");
        let st = chain.output::<Stat>();
        chain.push(Newfstatat::new(libc::AT_FDCWD, root, st));
        chain.prepare(&Policy::default()).unwrap()
    };
    for _ in 0..20 {
        assert!(matches!(
            busy.submit(stat_root()).unwrap(),
            Submitted::Done(_)
        ));
    }
    assert_eq!(busy.workers(), 0);
}

#[test]
fn many_threads_submit_at_once_and_every_completion_arrives_once() {
    const THREADS: u64 = 6;
    const PER: u64 = 400;
    let ex = Arc::new(
        Executor::builder()
            .ring_size(32)
            .max_workers(4)
            .backpressure(Backpressure::Block)
            .build()
            .unwrap(),
    );
    let start = Arc::new(Barrier::new(THREADS as usize + 1));
    let producers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (ex, start) = (Arc::clone(&ex), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                let mut inline = Vec::new();
                for i in 0..PER {
                    let data = t * PER + i;
                    let flags = if i % 3 == 0 { 0 } else { abi::BATCH_ASYNC };
                    match ex.submit(getpid_chain(flags, data)).unwrap() {
                        Submitted::Done(d) => inline.push(d.entry().caller_data),
                        Submitted::Queued(_) => {}
                    }
                }
                inline
            })
        })
        .collect();
    start.wait();
    let mut seen: HashMap<u64, u32> = HashMap::new();
    let mut tickets = HashMap::new();
    let total = THREADS * PER;
    let mut inline_total = 0u64;
    let mut finished_producers = 0;
    let mut producers: Vec<_> = producers.into_iter().map(Some).collect();
    while (seen.len() as u64) < total {
        ex.wait(1, Some(Duration::from_millis(50))).unwrap();
        for d in ex.reap().unwrap() {
            assert_eq!(d.completion().status(), pid());
            *seen.entry(d.entry().caller_data).or_default() += 1;
            assert!(
                tickets.insert(d.ticket(), ()).is_none(),
                "ticket seen twice"
            );
        }
        for slot in producers.iter_mut() {
            if slot.as_ref().is_some_and(|h| h.is_finished()) {
                let inline = slot.take().unwrap().join().unwrap();
                inline_total += inline.len() as u64;
                for data in inline {
                    *seen.entry(data).or_default() += 1;
                }
                finished_producers += 1;
            }
        }
        assert!(ex.ready() <= 32);
    }
    assert_eq!(finished_producers, THREADS);
    assert_eq!(seen.len() as u64, total);
    assert!(seen.values().all(|&n| n == 1), "a completion arrived twice");
    assert!(inline_total > 0);
    assert_eq!(ex.in_flight(), 0);
}

#[test]
fn ring_wraps_many_times_across_the_u32_index_wrap() {
    let start = u32::MAX - 37;
    let ex = Executor::builder()
        .ring_size(8)
        .max_workers(1)
        .ring_start_index(start)
        .inline_completions(InlineCompletions::Queue)
        .build()
        .unwrap();
    let mut next = 0u64;
    let mut expect = 0u64;
    for round in 0..300 {
        let n = 1 + round % 8;
        for _ in 0..n {
            // Inline completions are queued too: both producers share the ring.
            let flags = if next % 2 == 0 { abi::BATCH_ASYNC } else { 0 };
            let sub = ex.submit(getpid_chain(flags, next)).unwrap();
            assert!(matches!(sub, Submitted::Queued(_)));
            next += 1;
            // One worker: ASYNC ones complete in order; keep order by waiting.
            ex.wait(next.saturating_sub(expect) as usize, LONG).unwrap();
        }
        for d in reap_n(&ex, n as usize) {
            assert_eq!(d.entry().caller_data, expect, "completions out of order");
            assert_eq!(d.entry().status, pid());
            expect += 1;
        }
    }
    let h = ex.ring_header();
    assert_eq!(h.elements, 8);
    assert_eq!(h.kernel_head, h.user_tail);
    assert_eq!(h.kernel_head, start.wrapping_add(next as u32));
    assert!(
        h.kernel_head < start,
        "the indices must have wrapped past u32::MAX"
    );
    assert!(next > 8 * 100, "the ring must have gone round many times");
}

#[test]
fn full_ring_refuses_and_gives_the_batch_back() {
    let ex = Executor::builder()
        .ring_size(4)
        .max_workers(4)
        .build()
        .unwrap();
    let pairs: Vec<_> = (0..4).map(|_| UnixStream::pair().unwrap()).collect();
    for (i, (_, rx)) in pairs.iter().enumerate() {
        let sub = ex
            .submit(read_chain(rx.as_raw_fd(), 0, i as u64, 0))
            .unwrap();
        assert!(matches!(sub, Submitted::Queued(_)));
    }
    // Four in flight fill the ring: even a chain that would complete inline is
    // refused, because its completion could not be guaranteed a slot.
    let err = ex.submit(getpid_chain(0, 99)).unwrap_err();
    assert!(matches!(err, SubmitError::RingFull(_)));
    assert!(err.to_string().contains("ring full"));
    let back = err.into_batch();
    assert_eq!(back.caller_data(), 99);
    // A SYNC chain whose completion is returned never needs a ring entry.
    assert!(matches!(
        ex.submit(getpid_chain(abi::BATCH_SYNC, 98)).unwrap(),
        Submitted::Done(_)
    ));
    for (tx, _) in &pairs {
        (&*tx).write_all(b"x").unwrap();
    }
    ex.wait(4, LONG).unwrap();
    // Completed but unreaped still count.
    assert!(matches!(
        ex.submit(getpid_chain(abi::BATCH_ASYNC, 5)),
        Err(SubmitError::RingFull(_))
    ));
    let done = reap_n(&ex, 4);
    let mut data: Vec<u64> = done.iter().map(|d| d.entry().caller_data).collect();
    data.sort();
    assert_eq!(data, [0, 1, 2, 3]);
    assert!(done.iter().all(|d| d.entry().status == 1));
    assert!(matches!(ex.submit(back).unwrap(), Submitted::Done(_)));
}

#[test]
fn full_ring_blocks_until_a_reap_frees_room() {
    let ex = Arc::new(
        Executor::builder()
            .ring_size(2)
            .backpressure(Backpressure::Block)
            .build()
            .unwrap(),
    );
    for i in 0..2 {
        ex.submit(getpid_chain(abi::BATCH_ASYNC, i)).unwrap();
    }
    assert_eq!(ex.wait(2, LONG).unwrap(), 2);
    let returned = Arc::new(AtomicBool::new(false));
    let submitter = {
        let (ex, returned) = (Arc::clone(&ex), Arc::clone(&returned));
        std::thread::spawn(move || {
            let sub = ex.submit(getpid_chain(abi::BATCH_ASYNC, 2)).unwrap();
            returned.store(true, Ordering::SeqCst);
            sub.ticket()
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        !returned.load(Ordering::SeqCst),
        "submit returned although the ring was full"
    );
    let first = ex.reap().unwrap();
    assert_eq!(first.len(), 2);
    let ticket = submitter.join().unwrap();
    let last = reap_n(&ex, 1).pop().unwrap();
    assert_eq!(last.ticket(), ticket);
    assert_eq!(last.entry().caller_data, 2);
}

fn poll_in(fd: &impl AsFd, timeout_ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd: fd.as_fd().as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd on this stack frame, count 1.
    let n = unsafe { libc::poll(&mut p, 1, timeout_ms) };
    assert!(n >= 0, "poll failed");
    n == 1 && p.revents & libc::POLLIN != 0
}

#[test]
fn eventfd_becomes_readable_through_poll() {
    let ex = Executor::new();
    let efd = ex.attach_eventfd().unwrap();
    assert_eq!(
        efd.as_raw_fd(),
        ex.attach_eventfd().unwrap().as_raw_fd(),
        "attached once"
    );
    assert!(!poll_in(&efd, 0), "readable before any completion");
    let (mut tx, rx) = UnixStream::pair().unwrap();
    ex.submit(read_chain(rx.as_raw_fd(), 0, 1, 1)).unwrap();
    assert!(!poll_in(&efd, 0), "readable while the chain is blocked");
    tx.write_all(b"go").unwrap();
    assert!(poll_in(&efd, 20_000), "completion not signalled");
    assert_eq!(efd.clear(), 1);
    assert!(!poll_in(&efd, 0));
    let done = ex.reap().unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].completion().atoms_run(), 2);
    // Queued inline completions signal it too.
    let q = Executor::builder()
        .inline_completions(InlineCompletions::Queue)
        .build()
        .unwrap();
    q.submit(getpid_chain(0, 1)).unwrap();
    let qfd = q.attach_eventfd().unwrap();
    assert!(
        poll_in(&qfd, 0),
        "an entry posted before attaching must make it readable"
    );
}

#[test]
fn wait_does_not_hang_when_nothing_can_arrive() {
    let ex = Executor::new();
    assert_eq!(ex.wait(3, None).unwrap(), 0);
    ex.submit(getpid_chain(abi::BATCH_ASYNC, 0)).unwrap();
    assert_eq!(ex.wait(3, None).unwrap(), 1);
    assert_eq!(ex.reap().unwrap().len(), 1);
    let (tx, rx) = UnixStream::pair().unwrap();
    ex.submit(read_chain(rx.as_raw_fd(), 0, 0, 0)).unwrap();
    assert_eq!(ex.in_flight(), 1);
    assert_eq!(ex.wait(1, Some(Duration::from_millis(20))).unwrap(), 0);
    // A blocked call is not interrupted by shutdown: end it (EOF) first.
    drop(tx);
    let rest = ex.shutdown(ShutdownMode::Cancel).unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].entry().status, 0);
}

#[test]
fn cancel_a_chain_that_has_not_started() {
    let ex = Executor::builder().max_workers(1).build().unwrap();
    let (mut tx, rx) = UnixStream::pair().unwrap();
    let blocker = ex
        .submit(read_chain(rx.as_raw_fd(), abi::BATCH_ASYNC, 1, 0))
        .unwrap()
        .ticket();
    let victim = ex
        .submit(getpid_chain(abi::BATCH_ASYNC, 2))
        .unwrap()
        .ticket();
    assert_eq!(ex.cancel(victim).unwrap(), Canceled::NotStarted);
    let done = reap_n(&ex, 1).pop().unwrap();
    assert_eq!(done.ticket(), victim);
    assert!(done.completion().canceled());
    assert_eq!(done.entry().status, -(libc::ECANCELED as i64));
    assert_ne!(done.entry().flags & abi::COMPLETION_CANCELED as u32, 0);
    assert_eq!(done.completion().atoms_run(), 0);
    assert_eq!(ex.cancel(victim).unwrap(), Canceled::NotFound);
    tx.write_all(b"x").unwrap();
    let done = reap_n(&ex, 1).pop().unwrap();
    assert_eq!(done.ticket(), blocker);
    assert!(!done.completion().canceled());
    assert_eq!(done.entry().status, 1);
    assert_eq!(ex.cancel(blocker).unwrap(), Canceled::NotFound);
}

#[test]
fn cancel_a_running_chain_stops_it_before_the_next_atom() {
    let ex = Executor::new();
    let (mut a_tx, a_rx) = UnixStream::pair().unwrap();
    let (mut b_tx, b_rx) = UnixStream::pair().unwrap();
    let mut chain = Chain::new();
    let hello = chain.input(b"!");
    let w = chain.push(WriteAtom::new(a_tx.as_raw_fd(), hello));
    let buf = chain.output_bytes(4);
    let r = chain.push(ReadAtom::new(b_rx.as_raw_fd(), buf));
    let p = chain.push(Getpid::new());
    chain.set_flags(abi::BATCH_ASYNC);
    let ticket = ex
        .submit(chain.prepare(&Policy::default()).unwrap())
        .unwrap()
        .ticket();
    // The worker wrote "!": it is past atom 0, in (or about to enter) the read.
    let mut got = [0u8; 1];
    (&a_rx).read_exact(&mut got).unwrap();
    assert_eq!(ex.cancel(ticket).unwrap(), Canceled::Requested);
    b_tx.write_all(b"y").unwrap();
    let done = reap_n(&ex, 1).pop().unwrap();
    let c = done.completion();
    assert!(c.canceled());
    assert_eq!(c.status(), -(libc::ECANCELED as i64));
    assert_eq!(c.result(w), Some(1));
    // The cancel came after atom 0: the worker was either still before the
    // read (it stops there) or inside it (it finishes the read and stops).
    match c.atoms_run() {
        1 => {
            assert_eq!(c.last_atom(), w.index());
            assert_eq!(c.result(r), None);
        }
        2 => {
            assert_eq!(c.last_atom(), r.index());
            assert_eq!(c.result(r), Some(1));
        }
        n => panic!("ran {n} atoms: a cancelled chain must not start another atom"),
    }
    assert_eq!(c.result(p), None, "the atom after the cancel must not run");
    assert_eq!(ex.cancel(ticket).unwrap(), Canceled::NotFound);
    drop((&mut a_tx, b_rx));
}

#[test]
fn shutdown_finish_returns_every_unreaped_completion() {
    let ex = Executor::builder().max_workers(2).build().unwrap();
    let mut tickets = Vec::new();
    for i in 0..60 {
        let flags = if i % 2 == 0 { abi::BATCH_ASYNC } else { 0 };
        if let Submitted::Queued(t) = ex.submit(getpid_chain(flags, i)).unwrap() {
            tickets.push(t);
        }
    }
    let mut got: Vec<_> = ex.reap().unwrap().iter().map(|d| d.ticket()).collect();
    for d in ex.shutdown(ShutdownMode::Finish).unwrap() {
        assert!(!d.completion().canceled(), "Finish runs every chain");
        assert_eq!(d.entry().status, pid());
        got.push(d.ticket());
    }
    got.sort();
    tickets.sort();
    assert_eq!(got, tickets);
}

#[test]
fn shutdown_cancel_cancels_queued_chains_and_loses_none() {
    let ex = Executor::builder().max_workers(1).build().unwrap();
    let (a_tx, a_rx) = UnixStream::pair().unwrap();
    let (tx, rx) = UnixStream::pair().unwrap();
    let mut chain = Chain::new();
    let bang = chain.input(b"!");
    chain.push(WriteAtom::new(a_tx.as_raw_fd(), bang));
    let buf = chain.output_bytes(4);
    chain.push(ReadAtom::new(rx.as_raw_fd(), buf));
    chain.push(Getpid::new());
    chain.set_flags(abi::BATCH_ASYNC);
    let blocker = ex
        .submit(chain.prepare(&Policy::default()).unwrap())
        .unwrap()
        .ticket();
    // The worker wrote "!": the blocker is running, the rest will queue.
    (&a_rx).read_exact(&mut [0u8; 1]).unwrap();
    let mut queued: Vec<_> = (1..=20)
        .map(|i| {
            ex.submit(getpid_chain(abi::BATCH_ASYNC, i))
                .unwrap()
                .ticket()
        })
        .collect();
    // Unblock the running chain a little later, while shutdown waits for it.
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        (&tx).write_all(b"z").unwrap();
        tx
    });
    let all = ex.shutdown(ShutdownMode::Cancel).unwrap();
    drop(writer.join().unwrap());
    let mut got = Vec::new();
    for d in &all {
        got.push(d.ticket());
        if d.ticket() == blocker {
            // Started (it wrote "!"); stopped before the read, after it, or ran
            // to its end if the read returned before the cancel.
            let c = d.completion();
            assert!(c.atoms_run() >= 1);
            assert_eq!(c.canceled(), c.atoms_run() < 3);
        } else if d.completion().canceled() {
            assert_eq!(d.completion().atoms_run(), 0);
            assert_eq!(d.entry().status, -(libc::ECANCELED as i64));
        } else {
            assert_eq!(d.entry().status, pid());
        }
    }
    queued.push(blocker);
    got.sort();
    queued.sort();
    assert_eq!(
        got, queued,
        "every chain in flight has exactly one completion"
    );
}

#[test]
fn no_complete_chains_post_nothing() {
    let ex = Executor::new();
    for _ in 0..10 {
        let sub = ex
            .submit(getpid_chain(abi::BATCH_ASYNC | abi::BATCH_NO_COMPLETE, 0))
            .unwrap();
        assert!(matches!(sub, Submitted::Queued(_)));
    }
    ex.submit(getpid_chain(abi::BATCH_ASYNC, 42)).unwrap();
    let all = ex.shutdown(ShutdownMode::Finish).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].entry().caller_data, 42);
}

#[test]
fn executor_is_send_and_sync() {
    fn shared_between_threads<T: Send + Sync>(_: &T) {}
    let ex = Executor::new();
    shared_between_threads(&ex);
    // And a batch can move to a worker thread.
    fn movable<T: Send>(_: &T) {}
    movable(&getpid_chain(0, 0));
}

#[test]
fn bad_configuration_is_refused() {
    assert!(Executor::builder().ring_size(6).build().is_err());
    assert!(Executor::builder().max_workers(0).build().is_err());
}

/// Poll `f` for up to ten seconds.
fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    false
}

#[test]
fn pool_stays_at_max_running_while_nothing_stalls() {
    // getpid never blocks, so no worker ever counts as stalled (the stall
    // threshold is far above any preemption): at most `max_running` threads.
    let ex = Executor::builder()
        .max_workers(8)
        .max_running(2)
        .handoff_threshold(Duration::from_secs(5))
        .ring_size(1024)
        .build()
        .unwrap();
    let mut peak = 0;
    for round in 0..20u64 {
        for i in 0..50 {
            ex.submit(getpid_chain(abi::BATCH_ASYNC, round * 50 + i))
                .unwrap();
            peak = peak.max(ex.workers());
        }
        let done = reap_n(&ex, 50);
        assert!(done.iter().all(|d| d.completion().status() == pid()));
        peak = peak.max(ex.workers());
    }
    assert!(peak >= 1);
    assert!(peak <= 2, "{peak} workers for chains that never block");
}

#[test]
fn pool_grows_past_max_running_while_workers_are_stalled() {
    // Four chains block in a read; with max_running 1, only stalls (an atom
    // running longer than the 1 ms threshold) let the pool start more
    // workers, found by the submitter's wait ticks.
    let ex = Executor::builder()
        .max_workers(8)
        .max_running(1)
        .handoff_threshold(Duration::from_millis(1))
        .build()
        .unwrap();
    let pairs: Vec<_> = (0..4).map(|_| UnixStream::pair().unwrap()).collect();
    for (i, (_, rx)) in pairs.iter().enumerate() {
        ex.submit(read_chain(rx.as_raw_fd(), abi::BATCH_ASYNC, i as u64, 0))
            .unwrap();
    }
    // Nothing can complete yet; each wait re-applies the rule every tick.
    assert!(
        eventually(|| {
            assert_eq!(ex.wait(1, Some(Duration::from_millis(5))).unwrap(), 0);
            ex.workers() == 4
        }),
        "stalled workers must not hold the queue: {} workers",
        ex.workers()
    );
    for (tx, _) in &pairs {
        (&*tx).write_all(b"x").unwrap();
    }
    let done = reap_n(&ex, 4);
    assert!(done.iter().all(|d| d.completion().status() == 1));
    // The stall is over: later non-blocking chains need no more threads.
    for i in 0..100 {
        ex.submit(getpid_chain(abi::BATCH_ASYNC, i)).unwrap();
    }
    reap_n(&ex, 100);
    assert!(ex.workers() <= 8);
}

/// Pin the calling thread (and the threads it starts later) to the CPU it
/// runs on.
fn pin_to_one_cpu() {
    #[allow(unsafe_code)]
    // SAFETY: sched_getcpu takes no argument; cpu_set_t is a plain bit set
    // (zero is empty), CPU_SET writes one bit of the local set, and
    // sched_setaffinity reads the set of the size passed (0: this thread).
    unsafe {
        let cpu = libc::sched_getcpu();
        assert!(cpu >= 0);
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu as usize, &mut set);
        assert_eq!(
            libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set),
            0
        );
    }
}

/// A chain of 64 stats of this crate's manifest (six path components: a few
/// µs each, worth a hand-off together).
fn long_stat_chain(data: u64) -> ValidatedBatch<'static> {
    let mut chain = Chain::new();
    for _ in 0..64 {
        let p = chain.path(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"));
        let st = chain.output::<Stat>();
        chain.push(Newfstatat::new(libc::AT_FDCWD, p, st));
    }
    chain.set_caller_data(data);
    chain.prepare(&Policy::default()).unwrap()
}

#[test]
fn spare_cpu_rule_spreads_nothing_when_a_worker_could_only_compete() {
    // The submitter and every worker it starts share one CPU: a spread
    // chain's worker can only take that CPU from the submitter. The monitor
    // must see them wait for it and keep the chains inline (retrying rarely).
    std::thread::spawn(|| {
        pin_to_one_cpu();
        let ex = Executor::builder()
            .use_spare_cpus(true)
            .ring_size(1024)
            .build()
            .unwrap();
        let (mut inline, mut spread, mut in_flight) = (0u64, 0u64, 0usize);
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(1500) {
            match ex.submit(long_stat_chain(0)).unwrap() {
                Submitted::Done(d) => {
                    assert!(d.completion().results()[..64].iter().all(|&r| r == 0));
                    inline += 1;
                }
                Submitted::Queued(_) => {
                    spread += 1;
                    in_flight += 1;
                }
            }
            let done = ex.reap().unwrap();
            assert!(done.iter().all(|d| d.completion().status() == 0));
            in_flight -= done.len();
        }
        reap_n(&ex, in_flight);
        assert!(inline > 0);
        assert!(
            spread * 10 < inline + spread,
            "{spread} of {} chains spread to a worker on the submitter's only CPU",
            inline + spread
        );
    })
    .join()
    .unwrap();
}
