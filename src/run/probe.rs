//! How the asynchronous executor issues one atom: the non-blocking probe run in
//! the submitting thread, and the continuation a worker runs after a probe that
//! transferred part of the data.
//!
//! A probe never has a visible effect that the real call would not have had:
//! `RWF_NOWAIT`, `RESOLVE_CACHED` and `MSG_DONTWAIT` either do what the real call
//! does (and the result is recorded as the atom's), do nothing and say `EAGAIN`
//! (the atom is handed to a worker untouched), or — reads and writes only —
//! transfer a prefix, in which case the worker transfers the rest and the atom
//! returns the sum (see [`ValidatedBatch::resume_partial`]).
#![allow(unsafe_code)]

use syslets_abi::signature::{self, ArgType, Dir, Io, Len, Nowait, Ptr, Signature};

use crate::confine::validate::ValidatedBatch;
use crate::sys::nowait;

/// What a probe of the atom at the cursor did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    /// The atom ran to its end without blocking; its result is recorded and the
    /// cursor advanced.
    Ran,
    /// This many bytes were transferred; the rest would block. The cursor still
    /// points at the atom: continue with [`ValidatedBatch::resume_partial`].
    Partial(u64),
    /// The atom would block; nothing happened.
    WouldBlock,
    /// No non-blocking form applies to this atom (or the kernel refused it);
    /// nothing happened.
    Unavailable,
}

/// `O_*` open flags that `openat2` accepts (it refuses unknown bits, which
/// `openat` silently ignores, so those are not probed).
const OPEN_FLAGS: u64 = (libc::O_ACCMODE
    | libc::O_APPEND
    | libc::O_NONBLOCK
    | libc::O_DSYNC
    | libc::O_DIRECT
    | libc::O_LARGEFILE
    | libc::O_DIRECTORY
    | libc::O_NOFOLLOW
    | libc::O_NOATIME
    | libc::O_CLOEXEC
    | libc::O_SYNC
    | libc::O_PATH
    | libc::O_NOCTTY) as u64;

/// Whether [`ValidatedBatch::probe_current`] has a non-blocking form of `nr`
/// (its row's [`Nowait`]).
pub(crate) fn has_probe(nr: u32) -> bool {
    signature::lookup(nr).is_some_and(|sig| sig.nowait != Nowait::None)
}

