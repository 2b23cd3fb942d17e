//! The `aiocb` as glibc lays it out, and the only code that reads or writes
//! one.
//!
//! The public fields come from [`libc::aiocb`]; [`RawAiocb`] mirrors the whole
//! struct, glibc's private fields included, and static assertions check it
//! against `libc::aiocb` (a C program in the tests checks it against
//! `<aio.h>`). The request's state lives in the aiocb itself, in glibc's
//! private `__error_code` and the padding after it, read as one 64-bit word:
//!
//! ```text
//! offset 112: status word (u64) = state << 32 | error code   (__error_code is its low half)
//! offset 120: __return_value (i64)
//! ```
//!
//! so [`error`] and [`take_return`] need no lock and no table (`aio_error` and
//! `aio_return` are async-signal-safe in POSIX), and one release store
//! ([`CbPtr::publish`]) makes the error code, the state and the return value
//! visible together. After that store the library never touches the aiocb
//! again until `aio_return` (or a new request on it): the caller may free it
//! as soon as `aio_error` says it is done.
//!
//! `__abs_prio` (offset 104) names the [`Quota`] cell the request counts
//! against until `aio_return` takes its value.
#![allow(unsafe_code)]

use std::mem::offset_of;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU32, AtomicU64, Ordering};

use libc::{c_int, c_void, off_t, size_t};
use static_assertions::{assert_eq_align, assert_eq_size, const_assert_eq};

use crate::builder::chain::Chain;
use crate::confine::policy::Policy;
use crate::confine::validate::ValidatedBatch;
use crate::errno::Errno;
use crate::handles::Mem;
use crate::sys::kernel_aio::DeviceBuffer;

/// glibc's `struct sigevent` (64 bytes): the value, the signal, the method,
/// then a union whose first words are the thread id (`SIGEV_THREAD_ID`) or
/// the function and attributes (`SIGEV_THREAD`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawSigevent {
    pub value: u64,
    pub signo: c_int,
    pub notify: c_int,
    pub un: [u64; 6],
}

assert_eq_size!(RawSigevent, libc::sigevent);
assert_eq_align!(RawSigevent, libc::sigevent);
const_assert_eq!(
    offset_of!(RawSigevent, value),
    offset_of!(libc::sigevent, sigev_value)
);
const_assert_eq!(
    offset_of!(RawSigevent, signo),
    offset_of!(libc::sigevent, sigev_signo)
);
const_assert_eq!(
    offset_of!(RawSigevent, notify),
    offset_of!(libc::sigevent, sigev_notify)
);
const_assert_eq!(
    offset_of!(RawSigevent, un),
    offset_of!(libc::sigevent, sigev_notify_thread_id)
);

/// glibc's `struct aiocb` (= `aiocb64` on x86_64), private fields included.
#[repr(C)]
pub(crate) struct RawAiocb {
    fildes: c_int,
    lio_opcode: c_int,
    reqprio: c_int,
    buf: *mut c_void,
    nbytes: size_t,
    sigevent: RawSigevent,
    next_prio: *mut c_void,
    /// `__abs_prio`: the quota cell of the request, see [`Quota`].
    abs_prio: AtomicI32,
    policy: c_int,
    /// `__error_code` (low half) and the padding after it (high half: state).
    status: AtomicU64,
    /// `__return_value`.
    return_value: AtomicI64,
    offset: off_t,
    reserved: [u8; 32],
}

