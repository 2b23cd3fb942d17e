//! Signal masks of the threads this crate starts (workers, the AIO shim's
//! completion and notifier threads): they never run the application's handlers,
//! as glibc's AIO helper threads don't.
#![allow(unsafe_code)]

/// Run `f` (which starts a thread) with every signal blocked in the calling
/// thread, so the new thread starts with all signals blocked and never runs a
/// handler meant for the application's threads; the caller's mask is restored.
pub(crate) fn with_signals_blocked<T>(f: impl FnOnce() -> T) -> T {
    let mut all = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    let mut old = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigfillset initialises the set behind the pointer; the set lives
    // on this stack frame.
    unsafe { libc::sigfillset(all.as_mut_ptr()) };
    // SAFETY: both pointers are to sigset_t on this stack frame; `all` was
    // initialised above and `old` is written by the call.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, all.as_ptr(), old.as_mut_ptr()) };
    let out = f();
    if rc == 0 {
        // SAFETY: `old` was filled by the successful call above.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, old.as_ptr(), std::ptr::null_mut()) };
    }
    out
}

/// This process's real user id (the `si_uid` of a signal it queues).
pub(crate) fn uid() -> u32 {
    // SAFETY: getuid takes no argument and cannot fail.
    unsafe { libc::getuid() }
}