impl ValidatedBatch<'_> {
    /// Try the atom at the cursor without blocking (see [`Probe`]).
    pub(crate) fn probe_current(&mut self) -> Probe {
        let i = self.cursor as usize;
        let step = self.step(i);
        let (nr, sig) = (step.nr, step.sig());
        if sig.nowait == Nowait::None {
            return Probe::Unavailable;
        }
        let a = match self.prepare_current() {
            Ok(a) => a,
            Err(ret) => {
                // Not issued at all (bad RESULT or length): the same in any thread.
                self.record(i, ret);
                return Probe::Ran;
            }
        };
        // Every unsafe block below passes `a`, the prepared arguments of this
        // validated atom: buffer `a[1]` holds `a[2]` bytes of the arena that
        // `&mut self` keeps alive (or of a raw region under its borrow or
        // `unsafe` contract), exactly as for the real call in `run_one`.
        let ret = match (sig.nowait, sig.io) {
            // SAFETY: read's buffer and length, see above.
            (Nowait::Io, Io::Read) => unsafe { nowait::preadv2_nowait(a[0], a[1], a[2], -1) },
            // SAFETY: pread64's buffer and length, see above.
            (Nowait::Io, Io::Pread) if (a[3] as i64) >= 0 => unsafe {
                nowait::preadv2_nowait(a[0], a[1], a[2], a[3] as i64)
            },
            // SAFETY: write's buffer and length, see above.
            (Nowait::Io, Io::Write) => unsafe { nowait::pwritev2_nowait(a[0], a[1], a[2], -1) },
            // SAFETY: pwrite64's buffer and length, see above.
            (Nowait::Io, Io::Pwrite) if (a[3] as i64) >= 0 => unsafe {
                nowait::pwritev2_nowait(a[0], a[1], a[2], a[3] as i64)
            },
            (Nowait::Cached, _) => {
                let (flags, mode) = (a[2] & u32::MAX as u64, a[3] & u32::MAX as u64);
                // O_CREAT/O_TRUNC/O_TMPFILE always fail with RESOLVE_CACHED, and
                // openat2 refuses unknown flags and a mode without O_CREAT, which
                // openat ignores: leave those to the adaptive rule.
                if flags & !OPEN_FLAGS != 0 || mode != 0 {
                    return Probe::Unavailable;
                }
                // SAFETY: `a[1]` is the path, a NUL-terminated string of the
                // arena checked by the validator (and again by prepare_current).
                unsafe { nowait::openat2_cached(a[0], a[1], flags, 0) }
            }
            (Nowait::DontWait | Nowait::DontWaitMsg, _) => {
                let flags = msg_flags_arg(sig.nowait).expect("a MSG_DONTWAIT probe");
                // A blocking MSG_WAITALL receive waits for all of it: not probed.
                if a[flags] & libc::MSG_WAITALL as u64 != 0 {
                    return Probe::Unavailable;
                }
                // SAFETY: the prepared arguments of recvfrom/sendto/recvmsg,
                // see above (a recvmsg's msghdr `a[1]` is the live private
                // copy of the validated header, refreshed by prepare_current,
                // as the real call gets it, and what it returns is recorded,
                // header write-back and received descriptors, as the real
                // call's); MSG_DONTWAIT changes no pointer or length.
                unsafe { nowait::sock_dontwait(nr, a, flags) }
            }
            (Nowait::Vectored, _) => {
                let v = Vectored::of(sig, &a);
                // SAFETY: `a[1]` is the live copy of the validated iovec array
                // (`a[2]` elements, each naming memory the validator checked
                // for this direction), exactly as the real call gets it; only
                // RWF_NOWAIT is added to the flags.
                let r = unsafe {
                    nowait::vectored_nowait(v.write, a[0], a[1], a[2], v.offset, v.flags)
                };
                // With the caller's own RWF_NOWAIT the probe is the call.
                if v.flags & nowait::RWF_NOWAIT != 0 {
                    self.record(i, r);
                    return Probe::Ran;
                }
                r
            }
            _ => return Probe::Unavailable,
        };
        const EAGAIN: i64 = -(libc::EAGAIN as i64);
        const EOPNOTSUPP: i64 = -(libc::EOPNOTSUPP as i64);
        const EINVAL: i64 = -(libc::EINVAL as i64);
        const ENOSYS: i64 = -(libc::ENOSYS as i64);
        const E2BIG: i64 = -(libc::E2BIG as i64);
        match ret {
            EAGAIN => {
                // A caller that asked for non-blocking behaviour gets EAGAIN from
                // the real call too.
                let own = msg_flags_arg(sig.nowait)
                    .is_some_and(|f| a[f] & libc::MSG_DONTWAIT as u64 != 0);
                if own {
                    self.record(i, ret);
                    return Probe::Ran;
                }
                Probe::WouldBlock
            }
            // The non-blocking form is not supported here (file system, fd type,
            // kernel): nothing happened. A read or write of something that is not
            // a file (a terminal, a character device) may wait for ever: hand it
            // off; otherwise the real call decides (the adaptive rule).
            EOPNOTSUPP | EINVAL | ENOSYS | E2BIG => {
                let at_file_offset = match sig.nowait {
                    Nowait::Vectored => Vectored::of(sig, &a).offset == -1,
                    _ => matches!(sig.io, Io::Read | Io::Write),
                };
                if at_file_offset && !nowait::seekable(a[0]) {
                    Probe::WouldBlock
                } else {
                    Probe::Unavailable
                }
            }
            // SAFETY: `a` are the prepared arguments of the atom at the
            // cursor, whose live iovec array (if any) `&mut self` keeps.
            n if n > 0
                && (n as u64) < unsafe { transfer_len(sig, &a) }
                && short_is_partial(sig, &a) =>
            {
                Probe::Partial(n as u64)
            }
            _ => {
                self.record(i, ret);
                Probe::Ran
            }
        }
    }

    /// Finish the atom at the cursor, of which a probe already transferred
    /// `done` bytes: issue it (blocking) for the rest of the buffer (and, for
    /// `pread64`/`pwrite64`, from `offset + done`) and record `done` plus what
    /// that call transferred. When the second call fails, the atom returns
    /// `done`, like a kernel read or write that fails after a partial transfer.
    pub(crate) fn resume_partial(&mut self, done: u64) {
        let i = self.cursor as usize;
        let nr = self.step(i).nr;
        let mut a = match self.prepare_current() {
            Ok(a) => a,
            Err(_) => {
                self.record(i, done as i64);
                return;
            }
        };
        let sig = self.step(i).sig();
        if sig.nowait == Nowait::Vectored {
            // SAFETY: `a[1]` is the live iovec array of this validated atom,
            // `a[2]` elements, which `&mut self` keeps alive.
            let iov = unsafe { live_iovecs(&a) };
            let rest = skip_iovecs(iov, done);
            if Vectored::of(sig, &a).offset >= 0 {
                a[3] += done;
            }
            a[1] = rest.as_ptr() as u64;
            a[2] = rest.len() as u64;
            // SAFETY: the arguments of the validated atom with its iovec array
            // replaced by `rest`, which lives on this frame for the call and
            // names the validated elements' memory after their first `done`
            // bytes (less than their total): inside what the real call may
            // touch; see `run_one` for the rest.
            let r = unsafe { crate::sys::syscall6(nr, &a) };
            let ret = if r > 0 { done as i64 + r } else { done as i64 };
            self.record(i, ret);
            return;
        }
        debug_assert!(done < a[2]);
        a[1] += done;
        a[2] -= done;
        if self.step(i).sig().io.positional() {
            a[3] += done;
        }
        // SAFETY: the arguments are those of the validated atom with the buffer
        // narrowed to its part after the first `done` bytes (`done` is less
        // than the length the validator checked), so it stays inside the
        // memory the real call may touch; see `run_one` for the rest.
        let r = unsafe { crate::sys::syscall6(nr, &a) };
        let ret = if r > 0 { done as i64 + r } else { done as i64 };
        self.record(i, ret);
    }
}