assert_eq_size!(RawAiocb, libc::aiocb);
assert_eq_align!(RawAiocb, libc::aiocb);
const_assert_eq!(size_of::<RawAiocb>(), 168);
/// Each public field lies where `libc::aiocb` has its namesake.
macro_rules! at_libc_offsets {
    ($($ours:ident = $libc:ident),* $(,)?) => {
        $(const_assert_eq!(offset_of!(RawAiocb, $ours), offset_of!(libc::aiocb, $libc));)*
    };
}
at_libc_offsets!(
    fildes = aio_fildes,
    lio_opcode = aio_lio_opcode,
    reqprio = aio_reqprio,
    buf = aio_buf,
    nbytes = aio_nbytes,
    sigevent = aio_sigevent,
    offset = aio_offset,
);
// glibc's private fields, as <aio.h> has them (checked from C in tests/aio_c.rs).
const_assert_eq!(offset_of!(RawAiocb, next_prio), 96);
const_assert_eq!(offset_of!(RawAiocb, abs_prio), 104);
const_assert_eq!(offset_of!(RawAiocb, policy), 108);
const_assert_eq!(offset_of!(RawAiocb, status), 112);
const_assert_eq!(offset_of!(RawAiocb, return_value), 120);
const_assert_eq!(offset_of!(RawAiocb, offset), 128);
const_assert_eq!(offset_of!(RawAiocb, reserved), 136);

/// High half of the status word: "SYL" and the state.
const TAG: u32 = 0x5359_4C00;
const IN_PROGRESS: u32 = TAG | 1;
const DONE: u32 = TAG | 2;
const RETURNED: u32 = TAG | 3;

const fn word(state: u32, code: i32) -> u64 {
    (state as u64) << 32 | code as u32 as u64
}

/// `AIO_PRIO_DELTA_MAX` of glibc's `<bits/local_lim.h>`.
pub(crate) const AIO_PRIO_DELTA_MAX: c_int = 20;

/// The fields of an aiocb a request is made from (copied at submission).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fields {
    pub fd: c_int,
    pub reqprio: c_int,
    pub buf: *mut c_void,
    pub nbytes: size_t,
    pub sigevent: RawSigevent,
    pub offset: off_t,
}

/// Copy the caller's fields of `cb`.
///
/// # Safety
///
/// `cb` must point to a readable, 8-byte aligned `struct aiocb`.
pub(crate) unsafe fn fields(cb: *const libc::aiocb) -> Fields {
    let raw = cb.cast::<RawAiocb>();
    // SAFETY: the caller guarantees a readable aiocb; `RawAiocb` has its size
    // and alignment (asserted above). Each field is read through a raw place
    // expression, so no reference to memory other threads may write is made.
    unsafe {
        Fields {
            fd: (*raw).fildes,
            reqprio: (*raw).reqprio,
            buf: (*raw).buf,
            nbytes: (*raw).nbytes,
            sigevent: (*raw).sigevent,
            offset: (*raw).offset,
        }
    }
}

/// The `aio_lio_opcode` of `cb`.
///
/// # Safety
///
/// As for [`fields`].
pub(crate) unsafe fn lio_opcode(cb: *const libc::aiocb) -> c_int {
    // SAFETY: the caller guarantees a readable aiocb (see `fields`).
    unsafe { (*cb.cast::<RawAiocb>()).lio_opcode }
}

/// The `aio_fildes` of `cb`.
///
/// # Safety
///
/// As for [`fields`].
pub(crate) unsafe fn fildes(cb: *const libc::aiocb) -> c_int {
    // SAFETY: the caller guarantees a readable aiocb (see `fields`).
    unsafe { (*cb.cast::<RawAiocb>()).fildes }
}

/// The status word of `cb`.
///
/// # Safety
///
/// `cb` must point to a readable, 8-byte aligned `struct aiocb` (only the
/// status word is read, atomically, so other threads may write it meanwhile).
unsafe fn status<'a>(cb: *const libc::aiocb) -> &'a AtomicU64 {
    // SAFETY: the caller guarantees the aiocb; offset 112 is 8-byte aligned
    // (asserted above) and an AtomicU64 has the layout of a u64. Callers in
    // this module use the reference only within the call that made it.
    unsafe { &(*cb.cast::<RawAiocb>()).status }
}

/// What `aio_error` returns: the error status of the request (0, an errno,
/// `EINPROGRESS`, `ECANCELED`), or `EINVAL` when `cb` was never submitted
/// through this library.
///
/// # Safety
///
/// As for [`fields`].
pub(crate) unsafe fn error(cb: *const libc::aiocb) -> Result<c_int, Errno> {
    // SAFETY: forwarded from the caller.
    let w = unsafe { status(cb) }.load(Ordering::Acquire);
    match (w >> 32) as u32 {
        IN_PROGRESS | DONE | RETURNED => Ok(w as u32 as c_int),
        _ => Err(Errno::EINVAL),
    }
}

