//! Execution semantics on real system calls: every stop flag against every class
//! of return value, with and without SKIP_TO_NEXT_ON_STOP and NEXT jumps; result
//! passing; run-time checks; typed outputs.

use std::fs::File;
use std::io::Write as _;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;

use syslets::opcode::{
    Close, Fstat, Getpid, Gettid, Lseek, Newfstatat, Openat, Pread64, Read, Statx, Write,
};
use syslets::{AtomRef, ByteLen, Chain, Errno, Fd, Policy, Stat, Stop};

/// An atom with a known return class.
#[derive(Clone, Copy, Debug)]
enum Ret {
    /// getpid(): positive.
    Positive,
    /// lseek(fd, 0, SEEK_SET): zero.
    Zero,
    /// close(-1): -EBADF.
    Negative,
}

fn push_probe(chain: &mut Chain<'_>, ret: Ret, fd: i32, stop: Stop, skip: bool) -> AtomRef {
    macro_rules! flagged {
        ($op:expr) => {{
            let op = $op.stop_on(stop);
            if skip {
                chain.push(op.skip_to_next_on_stop())
            } else {
                chain.push(op)
            }
        }};
    }
    match ret {
        Ret::Positive => flagged!(Getpid::new()),
        Ret::Zero => flagged!(Lseek::new(fd, 0, libc::SEEK_SET)),
        Ret::Negative => flagged!(Close::new(-1)),
    }
}

fn expected_value(ret: Ret) -> fn(i64) -> bool {
    match ret {
        Ret::Positive => |v| v > 0,
        Ret::Zero => |v| v == 0,
        Ret::Negative => |v| v == -(libc::EBADF as i64),
    }
}

const STOPS: [(Stop, &str); 5] = [
    (Stop::NEVER, "none"),
    (Stop::NONZERO, "NONZERO"),
    (Stop::ZERO, "ZERO"),
    (Stop::NEGATIVE, "NEGATIVE"),
    (Stop::NON_POSITIVE, "NON_POSITIVE"),
];

fn condition(stop: Stop, ret: Ret) -> bool {
    let (pos, zero, neg) = (
        matches!(ret, Ret::Positive),
        matches!(ret, Ret::Zero),
        matches!(ret, Ret::Negative),
    );
    (stop == Stop::NONZERO && (pos || neg))
        || (stop == Stop::ZERO && zero)
        || (stop == Stop::NEGATIVE && neg)
        || (stop == Stop::NON_POSITIVE && (zero || neg))
}

/// Chain `probe → getpid`: the stop matrix on a linear chain.
#[test]
fn every_stop_flag_on_every_return_class_linear() {
    let file = File::open("/proc/self/exe").unwrap();
    for ret in [Ret::Positive, Ret::Zero, Ret::Negative] {
        for (stop, name) in STOPS {
            for skip in [false, true] {
                let mut chain = Chain::new();
                let probe = push_probe(&mut chain, ret, file.as_raw_fd(), stop, skip);
                let after = chain.push(Getpid::new());
                let mut batch = chain.prepare(&Policy::default()).unwrap();
                let done = batch.run();
                let what = format!("{ret:?} STOP_ON_{name} skip={skip}");
                assert!(expected_value(ret)(done.result(probe).unwrap()), "{what}");
                let stops = condition(stop, ret);
                assert_eq!(done.stopped(), stops && !skip, "{what}");
                assert_eq!(done.ran(after), !stops || skip, "{what}");
                assert_eq!(
                    done.atoms_run(),
                    if stops && !skip { 1 } else { 2 },
                    "{what}"
                );
                let last = if stops && !skip { probe } else { after };
                assert_eq!(done.last_atom(), last.index(), "{what}");
                assert_eq!(done.status(), done.result(last).unwrap(), "{what}");
            }
        }
    }
}

/// Chain `probe(NEXT = 2) → getpid → gettid`: v6 branching. Normal flow follows
/// the NEXT jump over atom 1; a stop with SKIP falls through to atom 1; a stop
/// without SKIP ends the chain.
#[test]
fn every_stop_flag_on_every_return_class_with_a_jump() {
    let file = File::open("/proc/self/exe").unwrap();
    for ret in [Ret::Positive, Ret::Zero, Ret::Negative] {
        for (stop, name) in STOPS {
            for skip in [false, true] {
                let mut chain = Chain::new();
                let probe = push_probe(&mut chain, ret, file.as_raw_fd(), stop, skip);
                let fallthrough = chain.push(Getpid::new());
                let target = chain.push(Gettid::new());
                chain.jump(probe, target);
                let mut batch = chain.prepare(&Policy::default()).unwrap();
                let done = batch.run();
                let what = format!("{ret:?} STOP_ON_{name} skip={skip}");
                let stops = condition(stop, ret);
                let (ran_fall, ran_target) = match (stops, skip) {
                    (false, _) => (false, true),
                    (true, true) => (true, true),
                    (true, false) => (false, false),
                };
                assert_eq!(done.ran(fallthrough), ran_fall, "{what}");
                assert_eq!(done.ran(target), ran_target, "{what}");
                assert_eq!(done.stopped(), stops && !skip, "{what}");
                assert_eq!(
                    done.atoms_run(),
                    1 + ran_fall as usize + ran_target as usize,
                    "{what}"
                );
            }
        }
    }
}

