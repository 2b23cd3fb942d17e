//! `du -sb` over a directory tree with syslets: Linus Torvalds' "ls -lR / du"
//! load from the original syslet thread. Every directory read (open +
//! `getdents64`) and every `lstat` (`newfstatat`, up to 64 to a chain, from
//! as many directories as it takes) is a chain submitted to an asynchronous
//! [`Executor`]. The walk runs one *walker* thread per CPU the process may
//! run on (`sched_getaffinity(2)`, through
//! [`std::thread::available_parallelism`]), plus one ([`walkers`]); the
//! walkers share a queue of
//! directories not yet read (a walker with nothing left takes one, a walker
//! with more than it needs gives its shallowest one away: work stealing), and
//! each submits its own chains through its own executor. A chain runs inline
//! in its walker while nothing in it blocks and goes to one of that walker's
//! cachemiss workers when it would (a cold cache), so a hot walk uses every
//! CPU with no hand-off and a cold one keeps many reads in flight.
//!
//! Run `cargo run --release --example du -- --help` for the options; the
//! output is described there.

use std::collections::{HashSet, VecDeque};
use std::ffi::OsStr;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::{IsTerminal, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use syslets::abi;
use syslets::opcode::{Getdents64, Newfstatat, Openat};
use syslets::{
    BufRef, Chain, Done, Executor, Out, Policy, Stat, SubmitError, Submitted, ValidatedBatch,
};

const HELP: &str = "\
du: the apparent size of a directory tree (as GNU `du -sb PATH`), walked with syslets

usage: du [OPTIONS] PATH

Output (stdout):
  BYTES<TAB>PATH      first line, exactly what `du -sb PATH` prints: the sum of
                      st_size over the tree, each inode once (hard links count
                      once), symlinks by their own size (never followed), PATH
                      itself included
  inodes: N           inodes counted (as `du -s --inodes PATH`)
  unreadable: N       entries that could not be read (only if any)
  walk: T s, ...      the syslets walk: its time, walker threads,
                      directories one walker gave another, chains run
                      inline / on workers, most worker threads seen (summed
                      over the walkers)
With --compare, a table of both walks per round, the ratio of their times,
and the machine: CPUs, load average before and after.

Progress (stderr, only when stderr is a terminal): after the first second,
one line per second with the files and bytes counted so far and the rates.

Options:
  --compare          also run the plain synchronous walk (std::fs::read_dir +
                     DirEntry::metadata, one thread) and print both times and
                     their ratio; without --drop-caches an untimed walk first
                     warms the cache so that both see it hot
  --plain            run only the plain walk
  --repeat N         N rounds (with --compare the order alternates: syslets
                     first in odd rounds, plain first in even ones); prints
                     every round and the medians with min-max
  --drop-caches      sync, then write 3 to /proc/sys/vm/drop_caches before
                     each walk (root only): cold-cache runs
  --walkers N        walker threads, each submitting its own chains (default:
                     one per CPU this process may run on, sched_getaffinity,
                     plus one)
  --mode MODE        how chains are submitted:
                       auto    (default) inline while nothing blocks, to a
                               worker when something would; with one walker
                               (--walkers 1) also spread to a spare CPU while
                               one is measured idle
                       inline  the same without spreading
                       mixed   directory reads as auto, every stat chain
                               straight to a worker (BATCH_ASYNC)
                       async   every chain straight to a worker
                       sync    every chain inline (BATCH_SYNC)
  --workers N        most worker threads of each walker (default 16)
  --running N        most workers of each walker running unstalled
                     (default: CPUs - 1)
  --chain N          stats per chain, 1 to 64 (default 64)
  -q, --quiet        print only the `du -sb` line
  -h, --help         this text
";

/// Entries per stat chain (the most atoms a chain may hold).
const CHAIN_ATOMS: usize = abi::MAX_ATOMS;
/// Largest `getdents64` buffer of one directory read.
const DIRENT_BUF_MAX: usize = 32 << 10;
/// Smallest one (a `linux_dirent64` with a 255-byte name takes 280 bytes).
const DIRENT_BUF_MIN: usize = 1 << 10;
/// The room a full `getdents64` buffer may leave unused.
const DIRENT_MAX: usize = 280;
/// The buffer of a fresh directory's second read, which most often only
/// finds the end: room for one entry of the longest name ([`DIRENT_MAX`]).
const DIRENT_END: usize = 512;
/// Directories open at once (each holds a descriptor until its stats are done).
const MAX_OPEN_DIRS: usize = 256;
/// Most directories opened and read by one chain.
const READ_DIRS: usize = 8;
/// Most `getdents64` buffer bytes of one chain (at least one directory's).
/// Larger chains cost more than they save: with 64 KiB the walk took more
/// page faults (malloc growing and trimming its heap) and more CPU time.
const READ_BYTES: usize = 32 << 10;

/// What a walk found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Sum of `st_size` over distinct inodes.
    pub bytes: u64,
    /// Distinct inodes counted.
    pub files: u64,
    /// Entries that could not be read (vanished, permission denied).
    pub errors: u64,
    /// Chains that completed inline (syslets walk).
    pub inline_chains: u64,
    /// Chains handed to workers (syslets walk).
    pub queued_chains: u64,
    /// Most worker threads seen alive (sampled while waiting), summed over
    /// the walkers.
    pub peak_workers: usize,
    /// Walker threads of the syslets walk (0: the plain walk).
    pub walkers: usize,
    /// Directories a walker gave to another (syslets walk).
    pub shared_dirs: u64,
}

