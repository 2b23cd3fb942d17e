//! The file-system calls that name two paths or make links (`renameat2`,
//! `linkat`, `symlinkat`, …) on the real kernel: inline, on a worker under
//! the seccomp filter of the executor's policy, and under confinement.
//! Own binary: it creates executors whose workers it relies on.

mod common;

use std::fs;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use syslets::abi::{self, nr};
use syslets::opcode::{Close, Fsync, Linkat, Openat, Renameat2, Symlinkat, Write};
use syslets::{AtomRef, Chain, ErrorKind, Executor, Policy, Stop, Submitted};

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
fn run(mut chain: Chain<'static>, policy: &Policy, at: Where, executor_policy: Policy) -> Vec<i64> {
    match at {
        Where::Inline => {
            let mut batch = chain.prepare(policy).unwrap();
            batch.run().results().to_vec()
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
            let done = common::reap_n(&ex, 1).pop().unwrap();
            done.completion().results().to_vec()
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

#[test]
fn a_worker_filter_refuses_each_call_its_policy_does_not_allow() {
    for call in [nr::RENAMEAT2, nr::LINKAT, nr::SYMLINKAT] {
        let tmp = TempDir::new("eperm");
        fs::write(tmp.join("a"), b"A").unwrap();
        let dir = tmp.open();
        let d = dir.as_fd();
        let mut chain = Chain::new();
        let (a, n) = (chain.path("a"), chain.path("new"));
        match call {
            nr::RENAMEAT2 => chain.push(Renameat2::new(d, a, d, n)),
            nr::LINKAT => chain.push(Linkat::new(d, a, d, n)),
            _ => chain.push(Symlinkat::new(a, d, n)),
        };
        // Validated under the default policy; the executor's is narrower.
        let results = run(
            chain,
            &Policy::default(),
            Where::Worker,
            Policy::default().deny(call),
        );
        assert_eq!(results, vec![-(libc::EPERM as i64)], "nr {call}");
        assert!(!tmp.join("new").exists(), "nr {call}");
        assert!(tmp.join("a").exists(), "nr {call}");
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
fn the_i386_calls_translate_and_run_under_confinement() {
    use syslets::compat::{self, nr32, CompatArg::*, CompatAtom, CompatWriter};
    use syslets::EncodedBatch;

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
    let mut bytes = w.finish();
    let norm = compat::normalize(&bytes).unwrap();
    let policy = Policy::default().confine_to(dir.as_fd());
    let mut batch = EncodedBatch::from_bytes(norm.native_bytes())
        .validate(&policy)
        .unwrap();
    let done = *batch.run().as_abi();
    let seen = norm.write_back(batch.arena(), &done, &mut bytes).unwrap();
    assert_eq!(&seen.results[..3], &[0, 0, 0]);
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
