//! Arbitrary bytes through the 32-bit compat translator, then through the rest
//! of the pipeline's non-executing steps (nothing is ever run here).
//!
//! Invariants: `normalize` never panics; what it accepts is a well-formed
//! native batch (validation may still refuse it, but never panics), whose atom
//! count and arena size are what `Normalized` reports; `write_back` of buffers
//! of the sizes it reported never fails and never panics, whatever the
//! completion says (the kernel's results are untrusted input too).

use syslets::abi::Completion;
use syslets::{compat, EncodedBatch};

/// The whole check for one input.
pub fn check(data: &[u8]) {
    let Ok(norm) = compat::normalize(data) else {
        return;
    };
    let native = norm.native_bytes();
    if let Ok(batch) =
        EncodedBatch::from_bytes(native).validate(&crate::decode_validate::fuzz_policy())
    {
        assert_eq!(batch.arena().len(), norm.native_arena_len(), "arena size");
        assert_eq!(batch.len(), norm.natoms(), "atom count");
    }
    // Results and output buffers derived from the input: arbitrary but
    // deterministic, like a kernel we do not trust.
    let seed = data
        .iter()
        .fold(0x9e37_79b9_u64, |h, &b| h.rotate_left(5) ^ b as u64);
    let arena: Vec<u8> = (0..norm.native_arena_len())
        .map(|i| (seed.wrapping_mul(i as u64 + 1) >> 7) as u8)
        .collect();
    let mut done = Completion {
        natoms: norm.natoms() as u16,
        ran_mask: seed,
        atoms_run: (seed % 70) as u16,
        last_atom: (seed % 67) as u16,
        status: seed as i64,
        ..Default::default()
    };
    for (i, r) in done.results.iter_mut().enumerate() {
        *r = seed.rotate_left(i as u32) as i64;
    }
    let mut compat_copy = data.to_vec();
    norm.write_back(&arena, &done, &mut compat_copy)
        .expect("write-back into the buffers normalize measured");
    assert_eq!(
        compat_copy.len(),
        data.len(),
        "write-back never resizes the producer's buffer"
    );
}
