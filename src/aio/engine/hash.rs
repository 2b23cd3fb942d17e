//! The hasher of the request table's maps: its keys are small integers
//! (request ids, aiocb addresses, descriptors) that no adversary chooses, so
//! a multiplicative hash is enough and much cheaper than SipHash on the
//! per-request path.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A multiplicative hash for the small integer keys of the request table
/// (ids, addresses, descriptors): much cheaper than SipHash, and the keys
/// are not chosen by an adversary.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct FastHash(u64);

impl Hasher for FastHash {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }

    #[inline]
    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0.rotate_left(5) ^ x).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    #[inline]
    fn write_usize(&mut self, x: usize) {
        self.write_u64(x as u64);
    }

    #[inline]
    fn write_i32(&mut self, x: i32) {
        self.write_u64(x as u32 as u64);
    }
}

pub(super) type Map<K, V> = HashMap<K, V, BuildHasherDefault<FastHash>>;