/// Whether the request of `cb` is still in progress (for `aio_suspend`: any
/// other aiocb counts as complete, as in glibc).
///
/// # Safety
///
/// As for [`fields`].
pub(crate) unsafe fn in_progress(cb: *const libc::aiocb) -> bool {
    // SAFETY: forwarded from the caller.
    let w = unsafe { status(cb) }.load(Ordering::Acquire);
    (w >> 32) as u32 == IN_PROGRESS
}

/// What `aio_return` returns: the request's return value, once; `EINVAL` when
/// it is unfinished, already returned, or was never submitted (POSIX allows
/// it; glibc returns whatever the field holds).
///
/// # Safety
///
/// As for [`fields`].
pub(crate) unsafe fn take_return(cb: *mut libc::aiocb) -> Result<isize, Errno> {
    // SAFETY: forwarded from the caller.
    let st = unsafe { status(cb) };
    let mut w = st.load(Ordering::Acquire);
    loop {
        if (w >> 32) as u32 != DONE {
            return Err(Errno::EINVAL);
        }
        let returned = word(RETURNED, w as u32 as i32);
        match st.compare_exchange_weak(w, returned, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => break,
            Err(now) => w = now,
        }
    }
    // SAFETY: as for the status word; `__return_value` at offset 120 and
    // `__abs_prio` at 104 are aligned for their atomics. They were written
    // before the DONE state was released and the acquire above (or in the
    // failed compare-exchange) synchronises with it; the caller guarantees a
    // writable aiocb.
    let (ret, tag) = unsafe {
        let raw = cb.cast::<RawAiocb>();
        (&(*raw).return_value, &(*raw).abs_prio)
    };
    Quota::give_back_cell(tag.swap(0, Ordering::Relaxed));
    Ok(ret.load(Ordering::Relaxed) as isize)
}

/// An aiocb with a request in flight, owned by the engine until published.
///
/// Made only by [`CbPtr::new`], whose contract keeps the aiocb valid until
/// [`CbPtr::publish`] consumes the handle; nothing else reaches the aiocb
/// through it.
#[derive(Debug)]
pub(crate) struct CbPtr(NonNull<RawAiocb>);

// SAFETY: the handle is an address whose validity the constructor's contract
// guarantees from any thread; only atomic stores go through it.
unsafe impl Send for CbPtr {}
// SAFETY: `&CbPtr` only gives the address.
unsafe impl Sync for CbPtr {}

impl CbPtr {
    /// Take charge of `cb` for one request.
    ///
    /// # Safety
    ///
    /// `cb` must point to a writable, 8-byte aligned `struct aiocb` that stays
    /// valid (not freed, not moved) until this handle is published — the POSIX
    /// contract for an aiocb with a request in progress.
    pub(crate) unsafe fn new(cb: *mut libc::aiocb) -> Option<CbPtr> {
        NonNull::new(cb.cast::<RawAiocb>()).map(CbPtr)
    }

    /// The aiocb's address (the key of the request table).
    pub(crate) fn addr(&self) -> usize {
        self.0.as_ptr() as usize
    }

    fn cell(&self) -> &RawAiocb {
        // SAFETY: the constructor's contract keeps the aiocb valid while this
        // handle exists; only its atomic fields are accessed through this
        // shared reference (the others are never read through it).
        unsafe { self.0.as_ref() }
    }

