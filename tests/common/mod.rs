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
