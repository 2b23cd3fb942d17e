//! The LD_PRELOAD layer (feature `aio-preload`): glibc's POSIX AIO functions with C linkage,
//! unversioned and `*64`, so that `LD_PRELOAD=libsyslets.so` replaces glibc's
//! AIO in an unmodified program.
//!
//! Each function checks its C arguments (counts, timespecs), calls the Rust
//! function of the same name on the process-wide context (made on first use:
//! nothing runs when the library is loaded, so a program that never uses AIO,
//! or forks, is not affected), and turns an `Err(errno)` into `-1` with
//! `errno` set through `__errno_location()`.
//!
//! None unwinds into C (which would abort the program): a panic inside is
//! `-1` with `EAGAIN` for the calls that queue or wait (`aio_read`,
//! `aio_write`, `aio_fsync`, `lio_listio`, `aio_suspend`: the request was not
//! queued, the wait ended without a completion) and `EINVAL` for the others
//! (`aio_error`, `aio_return`, `aio_cancel`), the errors glibc gives a call it
//! cannot serve ([`no_unwind`]).
//!
//! `syslets_aio_active()` (returns 1) lets a program, or a test, check with
//! `dlsym(RTLD_DEFAULT, "syslets_aio_active")` that the library is in effect;
//! with `SYSLETS_AIO_BANNER=1` in the environment the first request also
//! prints `syslets-aio: active` to stderr.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use libc::{c_int, c_long, ssize_t};

use syslets_rs::aio::{self as api, preload, AioInit, Cancel, AIO_PRIO_DELTA_MAX};
use syslets_rs::Errno;

use crate::unwind::no_unwind;

fn set_errno(e: Errno) {
    // SAFETY: __errno_location returns this thread's errno, valid for writes
    // for the thread's lifetime.
    unsafe { *libc::__errno_location() = e.raw() };
}

fn status(r: Result<(), Errno>) -> c_int {
    match r {
        Ok(()) => 0,
        Err(e) => {
            set_errno(e);
            -1
        }
    }
}

static BANNER: AtomicBool = AtomicBool::new(false);

fn banner() {
    if BANNER.swap(true, Ordering::Relaxed) {
        return;
    }
    if std::env::var_os("SYSLETS_AIO_BANNER").is_some_and(|v| v == "1") {
        let msg = b"syslets-aio: active\n";
        // SAFETY: writes `msg.len()` bytes from a static buffer to fd 2.
        unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
    }
}

/// Whether this library provides the process's POSIX AIO: always 1.
#[no_mangle]
pub extern "C" fn syslets_aio_active() -> c_int {
    1
}

/// `long sysconf(int name)` ([sysconf(3)]): `_SC_AIO_MAX` and
/// `_SC_AIO_LISTIO_MAX` are the process-wide context's request limit (a list
/// longer than that can never be queued whole), `_SC_AIO_PRIO_DELTA_MAX` the
/// largest `aio_reqprio` accepted; every other name is libc's `sysconf`
/// (found with `dlsym(RTLD_NEXT)`).
///
/// [sysconf(3)]: https://man7.org/linux/man-pages/man3/sysconf.3.html
#[export_name = "sysconf"]
pub extern "C" fn c_sysconf(name: c_int) -> c_long {
    match name {
        libc::_SC_AIO_MAX | libc::_SC_AIO_LISTIO_MAX => {
            preload::process_max_requests().min(c_long::MAX as usize) as c_long
        }
        libc::_SC_AIO_PRIO_DELTA_MAX => AIO_PRIO_DELTA_MAX.into(),
        _ => match libc_sysconf() {
            Some(f) => f(name),
            None => {
                set_errno(Errno::EINVAL);
                -1
            }
        },
    }
}

/// libc's `sysconf`, looked up once.
fn libc_sysconf() -> Option<extern "C" fn(c_int) -> c_long> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let mut f = NEXT.load(Ordering::Acquire);
    if f == 0 {
        // SAFETY: dlsym with a NUL-terminated name; RTLD_NEXT is the object
        // after this library in lookup order (libc).
        f = unsafe { libc::dlsym(libc::RTLD_NEXT, c"sysconf".as_ptr()) } as usize;
        NEXT.store(f, Ordering::Release);
    }
    // SAFETY: a non-NULL `sysconf` from dlsym is libc's
    // `long sysconf(int)`, callable with the C ABI from any thread.
    (f != 0).then(|| unsafe { std::mem::transmute::<usize, extern "C" fn(c_int) -> c_long>(f) })
}

/// `int aio_read(struct aiocb *)`.
///
/// # Safety
///
/// As for [`api::aio_read`].
#[export_name = "aio_read"]
pub unsafe extern "C" fn c_aio_read(cb: *mut libc::aiocb) -> c_int {
    status(no_unwind(Errno::EAGAIN, || {
        banner();
        // SAFETY: forwarded from the C caller.
        unsafe { api::aio_read(cb) }
    }))
}

