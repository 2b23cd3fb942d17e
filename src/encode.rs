//! [`EncodedBatch`]: one ABI buffer, `header | atoms | bufs | arena`, owned and
//! 8-byte aligned — the copy made up front.

use std::marker::PhantomData;

use syslets_abi as abi;
use zerocopy::{FromBytes, IntoBytes};

use crate::completion::Completion;

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

/// Words a [`Completion`] takes at the end of a validated batch's storage.
pub(crate) const COMPLETION_WORDS: usize = abi::COMPLETION_SIZE / 8;

impl AlignedBuf {
    /// `len` zero bytes, with room reserved for the completion.
    pub(crate) fn zeroed(len: usize) -> Self {
        let mut words = Vec::with_capacity(len.div_ceil(8) + COMPLETION_WORDS);
        words.resize(len.div_ceil(8), 0);
        AlignedBuf { words, len }
    }

    /// The concatenation of `parts` (each a multiple of 8 bytes long), with
    /// room reserved for the completion: written once, never zeroed first.
    fn concat(parts: &[&[u8]]) -> Self {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let mut words = Vec::with_capacity(len / 8 + COMPLETION_WORDS);
        for part in parts {
            debug_assert_eq!(part.len() % 8, 0);
            let chunks = part.chunks_exact(8);
            words.extend(chunks.map(|w| u64::from_ne_bytes(w.try_into().expect("8 bytes"))));
        }
        AlignedBuf { words, len }
    }

    /// Append a zeroed completion after the batch bytes; returns its word index.
    pub(crate) fn add_completion(&mut self) -> usize {
        let at = self.words.len();
        self.words.resize(at + COMPLETION_WORDS, 0);
        at
    }

    /// The completion at word `at` (see [`AlignedBuf::add_completion`]).
    pub(crate) fn completion(&self, at: usize) -> &Completion {
        Completion::ref_from_bytes(self.words[at..at + COMPLETION_WORDS].as_bytes())
            .expect("8-byte aligned, exact size")
    }

    /// The completion at word `at`, mutably.
    pub(crate) fn completion_mut(&mut self, at: usize) -> &mut Completion {
        Completion::mut_from_bytes(self.words[at..at + COMPLETION_WORDS].as_mut_bytes())
            .expect("8-byte aligned, exact size")
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
///
/// Not `Clone`: a batch with raw regions borrows memory mutably, and two
/// copies run on two threads would write it at once.
#[derive(Debug)]
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
        // Every section is a multiple of 8 bytes (the builders pad the arena).
        let storage = AlignedBuf::concat(&[
            header.as_bytes(),
            chain.atoms.as_bytes(),
            chain.bufs.as_bytes(),
            &chain.arena,
        ]);
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
