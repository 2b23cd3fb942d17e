//! The POSIX functions, on raw `aiocb` pointers: argument checks, the
//! process-wide engine, and the per-context methods of [`Aio`].
#![allow(unsafe_code)]

use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::cb::{self, CbPtr, RawBuf};
use super::context::{Aio, AioBuilder};
use super::engine::{self, Cancel, Engine, List, Op, Request};
use super::sys;
use crate::errno::Errno;

/// The process-wide engine of the free functions. Every pointer stored here
/// comes from `Box::into_raw` and is never freed: after a `fork()` the child
/// replaces it (and leaks the parent's, whose locks may be held).
static GLOBAL: AtomicPtr<Arc<Engine>> = AtomicPtr::new(ptr::null_mut());

fn existing() -> Option<&'static Arc<Engine>> {
    let p = GLOBAL.load(Ordering::Acquire);
    if p.is_null() {
        return None;
    }
    // SAFETY: non-null pointers in GLOBAL come from Box::into_raw below and
    // are never freed, so the reference is valid for the rest of the program.
    let e = unsafe { &*p };
    e.current().then_some(e)
}

/// The configuration of the process-wide context: the defaults, what
/// `aio_init` asked for, and the environment (`SYSLETS_AIO_INLINE_BUDGET`:
/// bytes, [`AioBuilder::inline_budget`]; `SYSLETS_AIO_KERNEL=0`: no kernel
/// queue, [`AioBuilder::kernel_aio`]; unparsable values are ignored).
pub(crate) fn process_builder() -> AioBuilder {
    let mut b = AioBuilder::default();
    if let n @ 1.. = engine::INIT_THREADS.load(Ordering::Relaxed) {
        b = b.workers(n as usize);
    }
    if let n @ 1.. = engine::INIT_NUM.load(Ordering::Relaxed) {
        b = b.max_requests(n as usize);
    }
    if let s @ 1.. = engine::INIT_IDLE.load(Ordering::Relaxed) {
        b = b.idle_timeout(Duration::from_secs(s as u64));
    }
    let var = |name: &str| std::env::var(name).ok();
    if let Some(n) = var("SYSLETS_AIO_INLINE_BUDGET").and_then(|v| v.trim().parse().ok()) {
        b = b.inline_budget(n);
    }
    if let Some(v) = var("SYSLETS_AIO_KERNEL") {
        b = b.kernel_aio(v.trim() != "0");
    }
    b
}

/// The request limit of the process-wide context (`sysconf(_SC_AIO_MAX)`):
/// the running context's, or the one it would be made with.
#[cfg(feature = "c-abi")]
pub fn process_max_requests() -> usize {
    match existing() {
        Some(e) => e.max_requests(),
        None => process_builder().config.max_requests,
    }
}

/// The process-wide engine, made on first use (lazily: nothing runs at load
/// time, and a program that never calls AIO never starts a thread).
fn global() -> Result<&'static Arc<Engine>, Errno> {
    loop {
        let p = GLOBAL.load(Ordering::Acquire);
        if let Some(e) = existing() {
            return Ok(e);
        }
        let config = process_builder().config;
        let fresh = Box::into_raw(Box::new(Engine::new(config)?));
        match GLOBAL.compare_exchange(p, fresh, Ordering::AcqRel, Ordering::Acquire) {
            // SAFETY: `fresh` was just made by Box::into_raw and is now owned
            // by GLOBAL, which never frees it.
            Ok(_) => return Ok(unsafe { &*fresh }),
            Err(_) => {
                // Another thread installed one first; use it.
                // SAFETY: `fresh` came from Box::into_raw above and was never
                // shared.
                drop(unsafe { Box::from_raw(fresh) });
            }
        }
    }
}

