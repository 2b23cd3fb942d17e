//! [`Policy`]: which system calls a batch may run.

use syslets_abi::signature::{self, Signature};

use crate::error::ErrorKind;
use crate::validate::Src;

/// A set of native syscall numbers (all x86_64 numbers are below 512).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct NrSet([u64; 8]);

impl NrSet {
    pub(crate) fn insert(&mut self, nr: u32) {
        if nr < 512 {
            self.0[nr as usize / 64] |= 1 << (nr % 64);
        }
    }

    pub(crate) fn remove(&mut self, nr: u32) {
        if nr < 512 {
            self.0[nr as usize / 64] &= !(1 << (nr % 64));
        }
    }

    pub(crate) fn contains(&self, nr: u32) -> bool {
        nr < 512 && self.0[nr as usize / 64] & (1 << (nr % 64)) != 0
    }
}

/// Which system calls a batch may run.
///
/// The default allows every call of the signature table
/// ([`syslets_abi::signature::SIGNATURES`]): file, directory, socket and
/// signalling calls. No policy can allow a call outside that table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    allowed: NrSet,
}

impl Default for Policy {
    fn default() -> Self {
        let mut allowed = NrSet::default();
        for sig in signature::SIGNATURES {
            allowed.insert(sig.nr);
        }
        Policy { allowed }
    }
}

impl Policy {
    /// A policy that allows nothing; add calls with [`allow`](Self::allow).
    pub fn empty() -> Self {
        Policy {
            allowed: NrSet::default(),
        }
    }

    /// Also allow the call with this native number (ignored when the signature
    /// table does not know it).
    pub fn allow(mut self, nr: u32) -> Self {
        if signature::lookup(nr).is_some() {
            self.allowed.insert(nr);
        }
        self
    }

    /// No longer allow the call with this native number.
    pub fn deny(mut self, nr: u32) -> Self {
        self.allowed.remove(nr);
        self
    }

    /// Whether the call with this native number is allowed.
    pub fn allows(&self, nr: u32) -> bool {
        self.allowed.contains(nr)
    }

    /// The signatures of every allowed call.
    pub fn allowed(&self) -> impl Iterator<Item = &'static Signature> + '_ {
        signature::SIGNATURES.iter().filter(|s| self.allows(s.nr))
    }

    /// Argument rules beyond the syscall number, applied to each atom after its
    /// arguments were decoded (`arena` is the batch's arena, for paths).
    pub(crate) fn check_atom(
        &self,
        _sig: &Signature,
        _args: &[Src],
        _arena: &[u8],
    ) -> Result<(), ErrorKind> {
        Ok(())
    }
}
