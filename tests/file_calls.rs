//! The file-system calls that name two paths or make links (`renameat2`,
//! `linkat`, `symlinkat`, …) on the real kernel: inline, on a worker under
//! the seccomp filter of the executor's policy, and under confinement.
//! Own binary: it creates executors whose workers it relies on.

mod common;
#[path = "common/rng.rs"]
mod rng;

use std::fs;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

#[path = "common/compat_run.rs"]
mod compat_run;
use compat_run::run_compat;

use syslets::abi::{self, nr};
use syslets::opcode::{Close, Fsync, Linkat, Openat, Renameat2, Symlinkat, Write};
use syslets::seccomp::MACHINERY;
use syslets::{AtomRef, Chain, ErrorKind, Executor, Policy, Stop, Submitted, ValidatedBatch};

/// Tests that create workers run one at a time.
static WORKERS: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A fresh directory of this process (removed on drop).
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "syslets-file-calls-{}-{tag}-{n}",
            std::process::id()
        ));
        fs::create_dir(&dir).unwrap();
        TempDir(dir)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn open(&self) -> fs::File {
        fs::File::open(&self.0).unwrap()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Where a chain runs.
#[derive(Clone, Copy, Debug)]
enum Where {
    /// On the calling thread.
    Inline,
    /// On a worker of an executor whose policy (and so whose workers'
    /// seccomp filter) is `Policy::default()`.
    Worker,
}

/// Validate `chain` under `policy`, run it and return its results; on a
/// worker, the executor's policy (and so the filter) is `executor_policy`.
fn run(chain: Chain<'static>, policy: &Policy, at: Where, executor_policy: Policy) -> Vec<i64> {
    run_batch(chain, policy, at, executor_policy)
        .completion()
        .results()
        .to_vec()
}

/// [`run`], returning the batch that ran (its buffers, its descriptors).
fn run_batch(
    mut chain: Chain<'static>,
    policy: &Policy,
    at: Where,
    executor_policy: Policy,
) -> ValidatedBatch<'static> {
    match at {
        Where::Inline => {
            let mut batch = chain.prepare(policy).unwrap();
            batch.run();
            batch
        }
        Where::Worker => {
            let _one = WORKERS.lock().unwrap_or_else(|e| e.into_inner());
            let ex = Executor::builder()
                .policy(executor_policy)
                .idle_timeout(Duration::from_secs(30))
                .build()
                .unwrap();
            chain.set_flags(abi::BATCH_ASYNC);
            let batch = chain.prepare(policy).unwrap();
            let Submitted::Queued(_) = ex.submit(batch).unwrap() else {
                panic!("ASYNC chains go to a worker");
            };
            common::reap_n(&ex, 1).pop().unwrap().into_batch()
        }
    }
}

const CREATE: u32 =
    (libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC) as u32;

/// The atomic replacement of a file: write a temporary file, flush it, close
/// it, rename it over the old one. All paths are single names in `dir`, as
/// confinement wants them.
fn atomic_write(dir: BorrowedFd<'_>, name: &str, data: &[u8]) -> Chain<'static> {
    let mut chain = Chain::new();
    let tmp = chain.path(format!("{name}.tmp"));
    let dst = chain.path(name);
    let bytes = chain.input(data);
    let fd = chain.push(
        Openat::new(dir, tmp)
            .flags(CREATE)
            .mode(0o644)
            .stop_on(Stop::NEGATIVE),
    );
    chain.push(Write::new(fd, bytes).stop_on(Stop::NEGATIVE));
    chain.push(Fsync::new(fd).stop_on(Stop::NEGATIVE));
    chain.push(Close::new(fd).stop_on(Stop::NEGATIVE));
    chain.push(Renameat2::new(dir, tmp, dir, dst));
    chain
}

#[test]
fn atomic_write_fsync_rename_replaces_the_file_inline_and_on_a_worker() {
    for at in [Where::Inline, Where::Worker] {
        let tmp = TempDir::new("atomic");
        fs::write(tmp.join("config"), b"old contents").unwrap();
        let dir = tmp.open();
        let policy = Policy::default().confine_to(dir.as_fd());
        let data = b"new contents, all or nothing";
        let chain = atomic_write(dir.as_fd(), "config", data);
        // The worker's filter is the confined policy's: dirfd must be `dir`.
        let results = run(chain, &policy, at, policy.clone());
        assert_eq!(results.len(), 5, "{at:?}: {results:?}");
        assert!(results[0] >= 0, "{at:?}: open {results:?}");
        assert_eq!(results[1], data.len() as i64, "{at:?}: {results:?}");
        assert_eq!(&results[2..], &[0, 0, 0], "{at:?}: fsync, close, rename");
        assert_eq!(fs::read(tmp.join("config")).unwrap(), data, "{at:?}");
        assert!(!tmp.join("config.tmp").exists(), "{at:?}: renamed away");
    }
}

#[test]
fn link_symlink_and_rename_flags_on_the_kernel_inline_and_on_a_worker() {
    for at in [Where::Inline, Where::Worker] {
        let tmp = TempDir::new("links");
        fs::write(tmp.join("a"), b"A").unwrap();
        fs::write(tmp.join("b"), b"B").unwrap();
        let dir = tmp.open();
        let d = dir.as_fd();
        let policy = Policy::default().confine_to(d);
        let mut chain = Chain::new();
        let (a, b, hard, soft, c) = (
            chain.path("a"),
            chain.path("b"),
            chain.path("hard"),
            chain.path("soft"),
            chain.path("c"),
        );
        let target = chain.path("sub/target");
        chain.push(Linkat::new(d, a, d, hard));
        chain.push(Symlinkat::new(target, d, soft));
        // NOREPLACE onto an existing name fails and changes nothing.
        chain.push(Renameat2::new(d, a, d, b).flags(libc::RENAME_NOREPLACE));
        chain.push(Renameat2::new(d, a, d, b).flags(libc::RENAME_EXCHANGE));
        chain.push(Renameat2::new(d, soft, d, c));
        let results = run(chain, &policy, at, policy.clone());
        assert_eq!(results, vec![0, 0, -(libc::EEXIST as i64), 0, 0], "{at:?}");
        assert_eq!(fs::read(tmp.join("a")).unwrap(), b"B", "{at:?}: exchanged");
        assert_eq!(fs::read(tmp.join("b")).unwrap(), b"A", "{at:?}: exchanged");
        assert_eq!(
            fs::read(tmp.join("hard")).unwrap(),
            b"A",
            "{at:?}: hard link"
        );
        use std::os::unix::fs::MetadataExt;
        assert_eq!(fs::metadata(tmp.join("b")).unwrap().nlink(), 2, "{at:?}");
        assert_eq!(
            fs::read_link(tmp.join("c")).unwrap(),
            Path::new("sub/target"),
            "{at:?}: the symlink, renamed"
        );
    }
}

/// A one-atom chain calling `call` in `dir` (holding a file `a` and a
/// symlink `l` to it) and on the pipe `(rx, tx)`, with arguments the call
/// accepts or refuses with anything but `EPERM`.
fn one_call(call: u32, d: BorrowedFd<'_>, rx: i32, tx: i32) -> Chain<'static> {
    use syslets::opcode::*;
    let mut c = Chain::new();
    let (a, l, n) = (c.path("a"), c.path("l"), c.path("new"));
    let buf = c.output_bytes(16);
    let ts = c.input(&timespec(0, 1000));
    let nofollow = libc::AT_SYMLINK_NOFOLLOW as u32;
    match call {
        nr::RENAMEAT2 => c.push(Renameat2::new(d, a, d, n)),
        nr::LINKAT => c.push(Linkat::new(d, a, d, n)),
        nr::SYMLINKAT => c.push(Symlinkat::new(a, d, n)),
        nr::READLINKAT => c.push(Readlinkat::new(d, l, buf)),
        nr::FACCESSAT2 => c.push(Faccessat2::new(d, a, libc::F_OK)),
        nr::FCHMODAT => c.push(Fchmodat::new(d, a, 0o600u32)),
        nr::FCHMODAT2 => c.push(Fchmodat2::new(d, a, 0o600u32).flags(nofollow)),
        nr::FCHOWNAT => c.push(Fchownat::new(d, a, u32::MAX, u32::MAX).flags(nofollow)),
        nr::UTIMENSAT => c.push(Utimensat::new(d, a).flags(nofollow)),
        nr::DUP3 => c.push(Dup3::new(tx, tx)),
        nr::COPY_FILE_RANGE => c.push(CopyFileRange::new(rx, tx, 1u64)),
        nr::SENDFILE => c.push(Sendfile::new(tx, rx, 0u64)),
        nr::SPLICE => c.push(Splice::new(rx, tx, 0u64)),
        nr::CLOCK_NANOSLEEP => c.push(ClockNanosleep::new(ts)),
        nr::FSTATFS => {
            let out = c.output::<syslets::abi::kernel::Statfs>();
            c.push(Fstatfs::new(d, out))
        }
        nr::PIPE2 => {
            let fds = c.output::<[i32; 2]>();
            c.push(Pipe2::new(fds))
        }
        _ => unreachable!("{call}"),
    };
    c
}

/// The calls of this file.
const CALLS: [u32; 16] = [
    nr::RENAMEAT2,
    nr::LINKAT,
    nr::SYMLINKAT,
    nr::READLINKAT,
    nr::FACCESSAT2,
    nr::FCHMODAT,
    nr::FCHMODAT2,
    nr::FCHOWNAT,
    nr::UTIMENSAT,
    nr::DUP3,
    nr::COPY_FILE_RANGE,
    nr::SENDFILE,
    nr::SPLICE,
    nr::CLOCK_NANOSLEEP,
    nr::PIPE2,
    nr::FSTATFS,
];

/// A pipe `(read end, write end)`, closed on drop.
fn pipe() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    use std::os::fd::FromRawFd;
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 writes two descriptors into the array it is given.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: pipe2 returned two new descriptors that nothing else owns.
    unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    }
}

