//! The plan a validated batch runs: each atom decoded into a [`Step`] whose
//! argument values say where they come from ([`Src`]), the run-time checks
//! ([`Check`]), and the buffer table validation and the policy consult
//! ([`BufTable`]).

use syslets_abi::signature::{self, Signature};
use syslets_abi::{self as abi, BufDesc};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::batch::encode::BATCH_WORDS_START;
use crate::builder::opcode::Stop;

/// Where an argument's value comes from at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Src {
    /// The value itself.
    Imm(u64),
    /// The result of an earlier atom.
    Result(u8),
    /// A pointer to this byte offset of the arena.
    Arena(u32),
    /// A raw pointer, length-checked against its region.
    Raw(u64),
}

/// A check that can only be made just before an atom runs, because an earlier
/// atom may have changed what it looks at. When it fails the atom is not issued
/// and returns `-EFAULT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Check {
    /// Argument `len_arg` (from a RESULT) must not exceed `avail`.
    LenArg { len_arg: u8, avail: u64 },
    /// The string at arena offset `at` must hold a NUL within `avail` bytes.
    CStr { at: u32, avail: u32 },
    /// The `socklen_t` at arena offset `at` must not exceed `avail`.
    LenAt { at: u32, avail: u32 },
    /// Argument `arg`, a thread-group id the policy fixed to the validating
    /// process ([`ArgRule::OwnProcess`](signature::ArgRule::OwnProcess)), must
    /// still be this process: a batch validated before a `fork()` and run in
    /// the child would signal the parent (`-ESRCH` instead).
    OwnProcess { arg: u8 },
    /// Argument `arg` is an iovec array: the kernel gets
    /// `iovecs[first..][..count]` of the batch (validated elements, arena
    /// offsets made pointers just before the call), never the arena's copy.
    /// Never fails.
    Iovecs { arg: u8, first: u32, count: u16 },
    /// Argument `arg` is a msghdr: the kernel gets `msgs_live[msg]` of the
    /// batch, made from the validated `msgs[msg]` just before the call (its
    /// iovec array a private copy, like [`Check::Iovecs`]), never the
    /// arena's copy. Never fails.
    Msghdr { arg: u8, msg: u16 },
}

/// One atom, decoded and checked, ready to run. 64 bytes, kept in the
/// batch's own storage over the 80 bytes of the atom it was decoded from
/// (nothing reads an atom again once it is validated): the plan costs no
/// allocation.
#[repr(C)]
#[derive(Clone, Copy, Debug, FromBytes, IntoBytes, Immutable, KnownLayout)]
pub(crate) struct Step {
    /// The argument values as the kernel gets them (unused ones zero), except
    /// the arguments of `arena_args`, which hold an arena offset the arena's
    /// address is added to, and those of `result_args`, which hold the index
    /// of the atom whose result they take.
    pub vals: [u64; abi::MAX_ARGS],
    pub nr: u32,
    /// `STOP_ON_*` bits.
    pub stop: u32,
    /// Bit `a`: argument `a` is an arena offset.
    pub arena_args: u8,
    /// Bit `a`: argument `a` is the result of atom `vals[a]`.
    pub result_args: u8,
    /// `SKIP_TO_NEXT_ON_STOP`, as 0 or 1.
    pub skip: u8,
    /// Normal-flow successor (already resolved from the NEXT field).
    pub next: u8,
    /// This atom's run-time checks are `checks[first_check..][..nchecks]` of
    /// the batch (most atoms have none).
    pub first_check: u16,
    pub nchecks: u8,
    /// 1: issue through the kernel's i386 entry ([`crate::sys::compat32`]):
    /// a call whose outcome depends on the calling ABI, in a
    /// [`abi::BATCH_COMPAT32`] batch.
    pub compat_entry: u8,
}

/// Words of a [`Step`].
pub(crate) const STEP_WORDS: usize = size_of::<Step>() / 8;
/// Words between two steps: the size of the atom each one replaces.
pub(crate) const ATOM_WORDS: usize = abi::ATOM_SIZE / 8;
static_assertions::const_assert!(size_of::<Step>() <= abi::ATOM_SIZE);
static_assertions::const_assert_eq!(size_of::<Step>() % 8, 0);
static_assertions::const_assert_eq!(abi::HEADER_SIZE % 8, 0);
static_assertions::const_assert_eq!(abi::ATOM_SIZE % 8, 0);

impl Step {
    /// The signature of this (validated) atom's syscall.
    pub(crate) fn sig(&self) -> &'static Signature {
        signature::lookup(self.nr).expect("validated atoms are in the table")
    }

    /// The stop conditions.
    pub(crate) fn stop(&self) -> Stop {
        Stop::from_bits(self.stop)
    }
}

/// Word index in the storage of the step of atom `i` (where the atom was).
pub(crate) const fn step_at(i: usize) -> usize {
    BATCH_WORDS_START + abi::HEADER_SIZE / 8 + i * ATOM_WORDS
}

/// The batch's buffer descriptors, with what validation needs to know about
/// their overlaps.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BufTable<'a> {
    pub descs: &'a [BufDesc],
    /// Sorted by offset and pairwise disjoint (every batch the builders make):
    /// lookups by range are then a binary search instead of a scan.
    pub disjoint: bool,
}

impl<'a> BufTable<'a> {
    pub(crate) fn new(descs: &'a [BufDesc]) -> Self {
        let disjoint = descs
            .windows(2)
            .all(|w| w[0].offset as u64 + w[0].len as u64 <= w[1].offset as u64);
        BufTable { descs, disjoint }
    }

    /// Whether a buffer the kernel may write (`OUT`) overlaps arena bytes
    /// `start..end`: an earlier atom could then change them after validation.
    pub(crate) fn written(&self, start: u64, end: u64) -> bool {
        self.first_writer(start, end).is_some()
    }

    /// The first buffer the kernel may write (`OUT`) that overlaps arena bytes
    /// `start..end`, if any.
    #[inline]
    pub(crate) fn first_writer(&self, start: u64, end: u64) -> Option<u16> {
        self.first_writer_except(start, end, None)
    }

    /// [`first_writer`](Self::first_writer), leaving buffer `except` out.
    pub(crate) fn first_writer_except(
        &self,
        start: u64,
        end: u64,
        except: Option<u16>,
    ) -> Option<u16> {
        let out_overlaps = |k: usize, d: &BufDesc| {
            except != Some(k as u16)
                && d.flags & abi::BUF_OUT != 0
                && d.len > 0
                && (d.offset as u64) < end
                && start < d.offset as u64 + d.len as u64
        };
        if !self.disjoint {
            let mut descs = self.descs.iter().enumerate();
            return descs
                .position(|(k, d)| out_overlaps(k, d))
                .map(|i| i as u16);
        }
        // The first buffer that ends after `start`, then the few that begin
        // before `end`.
        let first = self
            .descs
            .partition_point(|d| d.offset as u64 + d.len as u64 <= start);
        self.descs[first..]
            .iter()
            .take_while(|d| (d.offset as u64) < end)
            .enumerate()
            .position(|(i, d)| out_overlaps(first + i, d))
            .map(|i| (first + i) as u16)
    }
}