#[test]
fn several_stop_flags_combine_as_or() {
    let file = File::open("/proc/self/exe").unwrap();
    for (ret, stops) in [
        (Ret::Positive, false),
        (Ret::Zero, true),
        (Ret::Negative, true),
    ] {
        let mut chain = Chain::new();
        push_probe(
            &mut chain,
            ret,
            file.as_raw_fd(),
            Stop::ZERO | Stop::NEGATIVE,
            false,
        );
        chain.push(Getpid::new());
        let mut batch = chain.prepare(&Policy::default()).unwrap();
        assert_eq!(batch.run().stopped(), stops, "{ret:?}");
    }
}

#[test]
fn end_after_ends_the_chain_on_normal_flow() {
    let mut chain = Chain::new();
    let a = chain.push(Getpid::new());
    let b = chain.push(Getpid::new());
    chain.end_after(a);
    let mut batch = chain.prepare(&Policy::default()).unwrap();
    let done = batch.run();
    assert!(done.ran(a) && !done.ran(b) && !done.stopped());
}

#[test]
fn a_result_of_an_atom_that_did_not_run_is_not_used() {
    // getpid jumps over close(-1); the fstat that uses close's "result" as fd
    // must not be issued with a stale value.
    let mut chain = Chain::new();
    let st = chain.output::<Stat>();
    let a = chain.push(Getpid::new());
    let skipped = chain.push(Close::new(-1));
    let uses = chain.push(Fstat::new(skipped, st));
    chain.jump(a, uses);
    let mut batch = chain.prepare(&Policy::default()).unwrap();
    let done = batch.run();
    assert!(!done.ran(skipped));
    assert_eq!(done.outcome(uses), Some(Err(Errno::EINVAL)));
}

fn temp_file(contents: &[u8]) -> (tempdir::Dir, std::path::PathBuf) {
    let dir = tempdir::Dir::new();
    let path = dir.path().join("data");
    File::create(&path).unwrap().write_all(contents).unwrap();
    (dir, path)
}

