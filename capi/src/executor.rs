//! The executor for C: `syslet_executor_new/submit/wait/reap/eventfd/free`.
//!
//! Every completion goes to the ring (inline ones too), and a reaped batch is
//! handed back as the very handle that was submitted, with its completion and
//! output buffers filled in.

use std::collections::{HashMap, VecDeque};
use std::ffi::{c_int, c_uint};
use std::os::fd::AsRawFd;
use std::ptr;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use syslets_rs::{
    abi, Backpressure, CompletionFd, Done, Executor, InlineCompletions, ShutdownMode, Submitted,
};

use crate::chain::{batch, entry, policy_or_default, status, SysletBatch, SysletPolicy};
use crate::error::{Failure, SysletError, SYSLET_E_BUSY};

/// `SYSLET_EXECUTOR_BLOCK`: a submit that would overfill the ring waits for a
/// reap (on another thread) instead of failing with `SYSLET_E_RING_FULL`.
pub const SYSLET_EXECUTOR_BLOCK: c_uint = 0x1;
/// `SYSLET_EXECUTOR_NO_SECCOMP`: workers run without the seccomp filter.
pub const SYSLET_EXECUTOR_NO_SECCOMP: c_uint = 0x2;
const KNOWN_FLAGS: c_uint = SYSLET_EXECUTOR_BLOCK | SYSLET_EXECUTOR_NO_SECCOMP;

/// `struct syslet_executor_options`; zero fields take the defaults.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SysletExecutorOptions {
    /// Most worker threads (0: default).
    pub max_workers: c_uint,
    /// Completion ring entries, a power of two (0: default).
    pub ring_size: c_uint,
    /// `SYSLET_EXECUTOR_*` flags.
    pub flags: c_uint,
    /// Zero.
    pub reserved: c_uint,
}

// The layout `syslets.h` asserts.
const _: () = assert!(std::mem::size_of::<SysletExecutorOptions>() == 16);

