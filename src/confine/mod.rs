//! Stage 3, confinement: what a batch may ask for ([`Policy`](crate::Policy)),
//! the check that holds an encoded batch to it
//! ([`ValidatedBatch`](crate::ValidatedBatch)), and the seccomp filter that holds
//! worker threads to the same rules.

pub mod policy;
pub mod seccomp;
pub mod security;
pub(crate) mod validate;