#[test]
fn a_worker_filter_allows_each_call_only_when_its_policy_does() {
    for call in CALLS {
        for allowed in [true, false] {
            let tmp = TempDir::new("eperm");
            fs::write(tmp.join("a"), b"A").unwrap();
            std::os::unix::fs::symlink("a", tmp.join("l")).unwrap();
            let dir = tmp.open();
            let (rx, tx) = pipe();
            let chain = one_call(call, dir.as_fd(), rx.as_raw_fd(), tx.as_raw_fd());
            let executor = if allowed {
                Policy::default()
            } else {
                Policy::default().deny(call)
            };
            // Validated under the default policy; the executor's may be narrower.
            let results = run(chain, &Policy::default(), Where::Worker, executor);
            assert_eq!(results.len(), 1);
            // clock_nanosleep is also the worker's own (thread::sleep): the
            // filter keeps it under every policy, and validation alone
            // refuses it as an atom when the policy does not allow it.
            let machinery = MACHINERY.iter().any(|m| m.nr == call);
            if allowed || machinery {
                assert_ne!(results[0], -(libc::EPERM as i64), "nr {call}");
            } else {
                assert_eq!(results[0], -(libc::EPERM as i64), "nr {call}");
                assert!(!tmp.join("new").exists(), "nr {call}");
                assert_eq!(fs::read(tmp.join("a")).unwrap(), b"A", "nr {call}");
            }
        }
    }
}

#[test]
fn a_policy_without_clock_nanosleep_refuses_it_in_validation() {
    use syslets::opcode::ClockNanosleep;
    assert!(MACHINERY.iter().any(|m| m.nr == nr::CLOCK_NANOSLEEP));
    let mut chain = Chain::new();
    let ts = chain.input(&timespec(0, 1));
    chain.push(ClockNanosleep::new(ts));
    let e = chain
        .prepare(&Policy::default().deny(nr::CLOCK_NANOSLEEP))
        .unwrap_err();
    assert_eq!(e.atom, Some(0));
    assert!(matches!(e.kind, ErrorKind::SyscallNotAllowed), "{e:?}");
}

#[test]
fn splice_moves_a_pipe_into_a_file_inline_and_on_a_worker() {
    use syslets::opcode::Splice;
    for at in [Where::Inline, Where::Worker] {
        let tmp = TempDir::new("splice");
        let (rx, tx) = pipe();
        std::io::Write::write_all(&mut fs::File::from(tx), b"through a pipe").unwrap();
        let out = fs::File::create(tmp.join("out")).unwrap();
        let mut chain = Chain::new();
        let off = chain.scratch(8);
        chain.push(Splice::new(rx.as_raw_fd(), out.as_raw_fd(), 64u64).off_out(Some(off)));
        chain.push(Splice::new(rx.as_raw_fd(), out.as_raw_fd(), 64u64));
        let batch = run_batch(chain, &Policy::default(), at, Policy::default());
        // All of it, then end of file (the write end is closed).
        assert_eq!(batch.completion().results(), &[14, 0], "{at:?}");
        assert_eq!(batch.bytes(off), &14i64.to_le_bytes(), "{at:?}");
        assert_eq!(fs::read(tmp.join("out")).unwrap(), b"through a pipe");
    }
}

/// Validate a one-atom chain under confinement to `dir`, returning the error.
fn refusal(dir: BorrowedFd<'_>, build: impl FnOnce(&mut Chain<'static>)) -> Option<ErrorKind> {
    let policy = Policy::default().confine_to(dir);
    let mut chain = Chain::new();
    build(&mut chain);
    chain.prepare(&policy).err().map(|e| {
        assert_eq!(e.atom, Some(0));
        e.kind
    })
}

