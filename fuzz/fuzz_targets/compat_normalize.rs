//! Arbitrary bytes → `compat::normalize` → validate / `write_back` (never run).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| syslets_fuzz::compat_normalize::check(data));
