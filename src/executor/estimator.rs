//! The handoff estimator: per-syscall-number miss rates that decide whether an
//! atom runs inline or goes to a worker (rules 3 and 4 of the
//! [executor docs](crate::executor)).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use syslets_abi as abi;
use syslets_abi::signature::Blocking;

use crate::confine::validate::ValidatedBatch;
use crate::run::probe::has_probe;
use crate::sys::rusage;

/// Per-syscall-number miss rates (rule 4 of the [executor docs](crate::executor)).
#[derive(Debug)]
pub(crate) struct Estimator {
    /// Decayed fraction of recent calls slower than the threshold, by syscall
    /// number, in units of 2^-16.
    miss_rate: [AtomicU32; 512],
    /// Counts hand-off decisions, for the periodic inline re-probe.
    handoffs: [AtomicU32; 512],
    /// Decayed mean cost of a call, by syscall number, in nanoseconds (for
    /// the spread rule: is a chain worth a hand-off).
    cost_ns: [AtomicU32; 512],
    threshold_ns: u128,
    reprobe_every: u32,
}

/// Weight of one sample: `rate += (sample - rate) / 64`.
const MISS_DECAY_SHIFT: u32 = 6;
/// Hand off while more than 1/64 of recent calls missed (one miss alone,
/// from a rate of 0, reaches exactly this and does not flip the class).
const MISS_RATE_MAX: u32 = 1 << (16 - 6);
/// Weight of one sample of a call's mean cost: `cost += (took - cost) / 16`
/// (a class's cost follows the cache within a few dozen calls).
const COST_DECAY_SHIFT: u32 = 4;
/// A chain is spread only if it is expected to take this long: a hand-off to
/// a busy worker costs 2–5 µs (queue, ring, reap, the chain's cache lines
/// moving to the other CPU) and one that wakes an idle worker 20–40 µs on
/// the project's VM, so a chain of at least 50 µs gains at least half of its
/// time even then.
const SPREAD_MIN_NS: u64 = 50_000;
/// What an atom that is not timed (never blocks, or is probed) is assumed to
/// cost for the spread rule.
const UNTIMED_COST_NS: u64 = 500;

impl Estimator {
    pub(crate) fn new(threshold: Duration, reprobe_every: u32) -> Estimator {
        Estimator {
            miss_rate: [const { AtomicU32::new(0) }; 512],
            handoffs: [const { AtomicU32::new(0) }; 512],
            cost_ns: [const { AtomicU32::new(0) }; 512],
            threshold_ns: threshold.as_nanos(),
            reprobe_every,
        }
    }

    /// Whether calls of `nr` currently miss (are expected to block).
    pub(crate) fn missing(&self, nr: u32) -> bool {
        self.miss_rate[nr as usize & 511].load(Ordering::Relaxed) > MISS_RATE_MAX
    }

    /// Whether an atom of `nr` should run inline now.
    pub(crate) fn inline_ok(&self, nr: u32) -> bool {
        let i = nr as usize & 511;
        if self.miss_rate[i].load(Ordering::Relaxed) <= MISS_RATE_MAX {
            return true;
        }
        let n = self.handoffs[i].fetch_add(1, Ordering::Relaxed);
        self.reprobe_every != 0 && n % self.reprobe_every == self.reprobe_every - 1
    }

    /// Feed one measured latency of `nr`, which returned `ret`.
    pub(crate) fn record(&self, nr: u32, took: Duration, ret: i64) {
        let i = nr as usize & 511;
        let mut allowed = self.threshold_ns;
        if abi::signature::lookup(nr).is_some_and(|s| s.cost == abi::signature::Cost::PerKib) {
            // Long even when cached: the first read of an ext4 htree directory
            // sets up its hash walk (30-50 µs here), and each KiB of entries
            // costs ~10 µs. Allow three thresholds plus one per KiB returned; a
            // read that waits for the disk (≥ 150 µs per I/O) still misses.
            allowed = self.threshold_ns * (3 + ret.max(0) as u128 / 1024);
        }
        // A slow call is a miss only if the thread slept in it: on a busy
        // machine a preempted call is slow too, but a worker would not help.
        let sample: i64 = if took.as_nanos() > allowed && rusage::slept() {
            1 << 16
        } else {
            0
        };
        let old = self.miss_rate[i].load(Ordering::Relaxed) as i64;
        // Racing updates may lose a sample; the rate stays a rate.
        let new = old + ((sample - old) >> MISS_DECAY_SHIFT);
        self.miss_rate[i].store(new as u32, Ordering::Relaxed);
        let took = took.as_nanos().min(u32::MAX as u128) as i64;
        let old = self.cost_ns[i].load(Ordering::Relaxed) as i64;
        let new = old + ((took - old) >> COST_DECAY_SHIFT);
        self.cost_ns[i].store(new as u32, Ordering::Relaxed);
    }

    /// Whether the atoms of `batch` from its cursor on are expected to run
    /// inline (none predicted to block) and to take at least
    /// [`SPREAD_MIN_NS`] together: worth spreading to a spare CPU.
    pub(crate) fn worth_spreading(&self, batch: &ValidatedBatch<'_>) -> bool {
        let mut total: u64 = 0;
        for i in batch.cursor as usize..batch.len() {
            let step = batch.step(i);
            let nr = step.nr;
            total += match step.sig().blocking {
                Blocking::Never => UNTIMED_COST_NS,
                Blocking::Network => return false,
                Blocking::Storage if self.missing(nr) => return false,
                Blocking::Storage if has_probe(nr) => UNTIMED_COST_NS,
                Blocking::Storage => self.cost_ns[nr as usize & 511].load(Ordering::Relaxed) as u64,
            };
            if total >= SPREAD_MIN_NS {
                return true;
            }
        }
        false
    }
}

/// Run the atom at the cursor and feed its latency to the estimator.
pub(crate) fn run_timed(estimator: &Estimator, batch: &mut ValidatedBatch<'_>) {
    run_timed_from(estimator, batch, None);
}

/// [`run_timed`] with one clock read per atom in a run of timed atoms:
/// `start` is the clock read that ended the previous timed atom, if nothing
/// but bookkeeping (no call, no sleep) ran since; the atom's latency then
/// includes that bookkeeping (nanoseconds, against a threshold of
/// microseconds). Returns the read that ended this atom.
pub(crate) fn run_timed_from(
    estimator: &Estimator,
    batch: &mut ValidatedBatch<'_>,
    start: Option<Instant>,
) -> Instant {
    let i = batch.cursor as usize;
    let nr = batch.step(i).nr;
    let t0 = start.unwrap_or_else(Instant::now);
    batch.run_one();
    let t1 = Instant::now();
    estimator.record(nr, t1 - t0, batch.completion().0.results[i]);
    t1
}