#[test]
fn confinement_checks_both_paths_and_the_symlink_target() {
    let tmp = TempDir::new("confine");
    let dir = tmp.open();
    let d = dir.as_fd();
    let other = fs::File::open("/").unwrap();
    let o = other.as_raw_fd();

    // Both paths of renameat2 and linkat: dirfd and name.
    for second_dirfd_wrong in [false, true] {
        let e = refusal(d, |c| {
            let (a, b) = (c.path("a"), c.path("b"));
            let nd = if second_dirfd_wrong { o } else { d.as_raw_fd() };
            let od = if second_dirfd_wrong { d.as_raw_fd() } else { o };
            c.push(Renameat2::new(od, a, nd, b));
        });
        let arg = if second_dirfd_wrong { 2 } else { 0 };
        assert!(
            matches!(e, Some(ErrorKind::DirfdNotConfined { arg: a }) if a == arg),
            "{e:?}"
        );
    }
    for (old, new, arg) in [
        ("/etc/passwd", "x", 1),
        ("x", "/tmp/x", 3),
        ("x", "../x", 3),
    ] {
        let e = refusal(d, |c| {
            let (a, b) = (c.path(old), c.path(new));
            c.push(Linkat::new(d, a, d, b));
        });
        assert!(
            matches!(e, Some(ErrorKind::PathEscapes { arg: a, .. }) if a == arg),
            "{old} {new}: {e:?}"
        );
        let e = refusal(d, |c| {
            let (a, b) = (c.path(old), c.path(new));
            c.push(Renameat2::new(d, a, d, b));
        });
        assert!(
            matches!(e, Some(ErrorKind::PathEscapes { arg: a, .. }) if a == arg),
            "{old} {new}: {e:?}"
        );
    }
    // A second component could go through a symlink.
    let e = refusal(d, |c| {
        let (a, b) = (c.path("a"), c.path("sub/b"));
        c.push(Renameat2::new(d, a, d, b));
    });
    assert!(
        matches!(e, Some(ErrorKind::PathEscapes { arg: 3, .. })),
        "{e:?}"
    );
    // linkat would follow a final symlink of the old path.
    let e = refusal(d, |c| {
        let (a, b) = (c.path("a"), c.path("b"));
        c.push(Linkat::new(d, a, d, b).flags(libc::AT_SYMLINK_FOLLOW as u32));
    });
    assert!(
        matches!(e, Some(ErrorKind::ArgRefused { arg: 4, .. })),
        "{e:?}"
    );

    // symlinkat: the link's name is a confined path (arguments 1 and 2) ...
    let e = refusal(d, |c| {
        let (t, l) = (c.path("t"), c.path("l"));
        c.push(Symlinkat::new(t, o, l));
    });
    assert!(
        matches!(e, Some(ErrorKind::DirfdNotConfined { arg: 1 })),
        "{e:?}"
    );
    // ... and its target must not point out of the directory.
    for target in ["/etc/shadow", "..", "a/../../x"] {
        let e = refusal(d, |c| {
            let (t, l) = (c.path(target), c.path("l"));
            c.push(Symlinkat::new(t, d, l));
        });
        assert!(
            matches!(e, Some(ErrorKind::PathEscapes { arg: 0, .. })),
            "{target}: {e:?}"
        );
    }
    // A relative target of several components is fine: it is not resolved
    // now, and whoever follows it starts inside the directory.
    for target in ["t", "sub/dir/t", "./t"] {
        let e = refusal(d, |c| {
            let (t, l) = (c.path(target), c.path("l"));
            c.push(Symlinkat::new(t, d, l));
        });
        assert_eq!(e, None, "{target}");
    }
    // The target must be memory no atom writes (checked, then rewritten).
    let e = refusal(d, |c| {
        let t = c.scratch(8);
        let l = c.path("l");
        c.push(Symlinkat::new(t, d, l));
    });
    assert!(
        matches!(e, Some(ErrorKind::CheckedMemoryWritable { arg: 0, .. })),
        "{e:?}"
    );
    // Without confinement, any target.
    let mut chain = Chain::new();
    let (t, l) = (chain.path("/etc/shadow"), chain.path("l"));
    chain.push(Symlinkat::new(t, d, l));
    assert!(chain.prepare(&Policy::default()).is_ok());
}

#[test]
fn the_i386_calls_translate_and_run() {
    use syslets::compat::{nr32, CompatArg::*, CompatAtom, CompatWriter};

    let tmp = TempDir::new("compat");
    fs::write(tmp.join("a"), b"A").unwrap();
    let dir = tmp.open();
    let d = dir.as_raw_fd() as u32;
    let mut w = CompatWriter::new();
    let at = |index| Buf { index, offset: 0 };
    let (a, hard, soft, moved, target) = (
        w.path(b"a"),
        w.path(b"hard"),
        w.path(b"soft"),
        w.path(b"moved"),
        w.path(b"a"),
    );
    w.push(CompatAtom::new(
        nr32::LINKAT,
        &[Imm(d), at(a), Imm(d), at(hard), Imm(0)],
    ));
    w.push(CompatAtom::new(
        nr32::SYMLINKAT,
        &[at(target), Imm(d), at(soft)],
    ));
    w.push(CompatAtom::new(
        nr32::RENAMEAT2,
        &[
            Imm(d),
            at(a),
            Imm(d),
            at(moved),
            Imm(libc::RENAME_NOREPLACE),
        ],
    ));
    // readlinkat(soft), faccessat(hard, R_OK) (faccessat2 with flags 0: not
    // confinable, so this batch runs unconfined), utimensat_time64(moved,
    // NULL), dup3(dir, dir) (EINVAL: same fd), clock_nanosleep_time64(1 ns).
    let link_buf = w.zeroed(8, abi::BUF_OUT);
    let ts = w.buffer(&timespec(0, 1), abi::BUF_IN);
    w.push(CompatAtom::new(
        nr32::READLINKAT,
        &[Imm(d), at(soft), at(link_buf), Imm(8)],
    ));
    w.push(CompatAtom::new(
        nr32::FACCESSAT,
        &[Imm(d), at(hard), Imm(libc::R_OK as u32)],
    ));
    w.push(CompatAtom::new(
        nr32::UTIMENSAT_TIME64,
        &[Imm(d), at(moved), Imm(0), Imm(0)],
    ));
    w.push(CompatAtom::new(nr32::DUP3, &[Imm(d), Imm(d), Imm(0)]));
    let pipe_fds = w.zeroed(8, abi::BUF_OUT);
    w.push(CompatAtom::new(
        nr32::PIPE2,
        &[at(pipe_fds), Imm(libc::O_CLOEXEC as u32)],
    ));
    w.push(CompatAtom::new(
        nr32::CLOCK_NANOSLEEP_TIME64,
        &[Imm(libc::CLOCK_MONOTONIC as u32), Imm(0), at(ts), Imm(0)],
    ));
    let (mut batch, _, seen) = run_compat(&w);
    assert_eq!(
        &seen.results[..9],
        &[0, 0, 0, 1, 0, 0, -(libc::EINVAL as i64), 0, 0]
    );
    // The pipe's ends belong to the batch, which closes them on drop.
    let ends = batch.take_fds();
    assert_eq!(ends.len(), 2);
    assert!(ends.iter().all(|(a, _)| a.index() == 7));
    assert_eq!(fs::read(tmp.join("moved")).unwrap(), b"A");
    assert_eq!(fs::read(tmp.join("hard")).unwrap(), b"A");
    assert_eq!(fs::read_link(tmp.join("soft")).unwrap(), Path::new("a"));
    assert!(!tmp.join("a").exists());
}

