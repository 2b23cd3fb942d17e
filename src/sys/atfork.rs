//! The fork generation: a counter a `pthread_atfork` child handler bumps, so an
//! executor made before a `fork()` knows, with one atomic load, that it is now in
//! the child (where its worker threads do not exist and its locks may be held).
//! The same handler refreshes a cached copy of this process's id, so that a
//! batch can compare the pid its policy fixed with the current one without a
//! `getpid` system call ([`pid`]).
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Once;

static GENERATION: AtomicU64 = AtomicU64::new(0);
/// This process's id as of the last registration or fork (0 before either).
static PID: AtomicU32 = AtomicU32::new(0);
static REGISTER: Once = Once::new();

fn getpid() -> u32 {
    // SAFETY: getpid takes no argument, cannot fail and is async-signal-safe.
    unsafe { libc::getpid() as u32 }
}

extern "C" fn in_child() {
    // Async-signal-safe: getpid and atomic stores, no lock, no allocation.
    // Relaxed: the child has no other thread yet.
    PID.store(getpid(), Ordering::Relaxed);
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// Registers the handler when the library is loaded (an ELF constructor),
/// before any thread of the program exists. Registering lazily alone left a
/// window: a `fork()` by one thread while another was inside the first
/// `generation()`'s `call_once` gave a child whose `Once` stays "running" for
/// ever, so `Executor::new()` in that child hung (seen in
/// `tests/exhaustion.rs`). The lazy path stays for loaders that skip
/// `.init_array`.
#[used]
#[link_section = ".init_array"]
static REGISTER_AT_LOAD: extern "C" fn() = register_at_load;

extern "C" fn register_at_load() {
    register();
}

fn register() {
    REGISTER.call_once(|| {
        PID.store(getpid(), Ordering::Relaxed);
        // SAFETY: `in_child` is an `extern "C" fn()` that lives for the whole
        // program and only calls getpid and stores atomics, which is allowed
        // in a child after fork; no prepare or parent handler is installed.
        let rc = unsafe { libc::pthread_atfork(None, None, Some(in_child)) };
        assert_eq!(rc, 0, "pthread_atfork failed");
    });
}

/// The current fork generation; registers the handler on first use. Two reads
/// differ exactly when a `fork()` (through libc) happened between them and the
/// second read is in the child.
pub(crate) fn generation() -> u64 {
    register();
    GENERATION.load(Ordering::Relaxed)
}

/// This process's id, kept by the fork handler: one atomic load (after the
/// first call), no system call. Exact after every `fork()` through libc; a
/// child made by a raw `clone` system call, which runs no fork handler, still
/// reads its parent's pid here.
#[inline]
pub(crate) fn pid() -> u32 {
    register();
    PID.load(Ordering::Relaxed)
}
