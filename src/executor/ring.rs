//! The completion ring: the v7 `syslet_ring` protocol in process memory.
//!
//! ```text
//! header: kernel_head u32 | user_tail u32 | elements u32 | wait_group u32   (abi::RingHeader)
//! entries[elements]: abi::RingEntry (32 bytes) — ticket, caller_data, status, last_atom, atoms_run, flags
//! side[elements]: the finished batch (all results and output buffers) of the entry in the same slot
//! ```
//!
//! * `elements` is a power of two; entry `i` lives in slot `i & (elements - 1)`.
//!   Both indices count up and wrap at `u32::MAX` (differences are taken with
//!   wrapping arithmetic, so the wrap is invisible).
//! * The producer (a worker, a cancel, or an inline completion in queue mode)
//!   holds the producer lock, writes the entry and its side slot, then
//!   advances `kernel_head` with a release store: a consumer that reads
//!   `kernel_head` with an acquire load sees every entry before it.
//! * The consumer holds the consumer lock, reads entries from `user_tail` to
//!   `kernel_head`, takes their side slots, then advances `user_tail` with a
//!   release store.
//! * Waiting is a futex on a private wake-up word, bumped after every entry
//!   and whenever a chain in flight ends without an entry
//!   ([`Ring::retire`]: its completion was delivered by the executor's
//!   completion hook); a producer wakes it only when a waiter is registered.
//!   An attached eventfd is bumped after every entry.
//! * The ring never overflows: the executor counts every submitted chain that
//!   may post (in flight) plus every posted, unreaped entry against
//!   `elements` before it accepts a submission (back-pressure).
//! * `wait_group` (v7: hashed to choose a kernel wait queue) holds a
//!   process-unique ring number; here the futex on the wake-up word is the
//!   queue.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use syslets_abi::{RingEntry, RingHeader};

use crate::confine::validate::ValidatedBatch;
use crate::sys::eventfd::EventFd;
use crate::sys::futex;

/// The ring header, shared between producers and consumers: the layout of
/// [`RingHeader`] with atomic fields.
#[repr(C)]
#[derive(Debug)]
struct SharedHeader {
    kernel_head: AtomicU32,
    user_tail: AtomicU32,
    elements: AtomicU32,
    wait_group: AtomicU32,
}

static_assertions::assert_eq_size!(SharedHeader, RingHeader);
static_assertions::assert_eq_align!(SharedHeader, RingHeader);

static NEXT_GROUP: AtomicU32 = AtomicU32::new(1);

/// One entry as the consumer sees it, with the finished batch of its slot.
#[derive(Debug)]
pub(crate) struct Reaped {
    pub entry: RingEntry,
    pub batch: Option<Box<ValidatedBatch<'static>>>,
}

/// The completion ring.
#[derive(Debug)]
pub(crate) struct Ring {
    header: SharedHeader,
    mask: u32,
    /// Each entry as four words, so producers and consumers share it with
    /// atomic accesses (ordered by `kernel_head`/`user_tail`).
    entries: Box<[[AtomicU64; 4]]>,
    side: Box<[Mutex<Option<Box<ValidatedBatch<'static>>>>]>,
    producer: Mutex<()>,
    consumer: Mutex<()>,
    /// Threads sleeping in [`Ring::wait`].
    waiters: AtomicU32,
    /// The futex word of [`Ring::wait`]: bumped after every post and every
    /// [`retire`](Ring::retire). (Not `kernel_head`: a retired chain changes
    /// what a waiter may give up on without adding an entry.)
    wake: AtomicU32,
    eventfd: OnceLock<EventFd>,
    /// An eventfd created ahead of time and used when one is first attached: the
    /// workers' seccomp filter is generated before they start and must already
    /// name the only descriptor they may `write` to.
    reserved_eventfd: Mutex<Option<EventFd>>,
}

impl Ring {
    /// A ring of `elements` (a power of two) entries whose indices start at
    /// `start` (tests start near `u32::MAX` to cross the wrap).
    pub(crate) fn new(elements: u32, start: u32) -> Ring {
        assert!(
            elements.is_power_of_two(),
            "ring size must be a power of two"
        );
        Ring {
            header: SharedHeader {
                kernel_head: AtomicU32::new(start),
                user_tail: AtomicU32::new(start),
                elements: AtomicU32::new(elements),
                wait_group: AtomicU32::new(NEXT_GROUP.fetch_add(1, Ordering::Relaxed)),
            },
            mask: elements - 1,
            entries: (0..elements).map(|_| Default::default()).collect(),
            side: (0..elements).map(|_| Mutex::new(None)).collect(),
            producer: Mutex::new(()),
            consumer: Mutex::new(()),
            waiters: AtomicU32::new(0),
            wake: AtomicU32::new(0),
            eventfd: OnceLock::new(),
            reserved_eventfd: Mutex::new(None),
        }
    }

