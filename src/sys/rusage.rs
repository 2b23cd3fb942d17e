//! `getrusage(RUSAGE_THREAD)`: how often the calling thread gave the CPU away
//! voluntarily (slept), to tell a slow call that waited for I/O from one that
//! was only preempted.
#![allow(unsafe_code)]

use std::cell::Cell;

/// Voluntary context switches of the calling thread so far, or `None` when
/// the kernel refuses the call.
fn voluntary_switches() -> Option<u64> {
    if crate::fault::active(crate::fault::Fault::Rusage) {
        return None;
    }
    // SAFETY: an all-zero `rusage` is a valid value of this plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_THREAD fills the `rusage` behind the pointer, which points
    // to a properly sized and aligned local that outlives the call; nothing
    // else is read or written.
    let r = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    (r == 0).then_some(ru.ru_nvcsw as u64)
}

thread_local! {
    /// The count at this thread's last look (0: never looked).
    static SEEN: Cell<u64> = const { Cell::new(0) };
}

/// Whether the calling thread slept since its last call of [`slept`] or
/// [`mark`]. Answers yes when it cannot tell (the first call, or the kernel
/// refused): a slow call then counts as a miss, as it did without this check.
pub(crate) fn slept() -> bool {
    match voluntary_switches() {
        Some(n) => SEEN.with(|s| s.replace(n) != n),
        None => true,
    }
}

/// Start counting from now (after a sleep that was not part of a call: an
/// idle worker's wait, the submitter's `wait`).
pub(crate) fn mark() {
    if let Some(n) = voluntary_switches() {
        SEEN.with(|s| s.set(n));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn sleeping_counts_and_spinning_does_not() {
        mark();
        // Spinning may be preempted (an involuntary switch), never a sleep.
        let end = Instant::now() + Duration::from_millis(5);
        let mut x = 0u64;
        while Instant::now() < end {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(!slept(), "a busy loop is not a sleep");
        std::thread::sleep(Duration::from_millis(2));
        assert!(slept(), "a sleep is a voluntary switch");
        assert!(!slept(), "counted from the last look");
    }
}