/// `int aio_read64(struct aiocb64 *)`: the same layout on x86_64.
///
/// # Safety
///
/// As for [`api::aio_read`].
#[export_name = "aio_read64"]
pub unsafe extern "C" fn c_aio_read64(cb: *mut libc::aiocb) -> c_int {
    // SAFETY: forwarded from the C caller.
    unsafe { c_aio_read(cb) }
}

/// `int aio_write(struct aiocb *)`.
///
/// # Safety
///
/// As for [`api::aio_write`].
#[export_name = "aio_write"]
pub unsafe extern "C" fn c_aio_write(cb: *mut libc::aiocb) -> c_int {
    status(no_unwind(Errno::EAGAIN, || {
        banner();
        // SAFETY: forwarded from the C caller.
        unsafe { api::aio_write(cb) }
    }))
}

/// `int aio_write64(struct aiocb64 *)`.
///
/// # Safety
///
/// As for [`api::aio_write`].
#[export_name = "aio_write64"]
pub unsafe extern "C" fn c_aio_write64(cb: *mut libc::aiocb) -> c_int {
    // SAFETY: forwarded from the C caller.
    unsafe { c_aio_write(cb) }
}

/// `int aio_fsync(int op, struct aiocb *)`.
///
/// # Safety
///
/// As for [`api::aio_fsync`].
#[export_name = "aio_fsync"]
pub unsafe extern "C" fn c_aio_fsync(op: c_int, cb: *mut libc::aiocb) -> c_int {
    status(no_unwind(Errno::EAGAIN, || {
        banner();
        // SAFETY: forwarded from the C caller.
        unsafe { api::aio_fsync(op, cb) }
    }))
}

/// `int aio_fsync64(int op, struct aiocb64 *)`.
///
/// # Safety
///
/// As for [`api::aio_fsync`].
#[export_name = "aio_fsync64"]
pub unsafe extern "C" fn c_aio_fsync64(op: c_int, cb: *mut libc::aiocb) -> c_int {
    // SAFETY: forwarded from the C caller.
    unsafe { c_aio_fsync(op, cb) }
}

/// `int aio_error(const struct aiocb *)`.
///
/// # Safety
///
/// As for [`api::aio_error`].
#[export_name = "aio_error"]
pub unsafe extern "C" fn c_aio_error(cb: *const libc::aiocb) -> c_int {
    // SAFETY: forwarded from the C caller.
    match no_unwind(Errno::EINVAL, || unsafe { api::aio_error(cb) }) {
        Ok(code) => code,
        Err(e) => {
            set_errno(e);
            -1
        }
    }
}

/// `int aio_error64(const struct aiocb64 *)`.
///
/// # Safety
///
/// As for [`api::aio_error`].
#[export_name = "aio_error64"]
pub unsafe extern "C" fn c_aio_error64(cb: *const libc::aiocb) -> c_int {
    // SAFETY: forwarded from the C caller.
    unsafe { c_aio_error(cb) }
}

/// `ssize_t aio_return(struct aiocb *)`.
///
/// # Safety
///
/// As for [`api::aio_return`].
#[export_name = "aio_return"]
pub unsafe extern "C" fn c_aio_return(cb: *mut libc::aiocb) -> ssize_t {
    // SAFETY: forwarded from the C caller.
    match no_unwind(Errno::EINVAL, || unsafe { api::aio_return(cb) }) {
        Ok(n) => n,
        Err(e) => {
            set_errno(e);
            -1
        }
    }
}

/// `ssize_t aio_return64(struct aiocb64 *)`.
///
/// # Safety
///
/// As for [`api::aio_return`].
#[export_name = "aio_return64"]
pub unsafe extern "C" fn c_aio_return64(cb: *mut libc::aiocb) -> ssize_t {
    // SAFETY: forwarded from the C caller.
    unsafe { c_aio_return(cb) }
}

/// `int aio_suspend(const struct aiocb *const list[], int nent, const struct timespec *timeout)`.
///
/// # Safety
///
/// `list` must hold `nent` readable pointers, each NULL or as for
/// [`api::aio_suspend`]; `timeout` NULL or a readable timespec.
#[export_name = "aio_suspend"]
pub unsafe extern "C" fn c_aio_suspend(
    list: *const *const libc::aiocb,
    nent: c_int,
    timeout: *const libc::timespec,
) -> c_int {
    // SAFETY: forwarded from the C caller (see `suspend`).
    status(no_unwind(Errno::EAGAIN, || unsafe {
        suspend(list, nent, timeout)
    }))
}