/// Options of the syslets walk.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Walker threads (0: [`walkers`]).
    pub walkers: usize,
    /// Most worker threads of each walker's executor.
    pub workers: usize,
    /// Most workers running unstalled (`None`: the executor's default).
    pub running: Option<usize>,
    /// Batch flags of the directory-reading chains (0, `BATCH_ASYNC` or `BATCH_SYNC`).
    pub flags: u16,
    /// Batch flags of the stat chains.
    pub stat_flags: u16,
    /// The executor's spare-CPU rule ([`syslets::ExecutorBuilder::use_spare_cpus`]);
    /// used only by a walk of one walker (several walkers use the CPUs themselves).
    pub spare_cpus: bool,
    /// Stats per chain (1 to 64).
    pub chain_atoms: usize,
    /// Progress on stderr after a second (if stderr is a terminal).
    pub progress: bool,
    /// The executor's hand-off threshold (`None`: its default).
    pub handoff_threshold: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            walkers: 0,
            workers: 16,
            running: None,
            flags: 0,
            stat_flags: 0,
            spare_cpus: true,
            chain_atoms: CHAIN_ATOMS,
            progress: false,
            handoff_threshold: None,
        }
    }
}

/// A cheap hash of (device, inode) pairs: the kernel's numbers are not
/// chosen by an attacker, so SipHash buys nothing (one multiply per word).
#[derive(Default)]
struct InodeHasher(u64);

impl Hasher for InodeHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(u64::from(*b));
        }
    }

    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Add one inode met for the first time to the totals; returns whether it is
/// a directory to descend into.
fn tally(t: &mut Totals, size: u64, mode: u32) -> bool {
    t.bytes += size;
    t.files += 1;
    mode & libc::S_IFMT == libc::S_IFDIR
}

/// The inodes already counted, GNU du's rule: only an inode with more than
/// one link can be met twice, so only those are remembered.
#[derive(Default)]
struct Seen(HashSet<(u64, u64), BuildHasherDefault<InodeHasher>>);

impl Seen {
    /// Whether this is the first meeting of the inode.
    fn first(&mut self, dev: u64, ino: u64, nlink: u64) -> bool {
        nlink <= 1 || self.0.insert((dev, ino))
    }

    /// Count one entry; returns whether it is a directory to descend into
    /// (not one met before: a bind mount loop is walked once).
    fn count(
        &mut self,
        t: &mut Totals,
        dev: u64,
        ino: u64,
        nlink: u64,
        size: u64,
        mode: u32,
    ) -> bool {
        self.first(dev, ino, nlink) && tally(t, size, mode)
    }
}

/// Shards of [`SharedSeen`]: two walkers rarely want the same lock.
const SEEN_SHARDS: usize = 16;

/// [`Seen`] shared by the walkers of one walk (every directory has two links
/// or more, so each one passes through here), split by inode number into
/// separately locked shards.
struct SharedSeen([Mutex<Seen>; SEEN_SHARDS]);

impl SharedSeen {
    fn new() -> Self {
        SharedSeen(std::array::from_fn(|_| Mutex::default()))
    }

    /// As [`Seen::count`], for a `struct stat`.
    fn count_stat(&self, t: &mut Totals, st: &Stat) -> bool {
        let first = st.st_nlink <= 1
            || self.0[st.st_ino as usize % SEEN_SHARDS]
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .first(st.st_dev, st.st_ino, st.st_nlink);
        first && tally(t, st.st_size as u64, st.st_mode)
    }
}

/// A directory not yet read, on its way from one walker to another.
pub(crate) struct DirTask {
    pub(crate) path: PathBuf,
    /// [`Dir::buf_len`].
    pub(crate) buf_len: usize,
}

/// The directory queue the walkers share.
struct Queue {
    tasks: Vec<DirTask>,
    /// Walkers waiting in [`Common::take`].
    idle: usize,
    /// Every walker was idle with the queue empty (or one panicked): the walk is over.
    done: bool,
}

/// What the walkers of one walk share.
pub(crate) struct Common {
    walkers: usize,
    queue: Mutex<Queue>,
    wake: Condvar,
    /// Walkers waiting for a directory, read without the lock by walkers
    /// deciding whether to give one away.
    pub(crate) hungry: AtomicUsize,
    seen: SharedSeen,
    /// Files and bytes counted so far by all walkers (for the progress line).
    files: AtomicU64,
    bytes: AtomicU64,
}

