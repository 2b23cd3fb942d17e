//! Notifications: a request's `aio_sigevent` (or a list's `sigevent`) made
//! ready at submission — a signal as a validated one-atom
//! `rt_tgsigqueueinfo` chain, so that a bad signal number is refused then —
//! and fired after the outcome is published; and the `SIGEV_THREAD`
//! notifier, one thread per engine that calls the functions in completion
//! order instead of a thread per completion.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use syslets_abi as abi;

use super::{lock, port, spawn};
use crate::aio::cb::{self, Notify};
use crate::aio::sys;
use crate::builder::chain::Chain;
use crate::builder::opcode::RtTgsigqueueinfo;
use crate::confine::policy::Policy;
use crate::confine::validate::ValidatedBatch;
use crate::errno::Errno;

/// A notification ready to fire.
#[derive(Debug)]
pub(super) enum Notice {
    None,
    /// The one-atom chain `rt_tgsigqueueinfo(pid, tid, signo, &info)`,
    /// validated at submission.
    Signal(Box<ValidatedBatch<'static>>),
    Thread {
        func: extern "C" fn(libc::sigval),
        value: u64,
    },
}

impl Notice {
    pub(super) fn build(n: &Notify, policy: &Policy) -> Result<Notice, Errno> {
        match *n {
            Notify::None => Ok(Notice::None),
            Notify::Thread { func, value } => Ok(Notice::Thread { func, value }),
            Notify::Signal { tid, signo, value } => {
                let pid = std::process::id() as i32;
                let tid = if tid == 0 { pid } else { tid };
                let mut chain = Chain::with_capacity(1, 1, abi::kernel::SIGINFO_SIZE);
                let info = chain.input(&siginfo(signo, value));
                chain.push(RtTgsigqueueinfo::new(pid, tid, signo, info));
                let batch = chain.prepare(policy).map_err(|_| Errno::EINVAL)?;
                Ok(Notice::Signal(Box::new(batch)))
            }
        }
    }

    pub(super) fn fire(self, notifier: &Arc<Notifier>) {
        match self {
            Notice::None => {}
            Notice::Signal(mut batch) => {
                // The target thread may be gone (ESRCH): nothing to do then.
                port::run(&mut batch);
            }
            Notice::Thread { func, value } => Notifier::post(notifier, func, value),
        }
    }
}

/// The kernel's `siginfo_t` for an `SI_ASYNCIO` signal queued by this process
/// (what glibc's AIO queues): signo, errno 0, code, pid, uid, value.
fn siginfo(signo: i32, value: u64) -> [u8; abi::kernel::SIGINFO_SIZE] {
    let mut b = [0u8; abi::kernel::SIGINFO_SIZE];
    b[0..4].copy_from_slice(&signo.to_ne_bytes());
    b[8..12].copy_from_slice(&libc::SI_ASYNCIO.to_ne_bytes());
    b[16..20].copy_from_slice(&(std::process::id() as i32).to_ne_bytes());
    b[20..24].copy_from_slice(&sys::uid().to_ne_bytes());
    b[24..32].copy_from_slice(&value.to_ne_bytes());
    b
}

/// The `SIGEV_THREAD` notifier: one thread that calls the functions, in
/// completion order.
#[derive(Debug, Default)]
pub(crate) struct Notifier {
    state: Mutex<NotifierState>,
    cv: Condvar,
}

#[derive(Debug, Default)]
struct NotifierState {
    jobs: VecDeque<(extern "C" fn(libc::sigval), u64)>,
    thread: Option<JoinHandle<()>>,
    stop: bool,
}

impl Notifier {
    /// Queue `func(value)` for the notifier thread, starting it if needed.
    pub(super) fn post(this: &Arc<Notifier>, func: extern "C" fn(libc::sigval), value: u64) {
        let has_thread = {
            let mut st = lock(&this.state);
            st.jobs.push_back((func, value));
            if st.thread.is_none() && !st.stop {
                let me = Arc::clone(this);
                st.thread = spawn("aio-notify", move || me.run()).ok();
            }
            this.cv.notify_one();
            st.thread.is_some()
        };
        if !has_thread {
            // No thread could be started (or the context is closing): call
            // the function here rather than never.
            this.run_inline();
        }
    }

    /// Whether the notifier thread runs: then [`post`](Self::post) only
    /// queues (no thread is started, no function runs in the caller), which
    /// a seccomp-filtered worker may do. It keeps running until
    /// [`stop`](Self::stop), which the engine calls only once no request is
    /// left and no completion hook runs.
    pub(super) fn running(&self) -> bool {
        let st = lock(&self.state);
        st.thread.is_some() && !st.stop
    }

    fn run(&self) {
        let mut st = lock(&self.state);
        loop {
            if let Some((func, value)) = st.jobs.pop_front() {
                drop(st);
                func(cb::sigval_of(value));
                st = lock(&self.state);
                continue;
            }
            if st.stop {
                return;
            }
            st = self.cv.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Run queued functions here when no thread could be started.
    fn run_inline(&self) {
        loop {
            let job = {
                let mut st = lock(&self.state);
                if st.thread.is_some() {
                    return;
                }
                st.jobs.pop_front()
            };
            let Some((func, value)) = job else { return };
            func(cb::sigval_of(value));
        }
    }

    /// Run what is queued, then stop and join the thread.
    pub(super) fn stop(&self) {
        let handle = {
            let mut st = lock(&self.state);
            st.stop = true;
            self.cv.notify_all();
            st.thread.take()
        };
        if let Some(h) = handle {
            let _ = h.join();
        }
        self.run_inline();
    }
}
