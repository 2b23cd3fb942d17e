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

use syslets_abi::nr;

use crate::sys::nowait;
use crate::validate::ValidatedBatch;

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

/// Whether [`ValidatedBatch::probe_current`] has a non-blocking form of `nr`.
pub(crate) const fn has_probe(nr: u32) -> bool {
    matches!(
        nr,
        nr::READ | nr::PREAD64 | nr::WRITE | nr::PWRITE64 | nr::OPENAT | nr::RECVFROM | nr::SENDTO
    )
}

impl ValidatedBatch<'_> {
    /// Try the atom at the cursor without blocking (see [`Probe`]).
    pub(crate) fn probe_current(&mut self) -> Probe {
        let i = self.cursor as usize;
        let nr = self.steps[i].nr;
        if !has_probe(nr) {
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
        let ret = match nr {
            // SAFETY: read's buffer and length, see above.
            nr::READ => unsafe { nowait::preadv2_nowait(a[0], a[1], a[2], -1) },
            // SAFETY: pread64's buffer and length, see above.
            nr::PREAD64 if (a[3] as i64) >= 0 => unsafe {
                nowait::preadv2_nowait(a[0], a[1], a[2], a[3] as i64)
            },
            // SAFETY: write's buffer and length, see above.
            nr::WRITE => unsafe { nowait::pwritev2_nowait(a[0], a[1], a[2], -1) },
            // SAFETY: pwrite64's buffer and length, see above.
            nr::PWRITE64 if (a[3] as i64) >= 0 => unsafe {
                nowait::pwritev2_nowait(a[0], a[1], a[2], a[3] as i64)
            },
            nr::OPENAT => {
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
            // A blocking MSG_WAITALL receive waits for all of it: not probed.
            nr::RECVFROM if a[3] & libc::MSG_WAITALL as u64 != 0 => return Probe::Unavailable,
            // SAFETY: the prepared arguments of recvfrom/sendto, see above;
            // MSG_DONTWAIT changes no pointer or length.
            nr::RECVFROM | nr::SENDTO => unsafe { nowait::sock_dontwait(nr, a) },
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
                let own = matches!(nr, nr::RECVFROM | nr::SENDTO)
                    && a[3] & libc::MSG_DONTWAIT as u64 != 0;
                if own {
                    self.record(i, ret);
                    return Probe::Ran;
                }
                Probe::WouldBlock
            }
            // The non-blocking form is not supported here (file system, fd type,
            // kernel): nothing happened, the real call decides.
            EOPNOTSUPP | EINVAL | ENOSYS | E2BIG => Probe::Unavailable,
            n if n > 0 && (n as u64) < a[2] && self.short_is_partial(nr, &a) => {
                Probe::Partial(n as u64)
            }
            _ => {
                self.record(i, ret);
                Probe::Ran
            }
        }
    }

    /// Whether a short transfer by the probe means "the rest would block" (so
    /// the real call would have gone on) rather than the real call's own result.
    fn short_is_partial(&self, nr: u32, a: &[u64; 6]) -> bool {
        match nr {
            // Positional transfers are on seekable files, where the real call
            // transfers everything up to end of file.
            nr::PREAD64 | nr::PWRITE64 => true,
            // A read of a pipe, socket or terminal returns what is there; of a
            // file, all of it up to end of file.
            nr::READ => nowait::seekable(a[0]),
            // A blocking write writes all of it, unless the fd is non-blocking
            // and not a file.
            nr::WRITE => nowait::seekable(a[0]) || !nowait::nonblocking(a[0]),
            // A blocking stream send sends all of it unless the socket is
            // non-blocking or the caller passed MSG_DONTWAIT.
            nr::SENDTO => a[3] & libc::MSG_DONTWAIT as u64 == 0 && !nowait::nonblocking(a[0]),
            _ => false,
        }
    }

    /// Finish the atom at the cursor, of which a probe already transferred
    /// `done` bytes: issue it (blocking) for the rest of the buffer (and, for
    /// `pread64`/`pwrite64`, from `offset + done`) and record `done` plus what
    /// that call transferred. When the second call fails, the atom returns
    /// `done`, like a kernel read or write that fails after a partial transfer.
    pub(crate) fn resume_partial(&mut self, done: u64) {
        let i = self.cursor as usize;
        let nr = self.steps[i].nr;
        let mut a = match self.prepare_current() {
            Ok(a) => a,
            Err(_) => {
                self.record(i, done as i64);
                return;
            }
        };
        debug_assert!(done < a[2]);
        a[1] += done;
        a[2] -= done;
        if matches!(nr, nr::PREAD64 | nr::PWRITE64) {
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
