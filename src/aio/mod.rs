//! POSIX asynchronous I/O ([aio(7)]) on syslets: every request is a chain,
//! run inline when the data is cached and on a cachemiss worker otherwise.
//!
//! The functions have the POSIX shape and semantics — [`aio_read`] ([aio_read(3)]),
//! [`aio_write`] ([aio_write(3)]), [`aio_fsync`] ([aio_fsync(3)]), [`aio_error`]
//! ([aio_error(3)]), [`aio_return`] ([aio_return(3)]), [`aio_suspend`]
//! ([aio_suspend(3)]), [`aio_cancel`] ([aio_cancel(3)]), [`lio_listio`]
//! ([lio_listio(3)]) and [`aio_init`] ([aio_init(3)]) — on glibc's
//! [`libc::aiocb`], with errors as [`Errno`](crate::Errno). The C library
//! (crate `syslets-capi`, built with its feature `aio-preload`) exports them
//! with C linkage (`aio_read`, `aio_read64`, …), so that
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
//! * **Four worker pools** (executors): file reads and writes whose probe
//!   missed (the probe already started the read, so a worker only waits for
//!   pages, one after another), file reads and writes sent to a worker
//!   unprobed (large cached copies, overlapped on other CPUs), requests that
//!   do their own I/O on a worker
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

mod api;
mod cb;
mod context;
mod engine;
mod sys;

/// What the C library's `aio_*`/`sysconf` exports (crate `syslets-capi`,
/// feature `aio-preload`) need beyond the Rust API. Not a stable interface.
#[cfg(feature = "c-abi")]
#[doc(hidden)]
pub mod preload {
    pub use super::api::{aio_suspend_until, process_max_requests};
}

pub use api::{
    aio_cancel, aio_error, aio_fsync, aio_read, aio_return, aio_suspend, aio_write, lio_listio,
};
pub use cb::{sigevent_none, sigevent_signal, sigevent_thread};
pub use context::{aio_init, Aio, AioBuilder, AioInit, DEFAULT_INLINE_BUDGET};
pub use engine::Cancel;

/// The largest `aio_reqprio` accepted (glibc's `AIO_PRIO_DELTA_MAX`). The
/// priority is checked, not used: requests are not reordered by it.
pub const AIO_PRIO_DELTA_MAX: i32 = cb::AIO_PRIO_DELTA_MAX;