/// The argument holding the `MSG_*` flags of a call probed with
/// `MSG_DONTWAIT` (by its row's [`Nowait`]).
fn msg_flags_arg(nowait: Nowait) -> Option<usize> {
    match nowait {
        Nowait::DontWait => Some(3),
        Nowait::DontWaitMsg => Some(2),
        _ => None,
    }
}

/// How a [`Nowait::Vectored`] call is probed.
struct Vectored {
    /// `pwritev2` (the kernel reads the elements) rather than `preadv2`.
    write: bool,
    /// The offset; -1 for the file offset (always for `readv`/`writev`).
    offset: i64,
    /// The caller's `RWF_*` flags (0 for `readv`/`writev`).
    flags: u64,
}

impl Vectored {
    /// The probe of `sig`'s atom with prepared arguments `a`.
    fn of(sig: &Signature, a: &[u64; 6]) -> Vectored {
        let write = matches!(
            sig.args[1],
            ArgType::Ptr(Ptr {
                len: Len::Iovecs { dir: Dir::In, .. },
                ..
            })
        );
        // The row test checks the shape: (fd, iov, n) or (.., offset, _, flags).
        if sig.args.len() == 6 {
            Vectored {
                write,
                offset: a[3] as i64,
                flags: a[5] & u32::MAX as u64,
            }
        } else {
            Vectored {
                write,
                offset: -1,
                flags: 0,
            }
        }
    }
}

/// The elements of the live iovec array of a prepared vectored atom.
///
/// # Safety
///
/// `a` must be the prepared arguments of a validated [`Nowait::Vectored`]
/// atom: `a[1]` points to its live iovec array of `a[2]` elements, which
/// stays alive and unchanged while the result is used.
unsafe fn live_iovecs(a: &[u64; 6]) -> &[[u64; 2]] {
    // SAFETY: the caller's contract; `[u64; 2]` is the layout of the array.
    unsafe { std::slice::from_raw_parts(a[1] as *const [u64; 2], a[2] as usize) }
}

/// `iov` without its first `done` bytes (less than its total).
fn skip_iovecs(iov: &[[u64; 2]], mut done: u64) -> Vec<[u64; 2]> {
    let mut rest = Vec::with_capacity(iov.len());
    for &[base, len] in iov {
        if done >= len {
            done -= len;
            continue;
        }
        rest.push([base + done, len - done]);
        done = 0;
    }
    rest
}