/// Take a request from `cb`: check its fields (an invalid one makes the aiocb
/// say `EINVAL`, as in glibc) and decode its `sigevent`.
///
/// # Safety
///
/// As for [`aio_read`].
unsafe fn request(engine: &Engine, cb: *mut libc::aiocb, op: Op) -> Result<Request, Errno> {
    if cb.is_null() {
        return Err(Errno::EINVAL);
    }
    // SAFETY: the caller guarantees a valid aiocb.
    let f = unsafe { cb::fields(cb) };
    let sync = matches!(op, Op::Sync { .. });
    // POSIX gives aio_fsync no aio_reqprio error: a sync ignores it.
    let bad_args = !sync
        && (f.reqprio < 0
            || f.reqprio > cb::AIO_PRIO_DELTA_MAX
            || f.offset < 0
            || f.nbytes > isize::MAX as usize
            || f.offset.checked_add(f.nbytes as i64).is_none());
    // SAFETY: the caller's contract covers the function word of a
    // SIGEV_THREAD sigevent (see `aio_read`).
    let notify = match unsafe { cb::notify_of(&f.sigevent) } {
        Ok(n) if !bad_args => n,
        _ => {
            // An aiocb already in progress is refused and left alone (the
            // engine refuses it too when the arguments are fine).
            if !engine.busy(cb as usize) {
                // SAFETY: a valid aiocb with no request in progress.
                unsafe { cb::fail_now(cb, Errno::EINVAL) };
            }
            return Err(Errno::EINVAL);
        }
    };
    let len = if sync { 0 } else { f.nbytes };
    Ok(Request {
        // SAFETY: the caller keeps the aiocb valid until its request completes.
        cb: unsafe { CbPtr::new(cb) }.expect("checked non-null above"),
        fd: f.fd,
        op,
        // SAFETY: the caller keeps `aio_buf` valid until the request completes.
        buf: unsafe { RawBuf::new(f.buf, len) },
        offset: f.offset,
        notify,
    })
}

/// # Safety
///
/// As for [`aio_read`].
unsafe fn submit(engine: &Arc<Engine>, cb: *mut libc::aiocb, op: Op) -> Result<(), Errno> {
    // SAFETY: forwarded from the caller.
    let req = unsafe { request(engine, cb, op)? };
    engine.submit(req, None, &mut engine.inline_budget())
}

fn sync_op(op: i32) -> Result<Op, Errno> {
    match op {
        libc::O_SYNC => Ok(Op::Sync { data_only: false }),
        libc::O_DSYNC => Ok(Op::Sync { data_only: true }),
        _ => Err(Errno::EINVAL),
    }
}

/// # Safety
///
/// As for [`aio_fsync`].
unsafe fn fsync_on(engine: &Arc<Engine>, op: i32, cb: *mut libc::aiocb) -> Result<(), Errno> {
    let op = sync_op(op)?;
    if cb.is_null() {
        return Err(Errno::EINVAL);
    }
    // SAFETY: the caller guarantees a valid aiocb.
    let fd = unsafe { cb::fildes(cb) };
    sys::fd_flags(fd).map_err(|_| Errno::EBADF)?;
    // SAFETY: forwarded from the caller.
    unsafe { submit(engine, cb, op) }
}

/// # Safety
///
/// As for [`aio_cancel`].
unsafe fn cancel_on(
    engine: Option<&Arc<Engine>>,
    fd: i32,
    cb: *mut libc::aiocb,
) -> Result<Cancel, Errno> {
    sys::fd_flags(fd).map_err(|_| Errno::EBADF)?;
    let addr = if cb.is_null() {
        None
    } else {
        // SAFETY: the caller guarantees a valid aiocb.
        if unsafe { cb::fildes(cb) } != fd {
            return Err(Errno::EINVAL);
        }
        Some(cb as usize)
    };
    let answer = match engine {
        Some(e) => e.cancel(fd, addr)?,
        None => Cancel::AllDone,
    };
    // An aiocb that says in progress with no request of this context on it
    // (inherited in flight across fork) never completes here: as aio_error
    // keeps saying EINPROGRESS, the answer is "not cancelled", as in glibc.
    // SAFETY: the caller guarantees a valid aiocb when `addr` is set.
    if answer == Cancel::AllDone && addr.is_some() && unsafe { cb::in_progress(cb) } {
        return Ok(Cancel::NotCanceled);
    }
    Ok(answer)
}