#[test]
fn pread64_and_pwrite64_at_the_offset_an_lseek_returned() {
    use syslets::opcode::{Lseek, Pread64, Pwrite64};
    use syslets::Offset;

    let tmp = TempDir::new("offset");
    let file = tmp.join("f");
    fs::write(&file, b"0123456789").unwrap();
    let mut chain = Chain::new();
    let path = chain.path(&file);
    let buf = chain.output_bytes(3);
    let patch = chain.input(b"ab");
    let fd = chain.push(
        Openat::new(libc::AT_FDCWD, path)
            .flags((libc::O_RDWR | libc::O_CLOEXEC) as u32)
            .stop_on(Stop::NEGATIVE),
    );
    let end_minus_3 = chain.push(Lseek::new(fd, -3, libc::SEEK_END));
    chain.push(Pread64::new(fd, buf, end_minus_3));
    let two = chain.push(Lseek::new(fd, 2, libc::SEEK_SET));
    chain.push(Pwrite64::new(fd, patch, Offset::ResultOf(two)));
    chain.push(Close::new(fd));
    let mut batch = chain.prepare(&Policy::default()).unwrap();
    let results = batch.run().results().to_vec();
    assert_eq!(&results[1..], &[7, 3, 2, 2, 0], "{results:?}");
    assert_eq!(batch.bytes(buf), b"789");
    assert_eq!(fs::read(&file).unwrap(), b"01ab456789");
    // The offset is an ordinary RESULT argument: refused forward, like any.
    let mut chain = Chain::new();
    let buf = chain.output_bytes(3);
    chain.push(Pread64::new(0, buf, AtomRef::from_index(1)));
    chain.push(Lseek::new(0, 0, libc::SEEK_CUR));
    let e = chain.prepare(&Policy::default()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::ResultRefersForward { arg: 3, target: 1 });
}

/// `struct timespec` as the kernel reads it.
fn timespec(sec: i64, nsec: i64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&sec.to_le_bytes());
    b[8..].copy_from_slice(&nsec.to_le_bytes());
    b
}

#[test]
fn metadata_copy_dup_and_sleep_calls_on_the_kernel_inline_and_on_a_worker() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use syslets::opcode::{
        ClockNanosleep, CopyFileRange, Dup3, Faccessat2, Fchmodat, Fchownat, Readlinkat, Sendfile,
        Utimensat,
    };

    for at in [Where::Inline, Where::Worker] {
        let tmp = TempDir::new("meta");
        fs::write(tmp.join("src"), b"hello world").unwrap();
        std::os::unix::fs::symlink("src", tmp.join("link")).unwrap();
        let meta = fs::metadata(tmp.join("src")).unwrap();
        let dir = tmp.open();
        let d = dir.as_fd();
        let mut chain = Chain::new();
        let (src, link, dst, missing) = (
            chain.path("src"),
            chain.path("link"),
            chain.path("dst"),
            chain.path("missing"),
        );
        let target = chain.output_bytes(16);
        let mut times = timespec(1000, 0).to_vec();
        times.extend_from_slice(&timespec(2000, 5));
        let times = chain.input(&times);
        let off_in = chain.scratch(8);
        let short = chain.input(&timespec(0, 1_000_000));
        let past = chain.input(&timespec(0, 0));
        let rdonly = (libc::O_RDONLY | libc::O_CLOEXEC) as u32;
        chain.push(Readlinkat::new(d, link, target));
        chain.push(Faccessat2::new(d, src, libc::R_OK));
        chain.push(Faccessat2::new(d, missing, libc::F_OK));
        chain.push(Fchmodat::new(d, src, 0o640u32));
        chain.push(
            Fchownat::new(d, src, meta.uid(), meta.gid()).flags(libc::AT_SYMLINK_NOFOLLOW as u32),
        );
        chain.push(Utimensat::new(d, src).times(Some(times)));
        let fd_in = chain.push(Openat::new(d, src).flags(rdonly).stop_on(Stop::NEGATIVE));
        let fd_out = chain.push(
            Openat::new(d, dst)
                .flags(CREATE)
                .mode(0o600)
                .stop_on(Stop::NEGATIVE),
        );
        chain.push(CopyFileRange::new(fd_in, fd_out, 5u64).off_in(Some(off_in)));
        // From where copy_file_range left the offset (5), which it advances.
        chain.push(Sendfile::new(fd_out, fd_in, 6u64).offset(Some(off_in)));
        // Onto the number fd_out holds: it stays fd_out's, now on `src`.
        chain.push(Dup3::new(fd_in, fd_out));
        chain.push(Close::new(fd_in));
        chain.push(Close::new(fd_out));
        chain.push(ClockNanosleep::new(short));
        chain.push(ClockNanosleep::new(past).flags(libc::TIMER_ABSTIME));
        let batch = run_batch(chain, &Policy::default(), at, Policy::default());
        let r = batch.completion().results().to_vec();
        assert_eq!(r.len(), 15, "{at:?}: {r:?}");
        assert_eq!(r[0], 3, "{at:?}: readlinkat {r:?}");
        assert_eq!(&batch.bytes(target)[..3], b"src", "{at:?}");
        assert_eq!(
            &r[1..6],
            &[0, -(libc::ENOENT as i64), 0, 0, 0],
            "{at:?}: {r:?}"
        );
        assert!(r[6] >= 0 && r[7] >= 0, "{at:?}: {r:?}");
        assert_eq!(
            &r[8..10],
            &[5, 6],
            "{at:?}: copy_file_range, sendfile {r:?}"
        );
        assert_eq!(r[10], r[7], "{at:?}: dup3 returns newfd");
        assert_eq!(
            &r[11..],
            &[0, 0, 0, 0],
            "{at:?}: close, close, sleeps {r:?}"
        );
        assert_eq!(
            batch.bytes(off_in),
            &11i64.to_le_bytes(),
            "{at:?}: advanced twice"
        );
        assert!(
            batch.unclosed_fds().is_empty(),
            "{at:?}: {:?}",
            batch.unclosed_fds()
        );
        assert_eq!(fs::read(tmp.join("dst")).unwrap(), b"hello world", "{at:?}");
        let m = fs::metadata(tmp.join("src")).unwrap();
        assert_eq!(m.permissions().mode() & 0o777, 0o640, "{at:?}");
        // (The reads after utimensat may move the access time: relatime.)
        assert_eq!((m.mtime(), m.mtime_nsec()), (2000, 5), "{at:?}");
    }
}

