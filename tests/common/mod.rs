//! Helpers shared by the executor test binaries (`mod common;`).
#![allow(dead_code)] // each test binary uses its own subset

use std::time::Duration;

use syslets::opcode::Getpid;
use syslets::{Chain, Done, Executor, Policy, ValidatedBatch};

/// A wait long enough that only a hang reaches it.
pub const LONG: Option<Duration> = Some(Duration::from_secs(20));

/// This process's id, as a getpid atom returns it.
pub fn pid() -> i64 {
    std::process::id() as i64
}

/// A one-atom getpid chain with these batch flags and caller data.
pub fn getpid_chain(flags: u16, data: u64) -> ValidatedBatch<'static> {
    let mut chain = Chain::new();
    chain.push(Getpid::new());
    chain.set_flags(flags).set_caller_data(data);
    chain.prepare(&Policy::default()).unwrap()
}

/// Reap until `n` completions arrived, waiting on the futex meanwhile; fails
/// (instead of hanging) if `wait` gives up while some are missing.
pub fn reap_n(ex: &Executor, n: usize) -> Vec<Done> {
    let mut out = Vec::new();
    while out.len() < n {
        ex.wait(n - out.len(), LONG).unwrap();
        let before = out.len();
        ex.reap_into(&mut out).unwrap();
        assert!(out.len() > before, "wait returned but nothing was reaped");
    }
    out
}

/// Run `f` in a forked child and return its exit code (a panic is 101).
pub fn in_child(f: impl FnOnce() -> i32) -> i32 {
    // SAFETY: fork() has no memory-safety preconditions of its own; in the
    // child only this thread exists, and it runs `f` and then `_exit`s without
    // returning into the test harness (glibc's fork handlers keep malloc usable).
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(101);
        // SAFETY: _exit ends the child at once, running no destructor or atexit
        // handler of the harness.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: `status` is a valid out-pointer for this call.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(r, pid);
    assert!(libc::WIFEXITED(status), "child died: status {status:#x}");
    libc::WEXITSTATUS(status)
}
