//! The request engine behind [`Aio`](super::Aio): one chain per request,
//! per-descriptor ordering, completion processing and notifications.
//!
//! ```text
//! submit ─► classify fd ─► chain (pread64 | pwrite64 | read | write | fsync | fdatasync)
//!        ─► register (table, per-fd lanes and fsync barriers) ─► Executor::submit
//!             ├─ Done (inline, RWF_NOWAIT satisfied it) ─► finish
//!             └─ Queued ─► worker ─► completion hook: deliver (the common case)
//!                                  └─ or given back ─► ring ─► completion thread ─► finish
//! finish ─► publish into the aiocb ─► wake aio_suspend ─► notify (signal chain,
//!           notifier thread, list) ─► launch what waited for it on the same fd
//! ```
//!
//! Everything here is safe code: the aiocb and `aio_buf` are reached only
//! through [`CbPtr`] and [`RawBuf`], whose constructors carry the contracts.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use syslets_abi as abi;
use syslets_abi::signature::Io;

use super::cb::{self, CbPtr, Notify, Quota, RawBuf};
use super::kernel::{KernelQueue, Refused};
use super::sys::{self, FdKind, Wake};
use super::Cancel;
use crate::builder::chain::Chain;
use crate::builder::opcode::{Fdatasync, Fsync, Pread64, Pwrite64, Read, RtTgsigqueueinfo, Write};
use crate::confine::policy::Policy;
use crate::confine::validate::ValidatedBatch;
use crate::errno::Errno;
use crate::executor::engine_port::{HookFn, Retire, SubmittedBox};
use crate::executor::{Canceled, Executor, Ticket};
use crate::sys::atfork;

/// Bumped after every published completion; `aio_suspend` and `lio_listio`
/// sleep on it.
static DONE_SEQ: AtomicU32 = AtomicU32::new(0);
/// Threads sleeping on [`DONE_SEQ`].
static DONE_WAITERS: AtomicU32 = AtomicU32::new(0);

/// A wait long enough to mean "no limit" (see [`sys::futex_wait`]).
const FOREVER: Duration = Duration::from_secs(3600);

/// Announce that a completion was published.
fn completed() {
    DONE_SEQ.fetch_add(1, Ordering::SeqCst);
    if DONE_WAITERS.load(Ordering::SeqCst) > 0 {
        sys::futex_wake_all(&DONE_SEQ);
    }
}

/// Sleep until `done()` holds, the deadline passes or a signal handler runs.
/// Async-signal-safe: atomics and futex calls only.
pub(crate) fn wait_until(deadline: Option<Instant>, done: impl Fn() -> bool) -> Result<(), Errno> {
    loop {
        DONE_WAITERS.fetch_add(1, Ordering::SeqCst);
        let seq = DONE_SEQ.load(Ordering::SeqCst);
        if done() {
            DONE_WAITERS.fetch_sub(1, Ordering::SeqCst);
            return Ok(());
        }
        let left = match deadline {
            Some(d) => d.saturating_duration_since(Instant::now()),
            None => FOREVER,
        };
        let wake = if left.is_zero() {
            Wake::TimedOut
        } else {
            sys::futex_wait(&DONE_SEQ, seq, left)
        };
        DONE_WAITERS.fetch_sub(1, Ordering::SeqCst);
        match wake {
            Wake::Interrupted => return Err(Errno::from_raw(libc::EINTR)),
            Wake::TimedOut if deadline.is_some_and(|d| Instant::now() >= d) => {
                return if done() { Ok(()) } else { Err(Errno::EAGAIN) };
            }
            _ => {}
        }
    }
}

/// What a request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    /// `aio_read`, `LIO_READ`.
    Read,
    /// `aio_write`, `LIO_WRITE`.
    Write,
    /// `aio_fsync`: `fdatasync` when `data_only` (`O_DSYNC`), else `fsync`.
    Sync {
        /// `O_DSYNC`.
        data_only: bool,
    },
}

/// A request as taken from its aiocb.
#[derive(Debug)]
pub(crate) struct Request {
    pub cb: CbPtr,
    pub fd: i32,
    pub op: Op,
    pub buf: RawBuf,
    pub offset: i64,
    pub notify: Notify,
}

/// Configuration of an engine.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Config {
    pub max_requests: usize,
    /// Workers of the `Direct` pool (and the cap of the `File` pool).
    pub workers: usize,
    /// Workers of the `File` pool.
    pub file_workers: usize,
    /// Workers of the `Stream` pool.
    pub stream_workers: usize,
    pub idle_timeout: Duration,
    pub inline: bool,
    /// Queue `O_DIRECT` reads and writes in the kernel (`io_submit`).
    pub kernel_aio: bool,
    /// Bytes one call may complete inline (see [`Engine::submit`]).
    pub inline_budget: usize,
}

/// A notification ready to fire.
#[derive(Debug)]
enum Notice {
    None,
    /// The one-atom chain `rt_tgsigqueueinfo(pid, tid, signo, &info)`,
    /// validated at submission.
    Signal(Box<ValidatedBatch<'static>>),
    Thread {
        func: extern "C" fn(libc::sigval),
        value: u64,
    },
}

impl Notice {
    fn build(n: &Notify, policy: &Policy) -> Result<Notice, Errno> {
        match *n {
            Notify::None => Ok(Notice::None),
            Notify::Thread { func, value } => Ok(Notice::Thread { func, value }),
            Notify::Signal { tid, signo, value } => {
                let pid = std::process::id() as i32;
                let tid = if tid == 0 { pid } else { tid };
                let mut chain = Chain::with_capacity(1, 1, abi::kernel::SIGINFO_SIZE);
                let info = chain.input(&siginfo(signo, value));
                chain.push(RtTgsigqueueinfo::new(pid, tid, signo, info));
                let batch = chain.prepare(policy).map_err(|_| Errno::EINVAL)?;
                Ok(Notice::Signal(Box::new(batch)))
            }
        }
    }

    fn fire(self, notifier: &Arc<Notifier>) {
        match self {
            Notice::None => {}
            Notice::Signal(mut batch) => {
                // The target thread may be gone (ESRCH): nothing to do then.
                batch.run();
            }
            Notice::Thread { func, value } => Notifier::post(notifier, func, value),
        }
    }
}

/// The kernel's `siginfo_t` for an `SI_ASYNCIO` signal queued by this process
/// (what glibc's AIO queues): signo, errno 0, code, pid, uid, value.
fn siginfo(signo: i32, value: u64) -> [u8; abi::kernel::SIGINFO_SIZE] {
    let mut b = [0u8; abi::kernel::SIGINFO_SIZE];
    b[0..4].copy_from_slice(&signo.to_ne_bytes());
    b[8..12].copy_from_slice(&libc::SI_ASYNCIO.to_ne_bytes());
    b[16..20].copy_from_slice(&(std::process::id() as i32).to_ne_bytes());
    b[20..24].copy_from_slice(&sys::uid().to_ne_bytes());
    b[24..32].copy_from_slice(&value.to_ne_bytes());
    b
}

/// The members of one `lio_listio` call, for its list-wide notification and
/// for `LIO_WAIT`.
#[derive(Debug)]
pub(crate) struct List {
    /// Members not finished, plus one while `lio_listio` is still submitting.
    remaining: AtomicU32,
    notice: Mutex<Option<Notice>>,
}

impl List {
    /// A list whose notification is `notify` (validated now).
    pub(crate) fn new(notify: Option<&Notify>, engine: &Engine) -> Result<Arc<List>, Errno> {
        let notice = match notify {
            Some(n) => Some(Notice::build(n, &engine.policy)?),
            None => None,
        };
        Ok(Arc::new(List {
            remaining: AtomicU32::new(1),
            notice: Mutex::new(notice),
        }))
    }