#[test]
fn confinement_of_the_metadata_calls_and_the_sleeps_a_policy_admits() {
    use syslets::opcode::{ClockNanosleep, Faccessat2, Fchmodat, Fchownat, Readlinkat, Utimensat};
    let tmp = TempDir::new("confine-meta");
    let dir = tmp.open();
    let d = dir.as_fd();
    let nofollow = libc::AT_SYMLINK_NOFOLLOW as u32;
    // fchmodat always follows a final symlink: refused under confine_to, at
    // its path.
    let e = refusal(d, |c| {
        let p = c.path("a");
        c.push(Fchmodat::new(d, p, 0o600u32));
    });
    assert!(
        matches!(e, Some(ErrorKind::PathEscapes { arg: 1, .. })),
        "{e:?}"
    );
    let mut chain = Chain::new();
    let p = chain.path("a");
    chain.push(Fchmodat::new(d, p, 0o600u32));
    assert!(chain
        .prepare(&Policy::default().confine_lexically_to(d))
        .is_ok());
    // The flag calls need AT_SYMLINK_NOFOLLOW, in their own flags argument.
    type Build = fn(&mut Chain<'static>, BorrowedFd<'_>, u32);
    let flagged: [(&str, u8, Build); 4] = [
        ("faccessat2", 3, |c, d, fl| {
            let p = c.path("a");
            c.push(Faccessat2::new(d, p, libc::F_OK).flags(fl));
        }),
        ("fchmodat2", 3, |c, d, fl| {
            let p = c.path("a");
            c.push(syslets::opcode::Fchmodat2::new(d, p, 0o600u32).flags(fl));
        }),
        ("fchownat", 4, |c, d, fl| {
            let p = c.path("a");
            c.push(Fchownat::new(d, p, u32::MAX, u32::MAX).flags(fl));
        }),
        ("utimensat", 3, |c, d, fl| {
            let p = c.path("a");
            c.push(Utimensat::new(d, p).flags(fl));
        }),
    ];
    for (name, flags_arg, build) in flagged {
        let e = refusal(d, |c| build(c, d, 0));
        assert!(
            matches!(e, Some(ErrorKind::ArgRefused { arg, .. }) if arg == flags_arg),
            "{name}: {e:?}"
        );
        assert_eq!(refusal(d, |c| build(c, d, nofollow)), None, "{name}");
    }
    // readlinkat never follows; its dirfd and name are confined.
    let e = refusal(d, |c| {
        let (p, b) = (c.path("../l"), c.output_bytes(8));
        c.push(Readlinkat::new(d, p, b));
    });
    assert!(
        matches!(e, Some(ErrorKind::PathEscapes { arg: 1, .. })),
        "{e:?}"
    );

    // Sleeps: relative on three clocks, absolute on CLOCK_MONOTONIC only.
    let sleep = |clock: i32, flags: i32| {
        let mut chain = Chain::new();
        let ts = chain.input(&timespec(0, 1));
        chain.push(ClockNanosleep::new(ts).clock(clock).flags(flags));
        chain.prepare(&Policy::default()).err().map(|e| e.kind)
    };
    let abs = libc::TIMER_ABSTIME;
    for (clock, flags) in [
        (libc::CLOCK_MONOTONIC, 0),
        (libc::CLOCK_REALTIME, 0),
        (libc::CLOCK_BOOTTIME, 0),
        (libc::CLOCK_MONOTONIC, abs),
    ] {
        assert_eq!(sleep(clock, flags), None, "clock {clock} flags {flags}");
    }
    for (clock, flags) in [
        (libc::CLOCK_REALTIME, abs),
        (libc::CLOCK_PROCESS_CPUTIME_ID, 0),
        (libc::CLOCK_THREAD_CPUTIME_ID, 0),
        (libc::CLOCK_MONOTONIC, 2),
    ] {
        assert!(
            matches!(
                sleep(clock, flags),
                Some(ErrorKind::ArgRefused { arg: 0, .. })
            ),
            "clock {clock} flags {flags}"
        );
    }
}

/// Whether `fd` is an open descriptor of this process.
fn is_open(fd: i32) -> bool {
    // SAFETY: F_GETFD reads the descriptor flags; no memory is involved.
    unsafe { libc::fcntl(fd, libc::F_GETFD) >= 0 }
}

/// Check that `(rx, tx)` are the two ends of one new pipe, then drop them.
fn assert_a_pipe(rx: std::os::fd::OwnedFd, tx: std::os::fd::OwnedFd) {
    use std::io::{Read, Write};
    let (mut rx, mut tx) = (fs::File::from(rx), fs::File::from(tx));
    tx.write_all(b"pipe").unwrap();
    drop(tx);
    let mut got = Vec::new();
    rx.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"pipe");
}

#[test]
fn pipe2_hands_the_chain_both_descriptors_inline_and_on_a_worker() {
    use syslets::opcode::{Pipe2, Read};
    for at in [Where::Inline, Where::Worker] {
        let mut chain = Chain::new();
        let fds = chain.output::<[i32; 2]>();
        let zero = chain.path("/dev/zero");
        chain.push(Pipe2::new(fds));
        // Overwrite the int[2] afterwards: ownership follows what pipe2
        // returned, not what the memory holds at the end.
        let z = chain.push(Openat::new(libc::AT_FDCWD, zero).stop_on(Stop::NEGATIVE));
        chain.push(Read::new(z, fds.buf()));
        chain.push(Close::new(z));
        let mut batch = run_batch(chain, &Policy::default(), at, Policy::default());
        assert_eq!(
            batch.completion().results(),
            &[0, 3.max(batch.completion().results()[1]), 8, 0][..],
            "{at:?}"
        );
        assert_eq!(batch.output(fds), [0, 0], "{at:?}: overwritten by the read");
        let unclosed = batch.unclosed_fds();
        assert_eq!(unclosed.len(), 2, "{at:?}: {unclosed:?}");
        assert!(unclosed
            .iter()
            .all(|(a, fd)| a.index() == 0 && is_open(*fd)));
        let mut taken = batch.take_fds();
        assert!(batch.unclosed_fds().is_empty(), "{at:?}: handed out once");
        assert!(batch.take_fds().is_empty(), "{at:?}");
        let (_, tx) = taken.pop().unwrap();
        let (_, rx) = taken.pop().unwrap();
        assert_eq!(
            (rx.as_raw_fd(), tx.as_raw_fd()),
            (unclosed[0].1, unclosed[1].1),
            "{at:?}: read end first"
        );
        assert_a_pipe(rx, tx);
    }
}

#[test]
fn a_close_atom_releases_one_end_of_a_pipe2() {
    use syslets::opcode::Pipe2;
    // In a single-threaded child, where the numbers pipe2 will return are
    // the two lowest free ones: find them, free them, then close one end in
    // the chain.
    let code = common::in_child(|| {
        let (rx, tx) = pipe();
        let probe = [rx.as_raw_fd(), tx.as_raw_fd()];
        drop((rx, tx));
        let mut chain = Chain::new();
        let fds = chain.output::<[i32; 2]>();
        chain.push(Pipe2::new(fds));
        chain.push(Close::new(probe[0]));
        let mut batch = chain.prepare(&Policy::default()).unwrap();
        assert_eq!(batch.run().results(), &[0, 0]);
        assert_eq!(batch.output(fds), probe);
        assert_eq!(
            batch.unclosed_fds(),
            vec![(AtomRef::from_index(0), probe[1])]
        );
        let taken = batch.take_fds();
        assert_eq!(taken.len(), 1);
        drop(taken);
        assert!(!is_open(probe[1]), "closed on drop");
        // A second run starts afresh.
        assert_eq!(batch.run().results(), &[0, 0]);
        assert_eq!(batch.take_fds().len(), 1);
        0
    });
    assert_eq!(code, 0);
}

#[test]
fn a_hand_built_pipe2_with_a_raw_pointer_is_refused() {
    let room = [0u8; 8];
    let mut atom = syslets::abi::Atom {
        nr: nr::PIPE2,
        nargs: 2,
        ..Default::default()
    };
    atom.arg_kind[0] = abi::ARG_RAW;
    atom.arg[0] = room.as_ptr() as u64;
    let mut chain = Chain::new();
    chain.push(syslets::opcode::RawAtom(atom));
    let e = chain.prepare(&Policy::default()).unwrap_err();
    assert_eq!(e.atom, Some(0));
    assert_eq!(e.kind, ErrorKind::RawPointerInForeignBatch(0));
}