    /// Mark the request in progress unless the aiocb already says so.
    /// `Ok(previous status word)` when claimed; `Err(status word)` when it
    /// says in progress (a request may be in flight on it). A previous
    /// request on the aiocb that finished and was never returned counts as
    /// returned now: its quota is given back.
    pub(crate) fn claim(&self) -> Result<u64, u64> {
        let st = &self.cell().status;
        let mut w = st.load(Ordering::Acquire);
        loop {
            if (w >> 32) as u32 == IN_PROGRESS {
                return Err(w);
            }
            let new = word(IN_PROGRESS, libc::EINPROGRESS);
            match st.compare_exchange_weak(w, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(now) => w = now,
            }
        }
        if (w >> 32) as u32 == DONE {
            Quota::give_back_cell(self.cell().abs_prio.swap(0, Ordering::Relaxed));
        }
        Ok(w)
    }

    /// Put back the status word [`claim`](Self::claim) replaced (the
    /// request was refused): the aiocb says what it said before.
    pub(crate) fn unclaim(&self, previous: u64) {
        self.cell().status.store(previous, Ordering::Release);
    }

    /// Mark the request in progress (`aio_error` says `EINPROGRESS`),
    /// counted against `quota` until it is returned.
    pub(crate) fn start(&self, quota: &Quota) {
        let cell = self.cell();
        cell.abs_prio.store(quota.tag(), Ordering::Relaxed);
        cell.status
            .store(word(IN_PROGRESS, libc::EINPROGRESS), Ordering::Release);
    }

    /// Publish the outcome (`ret` ≥ 0: success; < 0: `-errno`) and let go of
    /// the aiocb: the last access this library makes to it.
    pub(crate) fn publish(self, ret: i64) {
        let (code, value) = if ret < 0 { (-ret as i32, -1) } else { (0, ret) };
        let cell = self.cell();
        cell.return_value.store(value, Ordering::Relaxed);
        cell.status.store(word(DONE, code), Ordering::Release);
    }
}

/// The caller's `aio_buf`: memory outside any arena that a request's chain
/// reads or writes in place.
#[derive(Debug)]
pub(crate) struct RawBuf {
    addr: *mut u8,
    len: usize,
}

// SAFETY: an address and a length; the constructor's contract makes the
// memory usable from the worker thread that runs the chain.
unsafe impl Send for RawBuf {}

impl RawBuf {
    /// The `len` bytes at `addr`.
    ///
    /// # Safety
    ///
    /// The memory must stay valid for reads and writes, and not be accessed
    /// otherwise, until the request it is made for has completed and its
    /// outcome is published (the POSIX contract for `aio_buf`).
    pub(crate) unsafe fn new(addr: *mut c_void, len: usize) -> RawBuf {
        RawBuf {
            addr: addr.cast(),
            len,
        }
    }

    /// Its length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Let `chain` reach the buffer.
    pub(crate) fn mem(&self, chain: &mut Chain<'static>) -> Mem {
        // SAFETY: the constructor's contract: the memory stays valid and
        // unaliased until the request completes, and the chain (the request's
        // batch) is dropped when it completes, before the outcome is published.
        unsafe { chain.raw(self.addr, self.len) }
    }

    /// Re-aim a spare one-atom I/O batch ([`ValidatedBatch::reaim_io`]) at
    /// this buffer: false (batch untouched) when it is not such a batch.
    pub(crate) fn aim(
        &self,
        batch: &mut ValidatedBatch<'static>,
        policy: &Policy,
        fd: i32,
        offset: i64,
        caller_data: u64,
        flags: u16,
    ) -> bool {
        // SAFETY: as in `mem`: the constructor's contract keeps the memory
        // valid and unaliased until the request completes, and the batch
        // (this request's from now on) runs only for this request: once it
        // has completed the engine drops it or keeps it as a spare, and a
        // spare runs again only after it was re-aimed at another request's
        // buffer.
        unsafe { batch.reaim_io(policy, fd, self.addr, self.len, offset, caller_data, flags) }
    }
}

// SAFETY: the contract of `RawBuf::new` is the trait's: the memory stays
// valid and unaliased until the request's outcome is published.
unsafe impl DeviceBuffer for RawBuf {
    fn parts(&self) -> (u64, u64) {
        (self.addr as u64, self.len as u64)
    }
}

