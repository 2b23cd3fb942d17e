//! The executor's small value types: tickets and the modes its builder and
//! [`Executor::shutdown`](crate::Executor::shutdown) take.

/// Identifies a submitted chain; echoed in its ring entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ticket(pub(crate) u64);

impl Ticket {
    /// The number (as in [`RingEntry::ticket`](crate::abi::RingEntry::ticket)).
    pub const fn as_u64(self) -> u64 {
        self.0
    }
}

/// What to do with a submission when the ring could overflow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Backpressure {
    /// Refuse it with [`SubmitError::RingFull`](crate::SubmitError::RingFull) (the default).
    #[default]
    Refuse,
    /// Block until a reap frees room. (A thread that is also the only reaper
    /// must not use this.)
    Block,
}

/// Where a chain that completed inline is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum InlineCompletions {
    /// Returned directly by `submit` as [`Submitted::Done`](crate::Submitted::Done) (the default).
    #[default]
    Return,
    /// Posted to the ring like any other (with `COMPLETION_INLINE`).
    Queue,
}

/// How [`Executor::shutdown`](crate::Executor::shutdown) treats the chains in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShutdownMode {
    /// Run every queued chain to its end.
    Finish,
    /// Cancel queued chains; running ones stop before their next atom.
    Cancel,
}