/// The body of [`c_aio_suspend`].
///
/// A timeout whose end (now on `CLOCK_MONOTONIC` plus the timeout) does not
/// fit in a `time_t` times out at once, as in glibc, whose sum wraps into the
/// past there (`{LONG_MAX, 0}` is `-1`, `EAGAIN` when every request is still
/// in progress); any other valid timeout ends at that time.
///
/// # Safety
///
/// As for [`c_aio_suspend`].
unsafe fn suspend(
    list: *const *const libc::aiocb,
    nent: c_int,
    timeout: *const libc::timespec,
) -> Result<(), Errno> {
    if nent < 0 || (nent > 0 && list.is_null()) {
        return Err(Errno::EINVAL);
    }
    let deadline = if timeout.is_null() {
        None
    } else {
        // SAFETY: a non-NULL timeout is a readable timespec (the C contract).
        let ts = unsafe { *timeout };
        if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
            return Err(Errno::EINVAL);
        }
        let now = Instant::now();
        // (`Instant` is a CLOCK_MONOTONIC timespec with 64-bit seconds: its
        // checked sum fails exactly where glibc's wraps.)
        let end = now.checked_add(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32));
        Some(end.unwrap_or(now))
    };
    let list = if nent == 0 {
        &[][..]
    } else {
        // SAFETY: `list` holds `nent` pointers (the C contract), checked non-NULL.
        unsafe { std::slice::from_raw_parts(list, nent as usize) }
    };
    // SAFETY: forwarded from the C caller.
    unsafe { preload::aio_suspend_until(list, deadline) }
}

/// `int aio_suspend64(...)`.
///
/// # Safety
///
/// As for [`c_aio_suspend`].
#[export_name = "aio_suspend64"]
pub unsafe extern "C" fn c_aio_suspend64(
    list: *const *const libc::aiocb,
    nent: c_int,
    timeout: *const libc::timespec,
) -> c_int {
    // SAFETY: forwarded from the C caller.
    unsafe { c_aio_suspend(list, nent, timeout) }
}

/// `int aio_cancel(int fd, struct aiocb *)`.
///
/// # Safety
///
/// As for [`api::aio_cancel`].
#[export_name = "aio_cancel"]
pub unsafe extern "C" fn c_aio_cancel(fd: c_int, cb: *mut libc::aiocb) -> c_int {
    // SAFETY: forwarded from the C caller.
    match no_unwind(Errno::EINVAL, || unsafe { api::aio_cancel(fd, cb) }) {
        Ok(c) => Cancel::as_c(c),
        Err(e) => {
            set_errno(e);
            -1
        }
    }
}

/// `int aio_cancel64(int fd, struct aiocb64 *)`.
///
/// # Safety
///
/// As for [`api::aio_cancel`].
#[export_name = "aio_cancel64"]
pub unsafe extern "C" fn c_aio_cancel64(fd: c_int, cb: *mut libc::aiocb) -> c_int {
    // SAFETY: forwarded from the C caller.
    unsafe { c_aio_cancel(fd, cb) }
}

/// `int lio_listio(int mode, struct aiocb *const list[], int nent, struct sigevent *sig)`.
///
/// # Safety
///
/// `list` must hold `nent` pointers, each NULL or as for
/// [`api::lio_listio`]; `sig` NULL or a readable sigevent.
#[export_name = "lio_listio"]
pub unsafe extern "C" fn c_lio_listio(
    mode: c_int,
    list: *const *mut libc::aiocb,
    nent: c_int,
    sig: *mut libc::sigevent,
) -> c_int {
    // SAFETY: forwarded from the C caller (see `listio`).
    status(no_unwind(Errno::EAGAIN, || unsafe {
        listio(mode, list, nent, sig)
    }))
}

/// The body of [`c_lio_listio`].
///
/// # Safety
///
/// As for [`c_lio_listio`].
unsafe fn listio(
    mode: c_int,
    list: *const *mut libc::aiocb,
    nent: c_int,
    sig: *mut libc::sigevent,
) -> Result<(), Errno> {
    banner();
    if nent < 0 || (nent > 0 && list.is_null()) {
        return Err(Errno::EINVAL);
    }
    let list = if nent == 0 {
        &[][..]
    } else {
        // SAFETY: `list` holds `nent` pointers (the C contract), checked non-NULL.
        unsafe { std::slice::from_raw_parts(list, nent as usize) }
    };
    // SAFETY: a non-NULL `sig` is a readable sigevent (the C contract).
    let sig = unsafe { sig.as_ref() };
    // SAFETY: forwarded from the C caller.
    unsafe { api::lio_listio(mode, list, sig) }
}

/// `int lio_listio64(...)`.
///
/// # Safety
///
/// As for [`c_lio_listio`].
#[export_name = "lio_listio64"]
pub unsafe extern "C" fn c_lio_listio64(
    mode: c_int,
    list: *const *mut libc::aiocb,
    nent: c_int,
    sig: *mut libc::sigevent,
) -> c_int {
    // SAFETY: forwarded from the C caller.
    unsafe { c_lio_listio(mode, list, nent, sig) }
}

/// `void aio_init(const struct aioinit *)`.
///
/// # Safety
///
/// `init` must be NULL or point to a readable `struct aioinit`.
#[export_name = "aio_init"]
pub unsafe extern "C" fn c_aio_init(init: *const AioInit) {
    // (No error to report: `aio_init` returns nothing.)
    let _ = no_unwind(Errno::EINVAL, || {
        // SAFETY: a non-NULL `init` is readable (the C contract); `AioInit`
        // has glibc's layout (eight ints).
        if let Some(init) = unsafe { init.as_ref() } {
            api::aio_init(init);
        }
        Ok(())
    });
}