    /// A member is about to be submitted.
    pub(crate) fn add(&self) {
        self.remaining.fetch_add(1, Ordering::SeqCst);
    }

    /// A member finished (or `lio_listio` finished submitting).
    pub(crate) fn done(&self, notifier: &Arc<Notifier>) {
        if self.remaining.fetch_sub(1, Ordering::SeqCst) == 1 {
            // Wake LIO_WAIT (it sleeps on the completion counter).
            completed();
            let notice = lock(&self.notice).take();
            if let Some(n) = notice {
                n.fire(notifier);
            }
        }
    }

    /// Whether every member finished.
    pub(crate) fn finished(&self) -> bool {
        self.remaining.load(Ordering::SeqCst) == 0
    }
}

/// Where a request stands.
#[derive(Debug)]
enum Phase {
    /// Waiting behind another request of its fd (its batch ready).
    Held(Box<ValidatedBatch<'static>>),
    /// Being handed to the executor.
    Submitting,
    /// In the executor.
    Queued(Ticket),
    /// Queued in the kernel (`io_submit`): its event comes through the
    /// kernel queue's ring. It cannot be cancelled.
    Kernel,
}

/// Which ordered lane of its fd a request is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lane {
    Reads = 0,
    Writes = 1,
}

#[derive(Debug)]
struct Req {
    cb: CbPtr,
    fd: i32,
    op: Op,
    /// Kept to rebuild the chain for the `ESPIPE` fallback.
    buf: RawBuf,
    offset: i64,
    /// The chain is positional (`pread64`/`pwrite64`).
    positional: bool,
    /// The executor it goes to.
    class: Class,
    lane: Option<Lane>,
    /// Registration order on its fd (for the fsync barrier).
    seq: u64,
    phase: Phase,
    notice: Notice,
    list: Option<Arc<List>>,
}

impl Req {
    fn sync(&self) -> bool {
        matches!(self.op, Op::Sync { .. })
    }
}

#[derive(Debug, Default)]
struct LaneState {
    busy: Option<u64>,
    queue: VecDeque<u64>,
}

/// An `aio_fsync` waiting for the data requests registered before it.
#[derive(Debug)]
struct HeldSync {
    id: u64,
    seq: u64,
    waiting_for: usize,
}

/// Per-descriptor ordering: O_APPEND writes and stream reads/writes run one
/// at a time in submission order; an fsync waits for every data request
/// registered before it.
#[derive(Debug, Default)]
struct FdState {
    next_seq: u64,
    /// Data requests registered and not finished.
    outstanding: usize,
    lanes: [LaneState; 2],
    syncs: Vec<HeldSync>,
}

impl FdState {
    fn is_empty(&self) -> bool {
        self.outstanding == 0
            && self.syncs.is_empty()
            && self
                .lanes
                .iter()
                .all(|l| l.busy.is_none() && l.queue.is_empty())
    }

    /// Enter request `id` into lane `lane`: whether it may run now.
    fn enter_lane(&mut self, lane: Lane, id: u64) -> bool {
        let l = &mut self.lanes[lane as usize];
        if l.busy.is_none() {
            l.busy = Some(id);
            true
        } else {
            l.queue.push_back(id);
            false
        }
    }
}

/// A multiplicative hash for the small integer keys of the request table
/// (ids, addresses, descriptors): much cheaper than SipHash, and the keys
/// are not chosen by an adversary.
#[derive(Clone, Copy, Debug, Default)]
struct FastHash(u64);

impl Hasher for FastHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }

    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    fn write_usize(&mut self, x: usize) {
        self.write_u64(x as u64);
    }

    fn write_i32(&mut self, x: i32) {
        self.write_u64(x as u32 as u64);
    }
}

type Map<K, V> = HashMap<K, V, BuildHasherDefault<FastHash>>;

#[derive(Debug, Default)]
struct State {
    reqs: Map<u64, Req>,
    by_addr: Map<usize, u64>,
    fds: Map<i32, FdState>,
    /// Completions of fast-path requests processed before the submitter
    /// registered them (it finishes them when it does).
    early: Map<u64, i64>,
    /// Requests cancelled while queued in the executor, whose (cancelled)
    /// completion is still to come through the ring and must be ignored.
    canceled: Map<u64, ()>,
}

impl State {
    /// Enter `req` into its fd's bookkeeping (and the address table):
    /// whether it may run now (false: held in its lane or behind earlier
    /// requests, for a sync).
    fn register(&mut self, id: u64, req: &mut Req) -> bool {
        self.by_addr.insert(req.cb.addr(), id);
        let fs = self.fds.entry(req.fd).or_default();
        req.seq = fs.next_seq;
        fs.next_seq += 1;
        let now = if req.sync() {
            if fs.outstanding == 0 {
                true
            } else {
                let waiting_for = fs.outstanding;
                fs.syncs.push(HeldSync {
                    id,
                    seq: req.seq,
                    waiting_for,
                });
                false
            }
        } else {
            fs.outstanding += 1;
            req.lane.is_none_or(|l| fs.enter_lane(l, id))
        };
        if fs.is_empty() {
            self.fds.remove(&req.fd);
        }
        now
    }

    /// Take request `id` (removed from `reqs` already) out of its fd's
    /// bookkeeping; returns the held requests that may run now.
    fn retire(&mut self, id: u64, req: &Req) -> Vec<u64> {
        let mut next = Vec::new();
        let Some(fs) = self.fds.get_mut(&req.fd) else {
            return next;
        };
        if req.sync() {
            fs.syncs.retain(|s| s.id != id);
        } else {
            fs.outstanding -= 1;
            for s in fs.syncs.iter_mut().filter(|s| s.seq > req.seq) {
                s.waiting_for -= 1;
                if s.waiting_for == 0 {
                    next.push(s.id);
                }
            }
        }
        if let Some(lane) = req.lane {
            let l = &mut fs.lanes[lane as usize];
            if l.busy == Some(id) {
                l.busy = l.queue.pop_front();
                next.extend(l.busy);
            } else {
                l.queue.retain(|&q| q != id);
            }
        }
        if fs.is_empty() {
            self.fds.remove(&req.fd);
        }
        next
    }

    /// Take the held batch of `id` to launch it.
    fn take_held(&mut self, id: u64) -> Option<Launch> {
        let r = self.reqs.get_mut(&id)?;
        match std::mem::replace(&mut r.phase, Phase::Submitting) {
            Phase::Held(b) => Some((id, r.class, b)),
            other => {
                r.phase = other;
                None
            }
        }
    }
}

/// Descriptors known to be positional (regular files, block devices), by
/// number, so that a request on one needs no `fstat`. A descriptor closed and
/// reused for a pipe or socket is caught when `pread64`/`pwrite64` fails with
/// `ESPIPE`: the entry is dropped and the request goes again as a stream
/// request (glibc falls back to `read`/`write` on `ESPIPE` the same way).
#[derive(Debug)]
struct KindCache(Box<[AtomicU8]>);

impl KindCache {
    const POSITIONAL_PROBE: u8 = 1;
    const POSITIONAL: u8 = 2;
    const DIRECT: u8 = 3;

    fn new() -> KindCache {
        KindCache((0..1024).map(|_| AtomicU8::new(0)).collect())
    }