impl Common {
    pub(crate) fn new(walkers: usize) -> Self {
        Common {
            walkers,
            queue: Mutex::new(Queue {
                tasks: Vec::new(),
                idle: 0,
                done: false,
            }),
            wake: Condvar::new(),
            hungry: AtomicUsize::new(0),
            seen: SharedSeen::new(),
            files: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hand a directory to the walkers.
    pub(crate) fn give(&self, task: DirTask) {
        self.lock().tasks.push(task);
        self.wake.notify_one();
    }

    /// A directory to read, waiting while other walkers may still give one;
    /// `None` once every walker is here with the queue empty. Called only by
    /// a walker with nothing left (no chain in flight, no directory queued).
    pub(crate) fn take(&self) -> Option<DirTask> {
        let mut q = self.lock();
        loop {
            if let Some(t) = q.tasks.pop() {
                return Some(t);
            }
            if q.done {
                return None;
            }
            q.idle += 1;
            if q.idle == self.walkers {
                q.done = true;
                self.wake.notify_all();
                return None;
            }
            self.hungry.fetch_add(1, Ordering::Relaxed);
            q = self.wake.wait(q).unwrap_or_else(|e| e.into_inner());
            self.hungry.fetch_sub(1, Ordering::Relaxed);
            q.idle -= 1;
        }
    }

    /// End the walk for everyone (a walker panicked: the others must not wait
    /// for directories it will never give).
    fn abort(&self) {
        self.lock().done = true;
        self.wake.notify_all();
    }
}

/// Ends the walk for every walker if this one unwinds.
struct AbortOnPanic<'a>(&'a Common);

impl Drop for AbortOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.abort();
        }
    }
}

/// `1234567890` → `1.15 GiB`.
fn human(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.2} {}", UNITS[u])
}

/// The progress line: on stderr, only if it is a terminal, once a second
/// after the first.
struct Progress {
    enabled: bool,
    label: &'static str,
    start: Instant,
    next: Instant,
    shown: bool,
}

impl Progress {
    fn new(enabled: bool, label: &'static str) -> Self {
        let start = Instant::now();
        Progress {
            enabled: enabled && std::io::stderr().is_terminal(),
            label,
            start,
            next: start + Duration::from_secs(1),
            shown: false,
        }
    }

    fn tick(&mut self, files: u64, bytes: u64) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if now < self.next {
            return;
        }
        self.next = now + Duration::from_secs(1);
        self.shown = true;
        let secs = now.duration_since(self.start).as_secs_f64();
        eprint!(
            "\r\x1b[K{}: {} files, {} in {:.0} s ({:.0} files/s, {}/s)",
            self.label,
            files,
            human(bytes as f64),
            secs,
            files as f64 / secs,
            human(bytes as f64 / secs)
        );
        let _ = std::io::stderr().flush();
    }

    fn finish(&self) {
        if self.shown {
            eprint!("\r\x1b[K");
            let _ = std::io::stderr().flush();
        }
    }
}

/// The first `getdents64` buffer size for a directory of `st_size` bytes:
/// `st_size` itself. Its `linux_dirent64` records are longer than the
/// entries on disk, but directory blocks are seldom full: over `/usr` this
/// takes as many `getdents64` calls as twice `st_size` did (30 700 against
/// 30 600), and every buffer byte is zeroed and copied once per chain (the
/// walk's largest user-time cost: 16 % fewer instructions).
fn dirent_buf(st_size: i64) -> usize {
    (st_size.max(0) as usize).clamp(DIRENT_BUF_MIN, DIRENT_BUF_MAX)
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
    /// `getdents64` buffer for the next read: [`dirent_buf`] of the
    /// directory's `st_size` at first, then what the last read suggests.
    buf_len: usize,
    fd: Option<OwnedFd>,
    /// Chains and stat atoms in flight (or not yet submitted) that use `fd`.
    users: usize,
}

/// One entry of a stat chain: its directory, name and `struct stat`.
struct StatItem {
    dir: usize,
    name: BufRef,
    st: Out<Stat>,
}

enum Job {
    /// `openat` + two `getdents64` of each of up to [`READ_DIRS`] directories
    /// (`fresh`; the second read most often returns 0: the end), or (`fd`
    /// known) one more `getdents64` of one directory.
    Read {
        fresh: bool,
        reads: Vec<(usize, [Option<BufRef>; 2])>,
    },
    /// `newfstatat(dirfd, name, AT_SYMLINK_NOFOLLOW)` of up to 64 entries, of
    /// one directory or several.
    Stat { items: Vec<StatItem> },
}

/// The stat chain being filled.
struct StatChain {
    chain: Chain<'static>,
    items: Vec<StatItem>,
}

impl StatChain {
    fn new(atoms: usize) -> Self {
        // A path (a short name, 8-byte aligned) and a struct stat per atom.
        let arena = atoms * (24 + abi::kernel::STAT_SIZE);
        StatChain {
            chain: Chain::with_capacity(atoms, 2 * atoms, arena),
            items: Vec::with_capacity(atoms),
        }
    }
}

/// One walker: its executor, its directories and the chains it built.
struct Walk<'a> {
    common: &'a Common,
    ex: Executor,
    chain_atoms: usize,
    flags: u16,
    stat_flags: u16,
    policy: Policy,
    dirs: Vec<Dir>,
    open_dirs: usize,
    /// Most directories open at once ([`open_dirs_per_walker`]).
    max_open_dirs: usize,
    /// Directories to open: the newest is opened first (depth first), the
    /// oldest (the shallowest: the biggest subtree) is given away.
    todo_dirs: VecDeque<usize>,
    /// Chains built and not yet accepted by the executor (ring full).
    todo: VecDeque<ValidatedBatch<'static>>,
    filling: StatChain,
    /// Job of each chain, by caller data.
    jobs: Vec<Option<Job>>,
    free_jobs: Vec<usize>,
    in_flight: usize,
    totals: Totals,
    /// The progress line, shown by one walker.
    progress: Option<Progress>,
}