/// # Safety
///
/// As for [`lio_listio`].
unsafe fn listio_on(
    engine: &Arc<Engine>,
    mode: i32,
    list: &[*mut libc::aiocb],
    sig: Option<&libc::sigevent>,
) -> Result<(), Errno> {
    if mode != libc::LIO_WAIT && mode != libc::LIO_NOWAIT {
        return Err(Errno::EINVAL);
    }
    let wait = mode == libc::LIO_WAIT;
    let notify = match sig {
        Some(ev) if !wait => {
            // SAFETY: `ev` is a reference, so readable; the caller's contract
            // covers a SIGEV_THREAD function.
            let raw = unsafe { cb::read_sigevent(ev) };
            // SAFETY: as just said.
            Some(unsafe { cb::notify_of(&raw) }?)
        }
        _ => None,
    };
    let members: Vec<*mut libc::aiocb> = list
        .iter()
        .copied()
        .filter(|&p| {
            // SAFETY: non-null entries are valid aiocbs (the caller's contract).
            !p.is_null() && unsafe { cb::lio_opcode(p) } != libc::LIO_NOP
        })
        .collect();
    let group = List::new(notify.as_ref(), engine)?;
    let mut budget = engine.inline_budget();
    let mut failed = false;
    let mut full = false;
    let mut submitted = Vec::with_capacity(members.len());
    for &p in &members {
        // SAFETY: a valid aiocb (the caller's contract).
        let op = match unsafe { cb::lio_opcode(p) } {
            libc::LIO_READ => Op::Read,
            libc::LIO_WRITE => Op::Write,
            _ => {
                if !engine.busy(p as usize) {
                    // SAFETY: a valid aiocb with no request in progress.
                    unsafe { cb::fail_now(p, Errno::EINVAL) };
                }
                failed = true;
                continue;
            }
        };
        // SAFETY: forwarded from the caller.
        let result = unsafe { request(engine, p, op) }
            .and_then(|r| engine.submit(r, Some(&group), &mut budget));
        match result {
            Ok(()) => submitted.push(p),
            Err(e) => {
                failed = true;
                full |= e == Errno::EAGAIN;
                if e != Errno::EINVAL && !engine.busy(p as usize) {
                    // EAGAIN: say so in the aiocb too (EINVAL already did).
                    // SAFETY: a valid aiocb with no request in progress.
                    unsafe { cb::fail_now(p, e) };
                }
            }
        }
    }
    // Release the submitting guard: fires the list's notification now if
    // every member already completed (or none could be submitted).
    group.done(&engine.notifier);
    if wait {
        engine::wait_until(None, || group.finished())?;
        let member_failed = submitted
            .iter()
            // SAFETY: the caller keeps the aiocbs valid while lio_listio runs.
            .any(|&p| unsafe { cb::error(p) } != Ok(0));
        failed |= member_failed;
    }
    if full {
        // Not every member could be queued (each such says EAGAIN).
        Err(Errno::EAGAIN)
    } else if failed {
        Err(Errno::from_raw(libc::EIO))
    } else {
        Ok(())
    }
}

impl Aio {
    /// [`aio_read`] on this context.
    ///
    /// # Safety
    ///
    /// As for [`aio_read`].
    pub unsafe fn read(&self, cb: *mut libc::aiocb) -> Result<(), Errno> {
        // SAFETY: forwarded from the caller.
        unsafe { submit(&self.engine, cb, Op::Read) }
    }

    /// [`aio_write`] on this context.
    ///
    /// # Safety
    ///
    /// As for [`aio_read`].
    pub unsafe fn write(&self, cb: *mut libc::aiocb) -> Result<(), Errno> {
        // SAFETY: forwarded from the caller.
        unsafe { submit(&self.engine, cb, Op::Write) }
    }

    /// [`aio_fsync`] on this context.
    ///
    /// # Safety
    ///
    /// As for [`aio_read`].
    pub unsafe fn fsync(&self, op: i32, cb: *mut libc::aiocb) -> Result<(), Errno> {
        // SAFETY: forwarded from the caller.
        unsafe { fsync_on(&self.engine, op, cb) }
    }

