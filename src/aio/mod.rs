//! POSIX asynchronous I/O ([aio(7)]) on syslets: every request is a chain,
//! run inline when the data is cached and on a cachemiss worker otherwise.
//!
//! The functions have the POSIX shape and semantics — [`aio_read`] ([aio_read(3)]),
//! [`aio_write`] ([aio_write(3)]), [`aio_fsync`] ([aio_fsync(3)]), [`aio_error`]
//! ([aio_error(3)]), [`aio_return`] ([aio_return(3)]), [`aio_suspend`]
//! ([aio_suspend(3)]), [`aio_cancel`] ([aio_cancel(3)]), [`lio_listio`]
//! ([lio_listio(3)]) and [`aio_init`] ([aio_init(3)]) — on glibc's
//! [`libc::aiocb`], with errors as [`Errno`]. With the `c-abi` feature the
//! cdylib exports them with C linkage (`aio_read`, `aio_read64`, …), so that
//! `LD_PRELOAD=libsyslets.so` replaces glibc's AIO in an unmodified program.
//!
//! ```text
//! aio_read(cb) ─► chain: pread64(fd, aio_buf, aio_nbytes, aio_offset)
//!               ─► Executor::submit ─► inline: RWF_NOWAIT read satisfied it, done
//!                                    └► worker (publishes) or ─► ring ─► completion thread
//!               ─► outcome published in the aiocb ─► aio_suspend wakes
//!               ─► notification: SIGEV_SIGNAL (rt_tgsigqueueinfo atom),
//!                  SIGEV_THREAD (the notifier thread)
//! ```
//!
//! # What runs where
//!
//! * **One chain per request**: `pread64`/`pwrite64` on seekable descriptors,
//!   `read`/`write` on pipes, sockets and terminals, `fsync`/`fdatasync` for
//!   [`aio_fsync`] (`O_SYNC`/`O_DSYNC`). The caller's `aio_buf` is reached in
//!   place (a raw region of the chain), under the POSIX contract that it stays
//!   valid until the request completes.
//! * **Concurrency**: requests on different descriptors, and reads and
//!   positional writes on the same seekable descriptor, run concurrently (glibc
//!   runs one request per descriptor at a time). Writes to an `O_APPEND`
//!   descriptor, and reads (writes) of a pipe or socket, run one at a time in
//!   submission order — a FIFO per descriptor and direction. An `aio_fsync`
//!   starts once every data request submitted before it on its descriptor has
//!   completed.
//! * **Inline fast path**: a request whose `RWF_NOWAIT` probe succeeds (cached
//!   file data, a socket with data waiting) completes inside `aio_read` without
//!   any thread hand-off; [`aio_error`] then already says 0. A request outside
//!   any ordering lane does not even take a lock: it claims its aiocb with a
//!   compare-and-swap and enters the request table only if it went to a worker.
//! * **Completion**: the outcome is stored in the aiocb itself (glibc's private
//!   `__error_code`/`__return_value` and the padding after them) by one
//!   release store, so [`aio_error`], [`aio_return`] and [`aio_suspend`] take
//!   no lock and are async-signal-safe. A request that went to a worker is
//!   usually published by that worker itself, right after its call returned;
//!   one that needs more than a worker may do (starting the `SIGEV_THREAD`
//!   notifier, releasing requests held behind it, a list) is reaped by a
//!   completion thread (started on first need).
//! * **Three worker pools** (executors): file reads and writes the probe
//!   covers (for uncached data the probe already started the read, so a few
//!   workers only wait for pages), requests that do their own I/O on a worker
//!   (`O_DIRECT`, syncs, character devices: one worker per request in
//!   flight), and pipes and sockets (which may wait for ever, so they never
//!   take every worker from file I/O). See [`AioBuilder::workers`].
//!
//! # Notifications
//!
//! * `SIGEV_NONE`: nothing; nor `SIGEV_SIGNAL` with signal 0 (what an aiocb
//!   cleared with `memset` asks for).
//! * `SIGEV_SIGNAL`: the signal is queued with `si_code = SI_ASYNCIO`,
//!   `si_value = sigev_value`, `si_pid`/`si_uid` of this process, by a
//!   one-atom chain `rt_tgsigqueueinfo(getpid(), getpid(), signo, &info)` (the
//!   `siginfo_t` in the chain's arena) built and validated at submission — a
//!   bad signal number is refused then with `EINVAL`. It runs *after* the
//!   outcome is published, not as an atom appended to the data chain: a
//!   handler calling [`aio_error`] must never see `EINPROGRESS` for the request
//!   it is told about, and an atom after `pread64` would signal before
//!   anything outside the chain could see `pread64`'s result (this ABI has no
//!   v6 `ret_ptr` to store it). The signal is directed at the main thread (the
//!   policy allows signals to this process's own threads only; a
//!   process-directed `rt_sigqueueinfo` is not in the signature table).
//!   `SIGEV_THREAD_ID` (Linux) directs it at `sigev_notify_thread_id`.
//! * `SIGEV_THREAD`: `sigev_notify_function(sigev_value)` is called on the
//!   notifier thread — one per [`Aio`], started on first need, with every
//!   signal blocked — not on a new thread per completion. Functions run one
//!   at a time in completion order; one that blocks delays the next.
//!   `sigev_notify_attributes` is ignored.
//! * [`lio_listio`] with `LIO_NOWAIT` fires the list-wide `sigevent` once every
//!   member has completed, in addition to each member's own `aio_sigevent`.
//!
//! # Errors (beyond the obvious)
//!
//! * `EINVAL`, synchronously: `aio_reqprio` outside `0..=AIO_PRIO_DELTA_MAX`, a
//!   negative `aio_offset`, `aio_nbytes` above `SSIZE_MAX` or past the largest
//!   offset, a bad `sigevent`, an aiocb already in progress. The aiocb then
//!   also says `EINVAL` and [`aio_return`] gives -1, as in glibc.
//! * `EBADF`: a request on a bad descriptor is accepted and completes with
//!   `EBADF` (as in glibc); [`aio_fsync`] and [`aio_cancel`] check the
//!   descriptor at once.
//! * `EAGAIN`: [`AioBuilder::max_requests`] requests submitted and not yet
//!   returned ([`aio_return`], or a new request on the same aiocb).
//! * [`aio_return`] on a request that is unfinished, already returned, or was
//!   never submitted gives `EINVAL` (POSIX allows it; glibc returns whatever
//!   the aiocb holds).
//! * [`lio_listio`] gives `EIO` when a member could not be submitted or (with
//!   `LIO_WAIT`) failed; glibc gives the member's own errno for the former
//!   when no member could be submitted.
//!
//! # Limits
//!
//! * After `fork()`, requests of the parent never complete in the child (as
//!   in glibc); the child gets a fresh engine on its first request.
//! * Dropping an [`Aio`] cancels what has not started and waits for running
//!   requests (a read of a socket that never gets data never returns).
//! * [`aio_init`] only has an effect before the first request.
//!
//! # Example
//!
//! ```
//! use syslets::aio::{self, Aio};
//! use std::io::Write;
//! use std::os::fd::AsRawFd;
//!
//! let mut file = tempfile()?;
//! file.write_all(b"hello, syslets")?;
//!
//! let ctx = Aio::new();
//! let mut buf = [0u8; 5];
//! // SAFETY: an all-zero aiocb is a valid value.
//! let mut cb: libc::aiocb = unsafe { std::mem::zeroed() };
//! cb.aio_fildes = file.as_raw_fd();
//! cb.aio_buf = buf.as_mut_ptr().cast();
//! cb.aio_nbytes = buf.len();
//! cb.aio_offset = 7;
//! cb.aio_sigevent = aio::sigevent_none();
//! let cb = &raw mut cb;
//! // SAFETY: `cb` and `buf` stay in place until the request completes (we
//! // wait for it below, before either goes out of scope).
//! unsafe {
//!     ctx.read(cb)?;
//!     aio::aio_suspend(&[cb], None)?;
//!     assert_eq!(aio::aio_error(cb), Ok(0));
//!     assert_eq!(aio::aio_return(cb), Ok(5));
//!     // POSIX lets a second aio_return fail; this library does.
//!     assert_eq!(aio::aio_return(cb), Err(syslets::Errno::EINVAL));
//! }
//! assert_eq!(&buf, b"sysle");
//! # fn tempfile() -> std::io::Result<std::fs::File> {
//! #     let p = std::env::temp_dir().join(format!("aio-doc-{}", std::process::id()));
//! #     let f = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&p)?;
//! #     std::fs::remove_file(&p)?;
//! #     Ok(f)
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [aio(7)]: https://man7.org/linux/man-pages/man7/aio.7.html
//! [aio_read(3)]: https://man7.org/linux/man-pages/man3/aio_read.3.html
//! [aio_write(3)]: https://man7.org/linux/man-pages/man3/aio_write.3.html
//! [aio_fsync(3)]: https://man7.org/linux/man-pages/man3/aio_fsync.3.html
//! [aio_error(3)]: https://man7.org/linux/man-pages/man3/aio_error.3.html
//! [aio_return(3)]: https://man7.org/linux/man-pages/man3/aio_return.3.html
//! [aio_suspend(3)]: https://man7.org/linux/man-pages/man3/aio_suspend.3.html
//! [aio_cancel(3)]: https://man7.org/linux/man-pages/man3/aio_cancel.3.html
//! [lio_listio(3)]: https://man7.org/linux/man-pages/man3/lio_listio.3.html
//! [aio_init(3)]: https://man7.org/linux/man-pages/man3/aio_init.3.html

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