impl Walk<'_> {
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

    /// One more `getdents64` of an open directory.
    fn read_chain(&mut self, dir: usize) -> ValidatedBatch<'static> {
        let mut chain = Chain::new();
        let buf = chain.output_bytes(self.dirs[dir].buf_len);
        let fd = self.dirs[dir].fd.as_ref().expect("open").as_raw_fd();
        chain.push(Getdents64::new(fd, buf));
        self.dirs[dir].users += 1;
        let data = self.job(Job::Read {
            fresh: false,
            reads: vec![(dir, [Some(buf), None])],
        });
        chain.set_flags(self.flags).set_caller_data(data);
        chain.prepare(&self.policy).expect("valid chain")
    }

    /// Open and read directories of `todo_dirs` (the newest first), as many
    /// as [`READ_DIRS`], [`READ_BYTES`] and `max_open_dirs` allow (at least
    /// one), in one chain: fewer chains to validate inline, fewer hand-offs
    /// to workers when the cache is cold. No atom stops the chain: a
    /// directory that cannot be opened makes its reads fail (`EBADF`: the
    /// negative result as descriptor), and the next directory is read.
    fn open_chain(&mut self) -> ValidatedBatch<'static> {
        let mut picked = Vec::with_capacity(READ_DIRS);
        let mut arena = 0;
        while let Some(&dir) = self.todo_dirs.back() {
            let d = &self.dirs[dir];
            let len = d.buf_len + DIRENT_END;
            let full = picked.len() == READ_DIRS
                || self.open_dirs == self.max_open_dirs
                || arena + len > READ_BYTES;
            if !picked.is_empty() && full {
                break;
            }
            self.todo_dirs.pop_back();
            self.open_dirs += 1;
            // The path, NUL-terminated and 8-byte aligned.
            arena += len + (d.path.as_os_str().len() + 8) / 8 * 8;
            picked.push(dir);
        }
        // An arena of the exact size: no reallocation while building.
        let n = picked.len();
        let mut chain = Chain::with_capacity(3 * n, 3 * n, arena);
        let mut reads = Vec::with_capacity(n);
        for dir in picked {
            let buf = chain.output_bytes(self.dirs[dir].buf_len);
            let path = chain.path(&self.dirs[dir].path);
            let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC | libc::O_NOFOLLOW;
            let fd = chain.push(Openat::new(libc::AT_FDCWD, path).flags(flags as u32));
            // The second read finds the end (0) of most directories.
            let end = chain.output_bytes(DIRENT_END);
            chain.push(Getdents64::new(fd, buf));
            chain.push(Getdents64::new(fd, end));
            self.dirs[dir].users += 1;
            reads.push((dir, [Some(buf), Some(end)]));
        }
        let data = self.job(Job::Read { fresh: true, reads });
        chain.set_flags(self.flags).set_caller_data(data);
        chain.prepare(&self.policy).expect("valid chain")
    }

    /// Add a stat of each name to the chain being filled, queueing it when full.
    fn add_stats(&mut self, dir: usize, names: &[u8], n: usize) {
        let fd = self.dirs[dir].fd.as_ref().expect("open").as_raw_fd();
        for name in dirents(&names[..n]) {
            let c = &mut self.filling;
            let path = c.chain.path(OsStr::from_bytes(name));
            let st = c.chain.output::<Stat>();
            c.chain
                .push(Newfstatat::new(fd, path, st).flags(libc::AT_SYMLINK_NOFOLLOW as u32));
            c.items.push(StatItem {
                dir,
                name: path,
                st,
            });
            self.dirs[dir].users += 1;
            if c.items.len() == self.chain_atoms {
                self.flush_stats();
            }
        }
    }

    /// Queue the stat chain being filled, if it holds anything.
    fn flush_stats(&mut self) {
        if self.filling.items.is_empty() {
            return;
        }
        let StatChain { mut chain, items } =
            std::mem::replace(&mut self.filling, StatChain::new(self.chain_atoms));
        let data = self.job(Job::Stat { items });
        chain.set_flags(self.stat_flags).set_caller_data(data);
        let batch = chain.prepare(&self.policy).expect("valid chain");
        self.todo.push_back(batch);
    }

    fn release(&mut self, dir: usize) {
        let d = &mut self.dirs[dir];
        d.users -= 1;
        if d.users == 0 && d.fd.take().is_some() {
            self.open_dirs -= 1;
        }
    }

    /// The reads of one directory, at atoms `first` and `first + 1` of the
    /// chain: count their entries (stats), read again if more may follow.
    fn read_done(&mut self, done: &Done, dir: usize, bufs: [Option<BufRef>; 2], first: usize) {
        let c = done.completion();
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
                self.add_stats(dir, done.batch().bytes(buf), n as usize);
            }
            last = n;
            last_len = buf.len() as usize;
            if n <= 0 {
                // The end, or an error (the next read would repeat it).
                break;
            }
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

    fn handle(&mut self, mut done: Done) {
        let data = done.completion().caller_data() as usize;
        let job = self.jobs[data].take().expect("job of a chain in flight");
        self.free_jobs.push(data);
        match job {
            Job::Read { fresh, reads } => {
                // The descriptor each openat returned, by directory (atom 3k).
                let mut fds: Vec<Option<OwnedFd>> = Vec::new();
                if fresh {
                    fds.resize_with(reads.len(), || None);
                    for (atom, fd) in done.batch_mut().take_fds() {
                        fds[atom.index() / 3] = Some(fd);
                    }
                }
                for (k, (dir, bufs)) in reads.into_iter().enumerate() {
                    if fresh {
                        match fds[k].take() {
                            Some(fd) => self.dirs[dir].fd = Some(fd),
                            None => {
                                // Could not open it (vanished, permission).
                                self.totals.errors += 1;
                                self.dirs[dir].users -= 1;
                                self.open_dirs -= 1;
                                continue;
                            }
                        }
                    }
                    self.read_done(&done, dir, bufs, if fresh { 3 * k + 1 } else { 0 });
                }
            }
            Job::Stat { items } => {
                let c = *done.completion();
                let before = (self.totals.files, self.totals.bytes);
                for (i, item) in items.into_iter().enumerate() {
                    if c.results()[i] != 0 {
                        self.totals.errors += 1;
                        self.release(item.dir);
                        continue;
                    }
                    let stat = done.batch().output(item.st);
                    if self.common.seen.count_stat(&mut self.totals, &stat) {
                        let name = done.batch().bytes(item.name);
                        let name = OsStr::from_bytes(&name[..name.len() - 1]);
                        let child = self.dirs[item.dir].path.join(name);
                        self.dirs.push(Dir {
                            path: child,
                            buf_len: dirent_buf(stat.st_size),
                            fd: None,
                            users: 0,
                        });
                        self.todo_dirs.push_back(self.dirs.len() - 1);
                    }
                    self.release(item.dir);
                }
                let cm = self.common;
                cm.files
                    .fetch_add(self.totals.files - before.0, Ordering::Relaxed);
                cm.bytes
                    .fetch_add(self.totals.bytes - before.1, Ordering::Relaxed);
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
                // (A worker a hand-off started is counted here, not only
                // before a wait.)
                self.totals.peak_workers = self.totals.peak_workers.max(self.ex.workers());
                true
            }
            Err(SubmitError::RingFull(b)) => {
                self.todo.push_front(*b);
                false
            }
            Err(e) => panic!("submit: {e}"),
        }
    }

    /// Handle every completion posted so far.
    fn reap(&mut self) {
        for d in self.ex.reap().expect("reap") {
            self.in_flight -= 1;
            self.handle(d);
        }
    }

    fn tick(&mut self) {
        if let Some(p) = &mut self.progress {
            let cm = self.common;
            p.tick(
                cm.files.load(Ordering::Relaxed),
                cm.bytes.load(Ordering::Relaxed),
            );
        }
    }

    /// Give the oldest directory not yet opened to a hungry walker, if one
    /// waits and this walker keeps enough to do.
    fn share(&mut self) {
        let spare = self.todo_dirs.len() > 1 || (self.todo_dirs.len() == 1 && self.in_flight > 0);
        if !spare || self.common.hungry.load(Ordering::Relaxed) == 0 {
            return;
        }
        let dir = self.todo_dirs.pop_front().expect("not empty");
        self.totals.shared_dirs += 1;
        let d = &mut self.dirs[dir];
        self.common.give(DirTask {
            path: std::mem::take(&mut d.path),
            buf_len: d.buf_len,
        });
    }

    fn run(&mut self) {
        loop {
            // Work of open directories first (keeps descriptors bounded), then
            // open more directories, then send off a partly filled stat chain.
            let mut room = true;
            while room {
                self.share();
                if let Some(b) = self.todo.pop_front() {
                    room = self.submit(b);
                } else if self.open_dirs < self.max_open_dirs && !self.todo_dirs.is_empty() {
                    let b = self.open_chain();
                    room = self.submit(b);
                } else if !self.filling.items.is_empty() {
                    self.flush_stats();
                } else {
                    break;
                }
                if self.ex.ready() > 0 {
                    self.reap();
                }
                self.tick();
            }
            if self.in_flight == 0 && self.todo.is_empty() && self.todo_dirs.is_empty() {
                // Nothing left here (the stat chain being filled was sent off
                // above): take a directory another walker gave, or end.
                let Some(task) = self.common.take() else {
                    break;
                };
                self.dirs.push(Dir {
                    path: task.path,
                    buf_len: task.buf_len,
                    fd: None,
                    users: 0,
                });
                self.todo_dirs.push_back(self.dirs.len() - 1);
                continue;
            }
            if self.in_flight > 0 {
                self.totals.peak_workers = self.totals.peak_workers.max(self.ex.workers());
                self.ex
                    .wait(1, Some(Duration::from_millis(200)))
                    .expect("wait");
                self.reap();
            }
            self.tick();
        }
    }
}

