//! The four executors (worker pools) and the completion thread of each.
//! Most outcomes are published by the worker that ran the request (see
//! `hook`); the rest are posted to the executor's ring and reaped here by a
//! completion thread, started on the first submission that needs one and
//! sleeping on a doorbell while nothing is pending.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::port::{self, Executor};
use super::wake::{completed, FOREVER};
use super::{lock, spawn, Engine};
use crate::aio::sys;
use crate::errno::Errno;

/// Which executor (worker pool) a request goes to. The pools differ in how
/// many workers they need:
///
/// * `File`: reads and writes of files the `RWF_NOWAIT` probe covers, after
///   the probe missed. Cached data completed inline; for uncached data the
///   probe has already started the read, so a worker only waits for pages
///   already on their way, mostly one after another: few workers suffice,
///   and more cost context switches.
/// * `Copy`: reads and writes of such files sent to a worker unprobed
///   (larger than the inline budget, or with inline completion off): the worker copies, or does the I/O, so
///   that it overlaps with the caller on another CPU; a few per CPU.
/// * `Direct`: requests that do their own I/O on a worker (`O_DIRECT`, syncs,
///   seekable character devices): one worker per request in flight.
/// * `Stream`: pipes, sockets, terminals, whose requests may block for ever
///   waiting for a peer; a pool of their own, so that they can never take
///   every worker from file I/O.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    File = 0,
    Direct = 1,
    Stream = 2,
    Copy = 3,
}

pub(super) const CLASSES: [Class; 4] = [Class::File, Class::Direct, Class::Stream, Class::Copy];

/// One executor and the completion thread that reaps its ring.
#[derive(Debug)]
pub(super) struct Exec {
    pub(super) ex: Executor,
    /// Submissions queued in the executor whose completion was not processed
    /// yet (wrapping; may dip below zero for a moment, read as `i32`).
    pub(super) pending: AtomicU32,
    /// The completion thread sleeps on this word when nothing is pending.
    pub(super) doorbell: AtomicU32,
    pub(super) sleeping: AtomicBool,
    pub(super) completer: Mutex<Option<JoinHandle<()>>>,
    pub(super) started: AtomicBool,
    pub(super) reap_lock: Mutex<()>,
}

impl Exec {
    pub(super) fn new(ring: u32, workers: usize, idle: Duration) -> Result<Exec, Errno> {
        let ex = port::executor(ring, workers, idle)?;
        Ok(Exec {
            ex,
            pending: AtomicU32::new(0),
            doorbell: AtomicU32::new(0),
            sleeping: AtomicBool::new(false),
            completer: Mutex::new(None),
            started: AtomicBool::new(false),
            reap_lock: Mutex::new(()),
        })
    }

    /// One more completion will come through this executor's ring (a
    /// request handed back by the completion hook, or cancelled before it
    /// started): count it, and wake the completion thread.
    #[inline]
    pub(super) fn expect_from_ring(&self) {
        self.pending.fetch_add(1, Ordering::SeqCst);
        self.ring_doorbell();
    }

    #[inline]
    pub(super) fn ring_doorbell(&self) {
        self.doorbell.fetch_add(1, Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) {
            sys::futex_wake_all(&self.doorbell);
        }
    }
}

impl Engine {
    /// One more submission is queued in executor `class`: make sure its
    /// completion thread runs. (It is counted in `pending`, and woken, only
    /// if its completion goes through the ring: when the completion hook
    /// gives it back, or when it is cancelled before it started.)
    #[inline]
    pub(super) fn queued(self: &Arc<Self>, class: Class) {
        let started = &self.exec(class).started;
        if !started.load(Ordering::Acquire) {
            self.start_completer(class);
            if !started.load(Ordering::Acquire) {
                // No thread could be started: reap here what is posted
                // already (a chain no worker could be started for was
                // failed and posted before `submit` returned).
                self.drain(class);
            }
        }
    }

    fn start_completer(self: &Arc<Self>, class: Class) {
        let e = self.exec(class);
        let mut slot = lock(&e.completer);
        if slot.is_some() {
            return;
        }
        let me = Arc::clone(self);
        if let Ok(h) = spawn("aio-complete", move || me.completion_loop(class)) {
            *slot = Some(h);
            e.started.store(true, Ordering::Release);
        }
        // Otherwise: retried on the next submission (and aio_cancel and
        // close reap too, see `drain`).
    }

    fn completion_loop(self: Arc<Self>, class: Class) {
        let e = self.exec(class);
        loop {
            e.sleeping.store(true, Ordering::SeqCst);
            let bell = e.doorbell.load(Ordering::SeqCst);
            let pending = e.pending.load(Ordering::SeqCst) as i32;
            let stop = self.stop.load(Ordering::SeqCst);
            if pending <= 0 {
                if stop {
                    e.sleeping.store(false, Ordering::SeqCst);
                    return;
                }
                sys::futex_wait(&e.doorbell, bell, FOREVER);
                e.sleeping.store(false, Ordering::SeqCst);
                continue;
            }
            e.sleeping.store(false, Ordering::SeqCst);
            // Pending > 0: a completion is posted or on its way (the executor
            // counts it in flight), so this returns once one is ready.
            port::wait(&e.ex, 1, Some(Duration::from_millis(100)));
            self.drain(class);
        }
    }

    /// Reap every completion posted by executor `class` and finish its
    /// request. Returns how many.
    pub(super) fn drain(self: &Arc<Self>, class: Class) -> usize {
        let e = self.exec(class);
        let mut done = Vec::new();
        {
            let _g = lock(&e.reap_lock);
            if port::reap(&e.ex, &mut done).is_err() {
                return 0;
            }
        }
        let n = done.len();
        if n == 0 {
            return 0;
        }
        let mut todo = VecDeque::new();
        for d in done {
            let c = d.completion();
            todo.extend(self.finish_waking(c.caller_data(), c.status(), false));
            self.recycle(d);
        }
        // One wake-up for the whole batch (see `finish_waking`).
        completed();
        e.pending.fetch_sub(n as u32, Ordering::SeqCst);
        self.launch(todo);
        n
    }

    /// [`drain`](Self::drain) every executor.
    pub(super) fn drain_all(self: &Arc<Self>) {
        for c in CLASSES {
            self.drain(c);
        }
    }
}