    /// [`aio_cancel`] on this context's requests.
    ///
    /// # Safety
    ///
    /// As for [`aio_cancel`].
    pub unsafe fn cancel(&self, fd: i32, cb: *mut libc::aiocb) -> Result<Cancel, Errno> {
        // SAFETY: forwarded from the caller.
        unsafe { cancel_on(Some(&self.engine), fd, cb) }
    }

    /// [`lio_listio`] on this context.
    ///
    /// # Safety
    ///
    /// As for [`lio_listio`].
    pub unsafe fn lio_listio(
        &self,
        mode: i32,
        list: &[*mut libc::aiocb],
        sig: Option<&libc::sigevent>,
    ) -> Result<(), Errno> {
        // SAFETY: forwarded from the caller.
        unsafe { listio_on(&self.engine, mode, list, sig) }
    }
}

/// Queue a read of `aio_nbytes` bytes at `aio_offset` of `aio_fildes` into
/// `aio_buf` ([aio_read(3)]), on the process-wide context.
///
/// # Safety
///
/// `cb` must be NULL (refused with `EINVAL`) or point to a writable, 8-byte
/// aligned `struct aiocb` that stays valid, in place and otherwise unused
/// until the request has completed — until [`aio_error`] returns something
/// other than `EINPROGRESS`, or the notification came. `aio_buf` must be
/// valid for `aio_nbytes` bytes of writes (reads for [`aio_write`]) over the
/// same time. A `SIGEV_THREAD` function must be callable as
/// `void f(union sigval)` from another thread.
///
/// [aio_read(3)]: https://man7.org/linux/man-pages/man3/aio_read.3.html
pub unsafe fn aio_read(cb: *mut libc::aiocb) -> Result<(), Errno> {
    // SAFETY: forwarded from the caller.
    unsafe { submit(global()?, cb, Op::Read) }
}

/// Queue a write ([aio_write(3)]); an `O_APPEND` descriptor appends, in
/// submission order.
///
/// # Safety
///
/// As for [`aio_read`].
///
/// [aio_write(3)]: https://man7.org/linux/man-pages/man3/aio_write.3.html
pub unsafe fn aio_write(cb: *mut libc::aiocb) -> Result<(), Errno> {
    // SAFETY: forwarded from the caller.
    unsafe { submit(global()?, cb, Op::Write) }
}

/// Queue a sync of `aio_fildes` ([aio_fsync(3)]): `op` is `O_SYNC` (`fsync`)
/// or `O_DSYNC` (`fdatasync`). It starts once every request submitted before
/// it on that descriptor has completed. `EBADF` at once for a bad descriptor.
///
/// # Safety
///
/// As for [`aio_read`] (`aio_buf` is not used).
///
/// [aio_fsync(3)]: https://man7.org/linux/man-pages/man3/aio_fsync.3.html
pub unsafe fn aio_fsync(op: i32, cb: *mut libc::aiocb) -> Result<(), Errno> {
    // SAFETY: forwarded from the caller.
    unsafe { fsync_on(global()?, op, cb) }
}

/// The error status of a request ([aio_error(3)]): `Ok(0)` when it
/// succeeded, `Ok(EINPROGRESS)`, `Ok(ECANCELED)`, or `Ok(errno)` of the
/// failed call; `Err(EINVAL)` when `cb` never had a request of this library.
/// Lock-free and async-signal-safe.
///
/// # Safety
///
/// `cb` must be NULL or point to a readable, 8-byte aligned `struct aiocb`.
///
/// [aio_error(3)]: https://man7.org/linux/man-pages/man3/aio_error.3.html
pub unsafe fn aio_error(cb: *const libc::aiocb) -> Result<i32, Errno> {
    if cb.is_null() {
        return Err(Errno::EINVAL);
    }
    // SAFETY: forwarded from the caller.
    unsafe { cb::error(cb) }
}