/// One walker's executor.
fn executor(opts: &Options, walkers: usize) -> std::io::Result<Executor> {
    let mut builder = Executor::builder()
        .max_workers(opts.workers)
        .ring_size(1024)
        .use_spare_cpus(opts.spare_cpus && walkers == 1);
    if let Some(n) = opts.running {
        builder = builder.max_running(n);
    }
    if let Some(t) = opts.handoff_threshold {
        builder = builder.handoff_threshold(t);
    }
    builder.build().map_err(std::io::Error::other)
}

/// One walker thread: walks directories of the shared queue until the walk ends.
fn walker(
    common: &Common,
    ex: Executor,
    opts: &Options,
    progress: Option<Progress>,
) -> (Totals, Option<Progress>) {
    let walkers = common.walkers;
    let _abort = AbortOnPanic(common);
    let mut walk = Walk {
        common,
        ex,
        flags: opts.flags,
        stat_flags: opts.stat_flags,
        chain_atoms: opts.chain_atoms,
        policy: Policy::default(),
        dirs: Vec::new(),
        open_dirs: 0,
        max_open_dirs: open_dirs_per_walker(walkers),
        todo_dirs: VecDeque::new(),
        todo: VecDeque::new(),
        filling: StatChain::new(opts.chain_atoms),
        jobs: Vec::new(),
        free_jobs: Vec::new(),
        in_flight: 0,
        totals: Totals::default(),
        progress,
    };
    walk.run();
    (walk.totals, walk.progress)
}

