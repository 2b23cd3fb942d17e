//! What the scheduler did to a thread: `getrusage(RUSAGE_THREAD)` (how often
//! the calling thread gave the CPU away voluntarily — slept — or
//! involuntarily — was preempted), and, from `/proc/self/task/<tid>/`, a
//! thread's run state (`stat`) and the time it waited for a CPU (`schedstat`). The executor uses them to tell a call that
//! waited for I/O from one that only waited for a CPU, and a worker that runs
//! on a CPU of its own from one that competes for it.
#![allow(unsafe_code)]

use std::cell::Cell;

/// The calling thread's scheduler accounting so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Usage {
    /// Voluntary context switches: the thread slept (I/O, a futex, a lock).
    pub(crate) voluntary: u64,
    /// Involuntary context switches: the thread was preempted while runnable.
    pub(crate) involuntary: u64,
}

/// The calling thread's [`Usage`], or `None` when the kernel refuses the call.
/// (One system call, about 0.5 µs on the 2-vCPU VM the project measures on.)
pub(crate) fn usage() -> Option<Usage> {
    if crate::fault::active(crate::fault::Fault::Rusage) {
        return None;
    }
    // SAFETY: an all-zero `rusage` is a valid value of this plain C struct.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_THREAD fills the `rusage` behind the pointer, which points
    // to a properly sized and aligned local that outlives the call; nothing
    // else is read or written.
    let r = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    (r == 0).then_some(Usage {
        voluntary: ru.ru_nvcsw as u64,
        involuntary: ru.ru_nivcsw as u64,
    })
}

thread_local! {
    /// (voluntary, involuntary) switches at this thread's last look (`None`:
    /// never looked).
    static SEEN: Cell<Option<(u64, u64)>> = const { Cell::new(None) };
}

/// Whether the calling thread slept, and was not preempted, since its last
/// call of [`slept`] or [`mark`]: the test the estimator applies to a slow
/// call before it counts it as a miss. A call that was preempted is never a
/// miss, even if it also slept (it may have waited for a CPU for most of its
/// time; a worker would not have helped). Answers yes when it cannot tell
/// (the first look, or the kernel refused): a slow call then counts as a miss.
pub(crate) fn slept() -> bool {
    match usage() {
        Some(u) => {
            let now = (u.voluntary, u.involuntary);
            slept_between(SEEN.with(|s| s.replace(Some(now))), now)
        }
        None => true,
    }
}

/// The rule of [`slept`] on two looks at (voluntary, involuntary) switches:
/// a sleep is a voluntary switch with no involuntary one in between; an
/// unknown start counts as a sleep.
fn slept_between(seen: Option<(u64, u64)>, now: (u64, u64)) -> bool {
    match seen {
        Some((voluntary, involuntary)) => now.0 != voluntary && now.1 == involuntary,
        None => true,
    }
}

/// Start counting from now (after a sleep that was not part of a call: an
/// idle worker's wait, the submitter's `wait`).
pub(crate) fn mark() {
    if let Some(u) = usage() {
        SEEN.with(|s| s.set(Some((u.voluntary, u.involuntary))));
    }
}

/// The calling thread's id (for [`sleeping`] from another thread).
pub(crate) fn gettid() -> u32 {
    // SAFETY: gettid takes no argument and cannot fail.
    unsafe { libc::gettid() as u32 }
}

/// Whether thread `tid` of this process is asleep in the kernel now (state
/// `S` or `D` in `/proc/self/task/<tid>/stat`), as opposed to running or
/// waiting for a CPU (`R`). `None` when it cannot be read (the thread is
/// gone, no `/proc`). About 4–10 µs: for rare checks only.
pub(crate) fn sleeping(tid: u32) -> Option<bool> {
    let stat = std::fs::read(format!("/proc/self/task/{tid}/stat")).ok()?;
    // "tid (comm) S …": the comm may hold spaces and parentheses, the state
    // follows the last ')'.
    let close = stat.iter().rposition(|&b| b == b')')?;
    let state = *stat.get(close + 2)?;
    Some(matches!(state, b'S' | b'D'))
}

/// A thread's `/proc/self/task/<tid>/schedstat`, kept open: its second
/// field is the time the thread spent runnable but waiting for a CPU
/// (`run_delay`, nanoseconds), which a thread that has a CPU of its own does
/// not accumulate.
#[derive(Debug)]
pub(crate) struct SchedStat {
    file: std::fs::File,
}

impl SchedStat {
    /// Open thread `tid`'s (`None`: no such thread, or a kernel without
    /// `CONFIG_SCHED_INFO`).
    pub(crate) fn open(tid: u32) -> Option<SchedStat> {
        let file = std::fs::File::open(format!("/proc/self/task/{tid}/schedstat")).ok()?;
        Some(SchedStat { file })
    }

