//! The request engine behind [`Aio`](super::Aio): one chain per request,
//! per-descriptor ordering, completion processing and notifications. This
//! file holds the engine type, its construction and its shutdown; each
//! concept it wires together has a module of its own:
//!
//! ```text
//! submit ─► classify fd (fdkind) ─► chain (chains, recycle: pread64 | pwrite64 | read
//!           | write | fsync | fdatasync), or the kernel queue for O_DIRECT (kernel_queue)
//!        ─► register (requests: the table; lanes: per-fd lanes and fsync barriers)
//!        ─► Executor::submit (port: every call into the executor)
//!             ├─ Done (inline, RWF_NOWAIT satisfied it) ─► finish
//!             └─ Queued ─► worker ─► completion hook: deliver (hook; the common case)
//!                                  └─ or given back ─► ring ─► completion thread (pools) ─► finish
//! finish ─► publish into the aiocb ─► wake aio_suspend (wake) ─► notify (notify: signal
//!           chain, notifier thread; list: lio_listio) ─► launch what waited on the same fd
//! cancel ─► cancel what is held or not started, wait for what is finishing (cancel)
//! ```
//!
//! Everything here is safe code: the aiocb and `aio_buf` are reached only
//! through [`CbPtr`](crate::aio::cb::CbPtr) and [`RawBuf`](crate::aio::cb::RawBuf),
//! whose constructors carry the contracts.

use std::collections::BTreeSet;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

mod cancel;
mod chains;
mod fdkind;
mod finish;
mod hash;
mod hook;
mod kernel_queue;
mod lanes;
mod list;
mod notify;
mod pools;
mod port;
mod recycle;
mod requests;
mod submit;
mod wake;

pub use cancel::Cancel;
pub(crate) use list::List;
pub(crate) use notify::Notifier;
pub(crate) use requests::{Op, Request};
pub(crate) use wake::wait_until;

use super::cb::Quota;
use super::sys;
use crate::confine::policy::Policy;
use crate::errno::Errno;
use crate::sys::kernel_aio::KernelQueue;
use fdkind::KindCache;
use pools::{Class, Exec, CLASSES};
use recycle::Spares;
use requests::{Phase, State};

/// Configuration of an engine.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Config {
    pub max_requests: usize,
    /// Workers of the `Direct` pool (and the cap of the `File` pool).
    pub workers: usize,
    /// Workers of the `File` pool.
    pub file_workers: usize,
    /// Workers of the `Copy` pool.
    pub copy_workers: usize,
    /// Workers of the `Stream` pool.
    pub stream_workers: usize,
    pub idle_timeout: Duration,
    pub inline: bool,
    /// Queue `O_DIRECT` reads and writes in the kernel (`io_submit`).
    pub kernel_aio: bool,
    /// Bytes one call may complete inline (see [`Engine::submit`]).
    pub inline_budget: usize,
}

/// The engine: the executors, the request table and the completion threads.
#[derive(Debug)]
pub(crate) struct Engine {
    execs: [Exec; 4],
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
    /// Finished one-atom `pread64` and `pwrite64` batches, re-aimed at the
    /// next request of their kind (see `recycle`).
    spares: Spares,
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

impl Engine {
    /// An engine, its executors' completion hooks installed.
    pub(crate) fn new(config: Config) -> Result<Arc<Engine>, Errno> {
        let engine = Arc::new(Engine::bare(config)?);
        engine.install_hooks();
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
                Exec::new(ring, config.copy_workers, idle)?,
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
            spares: Spares::default(),
            generation: port::generation(),
            hooks: Arc::new(AtomicU32::new(0)),
            delivered: AtomicU64::new(0),
            kernel: OnceLock::new(),
            reaper: Mutex::new(None),
            kernel_requests: AtomicU64::new(0),
        })
    }

    #[inline]
    fn exec(&self, class: Class) -> &Exec {
        &self.execs[class as usize]
    }

    /// Whether this engine was made in this process (not before a fork).
    pub(crate) fn current(&self) -> bool {
        self.generation == port::generation()
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
        self.execs.iter().map(|e| port::workers(&e.ex)).sum()
    }

    /// Whether a request is in flight on the aiocb at `addr`.
    pub(crate) fn busy(&self, addr: usize) -> bool {
        lock(&self.state).by_addr.contains_key(&addr)
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
            let seen = wake::seen();
            if self.outstanding() == 0 {
                break;
            }
            wake::sleep_since(seen, Duration::from_millis(20));
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

/// Lock `m`, ignoring poisoning (as every lock of the engine does).
#[inline]
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Start one of the engine's threads (`aio-complete`, `aio-notify`,
/// `aio-kernel`) with every signal blocked, so that no signal meant for
/// the application is ever delivered to it.
fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> io::Result<JoinHandle<()>> {
    sys::with_signals_blocked(|| std::thread::Builder::new().name(name.into()).spawn(f))
}
