//! The tokio adapter (`syslets::tokio::AsyncExecutor`): many concurrent runs,
//! ring-full back-pressure, futures dropped mid-flight, and descriptor counts.
//! The tests count this process's descriptors, so they run one at a time.
#![cfg(feature = "tokio")]

use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use syslets::opcode::{Getpid, Newfstatat, Openat, Read};
use syslets::tokio::{AsyncExecutor, RunError};
use syslets::{abi, Chain, Executor, Policy, Stat, Stop, ValidatedBatch};

#[path = "common/rng.rs"]
mod rng;
use rng::setting;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Wait (bounded, 10 s) until this process has `want` descriptors.
fn settle_fds(want: usize) -> usize {
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        let n = fds();
        if n == want || Instant::now() > end {
            return n;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "syslets-tokio-{tag}-{}-{nanos:x}",
            std::process::id()
        ));
        std::fs::create_dir(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `openat(path) → read(sock, 1 byte)`: the open's descriptor stays open in
/// the batch, and the read blocks on a worker until the test writes.
fn open_then_read(sock: &UnixStream) -> ValidatedBatch<'static> {
    let mut chain = Chain::new();
    let path = chain.path("/dev/null");
    chain.push(Openat::new(libc::AT_FDCWD, path).stop_on(Stop::NEGATIVE));
    let buf = chain.output_bytes(1);
    chain.push(Read::new(sock.as_raw_fd(), buf));
    chain.set_flags(abi::BATCH_ASYNC);
    chain.prepare(&Policy::default()).unwrap()
}