    fn get(&self, fd: i32) -> Option<FdKind> {
        let slot = self.0.get(usize::try_from(fd).ok()?)?;
        match slot.load(Ordering::Relaxed) {
            Self::POSITIONAL_PROBE => Some(FdKind::Positional { probe: true }),
            Self::POSITIONAL => Some(FdKind::Positional { probe: false }),
            Self::DIRECT => Some(FdKind::Direct),
            _ => None,
        }
    }

    fn set(&self, fd: i32, kind: FdKind) {
        let v = match kind {
            FdKind::Positional { probe: true } => Self::POSITIONAL_PROBE,
            FdKind::Positional { probe: false } => Self::POSITIONAL,
            FdKind::Direct => Self::DIRECT,
            FdKind::Stream { .. } => 0,
        };
        if let Some(slot) = usize::try_from(fd).ok().and_then(|i| self.0.get(i)) {
            slot.store(v, Ordering::Relaxed);
        }
    }

    fn forget(&self, fd: i32) {
        self.set(fd, FdKind::Stream { probe: false });
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The `SIGEV_THREAD` notifier: one thread that calls the functions, in
/// completion order.
#[derive(Debug, Default)]
pub(crate) struct Notifier {
    state: Mutex<NotifierState>,
    cv: Condvar,
}

#[derive(Debug, Default)]
struct NotifierState {
    jobs: VecDeque<(extern "C" fn(libc::sigval), u64)>,
    thread: Option<JoinHandle<()>>,
    stop: bool,
}

impl Notifier {
    /// Queue `func(value)` for the notifier thread, starting it if needed.
    fn post(this: &Arc<Notifier>, func: extern "C" fn(libc::sigval), value: u64) {
        let has_thread = {
            let mut st = lock(&this.state);
            st.jobs.push_back((func, value));
            if st.thread.is_none() && !st.stop {
                let me = Arc::clone(this);
                let spawned = sys::with_signals_blocked(|| {
                    std::thread::Builder::new()
                        .name("aio-notify".into())
                        .spawn(move || me.run())
                });
                st.thread = spawned.ok();
            }
            this.cv.notify_one();
            st.thread.is_some()
        };
        if !has_thread {
            // No thread could be started (or the context is closing): call
            // the function here rather than never.
            this.run_inline();
        }
    }

    /// Whether the notifier thread runs: then [`post`](Self::post) only
    /// queues (no thread is started, no function runs in the caller), which
    /// a seccomp-filtered worker may do. It keeps running until
    /// [`stop`](Self::stop), which the engine calls only once no request is
    /// left and no completion hook runs.
    fn running(&self) -> bool {
        let st = lock(&self.state);
        st.thread.is_some() && !st.stop
    }

    fn run(&self) {
        let mut st = lock(&self.state);
        loop {
            if let Some((func, value)) = st.jobs.pop_front() {
                drop(st);
                func(cb::sigval_of(value));
                st = lock(&self.state);
                continue;
            }
            if st.stop {
                return;
            }
            st = self.cv.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Run queued functions here when no thread could be started.
    fn run_inline(&self) {
        loop {
            let job = {
                let mut st = lock(&self.state);
                if st.thread.is_some() {
                    return;
                }
                st.jobs.pop_front()
            };
            let Some((func, value)) = job else { return };
            func(cb::sigval_of(value));
        }
    }

    /// Run what is queued, then stop and join the thread.
    fn stop(&self) {
        let handle = {
            let mut st = lock(&self.state);
            st.stop = true;
            self.cv.notify_all();
            st.thread.take()
        };
        if let Some(h) = handle {
            let _ = h.join();
        }
        self.run_inline();
    }
}

/// Which executor (worker pool) a request goes to. The pools differ in how
/// many workers they need:
///
/// * `File`: reads and writes of files the `RWF_NOWAIT` probe covers. Cached
///   data completes inline; for uncached data the probe has already started
///   the read, so a worker only waits for the page: few workers suffice, and
///   more cost context switches.
/// * `Direct`: requests that do their own I/O on a worker (`O_DIRECT`, syncs,
///   seekable character devices): one worker per request in flight.
/// * `Stream`: pipes, sockets, terminals, whose requests may block for ever
///   waiting for a peer; a pool of their own, so that they can never take
///   every worker from file I/O.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    File = 0,
    Direct = 1,
    Stream = 2,
}

const CLASSES: [Class; 3] = [Class::File, Class::Direct, Class::Stream];

/// One executor and the completion thread that reaps its ring.
#[derive(Debug)]
struct Exec {
    ex: Executor,
    /// Submissions queued in the executor whose completion was not processed
    /// yet (wrapping; may dip below zero for a moment, read as `i32`).
    pending: AtomicU32,
    /// The completion thread sleeps on this word when nothing is pending.
    doorbell: AtomicU32,
    sleeping: AtomicBool,
    completer: Mutex<Option<JoinHandle<()>>>,
    started: AtomicBool,
    reap_lock: Mutex<()>,
}

impl Exec {
    fn new(ring: u32, workers: usize, idle: Duration) -> Result<Exec, Errno> {
        let ex = Executor::builder()
            .ring_size(ring)
            .max_workers(workers.max(1))
            // Each pool is sized for its class of I/O (mod docs): all its
            // workers may run at once, stalled or not.
            .max_running(workers.max(1))
            .idle_timeout(idle)
            .build()
            .map_err(|_| Errno::EINVAL)?;
        Ok(Exec {
            ex,
            pending: AtomicU32::new(0),
            doorbell: AtomicU32::new(0),
            sleeping: AtomicBool::new(false),
            completer: Mutex::new(None),
            started: AtomicBool::new(false),
            reap_lock: Mutex::new(()),
        })
    }

    /// One more completion will come through this executor's ring (a
    /// request handed back by the completion hook, or cancelled before it
    /// started): count it, and wake the completion thread.
    fn expect_from_ring(&self) {
        self.pending.fetch_add(1, Ordering::SeqCst);
        self.ring_doorbell();
    }

    fn ring_doorbell(&self) {
        self.doorbell.fetch_add(1, Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) {
            sys::futex_wake_all(&self.doorbell);
        }
    }
}

/// A batch ready to hand to its executor.
type Launch = (u64, Class, Box<ValidatedBatch<'static>>);

/// The engine: the executors, the request table and the completion threads.
#[derive(Debug)]
pub(crate) struct Engine {
    execs: [Exec; 3],
    policy: Policy,
    config: Config,
    state: Mutex<State>,
    next_id: AtomicU64,
    stop: AtomicBool,
    closing: AtomicBool,
    pub(crate) notifier: Arc<Notifier>,
    kinds: KindCache,
    /// Requests accepted and not published yet.
    count: AtomicUsize,
    /// Requests submitted and not yet returned, against `max_requests`.
    quota: Quota,
    /// Finished one-atom `pread64` (0) and `pwrite64` (1) batches, re-aimed
    /// at the next request of their kind instead of building and validating
    /// a new chain ([`ValidatedBatch::reaim_io`]). Boxed: the executor takes
    /// and gives back boxes, so a batch moves as a pointer.
    #[allow(clippy::vec_box)]
    spares: [Mutex<Vec<Box<ValidatedBatch<'static>>>>; 2],
    generation: u64,
    /// Completion hooks running now (held outside the engine: a hook drops
    /// its reference to the engine before it counts itself out, so `close`
    /// can make sure no worker holds the last one).
    hooks: Arc<AtomicU32>,
    /// Requests delivered by the worker that ran them (the hook).
    delivered: AtomicU64,
    /// The kernel AIO context for `O_DIRECT` requests, made on the first
    /// one (None: not available, workers do them).
    kernel: OnceLock<Option<KernelQueue>>,
    /// The thread reaping the kernel queue.
    reaper: Mutex<Option<JoinHandle<()>>>,
    /// Requests queued in the kernel.
    kernel_requests: AtomicU64,
}

/// Most requests in the kernel queue at once (the kernel counts twice this
/// against the system-wide `/proc/sys/fs/aio-max-nr`); more go to workers.
const KERNEL_QUEUE_DEPTH: u32 = 256;

/// In `early`: the kernel refused a request after `io_submit` took it
/// (`-EAGAIN` from the block layer) before it was registered.
const KERNEL_REFUSED: i64 = i64::MIN;

/// Most spare batches kept per kind (a few more than the requests usually in
/// flight at once; the rest are dropped).
const SPARES: usize = 64;

impl Engine {
    /// An engine, its executors' completion hooks installed.
    pub(crate) fn new(config: Config) -> Result<Arc<Engine>, Errno> {
        let engine = Arc::new(Engine::bare(config)?);
        for c in CLASSES {
            let weak = Arc::downgrade(&engine);
            let hooks = Arc::clone(&engine.hooks);
            let hook: Box<HookFn> = Box::new(move |_ticket, batch, retire| {
                hooks.fetch_add(1, Ordering::SeqCst);
                let back = match weak.upgrade() {
                    Some(e) => e.deliver(c, batch, retire),
                    // Being dropped: its executors reap and drop the rest.
                    None => Some(batch),
                };
                hooks.fetch_sub(1, Ordering::SeqCst);
                back
            });
            engine.exec(c).ex.set_completion_hook(hook);
        }
        Ok(engine)
    }

    fn bare(config: Config) -> Result<Engine, Errno> {
        let ring = config
            .max_requests
            .clamp(1, 1 << 16)
            .next_power_of_two()
            .try_into()
            .map_err(|_| Errno::EINVAL)?;
        let idle = config.idle_timeout;
        Ok(Engine {
            execs: [
                Exec::new(ring, config.file_workers, idle)?,
                Exec::new(ring, config.workers, idle)?,
                Exec::new(ring, config.stream_workers, idle)?,
            ],
            policy: Policy::default(),
            config,
            state: Mutex::new(State::default()),
            next_id: AtomicU64::new(1),
            stop: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            notifier: Arc::new(Notifier::default()),
            kinds: KindCache::new(),
            count: AtomicUsize::new(0),
            quota: Quota::new().ok_or(Errno::EAGAIN)?,
            spares: [Mutex::new(Vec::new()), Mutex::new(Vec::new())],
            generation: atfork::generation(),
            hooks: Arc::new(AtomicU32::new(0)),
            delivered: AtomicU64::new(0),
            kernel: OnceLock::new(),
            reaper: Mutex::new(None),
            kernel_requests: AtomicU64::new(0),
        })
    }

    fn exec(&self, class: Class) -> &Exec {
        &self.execs[class as usize]
    }

    /// Whether this engine was made in this process (not before a fork).
    pub(crate) fn current(&self) -> bool {
        self.generation == atfork::generation()
    }

    /// Requests not finished yet.
    pub(crate) fn outstanding(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// The inline byte budget of one call.
    pub(crate) fn inline_budget(&self) -> usize {
        self.config.inline_budget
    }

    /// Most requests submitted and not yet returned.
    #[cfg(feature = "c-abi")]
    pub(crate) fn max_requests(&self) -> usize {
        self.config.max_requests
    }

    /// Requests held behind another request of their fd.
    pub(crate) fn held(&self) -> usize {
        lock(&self.state)
            .reqs
            .values()
            .filter(|r| matches!(r.phase, Phase::Held(_)))
            .count()
    }

    /// Requests delivered by the worker that ran them.
    pub(crate) fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Requests queued in the kernel (`io_submit`).
    pub(crate) fn kernel_requests(&self) -> u64 {
        self.kernel_requests.load(Ordering::Relaxed)
    }

    /// Worker threads of the executor.
    pub(crate) fn workers(&self) -> usize {
        self.execs.iter().map(|e| e.ex.workers()).sum()
    }

    /// Whether a request is in flight on the aiocb at `addr`.
    pub(crate) fn busy(&self, addr: usize) -> bool {
        lock(&self.state).by_addr.contains_key(&addr)
    }

    /// Build the chain of a request and hand it over. On `Err`, nothing was
    /// queued and the aiocb was not touched.
    ///
    /// A request outside any lane (a read or `pwrite64` of a seekable fd) takes
    /// the fast path: it is submitted without entering the request table, and
    /// registered only if the executor queued it — a request that completes
    /// inline costs no lock. Lanes and syncs register first.
    ///
    /// `budget` is what is left of the inline byte budget for this call
    /// (one request, or one `lio_listio`): a file read or write the probe
    /// covers completes inline only if it fits, and uses it up; a larger
    /// one goes straight to a worker, so that the copying overlaps with the
    /// caller and uses another core.
    pub(crate) fn submit(
        self: &Arc<Self>,
        req: Request,
        list: Option<&Arc<List>>,
        budget: &mut usize,
    ) -> Result<(), Errno> {
        if self.closing.load(Ordering::Relaxed) || !self.current() {
            return Err(Errno::EAGAIN);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let kind = match req.op {
            Op::Sync { .. } => None,
            Op::Read | Op::Write => Some(self.classify(req.fd)),
        };
        // O_DIRECT reads and positional writes go to the kernel queue (no
        // chain); the rest, and those it refuses, are chains.
        let kernel = kind == Some(FdKind::Direct)
            && self.config.kernel_aio
            && (req.op == Op::Read
                || !sys::fd_flags(req.fd).is_ok_and(|f| f & libc::O_APPEND != 0));
        let inline = match kind {
            Some(FdKind::Positional { probe: true }) => match budget.checked_sub(req.buf.len()) {
                Some(left) => {
                    *budget = left;
                    true
                }
                None => {
                    // The rest of a list goes to workers too.
                    *budget = 0;
                    false
                }
            },
            _ => true,
        };
        let (batch, lane, positional, class) = if kernel {
            (None, None, true, Class::Direct)
        } else {
            let (b, lane, positional, class) =
                self.build(id, req.fd, req.op, &req.buf, req.offset, kind, inline)?;
            (Some(b), lane, positional, class)
        };
        let notice = match req.notify {
            // The common case, without a call.
            Notify::None => Notice::None,
            _ => Notice::build(&req.notify, &self.policy)?,
        };
        // Admission: the request limit, and one request per aiocb (its
        // status word says "in progress" from here on).
        // The limit counts requests until `aio_return` (see `Quota`); a
        // request on an aiocb whose last one was never returned frees that
        // one's place first (`claim`).
        let previous = match req.cb.claim() {
            Ok(w) => Some(w),
            // In progress. (An aiocb whose status word only looks in
            // progress — copied into a forked child, say — is taken over.)
            Err(_) if self.busy(req.cb.addr()) => return Err(Errno::EINVAL),
            Err(_) => None,
        };
        if !self.quota.take(self.config.max_requests) {
            if let Some(w) = previous {
                req.cb.unclaim(w);
            }
            return Err(Errno::EAGAIN);
        }
        self.count.fetch_add(1, Ordering::AcqRel);
        req.cb.start(&self.quota);
        if let Some(l) = list {
            l.add();
        }
        let mut req = Req {
            cb: req.cb,
            fd: req.fd,
            op: req.op,
            buf: req.buf,
            offset: req.offset,
            positional,
            class,
            lane,
            seq: 0,
            phase: Phase::Submitting,
            notice,
            list: list.cloned(),
        };
        let Some(batch) = batch else {
            self.submit_kernel(id, req);
            return Ok(());
        };
        if lane.is_none() && !req.sync() {
            self.fast(id, req, batch);
            return Ok(());
        }
        let launch = {
            let mut st = lock(&self.state);
            let launch = if st.register(id, &mut req) {
                Some(batch)
            } else {
                req.phase = Phase::Held(batch);
                None
            };
            st.reqs.insert(id, req);
            launch
        };
        if let Some(batch) = launch {
            self.launch_one((id, class, batch));
        }
        Ok(())
    }

    /// The kernel queue, set up on first use (None when the kernel has no
    /// AIO for us or its reaper thread could not start: workers then).
    fn kernel_queue(self: &Arc<Self>) -> Option<&KernelQueue> {
        self.kernel
            .get_or_init(|| {
                let q = KernelQueue::new(KERNEL_QUEUE_DEPTH.min(self.config.max_requests as u32))
                    .ok()?;
                let me = Arc::clone(self);
                let spawned = sys::with_signals_blocked(|| {
                    std::thread::Builder::new()
                        .name("aio-kernel".into())
                        .spawn(move || me.reaper_loop())
                });
                *lock(&self.reaper) = Some(spawned.ok()?);
                Some(q)
            })
            .as_ref()
    }

    /// Queue request `id` in the kernel, then register it; to a worker when
    /// the kernel refuses it.
    fn submit_kernel(self: &Arc<Self>, id: u64, req: Req) {
        let Some(q) = self.kernel_queue() else {
            return self.register_for_workers(id, req);
        };
        let mut tries = 0;
        loop {
            match q.submit(req.fd, req.op == Op::Write, &req.buf, req.offset, id) {
                Ok(()) => {
                    self.kernel_requests.fetch_add(1, Ordering::Relaxed);
                    return self.register_kernel(id, req);
                }
                // Full (events not reaped yet) or busy: reap once, try again.
                Err(Refused::WouldBlock) if tries == 0 && q.in_flight() > 0 => {
                    tries += 1;
                    self.reap_kernel();
                }
                Err(Refused::WouldBlock) => break,
                Err(Refused::Unsupported(_)) => {
                    // Not for this descriptor (or file system): workers from
                    // now on.
                    self.kinds.set(req.fd, FdKind::Positional { probe: false });
                    break;
                }
            }
        }
        self.register_for_workers(id, req);
    }

    /// Register a request queued in the kernel. Its event may have been
    /// reaped already (kept in `early`): then finish it now, or send it to a
    /// worker if the kernel refused it after all.
    fn register_kernel(self: &Arc<Self>, id: u64, mut req: Req) {
        req.phase = Phase::Kernel;
        let early = {
            let mut st = lock(&self.state);
            st.register(id, &mut req);
            st.reqs.insert(id, req);
            st.early.remove(&id)
        };
        match early {
            None => {}
            Some(KERNEL_REFUSED) => self.to_workers(id),
            Some(status) => {
                let next = self.finish(id, status);
                self.launch(next.into());
            }
        }
    }

    /// Register a direct request that goes to a worker without the kernel
    /// queue, and launch it.
    fn register_for_workers(self: &Arc<Self>, id: u64, mut req: Req) {
        req.phase = Phase::Kernel;
        {
            let mut st = lock(&self.state);
            st.register(id, &mut req);
            st.reqs.insert(id, req);
        }
        self.to_workers(id);
    }

    /// Send registered request `id` (in phase `Kernel`, not in the kernel
    /// queue) to a worker of the `Direct` pool as a chain.
    fn to_workers(self: &Arc<Self>, id: u64) {
        let launch = {
            let mut st = lock(&self.state);
            let Some(r) = st.reqs.get_mut(&id) else {
                return;
            };
            debug_assert!(matches!(r.phase, Phase::Kernel));
            let positional = Some(FdKind::Positional { probe: false });
            match self.build(id, r.fd, r.op, &r.buf, r.offset, positional, true) {
                Ok((batch, _, _, class)) => {
                    r.phase = Phase::Submitting;
                    r.class = class;
                    Ok((id, class, batch))
                }
                Err(e) => Err(e),
            }
        };
        match launch {
            Ok(l) => self.launch_one(l),
            Err(e) => {
                let next = self.finish(id, -(e.raw() as i64));
                self.launch(next.into());
            }
        }
    }

    /// Take the events the kernel queue has and finish their requests (a
    /// request the block layer refused, `-EAGAIN`, goes to a worker).
    /// Returns how many; 0 also when another thread is reaping.
    fn reap_kernel(self: &Arc<Self>) -> usize {
        let Some(Some(q)) = self.kernel.get() else {
            return 0;
        };
        let mut todo = VecDeque::new();
        let mut refused = Vec::new();
        let n = q
            .reap(|id, res| {
                if res == -(libc::EAGAIN as i64) {
                    refused.push(id);
                } else {
                    todo.extend(self.finish_waking(id, res, false));
                }
            })
            .unwrap_or(0);
        if n > refused.len() {
            // One wake-up for the batch (see `finish_waking`).
            completed();
        }
        for id in refused {
            let fd = {
                let mut st = lock(&self.state);
                let fd = st.reqs.get(&id).map(|r| r.fd);
                if fd.is_none() {
                    // Not registered yet: its submitter sends it on.
                    st.early.insert(id, KERNEL_REFUSED);
                }
                fd
            };
            if let Some(fd) = fd {
                // Classified again on its next request: it may not be an
                // O_DIRECT file any more.
                self.kinds.forget(fd);
                self.to_workers(id);
            }
        }
        self.launch(todo);
        n
    }

    /// The kernel queue's reaper: sleeps in `poll` on its eventfd, which
    /// every completion signals, and finishes what the ring holds.
    fn reaper_loop(self: Arc<Self>) {
        // Started from inside the `kernel` initialiser, which stores the
        // queue right after the spawn.
        let q = loop {
            match self.kernel.get() {
                Some(Some(q)) => break q,
                Some(None) => return,
                None => std::thread::yield_now(),
            }
        };
        loop {
            self.reap_kernel();
            if self.stop.load(Ordering::SeqCst) && q.in_flight() == 0 {
                return;
            }
            q.wait(FOREVER);
        }
    }

    /// Submit a request outside any lane before registering it.
    fn fast(self: &Arc<Self>, id: u64, req: Req, batch: Box<ValidatedBatch<'static>>) {
        let class = req.class;
        match self.exec(class).ex.submit_boxed(batch) {
            Ok(SubmittedBox::Done(done)) => {
                let status = done.completion().status();
                if status == -(libc::ESPIPE as i64) && req.positional {
                    // Not seekable after all: register it and let `finish`
                    // turn it into a stream request.
                    self.register_late(id, req, None);
                    let next = self.finish(id, status);
                    if !next.is_empty() {
                        self.launch(next.into());
                    }
                    return;
                }
                let Req {
                    cb, notice, list, ..
                } = req;
                cb.publish(status);
                self.count.fetch_sub(1, Ordering::AcqRel);
                completed();
                self.notify(notice, list);
                self.recycle(done);
            }
            Ok(SubmittedBox::Queued(ticket)) => {
                self.register_late(id, req, Some(ticket));
                self.queued(class);
            }
            // The ring has room for every request (max_requests ≤ ring
            // size), so only a fork can refuse: fail the request.
            Err(_) => {
                self.register_late(id, req, None);
                let next = self.finish(id, -(libc::EAGAIN as i64));
                if !next.is_empty() {
                    self.launch(next.into());
                }
            }
        }
    }

    /// Register a fast-path request after its submission. Its completion may
    /// have been processed already (kept in `early`): then finish it now.
    fn register_late(self: &Arc<Self>, id: u64, mut req: Req, ticket: Option<Ticket>) {
        let early = {
            let mut st = lock(&self.state);
            st.register(id, &mut req);
            if let Some(t) = ticket {
                req.phase = Phase::Queued(t);
            }
            st.reqs.insert(id, req);
            st.early.remove(&id)
        };
        if let Some(status) = early {
            let next = self.finish(id, status);
            if !next.is_empty() {
                self.launch(next.into());
            }
        }
    }

    /// What kind of descriptor `fd` is (cached for positional ones).
    fn classify(&self, fd: i32) -> FdKind {
        if let Some(k) = self.kinds.get(fd) {
            return k;
        }
        match sys::fd_kind(fd) {
            Ok(k) => {
                self.kinds.set(fd, k);
                k
            }
            // A bad descriptor still gets its chain: the atom fails with
            // EBADF and the request reports it, as glibc does.
            Err(_) => FdKind::Positional { probe: true },
        }
    }

    /// The request's chain, the ordered lane it belongs to, and whether it is
    /// positional. `kind` is None for a sync.
    #[expect(
        clippy::too_many_arguments,
        reason = "the request's fields, its kind and whether it may complete inline"
    )]
    fn build(
        &self,
        id: u64,
        fd: i32,
        op: Op,
        buf: &RawBuf,
        offset: i64,
        kind: Option<FdKind>,
        inline: bool,
    ) -> Result<(Box<ValidatedBatch<'static>>, Option<Lane>, bool, Class), Errno> {
        // A direct request's chain (when the kernel queue did not take it)
        // does its own I/O on a worker, like any positional fd without probe.
        let kind = kind.map(|k| match k {
            FdKind::Direct => FdKind::Positional { probe: false },
            k => k,
        });
        let append = matches!((op, kind), (Op::Write, Some(FdKind::Positional { .. })))
            && sys::fd_flags(fd).is_ok_and(|f| f & libc::O_APPEND != 0);
        if let (Op::Read | Op::Write, Some(FdKind::Positional { probe }), false) =
            (op, kind, append)
        {
            // The usual request: a spare batch of its kind, re-aimed.
            let write = op == Op::Write;
            let class = if probe { Class::File } else { Class::Direct };
            let flags = if !probe || !inline || !self.config.inline {
                abi::BATCH_ASYNC
            } else {
                0
            };
            let spare = lock(&self.spares[write as usize]).pop();
            if let Some(mut batch) = spare {
                if buf.aim(&mut batch, &self.policy, fd, offset, id, flags) {
                    return Ok((batch, None, true, class));
                }
            }
        }
        // One atom, no arena buffer (aio_buf is a raw region): no allocation
        // beyond the atom itself.
        let mut chain = Chain::with_capacity(1, 0, 0);
        chain.set_caller_data(id);
        let (lane, asynchronous, positional) = match (op, kind) {
            (Op::Sync { data_only }, _) => {
                if data_only {
                    chain.push(Fdatasync::new(fd));
                } else {
                    chain.push(Fsync::new(fd));
                }
                // A sync has no non-blocking form: straight to a worker.
                (None, true, false)
            }
            (Op::Read, Some(FdKind::Positional { probe })) => {
                let mem = buf.mem(&mut chain);
                chain.push(Pread64::new(fd, mem, offset));
                (None, !probe, true)
            }
            (Op::Write, Some(FdKind::Positional { probe })) => {
                let mem = buf.mem(&mut chain);
                if append {
                    // Appends go where the file ends, in submission order.
                    chain.push(Write::new(fd, mem));
                    (Some(Lane::Writes), !probe, false)
                } else {
                    chain.push(Pwrite64::new(fd, mem, offset));
                    (None, !probe, true)
                }
            }
            (Op::Read, _) => {
                let mem = buf.mem(&mut chain);
                chain.push(Read::new(fd, mem));
                let probe = matches!(kind, Some(FdKind::Stream { probe: true }));
                (Some(Lane::Reads), !probe, false)
            }
            (Op::Write, _) => {
                let mem = buf.mem(&mut chain);
                chain.push(Write::new(fd, mem));
                let probe = matches!(kind, Some(FdKind::Stream { probe: true }));
                (Some(Lane::Writes), !probe, false)
            }
        };
        let class = if lane.is_some() && !positional && matches!(kind, Some(FdKind::Stream { .. }))
        {
            Class::Stream
        } else if asynchronous {
            Class::Direct
        } else {
            Class::File
        };
        if asynchronous || !inline || !self.config.inline {
            chain.set_flags(abi::BATCH_ASYNC);
        }
        let batch = chain.prepare(&self.policy).map_err(|_| Errno::EINVAL)?;
        Ok((Box::new(batch), lane, positional, class))
    }

    /// Keep a finished batch as a spare if it is a one-atom `pread64` or
    /// `pwrite64` (the chains of the fast path), else drop it.
    fn recycle(&self, batch: Box<ValidatedBatch<'static>>) {
        if batch.len() != 1 {
            return;
        }
        let write = match batch.step(0).sig().io {
            Io::Pread => false,
            Io::Pwrite => true,
            _ => return,
        };
        let mut spares = lock(&self.spares[write as usize]);
        if spares.len() < SPARES {
            spares.push(batch);
        }
    }

    /// [`launch`](Self::launch) one batch (the common case: nothing queued).
    fn launch_one(self: &Arc<Self>, l: Launch) {
        let next = self.submit_batch(l);
        if !next.is_empty() {
            self.launch(next.into());
        }
    }

    /// Hand batches to their executors; process those that complete inline,
    /// and whatever their completion releases.
    fn launch(self: &Arc<Self>, mut todo: VecDeque<Launch>) {
        while let Some(l) = todo.pop_front() {
            todo.extend(self.submit_batch(l));
        }
    }

    /// Submit the batch of request `id`; returns what its inline completion
    /// released.
    fn submit_batch(self: &Arc<Self>, (id, class, batch): Launch) -> Vec<Launch> {
        match self.exec(class).ex.submit_boxed(batch) {
            Ok(SubmittedBox::Done(done)) => {
                let next = self.finish(id, done.completion().status());
                self.recycle(done);
                next
            }
            Ok(SubmittedBox::Queued(ticket)) => {
                {
                    let mut st = lock(&self.state);
                    if let Some(r) = st.reqs.get_mut(&id) {
                        if matches!(r.phase, Phase::Submitting) {
                            r.phase = Phase::Queued(ticket);
                        }
                    }
                }
                self.queued(class);
                Vec::new()
            }
            // The ring has room for every request (max_requests ≤ ring
            // size), so only a fork can refuse: fail the request.
            Err(_) => self.finish(id, -(libc::EAGAIN as i64)),
        }
    }

    /// The completion hook of executor `class`: finish the request of a
    /// chain that a worker just ran, on that worker (no completion thread),
    /// when that needs nothing a seccomp-filtered worker may not do and
    /// releases no other request (docs/aio.md, "Who publishes"):
    ///
    /// * the request is registered (a fast-path request whose submitter has
    ///   not registered it yet goes through the ring and `early`);
    /// * not `ESPIPE` (the stream fallback resubmits: may start workers);
    /// * no ordering lane, no list, and for a data request no `aio_fsync`
    ///   waiting on its fd: then `retire` releases nothing (no launch, which
    ///   may start threads);
    /// * its notification is none, a signal (the validated
    ///   `rt_tgsigqueueinfo` chain, which the workers' filter allows for this
    ///   process), or a `SIGEV_THREAD` function while the notifier thread
    ///   runs (queueing starts no thread).
    ///
    /// Anything else is given back (counted for the completion thread, which
    /// is woken) and posted to the ring as before.
    fn deliver(
        &self,
        class: Class,
        batch: Box<ValidatedBatch<'static>>,
        retire: &Retire<'_>,
    ) -> Option<Box<ValidatedBatch<'static>>> {
        let c = batch.completion();
        let (id, status) = (c.caller_data(), c.status());
        if status == -(libc::ESPIPE as i64) {
            return self.hand_back(class, batch);
        }
        let notice = {
            let mut st = lock(&self.state);
            let Some(r) = st.reqs.get(&id) else {
                drop(st);
                return self.hand_back(class, batch);
            };
            let releases = r.lane.is_some()
                || r.list.is_some()
                || (!r.sync() && st.fds.get(&r.fd).is_some_and(|f| !f.syncs.is_empty()));
            let notice_ok = match r.notice {
                Notice::None | Notice::Signal(_) => true,
                Notice::Thread { .. } => self.notifier.running(),
            };
            if releases || !notice_ok {
                drop(st);
                return self.hand_back(class, batch);
            }
            let mut req = st.reqs.remove(&id).expect("looked up above");
            st.by_addr.remove(&req.cb.addr());
            let next = st.retire(id, &req);
            debug_assert!(next.is_empty(), "a delivered request released {next:?}");
            // The credit before the outcome: the submitter may submit again
            // as soon as it sees it.
            retire.now();
            // Published under the lock, as in `finish`.
            let notice = std::mem::replace(&mut req.notice, Notice::None);
            req.cb.publish(status);
            self.count.fetch_sub(1, Ordering::AcqRel);
            notice
        };
        self.delivered.fetch_add(1, Ordering::Relaxed);
        completed();
        notice.fire(&self.notifier);
        self.recycle(batch);
        None
    }

    /// A finished chain the hook does not deliver: count it for the
    /// completion thread of `class` and wake it; the executor posts it.
    fn hand_back(
        &self,
        class: Class,
        batch: Box<ValidatedBatch<'static>>,
    ) -> Option<Box<ValidatedBatch<'static>>> {
        self.exec(class).expect_from_ring();
        Some(batch)
    }

    /// Finish request `id` with `status` (≥ 0 or `-errno`): publish, wake,
    /// notify. Returns what may run now. A stale id (cancelled earlier) is
    /// ignored. A positional request that failed with `ESPIPE` goes again as
    /// a stream request instead.
    fn finish(&self, id: u64, status: i64) -> Vec<Launch> {
        self.finish_waking(id, status, true)
    }

    /// [`finish`](Self::finish); with `wake` false the waiters of
    /// [`DONE_SEQ`] are not woken: the caller calls [`completed`] once for a
    /// batch of requests (a waiter woken for the first would otherwise
    /// preempt the thread finishing the rest).
    fn finish_waking(&self, id: u64, status: i64, wake: bool) -> Vec<Launch> {
        let (notice, list, next) = {
            let mut st = lock(&self.state);
            let Some(mut req) = st.reqs.remove(&id) else {
                // Cancelled while queued (published then), or a fast-path
                // request its submitter has not registered yet.
                if st.canceled.remove(&id).is_none() {
                    st.early.insert(id, status);
                }
                return Vec::new();
            };
            if status == -(libc::ESPIPE as i64) && req.positional {
                return self.as_stream(&mut st, id, req).into_iter().collect();
            }
            st.by_addr.remove(&req.cb.addr());
            let next: Vec<_> = st
                .retire(id, &req)
                .into_iter()
                .filter_map(|n| st.take_held(n))
                .collect();
            let notice = std::mem::replace(&mut req.notice, Notice::None);
            let list = req.list.take();
            // Published under the lock, so that aio_cancel's AIO_ALLDONE
            // always comes after the outcome is visible.
            req.cb.publish(status);
            self.count.fetch_sub(1, Ordering::AcqRel);
            (notice, list, next)
        };
        if wake {
            completed();
        }
        self.notify(notice, list);
        next
    }

    /// Put a positional request that met `ESPIPE` back as a stream request
    /// (`read`/`write`, in its fd's lane). Returns it if it may run now.
    fn as_stream(&self, st: &mut State, id: u64, mut req: Req) -> Option<Launch> {
        self.kinds.forget(req.fd);
        let stream = Some(FdKind::Stream { probe: false });
        let (batch, lane, _, class) = self
            .build(id, req.fd, req.op, &req.buf, req.offset, stream, true)
            .expect("a chain that validated once validates again");
        req.positional = false;
        req.lane = lane;
        req.class = class;
        let lane = lane.expect("stream requests have a lane");
        let fs = st.fds.entry(req.fd).or_default();
        if fs.enter_lane(lane, id) {
            req.phase = Phase::Submitting;
            st.reqs.insert(id, req);
            Some((id, class, batch))
        } else {
            req.phase = Phase::Held(batch);
            st.reqs.insert(id, req);
            None
        }
    }

    #[inline]
    fn notify(&self, notice: Notice, list: Option<Arc<List>>) {
        if !matches!(notice, Notice::None) {
            notice.fire(&self.notifier);
        }
        if let Some(l) = list {
            l.done(&self.notifier);
        }
    }

    /// One more submission is queued in executor `class`: make sure its
    /// completion thread runs. (It is counted in `pending`, and woken, only
    /// if its completion goes through the ring: when the completion hook
    /// gives it back, or when it is cancelled before it started.)
    fn queued(self: &Arc<Self>, class: Class) {
        let started = &self.exec(class).started;
        if !started.load(Ordering::Acquire) {
            self.start_completer(class);
            if !started.load(Ordering::Acquire) {
                // No thread could be started: reap here what is posted
                // already (a chain no worker could be started for was
                // failed and posted before `submit` returned).
                self.drain(class);
            }
        }
    }

    fn start_completer(self: &Arc<Self>, class: Class) {
        let e = self.exec(class);
        let mut slot = lock(&e.completer);
        if slot.is_some() {
            return;
        }
        let me = Arc::clone(self);
        let spawned = sys::with_signals_blocked(|| {
            std::thread::Builder::new()
                .name("aio-complete".into())
                .spawn(move || me.completion_loop(class))
        });
        if let Ok(h) = spawned {
            *slot = Some(h);
            e.started.store(true, Ordering::Release);
        }
        // Otherwise: retried on the next submission (and aio_cancel and
        // close reap too, see `drain`).
    }

    fn completion_loop(self: Arc<Self>, class: Class) {
        let e = self.exec(class);
        loop {
            e.sleeping.store(true, Ordering::SeqCst);
            let bell = e.doorbell.load(Ordering::SeqCst);
            let pending = e.pending.load(Ordering::SeqCst) as i32;
            let stop = self.stop.load(Ordering::SeqCst);
            if pending <= 0 {
                if stop {
                    e.sleeping.store(false, Ordering::SeqCst);
                    return;
                }
                sys::futex_wait(&e.doorbell, bell, FOREVER);
                e.sleeping.store(false, Ordering::SeqCst);
                continue;
            }
            e.sleeping.store(false, Ordering::SeqCst);
            // Pending > 0: a completion is posted or on its way (the executor
            // counts it in flight), so this returns once one is ready.
            let _ = e.ex.wait(1, Some(Duration::from_millis(100)));
            self.drain(class);
        }
    }

    /// Reap every completion posted by executor `class` and finish its
    /// request. Returns how many.
    fn drain(self: &Arc<Self>, class: Class) -> usize {
        let e = self.exec(class);
        let mut done = Vec::new();
        {
            let _g = lock(&e.reap_lock);
            if e.ex.reap_boxed(&mut done).is_err() {
                return 0;
            }
        }
        let n = done.len();
        if n == 0 {
            return 0;
        }
        let mut todo = VecDeque::new();
        for d in done {
            let c = d.completion();
            todo.extend(self.finish_waking(c.caller_data(), c.status(), false));
            self.recycle(d);
        }
        // One wake-up for the whole batch (see `finish_waking`).
        completed();
        e.pending.fetch_sub(n as u32, Ordering::SeqCst);
        self.launch(todo);
        n
    }

    /// [`drain`](Self::drain) every executor.
    fn drain_all(self: &Arc<Self>) {
        for c in CLASSES {
            self.drain(c);
        }
    }

    /// Cancel the request on the aiocb at `addr`, or (None) every request on
    /// `fd`.
    pub(crate) fn cancel(self: &Arc<Self>, fd: i32, addr: Option<usize>) -> Result<Cancel, Errno> {
        // Requests the kernel finished are done, not "not cancelled".
        self.reap_kernel();
        let mut canceled = 0usize;
        let mut not_canceled = false;
        // Requests that finished running but whose outcome may not be
        // published yet (in the ring, or being delivered by a worker).
        let mut in_ring = Vec::new();
        let mut stopping = Vec::new();
        let mut fired = Vec::new();
        let mut next = VecDeque::new();
        {
            let mut st = lock(&self.state);
            let ids: Vec<u64> = match addr {
                Some(a) => st.by_addr.get(&a).copied().into_iter().collect(),
                None => {
                    let mut v: Vec<u64> = st
                        .reqs
                        .iter()
                        .filter(|(_, r)| r.fd == fd)
                        .map(|(&id, _)| id)
                        .collect();
                    v.sort_unstable();
                    v
                }
            };
            // Later requests first, so that cancelling a held request never
            // launches another one that is about to be cancelled too.
            for &id in ids.iter().rev() {
                let Some(r) = st.reqs.get(&id) else { continue };
                if r.fd != fd {
                    return Err(Errno::EINVAL);
                }
                let cancel_now = match r.phase {
                    Phase::Held(_) => true,
                    // At the device: the kernel cannot cancel file I/O.
                    Phase::Submitting | Phase::Kernel => false,
                    Phase::Queued(t) => match self.exec(r.class).ex.cancel_sure(t) {
                        // Its canceled completion is posted (not through the
                        // hook: counted for the completion thread here); it
                        // is finished here, and the ring entry found stale.
                        Ok((Canceled::NotStarted, _)) => {
                            self.exec(r.class).expect_from_ring();
                            true
                        }
                        Ok((Canceled::NotFound, _)) => {
                            in_ring.push((id, t));
                            continue;
                        }
                        // Taken by a worker that will not begin its atom: it
                        // ends with ECANCELED through the usual delivery,
                        // waited for below, so the answer is AIO_CANCELED.
                        Ok((Canceled::Requested, true)) => {
                            stopping.push((id, t));
                            continue;
                        }
                        // One atom: a running chain completes normally.
                        Ok((Canceled::Requested, false)) | Err(_) => false,
                    },
                };
                if !cancel_now {
                    not_canceled = true;
                    continue;
                }
                let req = st.reqs.remove(&id).expect("looked up above");
                if matches!(req.phase, Phase::Queued(_)) {
                    // Its cancelled completion comes through the ring later.
                    st.canceled.insert(id, ());
                }
                st.by_addr.remove(&req.cb.addr());
                for n in st.retire(id, &req) {
                    if !ids.contains(&n) {
                        next.extend(st.take_held(n));
                    }
                }
                let Req {
                    cb, notice, list, ..
                } = req;
                cb.publish(-(libc::ECANCELED as i64));
                self.count.fetch_sub(1, Ordering::AcqRel);
                fired.push((notice, list));
                canceled += 1;
            }
        }
        if canceled > 0 {
            completed();
        }
        for (notice, list) in fired {
            self.notify(notice, list);
        }
        self.launch(next);
        // Finished but not published yet: process what is in the rings, and
        // wait for what a worker is delivering, so that the outcome is
        // visible when AIO_ALLDONE (or AIO_CANCELED) is returned.
        canceled += stopping.len();
        in_ring.append(&mut stopping);
        while !in_ring.is_empty() {
            self.drain_all();
            let seen = DONE_SEQ.load(Ordering::SeqCst);
            {
                let st = lock(&self.state);
                in_ring.retain(|(id, t)| {
                    st.reqs
                        .get(id)
                        .is_some_and(|r| matches!(r.phase, Phase::Queued(q) if q == *t))
                });
            }
            if in_ring.is_empty() {
                break;
            }
            DONE_WAITERS.fetch_add(1, Ordering::SeqCst);
            sys::futex_wait(&DONE_SEQ, seen, Duration::from_millis(1));
            DONE_WAITERS.fetch_sub(1, Ordering::SeqCst);
        }
        Ok(if not_canceled {
            Cancel::NotCanceled
        } else if canceled > 0 {
            Cancel::Canceled
        } else {
            Cancel::AllDone
        })
    }

    /// Stop accepting requests, cancel what can be, wait for the rest, and
    /// stop the completion and notifier threads.
    pub(crate) fn close(self: &Arc<Self>) {
        if !self.current() {
            return;
        }
        self.closing.store(true, Ordering::SeqCst);
        let fds: BTreeSet<i32> = lock(&self.state).reqs.values().map(|r| r.fd).collect();
        for fd in fds {
            let _ = self.cancel(fd, None);
        }
        while self.outstanding() > 0 {
            self.reap_kernel();
            for c in CLASSES {
                if !self.exec(c).started.load(Ordering::Acquire) {
                    self.drain(c);
                }
            }
            let seen = DONE_SEQ.load(Ordering::SeqCst);
            if self.outstanding() == 0 {
                break;
            }
            DONE_WAITERS.fetch_add(1, Ordering::SeqCst);
            sys::futex_wait(&DONE_SEQ, seen, Duration::from_millis(20));
            DONE_WAITERS.fetch_sub(1, Ordering::SeqCst);
        }
        // A worker delivering the last request may still hold a reference to
        // the engine (and be about to fire its notification): let it finish,
        // so that the last reference is never dropped on a worker (whose
        // executor would then join itself) and the notifier stops after it.
        while self.hooks.load(Ordering::SeqCst) > 0 {
            std::thread::yield_now();
        }
        self.stop.store(true, Ordering::SeqCst);
        if let Some(Some(q)) = self.kernel.get() {
            q.wake();
        }
        let reaper = lock(&self.reaper).take();
        if let Some(h) = reaper {
            let _ = h.join();
        }
        for e in &self.execs {
            e.ring_doorbell();
            let handle = lock(&e.completer).take();
            if let Some(h) = handle {
                let _ = h.join();
            }
        }
        // Completions of cancelled chains may still sit in the rings (stale).
        self.drain_all();
        self.notifier.stop();
    }
}

/// The engine's settings from `aio_init`, for the process-wide engine.
pub(crate) static INIT_THREADS: AtomicU32 = AtomicU32::new(0);
/// `aio_num` of `aio_init` (0: default).
pub(crate) static INIT_NUM: AtomicU32 = AtomicU32::new(0);
/// `aio_idle_time` of `aio_init` in seconds (0: default).
pub(crate) static INIT_IDLE: AtomicU32 = AtomicU32::new(0);
