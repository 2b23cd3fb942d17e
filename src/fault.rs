//! Fault injection for tests: process-wide switches that make the
//! executor's own kernel interfaces fail, so tests can check that it returns
//! clear errors and loses no completion.
//!
//! Each switch is read with one relaxed atomic load, only on paths that are
//! about to make a system call anyway (thread creation, futex, eventfd,
//! getrusage), so
//! the hooks cost nothing measurable when off. The switches are global: tests
//! that use them must not run concurrently with each other (`tests/faults.rs`
//! serialises them with a mutex).
//!
//! Allocation failure is not injected: Rust's `Box`/`Vec` call
//! `handle_alloc_error`, which aborts the process, so there is no error path
//! to test; the executor allocates only in `submit` (one `Box` per batch, the
//! pool's queue) and `reap` (the output `Vec`).

use std::sync::atomic::{AtomicBool, Ordering};

/// A fault that can be switched on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Creating a worker thread fails (as with `EAGAIN` at the thread limit).
    WorkerSpawn,
    /// Every `futex` wait and wake fails (`ENOSYS`): waits return at once and
    /// wakes wake nobody.
    Futex,
    /// Creating an eventfd fails (`EMFILE`), and writing or reading the
    /// attached one fails (the write is lost, a read finds nothing).
    Eventfd,
    /// `getrusage` fails: the executor cannot tell a slow call that slept from
    /// one that was preempted, so every slow call counts as a miss.
    Rusage,
    /// Setting up a kernel AIO context fails (`ENOSYS`): the AIO shim sends
    /// `O_DIRECT` requests to workers.
    KernelAio,
}

static WORKER_SPAWN: AtomicBool = AtomicBool::new(false);
static FUTEX: AtomicBool = AtomicBool::new(false);
static EVENTFD: AtomicBool = AtomicBool::new(false);
static RUSAGE: AtomicBool = AtomicBool::new(false);
static KERNEL_AIO: AtomicBool = AtomicBool::new(false);

fn switch(f: Fault) -> &'static AtomicBool {
    match f {
        Fault::WorkerSpawn => &WORKER_SPAWN,
        Fault::Futex => &FUTEX,
        Fault::Eventfd => &EVENTFD,
        Fault::Rusage => &RUSAGE,
        Fault::KernelAio => &KERNEL_AIO,
    }
}

/// Switch `f` on or off (process-wide).
pub fn set(f: Fault, on: bool) {
    switch(f).store(on, Ordering::SeqCst);
}

/// Switch every fault off.
pub fn clear_all() {
    for f in [
        Fault::WorkerSpawn,
        Fault::Futex,
        Fault::Eventfd,
        Fault::Rusage,
        Fault::KernelAio,
    ] {
        set(f, false);
    }
}

/// Whether `f` is on (one relaxed load).
#[inline]
pub(crate) fn active(f: Fault) -> bool {
    switch(f).load(Ordering::Relaxed)
}