/// The return value of a completed request ([aio_return(3)]), once: the
/// bytes transferred, or -1 when it failed ([`aio_error`] says why).
/// `Err(EINVAL)` when it is unfinished or was already returned.
/// Lock-free and async-signal-safe.
///
/// # Safety
///
/// `cb` must be NULL or point to a writable, 8-byte aligned `struct aiocb`.
///
/// [aio_return(3)]: https://man7.org/linux/man-pages/man3/aio_return.3.html
pub unsafe fn aio_return(cb: *mut libc::aiocb) -> Result<isize, Errno> {
    if cb.is_null() {
        return Err(Errno::EINVAL);
    }
    // SAFETY: forwarded from the caller.
    unsafe { cb::take_return(cb) }
}

/// Wait until at least one request of `list` (NULL entries are skipped) is no
/// longer in progress ([aio_suspend(3)]); at once when one already is or none
/// is in progress. `timeout` is measured on `CLOCK_MONOTONIC`; when it passes,
/// `Err(EAGAIN)`; one that reaches past what the clock can represent (such as
/// `Duration::MAX`) is no timeout. A signal handler that runs meanwhile makes
/// it return `Err(EINTR)` (also with `SA_RESTART`). Async-signal-safe.
///
/// # Safety
///
/// Every non-NULL entry must point to a readable, 8-byte aligned
/// `struct aiocb` for the whole call.
///
/// [aio_suspend(3)]: https://man7.org/linux/man-pages/man3/aio_suspend.3.html
pub unsafe fn aio_suspend(
    list: &[*const libc::aiocb],
    timeout: Option<Duration>,
) -> Result<(), Errno> {
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    // SAFETY: forwarded from the caller.
    unsafe { aio_suspend_until(list, deadline) }
}

/// [`aio_suspend`] until `deadline` (`None`: no limit).
///
/// # Safety
///
/// As for [`aio_suspend`].
pub unsafe fn aio_suspend_until(
    list: &[*const libc::aiocb],
    deadline: Option<Instant>,
) -> Result<(), Errno> {
    engine::wait_until(deadline, || {
        let mut any = false;
        for &p in list.iter().filter(|p| !p.is_null()) {
            // SAFETY: the caller guarantees every non-NULL entry.
            if !unsafe { cb::in_progress(p) } {
                return true;
            }
            any = true;
        }
        !any
    })
}

/// Cancel requests on `fd` ([aio_cancel(3)]): the one of `cb`, or every one
/// when `cb` is NULL. Requests that have not started are cancelled (they say
/// `ECANCELED`, return -1, and get their notification); a running one is not.
/// `Err(EBADF)` for a bad descriptor, `Err(EINVAL)` when `cb`'s descriptor is
/// not `fd`.
///
/// # Safety
///
/// `cb` must be NULL or point to a readable, 8-byte aligned `struct aiocb`.
///
/// [aio_cancel(3)]: https://man7.org/linux/man-pages/man3/aio_cancel.3.html
pub unsafe fn aio_cancel(fd: i32, cb: *mut libc::aiocb) -> Result<Cancel, Errno> {
    // SAFETY: forwarded from the caller.
    unsafe { cancel_on(existing(), fd, cb) }
}

/// Submit a list of requests ([lio_listio(3)]): each non-NULL entry's
/// `aio_lio_opcode` is `LIO_READ`, `LIO_WRITE` or `LIO_NOP`. With
/// `LIO_WAIT`, return when all completed (`sig` is ignored); with
/// `LIO_NOWAIT`, at once, and `sig` fires when all completed. `Err(EAGAIN)`
/// when some members could not be queued for the request limit (each of
/// them says `EAGAIN`; the others go on); `Err(EIO)` when a member could not
/// be submitted otherwise (its aiocb says why) or, with `LIO_WAIT`, failed;
/// `Err(EINTR)` when a signal handler interrupted `LIO_WAIT` (the requests go
/// on).
///
/// # Safety
///
/// Every non-NULL entry as for [`aio_read`]; a `SIGEV_THREAD` `sig` as
/// there.
///
/// [lio_listio(3)]: https://man7.org/linux/man-pages/man3/lio_listio.3.html
pub unsafe fn lio_listio(
    mode: i32,
    list: &[*mut libc::aiocb],
    sig: Option<&libc::sigevent>,
) -> Result<(), Errno> {
    // SAFETY: forwarded from the caller.
    unsafe { listio_on(global()?, mode, list, sig) }
}
