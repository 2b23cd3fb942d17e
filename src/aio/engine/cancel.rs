//! Cancel (`aio_cancel`) and its answer, [`Cancel`]. A request held in a
//! lane, queued in an executor, or taken by a worker that has not begun its
//! atom ends with `ECANCELED`; one at the device does not. The answer must
//! agree with each request's final state, so a request that finished but is
//! not published yet is waited for before the answer is given.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use super::port::{self, Canceled};
use super::requests::{Phase, Req};
use super::wake::{self, completed};
use super::{lock, Engine};
use crate::errno::Errno;

/// What [`aio_cancel`](crate::aio::aio_cancel) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cancel {
    /// Every request asked about was cancelled (`AIO_CANCELED`); each says
    /// `ECANCELED` and had its notification.
    Canceled,
    /// At least one is running and cannot be cancelled (`AIO_NOTCANCELED`).
    NotCanceled,
    /// None was in progress (`AIO_ALLDONE`).
    AllDone,
}

impl Cancel {
    /// The C value (`AIO_CANCELED`, `AIO_NOTCANCELED`, `AIO_ALLDONE`).
    pub const fn as_c(self) -> i32 {
        match self {
            Cancel::Canceled => libc::AIO_CANCELED,
            Cancel::NotCanceled => libc::AIO_NOTCANCELED,
            Cancel::AllDone => libc::AIO_ALLDONE,
        }
    }
}

impl Engine {
    /// Cancel the request on the aiocb at `addr`, or (None) every request on
    /// `fd`.
    pub(crate) fn cancel(self: &Arc<Self>, fd: i32, addr: Option<usize>) -> Result<Cancel, Errno> {
        // Requests the kernel finished are done, not "not cancelled".
        self.reap_kernel();
        let mut canceled = 0usize;
        let mut not_canceled = false;
        // Requests that finished running but whose outcome may not be
        // published yet (in the ring, or being delivered by a worker).
        let mut in_ring = Vec::new();
        let mut stopping = Vec::new();
        let mut fired = Vec::new();
        let mut next = VecDeque::new();
        {
            let mut st = lock(&self.state);
            let ids: Vec<u64> = match addr {
                Some(a) => st.by_addr.get(&a).copied().into_iter().collect(),
                None => {
                    let mut v: Vec<u64> = st
                        .reqs
                        .iter()
                        .filter(|(_, r)| r.fd == fd)
                        .map(|(&id, _)| id)
                        .collect();
                    v.sort_unstable();
                    v
                }
            };
            // Later requests first, so that cancelling a held request never
            // launches another one that is about to be cancelled too.
            for &id in ids.iter().rev() {
                let Some(r) = st.reqs.get(&id) else { continue };
                if r.fd != fd {
                    return Err(Errno::EINVAL);
                }
                let cancel_now = match r.phase {
                    Phase::Held(_) => true,
                    // At the device: the kernel cannot cancel file I/O.
                    Phase::Submitting | Phase::Kernel => false,
                    Phase::Queued(t) => match port::cancel(&self.exec(r.class).ex, t) {
                        // Its canceled completion is posted (not through the
                        // hook: counted for the completion thread here); it
                        // is finished here, and the ring entry found stale.
                        Ok((Canceled::NotStarted, _)) => {
                            self.exec(r.class).expect_from_ring();
                            true
                        }
                        Ok((Canceled::NotFound, _)) => {
                            in_ring.push((id, t));
                            continue;
                        }
                        // Taken by a worker that will not begin its atom: it
                        // ends with ECANCELED through the usual delivery,
                        // waited for below, so the answer is AIO_CANCELED.
                        Ok((Canceled::Requested, true)) => {
                            stopping.push((id, t));
                            continue;
                        }
                        // One atom: a running chain completes normally.
                        Ok((Canceled::Requested, false)) | Err(_) => false,
                    },
                };
                if !cancel_now {
                    not_canceled = true;
                    continue;
                }
                let req = st.reqs.remove(&id).expect("looked up above");
                if matches!(req.phase, Phase::Queued(_)) {
                    // Its cancelled completion comes through the ring later.
                    st.canceled.insert(id, ());
                }
                for n in st.unregister(id, &req) {
                    if !ids.contains(&n) {
                        next.extend(st.take_held(n));
                    }
                }
                let Req {
                    cb, notice, list, ..
                } = req;
                self.publish(cb, -(libc::ECANCELED as i64));
                fired.push((notice, list));
                canceled += 1;
            }
        }
        if canceled > 0 {
            completed();
        }
        for (notice, list) in fired {
            self.notify(notice, list);
        }
        self.launch(next);
        // Finished but not published yet: process what is in the rings, and
        // wait for what a worker is delivering, so that the outcome is
        // visible when AIO_ALLDONE (or AIO_CANCELED) is returned.
        canceled += stopping.len();
        in_ring.append(&mut stopping);
        while !in_ring.is_empty() {
            self.drain_all();
            let seen = wake::seen();
            {
                let st = lock(&self.state);
                in_ring.retain(|(id, t)| {
                    st.reqs
                        .get(id)
                        .is_some_and(|r| matches!(r.phase, Phase::Queued(q) if q == *t))
                });
            }
            if in_ring.is_empty() {
                break;
            }
            wake::sleep_since(seen, Duration::from_millis(1));
        }
        Ok(if not_canceled {
            Cancel::NotCanceled
        } else if canceled > 0 {
            Cancel::Canceled
        } else {
            Cancel::AllDone
        })
    }
}
