//! Linux syslets in userspace: linear chains of system calls ("atoms"), v6 style,
//! copied up front into one fixed-layout buffer, validated, and executed.
//!
//! A chain that opens a file, stats it through the descriptor the open returned,
//! and closes it — built, validated against a policy and run inline:
//!
//! ```
//! use syslets::{Chain, Policy, Stat, Stop, opcode::{Openat, Fstat, Close}};
//!
//! let file = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
//! let mut chain = Chain::new();
//! let path = chain.path(file);
//! let st = chain.output::<Stat>();
//! let fd = chain.push(Openat::new(libc::AT_FDCWD, path).stop_on(Stop::NEGATIVE));
//! chain.push(Fstat::new(fd, st));
//! chain.push(Close::new(fd));
//!
//! let mut batch = chain.prepare(&Policy::default())?;
//! let done = batch.run();
//! assert_eq!(done.atoms_run(), 3);
//! assert!(!done.stopped());
//! assert_eq!(batch.output(st).st_size as u64, std::fs::metadata(file)?.len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The same kind of chain on an [`Executor`]: inline while nothing blocks, on a
//! seccomp-filtered worker when something may, the completion then on a ring:
//!
//! ```
//! use syslets::{Chain, Executor, Policy, Stat, Submitted, opcode::{Openat, Fstat, Close}};
//!
//! let ex = Executor::new();
//! let mut chain = Chain::new();
//! let path = chain.path(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"));
//! let st = chain.output::<Stat>();
//! let fd = chain.push(Openat::new(libc::AT_FDCWD, path));
//! chain.push(Fstat::new(fd, st));
//! chain.push(Close::new(fd));
//!
//! let done = match ex.submit(chain.prepare(&Policy::default())?)? {
//!     Submitted::Done(done) => done,            // completed inline
//!     Submitted::Queued(_) => {                 // a worker took over
//!         ex.wait(1, None)?;
//!         ex.reap()?.pop().expect("one completion")
//!     }
//! };
//! assert_eq!(done.completion().atoms_run(), 3);
//! assert!(done.batch().output(st).st_size > 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The five types to know first: [`Chain`] (push atoms built with [`opcode`]),
//! [`Policy`] (what a batch may do), [`ValidatedBatch`] (a checked batch: run
//! it, read its outputs), [`Completion`] (every atom's result) and
//! [`Executor`] (asynchronous runs). A refused batch is a [`ValidationError`]
//! naming the atom and the reason. C programs get the same through
//! `libsyslets.so` (the repository's `syslets-capi` crate, `capi/`).
//!
//! # The pipeline
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
//! * [`Executor::submit`] runs a batch the syslet way (the rules are in
//!   [`executor`]): inline while nothing blocks, the rest of the chain on a
//!   cachemiss worker when an atom may block, completions posted to a ring
//!   (v7 protocol) read with
//!   [`Executor::reap`], [`Executor::wait`] or an eventfd
//!   ([`Executor::attach_eventfd`]).
//!
//! A failing atom stops the chain where its stop flag says, and the rest never runs:
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