#[test]
fn fstatfs_natively_and_through_compat_inline_and_on_a_worker() {
    use syslets::abi::kernel::Statfs;
    use syslets::compat::{self, nr32, CompatArg::*, CompatAtom, CompatWriter, Statfs64};
    use syslets::opcode::Fstatfs;
    use zerocopy::FromBytes;

    let tmp = TempDir::new("statfs");
    let dir = tmp.open();
    // SAFETY: fstatfs writes the struct it is given; the fd is open.
    let mut want: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    assert_eq!(unsafe { libc::fstatfs(dir.as_raw_fd(), &mut want) }, 0);
    for at in [Where::Inline, Where::Worker] {
        let mut chain = Chain::new();
        let out = chain.output::<Statfs>();
        chain.push(Fstatfs::new(dir.as_raw_fd(), out));
        let batch = run_batch(chain, &Policy::default(), at, Policy::default());
        assert_eq!(batch.completion().results(), &[0], "{at:?}");
        let got = batch.output(out);
        assert_eq!(got.f_type, want.f_type, "{at:?}");
        assert_eq!(got.f_bsize, want.f_bsize, "{at:?}");
        assert_eq!(got.f_blocks, want.f_blocks, "{at:?}");
        assert_eq!(got.f_namelen, want.f_namelen, "{at:?}");
    }

    // i386: fstatfs64(fd, 84, buf), converted back into the packed layout.
    let mut w = CompatWriter::new();
    let buf = w.zeroed(84, abi::BUF_OUT);
    let fd = dir.as_raw_fd() as u32;
    w.push(CompatAtom::new(
        nr32::FSTATFS64,
        &[
            Imm(fd),
            Imm(84),
            Buf {
                index: buf,
                offset: 0,
            },
        ],
    ));
    let (_batch, bytes, seen) = run_compat(&w);
    assert_eq!(seen.results[0], 0);
    let st = Statfs64::read_from_bytes(&bytes[bytes.len() - 88..bytes.len() - 4]).unwrap();
    assert_eq!(st.f_type as i64, want.f_type);
    assert_eq!(st.f_bsize as i64, want.f_bsize);
    assert_eq!(st.f_blocks.get(), want.f_blocks);
    assert_eq!(st.f_namelen as i64, want.f_namelen);
    // The kernel takes only sizeof(struct statfs64): so does the translator.
    let mut w = CompatWriter::new();
    let buf = w.zeroed(88, abi::BUF_OUT);
    w.push(CompatAtom::new(
        nr32::FSTATFS64,
        &[
            Imm(fd),
            Imm(88),
            Buf {
                index: buf,
                offset: 0,
            },
        ],
    ));
    let e = compat::normalize(&w.finish()).unwrap_err();
    assert!(e.to_string().contains("84"), "{e}");
}

/// The last `len` bytes of the compat batch `run_compat` wrote back: the
/// contents of its last buffer when that buffer is `len` bytes (a multiple of 8).
fn tail(bytes: &[u8], len: usize) -> &[u8] {
    &bytes[bytes.len() - len..]
}

#[test]
fn i386_fstatfs_writes_the_32_bit_statfs_on_the_kernel() {
    use syslets::compat::{nr32, CompatArg::*, CompatAtom, CompatWriter, Statfs32};
    use zerocopy::FromBytes;

    let tmp = TempDir::new("statfs32");
    let dir = tmp.open();
    // SAFETY: fstatfs writes the struct it is given; the fd is open.
    let mut want: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    assert_eq!(unsafe { libc::fstatfs(dir.as_raw_fd(), &mut want) }, 0);
    let mut w = CompatWriter::new();
    let buf = w.buffer(&[0xa5; 64], abi::BUF_OUT);
    w.push(CompatAtom::new(
        nr32::FSTATFS,
        &[
            Imm(dir.as_raw_fd() as u32),
            Buf {
                index: buf,
                offset: 0,
            },
        ],
    ));
    let (_batch, bytes, seen) = run_compat(&w);
    // What the i386 kernel decides (put_compat_statfs): EOVERFLOW when a
    // block count or size needs more than 32 bits.
    let wide = |n: u64| n >> 32 != 0;
    let files_wide = |n: u64| n != u64::MAX && wide(n);
    let overflows = wide(want.f_blocks | want.f_bfree | want.f_bavail)
        || wide(want.f_bsize as u64 | want.f_frsize as u64)
        || files_wide(want.f_files)
        || files_wide(want.f_ffree);
    if overflows {
        assert_eq!(seen.results[0], -(libc::EOVERFLOW as i64));
        assert_eq!(tail(&bytes, 64), &[0xa5; 64], "nothing written");
        return;
    }
    assert_eq!(seen.results[0], 0);
    let st = Statfs32::read_from_bytes(tail(&bytes, 64)).unwrap();
    assert_eq!(st.f_type as i64, want.f_type);
    assert_eq!(st.f_bsize as i64, want.f_bsize);
    assert_eq!(st.f_blocks as u64, want.f_blocks);
    assert_eq!(st.f_files, want.f_files as u32);
    assert_eq!(st.f_namelen as i64, want.f_namelen);
    assert_eq!(st.f_frsize as i64, want.f_frsize);
    assert_eq!(st.f_spare, [0; 4]);
}

/// An i386 `struct old_timespec32`.
fn timespec32(sec: i32, nsec: i32) -> [u8; 8] {
    let mut b = [0u8; 8];
    b[..4].copy_from_slice(&sec.to_le_bytes());
    b[4..].copy_from_slice(&nsec.to_le_bytes());
    b
}

#[test]
fn i386_utimensat_with_32_bit_timespecs_sets_the_times() {
    use std::os::unix::fs::MetadataExt;
    use syslets::compat::{nr32, CompatArg::*, CompatAtom, CompatWriter};

    let tmp = TempDir::new("utimensat32");
    fs::write(tmp.join("f"), b"x").unwrap();
    std::os::unix::fs::symlink("f", tmp.join("l")).unwrap();
    let dir = tmp.open();
    let d = dir.as_raw_fd() as u32;
    let mut w = CompatWriter::new();
    let (f, l) = (w.path(b"f"), w.path(b"l"));
    let mut times = timespec32(1000, 7).to_vec();
    times.extend_from_slice(&timespec32(0x7fff_fff0, 999_999_999));
    let times = w.buffer(&times, abi::BUF_IN);
    // atime left alone, mtime 2000.5; on the symlink itself.
    let mut omit = timespec32(0, (1 << 30) - 2).to_vec(); // UTIME_OMIT
    omit.extend_from_slice(&timespec32(2000, 5));
    let omit = w.buffer(&omit, abi::BUF_IN);
    let at = |index| Buf { index, offset: 0 };
    w.push(CompatAtom::new(
        nr32::UTIMENSAT,
        &[Imm(d), at(f), at(times), Imm(0)],
    ));
    w.push(CompatAtom::new(
        nr32::UTIMENSAT,
        &[
            Imm(d),
            at(l),
            at(omit),
            Imm(libc::AT_SYMLINK_NOFOLLOW as u32),
        ],
    ));
    let (_batch, _bytes, seen) = run_compat(&w);
    assert_eq!(seen.results[..2], [0, 0], "{:?}", &seen.results[..2]);
    let m = fs::metadata(tmp.join("f")).unwrap();
    assert_eq!((m.atime(), m.atime_nsec()), (1000, 7));
    assert_eq!((m.mtime(), m.mtime_nsec()), (0x7fff_fff0, 999_999_999));
    let m = fs::symlink_metadata(tmp.join("l")).unwrap();
    assert_eq!((m.mtime(), m.mtime_nsec()), (2000, 5), "the link itself");

    // NULL times: now.
    let mut w = CompatWriter::new();
    let f = w.path(b"f");
    w.push(CompatAtom::new(
        nr32::UTIMENSAT,
        &[
            Imm(d),
            Buf {
                index: f,
                offset: 0,
            },
            Imm(0),
            Imm(0),
        ],
    ));
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let (_batch, _bytes, seen) = run_compat(&w);
    assert_eq!(seen.results[0], 0);
    let m = fs::metadata(tmp.join("f")).unwrap();
    assert!(
        m.mtime() >= before - 1 && m.mtime() < before + 60,
        "{}",
        m.mtime()
    );
}

