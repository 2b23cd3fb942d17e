//! [`EncodedBatch`]: one ABI buffer, `header | atoms | bufs | arena`, owned and
//! 8-byte aligned — the copy made up front.

use std::marker::PhantomData;

use syslets_abi as abi;
use zerocopy::IntoBytes;

use crate::batch::completion::Completion;

use crate::builder::chain::{Chain, RawRegion};
use crate::error::{ErrorKind, ValidationError};

/// Owned bytes whose start is 8-byte aligned, so the ABI structs can be viewed
/// in place with zerocopy, behind room for the [`Completion`] of their run.
///
/// Layout: `completion | header | atoms | bufs | arena`. The completion (whose
/// results [`ValidatedBatch::take_fds`](crate::ValidatedBatch::take_fds) trusts) and the atoms (which
/// validation replaces by the plan the executor follows) lie *before* the
/// arena. Every pointer the kernel gets points into the arena (never before
/// its start) and the kernel only writes forward from a pointer, so even a
/// write that ran past the buffer it was given could only reach the end of
/// the allocation, never the completion or the plan.
#[derive(Clone, Debug)]
pub(crate) struct AlignedBuf {
    pub(crate) words: Vec<u64>,
    len: usize,
}

/// Words the [`Completion`] takes at the start of a batch's storage.
pub(crate) const COMPLETION_WORDS: usize = abi::COMPLETION_SIZE / 8;
/// Byte offset of the batch bytes in the storage.
const BATCH_START: usize = abi::COMPLETION_SIZE;
/// Word index of the first batch word in the storage.
pub(crate) const BATCH_WORDS_START: usize = COMPLETION_WORDS;

impl AlignedBuf {
    /// A zeroed completion, then `len` zero bytes.
    pub(crate) fn zeroed(len: usize) -> Self {
        // Not `vec![0; n]`: glibc's calloc bypasses the thread cache and
        // costs several times a malloc and a memset.
        #[allow(clippy::slow_vector_initialization)]
        let mut words = Vec::with_capacity(COMPLETION_WORDS + len.div_ceil(8));
        words.resize(COMPLETION_WORDS + len.div_ceil(8), 0u64);
        AlignedBuf { words, len }
    }

    /// A zeroed completion, then the concatenation of `parts` (each a multiple
    /// of 8 bytes long), in one allocation: one zero-fill and one copy per
    /// part.
    fn concat_with_completion(parts: &[&[u8]]) -> Self {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        debug_assert_eq!(len % 8, 0);
        let mut buf = AlignedBuf::zeroed(len);
        let mut at = 0;
        let bytes = buf.bytes_mut();
        for part in parts {
            bytes[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        buf
    }

    /// The completion, at the start of the storage.
    #[inline]
    pub(crate) fn completion(&self) -> &Completion {
        let words: &[u64; COMPLETION_WORDS] = self.words[..COMPLETION_WORDS]
            .try_into()
            .expect("exact size");
        zerocopy::transmute_ref!(words)
    }

    /// The completion, mutably.
    #[inline]
    pub(crate) fn completion_mut(&mut self) -> &mut Completion {
        let words: &mut [u64; COMPLETION_WORDS] = (&mut self.words[..COMPLETION_WORDS])
            .try_into()
            .expect("exact size");
        zerocopy::transmute_mut!(words)
    }

    /// The batch bytes (without the completion).
    #[inline]
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.words.as_bytes()[BATCH_START..][..self.len]
    }

    #[inline]
    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.words.as_mut_bytes()[BATCH_START..][..self.len]
    }
}

impl Default for AlignedBuf {
    fn default() -> Self {
        AlignedBuf::zeroed(0)
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
    /// Encode `chain`. Inlined, so that the caller's `Chain` (which holds its
    /// first atoms and buffers in place, hundreds of bytes) is read where it
    /// lies instead of being copied into an argument first.
    #[inline]
    pub(crate) fn from_chain(chain: Chain<'a>) -> Result<Self, ValidationError> {
        let storage = Self::encode_parts(&chain)?;
        Ok(EncodedBatch {
            storage,
            raw_allowed: true,
            raw: chain.raw,
            _borrows: PhantomData,
        })
    }

    fn encode_parts(chain: &Chain<'a>) -> Result<AlignedBuf, ValidationError> {
        if let Some(e) = &chain.error {
            return Err(e.clone());
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
        Ok(AlignedBuf::concat_with_completion(&[
            header.as_bytes(),
            chain.atoms.as_bytes(),
            chain.bufs.as_bytes(),
            &chain.arena,
        ]))
    }

    /// The ABI bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.storage.bytes()
    }
}

impl<'a> Chain<'a> {
    /// Copy the whole chain into one ABI buffer.
    #[inline]
    pub fn encode(self) -> Result<EncodedBatch<'a>, ValidationError> {
        EncodedBatch::from_chain(self)
    }
}