    /// Nanoseconds the thread has waited for a CPU so far (about 1 µs).
    pub(crate) fn run_delay(&self) -> Option<u64> {
        use std::os::unix::fs::FileExt;
        let mut buf = [0u8; 96];
        let n = self.file.read_at(&mut buf, 0).ok()?;
        let text = std::str::from_utf8(&buf[..n]).ok()?;
        text.split_ascii_whitespace().nth(1)?.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn spin(d: Duration) {
        let end = Instant::now() + d;
        let mut x = 0u64;
        while Instant::now() < end {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    }

    /// A function that pins the thread calling it to the CPU the caller of
    /// this one runs on now (so that two threads share one CPU).
    fn pin_to_this_cpu() -> impl Fn() + Copy + Send {
        // SAFETY: sched_getcpu takes no argument.
        let cpu = unsafe { libc::sched_getcpu() };
        assert!(cpu >= 0, "sched_getcpu");
        // SAFETY: cpu_set_t is a plain bit set; zero is the empty set.
        let mut one: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: CPU_SET writes bit `cpu` (< CPU_SETSIZE) of the local set.
        unsafe { libc::CPU_SET(cpu as usize, &mut one) };
        move || {
            // SAFETY: the set is a valid local of the size passed; 0 is the
            // calling thread.
            let r = unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &one) };
            assert_eq!(r, 0, "sched_setaffinity");
        }
    }

    #[test]
    fn only_a_voluntary_switch_without_preemption_is_a_sleep() {
        assert!(slept_between(None, (3, 4)), "no earlier look: counts");
        assert!(!slept_between(Some((3, 4)), (3, 4)), "nothing happened");
        assert!(
            slept_between(Some((3, 4)), (5, 4)),
            "slept, never preempted"
        );
        assert!(!slept_between(Some((3, 4)), (3, 9)), "only preempted");
        assert!(!slept_between(Some((3, 4)), (5, 5)), "slept and preempted");
    }

    #[test]
    fn sleeping_counts_and_spinning_does_not() {
        mark();
        // Spinning may be preempted (an involuntary switch), never a sleep.
        spin(Duration::from_millis(5));
        assert!(!slept(), "a busy loop is not a sleep");
        std::thread::sleep(Duration::from_millis(2));
        // (Unless the sleeper was also preempted on the way, which a busy
        // machine may do; then it is not counted, and a second try is clean.)
        let counted = slept() || {
            std::thread::sleep(Duration::from_millis(2));
            slept()
        };
        assert!(counted, "a sleep is a voluntary switch");
        assert!(!slept(), "counted from the last look");
    }

    /// Pin this thread and a spinning competitor to one CPU: this thread is
    /// preempted for certain, and a sleep in the same window does not count.
    #[test]
    fn a_preempted_thread_did_not_just_sleep() {
        let pin = pin_to_this_cpu();
        let rival = std::thread::spawn(move || {
            pin();
            spin(Duration::from_millis(300));
        });
        let me = std::thread::spawn(move || {
            pin();
            let before = usage().unwrap();
            mark();
            std::thread::sleep(Duration::from_millis(1));
            spin(Duration::from_millis(150));
            let after = usage().unwrap();
            assert!(after.involuntary > before.involuntary, "not preempted");
            assert!(!slept(), "a preempted window is not a sleep");
        });
        me.join().unwrap();
        rival.join().unwrap();
    }

    #[test]
    fn a_sleeping_thread_is_seen_asleep() {
        let (tx, rx) = std::sync::mpsc::channel();
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            tx.send(gettid()).unwrap();
            wait.recv().unwrap();
        });
        let tid = rx.recv().unwrap();
        let asleep = (0..200).any(|_| {
            std::thread::sleep(Duration::from_millis(1));
            sleeping(tid) == Some(true)
        });
        assert!(asleep, "a thread blocked in recv is asleep");
        assert_eq!(sleeping(gettid()), Some(false), "the caller runs");
        go.send(()).unwrap();
        t.join().unwrap();
        // join returns when the thread clears its tid, a little before the
        // kernel removes its /proc entry: give it up to a second.
        let gone = (0..1000).any(|_| {
            std::thread::sleep(Duration::from_millis(1));
            sleeping(tid).is_none()
        });
        assert!(gone, "a thread that is gone");
    }

    /// A thread that shares its CPU with a spinning rival waits for it; the
    /// run delay says so (and stays put while nothing competes).
    #[test]
    fn run_delay_grows_only_under_competition() {
        let me = SchedStat::open(gettid()).expect("schedstat (CONFIG_SCHED_INFO)");
        let quiet = me.run_delay().unwrap();
        // A sleep counted as run delay would add all of its 200 ms; the wait
        // for a CPU after the wake-up (tens of ms on a loaded machine) may
        // add some.
        std::thread::sleep(Duration::from_millis(200));
        let after_sleep = me.run_delay().unwrap();
        assert!(
            after_sleep - quiet < 150_000_000,
            "a sleep is no run delay: {} ns",
            after_sleep - quiet
        );
        let t = std::thread::spawn(|| {
            let pin = pin_to_this_cpu();
            let rival = std::thread::spawn(move || {
                pin();
                spin(Duration::from_millis(200));
            });
            pin();
            let stat = SchedStat::open(gettid()).unwrap();
            let before = stat.run_delay().unwrap();
            spin(Duration::from_millis(100));
            let waited = stat.run_delay().unwrap() - before;
            rival.join().unwrap();
            waited
        });
        let waited = t.join().unwrap();
        assert!(
            waited > 10_000_000,
            "two spinners on one CPU: only {waited} ns of run delay"
        );
    }
}