#[test]
fn i386_clock_nanosleep_sleeps_and_writes_the_32_bit_remain_on_eintr() {
    use syslets::compat::{nr32, CompatArg::*, CompatAtom, CompatWriter};

    let sleep = |req: [u8; 8], flags: u32| {
        let mut w = CompatWriter::new();
        let req = w.buffer(&req, abi::BUF_IN);
        let rem = w.buffer(&[0xa5; 8], abi::BUF_OUT);
        w.push(CompatAtom::new(
            nr32::CLOCK_NANOSLEEP,
            &[
                Imm(libc::CLOCK_MONOTONIC as u32),
                Imm(flags),
                Buf {
                    index: req,
                    offset: 0,
                },
                Buf {
                    index: rem,
                    offset: 0,
                },
            ],
        ));
        let (_batch, bytes, seen) = run_compat(&w);
        (seen.results[0], tail(&bytes, 8).to_vec())
    };
    // 2 ms, relative: slept to the end, remain untouched.
    let t = std::time::Instant::now();
    assert_eq!(sleep(timespec32(0, 2_000_000), 0), (0, vec![0xa5; 8]));
    assert!(t.elapsed() >= Duration::from_millis(2));
    // An absolute deadline in the past.
    assert_eq!(
        sleep(timespec32(0, 0), libc::TIMER_ABSTIME as u32),
        (0, vec![0xa5; 8])
    );

    // Interrupted by a handled signal (no SA_RESTART): EINTR and the time
    // left, in 32 bits. In a child: the handler and the signals are its own.
    let code = common::in_child(move || {
        extern "C" fn nothing(_: libc::c_int) {}
        // SAFETY: a zeroed sigaction with a handler that does nothing and no
        // flags (so no SA_RESTART) is a valid disposition for SIGUSR1.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = nothing as *const () as usize;
            assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
        }
        // SAFETY: gettid/getpid take no arguments.
        let (pid, tid) = unsafe { (libc::getpid(), libc::gettid()) };
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop = done.clone();
        let kicker = std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
                // SAFETY: tgkill sends SIGUSR1 (handled) to a thread of this process.
                unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, libc::SIGUSR1) };
            }
        });
        let (r, rem) = sleep(timespec32(5, 0), 0);
        done.store(true, Ordering::Relaxed);
        kicker.join().unwrap();
        assert_eq!(r, -(libc::EINTR as i64));
        let sec = i32::from_le_bytes(rem[..4].try_into().unwrap());
        let nsec = i32::from_le_bytes(rem[4..].try_into().unwrap());
        assert!((3..5).contains(&sec), "{sec}.{nsec}");
        assert!((0..1_000_000_000).contains(&nsec), "{sec}.{nsec}");
        0
    });
    assert_eq!(code, 0);
}

#[test]
fn i386_sendfile_with_a_32_bit_offset_moves_data_and_stops_at_2_gib() {
    use std::os::unix::fs::FileExt;
    use syslets::compat::{self, nr32, CompatArg::*, CompatAtom, CompatWriter};

    let tmp = TempDir::new("sendfile32");
    fs::write(tmp.join("in"), b"hello world").unwrap();
    let input = fs::File::open(tmp.join("in")).unwrap();
    let (rx, tx) = pipe();
    let (fin, fout) = (input.as_raw_fd() as u32, tx.as_raw_fd() as u32);
    let mut w = CompatWriter::new();
    let off = w.buffer(&6i32.to_le_bytes(), abi::BUF_IN | abi::BUF_OUT);
    let off = Buf {
        index: off,
        offset: 0,
    };
    // From offset 6 (advanced to 11), then from the file offset (0).
    w.push(CompatAtom::new(
        nr32::SENDFILE,
        &[Imm(fout), Imm(fin), off, Imm(5)],
    ));
    w.push(CompatAtom::new(
        nr32::SENDFILE,
        &[Imm(fout), Imm(fin), Imm(0), Imm(5)],
    ));
    let (_batch, bytes, seen) = run_compat(&w);
    assert_eq!(seen.results[..2], [5, 5]);
    // The offset buffer is the first of the arena: 4 bytes, padded to 8.
    assert_eq!(&tail(&bytes, 8)[..4], &11i32.to_le_bytes(), "advanced");
    let mut got = [0u8; 10];
    // SAFETY: reads at most 10 bytes into `got` from the pipe's read end.
    let n = unsafe { libc::read(rx.as_raw_fd(), got.as_mut_ptr().cast(), 10) };
    assert_eq!(&got[..n as usize], b"worldhello");

    // At 2 GiB - 4 of a larger (sparse) file: 3 bytes, as MAX_NON_LFS allows.
    let big = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(tmp.join("big"))
        .unwrap();
    big.set_len((1 << 31) + 4096).unwrap();
    big.write_all_at(b"abcdef", (1 << 31) - 4).unwrap();
    let null = fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .unwrap();
    let near = |pos: i32, count: u32| {
        let mut w = CompatWriter::new();
        let off = w.buffer(&pos.to_le_bytes(), abi::BUF_IN | abi::BUF_OUT);
        w.push(CompatAtom::new(
            nr32::SENDFILE,
            &[
                Imm(null.as_raw_fd() as u32),
                Imm(big.as_raw_fd() as u32),
                Buf {
                    index: off,
                    offset: 0,
                },
                Imm(count),
            ],
        ));
        w
    };
    let (_batch, bytes, seen) = run_compat(&near(i32::MAX - 3, 100));
    assert_eq!(seen.results[0], 3);
    assert_eq!(&tail(&bytes, 8)[..4], &i32::MAX.to_le_bytes());
    // At the limit itself the i386 call fails: refused up front.
    let e = compat::normalize(&near(i32::MAX, 1).finish()).unwrap_err();
    assert!(e.to_string().contains("limit"), "{e}");
}