/// How a completion is announced (`aio_sigevent` or the list's `sigevent`).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Notify {
    /// `SIGEV_NONE`.
    None,
    /// `SIGEV_SIGNAL` (`tid` 0: the main thread) or `SIGEV_THREAD_ID`.
    Signal {
        /// Thread to signal, 0 for the main thread.
        tid: i32,
        /// The signal.
        signo: c_int,
        /// `sigev_value`.
        value: u64,
    },
    /// `SIGEV_THREAD`: `func(value)` on the notifier thread.
    Thread {
        /// `sigev_notify_function`.
        func: extern "C" fn(libc::sigval),
        /// `sigev_value`.
        value: u64,
    },
}

/// Decode a `sigevent`.
///
/// # Safety
///
/// For `SIGEV_THREAD`, the function word must be NULL or a function that can
/// be called as `void f(union sigval)` from any thread, as long as requests
/// that use it may complete.
pub(crate) unsafe fn notify_of(ev: &RawSigevent) -> Result<Notify, Errno> {
    let valid_signal = |s: c_int| (1..=libc::SIGRTMAX()).contains(&s);
    match ev.notify {
        libc::SIGEV_NONE => Ok(Notify::None),
        // Signal 0 queues nothing (glibc sends it, to no effect): an aiocb
        // zeroed with memset has SIGEV_SIGNAL (0) and signal 0.
        libc::SIGEV_SIGNAL if ev.signo == 0 => Ok(Notify::None),
        libc::SIGEV_SIGNAL | libc::SIGEV_THREAD_ID => {
            if !valid_signal(ev.signo) {
                return Err(Errno::EINVAL);
            }
            let tid = if ev.notify == libc::SIGEV_THREAD_ID {
                let tid = ev.un[0] as u32 as i32;
                if tid <= 0 {
                    return Err(Errno::EINVAL);
                }
                tid
            } else {
                0
            };
            Ok(Notify::Signal {
                tid,
                signo: ev.signo,
                value: ev.value,
            })
        }
        libc::SIGEV_THREAD => {
            let f = ev.un[0] as usize;
            if f == 0 {
                return Err(Errno::EINVAL);
            }
            // SAFETY: a non-NULL code address the caller vouches for as a
            // `void (*)(union sigval)`; `union sigval` is passed as one
            // pointer-sized INTEGER-class argument, exactly like
            // `libc::sigval` (a struct holding one pointer).
            let func = unsafe { std::mem::transmute::<usize, extern "C" fn(libc::sigval)>(f) };
            Ok(Notify::Thread {
                func,
                value: ev.value,
            })
        }
        _ => Err(Errno::EINVAL),
    }
}

/// A `sigevent` for `SIGEV_NONE`.
pub fn sigevent_none() -> libc::sigevent {
    to_libc(RawSigevent {
        value: 0,
        signo: 0,
        notify: libc::SIGEV_NONE,
        un: [0; 6],
    })
}

/// A `sigevent` for `SIGEV_SIGNAL`: queue `signo` with `si_code = SI_ASYNCIO`
/// and `si_value = value`.
pub fn sigevent_signal(signo: c_int, value: *mut c_void) -> libc::sigevent {
    to_libc(RawSigevent {
        value: value as u64,
        signo,
        notify: libc::SIGEV_SIGNAL,
        un: [0; 6],
    })
}

/// A `sigevent` for `SIGEV_THREAD`: call `func(value)` on the notifier thread.
/// (`libc::sigevent` does not expose the function field.)
pub fn sigevent_thread(func: extern "C" fn(libc::sigval), value: *mut c_void) -> libc::sigevent {
    to_libc(RawSigevent {
        value: value as u64,
        signo: 0,
        notify: libc::SIGEV_THREAD,
        un: [func as usize as u64, 0, 0, 0, 0, 0],
    })
}

fn to_libc(ev: RawSigevent) -> libc::sigevent {
    // SAFETY: `RawSigevent` and `libc::sigevent` have the same size and
    // alignment (asserted above), both are plain integers and pointers with no
    // invalid bit patterns, and the field offsets match.
    unsafe { std::mem::transmute::<RawSigevent, libc::sigevent>(ev) }
}

