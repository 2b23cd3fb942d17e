//! Stat 10,000 files concurrently from tokio tasks, two ways side by side:
//! `AsyncExecutor::run` with one `newfstatat` chain per file, and
//! `tokio::fs::metadata` (which sends each call to tokio's blocking thread
//! pool). Needs the `tokio` feature:
//!
//! ```text
//! cargo run --release --features tokio --example tokio_stat -- [--files N] [--rounds R] [--async]
//! ```
//!
//! It makes the files in a fresh scratch directory under the temp dir
//! (removed at the end), runs one untimed warm-up of each side, then R rounds
//! (default 5) alternating which side goes first, and prints every round,
//! the medians with min–max, the ratio, the CPU count and the load average.
//! Every task checks that the size it got is the file's size.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use syslets::opcode::Newfstatat;
use syslets::tokio::AsyncExecutor;
use syslets::{abi, Chain, Executor, Policy, Stat};

const HELP: &str = "\
tokio_stat: stat N files from N concurrent tokio tasks, with syslets' AsyncExecutor
and with tokio::fs::metadata, side by side

usage: tokio_stat [--files N] [--rounds R] [--async]

  --files N    files to make and stat (default 10000)
  --rounds R   timed rounds of each side (default 5), alternating which goes first
  --async      submit every syslets chain with BATCH_ASYNC: each goes through a
               worker, the completion ring, the eventfd and the reaper (without
               it a cached stat completes inline, in its task)

Progress (stderr, only when stderr is a terminal): after the first second,
one line per second with the files done so far.";

/// A scratch directory named like `mktemp -d` would (pid and clock bits),
/// removed with everything in it when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> std::io::Result<Scratch> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir =
            std::env::temp_dir().join(format!("tokio_stat.{}.{nanos:08x}", std::process::id()));
        std::fs::create_dir(&dir)?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// File `i` holds `size(i)` bytes, so every stat can be checked.
fn size(i: usize) -> usize {
    i % 997
}

/// A line on stderr once a second after the first, while stderr is a terminal.
struct Progress {
    done: Arc<AtomicUsize>,
    shown: Arc<AtomicBool>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    fn start(label: &'static str, total: usize) -> Progress {
        let done = Arc::new(AtomicUsize::new(0));
        let shown = Arc::new(AtomicBool::new(false));
        let ticker = std::io::stderr().is_terminal().then(|| {
            let (done, shown) = (done.clone(), shown.clone());
            tokio::spawn(async move {
                let start = Instant::now();
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let n = done.load(Ordering::Relaxed);
                    eprint!(
                        "\r\x1b[K{label}: {n}/{total} files in {:.0} s",
                        start.elapsed().as_secs_f64()
                    );
                    let _ = std::io::stderr().flush();
                    shown.store(true, Ordering::Relaxed);
                    if n >= total {
                        return;
                    }
                }
            })
        });
        Progress {
            done,
            shown,
            ticker,
        }
    }

    async fn finish(self) {
        if let Some(t) = self.ticker {
            t.abort();
            let _ = t.await;
            if self.shown.load(Ordering::Relaxed) {
                eprint!("\r\x1b[K");
                let _ = std::io::stderr().flush();
            }
        }
    }
}

async fn make_files(dir: &Path, n: usize) -> std::io::Result<Vec<PathBuf>> {
    let progress = Progress::start("making files", n);
    let mut paths = Vec::with_capacity(n);
    let data = vec![b'x'; 997];
    for i in 0..n {
        let p = dir.join(format!("f{i:05}"));
        std::fs::write(&p, &data[..size(i)])?;
        paths.push(p);
        progress.done.fetch_add(1, Ordering::Relaxed);
    }
    progress.finish().await;
    Ok(paths)
}

/// One task per file, all spawned at once; each runs a `newfstatat` chain.
/// Returns the seconds taken and how many chains went to a worker.
async fn with_syslets(
    ex: &Arc<AsyncExecutor>,
    policy: &Arc<Policy>,
    paths: &Arc<Vec<PathBuf>>,
    flags: u16,
) -> (f64, usize) {
    let progress = Progress::start("syslets", paths.len());
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..paths.len())
        .map(|i| {
            let (ex, policy, paths) = (ex.clone(), policy.clone(), paths.clone());
            let done_count = progress.done.clone();
            tokio::spawn(async move {
                let mut chain = Chain::new();
                let p = chain.path(&paths[i]);
                let st = chain.output::<Stat>();
                let stat = chain.push(Newfstatat::new(libc::AT_FDCWD, p, st));
                chain.set_flags(flags);
                let batch = chain.prepare(&policy).expect("a stat chain validates");
                let done = ex.run(batch).await.expect("the executor runs it");
                assert_eq!(
                    done.completion().outcome(stat),
                    Some(Ok(0)),
                    "{:?}",
                    paths[i]
                );
                assert_eq!(done.batch().output(st).st_size as usize, size(i));
                done_count.fetch_add(1, Ordering::Relaxed);
                done.entry().flags & u32::from(abi::COMPLETION_INLINE) == 0
            })
        })
        .collect();
    let mut on_workers = 0;
    for t in tasks {
        on_workers += t.await.expect("no task panics") as usize;
    }
    let secs = t0.elapsed().as_secs_f64();
    progress.finish().await;
    (secs, on_workers)
}

