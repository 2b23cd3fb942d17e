//! Linux syslets in userspace: linear chains of system calls ("atoms"), v6 style,
//! copied up front into one fixed-layout buffer, validated, and executed.
//!
//! ```text
//! typed builders ──► Chain ──encode──► ABI buffer ──validate(Policy)──► ValidatedBatch ──run──► Completion
//! ```
//!
//! * [`Chain`] collects atoms built with the typed builders of [`opcode`], each with
//!   its v6 stop flags ([`Stop`]) and `SKIP_TO_NEXT_ON_STOP`. Arguments are values,
//!   results of earlier atoms ([`AtomRef`], e.g. open's fd flowing into fstat), or
//!   buffers the batch owns ([`BufRef`]: paths, stat output, data, socket addresses).
//! * [`Chain::encode`] copies the whole chain into one ABI buffer
//!   ([`syslets_abi`]: `header | atoms | bufs | arena`). Bytes written elsewhere
//!   (a C program, a 32-bit producer after [`compat::normalize`]) enter through
//!   [`EncodedBatch::from_bytes`].
//! * [`EncodedBatch::validate`] checks everything against a [`Policy`] built on the
//!   signature table: numbers, argument kinds, every pointer and length. A bad batch
//!   gets a [`ValidationError`] naming the atom and the reason, and nothing runs.
//! * [`ValidatedBatch::run`] executes inline and returns a [`Completion`]; typed
//!   accessors ([`ValidatedBatch::output`]) read back what the kernel wrote.
//! * [`Executor::submit`] runs a batch the syslet way: inline while nothing
//!   blocks, the rest of the chain on a cachemiss worker when an atom may
//!   block, completions posted to a ring (v7 protocol) read with
//!   [`Executor::reap`], [`Executor::wait`] or an eventfd
//!   ([`Executor::attach_eventfd`]).
//!
//! ```
//! use syslets::{Chain, Policy, Stop, Stat, opcode::{Openat, Fstat, Close}};
//!
//! let mut chain = Chain::new();
//! let path = chain.path("/definitely/not/here");
//! let st = chain.output::<Stat>();
//! let fd = chain.push(Openat::new(libc::AT_FDCWD, path).stop_on(Stop::NEGATIVE));
//! chain.push(Fstat::new(fd, st));
//! chain.push(Close::new(fd));
//!
//! let mut batch = chain.prepare(&Policy::default())?;
//! let done = batch.run();
//! assert!(done.stopped());
//! assert_eq!(done.atoms_run(), 1);
//! assert_eq!(done.outcome(fd), Some(Err(syslets::Errno::ENOENT)));
//! # Ok::<(), syslets::ValidationError>(())
//! ```
//!
//! Only x86_64 Linux is supported: the native syscall numbers and the kernel
//! structs of [`syslets_abi`] are those of x86_64.
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
compile_error!("syslets supports x86_64 Linux only");

mod chain;
mod completion;
mod encode;
mod errno;
mod error;
mod exec;
mod executor;
pub mod net;
pub mod opcode;
mod policy;
mod ring;
mod sys;
mod validate;
mod worker;
mod worker_step;

pub use chain::{AtomRef, BufRef, Chain, Mem, Out, SockAddr, SockAddrOut};
pub use completion::Completion;
pub use encode::EncodedBatch;
pub use errno::Errno;
pub use error::{ErrorKind, ValidationError};
pub use executor::{
    Backpressure, Canceled, CompletionFd, Done, Executor, ExecutorBuilder, ExecutorError,
    InlineCompletions, Shutdown, SubmitError, Submitted, Ticket,
};
pub use opcode::{Fd, Len, Stop};
pub use policy::Policy;
pub use syslets_abi as abi;
pub use syslets_abi::kernel::{Stat, Statx};
pub use validate::ValidatedBatch;

/// The 32-bit compat translator ([`syslets_compat`]).
pub use syslets_compat as compat;