/// `syslet_executor`: an [`Executor`] and the handles in flight on it.
pub struct SysletExecutor {
    ex: Option<Executor>,
    /// Submitted handles by ticket (the pointer C passed, as an address).
    in_flight: Mutex<HashMap<u64, usize>>,
    /// Completions reaped from the ring and not yet handed to C.
    pending: Mutex<VecDeque<Done>>,
    eventfd: OnceLock<CompletionFd>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SysletExecutor {
    fn ex(&self) -> &Executor {
        self.ex
            .as_ref()
            .expect("the executor lives until syslet_executor_free")
    }
}

/// The executor C passed.
///
/// # Safety
///
/// `ex` NULL or from `syslet_executor_new`, not freed.
unsafe fn executor<'a>(ex: *const SysletExecutor) -> Result<&'a SysletExecutor, Failure> {
    // SAFETY: the caller's contract.
    unsafe { ex.as_ref() }.ok_or_else(|| Failure::argument("executor is NULL"))
}

/// `syslet_executor *syslet_executor_new(const struct syslet_executor_options
/// *opts, const syslet_policy *policy, struct syslet_error *err)`: `opts` and
/// `policy` may be NULL (defaults). The policy is the one the workers'
/// seccomp filter is made from: validate batches with a policy no wider.
///
/// # Safety
///
/// `opts` NULL or readable; `policy` NULL or from `syslet_policy_new`; `err`
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn syslet_executor_new(
    opts: *const SysletExecutorOptions,
    policy: *const SysletPolicy,
    err: *mut SysletError,
) -> *mut SysletExecutor {
    // SAFETY: forwarded from the caller.
    unsafe {
        entry(err, ptr::null_mut(), || {
            let o = opts.as_ref().copied().unwrap_or_default();
            if o.flags & !KNOWN_FLAGS != 0 || o.reserved != 0 {
                return Err(Failure::argument("unknown executor option flags"));
            }
            let mut b = Executor::builder()
                .policy(policy_or_default(policy))
                .inline_completions(InlineCompletions::Queue)
                .seccomp(o.flags & SYSLET_EXECUTOR_NO_SECCOMP == 0);
            if o.flags & SYSLET_EXECUTOR_BLOCK != 0 {
                b = b.backpressure(Backpressure::Block);
            }
            if o.max_workers != 0 {
                b = b.max_workers(o.max_workers as usize);
            }
            if o.ring_size != 0 {
                b = b.ring_size(o.ring_size);
            }
            Ok(Box::into_raw(Box::new(SysletExecutor {
                ex: Some(b.build()?),
                in_flight: Mutex::new(HashMap::new()),
                pending: Mutex::new(VecDeque::new()),
                eventfd: OnceLock::new(),
            })))
        })
    }
}

/// `int syslet_executor_submit(syslet_executor *ex, syslet_batch *b,
/// uint64_t *ticket, struct syslet_error *err)`: start the batch; its
/// completion is posted to the ring with the ticket stored in `*ticket`
/// (NULL: not stored). Until `syslet_executor_reap` hands `b` back, the
/// handle belongs to the executor: do not run, read or free it. On failure
/// (`SYSLET_E_RING_FULL`, …) nothing ran and `b` stays the caller's.
///
/// # Safety
///
/// `ex` from `syslet_executor_new`; `b` from `syslet_validate*` or a reap,
/// not in flight; `ticket` and `err` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn syslet_executor_submit(
    ex: *mut SysletExecutor,
    b: *mut SysletBatch,
    ticket: *mut u64,
    err: *mut SysletError,
) -> c_int {
    // SAFETY: forwarded from the caller.
    unsafe {
        status(err, || {
            let ex = executor(ex)?;
            let handle = batch(b)?;
            let validated = handle
                .batch
                .take()
                .ok_or_else(|| Failure::new(SYSLET_E_BUSY, "the batch is already in flight"))?;
            if validated.flags() & abi::BATCH_NO_COMPLETE != 0 {
                handle.batch = Some(validated);
                return Err(Failure::argument(
                    "a SYSLET_NO_COMPLETE batch posts no completion, so its handle could never be reaped",
                ));
            }
            let t = match ex.ex().submit(validated) {
                Ok(Submitted::Queued(t)) => t,
                Ok(Submitted::Done(done)) => {
                    let t = done.ticket();
                    lock(&ex.pending).push_back(done);
                    t
                }
                Err(e) => {
                    let f = Failure::from(&e);
                    handle.batch = Some(e.into_batch());
                    return Err(f);
                }
            };
            lock(&ex.in_flight).insert(t.as_u64(), b as usize);
            if let Some(ticket) = ticket.as_mut() {
                *ticket = t.as_u64();
            }
            Ok(())
        })
    }
}

/// `int syslet_executor_wait(syslet_executor *ex, size_t min, int64_t
/// timeout_ns, struct syslet_error *err)`: wait until at least `min`
/// completions are ready to reap or `timeout_ns` passed (negative: no limit);
/// returns how many are ready (possibly fewer than `min` after a timeout), or
/// -1.
///
/// # Safety
///
/// `ex` from `syslet_executor_new`; `err` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn syslet_executor_wait(
    ex: *mut SysletExecutor,
    min: usize,
    timeout_ns: i64,
    err: *mut SysletError,
) -> c_int {
    // SAFETY: forwarded from the caller.
    unsafe {
        entry(err, -1, || {
            let ex = executor(ex)?;
            let held = lock(&ex.pending).len();
            let timeout = u64::try_from(timeout_ns).ok().map(Duration::from_nanos);
            let ready = ex.ex().wait(min.saturating_sub(held), timeout)?;
            Ok(c_int::try_from(ready + held).unwrap_or(c_int::MAX))
        })
    }
}

