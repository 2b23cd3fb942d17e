//! The fork generation: a counter a `pthread_atfork` child handler bumps, so an
//! executor made before a `fork()` knows, with one atomic load, that it is now in
//! the child (where its worker threads do not exist and its locks may be held).
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

static GENERATION: AtomicU64 = AtomicU64::new(0);
static REGISTER: Once = Once::new();

extern "C" fn in_child() {
    // Async-signal-safe: one atomic add, no lock, no allocation.
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
    generation();
}

/// The current fork generation; registers the handler on first use. Two reads
/// differ exactly when a `fork()` (through libc) happened between them and the
/// second read is in the child.
pub(crate) fn generation() -> u64 {
    REGISTER.call_once(|| {
        // SAFETY: `in_child` is an `extern "C" fn()` that lives for the whole
        // program and only does an atomic add, which is allowed in a child
        // after fork; no prepare or parent handler is installed.
        let rc = unsafe { libc::pthread_atfork(None, None, Some(in_child)) };
        assert_eq!(rc, 0, "pthread_atfork failed");
    });
    GENERATION.load(Ordering::Relaxed)
}