/// The default number of walker threads: one per CPU of the affinity mask,
/// plus one, which keeps the CPUs busy while a walker is off its CPU (an
/// inline call that missed the cache after all, a preemption by another
/// process). Measured over `/usr` on 2 CPUs (BENCHMARKS.md): 3 walkers took
/// 0.18–0.19 s hot against 0.19–0.29 s for 2, and 0.70–0.74 s cold against
/// 0.71–0.86 s; 4 were no better than 3.
pub fn walkers() -> usize {
    cpus() + 1
}

/// Descriptors the walk may hold besides its directories' (the standard
/// streams, each executor's eventfd, what the caller had open).
const FDS_BESIDE_DIRS: usize = 64;

/// The soft `RLIMIT_NOFILE` ([getrlimit(2)](https://man7.org/linux/man-pages/man2/getrlimit.2.html)),
/// `usize::MAX` when unlimited or unknown.
fn nofile_limit() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one struct rlimit through the pointer, which
    // points to a live local of that type.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return usize::MAX;
    }
    usize::try_from(lim.rlim_cur).unwrap_or(usize::MAX)
}

/// Most directories each of `walkers` walkers keeps open: [`MAX_OPEN_DIRS`],
/// fewer when `RLIMIT_NOFILE` would not hold that many for every walker
/// (beside [`FDS_BESIDE_DIRS`]), at least one. Without this, a soft limit of
/// 1 024 (a common default) and 4 CPUs (5 walkers) let the walkers open more
/// than the limit allows, and the directories whose `openat` failed
/// (`EMFILE`) were counted as unreadable, missing from the totals.
pub fn open_dirs_per_walker(walkers: usize) -> usize {
    let room = nofile_limit().saturating_sub(FDS_BESIDE_DIRS);
    (room / walkers.max(1)).clamp(1, MAX_OPEN_DIRS)
}

/// Grow this process's descriptor table now to `n` entries (fewer at a low
/// `RLIMIT_NOFILE`), before the walker threads start. The kernel grows the
/// table (doubling it) when a descriptor past its end is allocated, and
/// while other threads share the table each growth first waits for an RCU
/// grace period (`expand_fdtable` calls `synchronize_rcu`); meanwhile every
/// thread of the process that opens a descriptor sleeps (`D`, in
/// `expand_files`). A walk opens up to [`MAX_OPEN_DIRS`] directories per
/// walker, so it grew the table several times while walking: 7–23 ms each
/// on an idle machine, up to 0.6 s for one growth with two CPU hogs, which
/// starve the grace-period kernel thread (`rcu_preempt`, nice 0): a cold
/// walk then had 29 of its 35 threads asleep in `expand_files`
/// (BENCHMARKS.md, "the stalled walk"). A table grown while this thread is
/// the only one costs no grace period, one grown later costs one (not one
/// per doubling), and a table never shrinks. Best effort: a failure leaves
/// the table to grow as before.
pub fn reserve_fds(n: usize) {
    // The highest descriptor number a process may have is RLIMIT_NOFILE - 1.
    let last = n.min(nofile_limit()).saturating_sub(1);
    let Ok(last) = libc::c_int::try_from(last) else {
        return;
    };
    let Ok(any) = std::fs::File::open("/") else {
        return;
    };
    // SAFETY: F_DUPFD_CLOEXEC duplicates `any`, open for the whole call, or
    // fails (EMFILE, EINVAL past the limit); it reads and writes no memory of
    // this process, and takes the lowest free number >= `last`, so no open
    // descriptor is replaced.
    let dup = unsafe { libc::fcntl(any.as_raw_fd(), libc::F_DUPFD_CLOEXEC, last) };
    if dup >= 0 {
        // SAFETY: `dup` was just returned by fcntl: a descriptor this function
        // owns and that nothing else refers to; it is closed once, here.
        unsafe { libc::close(dup) };
    }
}

