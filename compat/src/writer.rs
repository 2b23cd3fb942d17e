//! [`CompatWriter`]: writes compat batches from Rust — what a Rust producer built
//! for i386 would use, and what the tests use to make compat buffers.

use alloc::vec::Vec;

use syslets_abi::{self as abi, BatchHeader, BufDesc};
use zerocopy::IntoBytes;

use crate::layout::{compat_atoms_len, compat_buf_arg, CompatAtom, SocketcallArg, COMPAT_MAGIC};

/// One argument of a [`CompatAtom`] built with [`CompatAtom::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompatArg {
    /// An immediate 32-bit value.
    Imm(u32),
    /// The result of earlier atom `i`.
    Result(u16),
    /// Byte `offset` of buffer `index`.
    Buf {
        /// Buffer index.
        index: u16,
        /// Offset within the buffer.
        offset: u32,
    },
}

impl CompatArg {
    /// `(kind, word)` as stored in an atom or a socketcall array entry.
    ///
    /// # Panics
    ///
    /// If a `Buf` cannot be encoded in 32 bits (index ≥ 256 or offset ≥ 16 MiB).
    pub fn encode(self) -> (u8, u32) {
        match self {
            CompatArg::Imm(v) => (abi::ARG_IMM, v),
            CompatArg::Result(i) => (abi::ARG_RESULT, i as u32),
            CompatArg::Buf { index, offset } => (
                abi::ARG_BUF,
                compat_buf_arg(index, offset).expect("buffer index or offset too large"),
            ),
        }
    }
}

impl CompatArg {
    /// The bytes of a `socketcall` argument array holding `args`: one
    /// [`SocketcallArg`] per argument.
    ///
    /// # Panics
    ///
    /// As [`encode`](Self::encode).
    pub fn socketcall_array(args: &[CompatArg]) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(args.len() * core::mem::size_of::<SocketcallArg>());
        for a in args {
            let (kind, value) = a.encode();
            let entry = SocketcallArg {
                kind: kind as u32,
                value,
            };
            bytes.extend_from_slice(entry.as_bytes());
        }
        bytes
    }
}

impl CompatAtom {
    /// An atom calling i386 syscall `nr` with `args` (at most six), no flags.
    ///
    /// # Panics
    ///
    /// With more than six arguments.
    pub fn new(nr: u32, args: &[CompatArg]) -> Self {
        assert!(args.len() <= abi::MAX_ARGS, "at most six arguments");
        let mut atom = CompatAtom {
            nr,
            nargs: args.len() as u16,
            ..Default::default()
        };
        for (i, a) in args.iter().enumerate() {
            (atom.arg_kind[i], atom.arg[i]) = a.encode();
        }
        atom
    }

    /// The same atom with these atom flags.
    pub const fn with_flags(mut self, flags: u32) -> Self {
        self.flags = flags;
        self
    }

    /// The same atom with this caller cookie.
    pub const fn with_private(mut self, private: u32) -> Self {
        self.private = private;
        self
    }
}

/// Collects atoms and buffers and writes one compat batch,
/// `header | atoms (padded to 8) | bufs | arena`.
///
/// Buffers are laid out like the main crate's native `Chain` lays them out: in
/// order, each starting on an 8-byte boundary of the arena.
#[derive(Clone, Debug, Default)]
pub struct CompatWriter {
    atoms: Vec<CompatAtom>,
    bufs: Vec<BufDesc>,
    arena: Vec<u8>,
    flags: u16,
    caller_data: u64,
}

impl CompatWriter {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add an `IN` buffer holding the `socketcall` argument array of `args`;
    /// returns its index.
    pub fn socketcall_args(&mut self, args: &[CompatArg]) -> u16 {
        self.buffer(&CompatArg::socketcall_array(args), abi::BUF_IN)
    }

    /// Add a buffer holding `bytes`, with `BUF_IN`/`BUF_OUT` `flags`; returns its index.
    pub fn buffer(&mut self, bytes: &[u8], flags: u32) -> u16 {
        let index = self.bufs.len() as u16;
        self.bufs.push(BufDesc {
            offset: self.arena.len() as u32,
            len: bytes.len() as u32,
            flags,
            reserved: 0,
        });
        self.arena.extend_from_slice(bytes);
        let padded = self.arena.len().next_multiple_of(abi::BATCH_ALIGN);
        self.arena.resize(padded, 0);
        index
    }

    /// Add a zeroed buffer of `len` bytes; returns its index.
    pub fn zeroed(&mut self, len: usize, flags: u32) -> u16 {
        let index = self.buffer(&[], flags);
        self.bufs[index as usize].len = len as u32;
        self.arena
            .resize((self.arena.len() + len).next_multiple_of(8), 0);
        index
    }

    /// Add a NUL-terminated path (an `IN` buffer); returns its index.
    pub fn path(&mut self, path: &[u8]) -> u16 {
        let mut bytes = Vec::with_capacity(path.len() + 1);
        bytes.extend_from_slice(path);
        bytes.push(0);
        self.buffer(&bytes, abi::BUF_IN)
    }

    /// Append an atom; returns its index.
    pub fn push(&mut self, atom: CompatAtom) -> u16 {
        self.atoms.push(atom);
        self.atoms.len() as u16 - 1
    }

    /// Set the batch flags.
    pub fn set_flags(&mut self, flags: u16) -> &mut Self {
        self.flags = flags;
        self
    }

    /// Set the caller data echoed in the completion.
    pub fn set_caller_data(&mut self, data: u64) -> &mut Self {
        self.caller_data = data;
        self
    }

    /// The compat batch bytes.
    pub fn finish(&self) -> Vec<u8> {
        let header = BatchHeader {
            magic: COMPAT_MAGIC,
            version: abi::VERSION,
            natoms: self.atoms.len() as u16,
            nbufs: self.bufs.len() as u16,
            flags: self.flags,
            arena_len: self.arena.len() as u32,
            caller_data: self.caller_data,
            reserved: 0,
        };
        let mut out = Vec::new();
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(self.atoms.as_bytes());
        out.resize(abi::HEADER_SIZE + compat_atoms_len(self.atoms.len()), 0);
        out.extend_from_slice(self.bufs.as_bytes());
        out.extend_from_slice(&self.arena);
        out
    }
}
