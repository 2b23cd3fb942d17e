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
//! # Threat model
//!
//! Batch bytes are untrusted; the process and its [`Policy`] are trusted.
//! Validation guarantees that only allowed calls (never one of the fixed
//! [`policy::DENYLIST`]) run, with every pointer inside memory the batch owns
//! and every argument rule of the policy (open flags, socket families, signal
//! targets, path confinement) met. Worker threads add a kernel-enforced
//! seccomp filter generated from the same policy ([`seccomp`]), so that a
//! validation bug still cannot reach a call outside the allowlist. Neither
//! covers path races, descriptors the process already has, resource
//! exhaustion, signals to our own threads, or code execution in the process:
//! the full account is in [`security`].
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
pub mod net;
pub mod opcode;
pub mod policy;
pub mod seccomp;
pub mod security;
mod sys;
mod validate;

pub use chain::{AtomRef, BufRef, Chain, Mem, Out, SockAddr, SockAddrOut};
pub use completion::Completion;
pub use encode::EncodedBatch;
pub use errno::Errno;
pub use error::{ErrorKind, ValidationError};
pub use opcode::{Fd, Len, Stop};
pub use policy::{OpenHow, Policy};
pub use seccomp::{install_filter, FilterError, FilterOptions, SeccompFilter};
pub use syslets_abi as abi;
pub use syslets_abi::kernel::{Stat, Statx};
pub use validate::ValidatedBatch;

/// The 32-bit compat translator ([`syslets_compat`]).
pub use syslets_compat as compat;