/// Read a `sigevent` given as a pointer (the list-wide one of `lio_listio`).
///
/// # Safety
///
/// `ev` must point to a readable `struct sigevent`.
pub(crate) unsafe fn read_sigevent(ev: *const libc::sigevent) -> RawSigevent {
    // SAFETY: the caller guarantees it; the layouts match (asserted above).
    unsafe { *ev.cast::<RawSigevent>() }
}

/// Make the aiocb's status say a request failed synchronously with `err`
/// (and `aio_return` gives -1), as glibc does for an invalid `aio_reqprio`.
///
/// # Safety
///
/// `cb` must point to a writable, 8-byte aligned `struct aiocb` with no
/// request in progress.
pub(crate) unsafe fn fail_now(cb: *mut libc::aiocb, err: Errno) {
    // SAFETY: the caller's contract is `CbPtr::new`'s, for the duration of
    // this call.
    if let Some(p) = unsafe { CbPtr::new(cb) } {
        // Counted against no quota.
        p.cell().abs_prio.store(0, Ordering::Relaxed);
        p.publish(-(err.raw() as i64));
    }
}

/// The `void *` a Rust test or caller reads back from a `sigval`.
pub(crate) fn sigval_of(value: u64) -> libc::sigval {
    libc::sigval {
        sival_ptr: value as usize as *mut c_void,
    }
}

/// Cells of [`Quota`]: each counts the requests of one context that were
/// submitted and not yet returned, and has [`OWNED`] set while the context
/// lives. A cell is reused only once it is back to 0 (not owned, nothing
/// unreturned), so an `aio_return` that comes after its context is gone
/// still finds its own cell.
static QUOTA_CELLS: [AtomicU32; 4096] = [const { AtomicU32::new(0) }; 4096];

/// Set in a [`QUOTA_CELLS`] cell while its context lives.
const OWNED: u32 = 1 << 31;

/// The request limit of a context: requests count from submission until
/// `aio_return` takes their value (or the aiocb is used for a new request),
/// not only until they complete, as POSIX's `AIO_MAX` asks. The aiocb names
/// its cell (`__abs_prio` = index + 1), so `aio_return` needs no table.
#[derive(Debug)]
pub(crate) struct Quota {
    cell: u32,
}

impl Quota {
    /// A cell for a new context; `None` when every one is in use.
    pub(crate) fn new() -> Option<Quota> {
        QUOTA_CELLS.iter().enumerate().find_map(|(i, c)| {
            c.compare_exchange(0, OWNED, Ordering::AcqRel, Ordering::Relaxed)
                .ok()
                .map(|_| Quota { cell: i as u32 })
        })
    }

    fn counter(&self) -> &'static AtomicU32 {
        &QUOTA_CELLS[self.cell as usize]
    }

    fn tag(&self) -> i32 {
        self.cell as i32 + 1
    }

    /// Count one more request, unless `max` are unreturned already.
    pub(crate) fn take(&self, max: usize) -> bool {
        let c = self.counter();
        let before = c.fetch_add(1, Ordering::AcqRel) & !OWNED;
        if before as usize >= max {
            c.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    /// Uncount a request whose aiocb names cell `tag` (0: none; anything
    /// else not a cell is ignored: the aiocb is the caller's memory).
    fn give_back_cell(tag: i32) {
        let Some(c) = usize::try_from(tag)
            .ok()
            .and_then(|t| t.checked_sub(1))
            .and_then(|i| QUOTA_CELLS.get(i))
        else {
            return;
        };
        // Never below zero, whatever a corrupted aiocb says.
        let _ = c.fetch_update(Ordering::AcqRel, Ordering::Relaxed, |v| {
            (v & !OWNED != 0).then(|| v - 1)
        });
    }
}

impl Drop for Quota {
    fn drop(&mut self) {
        self.counter().fetch_and(!OWNED, Ordering::AcqRel);
    }
}