    /// Create the eventfd a later [`Ring::eventfd`] attaches, and return its
    /// descriptor number. Until it is attached, posting does not signal it.
    pub(crate) fn reserve_eventfd(&self) -> std::io::Result<std::os::fd::RawFd> {
        use std::os::fd::AsRawFd;
        let mut reserved = self
            .reserved_eventfd
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(e) = self.eventfd.get().or(reserved.as_ref()) {
            return Ok(e.as_raw_fd());
        }
        let e = EventFd::new()?;
        let fd = e.as_raw_fd();
        *reserved = Some(e);
        Ok(fd)
    }

    /// Number of entries.
    pub(crate) fn elements(&self) -> u32 {
        self.mask + 1
    }

    /// A snapshot of the header.
    pub(crate) fn header(&self) -> RingHeader {
        RingHeader {
            kernel_head: self.header.kernel_head.load(Ordering::Acquire),
            user_tail: self.header.user_tail.load(Ordering::Acquire),
            elements: self.header.elements.load(Ordering::Relaxed),
            wait_group: self.header.wait_group.load(Ordering::Relaxed),
        }
    }

    /// Entries posted and not yet reaped.
    pub(crate) fn ready(&self) -> u32 {
        let head = self.header.kernel_head.load(Ordering::Acquire);
        let tail = self.header.user_tail.load(Ordering::Acquire);
        head.wrapping_sub(tail)
    }

    /// The attached eventfd, attaching one first if there is none.
    pub(crate) fn eventfd(&self) -> std::io::Result<&EventFd> {
        if let Some(e) = self.eventfd.get() {
            return Ok(e);
        }
        let reserved = self
            .reserved_eventfd
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let fresh = match reserved {
            Some(e) => e,
            None => EventFd::new()?,
        };
        let _ = self.eventfd.set(fresh);
        let e = self.eventfd.get().expect("set above");
        // Entries posted before the eventfd existed must make it readable too.
        if self.ready() > 0 {
            e.signal();
        }
        Ok(e)
    }

    /// The attached eventfd, if any.
    pub(crate) fn attached_eventfd(&self) -> Option<&EventFd> {
        self.eventfd.get()
    }

    /// Post one entry (and the batch it summarises). The caller guarantees room
    /// (back-pressure accounting); running out of room is a bug and panics.
    /// `pending`, when given, is decremented under the producer lock just
    /// before the entry is published (see [`wait`](Self::wait)).
    pub(crate) fn post(
        &self,
        entry: RingEntry,
        batch: Option<Box<ValidatedBatch<'static>>>,
        pending: Option<&AtomicU32>,
    ) {
        {
            let _p = self.producer.lock().unwrap_or_else(|e| e.into_inner());
            let head = self.header.kernel_head.load(Ordering::Relaxed);
            let tail = self.header.user_tail.load(Ordering::Acquire);
            assert!(
                head.wrapping_sub(tail) < self.elements(),
                "completion ring overflow: back-pressure accounting is broken"
            );
            let slot = (head & self.mask) as usize;
            let words: [u64; 4] = zerocopy::transmute!(entry);
            for (w, v) in self.entries[slot].iter().zip(words) {
                w.store(v, Ordering::Relaxed);
            }
            *self.side[slot].lock().unwrap_or_else(|e| e.into_inner()) = batch;
            if let Some(p) = pending {
                p.fetch_sub(1, Ordering::SeqCst);
            }
            // Release: the entry words and side slot are visible to whoever
            // acquires this head. SeqCst: ordered before the `waiters` load
            // below (pairs with the SeqCst increment in `wait`).
            self.header
                .kernel_head
                .store(head.wrapping_add(1), Ordering::SeqCst);
        }
        self.bump();
        if let Some(e) = self.eventfd.get() {
            e.signal();
        }
    }

