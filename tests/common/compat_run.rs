//! Run a compat batch the way a 64-bit host does for a 32-bit producer.
#![allow(dead_code)] // each test binary uses its own subset

use syslets::abi;
use syslets::compat::{self, CompatWriter};
use syslets::{EncodedBatch, Policy, ValidatedBatch};

/// Normalise `w`'s batch, validate it under the default policy, run it and
/// write the results back into the compat bytes; returns the native batch
/// (its arena and descriptors hold what the kernel wrote), the compat bytes
/// and the producer's completion.
pub fn run_compat(w: &CompatWriter) -> (ValidatedBatch<'static>, Vec<u8>, abi::Completion) {
    run_compat_with(w, &Policy::default())
}

/// [`run_compat`] under `policy`.
pub fn run_compat_with(
    w: &CompatWriter,
    policy: &Policy,
) -> (ValidatedBatch<'static>, Vec<u8>, abi::Completion) {
    let mut bytes = w.finish();
    let norm = compat::normalize(&bytes).expect("normalises");
    let mut batch = EncodedBatch::from_bytes(norm.native_bytes())
        .validate(policy)
        .expect("the translated batch validates");
    let done = *batch.run().as_abi();
    let producer = norm
        .write_back(batch.arena(), &done, &mut bytes)
        .expect("write-back");
    (batch, bytes, producer)
}

/// The bytes of native buffer `index` of a batch `run_compat` ran.
pub fn native_buffer(batch: &ValidatedBatch<'_>, index: u16) -> Vec<u8> {
    batch.buffer(index).expect("a buffer of the batch").to_vec()
}