#[test]
fn fchmodat2_follows_or_not_and_is_confined() {
    use std::os::unix::fs::PermissionsExt;
    use syslets::compat::{nr32, CompatArg::*, CompatAtom, CompatWriter};
    use syslets::opcode::Fchmodat2;

    // The kernel has it (6.6+) or says ENOSYS to a harmless probe (a bad dirfd).
    // SAFETY: fchmodat2 with dirfd -1 and a relative path fails at the dirfd.
    let probe = unsafe { libc::syscall(nr::FCHMODAT2 as i64, -1, c"x".as_ptr(), 0, 0) };
    let errno = std::io::Error::last_os_error().raw_os_error();
    if probe < 0 && errno == Some(libc::ENOSYS) {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "fchmodat2 is required under CI (Linux 6.6+); this kernel says ENOSYS"
        );
        eprintln!("SKIPPED: fchmodat2: the kernel lacks it (ENOSYS; Linux 6.6+)");
        return;
    }
    assert_eq!((probe, errno), (-1, Some(libc::EBADF)));

    let mode = |tmp: &TempDir, name: &str| {
        fs::metadata(tmp.join(name)).unwrap().permissions().mode() & 0o777
    };
    let nofollow = libc::AT_SYMLINK_NOFOLLOW as u32;
    for at in [Where::Inline, Where::Worker] {
        let tmp = TempDir::new("fchmodat2");
        fs::write(tmp.join("f"), b"x").unwrap();
        fs::set_permissions(tmp.join("f"), fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::symlink("f", tmp.join("l")).unwrap();
        let dir = tmp.open();
        let d = dir.as_fd();
        let confined = Policy::default().confine_to(d);
        // Under confinement: the file itself, then the link with
        // AT_SYMLINK_NOFOLLOW (the kernel will not change a link's mode).
        let mut chain = Chain::new();
        let (f, l) = (chain.path("f"), chain.path("l"));
        chain.push(Fchmodat2::new(d, f, 0o600u32).flags(nofollow));
        chain.push(Fchmodat2::new(d, l, 0o611u32).flags(nofollow));
        let r = run(chain, &confined, at, Policy::default());
        assert_eq!(r, [0, -(libc::EOPNOTSUPP as i64)], "{at:?}");
        assert_eq!(
            mode(&tmp, "f"),
            0o600,
            "{at:?}: the link's target is untouched"
        );
        // Unconfined and without the flag it follows the link.
        let mut chain = Chain::new();
        let l = chain.path("l");
        chain.push(Fchmodat2::new(d, l, 0o640u32));
        assert_eq!(run(chain, &Policy::default(), at, Policy::default()), [0]);
        assert_eq!(mode(&tmp, "f"), 0o640, "{at:?}: followed");
    }

    // Confinement: the flag is required, and the path stays inside.
    let tmp = TempDir::new("fchmodat2-confine");
    let dir = tmp.open();
    let d = dir.as_fd();
    let e = refusal(d, |c| {
        let p = c.path("f");
        c.push(Fchmodat2::new(d, p, 0o600u32));
    });
    assert!(
        matches!(e, Some(ErrorKind::ArgRefused { arg: 3, .. })),
        "{e:?}"
    );
    for escape in ["../f", "/etc/passwd"] {
        let e = refusal(d, |c| {
            let p = c.path(escape);
            c.push(Fchmodat2::new(d, p, 0o600u32).flags(nofollow));
        });
        assert!(
            matches!(e, Some(ErrorKind::PathEscapes { arg: 1, .. })),
            "{escape}: {e:?}"
        );
    }

    // i386 (452, the same arguments).
    fs::write(tmp.join("f"), b"x").unwrap();
    let mut w = CompatWriter::new();
    let f = w.path(b"f");
    w.push(CompatAtom::new(
        nr32::FCHMODAT2,
        &[
            Imm(dir.as_raw_fd() as u32),
            Buf {
                index: f,
                offset: 0,
            },
            Imm(0o604),
            Imm(nofollow),
        ],
    ));
    let (_batch, _bytes, seen) = run_compat(&w);
    assert_eq!(seen.results[0], 0);
    assert_eq!(mode(&tmp, "f"), 0o604);
}

/// dup3 onto a number an atom of the chain closed opens it again, and the
/// chain does not claim it (another thread could have taken the number
/// between the close and the dup3, and an `OwnedFd` from `take_fds` would
/// then be a second owner): it is the caller's, as its documentation says.
#[test]
fn dup3_onto_a_number_the_chain_closed_leaves_it_to_the_caller() {
    use std::os::fd::{FromRawFd, OwnedFd};
    use syslets::opcode::Dup3;
    let code = common::in_child(|| {
        let mut chain = Chain::new();
        let p = chain.path("/dev/null");
        let a = chain.push(Openat::new(libc::AT_FDCWD, p));
        let b = chain.push(Openat::new(libc::AT_FDCWD, p));
        chain.push(Close::new(a));
        chain.push(Dup3::new(b, a));
        let mut batch = chain.prepare(&Policy::default()).unwrap();
        let r = batch.run().results().to_vec();
        assert!(r[0] >= 0 && r[1] >= 0, "{r:?}");
        assert_eq!(r[2..], [0, r[0]], "close, then dup3 returns the number");
        let listed: Vec<i32> = batch.unclosed_fds().iter().map(|&(_, fd)| fd).collect();
        assert_eq!(listed, [r[1] as i32], "only b's descriptor is the chain's");
        assert!(is_open(r[0] as i32), "dup3 opened the number again");
        drop(batch.take_fds());
        // SAFETY: the number dup3 opened; nothing else in this child owns it.
        drop(unsafe { OwnedFd::from_raw_fd(r[0] as i32) });
        assert!(!is_open(r[0] as i32) && !is_open(r[1] as i32));
        0
    });
    assert_eq!(code, 0);
}

/// The open descriptors of this process.
fn open_fds() -> Vec<i32> {
    let mut fds: Vec<i32> = fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    fds.sort();
    fds
}

/// Random chains of pipe2, openat and close (of numbers the chain's own
/// descriptors take), run and then handed over with take_fds: every
/// descriptor handed out is open and handed out once, and dropping them
/// leaves the process with the descriptors it had. In a single-threaded
/// child, so the numbers are the chain's alone.
#[test]
fn pipe2_open_and_close_chains_never_leak_or_double_close() {
    use syslets::opcode::Pipe2;
    let rounds = rng::setting("SYSLETS_PIPE_ROUNDS", 300);
    let code = common::in_child(move || {
        let mut rng = rng::Rng(0x5eed_f11e);
        let baseline = open_fds();
        // The lowest free numbers, which the chains' descriptors take (the
        // child inherited whatever other tests had open at the fork: never
        // close those).
        let free: Vec<i32> = (0..).filter(|n| !baseline.contains(n)).take(6).collect();
        for round in 0..rounds {
            let mut chain = Chain::new();
            let null = chain.path("/dev/null");
            for _ in 0..1 + rng.below(12) {
                match rng.below(3) {
                    0 => {
                        let fds = chain.output::<[i32; 2]>();
                        chain.push(Pipe2::new(fds));
                    }
                    1 => {
                        chain.push(Openat::new(libc::AT_FDCWD, null));
                    }
                    _ => {
                        let n = free[rng.below(free.len() as u64) as usize];
                        chain.push(Close::new(n));
                    }
                }
            }
            let mut batch = chain.prepare(&Policy::default()).unwrap();
            batch.run();
            let taken = batch.take_fds();
            let mut numbers: Vec<i32> = taken.iter().map(|(_, fd)| fd.as_raw_fd()).collect();
            numbers.sort();
            let before = numbers.len();
            numbers.dedup();
            assert_eq!(
                numbers.len(),
                before,
                "round {round}: a number handed out twice"
            );
            assert!(numbers.iter().all(|&fd| is_open(fd)), "round {round}");
            drop(taken);
            assert_eq!(open_fds(), baseline, "round {round}: leaked");
        }
        0
    });
    assert_eq!(code, 0);
}