/// Builder setters, all made the same way: `name(arg: Type) => field = value;`
/// becomes a `pub fn name(mut self, arg: Type) -> Self` that stores `value`
/// in `self.field` and returns the builder; doc comments go along.
macro_rules! setters {
    ($($(#[$meta:meta])* $name:ident($arg:ident: $ty:ty) => $($field:ident).+ = $value:expr;)*) => {
        $(
            $(#[$meta])*
            pub fn $name(mut self, $arg: $ty) -> Self {
                self.$($field).+ = $value;
                self
            }
        )*
    };
}

// The source in data-flow order; each stage imports only those above it.
// Shared by every stage: the handles a chain hands out, the error types,
// fault injection for tests.
mod errno;
mod error;
#[doc(hidden)]
pub mod fault;
mod handles;
// The kernel calls beside the atoms themselves (futex, eventfd, seccomp, …).
mod sys;

// 1. Typed builders and the chain they are pushed onto.
mod builder;

// 2. The encoded batch, its validated plan, its completion.
mod batch;

// 3. The policy, validation against it, the workers' seccomp filter.
mod confine;

// 4. Running a validated batch on the calling thread (inline, probes).
mod run;

// 5. The asynchronous executor: workers, the completion ring.
pub mod executor;

// 6. POSIX AIO on top of the executor.
pub mod aio;

// 7. The executor for tokio tasks (feature `tokio`), on the public API.
#[cfg(feature = "tokio")]
pub mod tokio;

pub use builder::{net, opcode};
pub use confine::{policy, seccomp, security};

pub use batch::completion::Completion;
pub use batch::encode::EncodedBatch;
pub use builder::chain::Chain;
pub use confine::validate::ValidatedBatch;
pub use errno::Errno;
pub use error::{ErrorKind, ValidationError};
#[doc(inline)]
pub use executor::{
    Backpressure, Canceled, CompletionFd, Done, Executor, ExecutorBuilder, ExecutorError,
    InlineCompletions, ShutdownMode, SubmitError, Submitted, Ticket,
};
pub use handles::{AtomRef, BufRef, Iovecs, Mem, Msghdr, Out, SockAddr, SockAddrOut};
pub use opcode::{ByteLen, Fd, Offset, Stop};

/// Former name of [`ByteLen`].
#[deprecated(note = "renamed `ByteLen`: `Len` is also the signature table's `abi::signature::Len`")]
pub type Len = ByteLen;

/// Former name of [`ShutdownMode`].
#[deprecated(
    note = "renamed `ShutdownMode`: `Shutdown` is also the shutdown(2) builder, `opcode::Shutdown`"
)]
pub type Shutdown = ShutdownMode;
pub use policy::{OpenHow, Policy};
pub use seccomp::{install_filter, FilterError, FilterOptions, SeccompFilter};
pub use syslets_abi as abi;
pub use syslets_abi::kernel::{Stat, Statx};

/// The 32-bit compat translator ([`syslets_compat`]): batches written by i386
/// producers are normalised into native ones before validation, and what the
/// native chain wrote is turned back into the i386 layout afterwards.
///
/// ```
/// use syslets::compat::{self, nr32, CompatArg::*, CompatAtom, CompatWriter, Stat64};
/// use syslets::{abi, EncodedBatch, Policy};
/// use zerocopy::FromBytes;
///
/// // What a 32-bit producer writes (in C: abi/include/syslet_compat.h):
/// // fd = openat(AT_FDCWD, "/proc/self/stat"); fstat64(fd, &st);
/// // _llseek(fd, 0, 2, &pos, SEEK_SET); read(fd, buf, 8); close(fd)
/// let mut w = CompatWriter::new();
/// let path = w.path(b"/proc/self/stat");
/// let st = w.zeroed(96, abi::BUF_OUT);
/// let pos = w.zeroed(8, abi::BUF_OUT);
/// let buf = w.zeroed(8, abi::BUF_OUT);
/// let at = |index| Buf { index, offset: 0 };
/// w.push(CompatAtom::new(nr32::OPENAT, &[Imm(-100i32 as u32), at(path), Imm(0), Imm(0)])
///     .with_flags(abi::STOP_ON_NEGATIVE));
/// w.push(CompatAtom::new(nr32::FSTAT64, &[Result(0), at(st)]));
/// w.push(CompatAtom::new(nr32::LLSEEK, &[Result(0), Imm(0), Imm(2), at(pos), Imm(0)]));
/// w.push(CompatAtom::new(nr32::READ, &[Result(0), at(buf), Imm(8)]));
/// w.push(CompatAtom::new(nr32::CLOSE, &[Result(0)]));
/// let mut bytes = w.finish();
///
/// // The 64-bit side: normalise, validate, run, write back.
/// let norm = compat::normalize(&bytes)?;
/// let mut batch = EncodedBatch::from_bytes(norm.native_bytes()).validate(&Policy::default())?;
/// let done = *batch.run().as_abi();
/// let seen = norm.write_back(batch.arena(), &done, &mut bytes)?;
///
/// // The producer reads what an i386 kernel would have written.
/// assert_eq!(&seen.results[1..5], &[0, 0, 8, 0], "fstat64, _llseek (0!), read, close");
/// let arena = &bytes[bytes.len() - (96 + 8 + 8 + 16)..];
/// let st = Stat64::read_from_bytes(&arena[16..112]).unwrap();
/// assert_eq!(st.st_mode & 0o170000, 0o100000, "a regular file");
/// assert_eq!(&arena[112..120], &2u64.to_le_bytes(), "the loff_t _llseek stored");
/// assert_eq!(&arena[120..128], &std::fs::read("/proc/self/stat")?[2..10]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub use syslets_compat as compat;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
