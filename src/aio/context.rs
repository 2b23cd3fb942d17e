//! AIO contexts: [`Aio`], its configuration [`AioBuilder`] and defaults,
//! and glibc's [`aio_init`] for the process-wide one. The POSIX functions
//! on them are in `api`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::engine::{self, Config, Engine};
use crate::errno::Errno;

/// glibc's `struct aioinit`, the argument of [`aio_init`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AioInit {
    /// Most worker threads per pool (0: the defaults, see [`AioBuilder::workers`]).
    pub aio_threads: i32,
    /// Most requests in flight (0: the default, 4096).
    pub aio_num: i32,
    /// Unused.
    pub aio_locks: i32,
    /// Unused.
    pub aio_usedba: i32,
    /// Unused.
    pub aio_debug: i32,
    /// Unused.
    pub aio_numusers: i32,
    /// Seconds an idle worker waits before it exits (0: the default, 1).
    pub aio_idle_time: i32,
    /// Unused.
    pub aio_reserved: i32,
}

/// Configure the process-wide engine that [`aio_read`](super::aio_read) and the other free
/// functions use (as glibc's [aio_init(3)]). Only effective before the first
/// request; later calls are ignored.
///
/// [aio_init(3)]: https://man7.org/linux/man-pages/man3/aio_init.3.html
pub fn aio_init(init: &AioInit) {
    if init.aio_threads > 0 {
        engine::INIT_THREADS.store(init.aio_threads as u32, Ordering::Relaxed);
    }
    if init.aio_num > 0 {
        engine::INIT_NUM.store(init.aio_num as u32, Ordering::Relaxed);
    }
    if init.aio_idle_time > 0 {
        engine::INIT_IDLE.store(init.aio_idle_time as u32, Ordering::Relaxed);
    }
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Workers for requests that do their own I/O: ten per CPU, 16 to 64. (Six
/// per CPU was best while a completion thread relayed every outcome; with
/// workers publishing their own, 20-24 on 2 CPUs beat 12 by ~15% for
/// `O_DIRECT` reads at depth 32, docs/aio.md.)
fn default_workers() -> usize {
    (10 * cpus()).clamp(16, 64)
}

/// Workers for file reads and writes the probe covers: one per two CPUs, 1
/// to 32. A read reaches one of them only after its probe missed and started
/// the I/O, so a worker waits for pages already on their way, mostly one
/// after another; more workers than that only add context switches
/// (docs/perf-aio.md, "Cold buffered").
fn default_file_workers() -> usize {
    (cpus() / 2).clamp(1, 32)
}

/// Workers for file reads and writes sent to a worker unprobed (larger than
/// the inline budget, or inline completion off): two per CPU, 4 to 64, so
/// that large cached copies run on every CPU without a thread per request
/// (BENCHMARKS.md: 1 MiB reads at depth 8 lost 16 % with the direct pool's).
fn default_copy_workers() -> usize {
    (2 * cpus()).clamp(4, 64)
}

/// The default [`AioBuilder::inline_budget`].
pub const DEFAULT_INLINE_BUDGET: usize = 128 << 10;

/// Configuration of an [`Aio`].
#[derive(Clone, Debug)]
pub struct AioBuilder {
    pub(super) config: Config,
}

impl Default for AioBuilder {
    fn default() -> Self {
        AioBuilder {
            config: Config {
                max_requests: 4096,
                workers: default_workers(),
                file_workers: default_file_workers(),
                copy_workers: default_copy_workers(),
                stream_workers: 64,
                idle_timeout: Duration::from_secs(1),
                inline: true,
                kernel_aio: true,
                inline_budget: DEFAULT_INLINE_BUDGET,
            },
        }
    }
}

impl AioBuilder {
    /// Most requests submitted and not yet returned (by `aio_return`, or a
    /// new request on the same aiocb), as POSIX's `AIO_MAX`; one more is
    /// refused with `EAGAIN` (default 4096). Under the preload
    /// `sysconf(_SC_AIO_MAX)` reports it.
    pub fn max_requests(mut self, n: usize) -> Self {
        self.config.max_requests = n.max(1);
        self
    }

    /// Most worker threads per pool (default: ten per CPU (16 to 64) for
    /// requests that do their own I/O — `O_DIRECT`, syncs, character devices
    /// —; one per two CPUs (1 to 32) for file reads and writes whose inline
    /// probe missed, which already started the read, so that a worker only
    /// waits for it; two per CPU (4 to 64) for file reads and writes sent to
    /// a worker unprobed (larger than the inline budget, or with inline
    /// completion off), to copy on another CPU; 64 for pipes and sockets,
    /// which may block for ever and have a pool of their own). A worker runs
    /// one blocking call at a time; more workers than the I/O needs mostly
    /// cost context switches (docs/perf-aio.md). This sets the first three
    /// pools to `n` (and the last to at least `n`).
    pub fn workers(mut self, n: usize) -> Self {
        let n = n.max(1);
        self.config.workers = n;
        self.config.file_workers = n;
        self.config.copy_workers = n;
        self.config.stream_workers = self.config.stream_workers.max(n);
        self
    }

    setters! {
        /// How long an idle worker waits for work before it exits (default 1 s).
        idle_timeout(d: Duration) => config.idle_timeout = d;

        /// Whether requests may complete inline in the submitting thread when
        /// they would not block (default true). With false, every request goes
        /// to a worker (`BATCH_ASYNC`), as glibc does.
        inline(yes: bool) => config.inline = yes;

        /// Bytes of file reads and writes that one call may complete inline, in
        /// the submitting thread (default [`DEFAULT_INLINE_BUDGET`], 128 KiB):
        /// a request larger than this, and the members of a [`lio_listio`](super::lio_listio)
        /// beyond it (in list order), go to a worker even when the data is
        /// cached, so that a large copy overlaps with the caller's own work (its
        /// `aio_error` says `EINPROGRESS`) and uses another core. 0 sends every
        /// file request to a worker (as [`inline(false)`](Self::inline) does);
        /// `usize::MAX` lets any cached request complete inline. For the
        /// process-wide context (and so the `LD_PRELOAD` library) the
        /// environment variable `SYSLETS_AIO_INLINE_BUDGET` (bytes) sets it.
        inline_budget(bytes: usize) => config.inline_budget = bytes;

        /// Whether `O_DIRECT` reads and writes are queued in the kernel with
        /// [io_submit(2)] (default true): the device gets the request without a
        /// worker thread carrying it, and one thread reaps the completions. With
        /// false — or when the kernel refuses (no kernel AIO, the system-wide
        /// limit `/proc/sys/fs/aio-max-nr` reached, a request that would block) —
        /// a worker does the I/O.
        ///
        /// [io_submit(2)]: https://man7.org/linux/man-pages/man2/io_submit.2.html
        kernel_aio(yes: bool) => config.kernel_aio = yes;
    }

    /// Make the context. No thread starts until a request goes to a worker.
    pub fn build(self) -> Result<Aio, Errno> {
        Ok(Aio {
            engine: Engine::new(self.config)?,
        })
    }
}

/// An AIO context: its own executor, workers, completion thread and notifier
/// thread. The free functions ([`aio_read`](super::aio_read), …) use a process-wide one;
/// an `Aio` of your own is shut down, with all its threads joined, when
/// dropped (see the module docs).
#[derive(Debug)]
pub struct Aio {
    pub(super) engine: Arc<Engine>,
}

impl Default for Aio {
    fn default() -> Self {
        Aio::new()
    }
}

impl Aio {
    /// A context with the default configuration.
    pub fn new() -> Aio {
        AioBuilder::default()
            .build()
            .expect("the default configuration is valid")
    }

    /// Configure one.
    pub fn builder() -> AioBuilder {
        AioBuilder::default()
    }

    /// Requests submitted and not finished.
    pub fn in_flight(&self) -> usize {
        self.engine.outstanding()
    }

    /// Requests waiting behind an earlier request of their descriptor (the
    /// per-descriptor FIFO, or an `aio_fsync` barrier).
    pub fn held(&self) -> usize {
        self.engine.held()
    }

    /// Requests queued in the kernel with `io_submit` (see
    /// [`AioBuilder::kernel_aio`]); a statistic, for tests and benchmarks.
    pub fn kernel_requests(&self) -> u64 {
        self.engine.kernel_requests()
    }

    /// Worker threads alive now.
    pub fn workers(&self) -> usize {
        self.engine.workers()
    }

    /// Requests whose outcome was published by the worker that ran them,
    /// without the completion thread (see "Completion" in the module docs);
    /// a statistic, for tests and benchmarks.
    pub fn completed_by_workers(&self) -> u64 {
        self.engine.delivered()
    }
}

impl Drop for Aio {
    fn drop(&mut self) {
        self.engine.close();
    }
}
