//! `du -sb` over a directory tree, Linus Torvalds' "ls -lR / du" load from the
//! original syslet thread: the lstat of every entry (and the reading of every
//! directory) is issued as chains of up to 64 atoms through the asynchronous
//! [`Executor`]: by default directory reads complete inline while cached, and
//! the stat chains run on cachemiss workers — as many at once as there are
//! CPUs while nothing blocks, more while they stall on the disk.
//!
//! ```text
//! cargo run --release --example du -- [--compare | --plain] [--drop-caches] [--repeat N]
//!     [--workers N] [--running N] [--chain N] [--mode mixed|default|async|sync] PATH
//! ```
//!
//! Prints the apparent size (the sum of `st_size`, each inode once — hard links
//! count once — symlinks by their own size and not followed, the root
//! included), as `du -sb` does, and the number of inodes counted. `--compare`
//! also runs a plain synchronous single-threaded walk (`std::fs::read_dir` and
//! `DirEntry::metadata`) in the same process and prints both times and their
//! ratio; `--drop-caches` (root only) writes `3` to `/proc/sys/vm/drop_caches`
//! after a `sync` before each walk, for cold-cache runs; without it,
//! `--compare` first walks the tree once untimed so that both timed walks see a
//! hot cache. `--mode` sets the batch flags: `mixed` (the default: directory
//! reads inline while cached, each 64-stat chain straight to a worker — a
//! hand-off costs less than 64 stats, and the executor's cachemiss rule keeps
//! as many workers running as there are CPUs while nothing blocks and adds
//! more only while they stall), `default` (every chain inline while cached),
//! `async` (every chain to a worker), `sync` (every chain inline, through the
//! executor). `--workers N` caps the pool (default 16), `--running N` sets how
//! many may run unstalled (default: the CPUs), `--chain N` how many stats go
//! in one chain (default 64, the most a chain holds). `--plain`
//! runs only the plain walk; `--repeat N` does N rounds (async then plain, each
//! after dropping caches with `--drop-caches`) and prints the medians. Progress
//! goes to stderr once a walk runs longer than a second.

use std::collections::{HashSet, VecDeque};
use std::ffi::OsStr;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use syslets::abi;
use syslets::opcode::{Getdents64, Newfstatat, Openat};
use syslets::{
    BufRef, Chain, Done, Executor, Out, Policy, Stat, Stop, SubmitError, Submitted, ValidatedBatch,
};

/// Entries per stat chain (the most atoms a chain may hold).
const CHAIN_ATOMS: usize = abi::MAX_ATOMS;
/// Largest `getdents64` buffer of one directory read.
const DIRENT_BUF_MAX: usize = 32 << 10;
/// Smallest one (a `linux_dirent64` with a 255-byte name takes 280 bytes).
const DIRENT_BUF_MIN: usize = 1 << 10;
/// The room a full `getdents64` buffer may leave unused.
const DIRENT_MAX: usize = 280;
/// Directories open at once (each holds a descriptor until its stats are done).
const MAX_OPEN_DIRS: usize = 256;

/// What a walk found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Sum of `st_size` over distinct inodes.
    pub bytes: u64,
    /// Distinct inodes counted.
    pub files: u64,
    /// Entries that could not be read (vanished, permission denied).
    pub errors: u64,
    /// Chains that completed inline (async walk).
    pub inline_chains: u64,
    /// Chains handed to workers (async walk).
    pub queued_chains: u64,
    /// Most worker threads seen alive (sampled while waiting).
    pub peak_workers: usize,
}

