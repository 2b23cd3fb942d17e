//! [`EncodedBatch`]: one ABI buffer, `header | atoms | bufs | arena`, owned and
//! 8-byte aligned — the copy made up front.

use std::marker::PhantomData;

use syslets_abi as abi;
use zerocopy::IntoBytes;

use crate::chain::{Chain, RawRegion};
use crate::error::{ErrorKind, ValidationError};
use crate::policy::Policy;
use crate::validate::ValidatedBatch;

/// Owned bytes whose start is 8-byte aligned, so the ABI structs can be viewed
/// in place with zerocopy.
#[derive(Clone, Debug, Default)]
pub(crate) struct AlignedBuf {
    words: Vec<u64>,
    len: usize,
}

impl AlignedBuf {
    pub(crate) fn zeroed(len: usize) -> Self {
        AlignedBuf {
            words: vec![0; len.div_ceil(8)],
            len,
        }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.words.as_bytes()[..self.len]
    }

    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.words.as_mut_bytes()[..self.len]
    }
}

/// A batch as one ABI buffer, not yet validated.
///
/// Made by [`Chain::encode`] (in-process: may carry raw pointers, whose lengths it
/// remembers beside the bytes) or by [`EncodedBatch::from_bytes`] (foreign bytes:
/// a raw pointer is refused).
#[derive(Clone, Debug)]
pub struct EncodedBatch<'a> {
    pub(crate) storage: AlignedBuf,
    pub(crate) raw: Vec<RawRegion>,
    pub(crate) raw_allowed: bool,
    _borrows: PhantomData<&'a mut [u8]>,
}

/// Byte size of a batch with these counts.
pub(crate) fn batch_size(natoms: usize, nbufs: usize, arena_len: usize) -> usize {
    abi::HEADER_SIZE + natoms * abi::ATOM_SIZE + nbufs * abi::BUFDESC_SIZE + arena_len
}

impl EncodedBatch<'static> {
    /// Copy a batch written elsewhere (by C code, another process, the compat
    /// translator). Nothing is checked until [`validate`](Self::validate).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut storage = AlignedBuf::zeroed(bytes.len());
        storage.bytes_mut().copy_from_slice(bytes);
        EncodedBatch {
            storage,
            raw: Vec::new(),
            raw_allowed: false,
            _borrows: PhantomData,
        }
    }
}

impl<'a> EncodedBatch<'a> {
    pub(crate) fn from_chain(chain: Chain<'a>) -> Result<Self, ValidationError> {
        if let Some(e) = chain.error {
            return Err(e);
        }
        if chain.atoms.len() > abi::MAX_ATOMS {
            return Err(ValidationError::batch(ErrorKind::TooManyAtoms(
                chain.atoms.len(),
            )));
        }
        let header = abi::BatchHeader {
            magic: abi::MAGIC,
            version: abi::VERSION,
            natoms: chain.atoms.len() as u16,
            nbufs: chain.bufs.len() as u16,
            flags: chain.flags,
            arena_len: chain.arena.len() as u32,
            caller_data: chain.caller_data,
            reserved: 0,
        };
        let atoms = chain.atoms.as_bytes();
        let bufs = chain.bufs.as_bytes();
        let mut storage = AlignedBuf::zeroed(batch_size(
            chain.atoms.len(),
            chain.bufs.len(),
            chain.arena.len(),
        ));
        let out = storage.bytes_mut();
        let (h, rest) = out.split_at_mut(abi::HEADER_SIZE);
        h.copy_from_slice(header.as_bytes());
        let (a, rest) = rest.split_at_mut(atoms.len());
        a.copy_from_slice(atoms);
        let (b, arena) = rest.split_at_mut(bufs.len());
        b.copy_from_slice(bufs);
        arena.copy_from_slice(&chain.arena);
        Ok(EncodedBatch {
            storage,
            raw_allowed: true,
            raw: chain.raw,
            _borrows: PhantomData,
        })
    }

    /// The ABI bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.storage.bytes()
    }

    /// Check every atom, argument, pointer and length against `policy`; nothing
    /// runs unless all of it is valid.
    pub fn validate(self, policy: &Policy) -> Result<ValidatedBatch<'a>, ValidationError> {
        crate::validate::validate(self, policy)
    }
}