async fn wait_in_flight(ex: &AsyncExecutor, n: usize) {
    let end = Instant::now() + Duration::from_secs(10);
    while ex.in_flight() < n {
        assert!(
            Instant::now() < end,
            "{} in flight, want {n}",
            ex.in_flight()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[test]
fn concurrent_runs_from_many_tasks_get_their_own_outputs() {
    let _s = serial();
    let dir = Scratch::new("many");
    const FILES: usize = 300;
    for i in 0..FILES {
        std::fs::write(dir.0.join(format!("f{i}")), vec![b'x'; i * 7]).unwrap();
    }
    runtime().block_on(async {
        let ex = Arc::new(
            AsyncExecutor::new(Executor::builder().ring_size(16).build().unwrap()).unwrap(),
        );
        let mut tasks = Vec::new();
        for i in 0..FILES {
            let ex = ex.clone();
            let path = dir.0.join(format!("f{i}"));
            tasks.push(tokio::spawn(async move {
                let mut chain = Chain::new();
                let p = chain.path(&path);
                let st = chain.output::<Stat>();
                let stat = chain.push(Newfstatat::new(libc::AT_FDCWD, p, st));
                chain.set_caller_data(i as u64);
                // A third inline, the rest through a worker and the ring.
                if i % 3 != 0 {
                    chain.set_flags(abi::BATCH_ASYNC);
                }
                let done = ex.run(chain.prepare(&Policy::default()).unwrap()).await;
                let done = done.unwrap();
                assert_eq!(done.completion().outcome(stat), Some(Ok(0)), "file {i}");
                assert_eq!(done.completion().caller_data(), i as u64);
                assert_eq!(done.batch().output(st).st_size, (i * 7) as i64, "file {i}");
                let inline = done.entry().flags & u32::from(abi::COMPLETION_INLINE) != 0;
                assert!(!(inline && i % 3 != 0), "ASYNC chain {i} completed inline");
                inline
            }));
        }
        let mut inline = 0;
        for t in tasks {
            inline += t.await.unwrap() as usize;
        }
        // The default-mode third may run inline or be spread to a worker.
        assert!(inline <= FILES / 3, "only default-mode chains run inline");
        assert_eq!(ex.in_flight(), 0);
    });
}

#[test]
fn a_full_ring_makes_runs_wait_and_loses_no_completion() {
    let _s = serial();
    let (mut tx, rx) = UnixStream::pair().unwrap();
    const RUNS: usize = 64;
    const RING: usize = 4;
    runtime().block_on(async {
        let ex = Arc::new(
            AsyncExecutor::new(
                Executor::builder()
                    .ring_size(RING as u32)
                    .max_workers(RING)
                    .build()
                    .unwrap(),
            )
            .unwrap(),
        );
        let rx = Arc::new(rx);
        let mut tasks = Vec::new();
        for i in 0..RUNS {
            let (ex, rx) = (ex.clone(), rx.clone());
            tasks.push(tokio::spawn(async move {
                let mut chain = Chain::new();
                let buf = chain.output_bytes(1);
                let read = chain.push(Read::new(rx.as_raw_fd(), buf));
                chain.push(Getpid::new());
                chain.set_caller_data(i as u64);
                chain.set_flags(abi::BATCH_ASYNC);
                let mut done = ex
                    .run(chain.prepare(&Policy::default()).unwrap())
                    .await
                    .unwrap();
                assert_eq!(done.completion().caller_data(), i as u64);
                assert_eq!(done.completion().outcome(read), Some(Ok(1)), "run {i}");
                assert!(done.batch_mut().take_fds().is_empty());
                done.batch().bytes(buf)[0]
            }));
        }
        // The ring holds RING chains: that many are on workers, blocked in
        // their read; the others wait for room without being submitted.
        wait_in_flight(&ex, RING).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            ex.in_flight(),
            RING,
            "never more in flight than the ring holds"
        );
        assert!(tasks.iter().all(|t| !t.is_finished()));

        let bytes: Vec<u8> = (0..RUNS as u8).collect();
        tx.write_all(&bytes).unwrap();
        let mut seen = Vec::new();
        for t in tasks {
            seen.push(t.await.unwrap());
        }
        seen.sort_unstable();
        assert_eq!(seen, bytes, "every byte read once: every run completed");
        assert_eq!(ex.in_flight(), 0);
    });
}

#[test]
fn a_future_dropped_mid_flight_leaks_nothing_and_others_complete() {
    let _s = serial();
    let (mut tx, rx) = UnixStream::pair().unwrap();
    let rt = runtime();
    let ex = rt.block_on(async { AsyncExecutor::new(Executor::new()).unwrap() });
    let ex = Arc::new(ex);
    let fds0 = fds();
    rt.block_on(async {
        // Abandoned after it opened /dev/null and blocked in its read.
        let dropped = {
            let ex = ex.clone();
            let batch = open_then_read(&rx);
            tokio::spawn(async move { ex.run(batch).await.map(|_| ()) })
        };
        wait_in_flight(&ex, 1).await;
        assert_eq!(settle_fds(fds0 + 1), fds0 + 1, "the chain holds /dev/null");
        dropped.abort();
        assert!(dropped.await.unwrap_err().is_cancelled());

        // A second run, blocked the same way, is still delivered.
        let kept = {
            let ex = ex.clone();
            let batch = open_then_read(&rx);
            tokio::spawn(async move { ex.run(batch).await })
        };
        wait_in_flight(&ex, 2).await;
        tx.write_all(b"ab").unwrap();
        let mut done = kept.await.unwrap().unwrap();
        assert!(done.completion().results()[0] >= 0);
        assert_eq!(done.completion().results()[1], 1);
        let taken = done.batch_mut().take_fds();
        assert_eq!(taken.len(), 1, "the kept run's /dev/null is handed out");
        drop(taken);
    });
    // Nothing polls now: the reaper alone reaps the abandoned chain and
    // closes its descriptor.
    assert_eq!(
        settle_fds(fds0),
        fds0,
        "the dropped run's descriptor leaked"
    );
    assert_eq!(ex.in_flight(), 0);
    drop(ex);
    drop(rt);
}

#[test]
fn dropping_everything_with_work_in_flight_leaks_no_descriptor() {
    let _s = serial();
    let fds0 = fds();
    for round in 0..3 {
        let (tx, rx) = UnixStream::pair().unwrap();
        let rt = runtime();
        rt.block_on(async {
            let ex = Arc::new(AsyncExecutor::new(Executor::new()).unwrap());
            let mut tasks = Vec::new();
            for _ in 0..20 {
                let ex = ex.clone();
                let batch = open_then_read(&rx);
                // One that completes before the runtime is dropped closes
                // its /dev/null: a `Done` hands its descriptors out, it does
                // not close them.
                tasks.push(tokio::spawn(async move {
                    ex.run(batch)
                        .await
                        .map(|mut done| drop(done.batch_mut().take_fds()))
                }));
            }
            wait_in_flight(&ex, 20).await;
            // Half the futures are dropped, the others dropped with the
            // runtime; closing the socket ends every read (EOF).
            for t in tasks.iter().step_by(2) {
                t.abort();
            }
            drop(tx);
        });
        drop(rt);
        drop(rx);
        assert_eq!(settle_fds(fds0), fds0, "round {round}: descriptor leaked");
    }
}

#[test]
fn refusals_and_a_stopped_reaper_are_errors_not_hangs() {
    let _s = serial();
    let rt = runtime();
    let ex = rt.block_on(async { AsyncExecutor::new(Executor::new()).unwrap() });
    // BATCH_NO_COMPLETE posts nothing to await: refused, the batch given back.
    let mut chain = Chain::new();
    chain.push(Getpid::new());
    chain.set_flags(abi::BATCH_NO_COMPLETE | abi::BATCH_ASYNC);
    let batch = chain.prepare(&Policy::default()).unwrap();
    match rt.block_on(ex.run(batch)) {
        Err(RunError::NoCompletion(b)) => assert_eq!(b.len(), 1),
        other => panic!("{other:?}"),
    }
    // The reaper's runtime shuts down: a run from another runtime fails
    // instead of waiting for ever.
    drop(rt);
    let mut chain = Chain::new();
    chain.push(Getpid::new());
    chain.set_flags(abi::BATCH_ASYNC);
    let batch = chain.prepare(&Policy::default()).unwrap();
    let other = runtime();
    let r = other
        .block_on(async { tokio::time::timeout(Duration::from_secs(10), ex.run(batch)).await });
    assert!(matches!(r, Ok(Err(RunError::Stopped))), "{r:?}");
    // Outside a runtime, making one is an error.
    assert!(AsyncExecutor::new(Executor::new()).is_err());
}

#[test]
fn completions_reaped_before_their_run_registers_are_kept_for_it() {
    let _s = serial();
    // With InlineCompletions::Queue an inline chain is posted before `submit`
    // returns, so the reaper often reaps it before its run has registered.
    runtime().block_on(async {
        let ex = Arc::new(
            AsyncExecutor::new(
                Executor::builder()
                    .ring_size(8)
                    .inline_completions(syslets::InlineCompletions::Queue)
                    .build()
                    .unwrap(),
            )
            .unwrap(),
        );
        let tasks: Vec<_> = (0..500u64)
            .map(|i| {
                let ex = ex.clone();
                tokio::spawn(async move {
                    let mut chain = Chain::new();
                    let pid = chain.push(Getpid::new());
                    chain.set_caller_data(i);
                    let done = ex
                        .run(chain.prepare(&Policy::default()).unwrap())
                        .await
                        .unwrap();
                    assert_eq!(done.completion().caller_data(), i);
                    assert_eq!(
                        done.completion().result(pid),
                        Some(std::process::id() as i64)
                    );
                    assert_ne!(done.entry().flags & u32::from(abi::COMPLETION_INLINE), 0);
                })
            })
            .collect();
        for t in tasks {
            tokio::time::timeout(Duration::from_secs(20), t)
                .await
                .expect("no completion is lost")
                .unwrap();
        }
    });
}

#[test]
fn random_aborts_under_a_small_ring_lose_nothing_and_leak_nothing() {
    let _s = serial();
    const RUNS: u64 = 1000;
    let rt = runtime();
    let ex = Arc::new(rt.block_on(async {
        AsyncExecutor::new(Executor::builder().ring_size(8).build().unwrap()).unwrap()
    }));
    let fds0 = fds();
    // Reads of half the chains complete as this thread feeds bytes (one per
    // 100 µs), so they stay on workers for a while and aborts land before
    // submission, while waiting for ring space, and with the chain in flight.
    let (tx, rx) = UnixStream::pair().unwrap();
    let rx = Arc::new(rx);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let feeder = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut tx = tx;
            // Non-blocking: once every run is done nobody reads, and a full
            // socket buffer must not keep this thread from seeing `stop`.
            tx.set_nonblocking(true).unwrap();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = tx.write_all(b"x");
                std::thread::sleep(Duration::from_micros(100));
            }
            // Dropping the write end ends every read still waiting (EOF).
        })
    };
    let mut rng = rng::Rng(setting("SYSLETS_TOKIO_SEED", 1));
    let mut next = move || rng.next();
    let (completed, aborted) = rt.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..RUNS {
            let (ex, rx) = (ex.clone(), rx.clone());
            let blocking = next() % 2 == 0;
            let task = tokio::spawn(async move {
                let mut chain = Chain::new();
                let path = chain.path("/dev/null");
                let open = chain.push(Openat::new(libc::AT_FDCWD, path).stop_on(Stop::NEGATIVE));
                if blocking {
                    let buf = chain.output_bytes(1);
                    chain.push(Read::new(rx.as_raw_fd(), buf));
                    chain.set_flags(abi::BATCH_ASYNC);
                }
                chain.set_caller_data(i);
                let mut done = ex
                    .run(chain.prepare(&Policy::default()).unwrap())
                    .await
                    .unwrap();
                assert_eq!(done.completion().caller_data(), i);
                assert!(done.completion().result(open).unwrap() >= 0);
                assert_eq!(done.batch_mut().take_fds().len(), 1);
            });
            // A third are aborted after 0–40 ms (about as long as the feeding takes).
            if next() % 3 == 0 {
                let abort = task.abort_handle();
                let delay = Duration::from_micros(next() % 40_000);
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    abort.abort();
                });
            }
            tasks.push(task);
        }
        let (mut completed, mut aborted) = (0, 0);
        for t in tasks {
            match t.await {
                Ok(()) => completed += 1,
                Err(e) if e.is_cancelled() => aborted += 1,
                Err(e) => std::panic::resume_unwind(e.into_panic()),
            }
        }
        (completed, aborted)
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    feeder.join().unwrap();
    drop(rx);
    assert_eq!(completed + aborted, RUNS);
    assert!(aborted >= 50, "{completed} completed, {aborted} aborted");
    assert_eq!(settle_fds(fds0), fds0, "an aborted run's descriptor leaked");
    assert_eq!(ex.in_flight(), 0);
    drop(ex);
    drop(rt);
}
