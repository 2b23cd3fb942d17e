//! Fuzzing harnesses for `syslets`, shared by the cargo-fuzz targets in
//! `fuzz_targets/` (each target is a few lines that call into this crate) and
//! by the seed generator in `examples/gen_seeds.rs`.
//!
//! * [`decode_validate`]: arbitrary bytes through decode and validation, with
//!   an independent oracle for everything a validated batch exposes.
//! * [`chain_exec`]: structure-aware random chains run on a scratch directory,
//!   checked against a model of the executor.
//! * [`compat_normalize`]: arbitrary bytes through the 32-bit translator and
//!   the non-executing rest of the pipeline.
//! * [`policy_check`]: arbitrary narrowing of policies against arbitrary
//!   batches: narrowing never accepts more.
//!
//! A new target is one module here (or a function in an existing one), one
//! file in `fuzz_targets/` and one `[[bin]]` entry in `Cargo.toml`.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod chain_exec;
pub mod compat_normalize;
pub mod decode_validate;
pub mod fds;
pub mod policy_check;
pub mod scratch;

/// Held by the unit tests: `chain_exec` compares snapshots of the process's
/// descriptors, which a test running beside it (reading seed files) would
/// change.
#[cfg(test)]
pub(crate) static TEST_FDS: std::sync::Mutex<()> = std::sync::Mutex::new(());