/// Options of the asynchronous walk.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Most worker threads.
    pub workers: usize,
    /// Most workers running unstalled (`None`: the executor's default, the CPUs).
    pub running: Option<usize>,
    /// Batch flags of the directory-reading chains (0, `BATCH_ASYNC` or `BATCH_SYNC`).
    pub flags: u16,
    /// Batch flags of the stat chains.
    pub stat_flags: u16,
    /// Stats per chain (1 to 64).
    pub chain_atoms: usize,
    /// Progress on stderr after a second.
    pub progress: bool,
    /// The executor's hand-off threshold (`None`: its default).
    pub handoff_threshold: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            workers: 16,
            running: None,
            flags: 0,
            stat_flags: abi::BATCH_ASYNC,
            chain_atoms: CHAIN_ATOMS,
            progress: false,
            handoff_threshold: None,
        }
    }
}

struct Progress {
    enabled: bool,
    start: Instant,
    next: Instant,
    shown: bool,
}

impl Progress {
    fn new(enabled: bool) -> Self {
        let start = Instant::now();
        Progress {
            enabled,
            start,
            next: start + Duration::from_secs(1),
            shown: false,
        }
    }

    fn tick(&mut self, label: &str, t: &Totals) {
        if !self.enabled || Instant::now() < self.next {
            return;
        }
        self.next += Duration::from_secs(1);
        self.shown = true;
        eprint!(
            "\r{label}: {} files, {} bytes, {:.0} s ",
            t.files,
            t.bytes,
            self.start.elapsed().as_secs_f64()
        );
        let _ = std::io::stderr().flush();
    }

    fn finish(&self) {
        if self.shown {
            eprintln!();
        }
    }
}

/// Count one `stat` result; returns whether it is a directory to descend into.
fn count(seen: &mut HashSet<(u64, u64)>, t: &mut Totals, st: &Stat) -> bool {
    if seen.insert((st.st_dev, st.st_ino)) {
        t.bytes += st.st_size as u64;
        t.files += 1;
    }
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

/// The first `getdents64` buffer size for a directory of `st_size` bytes.
fn dirent_buf(st_size: i64) -> usize {
    (st_size.max(0) as usize * 2).clamp(DIRENT_BUF_MIN, DIRENT_BUF_MAX)
}

/// The names of a `getdents64` buffer, without `.` and `..`.
fn dirents(buf: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || loop {
        // struct linux_dirent64: d_ino u64, d_off i64, d_reclen u16, d_type u8, d_name[].
        let rec = buf.get(at..at + 19)?;
        let reclen = u16::from_ne_bytes([rec[16], rec[17]]) as usize;
        let name = &buf[at + 19..at + reclen];
        at += reclen;
        let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
        if name != b"." && name != b".." {
            return Some(name);
        }
    })
}

struct Dir {
    path: PathBuf,
    /// `getdents64` buffer for the next read: twice the directory's `st_size`
    /// at first (its entries on disk, plus room for the longer
    /// `linux_dirent64` records), then what the last read suggests.
    buf_len: usize,
    fd: Option<OwnedFd>,
    /// Chains in flight (or waiting to be submitted) that use `fd`.
    users: usize,
}

enum Job {
    /// `openat` + two `getdents64` of a directory (the second most often
    /// returns 0: the end), or (`fd` known) one more `getdents64`.
    Read {
        dir: usize,
        bufs: [Option<BufRef>; 2],
    },
    /// `newfstatat(dirfd, name, AT_SYMLINK_NOFOLLOW)` of up to 64 entries.
    Stat {
        dir: usize,
        items: Vec<(BufRef, Out<Stat>)>,
    },
}

struct Walk {
    ex: Executor,
    chain_atoms: usize,
    flags: u16,
    stat_flags: u16,
    policy: Policy,
    dirs: Vec<Dir>,
    open_dirs: usize,
    todo_dirs: Vec<usize>,
    /// Chains built and not yet accepted by the executor (ring full).
    todo: VecDeque<ValidatedBatch<'static>>,
    /// Job of each chain, by caller data.
    jobs: Vec<Option<Job>>,
    free_jobs: Vec<usize>,
    in_flight: usize,
    seen: HashSet<(u64, u64)>,
    totals: Totals,
}