mod api;
#[cfg(feature = "c-abi")]
mod capi;
mod cb;
mod engine;
mod kernel;
mod sys;
mod unwind;

pub use api::{
    aio_cancel, aio_error, aio_fsync, aio_read, aio_return, aio_suspend, aio_write, lio_listio,
};
pub use cb::{sigevent_none, sigevent_signal, sigevent_thread};

use crate::errno::Errno;
use engine::{Config, Engine};

/// The largest `aio_reqprio` accepted (glibc's `AIO_PRIO_DELTA_MAX`). The
/// priority is checked, not used: requests are not reordered by it.
pub const AIO_PRIO_DELTA_MAX: i32 = cb::AIO_PRIO_DELTA_MAX;

/// What [`aio_cancel`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cancel {
    /// Every request asked about was cancelled (`AIO_CANCELED`); each says
    /// `ECANCELED` and had its notification.
    Canceled,
    /// At least one is running and cannot be cancelled (`AIO_NOTCANCELED`).
    NotCanceled,
    /// None was in progress (`AIO_ALLDONE`).
    AllDone,
}

impl Cancel {
    /// The C value (`AIO_CANCELED`, `AIO_NOTCANCELED`, `AIO_ALLDONE`).
    pub const fn as_c(self) -> i32 {
        match self {
            Cancel::Canceled => libc::AIO_CANCELED,
            Cancel::NotCanceled => libc::AIO_NOTCANCELED,
            Cancel::AllDone => libc::AIO_ALLDONE,
        }
    }
}

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

