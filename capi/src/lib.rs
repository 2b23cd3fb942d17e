//! `libsyslets.so`: the C library of syslets.
//!
//! * The chain API (always): a C program lays out a batch per
//!   `abi/include/syslet.h` (or, built `-m32`, per `syslet_compat.h`),
//!   validates it against a policy with `syslet_validate` (or
//!   `syslet_validate_compat32`), and runs it inline with `syslet_run` or on an
//!   executor (`syslet_executor_new/submit/wait/reap/eventfd/free`). The
//!   functions are declared in `capi/include/syslets.h`, which documents each.
//! * The LD_PRELOAD-able POSIX AIO (feature `aio-preload` only): glibc's
//!   `aio_*`/`lio_listio` and `sysconf` with C linkage (module `aio`).
//!
//! No function unwinds into C: a panic inside is `SYSLET_E_PANIC` (for the
//! AIO functions, the errno glibc gives a call it cannot serve).
//!
//! Build with `cargo build --release -p syslets-capi` (add
//! `--features aio-preload` for the AIO interposition); install with
//! `make -C capi install PREFIX=…`.
// The whole crate is the boundary to C: raw pointers from the caller.
#![allow(unsafe_code)]

#[cfg(feature = "aio-preload")]
pub mod aio;
mod chain;
mod error;
mod executor;
mod unwind;

pub use chain::*;
pub use error::*;
pub use executor::*;