impl Walk {
    fn job(&mut self, job: Job) -> u64 {
        match self.free_jobs.pop() {
            Some(i) => {
                self.jobs[i] = Some(job);
                i as u64
            }
            None => {
                self.jobs.push(Some(job));
                (self.jobs.len() - 1) as u64
            }
        }
    }

    fn read_chain(&mut self, dir: usize) -> ValidatedBatch<'static> {
        let mut chain = Chain::new();
        let buf = chain.output_bytes(self.dirs[dir].buf_len);
        let bufs = match &self.dirs[dir].fd {
            Some(fd) => {
                chain.push(Getdents64::new(fd.as_raw_fd(), buf));
                [Some(buf), None]
            }
            None => {
                let path = chain.path(&self.dirs[dir].path);
                let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC | libc::O_NOFOLLOW;
                let fd = chain.push(
                    Openat::new(libc::AT_FDCWD, path)
                        .flags(flags as u32)
                        .stop_on(Stop::NEGATIVE),
                );
                // The second read finds the end (0) of most directories.
                let end = chain.output_bytes(DIRENT_BUF_MIN);
                chain.push(Getdents64::new(fd, buf).stop_on(Stop::NON_POSITIVE));
                chain.push(Getdents64::new(fd, end));
                [Some(buf), Some(end)]
            }
        };
        self.dirs[dir].users += 1;
        let data = self.job(Job::Read { dir, bufs });
        chain.set_flags(self.flags).set_caller_data(data);
        chain.prepare(&self.policy).expect("valid chain")
    }

    fn stat_chains(&mut self, dir: usize, names: &[u8], n: usize) {
        let fd = self.dirs[dir].fd.as_ref().expect("open").as_raw_fd();
        for group in dirents(&names[..n])
            .collect::<Vec<_>>()
            .chunks(self.chain_atoms)
        {
            // Each entry: its path (plus NUL, 8-byte aligned) and a struct stat.
            let arena: usize = group
                .iter()
                .map(|n| (n.len() + 1).next_multiple_of(8) + syslets::abi::kernel::STAT_SIZE)
                .sum();
            let mut chain = Chain::with_capacity(group.len(), 2 * group.len(), arena);
            let mut items = Vec::with_capacity(group.len());
            for name in group {
                let path = chain.path(OsStr::from_bytes(name));
                let st = chain.output::<Stat>();
                chain.push(Newfstatat::new(fd, path, st).flags(libc::AT_SYMLINK_NOFOLLOW as u32));
                items.push((path, st));
            }
            self.dirs[dir].users += 1;
            let data = self.job(Job::Stat { dir, items });
            chain.set_flags(self.stat_flags).set_caller_data(data);
            let batch = chain.prepare(&self.policy).expect("valid chain");
            self.todo.push_back(batch);
        }
    }

    fn release(&mut self, dir: usize) {
        let d = &mut self.dirs[dir];
        d.users -= 1;
        if d.users == 0 && d.fd.take().is_some() {
            self.open_dirs -= 1;
        }
    }

    fn handle(&mut self, mut done: Done) {
        let data = done.completion().caller_data() as usize;
        let job = self.jobs[data].take().expect("job of a chain in flight");
        self.free_jobs.push(data);
        match job {
            Job::Read { dir, bufs } => {
                let c = *done.completion();
                let fresh = self.dirs[dir].fd.is_none();
                if fresh {
                    match done.batch_mut().take_fds().pop() {
                        Some((_, fd)) => self.dirs[dir].fd = Some(fd),
                        None => {
                            // Could not open it (vanished, permission).
                            self.totals.errors += 1;
                            self.dirs[dir].users -= 1;
                            self.open_dirs -= 1;
                            return;
                        }
                    }
                }
                // The reads of this chain, in order: atoms 1 and 2 of a fresh
                // directory (the second one only if the first read something),
                // atom 0 of a continuation.
                let first = usize::from(fresh);
                let mut last = 0;
                let mut last_len = 0;
                for (k, buf) in bufs.iter().enumerate() {
                    let Some(buf) = *buf else { break };
                    let Some(n) = c.result(syslets::AtomRef::from_index((first + k) as u16)) else {
                        break;
                    };
                    if n < 0 {
                        self.totals.errors += 1;
                    }
                    if n > 0 {
                        self.stat_chains(dir, done.batch().bytes(buf), n as usize);
                    }
                    last = n;
                    last_len = buf.len() as usize;
                }
                if last > 0 {
                    // More entries may follow: read again until 0. A buffer
                    // the kernel nearly filled suggests many more (a bigger
                    // one); otherwise the next read most likely returns 0.
                    let d = &mut self.dirs[dir];
                    d.buf_len = if last as usize + DIRENT_MAX > last_len {
                        (d.buf_len.max(last_len) * 2).min(DIRENT_BUF_MAX)
                    } else {
                        DIRENT_BUF_MIN
                    };
                    let next = self.read_chain(dir);
                    self.todo.push_back(next);
                }
                self.release(dir);
            }
            Job::Stat { dir, items } => {
                let c = *done.completion();
                for (i, (path, st)) in items.into_iter().enumerate() {
                    let r = c.results()[i];
                    if r != 0 {
                        self.totals.errors += 1;
                        continue;
                    }
                    let stat = done.batch().output(st);
                    if count(&mut self.seen, &mut self.totals, &stat) {
                        let name = done.batch().bytes(path);
                        let name = OsStr::from_bytes(&name[..name.len() - 1]);
                        let child = self.dirs[dir].path.join(name);
                        self.dirs.push(Dir {
                            path: child,
                            buf_len: dirent_buf(stat.st_size),
                            fd: None,
                            users: 0,
                        });
                        self.todo_dirs.push(self.dirs.len() - 1);
                    }
                }
                self.release(dir);
            }
        }
    }

    /// Submit one chain; false when the ring is full (it is put back).
    fn submit(&mut self, batch: ValidatedBatch<'static>) -> bool {
        match self.ex.submit(batch) {
            Ok(Submitted::Done(d)) => {
                self.totals.inline_chains += 1;
                self.handle(d);
                true
            }
            Ok(Submitted::Queued(_)) => {
                self.totals.queued_chains += 1;
                self.in_flight += 1;
                true
            }
            Err(SubmitError::RingFull(b)) => {
                self.todo.push_front(*b);
                false
            }
            Err(e) => panic!("submit: {e}"),
        }
    }

    fn run(&mut self, progress: &mut Progress) {
        loop {
            // Work of open directories first (keeps descriptors bounded), then
            // open more directories.
            let mut room = true;
            while room {
                if let Some(b) = self.todo.pop_front() {
                    room = self.submit(b);
                } else if self.open_dirs < MAX_OPEN_DIRS {
                    let Some(dir) = self.todo_dirs.pop() else {
                        break;
                    };
                    self.open_dirs += 1;
                    let b = self.read_chain(dir);
                    room = self.submit(b);
                } else {
                    break;
                }
                progress.tick("async", &self.totals);
            }
            if self.in_flight == 0 && self.todo.is_empty() && self.todo_dirs.is_empty() {
                break;
            }
            if self.in_flight > 0 {
                self.totals.peak_workers = self.totals.peak_workers.max(self.ex.workers());
                self.ex
                    .wait(1, Some(Duration::from_millis(200)))
                    .expect("wait");
                for d in self.ex.reap().expect("reap") {
                    self.in_flight -= 1;
                    self.handle(d);
                }
            }
            progress.tick("async", &self.totals);
        }
    }
}

