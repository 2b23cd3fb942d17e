//! Normalises syslets batches written by 32-bit (i386) producers into the native
//! ABI buffer. (Skeleton: the translator is built by its own issue.)
#![deny(unsafe_code)]
#![no_std]

pub use syslets_abi as abi;