/// Bytes the atom's call transfers at most: its buffer's length, or the
/// sum of its iovec elements'.
///
/// # Safety
///
/// For a [`Nowait::Vectored`] call, as [`live_iovecs`].
unsafe fn transfer_len(sig: &Signature, a: &[u64; 6]) -> u64 {
    if sig.nowait == Nowait::Vectored {
        // SAFETY: the caller's contract.
        let iov = unsafe { live_iovecs(a) };
        iov.iter().map(|e| e[1]).sum()
    } else {
        a[2]
    }
}

/// Whether a short transfer by the probe means "the rest would block" (so
/// the real call would have gone on) rather than the real call's own result.
fn short_is_partial(sig: &Signature, a: &[u64; 6]) -> bool {
    // A receive returns what is there.
    if sig.nowait == Nowait::DontWaitMsg {
        return false;
    }
    if sig.nowait == Nowait::Vectored {
        let v = Vectored::of(sig, a);
        // Like pread64/pwrite64 at an offset; like read/write at the file offset.
        return v.offset >= 0
            || if v.write {
                nowait::seekable(a[0]) || !nowait::nonblocking(a[0])
            } else {
                nowait::seekable(a[0])
            };
    }
    match (sig.io, sig.nowait) {
        // Positional transfers are on seekable files, where the real call
        // transfers everything up to end of file.
        (Io::Pread | Io::Pwrite, _) => true,
        // A read of a pipe, socket or terminal returns what is there; of a
        // file, all of it up to end of file.
        (Io::Read, _) => nowait::seekable(a[0]),
        // A blocking write writes all of it, unless the fd is non-blocking
        // and not a file.
        (Io::Write, _) => nowait::seekable(a[0]) || !nowait::nonblocking(a[0]),
        // A blocking stream send sends all of it unless the socket is
        // non-blocking or the caller passed MSG_DONTWAIT; a receive returns
        // what is there.
        (Io::None, Nowait::DontWait) => {
            let sends = matches!(sig.args[1], ArgType::Ptr(Ptr { dir: Dir::In, .. }));
            sends && a[3] & libc::MSG_DONTWAIT as u64 == 0 && !nowait::nonblocking(a[0])
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::fd::AsRawFd;

    use super::Probe;
    use crate::builder::opcode::{Openat, Pread64};
    use crate::{ByteLen, Chain, Policy};

    const LEN: usize = 256 << 10;

    fn pattern() -> Vec<u8> {
        (0..LEN).map(|i| (i * 7 + i / 4096) as u8).collect()
    }

    fn temp_file(tag: &str) -> (std::fs::File, std::path::PathBuf) {
        let path = std::env::temp_dir().join(format!(
            "syslets-probe-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(&pattern()).unwrap();
        f.sync_all().unwrap();
        (std::fs::File::open(&path).unwrap(), path)
    }

    fn drop_cache(f: &std::fs::File, offset: i64, len: i64) {
        // SAFETY: posix_fadvise takes no pointer; the fd is open.
        let rc =
            unsafe { libc::posix_fadvise(f.as_raw_fd(), offset, len, libc::POSIX_FADV_DONTNEED) };
        assert_eq!(rc, 0);
    }

    fn pread_batch(
        fd: i32,
        len: usize,
        offset: i64,
    ) -> (crate::ValidatedBatch<'static>, crate::BufRef) {
        let mut chain = Chain::new();
        let buf = chain.output_bytes(len);
        chain.push(Pread64::new(fd, buf, offset).len(ByteLen::Whole));
        (chain.prepare(&Policy::default()).unwrap(), buf)
    }

    #[test]
    fn resume_partial_transfers_the_rest_at_the_right_place() {
        let (f, path) = temp_file("resume");
        let (mut b, buf) = pread_batch(f.as_raw_fd(), 64 << 10, 4096);
        b.reset();
        b.resume_partial(1000);
        assert!(b.finished());
        assert_eq!(b.completion().results()[0], 64 << 10);
        let got = b.bytes(buf);
        assert!(
            got[..1000].iter().all(|&x| x == 0),
            "the prefix is not re-read"
        );
        assert_eq!(&got[1000..], &pattern()[4096 + 1000..4096 + (64 << 10)]);
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn rwf_nowait_probe_reads_cached_data_and_leaves_uncached_alone() {
        let (f, path) = temp_file("nowait");
        // Not cached: EAGAIN, nothing read, the cursor stays on the atom.
        drop_cache(&f, 0, 0);
        let (mut b, buf) = pread_batch(f.as_raw_fd(), LEN, 0);
        b.reset();
        assert_eq!(b.probe_current(), Probe::WouldBlock);
        assert!(!b.finished());
        assert_eq!(b.completion().atoms_run(), 0);
        assert!(b.bytes(buf).iter().all(|&x| x == 0));

        // Cached: the probe is the read.
        std::fs::read(&path).unwrap();
        b.reset();
        assert_eq!(b.probe_current(), Probe::Ran);
        assert_eq!(b.completion().results()[0], LEN as i64);
        assert_eq!(b.bytes(buf), &pattern()[..]);

        // First half cached, second not: a prefix, then the rest on resume.
        drop_cache(&f, (LEN / 2) as i64, (LEN / 2) as i64);
        let (mut b, buf) = pread_batch(f.as_raw_fd(), LEN, 0);
        b.reset();
        match b.probe_current() {
            Probe::Partial(n) => {
                assert!(n > 0 && n < LEN as u64);
                b.resume_partial(n);
            }
            // Readahead may have brought the rest in meanwhile.
            Probe::Ran => {}
            other => panic!("unexpected probe outcome {other:?}"),
        }
        assert_eq!(b.completion().results()[0], LEN as i64);
        assert_eq!(b.bytes(buf), &pattern()[..]);
        std::fs::remove_file(path).unwrap();
    }

    /// A readv (or, with `offset`, a preadv2 with `flags`) of `fd` into two
    /// buffers that split `LEN` unevenly.
    fn readv_batch(
        fd: i32,
        offset: Option<i64>,
        flags: u32,
    ) -> (crate::ValidatedBatch<'static>, [crate::BufRef; 2]) {
        use crate::builder::opcode::{Preadv2, Readv};
        let mut chain = Chain::new();
        let bufs = [chain.output_bytes(1000), chain.output_bytes(LEN - 1000)];
        let iov = chain.iovecs(&bufs);
        match offset {
            None => chain.push(Readv::new(fd, iov)),
            Some(at) => chain.push(Preadv2::new(fd, iov, at).flags(flags)),
        };
        (chain.prepare(&Policy::default()).unwrap(), bufs)
    }

    fn joined(b: &crate::ValidatedBatch<'_>, bufs: [crate::BufRef; 2]) -> Vec<u8> {
        [b.bytes(bufs[0]), b.bytes(bufs[1])].concat()
    }

    #[test]
    fn vectored_probes_read_cached_data_and_leave_uncached_alone() {
        use super::skip_iovecs;
        assert_eq!(
            skip_iovecs(&[[100, 10], [200, 5], [300, 7]], 12),
            [[202, 3], [300, 7]]
        );
        assert_eq!(skip_iovecs(&[[100, 10], [200, 5]], 10), [[200, 5]]);
        let (f, path) = temp_file("vectored");
        let fd = f.as_raw_fd();
        for offset in [None, Some(0)] {
            // Not cached: EAGAIN, nothing read, the file offset unmoved.
            drop_cache(&f, 0, 0);
            let (mut b, bufs) = readv_batch(fd, offset, 0);
            b.reset();
            assert_eq!(b.probe_current(), Probe::WouldBlock, "{offset:?}");
            assert_eq!(b.completion().atoms_run(), 0);
            assert!(joined(&b, bufs).iter().all(|&x| x == 0));
            // SAFETY: lseek takes no pointer.
            assert_eq!(unsafe { libc::lseek(fd, 0, libc::SEEK_CUR) }, 0);

            // Cached: the probe is the read, across both elements.
            std::fs::read(&path).unwrap();
            b.reset();
            assert_eq!(b.probe_current(), Probe::Ran, "{offset:?}");
            assert_eq!(b.completion().results()[0], LEN as i64);
            assert_eq!(joined(&b, bufs), pattern());

            // The second half not cached: a prefix, then the rest on resume,
            // from where the prefix ended (in the second element).
            // SAFETY: lseek takes no pointer.
            assert_eq!(unsafe { libc::lseek(fd, 0, libc::SEEK_SET) }, 0);
            drop_cache(&f, (LEN / 2) as i64, (LEN / 2) as i64);
            let (mut b, bufs) = readv_batch(fd, offset, 0);
            b.reset();
            match b.probe_current() {
                Probe::Partial(n) => {
                    assert!(n > 1000 && n < LEN as u64, "{n}");
                    b.resume_partial(n);
                }
                Probe::Ran => {} // readahead brought the rest in meanwhile
                other => panic!("{offset:?}: unexpected probe outcome {other:?}"),
            }
            assert_eq!(b.completion().results()[0], LEN as i64, "{offset:?}");
            assert_eq!(joined(&b, bufs), pattern(), "{offset:?}");
            // readv moved the file offset by what it read; preadv2 did not.
            // SAFETY: lseek takes no pointer.
            let pos = unsafe { libc::lseek(fd, 0, libc::SEEK_CUR) };
            assert_eq!(
                pos,
                if offset.is_none() { LEN as i64 } else { 0 } as libc::off_t
            );
            // SAFETY: as above.
            assert_eq!(unsafe { libc::lseek(fd, 0, libc::SEEK_SET) }, 0);
        }
        // The caller's own RWF_NOWAIT: the probe is the call, EAGAIN included.
        drop_cache(&f, 0, 0);
        let (mut b, _) = readv_batch(fd, Some(0), super::nowait::RWF_NOWAIT as u32);
        b.reset();
        assert_eq!(b.probe_current(), Probe::Ran);
        assert_eq!(b.completion().results()[0], -(libc::EAGAIN as i64));
        std::fs::remove_file(path).unwrap();

        // A writev to a pipe with room: the probe writes it all.
        use crate::builder::opcode::Writev;
        let mut fds = [0; 2];
        // SAFETY: pipe2 writes two descriptors into the array.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        let mut chain = Chain::new();
        let (x, y) = (chain.input(b"ab"), chain.input(b"cde"));
        let iov = chain.iovecs(&[x, y]);
        chain.push(Writev::new(fds[1], iov));
        let mut b = chain.prepare(&Policy::default()).unwrap();
        b.reset();
        assert_eq!(b.probe_current(), Probe::Ran);
        assert_eq!(b.completion().results()[0], 5);
        let mut got = [0u8; 8];
        // SAFETY: reads at most 8 bytes into `got`; then closes our two ends.
        unsafe {
            assert_eq!(libc::read(fds[0], got.as_mut_ptr().cast(), 8), 5);
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
        assert_eq!(&got[..5], b"abcde");
    }

    #[test]
    fn resolve_cached_probe_opens_like_openat() {
        let mut chain = Chain::new();
        let p = chain.path("/");
        chain.push(
            Openat::new(libc::AT_FDCWD, p)
                .flags((libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) as u32),
        );
        let mut b = chain.prepare(&Policy::default()).unwrap();
        b.reset();
        assert_eq!(b.probe_current(), Probe::Ran, "/ is always in the dcache");
        assert!(b.completion().results()[0] >= 0);
        assert_eq!(b.take_fds().len(), 1);

        let mut chain = Chain::new();
        let p = chain.path("/definitely/not/here");
        chain.push(Openat::new(libc::AT_FDCWD, p));
        let mut b = chain.prepare(&Policy::default()).unwrap();
        b.reset();
        // A negative dentry may or may not be cached; either way no fd.
        match b.probe_current() {
            Probe::Ran => assert_eq!(b.completion().results()[0], -(libc::ENOENT as i64)),
            Probe::WouldBlock => assert_eq!(b.completion().atoms_run(), 0),
            other => panic!("unexpected probe outcome {other:?}"),
        }

        // O_CREAT is never probed.
        let never = std::env::temp_dir().join(format!(
            "syslets-never-created-by-a-probe-{}",
            std::process::id()
        ));
        let mut chain = Chain::new();
        let p = chain.path(never.to_str().expect("a UTF-8 temp dir"));
        chain.push(
            Openat::new(libc::AT_FDCWD, p)
                .flags((libc::O_CREAT | libc::O_WRONLY) as u32)
                .mode(0o600),
        );
        let mut b = chain.prepare(&Policy::default()).unwrap();
        b.reset();
        assert_eq!(b.probe_current(), Probe::Unavailable);
        assert!(!never.exists());
    }

    /// A raw-region one-atom I/O batch of `nr` (pread64, pwrite64, read,
    /// write) on `buf`, made the ordinary way.
    fn raw_io_batch(
        nr: u32,
        fd: i32,
        buf: &mut [u8],
        offset: i64,
        caller_data: u64,
        flags: u16,
        policy: &Policy,
    ) -> crate::ValidatedBatch<'static> {
        use crate::builder::opcode::{Pwrite64, Read, Write};
        use syslets_abi::nr;
        let mut chain = Chain::with_capacity(1, 0, 0);
        // SAFETY: every batch made here is run (if at all) while `buf` lives
        // and nothing else touches it, and dropped before the test ends.
        let mem = unsafe { chain.raw(buf.as_mut_ptr(), buf.len()) };
        match nr {
            nr::PREAD64 => chain.push(Pread64::new(fd, mem, offset)),
            nr::PWRITE64 => chain.push(Pwrite64::new(fd, mem, offset)),
            nr::READ => chain.push(Read::new(fd, mem)),
            _ => chain.push(Write::new(fd, mem)),
        };
        chain.set_caller_data(caller_data);
        chain.set_flags(flags);
        chain.prepare(policy).unwrap()
    }

    #[test]
    fn reaim_io_makes_the_batch_validation_makes() {
        use syslets_abi::{self as abi, nr};
        use zerocopy::IntoBytes;
        let (f, path) = temp_file("reaim");
        let fd = f.as_raw_fd();
        let policy = Policy::default();
        let mut a = vec![0u8; 4096];
        let mut b = vec![0u8; 100];
        for call in [nr::PREAD64, nr::PWRITE64, nr::READ, nr::WRITE] {
            let mut spare = raw_io_batch(call, -1, &mut a, 0, 1, 0, &policy);
            assert_eq!(spare.run().results()[0], -(libc::EBADF as i64));
            let fresh = raw_io_batch(call, fd, &mut b, 12345, 7, abi::BATCH_ASYNC, &policy);
            // SAFETY: `b` outlives `spare`, which runs only below.
            let ok = unsafe {
                spare.reaim_io(
                    &policy,
                    fd,
                    b.as_mut_ptr(),
                    b.len(),
                    12345,
                    7,
                    abi::BATCH_ASYNC,
                )
            };
            assert!(ok);
            assert_eq!(spare.step(0).as_bytes(), fresh.step(0).as_bytes());
            assert_eq!(spare.header.as_bytes(), fresh.header.as_bytes());
            assert_eq!(spare.checks, fresh.checks);
            assert_eq!(spare.fd_atoms, fresh.fd_atoms);
        }
        // It reads where it was re-aimed (into `b`, at the new offset).
        let mut spare = raw_io_batch(nr::PREAD64, -1, &mut a, 0, 1, 0, &policy);
        // SAFETY: `b` outlives `spare`.
        assert!(unsafe { spare.reaim_io(&policy, fd, b.as_mut_ptr(), b.len(), 5000, 9, 0) });
        assert_eq!(spare.run().results()[0], 100);
        assert_eq!(spare.completion().caller_data(), 9);
        assert_eq!(b[..], pattern()[5000..5100]);

        // Refused, and left as it was: other calls, other policies, bad flags.
        let mut getpid = Chain::new();
        getpid.push(crate::builder::opcode::Getpid::new());
        let mut getpid = getpid.prepare(&policy).unwrap();
        // SAFETY: refused, so nothing is aimed at `b`.
        assert!(!unsafe { getpid.reaim_io(&policy, fd, b.as_mut_ptr(), 1, 0, 0, 0) });
        let before = *spare.step(0);
        let no_pread = Policy::default().deny(nr::PREAD64);
        let dir = std::fs::File::open(std::env::temp_dir()).unwrap();
        let confined = Policy::default().confine_to(std::os::fd::AsFd::as_fd(&dir));
        // SAFETY: refused (first two), or aimed at `b` which outlives `spare`.
        unsafe {
            assert!(!spare.reaim_io(&no_pread, fd, b.as_mut_ptr(), 1, 0, 0, 0));
            let both = abi::BATCH_ASYNC | abi::BATCH_SYNC;
            assert!(!spare.reaim_io(&policy, fd, b.as_mut_ptr(), 1, 0, 0, both));
            assert_eq!(spare.step(0).as_bytes(), before.as_bytes());
            // Confinement rules paths only: a pread64 stays allowed as it is.
            assert!(spare.reaim_io(&confined, fd, b.as_mut_ptr(), 1, 0, 0, 0));
        }
        std::fs::remove_file(path).unwrap();
    }
}
