//! Per-descriptor ordering. Most requests run concurrently, but writes to an
//! `O_APPEND` descriptor and the reads (writes) of a pipe or socket run one
//! at a time in submission order — a FIFO lane per descriptor and direction
//! — and an `aio_fsync` is a barrier: it waits for every data request
//! registered on its descriptor before it. Only descriptors with requests in
//! flight have an entry.

use std::collections::VecDeque;

use super::hash::Map;

/// Which ordered lane of its fd a request is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Lane {
    Reads = 0,
    Writes = 1,
}

/// What the ordering needs to know of a request.
#[derive(Clone, Copy, Debug)]
pub(super) struct Place {
    pub(super) fd: i32,
    /// An `aio_fsync`: a barrier, in no lane.
    pub(super) sync: bool,
    pub(super) lane: Option<Lane>,
}

#[derive(Debug, Default)]
struct LaneState {
    busy: Option<u64>,
    queue: VecDeque<u64>,
}

/// An `aio_fsync` waiting for the data requests registered before it.
#[derive(Debug)]
struct HeldSync {
    id: u64,
    seq: u64,
    waiting_for: usize,
}

/// Per-descriptor ordering: O_APPEND writes and stream reads/writes run one
/// at a time in submission order; an fsync waits for every data request
/// registered before it.
#[derive(Debug, Default)]
struct FdState {
    next_seq: u64,
    /// Data requests registered and not finished.
    outstanding: usize,
    lanes: [LaneState; 2],
    syncs: Vec<HeldSync>,
}

impl FdState {
    fn is_empty(&self) -> bool {
        self.outstanding == 0
            && self.syncs.is_empty()
            && self
                .lanes
                .iter()
                .all(|l| l.busy.is_none() && l.queue.is_empty())
    }

    /// Enter request `id` into lane `lane`: whether it may run now.
    fn enter_lane(&mut self, lane: Lane, id: u64) -> bool {
        let l = &mut self.lanes[lane as usize];
        if l.busy.is_none() {
            l.busy = Some(id);
            true
        } else {
            l.queue.push_back(id);
            false
        }
    }
}

/// The ordering state of every descriptor with requests in flight.
#[derive(Debug, Default)]
pub(super) struct Lanes(Map<i32, FdState>);

impl Lanes {
    /// Enter request `id` into the bookkeeping of its fd: its registration
    /// order on the fd, and whether it may run now (false: held in its lane or, for a sync, behind
    /// earlier requests).
    #[inline]
    pub(super) fn register(&mut self, id: u64, place: Place) -> (u64, bool) {
        let Place { fd, sync, lane } = place;
        let fs = self.0.entry(fd).or_default();
        let seq = fs.next_seq;
        fs.next_seq += 1;
        let now = if sync {
            if fs.outstanding == 0 {
                true
            } else {
                let waiting_for = fs.outstanding;
                fs.syncs.push(HeldSync {
                    id,
                    seq,
                    waiting_for,
                });
                false
            }
        } else {
            fs.outstanding += 1;
            lane.is_none_or(|l| fs.enter_lane(l, id))
        };
        if fs.is_empty() {
            self.0.remove(&fd);
        }
        (seq, now)
    }

    /// Take request `id`, registered with order `seq`, out of the
    /// bookkeeping of its fd; returns the held requests that may run now.
    #[inline]
    pub(super) fn retire(&mut self, id: u64, place: Place, seq: u64) -> Vec<u64> {
        let Place { fd, sync, lane } = place;
        let mut next = Vec::new();
        let Some(fs) = self.0.get_mut(&fd) else {
            return next;
        };
        if sync {
            fs.syncs.retain(|s| s.id != id);
        } else {
            fs.outstanding -= 1;
            for s in fs.syncs.iter_mut().filter(|s| s.seq > seq) {
                s.waiting_for -= 1;
                if s.waiting_for == 0 {
                    next.push(s.id);
                }
            }
        }
        if let Some(lane) = lane {
            let l = &mut fs.lanes[lane as usize];
            if l.busy == Some(id) {
                l.busy = l.queue.pop_front();
                next.extend(l.busy);
            } else {
                l.queue.retain(|&q| q != id);
            }
        }
        if fs.is_empty() {
            self.0.remove(&fd);
        }
        next
    }

    /// Enter request `id` into lane `lane` of `fd`: whether it may run now.
    pub(super) fn enter_lane(&mut self, fd: i32, lane: Lane, id: u64) -> bool {
        self.0.entry(fd).or_default().enter_lane(lane, id)
    }

    /// Whether an `aio_fsync` on `fd` waits for its data requests.
    #[inline]
    pub(super) fn sync_waiting(&self, fd: i32) -> bool {
        self.0.get(&fd).is_some_and(|f| !f.syncs.is_empty())
    }
}
