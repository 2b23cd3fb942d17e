//! [`Executor`]: asynchronous submission of validated chains, the syslet way.
//!
//! ```text
//! submit(batch) ─► SYNC:    every atom inline, in the caller's thread
//!               ─► ASYNC:   straight to a cachemiss worker
//!               ─► default: inline while the next atom will not block; the rest
//!                           of the chain (with its results so far) to a worker
//!                           when it may
//! worker / cancel / queued inline completion ─► completion ring ─► reap / wait / eventfd
//! ```
//!
//! # When an atom runs inline (the default mode)
//!
//! Userspace cannot see the scheduler, so the executor decides before each atom,
//! in this order:
//!
//! 1. A call whose signature says it never blocks (`Blocking::Never`: close,
//!    lseek, fstat, socket, bind, getpid, …) runs inline.
//! 2. A call with a non-blocking form is *probed*: `read`/`pread64` with
//!    `preadv2(…, RWF_NOWAIT)`, `write`/`pwrite64` with `pwritev2(…, RWF_NOWAIT)`,
//!    `openat` with `openat2(…, RESOLVE_CACHED)`, `recvfrom`/`sendto` with
//!    `MSG_DONTWAIT`. The probe *is* the call when it succeeds (its result is the
//!    atom's); on `EAGAIN` nothing happened and the chain is handed to a worker
//!    at this atom; when a read or write transferred only part of the buffer
//!    (and the real call would have gone on: a file, or a blocking stream), the
//!    worker transfers the rest and the atom returns the sum. When the kernel
//!    refuses the non-blocking form (`EOPNOTSUPP`, `EINVAL`; `openat` with
//!    `O_CREAT`/`O_TRUNC`/`O_TMPFILE`, unknown flags or a mode), storage calls
//!    fall to rule 4 and network calls to rule 3.
//! 3. A network call with no probe (`connect`, `accept4`) goes to a worker: how
//!    long a peer takes cannot be predicted.
//! 4. Any other storage call (`newfstatat`, `statx`, `getdents64`, `fsync`,
//!    `mkdirat`, `unlinkat`, `openat2`, …) has no non-blocking form, so the
//!    executor predicts from recent history. Every run of such a call, inline
//!    *or on a worker*, is timed; one that took longer than the hand-off
//!    threshold ([`ExecutorBuilder::handoff_threshold`], default 20 µs — about
//!    what a cross-thread hand-off costs, and far above a cached `stat`) is a
//!    *miss* (`getdents64` is allowed three thresholds plus one per KiB it
//!    returned: a cached ext4 directory read is long, not blocked). Per syscall number the
//!    executor keeps the decayed miss rate (`rate += (miss − rate) / 64`).
//!    While at most 1/64 of recent calls missed, the atom runs inline; above
//!    that the rest of the chain goes to a worker, except every
//!    [`ExecutorBuilder::reprobe_every`]-th time (default 32), when the atom
//!    runs inline to re-measure.
//!
//!    Why a miss *rate* and not a mean latency: on a cold tree misses come
//!    between hits (one inode-table read serves a dozen inodes), so the mean
//!    stays low while nearly every chain of 64 stats would stall the submitter
//!    several times. Why 1/64 with that decay: one stray slow call (a
//!    preemption on a busy machine) reaches the limit but does not cross it;
//!    two misses within a few dozen calls — a cold cache — do. Once handed
//!    off, the workers' own timings (and the re-probes) bring a class back
//!    inline after a few dozen fast calls.
//!
//! No thread is created on the inline path; a chain that completes inline
//! costs no cross-thread round trip at all.
//!
//! # Completions
//!
//! A chain that completes inline is returned directly as
//! [`Submitted::Done`] (v6: "cached completions are returned directly"), or, with
//! [`InlineCompletions::Queue`], posted to the ring like any other with
//! `COMPLETION_INLINE` set. Every other chain is posted to the completion ring
//! (the `ring` module describes the protocol: v7 `syslet_ring`) and its full [`Done`] — the ring
//! entry plus the batch with every result and output buffer — is returned by
//! [`Executor::reap`]. `BATCH_NO_COMPLETE` chains post nothing; descriptors
//! their atoms left open are closed when they end on a worker.
//!
//! # Back-pressure
//!
//! The ring has `elements` entries. Every accepted chain that may post holds one
//! of them from `submit` until its entry is reaped (or until it is returned
//! inline), so the ring can never overflow and no completion is ever lost.
//! (A `BATCH_SYNC` chain with [`InlineCompletions::Return`] and a
//! `BATCH_NO_COMPLETE` chain never post, so they are never refused.) When
//! none is free, `submit` fails with [`SubmitError::RingFull`] (giving the batch
//! back) or blocks until a reap frees one ([`Backpressure`]).
//!
//! # Cancellation
//!
//! [`Executor::cancel`] on a chain still queued for a worker removes it and posts
//! its completion at once with `COMPLETION_CANCELED` and status `-ECANCELED`
//! (atoms that already ran inline keep their results). On a chain a worker is
//! running it sets a flag: the worker finishes the atom it is in (a blocking call
//! is not interrupted) and stops before the next; the completion then has
//! `COMPLETION_CANCELED`, status `-ECANCELED`, and `atoms_run`, `ran_mask`,
//! `last_atom` and the results say how far it got. A chain whose last atom was
//! already running when the cancel came completes normally. (A worker that hit
//! an internal panic also completes its chain this way, with status
//! `-ENOTRECOVERABLE`, instead of losing it.)
//!
//! # When no worker can be started
//!
//! A chain handed off while no worker exists and none can be started (thread
//! creation fails, e.g. at `RLIMIT_NPROC` or under a tight `RLIMIT_AS`) is not
//! run on the submitting thread, which lacks the workers' seccomp filter: its
//! completion is posted at once with `COMPLETION_CANCELED` and the thread
//! creation's `-errno` (`-EAGAIN`) as status, atoms that ran inline keeping
//! their results. If some worker is alive, it takes the chain from the queue.
//! An executor built with [`ExecutorBuilder::seccomp`]`(false)` runs such a
//! chain on the submitter instead (its workers would be unconfined too). See
//! [`crate::security`].
//!
//! # Shutdown, drop and fork
//!
//! [`Executor::shutdown`] finishes ([`ShutdownMode::Finish`]) or cancels
//! ([`ShutdownMode::Cancel`]) the chains in flight, joins every worker and returns
//! every completion not yet reaped. Dropping an executor is `shutdown(Cancel)`
//! with the completions dropped, after closing the descriptors their atoms
//! left open. After `fork()`, in the child, every method returns
//! [`ExecutorError::Forked`] (the child has none of the parent's workers and its
//! locks may be held); dropping it there releases nothing. Make a new executor in
//! the child.

mod api;
pub(crate) mod engine_port;
pub(crate) mod estimator;
mod options;
pub(crate) mod pool;
pub(crate) mod ring;
pub(crate) mod shared;

pub use api::*;
pub use options::{Backpressure, InlineCompletions, ShutdownMode, Ticket};
