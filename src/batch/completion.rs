//! [`Completion`]: the outcome of one run of a chain, as the Rust API reads it.

use syslets_abi as abi;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::errno::Errno;
use crate::handles::AtomRef;

/// The outcome of one run of a chain: each atom's return value, which atoms ran,
/// the index of the last one and its status.
///
/// A typed view of [`abi::Completion`], the fixed-layout record the kernel
/// side writes and a ring, a C consumer or a 32-bit producer reads (the same
/// bytes: [`as_abi`](Self::as_abi)). This one is read by [`AtomRef`], with
/// failures as [`Errno`]s.
#[repr(transparent)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct Completion(pub(crate) abi::Completion);

impl Completion {
    /// The ABI form (what a ring or a C consumer sees).
    pub fn as_abi(&self) -> &abi::Completion {
        &self.0
    }

    /// The batch's caller data.
    pub fn caller_data(&self) -> u64 {
        self.0.caller_data
    }

    /// Return value of the last atom that ran.
    pub fn status(&self) -> i64 {
        self.0.status
    }

    /// Index of the last atom that ran.
    pub fn last_atom(&self) -> usize {
        self.0.last_atom as usize
    }

    /// How many atoms ran.
    pub fn atoms_run(&self) -> usize {
        self.0.atoms_run as usize
    }

    /// Whether the chain ended on a stop condition.
    pub fn stopped(&self) -> bool {
        self.0.flags & abi::COMPLETION_STOPPED != 0
    }

    /// Whether the chain was cancelled.
    pub fn canceled(&self) -> bool {
        self.0.flags & abi::COMPLETION_CANCELED != 0
    }

    /// Whether `atom` ran.
    pub fn ran(&self, atom: AtomRef) -> bool {
        atom.index() < abi::MAX_ATOMS && self.0.ran_mask & (1 << atom.index()) != 0
    }

    /// The raw return value of `atom`, if it ran.
    pub fn result(&self, atom: AtomRef) -> Option<i64> {
        self.ran(atom).then(|| self.0.results[atom.index()])
    }

    /// The return value of `atom` split into value or [`Errno`]; `None` if it did
    /// not run.
    pub fn outcome(&self, atom: AtomRef) -> Option<Result<i64, Errno>> {
        self.result(atom).map(Errno::result)
    }

    /// Each atom's raw return value (zero for atoms that did not run).
    pub fn results(&self) -> &[i64] {
        &self.0.results[..self.0.natoms as usize]
    }
}