/// `int syslet_executor_reap(syslet_executor *ex, syslet_batch **out, size_t
/// max, struct syslet_error *err)`: store up to `max` completed batches in
/// `out[]` (the handles that were submitted, their completion and outputs
/// filled in; the caller's again) and return how many, or -1. Does not wait.
///
/// # Safety
///
/// `ex` from `syslet_executor_new`; `out` writable for `max` pointers; `err`
/// NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn syslet_executor_reap(
    ex: *mut SysletExecutor,
    out: *mut *mut SysletBatch,
    max: usize,
    err: *mut SysletError,
) -> c_int {
    // SAFETY: forwarded from the caller.
    unsafe {
        entry(err, -1, || {
            let ex = executor(ex)?;
            if max > 0 && out.is_null() {
                return Err(Failure::argument("out is NULL"));
            }
            let max = max.min(c_int::MAX as usize);
            let mut pending = lock(&ex.pending);
            pending.extend(ex.ex().reap()?);
            let mut in_flight = lock(&ex.in_flight);
            let mut n = 0;
            let mut kept = VecDeque::new();
            while let Some(done) = pending.pop_front() {
                // A completion whose submit has not recorded its handle yet
                // (another thread between submit and insert) waits for the
                // next reap.
                let handle = match in_flight.get(&done.ticket().as_u64()) {
                    Some(&h) if n < max => h as *mut SysletBatch,
                    _ => {
                        kept.push_back(done);
                        continue;
                    }
                };
                in_flight.remove(&done.ticket().as_u64());
                // SAFETY: `handle` was submitted and is owned by the executor
                // until now; nobody else touches it meanwhile.
                (*handle).batch = Some(done.into_batch());
                // SAFETY: `out` holds `max` pointers, `n < max`.
                *out.add(n) = handle;
                n += 1;
            }
            *pending = kept;
            Ok(n as c_int)
        })
    }
}

/// `int syslet_executor_eventfd(syslet_executor *ex, struct syslet_error
/// *err)`: the executor's eventfd (made on first call, the same one after),
/// readable while completions were posted since it was last read. It is
/// non-blocking; read its 8-byte counter to reset it before reaping. Owned by
/// the executor: do not close it. -1 on failure.
///
/// # Safety
///
/// `ex` from `syslet_executor_new`; `err` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn syslet_executor_eventfd(
    ex: *mut SysletExecutor,
    err: *mut SysletError,
) -> c_int {
    // SAFETY: forwarded from the caller.
    unsafe {
        entry(err, -1, || {
            let ex = executor(ex)?;
            if let Some(fd) = ex.eventfd.get() {
                return Ok(fd.as_raw_fd());
            }
            let fd = ex.ex().attach_eventfd()?;
            Ok(ex.eventfd.get_or_init(|| fd).as_raw_fd())
        })
    }
}

/// `void syslet_executor_free(syslet_executor *)` (NULL: nothing): cancel
/// what is queued, wait for what runs, stop the workers, and free every batch
/// still in flight or unreaped (those handles are gone).
///
/// # Safety
///
/// `ex` NULL or from `syslet_executor_new`, freed once, no call on it running.
#[no_mangle]
pub unsafe extern "C" fn syslet_executor_free(ex: *mut SysletExecutor) {
    if ex.is_null() {
        return;
    }
    // SAFETY: made by Box::into_raw in syslet_executor_new, freed once.
    let mut ex = unsafe { Box::from_raw(ex) };
    let _ = crate::unwind::no_unwind((), || {
        if let Some(e) = ex.ex.take() {
            // Whatever shutdown reports, the handles below are freed.
            let _ = e.shutdown(ShutdownMode::Cancel);
        }
        for (_, h) in lock(&ex.in_flight).drain() {
            // SAFETY: an in-flight handle belongs to the executor; made by
            // Box::into_raw in syslet_validate*, freed only here.
            drop(unsafe { Box::from_raw(h as *mut SysletBatch) });
        }
        Ok(())
    });
}
