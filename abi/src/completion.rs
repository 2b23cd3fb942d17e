//! Completions and the completion ring (the v7 `syslet_ring` protocol).

use core::mem::{align_of, offset_of, size_of};
use static_assertions::const_assert_eq;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::MAX_ATOMS;

/// The full outcome of one chain (544 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct Completion {
    /// The batch header's `caller_data`.
    pub caller_data: u64,
    /// Return value of the last atom that ran (`-errno` on failure).
    pub status: i64,
    /// Bit `i` is set when atom `i` ran.
    pub ran_mask: u64,
    /// Index of the last atom that ran.
    pub last_atom: u16,
    /// How many atoms ran.
    pub atoms_run: u16,
    /// Number of atoms in the batch.
    pub natoms: u16,
    /// `COMPLETION_*` flags.
    pub flags: u16,
    /// Return value of each atom; zero for atoms that did not run.
    pub results: [i64; MAX_ATOMS],
}

impl Default for Completion {
    fn default() -> Self {
        <Self as zerocopy::FromZeros>::new_zeroed()
    }
}

/// The head of a completion ring, shared between producer and consumer.
///
/// `kernel_head` is advanced by the producer after it wrote the entry (release);
/// `user_tail` is advanced by the consumer after it read one (release). Both count
/// up and wrap at `u32::MAX`; the slot is `index & (elements - 1)`.
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct RingHeader {
    /// Producer index.
    pub kernel_head: u32,
    /// Consumer index.
    pub user_tail: u32,
    /// Number of entries, a power of two.
    pub elements: u32,
    /// Identifies the waiters of this ring (v7: hashed to pick a wait queue).
    pub wait_group: u32,
}

/// One entry of a completion ring (32 bytes): the summary of a [`Completion`].
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct RingEntry {
    /// The ticket `submit` returned.
    pub ticket: u64,
    /// The batch header's `caller_data`.
    pub caller_data: u64,
    /// Return value of the last atom that ran.
    pub status: i64,
    /// Index of the last atom that ran.
    pub last_atom: u16,
    /// How many atoms ran.
    pub atoms_run: u16,
    /// `COMPLETION_*` flags.
    pub flags: u32,
}

const_assert_eq!(size_of::<Completion>(), crate::COMPLETION_SIZE);
const_assert_eq!(align_of::<Completion>(), 8);
const_assert_eq!(offset_of!(Completion, caller_data), 0);
const_assert_eq!(offset_of!(Completion, status), 8);
const_assert_eq!(offset_of!(Completion, ran_mask), 16);
const_assert_eq!(offset_of!(Completion, last_atom), 24);
const_assert_eq!(offset_of!(Completion, atoms_run), 26);
const_assert_eq!(offset_of!(Completion, natoms), 28);
const_assert_eq!(offset_of!(Completion, flags), 30);
const_assert_eq!(offset_of!(Completion, results), 32);

const_assert_eq!(size_of::<RingHeader>(), crate::RING_HEADER_SIZE);
const_assert_eq!(align_of::<RingHeader>(), 4);
const_assert_eq!(offset_of!(RingHeader, kernel_head), 0);
const_assert_eq!(offset_of!(RingHeader, user_tail), 4);
const_assert_eq!(offset_of!(RingHeader, elements), 8);
const_assert_eq!(offset_of!(RingHeader, wait_group), 12);

const_assert_eq!(size_of::<RingEntry>(), crate::RING_ENTRY_SIZE);
const_assert_eq!(align_of::<RingEntry>(), 8);
const_assert_eq!(offset_of!(RingEntry, ticket), 0);
const_assert_eq!(offset_of!(RingEntry, caller_data), 8);
const_assert_eq!(offset_of!(RingEntry, status), 16);
const_assert_eq!(offset_of!(RingEntry, last_atom), 24);
const_assert_eq!(offset_of!(RingEntry, atoms_run), 26);
const_assert_eq!(offset_of!(RingEntry, flags), 28);