/// The walk through the executor.
pub fn walk_async(root: &Path, opts: Options) -> std::io::Result<Totals> {
    let mut totals = Totals::default();
    let mut seen = HashSet::new();
    let meta = std::fs::symlink_metadata(root)?;
    let root_stat = Stat {
        st_dev: meta.dev(),
        st_ino: meta.ino(),
        st_size: meta.size() as i64,
        st_mode: meta.mode(),
        ..Default::default()
    };
    let is_dir = count(&mut seen, &mut totals, &root_stat);
    if !is_dir {
        return Ok(totals);
    }
    let mut builder = Executor::builder()
        .max_workers(opts.workers)
        .ring_size(1024);
    if let Some(n) = opts.running {
        builder = builder.max_running(n);
    }
    if let Some(t) = opts.handoff_threshold {
        builder = builder.handoff_threshold(t);
    }
    let ex = builder.build().map_err(std::io::Error::other)?;
    let mut walk = Walk {
        ex,
        flags: opts.flags,
        stat_flags: opts.stat_flags,
        chain_atoms: opts.chain_atoms,
        policy: Policy::default(),
        dirs: vec![Dir {
            path: root.to_path_buf(),
            buf_len: dirent_buf(root_stat.st_size),
            fd: None,
            users: 0,
        }],
        open_dirs: 0,
        todo_dirs: vec![0],
        todo: VecDeque::new(),
        jobs: Vec::new(),
        free_jobs: Vec::new(),
        in_flight: 0,
        seen,
        totals,
    };
    let mut progress = Progress::new(opts.progress);
    walk.run(&mut progress);
    progress.finish();
    Ok(walk.totals)
}