    /// A chain counted in `pending` ended without an entry (the executor's
    /// completion hook delivered it): decrement `pending` and wake waiters,
    /// who may now give up (see [`wait`](Self::wait)).
    pub(crate) fn retire(&self, pending: &AtomicU32) {
        pending.fetch_sub(1, Ordering::SeqCst);
        self.bump();
    }

    /// Bump the wake-up word (after a change a waiter must see) and wake the
    /// waiters, if any. SeqCst: the bump is ordered after the change and
    /// before the `waiters` load (pairs with the SeqCst increment in `wait`).
    fn bump(&self) {
        self.wake.fetch_add(1, Ordering::SeqCst);
        if self.waiters.load(Ordering::SeqCst) > 0 {
            futex::wake(&self.wake, i32::MAX);
        }
    }

    /// Take every posted entry, oldest first, appending to `out`; returns how
    /// many.
    pub(crate) fn drain(&self, out: &mut Vec<Reaped>) -> usize {
        let _c = self.consumer.lock().unwrap_or_else(|e| e.into_inner());
        let tail = self.header.user_tail.load(Ordering::Relaxed);
        let head = self.header.kernel_head.load(Ordering::Acquire);
        let n = head.wrapping_sub(tail);
        for k in 0..n {
            let slot = (tail.wrapping_add(k) & self.mask) as usize;
            let mut words = [0u64; 4];
            for (v, w) in words.iter_mut().zip(&self.entries[slot]) {
                *v = w.load(Ordering::Relaxed);
            }
            let entry: RingEntry = zerocopy::transmute!(words);
            let batch = self.side[slot]
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            out.push(Reaped { entry, batch });
        }
        // Release: the slots are free for producers only after they were read.
        self.header.user_tail.store(head, Ordering::Release);
        n as usize
    }

    /// Sleep until at least `min` entries are ready, `deadline` passes, or
    /// `give_up()` says no more can come (it reads the `pending` counter that
    /// [`post`](Self::post) decrements). Returns the entries ready.
    ///
    /// No lost wake-up: a waiter registers, reads the wake-up word, then
    /// `kernel_head`, then asks `give_up`. If a chain is still pending, its
    /// later post or [`retire`](Self::retire) bumps the wake-up word (so
    /// FUTEX_WAIT on the value read returns at once) and sees the registration
    /// (so it wakes the futex). When nothing is pending, a pass through the
    /// producer lock makes sure a post that already decremented the counter
    /// has also published its entry.
    pub(crate) fn wait(
        &self,
        min: u32,
        deadline: Option<Instant>,
        give_up: impl Fn() -> bool,
    ) -> u32 {
        loop {
            // SeqCst increment before reading the wake-up word (pairs with
            // `bump`): either the producer sees us and wakes the futex, or we
            // see its bump (and FUTEX_WAIT refuses to sleep on a stale value).
            self.waiters.fetch_add(1, Ordering::SeqCst);
            let seq = self.wake.load(Ordering::SeqCst);
            let head = self.header.kernel_head.load(Ordering::SeqCst);
            let tail = self.header.user_tail.load(Ordering::Acquire);
            let mut ready = head.wrapping_sub(tail);
            let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            let mut done = ready >= min || timeout == Some(Duration::ZERO);
            if !done && give_up() {
                drop(self.producer.lock().unwrap_or_else(|e| e.into_inner()));
                ready = self.ready();
                done = true;
            }
            // No futex (an error): poll (the loop re-checks), giving the CPU away.
            if !done && futex::wait(&self.wake, seq, timeout).is_err() {
                std::thread::yield_now();
            }
            self.waiters.fetch_sub(1, Ordering::SeqCst);
            if done {
                return ready;
            }
        }
    }
}
