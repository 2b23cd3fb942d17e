//! Submit-to-completion latency of a cached single-atom chain: through the
//! default path (runs inline, completion returned by `submit`) versus a forced
//! hand-off to a worker (`BATCH_ASYNC`: queue, futex wake of a worker, ring
//! post, futex wake of the waiter, reap), side by side in one run.
//!
//! ```text
//! cargo bench --bench async_latency [-- ITERATIONS]
//! ```
//!
//! Two single-atom chains: `newfstatat("/")` (no non-blocking form: the
//! adaptive rule keeps it inline) and a 4 KiB `pread64` of a cached file (the
//! `RWF_NOWAIT` probe is the read). The same batch is submitted again and
//! again (`Done::into_batch`), so only submit-to-completion is timed.

use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use syslets::abi;
use syslets::opcode::{Newfstatat, Pread64};
use syslets::{Chain, Executor, InlineCompletions, Policy, Stat, Submitted, ValidatedBatch};

#[derive(Clone, Copy, PartialEq)]
enum Path {
    /// `submit` returns the completion.
    Returned,
    /// The completion comes back through the ring (`submit` then `wait` + `reap`).
    Ring,
}

fn measure(ex: &Executor, mut batch: ValidatedBatch<'static>, n: usize) -> (Vec<Duration>, usize) {
    let mut times = Vec::with_capacity(n);
    let mut inline = 0;
    for i in 0..n + n / 10 {
        let t0 = Instant::now();
        let done = match ex.submit(batch).expect("submit") {
            Submitted::Done(d) => d,
            Submitted::Queued(_) => {
                ex.wait(1, None).expect("wait");
                ex.reap().expect("reap").pop().expect("one completion")
            }
        };
        let dt = t0.elapsed();
        assert!(done.completion().status() >= 0, "atom failed");
        // The first tenth warms up (worker start, caches).
        if i >= n / 10 {
            times.push(dt);
            inline += usize::from(done.entry().flags & abi::COMPLETION_INLINE as u32 != 0);
        }
        batch = done.into_batch();
    }
    (times, inline)
}

fn report(label: &str, path: Path, mut t: Vec<Duration>, inline: usize) {
    t.sort();
    let q = |p: f64| t[((t.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e6;
    let mean = t.iter().sum::<Duration>().as_secs_f64() * 1e6 / t.len() as f64;
    println!(
        "{label:<44} median {:>7.2} us  p90 {:>7.2} us  p99 {:>8.2} us  mean {:>7.2} us  ({} of {} ran inline{})",
        q(0.5),
        q(0.9),
        q(0.99),
        mean,
        inline,
        t.len(),
        if path == Path::Ring { ", via ring" } else { "" }
    );
}

fn stat_chain(flags: u16) -> ValidatedBatch<'static> {
    let mut chain = Chain::new();
    let root = chain.path("/");
    let st = chain.output::<Stat>();
    chain.push(Newfstatat::new(libc::AT_FDCWD, root, st));
    chain.set_flags(flags);
    chain.prepare(&Policy::default()).unwrap()
}

fn pread_chain(fd: i32, flags: u16) -> ValidatedBatch<'static> {
    let mut chain = Chain::new();
    let buf = chain.output_bytes(4096);
    chain.push(Pread64::new(fd, buf, 0));
    chain.set_flags(flags);
    chain.prepare(&Policy::default()).unwrap()
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20_000);
    let file = std::fs::File::open("/proc/self/exe").expect("open own binary");
    let _ = std::fs::read("/proc/self/exe");
    let fd = file.as_raw_fd();
    println!("{n} iterations each (after {} warm-up)", n / 10);

    let ex = Executor::new();
    let queued = Executor::builder()
        .inline_completions(InlineCompletions::Queue)
        .build()
        .unwrap();

    let mut raw = stat_chain(0);
    let mut t = Vec::with_capacity(n);
    for _ in 0..n {
        let t0 = Instant::now();
        raw.run();
        t.push(t0.elapsed());
    }
    report(
        "newfstatat: ValidatedBatch::run (no executor)",
        Path::Returned,
        t,
        n,
    );
    let (t, i) = measure(&ex, stat_chain(0), n);
    report("newfstatat: default path", Path::Returned, t, i);
    let (t, i) = measure(&queued, stat_chain(0), n);
    report(
        "newfstatat: default path, completion queued",
        Path::Ring,
        t,
        i,
    );
    let (t, i) = measure(&ex, stat_chain(abi::BATCH_ASYNC), n);
    report(
        "newfstatat: forced hand-off (BATCH_ASYNC)",
        Path::Ring,
        t,
        i,
    );

    let (t, i) = measure(&ex, pread_chain(fd, 0), n);
    report(
        "pread64 4 KiB: default path (RWF_NOWAIT)",
        Path::Returned,
        t,
        i,
    );
    let (t, i) = measure(&ex, pread_chain(fd, abi::BATCH_ASYNC), n);
    report(
        "pread64 4 KiB: forced hand-off (BATCH_ASYNC)",
        Path::Ring,
        t,
        i,
    );
}