/// Configure the process-wide engine that [`aio_read`] and the other free
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

/// Workers for file reads and writes the probe covers: two per CPU, 4 to 64.
fn default_file_workers() -> usize {
    (2 * cpus()).clamp(4, 64)
}

/// The default [`AioBuilder::inline_budget`].
pub const DEFAULT_INLINE_BUDGET: usize = 128 << 10;

/// Configuration of an [`Aio`].
#[derive(Clone, Debug)]
pub struct AioBuilder {
    config: Config,
}

impl Default for AioBuilder {
    fn default() -> Self {
        AioBuilder {
            config: Config {
                max_requests: 4096,
                workers: default_workers(),
                file_workers: default_file_workers(),
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
    /// —; two per CPU (4 to 64) for file reads and writes, whose uncached
    /// data the inline probe already started reading, so that a worker only
    /// waits for it; 64 for pipes and sockets, which may block for ever and
    /// have a pool of their own). A worker runs one blocking call at a time;
    /// more workers than the I/O needs mostly cost context switches
    /// (docs/perf-aio.md). This sets the first two pools to `n` (and the third
    /// to at least `n`).
    pub fn workers(mut self, n: usize) -> Self {
        let n = n.max(1);
        self.config.workers = n;
        self.config.file_workers = n;
        self.config.stream_workers = self.config.stream_workers.max(n);
        self
    }

    /// How long an idle worker waits for work before it exits (default 1 s).
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.config.idle_timeout = d;
        self
    }

    /// Whether requests may complete inline in the submitting thread when
    /// they would not block (default true). With false, every request goes
    /// to a worker (`BATCH_ASYNC`), as glibc does.
    pub fn inline(mut self, yes: bool) -> Self {
        self.config.inline = yes;
        self
    }

    /// Bytes of file reads and writes that one call may complete inline, in
    /// the submitting thread (default [`DEFAULT_INLINE_BUDGET`], 128 KiB):
    /// a request larger than this, and the members of a [`lio_listio`]
    /// beyond it (in list order), go to a worker even when the data is
    /// cached, so that a large copy overlaps with the caller's own work (its
    /// `aio_error` says `EINPROGRESS`) and uses another core. 0 sends every
    /// file request to a worker (as [`inline(false)`](Self::inline) does);
    /// `usize::MAX` lets any cached request complete inline. For the
    /// process-wide context (and so the `LD_PRELOAD` library) the
    /// environment variable `SYSLETS_AIO_INLINE_BUDGET` (bytes) sets it.
    pub fn inline_budget(mut self, bytes: usize) -> Self {
        self.config.inline_budget = bytes;
        self
    }

    /// Whether `O_DIRECT` reads and writes are queued in the kernel with
    /// [io_submit(2)] (default true): the device gets the request without a
    /// worker thread carrying it, and one thread reaps the completions. With
    /// false — or when the kernel refuses (no kernel AIO, the system-wide
    /// limit `/proc/sys/fs/aio-max-nr` reached, a request that would block) —
    /// a worker does the I/O.
    ///
    /// [io_submit(2)]: https://man7.org/linux/man-pages/man2/io_submit.2.html
    pub fn kernel_aio(mut self, yes: bool) -> Self {
        self.config.kernel_aio = yes;
        self
    }

    /// Make the context. No thread starts until a request goes to a worker.
    pub fn build(self) -> Result<Aio, Errno> {
        Ok(Aio {
            engine: Engine::new(self.config)?,
        })
    }
}

/// An AIO context: its own executor, workers, completion thread and notifier
/// thread. The free functions ([`aio_read`], …) use a process-wide one;
/// an `Aio` of your own is shut down, with all its threads joined, when
/// dropped (see the module docs).
#[derive(Debug)]
pub struct Aio {
    engine: Arc<Engine>,
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