/// One task per file, all spawned at once; each awaits `tokio::fs::metadata`.
async fn with_tokio_fs(paths: &Arc<Vec<PathBuf>>) -> f64 {
    let progress = Progress::start("tokio::fs", paths.len());
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..paths.len())
        .map(|i| {
            let paths = paths.clone();
            let done_count = progress.done.clone();
            tokio::spawn(async move {
                let m = tokio::fs::metadata(&paths[i])
                    .await
                    .expect("the file exists");
                assert_eq!(m.len() as usize, size(i));
                done_count.fetch_add(1, Ordering::Relaxed);
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("no task panics");
    }
    let secs = t0.elapsed().as_secs_f64();
    progress.finish().await;
    secs
}

/// The three load averages, as `/proc/loadavg` gives them.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

/// Median and range of `v`.
fn spread(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    (s[s.len() / 2], s[0], s[s.len() - 1])
}

fn parse_args() -> (usize, usize, u16) {
    let (mut files, mut rounds, mut flags) = (10_000, 5, 0);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut number = |what: &str| -> usize {
            args.next()
                .and_then(|v| v.parse().ok())
                .filter(|&n| n > 0)
                .unwrap_or_else(|| {
                    eprintln!("tokio_stat: {what} needs a positive number\n\n{HELP}");
                    std::process::exit(2)
                })
        };
        match a.as_str() {
            "--files" => files = number("--files"),
            "--rounds" => rounds = number("--rounds"),
            "--async" => flags = abi::BATCH_ASYNC,
            "-h" | "--help" => {
                println!("{HELP}");
                std::process::exit(0)
            }
            other => {
                eprintln!("tokio_stat: unknown argument {other:?}\n\n{HELP}");
                std::process::exit(2)
            }
        }
    }
    (files, rounds, flags)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (files, rounds, flags) = parse_args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let scratch = Scratch::new()?;
    rt.block_on(async {
        let paths = Arc::new(make_files(&scratch.0, files).await?);
        let ex = Arc::new(AsyncExecutor::new(Executor::new())?);
        let policy = Arc::new(Policy::default());
        println!(
            "tokio_stat: {files} files, one task per file spawned at once; \
             syslets = AsyncExecutor::run(newfstatat chain{}), tokio = tokio::fs::metadata",
            if flags != 0 { ", BATCH_ASYNC" } else { "" }
        );
        // Untimed: the same hot cache and started thread pools for both.
        with_syslets(&ex, &policy, &paths, flags).await;
        with_tokio_fs(&paths).await;

        let load_before = load_average();
        println!("round  syslets ms  tokio::fs ms  syslets/tokio  syslets chains on workers");
        let mut rows = Vec::new();
        for round in 0..rounds {
            let ((ts, on_workers), tt) = if round % 2 == 0 {
                let s = with_syslets(&ex, &policy, &paths, flags).await;
                (s, with_tokio_fs(&paths).await)
            } else {
                let t = with_tokio_fs(&paths).await;
                (with_syslets(&ex, &policy, &paths, flags).await, t)
            };
            println!(
                "{:>5}  {:>10.2}  {:>12.2}  {:>13.3}  {on_workers}",
                round + 1,
                ts * 1e3,
                tt * 1e3,
                ts / tt
            );
            rows.push((ts, tt));
        }
        let (s, slo, shi) = spread(&rows.iter().map(|r| r.0 * 1e3).collect::<Vec<_>>());
        let (t, tlo, thi) = spread(&rows.iter().map(|r| r.1 * 1e3).collect::<Vec<_>>());
        let (r, rlo, rhi) = spread(&rows.iter().map(|r| r.0 / r.1).collect::<Vec<_>>());
        println!(
            "median of {rounds}: syslets {s:.2} ms ({slo:.2}–{shi:.2}), \
             tokio::fs {t:.2} ms ({tlo:.2}–{thi:.2}); ratio syslets/tokio {r:.3} \
             ({rlo:.3}–{rhi:.3}): syslets is {:.1}x the speed of tokio::fs::metadata",
            1.0 / r
        );
        println!(
            "machine: {cpus} CPUs, load average {load_before} before, {} after",
            load_average()
        );
        Ok::<(), Box<dyn std::error::Error>>(())
    })?;
    drop(rt);
    drop(scratch);
    Ok(())
}