/// The plain synchronous, single-threaded walk.
pub fn walk_sync(root: &Path, progress: bool) -> std::io::Result<Totals> {
    let mut totals = Totals::default();
    let mut seen = HashSet::new();
    let mut progress = Progress::new(progress);
    let meta = std::fs::symlink_metadata(root)?;
    let mut stack = Vec::new();
    if seen.insert((meta.dev(), meta.ino())) {
        totals.bytes += meta.size();
        totals.files += 1;
    }
    if meta.is_dir() {
        stack.push(root.to_path_buf());
    }
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            totals.errors += 1;
            continue;
        };
        for entry in entries {
            let Ok(entry) = entry else {
                totals.errors += 1;
                continue;
            };
            // DirEntry::metadata does not follow symlinks (fstatat relative
            // to the directory, AT_SYMLINK_NOFOLLOW).
            let Ok(m) = entry.metadata() else {
                totals.errors += 1;
                continue;
            };
            if seen.insert((m.dev(), m.ino())) {
                totals.bytes += m.size();
                totals.files += 1;
            }
            if m.is_dir() {
                stack.push(entry.path());
            }
        }
        progress.tick("sync", &totals);
    }
    progress.finish();
    Ok(totals)
}

fn drop_caches() {
    // SAFETY: sync() takes no argument and cannot fail.
    unsafe { libc::sync() };
    if let Err(e) = std::fs::write("/proc/sys/vm/drop_caches", "3") {
        eprintln!("du: cannot drop caches (root needed): {e}");
        std::process::exit(2);
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: du [--compare | --plain] [--drop-caches] [--repeat N] [--workers N] [--running N] [--chain N] [--mode mixed|default|async|sync] PATH"
    );
    std::process::exit(2);
}

