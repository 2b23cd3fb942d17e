//! Arbitrary policies (narrowing steps) against arbitrary batch bytes (never run).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| syslets_fuzz::policy_check::check(data));