/// The walk through the executors: `opts.walkers` walker threads (0:
/// [`walkers`]), this thread being one of them.
pub fn walk_async(root: &Path, opts: Options) -> std::io::Result<Totals> {
    let mut totals = Totals::default();
    let meta = std::fs::symlink_metadata(root)?;
    let root_stat = Stat {
        st_dev: meta.dev(),
        st_ino: meta.ino(),
        st_nlink: meta.nlink(),
        st_size: meta.size() as i64,
        st_mode: meta.mode(),
        ..Default::default()
    };
    let walkers = if opts.walkers == 0 {
        walkers()
    } else {
        opts.walkers
    };
    reserve_fds(walkers * open_dirs_per_walker(walkers) + FDS_BESIDE_DIRS);
    let common = Common::new(walkers);
    totals.walkers = walkers;
    if !common.seen.count_stat(&mut totals, &root_stat) {
        return Ok(totals);
    }
    let executors = (0..walkers)
        .map(|_| executor(&opts, walkers))
        .collect::<std::io::Result<Vec<_>>>()?;
    common.give(DirTask {
        path: root.to_path_buf(),
        buf_len: dirent_buf(root_stat.st_size),
    });
    let progress = Progress::new(opts.progress, "syslets");
    let (parts, progress) = std::thread::scope(|s| {
        let mut executors = executors.into_iter();
        let mine = executors.next().expect("at least one walker");
        let (common, opts) = (&common, &opts);
        let others: Vec<_> = executors
            .map(|ex| s.spawn(move || walker(common, ex, opts, None).0))
            .collect();
        let (t, progress) = walker(common, mine, opts, Some(progress));
        let mut parts = vec![t];
        for h in others {
            parts.push(h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)));
        }
        (parts, progress)
    });
    if let Some(p) = progress {
        p.finish();
    }
    for t in parts {
        totals.bytes += t.bytes;
        totals.files += t.files;
        totals.errors += t.errors;
        totals.inline_chains += t.inline_chains;
        totals.queued_chains += t.queued_chains;
        totals.peak_workers += t.peak_workers;
        totals.shared_dirs += t.shared_dirs;
    }
    Ok(totals)
}

/// The plain synchronous, single-threaded walk.
pub fn walk_sync(root: &Path, progress: bool) -> std::io::Result<Totals> {
    let mut totals = Totals::default();
    let mut seen = Seen::default();
    let mut progress = Progress::new(progress, "plain");
    let meta = std::fs::symlink_metadata(root)?;
    let mut stack = Vec::new();
    let m = &meta;
    if seen.count(&mut totals, m.dev(), m.ino(), m.nlink(), m.size(), m.mode()) {
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
            if seen.count(&mut totals, m.dev(), m.ino(), m.nlink(), m.size(), m.mode()) {
                stack.push(entry.path());
            }
        }
        progress.tick(totals.files, totals.bytes);
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

fn usage_error(why: &str) -> ! {
    eprintln!("du: {why}\nTry 'du --help'.");
    std::process::exit(2);
}

/// The three load averages, as `/proc/loadavg` gives them.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Median and range of `v`.
fn spread(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    (s[s.len() / 2], s[0], s[s.len() - 1])
}

struct Args {
    compare: bool,
    plain: bool,
    repeat: usize,
    drop: bool,
    quiet: bool,
    opts: Options,
    path: PathBuf,
}

fn parse_args() -> Args {
    let mut a = Args {
        compare: false,
        plain: false,
        repeat: 1,
        drop: false,
        quiet: false,
        opts: Options {
            progress: true,
            ..Options::default()
        },
        path: PathBuf::new(),
    };
    let mut path = None;
    let mut args = std::env::args().skip(1);
    let number = |args: &mut dyn Iterator<Item = String>, what: &str| -> usize {
        args.next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| usage_error(&format!("{what} needs a number")))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                print!("{HELP}");
                std::process::exit(0);
            }
            "--compare" => a.compare = true,
            "--plain" => a.plain = true,
            "--drop-caches" => a.drop = true,
            "-q" | "--quiet" => a.quiet = true,
            "--repeat" => {
                a.repeat = number(&mut args, "--repeat");
                if a.repeat == 0 {
                    usage_error("--repeat must be at least 1");
                }
            }
            "--workers" => a.opts.workers = number(&mut args, "--workers"),
            "--walkers" => {
                a.opts.walkers = number(&mut args, "--walkers");
                if a.opts.walkers == 0 {
                    usage_error("--walkers must be at least 1");
                }
            }
            "--running" => a.opts.running = Some(number(&mut args, "--running")),
            "--chain" => {
                a.opts.chain_atoms = number(&mut args, "--chain");
                if !(1..=abi::MAX_ATOMS).contains(&a.opts.chain_atoms) {
                    usage_error("--chain must be 1 to 64");
                }
            }
            "--mode" => {
                let o = &mut a.opts;
                (o.flags, o.stat_flags, o.spare_cpus) = match args.next().as_deref() {
                    Some("auto") => (0, 0, true),
                    Some("inline") => (0, 0, false),
                    Some("mixed") => (0, abi::BATCH_ASYNC, false),
                    Some("async") => (abi::BATCH_ASYNC, abi::BATCH_ASYNC, false),
                    Some("sync") => (abi::BATCH_SYNC, abi::BATCH_SYNC, false),
                    _ => usage_error("--mode is auto, inline, mixed, async or sync"),
                }
            }
            _ if arg.starts_with('-') => usage_error(&format!("unknown option {arg}")),
            _ if path.is_none() => path = Some(PathBuf::from(arg)),
            _ => usage_error("one PATH only"),
        }
    }
    a.path = path.unwrap_or_else(|| usage_error("PATH missing"));
    a
}

