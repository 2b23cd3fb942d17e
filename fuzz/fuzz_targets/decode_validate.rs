//! Arbitrary bytes → `EncodedBatch::from_bytes` → `validate` (never run).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| syslets_fuzz::decode_validate::check(data));
