//! Regression tests for bugs found while hardening (fuzz targets in `fuzz/`,
//! see docs/hardening.md): each replays the input that showed the bug.
//!
//! The tests share one lock: they depend on descriptor numbers being reused,
//! which the process-wide descriptor table decides.

use std::collections::BTreeSet;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::Mutex;

use syslets::abi::{self, nr, Atom, BatchHeader, BufDesc};
use syslets::opcode::{Close, Openat, Socket};
use syslets::{Chain, EncodedBatch, Policy, Stop};
use zerocopy::IntoBytes;

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

/// A directory of its own under the temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("syslets-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
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

/// Builds `header | atoms | bufs | arena` from parts.
fn batch_bytes(atoms: &[Atom], bufs: &[BufDesc], arena: &[u8]) -> Vec<u8> {
    let header = BatchHeader {
        magic: abi::MAGIC,
        version: abi::VERSION,
        natoms: atoms.len() as u16,
        nbufs: bufs.len() as u16,
        arena_len: arena.len() as u32,
        ..BatchHeader::default()
    };
    let mut out = header.as_bytes().to_vec();
    out.extend_from_slice(atoms.as_bytes());
    out.extend_from_slice(bufs.as_bytes());
    out.extend_from_slice(arena);
    out
}

fn atom(nr: u32, flags: u32, args: &[(u8, u64)]) -> Atom {
    let mut a = Atom {
        nr,
        flags,
        nargs: args.len() as u16,
        ..Atom::default()
    };
    for (i, &(kind, value)) in args.iter().enumerate() {
        a.arg_kind[i] = kind;
        a.arg[i] = value;
    }
    a
}

/// Bug 2 (validation): a path's NUL was only re-checked before the atom ran
/// when the path's own buffer was OUT. A foreign batch can describe the same
/// arena bytes twice — an IN buffer holding the path and an OUT buffer an
/// earlier atom reads into. The read overwrote the NUL, and the kernel read
/// the path on past the buffer, past the arena, into the heap: here mkdirat
/// made a directory named after whatever followed. Now the string is checked
/// again at run time whenever any OUT buffer overlaps it, and the atom fails
/// with EFAULT without being issued.
#[test]
fn a_path_that_an_earlier_atom_can_overwrite_is_checked_again_before_use() {
    let _guard = FD_TABLE.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("fuzzreg-cstr");
    let dirfd = std::fs::File::open(&dir.0).unwrap();
    let (imm, res, buf) = (abi::ARG_IMM, abi::ARG_RESULT, abi::ARG_BUF);
    let atoms = [
        // openat(AT_FDCWD, "/proc/self/stat"): its first 8 bytes hold no NUL.
        atom(
            nr::OPENAT,
            abi::STOP_ON_NEGATIVE,
            &[
                (imm, libc::AT_FDCWD as i64 as u64),
                (buf, abi::buf_arg(0, 0)),
                (imm, (libc::O_RDONLY | libc::O_CLOEXEC) as u64),
                (imm, 0),
            ],
        ),
        // read(fd, buffer 2, 8): overwrites the path "x\0" of buffer 1.
        atom(
            nr::READ,
            abi::STOP_ON_NEGATIVE,
            &[(res, 0), (buf, abi::buf_arg(2, 0)), (imm, 8)],
        ),
        // mkdirat(dirfd, buffer 1, 0700)
        atom(
            nr::MKDIRAT,
            0,
            &[
                (imm, dirfd.as_raw_fd() as u64),
                (buf, abi::buf_arg(1, 0)),
                (imm, 0o700),
            ],
        ),
        atom(nr::CLOSE, 0, &[(res, 0)]),
    ];
    let bufs = [
        BufDesc {
            offset: 0,
            len: 16,
            flags: abi::BUF_IN,
            reserved: 0,
        },
        BufDesc {
            offset: 16,
            len: 8,
            flags: abi::BUF_IN,
            reserved: 0,
        },
        BufDesc {
            offset: 16,
            len: 8,
            flags: abi::BUF_OUT,
            reserved: 0,
        },
    ];
    let mut arena = b"/proc/self/stat\0x\0".to_vec();
    arena.resize(24, 0);
    let bytes = batch_bytes(&atoms, &bufs, &arena);

    let mut batch = EncodedBatch::from_bytes(&bytes)
        .validate(&Policy::default())
        .expect("valid when checked: the path is terminated");
    let done = *batch.run();
    let r = done.results();
    assert_eq!(r[1], 8, "the read overwrote the path");
    assert!(!batch.buffer(1).unwrap().contains(&0));
    assert_eq!(r[2], -(libc::EFAULT as i64), "mkdirat must not be issued");
    assert_eq!(r[3], 0);
    let made: Vec<_> = std::fs::read_dir(&dir.0).unwrap().collect();
    assert!(made.is_empty(), "mkdirat made {made:?}");
}
