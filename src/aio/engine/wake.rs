//! The completion counter: how threads that wait for outcomes
//! (`aio_suspend`, `LIO_WAIT`, and the engine's own `cancel` and `close`)
//! learn that one was published. One futex word for the whole process: an
//! outcome lives in its aiocb, so a waiter re-reads the aiocbs it cares
//! about after every bump, and no per-request wait object is needed.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::aio::sys::{self, Wake};
use crate::errno::Errno;

/// Bumped after every published completion; `aio_suspend` and `lio_listio`
/// sleep on it.
static DONE_SEQ: AtomicU32 = AtomicU32::new(0);
/// Threads sleeping on [`DONE_SEQ`].
static DONE_WAITERS: AtomicU32 = AtomicU32::new(0);

/// A wait long enough to mean "no limit" (see [`sys::futex_wait`]).
pub(super) const FOREVER: Duration = Duration::from_secs(3600);

/// Announce that a completion was published.
#[inline]
pub(super) fn completed() {
    DONE_SEQ.fetch_add(1, Ordering::SeqCst);
    if DONE_WAITERS.load(Ordering::SeqCst) > 0 {
        sys::futex_wake_all(&DONE_SEQ);
    }
}

/// Sleep until `done()` holds, the deadline passes or a signal handler runs.
/// Async-signal-safe: atomics and futex calls only.
pub(crate) fn wait_until(deadline: Option<Instant>, done: impl Fn() -> bool) -> Result<(), Errno> {
    loop {
        DONE_WAITERS.fetch_add(1, Ordering::SeqCst);
        let seq = DONE_SEQ.load(Ordering::SeqCst);
        if done() {
            DONE_WAITERS.fetch_sub(1, Ordering::SeqCst);
            return Ok(());
        }
        let left = match deadline {
            Some(d) => d.saturating_duration_since(Instant::now()),
            None => FOREVER,
        };
        let wake = if left.is_zero() {
            Wake::TimedOut
        } else {
            sys::futex_wait(&DONE_SEQ, seq, left)
        };
        DONE_WAITERS.fetch_sub(1, Ordering::SeqCst);
        match wake {
            Wake::Interrupted => return Err(Errno::from_raw(libc::EINTR)),
            Wake::TimedOut if deadline.is_some_and(|d| Instant::now() >= d) => {
                return if done() { Ok(()) } else { Err(Errno::EAGAIN) };
            }
            _ => {}
        }
    }
}

/// The counter now, to sleep on with [`sleep_since`] after checking what
/// the caller waits for.
#[inline]
pub(super) fn seen() -> u32 {
    DONE_SEQ.load(Ordering::SeqCst)
}

/// Sleep until a completion is published after [`seen`] returned `seen`,
/// at most `at_most`.
pub(super) fn sleep_since(seen: u32, at_most: Duration) {
    DONE_WAITERS.fetch_add(1, Ordering::SeqCst);
    sys::futex_wait(&DONE_SEQ, seen, at_most);
    DONE_WAITERS.fetch_sub(1, Ordering::SeqCst);
}
