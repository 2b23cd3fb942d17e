//! Regression tests for bugs found while hardening (fuzz targets in `fuzz/`,
//! see NOTES-harden.md): each replays the input that showed the bug.
//!
//! The tests share one lock: they depend on descriptor numbers being reused,
//! which the process-wide descriptor table decides.

use std::collections::BTreeSet;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::Mutex;

use syslets::opcode::{Close, Openat, Socket};
use syslets::{Chain, Policy, Stop};

static FD_TABLE: Mutex<()> = Mutex::new(());

fn open_fds() -> BTreeSet<i32> {
    let own = PathBuf::from(format!("/proc/{}/fd", std::process::id()));
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| {
            let fd: i32 = e.ok()?.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
            (target != own).then_some(fd)
        })
        .collect()
}

/// Bug 1 (`unclosed_fds`/`take_fds`): a close atom was matched to the atom
/// whose result it names, not to the descriptor it actually closes. Here the
/// open's descriptor is closed, a socket reuses its number, and a second
/// close of the open's result closes the socket. The executor reported the
/// socket as still open, and `take_fds` handed out an `OwnedFd` for a closed
/// number — which, dropped, closes whatever file another thread got under
/// that number meanwhile.
#[test]
fn a_close_releases_the_descriptor_it_names_whichever_atom_opened_it() {
    let _guard = FD_TABLE.lock().unwrap_or_else(|e| e.into_inner());
    let before = open_fds();
    let mut chain = Chain::new();
    let path = chain.path("/dev/null");
    let file = chain.push(Openat::new(libc::AT_FDCWD, path).stop_on(Stop::NEGATIVE));
    chain.push(Close::new(file));
    let sock = chain.push(
        Socket::new(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC).stop_on(Stop::NEGATIVE),
    );
    let second = chain.push(Close::new(file));
    let mut batch = chain.prepare(&Policy::default()).unwrap();
    let done = *batch.run();
    assert_eq!(done.atoms_run(), 4);
    assert_eq!(
        done.result(sock),
        done.result(file),
        "the socket reuses the file's number (the premise of this test)"
    );
    assert_eq!(
        done.result(second),
        Some(0),
        "the second close closes the socket"
    );
    assert_eq!(open_fds(), before, "nothing is left open");
    assert_eq!(batch.unclosed_fds(), vec![], "so nothing is reported open");
    assert!(batch.take_fds().is_empty());

    // The same number closed twice: the second close fails and changes nothing.
    let mut chain = Chain::new();
    let path = chain.path("/dev/null");
    let file = chain.push(Openat::new(libc::AT_FDCWD, path).stop_on(Stop::NEGATIVE));
    chain.push(Close::new(file));
    let again = chain.push(Close::new(file));
    let kept = chain.push(Openat::new(libc::AT_FDCWD, path).stop_on(Stop::NEGATIVE));
    let mut batch = chain.prepare(&Policy::default()).unwrap();
    let done = *batch.run();
    assert_eq!(done.result(again), Some(-(libc::EBADF as i64)));
    let fd = done.result(kept).unwrap() as i32;
    assert_eq!(batch.unclosed_fds(), vec![(kept, fd)]);
    let taken = batch.take_fds();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].1.as_raw_fd(), fd);
    drop(taken);
    assert_eq!(open_fds(), before);
}

/// Bug 1 as `chain_exec` found it (input
/// `fuzz/regressions/chain_exec/unclosed-fds-reused-number`, minimized): the
/// same chain with its flags, built with the builders.
#[test]
fn replay_chain_exec_unclosed_fds_reused_number() {
    let _guard = FD_TABLE.lock().unwrap_or_else(|e| e.into_inner());
    let before = open_fds();
    let nonblock = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    let mut chain = Chain::new();
    let first = chain.push(
        Socket::new(libc::AF_UNIX, libc::SOCK_SEQPACKET | nonblock)
            .stop_on(Stop::NONZERO | Stop::ZERO | Stop::NEGATIVE)
            .skip_to_next_on_stop(),
    );
    let close = chain.push(
        Close::new(first)
            .stop_on(Stop::NONZERO | Stop::ZERO | Stop::NEGATIVE | Stop::NON_POSITIVE)
            .skip_to_next_on_stop(),
    );
    let second = chain.push(
        Socket::new(libc::AF_UNIX, libc::SOCK_STREAM | nonblock)
            .stop_on(Stop::NONZERO | Stop::ZERO)
            .skip_to_next_on_stop(),
    );
    let close_again = chain.push(Close::new(first));
    chain
        .jump(first, syslets::AtomRef::from_index(4))
        .jump(close, second)
        .jump(second, syslets::AtomRef::from_index(4));
    let mut batch = chain.prepare(&Policy::default()).unwrap();
    let done = *batch.run();
    assert_eq!(done.atoms_run(), 4, "every stop holds and skips");
    assert_eq!(done.result(second), done.result(first));
    assert_eq!(done.result(close), Some(0));
    assert_eq!(done.result(close_again), Some(0));
    // What the harness asserted: each listed descriptor is open, and the
    // descriptors opened since `before` are exactly the listed ones.
    assert_eq!(batch.unclosed_fds(), vec![]);
    assert_eq!(open_fds(), before);
}