/// A tiny self-cleaning temporary directory (no extra dependency).
mod tempdir {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicU32, Ordering};

    pub struct Dir(PathBuf);

    impl Dir {
        pub fn new() -> Dir {
            static N: AtomicU32 = AtomicU32::new(0);
            let p = std::env::temp_dir().join(format!(
                "syslets-test-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[test]
fn open_fstat_pread_close_pass_the_fd_along() {
    let contents = b"hello, syslets: results flow from atom to atom";
    let (_dir, path) = temp_file(contents);
    let mut chain = Chain::new();
    let p = chain.path(&path);
    let st = chain.output::<Stat>();
    let data = chain.output_bytes(64);
    let fd = chain.push(Openat::new(libc::AT_FDCWD, p).stop_on(Stop::NEGATIVE));
    let fstat = chain.push(Fstat::new(fd, st));
    let pread = chain.push(Pread64::new(fd, data, 7));
    let close = chain.push(Close::new(fd));
    let mut batch = chain.prepare(&Policy::default()).unwrap();
    let done = *batch.run();
    assert_eq!(done.atoms_run(), 4);
    assert!(done.result(fd).unwrap() >= 0);
    assert_eq!(done.result(fstat), Some(0));
    assert_eq!(done.result(pread), Some(contents.len() as i64 - 7));
    assert_eq!(done.result(close), Some(0));
    let stat: Stat = batch.output(st);
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(
        (stat.st_size as u64, stat.st_ino, stat.st_dev),
        (meta.len(), meta.ino(), meta.dev())
    );
    assert_eq!(stat.st_mode, meta.mode());
    assert_eq!(&batch.bytes(data)[..contents.len() - 7], &contents[7..]);
    assert!(batch.unclosed_fds().is_empty());
}

#[test]
fn bytes_read_become_the_length_written() {
    let contents: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
    let (dir, src) = temp_file(&contents);
    let dst = dir.path().join("copy");
    let mut chain = Chain::new();
    let (s, d) = (chain.path(&src), chain.path(&dst));
    let buf = chain.scratch(4096);
    let from = chain.push(Openat::new(libc::AT_FDCWD, s).stop_on(Stop::NEGATIVE));
    let to = chain.push(
        Openat::new(libc::AT_FDCWD, d)
            .flags((libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC) as u32)
            .mode(0o600)
            .stop_on(Stop::NEGATIVE),
    );
    let n = chain.push(Read::new(from, buf));
    let written = chain.push(Write::new(to, buf).len(ByteLen::ResultOf(n)));
    chain.push(Close::new(from));
    chain.push(Close::new(to));
    let mut batch = chain.prepare(&Policy::default()).unwrap();
    let done = *batch.run();
    assert_eq!(done.atoms_run(), 6);
    assert_eq!(done.result(n), Some(3000));
    assert_eq!(done.result(written), Some(3000));
    assert_eq!(std::fs::read(&dst).unwrap(), contents);
}

#[test]
fn a_result_length_larger_than_its_buffer_is_not_issued() {
    // getpid's value (> 16) as the length of a 16-byte read: the atom returns
    // EFAULT without reaching the kernel.
    let file = File::open("/proc/self/exe").unwrap();
    let mut chain = Chain::new();
    let buf = chain.output_bytes(16);
    let pid = chain.push(Getpid::new());
    let read = chain.push(Read::new(file.as_raw_fd(), buf).len(ByteLen::ResultOf(pid)));
    let mut batch = chain.prepare(&Policy::default()).unwrap();
    let done = batch.run();
    assert!(done.result(pid).unwrap() > 16);
    assert_eq!(done.outcome(read), Some(Err(Errno::EFAULT)));
    assert_eq!(batch.bytes(buf), &[0; 16], "nothing was read");
}

#[test]
fn a_path_overwritten_by_an_earlier_atom_is_rechecked() {
    // The path lives in a scratch (IN|OUT) buffer. Validation sees it zeroed (an
    // empty, terminated string); atom 0 reads a real path into it, atom 3 then
    // overwrites all 32 bytes with non-NUL data, and atom 4's openat must not run
    // off the end of the buffer: it is not issued and returns EFAULT.
    let (_d1, junk) = temp_file(&[b'x'; 64]);
    let (_d2, pathfile) = temp_file(b"/proc/self/exe\0");
    let (junk, pathfile) = (File::open(&junk).unwrap(), File::open(&pathfile).unwrap());
    let mut chain = Chain::new();
    let path = chain.scratch(32);
    chain.push(Read::new(pathfile.as_raw_fd(), path));
    let ok = chain.push(Openat::new(libc::AT_FDCWD, path));
    chain.push(Close::new(ok));
    let clobber = chain.push(Pread64::new(junk.as_raw_fd(), path, 0));
    let bad = chain.push(Openat::new(libc::AT_FDCWD, path));
    let mut batch = chain.prepare(&Policy::default()).unwrap();
    let done = batch.run();
    assert!(
        done.result(ok).unwrap() >= 0,
        "the path read into the buffer opens"
    );
    assert_eq!(done.result(clobber), Some(32));
    assert_eq!(done.outcome(bad), Some(Err(Errno::EFAULT)));
}

#[test]
fn prebuilt_batches_run_again_and_again() {
    let mut chain = Chain::new();
    let path = chain.path("/proc/self/exe");
    let st = chain.output::<Stat>();
    let fd = chain.push(Openat::new(libc::AT_FDCWD, path).stop_on(Stop::NEGATIVE));
    chain.push(Fstat::new(fd, st));
    chain.push(Close::new(fd));
    let mut batch = chain.prepare(&Policy::default()).unwrap();
    let size = std::fs::metadata("/proc/self/exe").unwrap().len() as i64;
    for _ in 0..100 {
        let done = batch.run();
        assert_eq!((done.atoms_run(), done.stopped()), (3, false));
        assert_eq!(batch.output(st).st_size, size);
    }
}

#[test]
fn lstat_and_statx_by_path() {
    let dir = tempdir::Dir::new();
    let target = dir.path().join("target");
    std::fs::write(&target, b"0123456789").unwrap();
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let mut chain = Chain::new();
    let l = chain.path(&link);
    let (st, stx) = (chain.output::<Stat>(), chain.output::<syslets::Statx>());
    let a =
        chain.push(Newfstatat::new(libc::AT_FDCWD, l, st).flags(libc::AT_SYMLINK_NOFOLLOW as u32));
    let b = chain.push(Statx::new(libc::AT_FDCWD, l, stx));
    let mut batch = chain.prepare(&Policy::default()).unwrap();
    let done = *batch.run();
    assert_eq!((done.result(a), done.result(b)), (Some(0), Some(0)));
    let lst = batch.output(st);
    assert_eq!(lst.st_mode & libc::S_IFMT, libc::S_IFLNK);
    assert_eq!(
        lst.st_size as u64,
        std::fs::symlink_metadata(&link).unwrap().len()
    );
    let x = batch.output(stx);
    assert_eq!(x.stx_size, 10, "statx follows the link");
    assert_eq!(x.stx_mode as u32 & libc::S_IFMT, libc::S_IFREG);
}

#[test]
fn caller_data_is_echoed_and_fd_arguments_accept_borrowed_fds() {
    let file = File::open("/proc/self/exe").unwrap();
    let mut chain = Chain::new();
    chain.set_caller_data(0xfeed_f00d);
    let st = chain.output::<Stat>();
    let a = chain.push(Fstat::new(Fd::from(std::os::fd::AsFd::as_fd(&file)), st));
    let mut batch = chain.prepare(&Policy::default()).unwrap();
    let done = batch.run();
    assert_eq!(done.caller_data(), 0xfeed_f00d);
    assert_eq!(done.result(a), Some(0));
}
