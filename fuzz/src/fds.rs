//! The process's descriptor table, read from `/proc` (no `unsafe`).

use std::collections::BTreeSet;
use std::path::PathBuf;

/// The open descriptors of this process, without the one used to list them.
pub fn snapshot() -> BTreeSet<i32> {
    let own = PathBuf::from(format!("/proc/{}/fd", std::process::id()));
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| {
            let fd: i32 = e.ok()?.file_name().to_str()?.parse().ok()?;
            // The listing's own descriptor is gone by the time we look, or
            // points at this very directory.
            match target(fd) {
                Some(t) if t != own => Some(fd),
                _ => None,
            }
        })
        .collect()
}

/// What descriptor `fd` refers to (`/path`, `socket:[ino]`, …), or `None`
/// when it is not open.
pub fn target(fd: i32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()
}

/// The calling thread's id, from `/proc/thread-self` (`PID/task/TID`).
pub fn gettid() -> u32 {
    thread_local! {
        static TID: u32 = {
            let link = std::fs::read_link("/proc/thread-self").expect("/proc/thread-self");
            link.file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.parse().ok())
                .expect("PID/task/TID")
        };
    }
    TID.with(|t| *t)
}
