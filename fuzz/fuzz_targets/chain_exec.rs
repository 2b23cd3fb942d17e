//! Structure-aware random chains, run on a scratch directory and checked.
#![no_main]

use syslets_fuzz::chain_exec::{check, ChainSpec};

libfuzzer_sys::fuzz_target!(|spec: ChainSpec| check(&spec));