#[allow(dead_code)]
fn main() {
    let mut compare = false;
    let mut plain = false;
    let mut repeat = 1;
    let mut drop = false;
    let mut opts = Options {
        progress: true,
        ..Options::default()
    };
    let mut path = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--compare" => compare = true,
            "--plain" => plain = true,
            "--drop-caches" => drop = true,
            "--repeat" => {
                repeat = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n: &usize| n > 0)
                    .unwrap_or_else(|| usage())
            }
            "--workers" => {
                opts.workers = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or_else(|| usage())
            }
            "--chain" => {
                opts.chain_atoms = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| (1..=abi::MAX_ATOMS).contains(n))
                    .unwrap_or_else(|| usage())
            }
            "--running" => {
                opts.running = Some(
                    args.next()
                        .and_then(|n| n.parse().ok())
                        .unwrap_or_else(|| usage()),
                )
            }
            "--mode" => {
                (opts.flags, opts.stat_flags) = match args.next().as_deref() {
                    Some("default") => (0, 0),
                    Some("mixed") => (0, abi::BATCH_ASYNC),
                    Some("async") => (abi::BATCH_ASYNC, abi::BATCH_ASYNC),
                    Some("sync") => (abi::BATCH_SYNC, abi::BATCH_SYNC),
                    _ => usage(),
                }
            }
            _ if a.starts_with("--") => usage(),
            _ if path.is_none() => path = Some(PathBuf::from(a)),
            _ => usage(),
        }
    }
    let path = path.unwrap_or_else(|| usage());
    if drop {
        drop_caches();
    }
    if plain {
        let t = Instant::now();
        let s = walk_sync(&path, true).unwrap_or_else(|e| {
            eprintln!("du: {}: {e}", path.display());
            std::process::exit(1);
        });
        println!("{}\t{}", s.bytes, path.display());
        println!("files {}", s.files);
        eprintln!("du: plain walk {:.3} s", t.elapsed().as_secs_f64());
        return;
    }
    if compare && !drop {
        // Without --drop-caches both walks must see the same (hot) cache: the
        // first walk of a cold tree would otherwise pay for the second.
        eprintln!("du: warming the cache with an untimed walk…");
        if let Err(e) = walk_sync(&path, false) {
            eprintln!("du: {}: {e}", path.display());
            std::process::exit(1);
        }
    }
    let mut times = Vec::new();
    for round in 0..repeat {
        if drop && round > 0 {
            drop_caches();
        }
        let t0 = Instant::now();
        let a = walk_async(&path, opts).unwrap_or_else(|e| {
            eprintln!("du: {}: {e}", path.display());
            std::process::exit(1);
        });
        let ta = t0.elapsed();
        if round == 0 {
            println!("{}\t{}", a.bytes, path.display());
            println!("files {}", a.files);
        }
        if a.errors > 0 {
            eprintln!("du: {} entries could not be read", a.errors);
        }
        eprintln!(
            "du: {} chains inline, {} handed to workers, peak workers {}",
            a.inline_chains, a.queued_chains, a.peak_workers
        );
        if !compare {
            times.push((ta, Duration::ZERO));
            continue;
        }
        if drop {
            drop_caches();
        }
        let t1 = Instant::now();
        let s = walk_sync(&path, true).expect("sync walk");
        let ts = t1.elapsed();
        println!(
            "async: {:>14} bytes {:>9} files {:>9.3} s",
            a.bytes,
            a.files,
            ta.as_secs_f64()
        );
        println!(
            "sync:  {:>14} bytes {:>9} files {:>9.3} s",
            s.bytes,
            s.files,
            ts.as_secs_f64()
        );
        println!(
            "ratio async/sync: {:.3} (async is {:.2}x the speed of sync)",
            ta.as_secs_f64() / ts.as_secs_f64(),
            ts.as_secs_f64() / ta.as_secs_f64()
        );
        if (a.bytes, a.files) != (s.bytes, s.files) {
            eprintln!("du: the two walks disagree (the tree changed while walking?)");
            std::process::exit(1);
        }
        times.push((ta, ts));
    }
    if repeat > 1 {
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let a = median(times.iter().map(|t| t.0.as_secs_f64()).collect());
        if compare {
            let s = median(times.iter().map(|t| t.1.as_secs_f64()).collect());
            let r = median(
                times
                    .iter()
                    .map(|t| t.0.as_secs_f64() / t.1.as_secs_f64())
                    .collect(),
            );
            println!(
                "median of {repeat}: async {a:.3} s, sync {s:.3} s, ratio async/sync {r:.3} (speed-up {:.2}x)",
                1.0 / r
            );
        } else {
            println!("median of {repeat}: async {a:.3} s");
        }
    }
}
