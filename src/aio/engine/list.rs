//! List I/O: the members of one `lio_listio` call, counted down as they
//! finish, for the list-wide notification (fired once, after the last
//! member's own) and for `LIO_WAIT`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use super::notify::{Notice, Notifier};
use super::wake::completed;
use super::{lock, Engine};
use crate::aio::cb::Notify;
use crate::errno::Errno;

/// The members of one `lio_listio` call, for its list-wide notification and
/// for `LIO_WAIT`.
#[derive(Debug)]
pub(crate) struct List {
    /// Members not finished, plus one while `lio_listio` is still submitting.
    remaining: AtomicU32,
    notice: Mutex<Option<Notice>>,
}

impl List {
    /// A list whose notification is `notify` (validated now).
    pub(crate) fn new(notify: Option<&Notify>, engine: &Engine) -> Result<Arc<List>, Errno> {
        let notice = match notify {
            Some(n) => Some(Notice::build(n, &engine.policy)?),
            None => None,
        };
        Ok(Arc::new(List {
            remaining: AtomicU32::new(1),
            notice: Mutex::new(notice),
        }))
    }

    /// A member is about to be submitted.
    #[inline]
    pub(crate) fn add(&self) {
        self.remaining.fetch_add(1, Ordering::SeqCst);
    }

    /// A member finished (or `lio_listio` finished submitting).
    pub(crate) fn done(&self, notifier: &Arc<Notifier>) {
        if self.remaining.fetch_sub(1, Ordering::SeqCst) == 1 {
            // Wake LIO_WAIT (it sleeps on the completion counter).
            completed();
            let notice = lock(&self.notice).take();
            if let Some(n) = notice {
                n.fire(notifier);
            }
        }
    }

    /// Whether every member finished.
    pub(crate) fn finished(&self) -> bool {
        self.remaining.load(Ordering::SeqCst) == 0
    }
}
