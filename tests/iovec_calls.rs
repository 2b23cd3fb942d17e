//! `readv`, `writev`, `preadv2` and `pwritev2` on the real kernel: inline, on
//! a seccomp-filtered thread, on an executor's worker and through the i386
//! compat translator (8-byte iovecs widened to 16); and the element-by-element
//! validation of their iovec arrays.

use std::fs;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use syslets::abi::{self, nr, IoVec};
use syslets::compat::CompatArg::{Buf, Imm};
use syslets::compat::{self, nr32, CompatAtom, CompatIoVec, CompatWriter};
use syslets::opcode::{Close, Openat, Preadv2, Pwritev2, RawAtom, Readv, Writev};
use syslets::{
    install_filter, BufRef, Chain, ErrorKind, Executor, Iovecs, Policy, Stop, Submitted,
    ValidationError,
};
use zerocopy::IntoBytes;

#[path = "common/compat_run.rs"]
mod compat_run;
use compat_run::{native_buffer, run_compat};

fn temp_path(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    std::env::temp_dir().join(format!(
        "syslets-iovec-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ))
}

/// open(O_CREAT) → writev("hello ", "world") → pwritev2("!", at 11) →
/// preadv2(5 + 7 bytes at 0) → readv (at the file offset, 11: "!") → close.
/// The results and the bytes of the three buffers read back.
type RoundTrip = (Vec<i64>, Vec<u8>, Vec<u8>, Vec<u8>);

fn round_trip(path: &std::path::Path) -> Result<RoundTrip, String> {
    let mut chain = Chain::new();
    let p = chain.path(path);
    let (hello, world, bang) = (
        chain.input(b"hello "),
        chain.input(b"world"),
        chain.input(b"!"),
    );
    let (first, rest, tail) = (
        chain.output_bytes(5),
        chain.output_bytes(7),
        chain.output_bytes(4),
    );
    let out = chain.iovecs(&[hello, world]);
    let out2 = chain.iovecs(&[bang]);
    let back = chain.iovecs(&[first, rest]);
    let after = chain.iovecs(&[tail]);
    let flags = (libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC) as u32;
    let fd = chain.push(
        Openat::new(libc::AT_FDCWD, p)
            .flags(flags)
            .mode(0o600)
            .stop_on(Stop::NEGATIVE),
    );
    chain.push(Writev::new(fd, out));
    chain.push(Pwritev2::new(fd, out2, 11));
    chain.push(Preadv2::new(fd, back, 0));
    chain.push(Readv::new(fd, after));
    chain.push(Close::new(fd));
    let mut batch = chain
        .prepare(&Policy::default())
        .map_err(|e| e.to_string())?;
    let results = batch.run().results().to_vec();
    Ok((
        results,
        batch.bytes(first).to_vec(),
        batch.bytes(rest).to_vec(),
        batch.bytes(tail).to_vec(),
    ))
}

fn check_round_trip(out: RoundTrip, path: &std::path::Path) {
    let (results, first, rest, tail) = out;
    assert!(results[0] >= 0, "{results:?}");
    assert_eq!(results[1..], [11, 1, 12, 1, 0], "{results:?}");
    assert_eq!(first, b"hello");
    assert_eq!(rest, b" world!");
    assert_eq!(tail, b"!\0\0\0", "readv at the file offset");
    assert_eq!(fs::read(path).unwrap(), b"hello world!");
}

#[test]
fn vectored_calls_round_trip_through_a_file() {
    let path = temp_path("inline");
    check_round_trip(round_trip(&path).unwrap(), &path);
    fs::remove_file(&path).unwrap();
}

#[test]
fn vectored_calls_run_on_a_filtered_thread_and_are_eperm_when_denied() {
    let path = temp_path("filtered");
    let filter = Policy::default().seccomp_filter().unwrap();
    let p = path.clone();
    let out = std::thread::spawn(move || {
        install_filter(&filter).unwrap();
        round_trip(&p)
    })
    .join()
    .unwrap();
    check_round_trip(out.unwrap(), &path);

    let denied = [nr::READV, nr::WRITEV, nr::PREADV2, nr::PWRITEV2]
        .into_iter()
        .fold(Policy::default(), Policy::deny);
    let filter = denied.seccomp_filter().unwrap();
    let file = fs::File::open(&path).unwrap();
    let fd = file.as_raw_fd();
    let errnos = std::thread::spawn(move || {
        install_filter(&filter).unwrap();
        let mut byte = [0u8; 1];
        let iov = libc::iovec {
            iov_base: byte.as_mut_ptr().cast(),
            iov_len: 1,
        };
        let errno = || std::io::Error::last_os_error().raw_os_error();
        // SAFETY: one iovec over `byte`, which outlives the calls.
        unsafe {
            [
                (libc::readv(fd, &iov, 1), errno()),
                (libc::writev(fd, &iov, 1), errno()),
                (libc::preadv2(fd, &iov, 1, 0, 0), errno()),
                (libc::pwritev2(fd, &iov, 1, 0, 0), errno()),
            ]
        }
    })
    .join()
    .unwrap();
    assert_eq!(errnos, [(-1, Some(libc::EPERM)); 4]);
    fs::remove_file(&path).unwrap();
}

#[test]
fn readv_runs_on_an_executor_worker() {
    let path = temp_path("worker");
    fs::write(&path, b"0123456789").unwrap();
    let ex = Executor::builder()
        .idle_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let file = fs::File::open(&path).unwrap();
    let mut chain = Chain::new();
    let (a, b) = (chain.output_bytes(3), chain.output_bytes(4));
    let iov = chain.iovecs(&[a, b]);
    chain.push(Preadv2::new(file.as_raw_fd(), iov, 2));
    chain.set_flags(abi::BATCH_ASYNC);
    let batch = chain.prepare(&Policy::default()).unwrap();
    let Submitted::Queued(_) = ex.submit(batch).unwrap() else {
        panic!("ASYNC chains go to a worker");
    };
    ex.wait(1, Some(Duration::from_secs(20))).unwrap();
    let done = ex.reap().unwrap().pop().expect("one completion");
    assert_eq!(done.completion().results()[0], 7);
    assert_eq!(done.batch().bytes(a), b"234");
    assert_eq!(done.batch().bytes(b), b"5678");
    fs::remove_file(&path).unwrap();
}

/// The error of a one-readv chain over `iov` (buffers made by `make`).
fn readv_error(make: impl FnOnce(&mut Chain<'static>) -> Iovecs) -> ValidationError {
    let mut chain = Chain::new();
    let iov = make(&mut chain);
    chain.push(Readv::new(0, iov));
    chain.prepare(&Policy::default()).unwrap_err()
}

fn iovec_bytes(elements: &[(u16, u32, u64)]) -> Vec<u8> {
    let mut v = Vec::new();
    for &(index, offset, len) in elements {
        let e = IoVec {
            base: abi::buf_arg(index, offset),
            len,
        };
        v.extend_from_slice(e.as_bytes());
    }
    v
}

fn bad_iovec(e: &ValidationError) -> (u8, u16, &'static str) {
    match e.kind {
        ErrorKind::BadIovec {
            arg,
            element,
            reason,
        } => (arg, element, reason),
        ref k => panic!("not a BadIovec: {k:?} ({e})"),
    }
}

#[test]
fn every_element_is_checked_against_its_buffer() {
    // Buffer 0 is an 8-byte OUT buffer; the array names it in various ways.
    let with = |elements: &'static [(u16, u32, u64)]| {
        readv_error(move |c| {
            c.output_bytes(8);
            Iovecs {
                array: c.input(&iovec_bytes(elements)),
                count: elements.len() as u32,
            }
        })
    };
    let e = with(&[(0, 0, 8), (7, 0, 1)]);
    assert_eq!((e.atom, e.syscall), (Some(0), Some("readv")));
    assert_eq!(
        bad_iovec(&e),
        (1, 1, "names a buffer the batch does not have")
    );
    let e = with(&[(0, 4, 5)]);
    assert_eq!(bad_iovec(&e), (1, 0, "reaches past the end of its buffer"));
    let e = with(&[(0, 9, 0)]);
    assert_eq!(bad_iovec(&e), (1, 0, "reaches past the end of its buffer"));
    // Buffer 1 (the array) is IN: readv would write it.
    let e = with(&[(0, 0, 4), (1, 0, 4)]);
    assert_eq!(
        bad_iovec(&e),
        (1, 1, "its buffer is not marked for what the kernel does")
    );
    // Two written elements may not overlap; empty ones and disjoint ones may
    // touch.
    let e = with(&[(0, 0, 4), (0, 6, 2), (0, 3, 2)]);
    assert_eq!(
        bad_iovec(&e),
        (1, 2, "overlaps another element the kernel writes")
    );
    let mut chain = Chain::new();
    let buf = chain.output_bytes(8);
    let iov = Iovecs {
        array: chain.input(&iovec_bytes(&[(0, 0, 4), (0, 4, 4), (0, 2, 0)])),
        count: 3,
    };
    chain.push(Readv::new(0, iov));
    chain
        .prepare(&Policy::default())
        .expect("disjoint elements");
    let _ = buf;

    // writev reads its elements: they may overlap, and must be IN.
    let mut chain = Chain::new();
    let data = chain.input(b"abcdefgh");
    let iov = chain.iovecs(&[data, data.take(4), data]);
    chain.push(Writev::new(1, iov));
    chain
        .prepare(&Policy::default())
        .expect("overlapping reads");
    let mut chain = Chain::new();
    let out = chain.output_bytes(8);
    let iov = chain.iovecs(&[out]);
    chain.push(Writev::new(1, iov));
    let e = chain.prepare(&Policy::default()).unwrap_err();
    assert_eq!(
        bad_iovec(&e),
        (1, 0, "its buffer is not marked for what the kernel does")
    );
}

#[test]
fn the_array_itself_is_read_only_memory_with_an_immediate_count() {
    // In memory an atom may write: refused (validation reads it once).
    let e = readv_error(|c| {
        c.output_bytes(8);
        Iovecs {
            array: c.scratch(16),
            count: 1,
        }
    });
    assert!(
        matches!(e.kind, ErrorKind::CheckedMemoryWritable { arg: 1, buf: 1 }),
        "{e}"
    );
    // More elements than the array holds, or than MAX_IOVECS.
    let e = readv_error(|c| {
        let b = c.output_bytes(8);
        let mut iov = c.iovecs(&[b]);
        iov.count = 2;
        iov
    });
    assert!(
        matches!(
            e.kind,
            ErrorKind::LengthExceedsBuffer {
                arg: 1,
                len: 32,
                available: 16
            }
        ),
        "{e}"
    );
    let e = readv_error(|c| {
        let b = c.output_bytes(8);
        let bufs: Vec<BufRef> = vec![b.take(0); abi::MAX_IOVECS + 1];
        c.iovecs(&bufs)
    });
    assert_eq!(bad_iovec(&e), (1, 0, "more elements than MAX_IOVECS"));
    // The count as the RESULT of an earlier atom.
    let mut chain = Chain::new();
    let b = chain.output_bytes(8);
    let iov = chain.iovecs(&[b]);
    let first = chain.push(Readv::new(0, iov));
    let mut atom = abi::Atom {
        nr: nr::READV,
        nargs: 3,
        ..Default::default()
    };
    atom.arg_kind[1] = abi::ARG_BUF;
    atom.arg[1] = abi::buf_arg(iov.array.index(), 0);
    atom.arg_kind[2] = abi::ARG_RESULT;
    atom.arg[2] = first.index() as u64;
    chain.push(RawAtom(atom));
    let e = chain.prepare(&Policy::default()).unwrap_err();
    assert_eq!(e.atom, Some(1));
    assert_eq!(
        bad_iovec(&e),
        (1, 0, "the element count must be an immediate")
    );
}

#[test]
fn an_empty_array_reads_nothing() {
    let path = temp_path("empty");
    fs::write(&path, b"x").unwrap();
    let file = fs::File::open(&path).unwrap();
    let mut chain = Chain::new();
    let iov = chain.iovecs(&[]);
    chain.push(Readv::new(file.as_raw_fd(), iov));
    let mut batch = chain.prepare(&Policy::default()).unwrap();
    assert_eq!(batch.run().results()[0], 0);
    fs::remove_file(&path).unwrap();
}

/// An i386 iovec array (8-byte elements) naming `(buffer, offset, len)`s.
fn compat_iovecs(w: &mut CompatWriter, elements: &[(u16, u32, u32)]) -> u16 {
    let mut bytes = Vec::new();
    for &(index, offset, len) in elements {
        let e = CompatIoVec {
            base: compat::compat_buf_arg(index, offset).unwrap(),
            len,
        };
        bytes.extend_from_slice(e.as_bytes());
    }
    w.buffer(&bytes, abi::BUF_IN)
}

#[test]
fn i386_vectored_calls_widen_their_iovecs_and_run() {
    let path = temp_path("compat");
    fs::write(&path, b"").unwrap();
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let fd = file.as_raw_fd() as u32;
    let mut w = CompatWriter::new();
    let data = w.buffer(b"abcdefghij", abi::BUF_IN);
    let x = w.zeroed(4, abi::BUF_OUT);
    let y = w.zeroed(6, abi::BUF_IN | abi::BUF_OUT);
    let out = compat_iovecs(&mut w, &[(data, 0, 3), (data, 3, 7)]);
    let back = compat_iovecs(&mut w, &[(x, 0, 4), (y, 0, 6)]);
    let one = compat_iovecs(&mut w, &[(y, 2, 3)]);
    let buf = |index| Buf { index, offset: 0 };
    w.push(CompatAtom::new(nr32::WRITEV, &[Imm(fd), buf(out), Imm(2)]));
    // preadv2(fd, back, 2, pos_lo 0, pos_hi 0, flags 0)
    w.push(CompatAtom::new(
        nr32::PREADV2,
        &[Imm(fd), buf(back), Imm(2), Imm(0), Imm(0), Imm(0)],
    ));
    // pwritev2 at 1 << 32 | 2, split across two words: the file grows.
    w.push(CompatAtom::new(
        nr32::PWRITEV2,
        &[Imm(fd), buf(one), Imm(1), Imm(2), Imm(1), Imm(0)],
    ));
    w.push(CompatAtom::new(nr32::READV, &[Imm(fd), buf(one), Imm(0)]));
    let (batch, _, done) = run_compat(&w);
    assert_eq!(done.results[..4], [10, 10, 3, 0]);
    let at = |i| native_buffer(&batch, i);
    assert_eq!(at(x), b"abcd");
    assert_eq!(at(y), b"efghij");
    let meta = fs::metadata(&path).unwrap();
    assert_eq!(
        meta.len(),
        (1u64 << 32) + 2 + 3,
        "pwritev2 at the joined offset"
    );
    // The translated arrays are native IoVecs naming the same buffers.
    // The translator appends them after the producer's six buffers.
    let first = at(6);
    assert_eq!(first, iovec_bytes(&[(data, 0, 3), (data, 3, 7)]));
    drop(file);
    fs::remove_file(&path).unwrap();
}

/// A compat i386 `readv(0, iov, count)` atom.
fn readv32(iov: u16, count: compat::CompatArg) -> CompatAtom {
    let iov = Buf {
        index: iov,
        offset: 0,
    };
    CompatAtom::new(nr32::READV, &[Imm(0), iov, count])
}

#[test]
fn i386_iovec_arrays_are_refused_where_the_translator_cannot_read_them() {
    let refuse = |w: &CompatWriter| compat::normalize(&w.finish()).unwrap_err();
    // The count must be an immediate.
    let mut w = CompatWriter::new();
    let x = w.zeroed(4, abi::BUF_OUT);
    let iov = compat_iovecs(&mut w, &[(x, 0, 4)]);
    w.push(CompatAtom::new(nr32::GETPID, &[]));
    w.push(readv32(iov, compat::CompatArg::Result(0)));
    assert_eq!(refuse(&w).atom, Some(1));
    // The array must fit its buffer and lie in an IN-only buffer.
    let mut w = CompatWriter::new();
    let x = w.zeroed(4, abi::BUF_OUT);
    let iov = compat_iovecs(&mut w, &[(x, 0, 4)]);
    w.push(readv32(iov, Imm(2)));
    assert!(refuse(&w).to_string().contains("does not fit"));
    let mut w = CompatWriter::new();
    let x = w.zeroed(8, abi::BUF_IN | abi::BUF_OUT);
    w.push(readv32(x, Imm(1)));
    assert!(refuse(&w).to_string().contains("IN and not OUT"));
    // An element naming a buffer the batch does not have.
    let mut w = CompatWriter::new();
    let iov = compat_iovecs(&mut w, &[(9, 0, 4)]);
    w.push(readv32(iov, Imm(1)));
    let e = refuse(&w);
    assert!(e.to_string().contains("buffer 9"), "{e}");
}