fn fail(path: &Path, e: std::io::Error) -> ! {
    eprintln!("du: {}: {e}", path.display());
    std::process::exit(1);
}

/// One timed walk (after dropping caches, if asked).
fn timed(a: &Args, syslets: bool) -> (Totals, f64) {
    if a.drop {
        drop_caches();
    }
    let t0 = Instant::now();
    let t = if syslets {
        walk_async(&a.path, a.opts)
    } else {
        walk_sync(&a.path, a.opts.progress)
    };
    let t = t.unwrap_or_else(|e| fail(&a.path, e));
    (t, t0.elapsed().as_secs_f64())
}

fn print_totals(a: &Args, t: &Totals) {
    println!("{}\t{}", t.bytes, a.path.display());
    if a.quiet {
        return;
    }
    println!("inodes: {}", t.files);
    if t.errors > 0 {
        println!("unreadable: {}", t.errors);
    }
}

fn syslets_note(t: &Totals) -> String {
    format!(
        "{} walkers, {} directories shared, {} chains inline, {} on workers, peak {} workers",
        t.walkers, t.shared_dirs, t.inline_chains, t.queued_chains, t.peak_workers
    )
}

#[allow(dead_code)]
fn main() {
    let a = parse_args();
    if !a.compare {
        let mut times = Vec::new();
        for round in 0..a.repeat {
            let (t, secs) = timed(&a, !a.plain);
            if round == 0 {
                print_totals(&a, &t);
            }
            if !a.quiet {
                let what = if a.plain {
                    String::from("plain walk")
                } else {
                    syslets_note(&t)
                };
                println!("walk: {secs:.3} s ({what})");
            }
            times.push(secs);
        }
        if a.repeat > 1 && !a.quiet {
            let (m, lo, hi) = spread(&times);
            println!(
                "median of {}: {m:.3} s (min {lo:.3}, max {hi:.3})",
                a.repeat
            );
        }
        return;
    }
    if !a.drop {
        // Both walks must see the same (hot) cache: the first walk of a cold
        // tree would otherwise pay for the second.
        walk_sync(&a.path, false).unwrap_or_else(|e| fail(&a.path, e));
    }
    let load_before = load_average();
    let mut rounds = Vec::new();
    for round in 0..a.repeat {
        // Alternate which walk goes first, so drift hits both alike.
        let (s, ts, p, tp) = if round % 2 == 0 {
            let (s, ts) = timed(&a, true);
            let (p, tp) = timed(&a, false);
            (s, ts, p, tp)
        } else {
            let (p, tp) = timed(&a, false);
            let (s, ts) = timed(&a, true);
            (s, ts, p, tp)
        };
        if (s.bytes, s.files) != (p.bytes, p.files) {
            eprintln!("du: the two walks disagree (the tree changed while walking?)");
            std::process::exit(1);
        }
        if round == 0 {
            print_totals(&a, &s);
            if !a.quiet {
                println!("round  syslets s  plain s  syslets/plain  syslets walk");
            }
        }
        if !a.quiet {
            println!(
                "{:>5}  {ts:>9.3}  {tp:>7.3}  {:>13.3}  {}",
                round + 1,
                ts / tp,
                syslets_note(&s)
            );
        }
        rounds.push((ts, tp));
    }
    let ratios: Vec<f64> = rounds.iter().map(|r| r.0 / r.1).collect();
    let (r, rlo, rhi) = spread(&ratios);
    let (ts, _, _) = spread(&rounds.iter().map(|r| r.0).collect::<Vec<_>>());
    let (tp, _, _) = spread(&rounds.iter().map(|r| r.1).collect::<Vec<_>>());
    let which = if a.repeat > 1 {
        format!("median of {} rounds (min {rlo:.3}, max {rhi:.3})", a.repeat)
    } else {
        String::from("one round")
    };
    println!(
        "ratio syslets/plain: {r:.3}, {which}: syslets {ts:.3} s, plain {tp:.3} s; syslets is {:.2}x the speed of plain",
        1.0 / r
    );
    println!(
        "machine: {} CPUs, load average {load_before} before, {} after; caches {}",
        cpus(),
        load_average(),
        if a.drop {
            "dropped before each walk"
        } else {
            "hot"
        }
    );
}
