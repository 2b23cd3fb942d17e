//! Decoding and validation: an [`EncodedBatch`] becomes a [`ValidatedBatch`] only
//! when every atom, argument, pointer and length is acceptable.

use std::marker::PhantomData;

use syslets_abi::signature::{self, ArgType, Dir, Io, Len, Ptr};
use syslets_abi::sockopt;
use syslets_abi::{self as abi, Atom, BatchHeader, BufDesc};
use zerocopy::{FromBytes, IntoBytes};

use crate::batch::completion::Completion;
use crate::batch::encode::{batch_size, AlignedBuf, EncodedBatch, BATCH_WORDS_START};
use crate::batch::plan::{step_at, BufTable, Check, Src, Step, ATOM_WORDS, STEP_WORDS};
use crate::builder::chain::Chain;
use crate::builder::chain::RawRegion;
use crate::confine::policy::Policy;
use crate::error::{ErrorKind, ValidationError};
use crate::handles::{BufRef, Out};

/// A batch that passed validation: it owns its buffer (and so its arena), and can
/// be run inline with [`run`](Self::run) as many times as wanted.
// Its methods are grouped by stage: made, read back and re-aimed here; run
// inline in run/inline.rs; probed without blocking in run/probe.rs.
#[derive(Debug)]
pub struct ValidatedBatch<'a> {
    /// The completion, then the batch bytes with the atoms replaced by their
    /// plan ([`Step`]s): see [`AlignedBuf`] for why in that order.
    pub(crate) storage: AlignedBuf,
    pub(crate) arena_start: usize,
    pub(crate) header: BatchHeader,
    /// Every step's run-time checks (usually none: no allocation).
    pub(crate) checks: Vec<Check>,
    /// Index of the next atom to run; `len()` when the chain has ended.
    pub(crate) cursor: u16,
    /// Bit `i`: atom `i`'s syscall returns a new descriptor
    /// ([`signature::returns_fd`]).
    pub(crate) fd_atoms: u64,
    /// Bit `i`: atom `i`'s syscall closes a descriptor ([`signature::Fds::Closes`]),
    /// so the run tracks it without a table lookup per atom.
    pub(crate) close_atoms: u64,
    /// Bit `i`: atom `i`'s syscall writes new descriptors into the arena: two
    /// into an `int[2]` ([`signature::Fds::Pair`]), or those it received into
    /// a control buffer ([`signature::Fds::Received`]).
    pub(crate) pair_atoms: u64,
    /// What only batches with pair or receiving atoms, iovec arrays or
    /// msghdrs need (`None`, and nothing allocated, for every other batch).
    pub(crate) extra: Option<Box<Extra>>,
    /// Bit `i`: the fd atom `i` returned was handed out by `take_fds`.
    pub(crate) fds_taken: u64,
    /// Bit `i`: the fd atom `i` returned was closed by a later close atom of
    /// the run (matched by descriptor number).
    pub(crate) fds_closed: u64,
    _borrows: PhantomData<&'a mut [u8]>,
}

/// The state of a [`ValidatedBatch`] with pair or receiving atoms, iovec
/// arrays or msghdrs.
#[derive(Debug, Default)]
pub(crate) struct Extra {
    /// The descriptors the pair and receiving atoms of the last run wrote,
    /// copied out of the arena right after each call.
    pub(crate) pair_fds: Vec<PairFd>,
    /// The elements of every iovec array argument, as validation found them:
    /// `[arena offset, length]`.
    pub(crate) iovecs: Vec<[u64; 2]>,
    /// What the kernel reads for those arrays: `iovecs` with each offset made
    /// a pointer into the arena, refreshed just before each such call
    /// ([`Check::Iovecs`], [`Check::Msghdr`]).
    pub(crate) iovecs_live: Vec<[u64; 2]>,
    /// Every msghdr argument (`sendmsg`, `recvmsg`), as validation found it.
    pub(crate) msgs: Vec<MsgPlan>,
    /// What the kernel gets for those arguments: `msgs` with the offsets
    /// made pointers, the iovec array pointing into `iovecs_live`, the
    /// control of a `sendmsg` pointing at its validated copy; refreshed just
    /// before each such call ([`Check::Msghdr`]), and where a `recvmsg`
    /// leaves the kernel's `msg_namelen`, `msg_controllen` and `msg_flags`.
    pub(crate) msgs_live: Vec<abi::MsgHdr>,
}

/// One msghdr argument of a `sendmsg` or `recvmsg` atom, validated: where
/// each of its memories lies in the arena.
#[derive(Debug, Default)]
pub(crate) struct MsgPlan {
    /// The batch's msghdr (where a `recvmsg` gets the kernel's out fields).
    pub(crate) hdr_at: u32,
    /// The address buffer, `namelen` bytes.
    pub(crate) name: Option<u32>,
    pub(crate) namelen: u32,
    /// The iovec elements: `iovecs[iov_first..][..iov_count]` of [`Extra`].
    pub(crate) iov_first: u32,
    pub(crate) iov_count: u16,
    /// The control buffer, `controllen` bytes.
    pub(crate) control: Option<u32>,
    pub(crate) controllen: u64,
    /// `sendmsg`: the control bytes the policy checked, which the kernel reads
    /// (not the arena's: an earlier atom cannot change the descriptors sent).
    pub(crate) send_control: Box<[u8]>,
    /// A `recvmsg` (the kernel writes the memories and the out fields).
    pub(crate) recv: bool,
}

/// One descriptor a [`signature::Fds::Pair`] or [`signature::Fds::Received`]
/// atom of the last run wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PairFd {
    /// The atom that wrote it.
    pub(crate) atom: u16,
    /// The descriptor.
    pub(crate) fd: i32,
    /// Closed by a later close atom of the run, or handed out by `take_fds`.
    pub(crate) released: bool,
}

impl ValidatedBatch<'_> {
    /// The plan of atom `i`.
    ///
    /// # Panics
    ///
    /// If the batch has no atom `i`.
    #[inline]
    pub(crate) fn step(&self, i: usize) -> &Step {
        assert!(i < self.len(), "no such atom");
        let words: &[u64; STEP_WORDS] = self.storage.words[step_at(i)..][..STEP_WORDS]
            .try_into()
            .expect("exact size");
        zerocopy::transmute_ref!(words)
    }

    /// The batch flags.
    pub fn flags(&self) -> u16 {
        self.header.flags
    }

    /// The caller data echoed in the completion.
    pub fn caller_data(&self) -> u64 {
        self.header.caller_data
    }

    /// Number of atoms.
    #[inline]
    pub fn len(&self) -> usize {
        self.header.natoms as usize
    }

    /// Always false: a valid batch has at least one atom.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The syscall name of atom `index`.
    pub fn syscall_name(&self, index: usize) -> Option<&'static str> {
        (index < self.len()).then(|| self.step(index).sig().name)
    }

    /// The completion of the last run (all zero before the first).
    pub fn completion(&self) -> &Completion {
        self.storage.completion()
    }

    /// The completion, mutably.
    pub(crate) fn completion_mut(&mut self) -> &mut Completion {
        self.storage.completion_mut()
    }

    /// The whole arena, as the last run left it (buffer descriptors say where
    /// each buffer lies; the compat translator reads output structs from here).
    pub fn arena(&self) -> &[u8] {
        &self.storage.bytes()[self.arena_start..]
    }

    /// The batch's buffer descriptors.
    pub fn buf_descs(&self) -> &[BufDesc] {
        let start = abi::HEADER_SIZE + self.len() * abi::ATOM_SIZE;
        let end = start + self.header.nbufs as usize * abi::BUFDESC_SIZE;
        <[BufDesc]>::ref_from_bytes(&self.storage.bytes()[start..end])
            .expect("checked at validation")
    }

    /// The bytes of a view into this batch's arena.
    ///
    /// # Panics
    ///
    /// If `buf` does not belong to this batch (a handle from another chain).
    pub fn bytes(&self, buf: BufRef) -> &[u8] {
        self.buffer(buf.index)
            .and_then(|b| b.get(buf.offset as usize..(buf.offset + buf.len) as usize))
            .expect("buffer handle does not belong to this batch")
    }

    /// The bytes of buffer `index`, for batches decoded from bytes.
    pub fn buffer(&self, index: u16) -> Option<&[u8]> {
        let bufs = self.buf_descs();
        let d = bufs.get(index as usize)?;
        self.arena()
            .get(d.offset as usize..(d.offset + d.len) as usize)
    }

    /// Read back a struct the kernel wrote (a `stat` filled by an fstat atom).
    ///
    /// # Panics
    ///
    /// If `out` does not belong to this batch.
    pub fn output<T: FromBytes>(&self, out: Out<T>) -> T {
        T::read_from_bytes(self.bytes(out.buf))
            .expect("buffer handle does not belong to this batch")
    }
}

impl ValidatedBatch<'static> {
    /// Re-aim a validated one-atom `read`, `write`, `pread64` or `pwrite64`
    /// batch whose buffer is a raw region (made with [`Chain::raw`]) at another
    /// descriptor, buffer, length and offset (ignored by `read`/`write`), with
    /// new caller data and batch flags: the batch `validate` would make of the
    /// same chain with these values, without building, encoding and validating
    /// it again. Returns false, changing nothing, when the batch is not such a
    /// batch, when `policy` does not allow its call as it stands, or when the
    /// flags are not valid batch flags.
    ///
    /// What validation checks for these arguments, checked here: the
    /// descriptor fits an `int` (it is an `i32`); the length does not exceed
    /// the buffer's region (the region is `addr..addr + len` itself); the
    /// count is a `size_t` and the offset an `off_t` (any value); the policy
    /// allows the call and has no argument rule for it (so no value of these
    /// arguments can change its verdict). The step keeps no run-time check,
    /// arena offset or result reference: its values are the immediates and
    /// the raw pointer, used as they are.
    ///
    /// [`Chain::raw`]: crate::Chain::raw
    ///
    /// # Safety
    ///
    /// As for [`Chain::raw`]: `addr..addr + len` must stay valid for reads
    /// and writes, and not be accessed otherwise, until the batch has been
    /// dropped, re-aimed again, or its completion reaped.
    #[allow(unsafe_code)]
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub(crate) unsafe fn reaim_io(
        &mut self,
        policy: &Policy,
        fd: i32,
        addr: *mut u8,
        len: usize,
        offset: i64,
        caller_data: u64,
        flags: u16,
    ) -> bool {
        if self.len() != 1 || !self.checks.is_empty() || self.fd_atoms != 0 {
            return false;
        }
        if batch_flags_error(flags).is_some() {
            return false;
        }
        let step = self.step(0);
        let Some(sig) = signature::lookup(step.nr) else {
            return false;
        };
        if sig.io == Io::None {
            return false;
        }
        let positional = sig.io.positional();
        // Argument 1 is a pointer the call may not take as an immediate or a
        // result (validation refuses both): with no arena bit it is a raw one.
        if step.arena_args != 0 || step.result_args != 0 || step.nchecks != 0 {
            return false;
        }
        if !policy.allows(step.nr) || policy.has_rules_for(sig) {
            return false;
        }
        let mut vals = [0u64; abi::MAX_ARGS];
        vals[0] = fd as i64 as u64;
        vals[1] = addr as u64;
        vals[2] = len as u64;
        if positional {
            vals[3] = offset as u64;
        }
        let i = step_at(0);
        let slot: &mut [u64; STEP_WORDS] = (&mut self.storage.words[i..][..STEP_WORDS])
            .try_into()
            .expect("exact size");
        let step: &mut Step = zerocopy::transmute_mut!(slot);
        step.vals = vals;
        // The header's copy in `storage` is not read after validation.
        self.header.caller_data = caller_data;
        self.header.flags = flags;
        true
    }
}

/// What is wrong with batch flags `flags`, if anything: unknown bits, or
/// both `BATCH_ASYNC` and `BATCH_SYNC`.
fn batch_flags_error(flags: u16) -> Option<ErrorKind> {
    if flags & !abi::BATCH_FLAGS_MASK != 0 {
        return Some(ErrorKind::BadBatchFlags(flags));
    }
    if flags & abi::BATCH_ASYNC != 0 && flags & abi::BATCH_SYNC != 0 {
        return Some(ErrorKind::ConflictingBatchFlags);
    }
    None
}

/// The first two pointer arguments of `reaching`, at least one of them
/// `written` by the kernel, whose memory
/// (`extent[a]` bytes from where `args[a]` points) overlaps. Arena offsets
/// and raw addresses are different memory (raw regions are borrowed from
/// outside the batch, whose storage did not exist when they were lent).
fn overlapping_pointers(
    args: &[Src; abi::MAX_ARGS],
    extent: &[u64; abi::MAX_ARGS],
    reaching: u8,
    written: u8,
) -> Option<(u8, u8)> {
    let region = |a: usize| match args[a] {
        Src::Arena(off) => Some((false, off as u64)),
        Src::Raw(addr) => Some((true, addr)),
        Src::Imm(_) | Src::Result(_) => None,
    };
    for a in 0..abi::MAX_ARGS {
        if reaching & (1 << a) == 0 || extent[a] == 0 {
            continue;
        }
        let Some((raw_a, start_a)) = region(a) else {
            continue;
        };
        for b in a + 1..abi::MAX_ARGS {
            // Two memories the kernel only reads may share bytes.
            if reaching & (1 << b) == 0 || extent[b] == 0 || written & (1 << a | 1 << b) == 0 {
                continue;
            }
            let Some((raw_b, start_b)) = region(b) else {
                continue;
            };
            let end_a = start_a.saturating_add(extent[a]);
            let end_b = start_b.saturating_add(extent[b]);
            if raw_a == raw_b && start_a < end_b && start_b < end_a {
                return Some((a as u8, b as u8));
            }
        }
    }
    None
}

fn fits_i32(v: u64) -> bool {
    i32::try_from(v as i64).is_ok()
}

/// Validate `batch` against `policy`.
pub(crate) fn validate<'a>(
    batch: EncodedBatch<'a>,
    policy: &Policy,
) -> Result<ValidatedBatch<'a>, ValidationError> {
    use ErrorKind as E;
    let err = ValidationError::batch;
    let bytes = batch.storage.bytes();

    let header = BatchHeader::read_from_prefix(bytes)
        .map_err(|_| {
            err(E::Truncated {
                expected: abi::HEADER_SIZE,
                found: bytes.len(),
            })
        })?
        .0;
    if header.magic != abi::MAGIC {
        return Err(err(E::BadMagic(header.magic)));
    }
    if header.version != abi::VERSION {
        return Err(err(E::BadVersion(header.version)));
    }
    let (natoms, nbufs, arena_len) = (
        header.natoms as usize,
        header.nbufs as usize,
        header.arena_len as usize,
    );
    if natoms == 0 {
        return Err(err(E::NoAtoms));
    }
    if natoms > abi::MAX_ATOMS {
        return Err(err(E::TooManyAtoms(natoms)));
    }
    if nbufs > abi::MAX_BUFS {
        return Err(err(E::TooManyBufs(nbufs)));
    }
    if arena_len > abi::MAX_ARENA_LEN {
        return Err(err(E::ArenaTooLarge(arena_len)));
    }
    if let Some(kind) = batch_flags_error(header.flags) {
        return Err(err(kind));
    }
    if header.reserved != 0 {
        return Err(err(E::ReservedNotZero("header.reserved")));
    }
    let expected = batch_size(natoms, nbufs, arena_len);
    if bytes.len() < expected {
        return Err(err(E::Truncated {
            expected,
            found: bytes.len(),
        }));
    }
    if bytes.len() > expected {
        return Err(err(E::TrailingBytes {
            expected,
            found: bytes.len(),
        }));
    }

    let atoms_end = abi::HEADER_SIZE + natoms * abi::ATOM_SIZE;
    let bufs_end = atoms_end + nbufs * abi::BUFDESC_SIZE;
    // Each atom's step replaces it in place; the buffer descriptors and the
    // arena after the atoms are only read.
    let EncodedBatch {
        mut storage,
        raw: raw_regions,
        raw_allowed,
        ..
    } = batch;
    let (atom_words, rest) = storage
        .words
        .split_at_mut(BATCH_WORDS_START + atoms_end / 8);
    let rest = &rest.as_bytes()[..bufs_end - atoms_end + arena_len];
    let bufs = <[BufDesc]>::ref_from_bytes(&rest[..bufs_end - atoms_end])
        .expect("storage is 8-byte aligned and the length was checked");
    let arena = &rest[bufs_end - atoms_end..];

    for (i, d) in bufs.iter().enumerate() {
        let bad = |reason| {
            err(E::BadBufDesc {
                buf: i as u16,
                reason,
            })
        };
        if d.reserved != 0 {
            return Err(bad("reserved field is not zero"));
        }
        if d.flags == 0 || d.flags & !abi::BUF_FLAGS_MASK != 0 {
            return Err(bad("flags must be IN, OUT or both"));
        }
        if d.offset as u64 + d.len as u64 > arena_len as u64 {
            return Err(bad("reaches past the end of the arena"));
        }
    }

    let table = BufTable::new(bufs);
    let mut checks = Vec::new();
    let mut iovecs = Vec::new();
    let mut msgs = Vec::new();
    let raw = Raw {
        regions: &raw_regions,
        allowed: raw_allowed,
    };
    let (mut fd_atoms, mut close_atoms, mut pair_atoms) = (0u64, 0u64, 0u64);
    for i in 0..natoms {
        let slot = &mut atom_words[step_at(i)..][..ATOM_WORDS];
        let atom: &[u64; ATOM_WORDS] = (&*slot).try_into().expect("exact size");
        let atom: &Atom = zerocopy::transmute_ref!(atom);
        let mut step = validate_atom(
            i,
            atom,
            natoms,
            table,
            arena,
            raw,
            policy,
            &mut checks,
            &mut iovecs,
            &mut msgs,
        )?;
        let sig = step.sig();
        fd_atoms |= (sig.returns_fd() as u64) << i;
        close_atoms |= (matches!(sig.fds, signature::Fds::Closes { .. }) as u64) << i;
        pair_atoms |= (matches!(
            sig.fds,
            signature::Fds::Pair { .. } | signature::Fds::Received { .. }
        ) as u64)
            << i;
        step.compat_entry = crate::sys::compat32::routes(header.flags, sig) as u8;
        let slot: &mut [u64; STEP_WORDS] =
            (&mut slot[..STEP_WORDS]).try_into().expect("exact size");
        *zerocopy::transmute_mut!(slot) = step;
    }

    Ok(ValidatedBatch {
        arena_start: bufs_end,
        header,
        checks,
        cursor: 0,
        fd_atoms,
        close_atoms,
        pair_atoms,
        extra: (pair_atoms != 0 || !iovecs.is_empty() || !msgs.is_empty()).then(|| {
            Box::new(Extra {
                pair_fds: Vec::new(),
                iovecs_live: iovecs.clone(),
                iovecs,
                msgs_live: vec![abi::MsgHdr::default(); msgs.len()],
                msgs,
            })
        }),
        fds_taken: 0,
        fds_closed: 0,
        storage,
        _borrows: PhantomData,
    })
}

/// The raw regions of an in-process batch, and whether raw pointers are
/// allowed at all (not in a batch decoded from bytes).
#[derive(Clone, Copy)]
struct Raw<'a> {
    regions: &'a [RawRegion],
    allowed: bool,
}

// Inlined into its one caller: its step is written straight into place.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn validate_atom(
    i: usize,
    atom: &Atom,
    natoms: usize,
    bufs: BufTable<'_>,
    arena: &[u8],
    raw: Raw<'_>,
    policy: &Policy,
    checks: &mut Vec<Check>,
    iovecs: &mut Vec<[u64; 2]>,
    msgs: &mut Vec<MsgPlan>,
) -> Result<Step, ValidationError> {
    use ErrorKind as E;
    let sig = signature::lookup(atom.nr);
    let name = sig.map(|s| s.name);
    let err = |kind| ValidationError::atom(i, name, kind);

    // The fixed denylist comes first: a denied call is named as such even when
    // the signature table does not know it. No call of the table is on the
    // denylist (tested), so only unknown numbers need the look-up.
    if sig.is_none() {
        if let Some(d) = crate::confine::policy::denied_atom(atom) {
            return Err(ValidationError::atom(i, Some(d.name), E::SyscallDenied));
        }
    }
    if atom.reserved != 0 {
        return Err(err(E::ReservedNotZero("atom.reserved")));
    }
    if atom.flags & !abi::ATOM_FLAGS_MASK != 0 {
        return Err(err(E::BadAtomFlags(atom.flags)));
    }
    let next = ((atom.flags & abi::NEXT_MASK) >> abi::NEXT_SHIFT) as u8;
    if next != 0 && (next as usize <= i || next as usize > natoms) {
        return Err(err(E::BadNextTarget(next)));
    }
    let sig = sig.ok_or_else(|| err(E::UnknownSyscall(atom.nr)))?;
    if !policy.allows(atom.nr) {
        return Err(err(E::SyscallNotAllowed));
    }
    if atom.nargs as usize != sig.args.len() {
        return Err(err(E::WrongArgCount {
            expected: sig.args.len(),
            found: atom.nargs,
        }));
    }
    // Every kind known, every unused argument a zero immediate: tested for all
    // six at once (kinds are the bytes of one word); the loop names the first
    // offender.
    let nargs = sig.args.len();
    let k = atom.arg_kind;
    let kinds = u64::from_le_bytes([k[0], k[1], k[2], k[3], k[4], k[5], 0, 0]);
    let unknown_kinds = kinds & 0x0000_fcfc_fcfc_fcfc; // any kind > ARG_RAW (3)
    const _: () = assert!(abi::ARG_IMM == 0 && abi::ARG_RAW == 3);
    let unused_kinds = kinds >> (8 * nargs); // nonzero: not ARG_IMM
    let unused_vals = atom.arg[nargs..].iter().fold(0, |acc, &v| acc | v);
    if unknown_kinds | unused_kinds | unused_vals != 0 {
        for a in 0..abi::MAX_ARGS {
            let kind = atom.arg_kind[a];
            if kind > abi::ARG_RAW {
                return Err(err(E::BadArgKind { arg: a as u8, kind }));
            }
            if a >= nargs && (kind != abi::ARG_IMM || atom.arg[a] != 0) {
                return Err(err(E::UnusedArgNotZero(a as u8)));
            }
        }
    }

    let mut args = [Src::Imm(0); abi::MAX_ARGS];
    // Bytes the memory of each pointer argument reaches (`args[a]` says where
    // it starts).
    let mut avail = [0u64; abi::MAX_ARGS];
    // Bit `a`: argument `a` is a pointer that reaches memory (not a NULL).
    let mut reaching = 0u8;
    // Bit `a`: argument `a` points into an arena buffer the kernel may write.
    let mut in_out_buf = 0u8;
    // Bit `a`: this call writes through pointer argument `a` (`OUT`/`INOUT`).
    let mut call_writes = 0u8;
    for (a, ty) in sig.args.iter().enumerate() {
        let arg = a as u8;
        let (kind, value) = (atom.arg_kind[a], atom.arg[a]);
        if kind == abi::ARG_RESULT {
            if value == i as u64 {
                return Err(err(E::ResultRefersToSelf(arg)));
            }
            if value > i as u64 {
                return Err(err(E::ResultRefersForward { arg, target: value }));
            }
        }
        args[a] = match (ty, kind) {
            (ArgType::Ptr(p), abi::ARG_IMM) if value == 0 && p.nullable => Src::Imm(0),
            (ArgType::Ptr(_), abi::ARG_IMM) => {
                return Err(err(E::NotABuffer {
                    arg,
                    found: "immediate",
                }))
            }
            (ArgType::Ptr(_), abi::ARG_RESULT) => {
                return Err(err(E::NotABuffer {
                    arg,
                    found: "result",
                }))
            }
            (ArgType::Ptr(p), abi::ARG_BUF) => {
                let (index, offset) = abi::split_buf_arg(value);
                let d = bufs.descs.get(index as usize).ok_or_else(|| {
                    err(E::BufIndexOutOfRange {
                        arg,
                        index,
                        nbufs: bufs.descs.len() as u16,
                    })
                })?;
                if offset > d.len {
                    return Err(err(E::BufOffsetOutOfRange {
                        arg,
                        offset,
                        len: d.len,
                    }));
                }
                let needs = match p.dir {
                    Dir::In => abi::BUF_IN,
                    Dir::Out => abi::BUF_OUT,
                    Dir::InOut => abi::BUF_IN | abi::BUF_OUT,
                };
                if d.flags & needs != needs {
                    return Err(err(E::WrongDirection {
                        arg,
                        buf: index as u16,
                    }));
                }
                avail[a] = (d.len - offset) as u64;
                reaching |= 1 << a;
                call_writes |= ((p.dir != Dir::In) as u8) << a;
                in_out_buf |= ((d.flags & abi::BUF_OUT != 0) as u8) << a;
                Src::Arena(d.offset + offset)
            }
            (ArgType::Ptr(p), abi::ARG_RAW) => {
                let region = raw
                    .regions
                    .iter()
                    .find(|r| r.atom as usize == i && r.arg == arg);
                let region = match region {
                    Some(r) if raw.allowed => r,
                    _ => return Err(err(E::RawPointerInForeignBatch(arg))),
                };
                if p.len == Len::CStr {
                    return Err(err(E::NotABuffer {
                        arg,
                        found: "raw pointer (strings must be in the arena)",
                    }));
                }
                if matches!(p.len, Len::Iovecs { .. }) {
                    return Err(err(E::NotABuffer {
                        arg,
                        found: "raw pointer (iovec arrays must be in the arena)",
                    }));
                }
                if matches!(p.len, Len::Msghdr { .. }) {
                    return Err(err(E::NotABuffer {
                        arg,
                        found: "raw pointer (a msghdr must be in the arena)",
                    }));
                }
                if sig.fds == (signature::Fds::Pair { arg }) {
                    return Err(err(E::NotABuffer {
                        arg,
                        found: "raw pointer (returned descriptors must be in the arena)",
                    }));
                }
                avail[a] = region.len;
                reaching |= 1 << a;
                call_writes |= ((p.dir != Dir::In) as u8) << a;
                Src::Raw(value)
            }
            (_, abi::ARG_BUF | abi::ARG_RAW) => {
                return Err(err(E::ArgRefused {
                    arg,
                    reason: "a pointer where the syscall takes a value",
                }))
            }
            (_, abi::ARG_RESULT) => Src::Result(value as u8),
            (ArgType::Fd | ArgType::Int, _) if !fits_i32(value) => {
                return Err(err(E::ArgOutOfRange { arg, value }))
            }
            (ArgType::UInt, _) if value > u32::MAX as u64 => {
                return Err(err(E::ArgOutOfRange { arg, value }))
            }
            _ => Src::Imm(value),
        };
    }

    // Socket options: only those of the table, whose value is plain bytes and
    // whose `optlen` unit is known.
    let (mut optval_arg, mut optval_unit) = (usize::MAX, 1u32);
    if let signature::ArgRule::SocketOption {
        access,
        level,
        value,
    } = sig.rule
    {
        let (level_arg, name_arg) = (level as usize, level as usize + 1);
        let (Src::Imm(level), Src::Imm(optname)) = (args[level_arg], args[name_arg]) else {
            let arg = if matches!(args[level_arg], Src::Imm(_)) {
                name_arg
            } else {
                level_arg
            } as u8;
            return Err(err(E::ArgRefused {
                arg,
                reason: "socket option level and name must be immediates",
            }));
        };
        // Both are `Int`s, checked to fit an i32 above.
        let (level, optname) = (level as i32, optname as i32);
        match sockopt::lookup(access, level, optname) {
            Some(opt) => (optval_arg, optval_unit) = (value as usize, opt.optlen.unit()),
            None => {
                let known = sockopt::refused_entry(access, level, optname);
                return Err(err(E::SockoptRefused {
                    level,
                    optname,
                    name: known.map(|r| r.name),
                    reason: known.map_or(sockopt::NOT_IN_TABLE, |r| r.reason),
                }));
            }
        }
    }

    // Lengths: every pointer must reach at least as far as the kernel will go.
    // `extent[a]`: the most bytes the kernel may touch through pointer `a` in
    // this call, as far as validation can tell (lengths known only at run
    // time count as the whole of what the pointer reaches).
    let mut extent = [0u64; abi::MAX_ARGS];
    // The msghdr of this atom (`sendmsg`, `recvmsg`): its index in `msgs`.
    let mut msg_plan = None;
    let first_check = checks.len() as u16;
    let mut add_check = |c: Check| checks.push(c);
    let mut left = reaching;
    while left != 0 {
        let a = left.trailing_zeros() as usize;
        left &= left - 1;
        let ArgType::Ptr(Ptr { len, .. }) = sig.args[a] else {
            unreachable!("only pointer arguments reach memory")
        };
        let (src, avail_a) = (args[a], avail[a]);
        let arg = a as u8;
        let unit = if a == optval_arg { optval_unit } else { 1 };
        // An array of fixed-size elements is a length argument in units.
        let (len, unit) = match len {
            Len::Elems { count, size } => (Len::Arg(count), size),
            len => (len, unit),
        };
        extent[a] = avail_a;
        let too_long = |len: u64| {
            err(E::LengthExceedsBuffer {
                arg,
                len,
                available: avail_a,
            })
        };
        match len {
            Len::Fixed(n) if n as u64 > avail_a => return Err(too_long(n as u64)),
            Len::Fixed(n) => extent[a] = n as u64,
            Len::Arg(j) => match args[j as usize] {
                Src::Imm(n) if n.saturating_mul(unit as u64) > avail_a => {
                    return Err(too_long(n.saturating_mul(unit as u64)))
                }
                Src::Imm(n) => extent[a] = n * unit as u64,
                Src::Result(_) => add_check(Check::LenArg {
                    len_arg: j,
                    avail: avail_a / unit as u64,
                }),
                Src::Arena(_) | Src::Raw(_) => unreachable!("length arguments are never pointers"),
            },
            Len::CStr => {
                let Src::Arena(at) = src else {
                    unreachable!("strings are arena-only")
                };
                let s = &arena[at as usize..at as usize + avail_a as usize];
                // The builders put the NUL last: look there first.
                if s.last() != Some(&0) && !s.contains(&0) {
                    return Err(err(E::UnterminatedString(arg)));
                }
                // An earlier atom may overwrite the string through any buffer
                // the kernel writes that overlaps it (its own, if it is OUT,
                // or another descriptor of the same arena bytes): check it
                // again just before the atom runs. When the buffers are
                // disjoint only its own can (the string lies inside it and is
                // not empty: it holds its NUL).
                let written = if bufs.disjoint {
                    in_out_buf & (1 << a) != 0
                } else {
                    bufs.written(at as u64, at as u64 + avail_a)
                };
                debug_assert_eq!(written, bufs.written(at as u64, at as u64 + avail_a));
                if written {
                    add_check(Check::CStr {
                        at,
                        avail: avail_a as u32,
                    });
                }
            }
            Len::Elems { .. } => unreachable!("made a length argument above"),
            Len::Iovecs { count, dir } => {
                let Src::Arena(at) = src else {
                    unreachable!("iovec arrays are arena-only")
                };
                let bad = |element, reason| {
                    err(E::BadIovec {
                        arg,
                        element,
                        reason,
                    })
                };
                let Src::Imm(n) = args[count as usize] else {
                    return Err(bad(0, "the element count must be an immediate"));
                };
                if n > abi::MAX_IOVECS as u64 {
                    return Err(bad(0, "more elements than MAX_IOVECS"));
                }
                let bytes = n * abi::IOVEC_SIZE as u64;
                if bytes > avail_a {
                    return Err(too_long(bytes));
                }
                extent[a] = bytes;
                let first = iovec_elements(bufs, arena, at, n, dir, arg, iovecs, &err)?;
                add_check(Check::Iovecs {
                    arg,
                    first: first as u32,
                    count: n as u16,
                });
            }
            Len::Msghdr { dir } => {
                let Src::Arena(at) = src else {
                    unreachable!("msghdrs are arena-only")
                };
                let size = abi::MSGHDR_SIZE as u64;
                if size > avail_a {
                    return Err(too_long(size));
                }
                extent[a] = size;
                let own = abi::split_buf_arg(atom.arg[a]).0;
                let plan = msghdr_plan(bufs, arena, at, own, dir, arg, iovecs, &err)?;
                msg_plan = Some(msgs.len());
                add_check(Check::Msghdr {
                    arg,
                    msg: msgs.len() as u16,
                });
                msgs.push(plan);
            }
            Len::ArgPtr(j) => {
                // The length lives in the socklen_t that argument j points to
                // (NULL: the kernel faults reading it and writes nothing). It
                // is checked here and again just before the call, whatever an
                // earlier atom wrote there; the kernel reads it before it
                // writes through argument `a`, and no argument of this atom
                // overlaps it (below), so the call sees the checked value.
                match args[j as usize] {
                    Src::Arena(at) => {
                        let avail_j = avail[j as usize];
                        if avail_j < 4 {
                            return Err(err(E::LengthExceedsBuffer {
                                arg: j,
                                len: 4,
                                available: avail_j,
                            }));
                        }
                        let n = u32::from_le_bytes(
                            arena[at as usize..at as usize + 4].try_into().unwrap(),
                        );
                        let bytes = n as u64 * unit as u64;
                        if bytes > avail_a {
                            return Err(too_long(bytes));
                        }
                        add_check(Check::LenAt {
                            at,
                            avail: (avail_a / unit as u64) as u32,
                        });
                    }
                    Src::Raw(_) => {
                        return Err(err(E::NotABuffer {
                            arg: j,
                            found: "raw pointer (a value-result length must be in the arena)",
                        }))
                    }
                    Src::Imm(_) | Src::Result(_) => {}
                }
            }
        }
    }
    if reaching & reaching.wrapping_sub(1) != 0 {
        if let Some((arg, other)) = overlapping_pointers(&args, &extent, reaching, call_writes) {
            return Err(err(E::PointerArgsOverlap { arg, other }));
        }
    }

    let control = msg_plan.map(|k: usize| &*msgs[k].send_control);
    let msg_name = msg_plan
        .map(|k: usize| &msgs[k])
        .filter(|m| !m.recv)
        .and_then(|m| Some((m.name?, m.namelen)));
    policy
        .check_atom(sig, &args, bufs, arena, control, msg_name)
        .map_err(err)?;
    if let signature::ArgRule::OwnProcess { arg } = sig.rule {
        add_check(Check::OwnProcess { arg });
    }
    let nchecks = (checks.len() - first_check as usize) as u8;

    let (mut vals, mut arena_args, mut result_args) = ([0u64; abi::MAX_ARGS], 0u8, 0u8);
    for (a, src) in args.iter().enumerate().take(nargs) {
        if matches!(
            sig.args[a],
            ArgType::Ptr(Ptr {
                len: Len::Iovecs { .. } | Len::Msghdr { .. },
                ..
            })
        ) {
            // The kernel gets the private copy (Check::Iovecs and
            // Check::Msghdr set it).
            continue;
        }
        vals[a] = match *src {
            Src::Imm(v) | Src::Raw(v) => v,
            Src::Result(t) => {
                result_args |= 1 << a;
                t as u64
            }
            Src::Arena(off) => {
                arena_args |= 1 << a;
                off as u64
            }
        };
    }
    Ok(Step {
        vals,
        nr: atom.nr,
        stop: atom.flags & abi::STOP_MASK,
        arena_args,
        result_args,
        skip: (atom.flags & abi::SKIP_TO_NEXT_ON_STOP != 0) as u8,
        next: if next == 0 { i as u8 + 1 } else { next },
        first_check,
        nchecks,
        compat_entry: 0,
    })
}

/// Check the `n` elements of the iovec array at arena offset `at` (which
/// lies inside its buffer), whose buffers the kernel accesses in direction
/// `dir`, and append them to `iovecs` as `[arena offset, length]`; returns
/// where they start. The array of argument `arg` (an iovec array or a
/// msghdr) is read once, here: no atom may write it (what runs is then what
/// the batch shows, and the kernel gets the private copy anyway); the
/// elements the kernel writes must not overlap.
#[allow(clippy::too_many_arguments)]
fn iovec_elements(
    bufs: BufTable<'_>,
    arena: &[u8],
    at: u32,
    n: u64,
    dir: Dir,
    arg: u8,
    iovecs: &mut Vec<[u64; 2]>,
    err: &dyn Fn(ErrorKind) -> ValidationError,
) -> Result<usize, ValidationError> {
    use ErrorKind as E;
    let bad = |element, reason| {
        err(E::BadIovec {
            arg,
            element,
            reason,
        })
    };
    let bytes = n * abi::IOVEC_SIZE as u64;
    // Validation reads the array once, here: no atom may write it
    // (what runs is then what the batch shows).
    if let Some(buf) = bufs
        .first_writer(at as u64, at as u64 + bytes)
        .filter(|_| bytes > 0)
    {
        return Err(err(E::CheckedMemoryWritable { arg, buf }));
    }
    let first = iovecs.len();
    // A foreign batch may place the array at any offset: copy
    // each element out rather than view it in place.
    let array = &arena[at as usize..][..bytes as usize];
    let elements = array
        .chunks_exact(abi::IOVEC_SIZE)
        .map(|e| abi::IoVec::read_from_bytes(e).expect("16 bytes"));
    let needs = access_flag(dir);
    for (k, e) in elements.enumerate() {
        let at = buffer_region(bufs, e.base, e.len, needs).map_err(|why| bad(k as u16, why))?;
        iovecs.push([at as u64, e.len]);
    }
    if dir != Dir::In {
        // No two regions the kernel writes in one call overlap.
        let mut written: Vec<(u64, u64, u16)> = iovecs[first..]
            .iter()
            .enumerate()
            .filter(|(_, e)| e[1] != 0)
            .map(|(k, e)| (e[0], e[0] + e[1], k as u16))
            .collect();
        if let Some((a, b)) = first_overlap(&mut written) {
            return Err(bad(a.max(b), "overlaps another element the kernel writes"));
        }
    }
    Ok(first)
}

/// The arena offset of the `len` bytes that buffer argument word `word`
/// names, in a buffer marked `needs`; or why they are not usable.
fn buffer_region(bufs: BufTable<'_>, word: u64, len: u64, needs: u32) -> Result<u32, &'static str> {
    let (index, offset) = abi::split_buf_arg(word);
    let Some(d) = bufs.descs.get(index as usize) else {
        return Err("names a buffer the batch does not have");
    };
    if offset > d.len || len > (d.len - offset) as u64 {
        return Err("reaches past the end of its buffer");
    }
    if d.flags & needs != needs {
        return Err("its buffer is not marked for what the kernel does");
    }
    Ok(d.offset + offset)
}

/// The buffer flag memory the kernel accesses in direction `dir` needs.
fn access_flag(dir: Dir) -> u32 {
    if dir == Dir::In {
        abi::BUF_IN
    } else {
        abi::BUF_OUT
    }
}

/// Sort `regions` (`start, end, tag`) and give the tags of the first two
/// that overlap, if any.
fn first_overlap<T: Copy + Ord>(regions: &mut [(u64, u64, T)]) -> Option<(T, T)> {
    regions.sort_unstable();
    regions
        .windows(2)
        .find(|w| w[1].0 < w[0].1)
        .map(|w| (w[0].2, w[1].2))
}

/// Check the msghdr at arena offset `at` (at least [`abi::MSGHDR_SIZE`]
/// bytes of buffer `own`) of argument `arg`, whose address, iovec buffers
/// and control buffer the kernel accesses in direction `dir` (`In`:
/// `sendmsg`, `Out`: `recvmsg`), and plan its private copy. Its iovec
/// elements go to `iovecs`.
///
/// The header is read once, here: no atom may write it, but for a
/// `recvmsg`'s own `IN | OUT` buffer, which the run writes the kernel's out
/// fields back into (the kernel gets the private copy, so no write changes
/// what it is given). Everything a `recvmsg` writes (the address, the
/// iovec buffers, the control buffer, the header) is pairwise disjoint.
#[allow(clippy::too_many_arguments)]
fn msghdr_plan(
    bufs: BufTable<'_>,
    arena: &[u8],
    at: u32,
    own: u64,
    dir: Dir,
    arg: u8,
    iovecs: &mut Vec<[u64; 2]>,
    err: &dyn Fn(ErrorKind) -> ValidationError,
) -> Result<MsgPlan, ValidationError> {
    use ErrorKind as E;
    let bad = |field, reason| err(E::BadMsghdr { arg, field, reason });
    let (start, end) = (at as u64, at as u64 + abi::MSGHDR_SIZE as u64);
    let own = (dir != Dir::In).then_some(own as u16);
    if let Some(buf) = bufs.first_writer_except(start, end, own) {
        return Err(err(E::CheckedMemoryWritable { arg, buf }));
    }
    let hdr =
        abi::MsgHdr::read_from_bytes(&arena[at as usize..][..abi::MSGHDR_SIZE]).expect("56 bytes");
    // A field naming `len` bytes of a buffer marked `needs`; nothing when
    // `len` is 0 (the word is then ignored: `buf_arg(0, 0)` is 0 too).
    let region = |field, word: u64, len: u64, needs: u32| {
        if len == 0 {
            return Ok(None);
        }
        buffer_region(bufs, word, len, needs)
            .map(Some)
            .map_err(|why| bad(field, why))
    };
    let needs = access_flag(dir);
    if hdr.namelen as usize > abi::kernel::SOCKADDR_STORAGE_SIZE {
        return Err(bad(
            "msg_name",
            "longer than a sockaddr_storage (128 bytes)",
        ));
    }
    let name = region("msg_name", hdr.name, hdr.namelen as u64, needs)?;
    if hdr.controllen > abi::MAX_CONTROL_LEN as u64 {
        return Err(bad("msg_control", "longer than MAX_CONTROL_LEN"));
    }
    let control = region("msg_control", hdr.control, hdr.controllen, needs)?;
    if hdr.iovlen > abi::MAX_IOVECS as u64 {
        return Err(bad("msg_iov", "more elements than MAX_IOVECS"));
    }
    let iov_bytes = hdr.iovlen * abi::IOVEC_SIZE as u64;
    let first = match region("msg_iov", hdr.iov, iov_bytes, abi::BUF_IN)? {
        Some(iov_at) => iovec_elements(bufs, arena, iov_at, hdr.iovlen, dir, arg, iovecs, err)?,
        None => iovecs.len(),
    };
    if dir != Dir::In {
        let mut written: Vec<(u64, u64, &'static str)> = vec![(start, end, "msghdr")];
        if let Some(n) = name.filter(|_| hdr.namelen > 0) {
            written.push((n as u64, n as u64 + hdr.namelen as u64, "msg_name"));
        }
        if let Some(c) = control.filter(|_| hdr.controllen > 0) {
            written.push((c as u64, c as u64 + hdr.controllen, "msg_control"));
        }
        let elements = iovecs[first..].iter().filter(|e| e[1] != 0);
        written.extend(elements.map(|e| (e[0], e[0] + e[1], "msg_iov")));
        if let Some((a, b)) = first_overlap(&mut written) {
            let field = if b == "msghdr" { a } else { b };
            return Err(bad(field, "overlaps other memory the kernel writes"));
        }
    }
    let send_control = match control {
        Some(c) if dir == Dir::In => arena[c as usize..][..hdr.controllen as usize].into(),
        _ => Box::default(),
    };
    Ok(MsgPlan {
        hdr_at: at,
        name,
        namelen: name.map_or(0, |_| hdr.namelen),
        iov_first: first as u32,
        iov_count: hdr.iovlen as u16,
        control,
        controllen: control.map_or(0, |_| hdr.controllen),
        send_control,
        recv: dir != Dir::In,
    })
}

/// The control messages of `data` (x86_64 `cmsghdr`s at 8-byte aligned
/// offsets, as `CMSG_NXTHDR` walks them), each as `(cmsg_level, cmsg_type,
/// data)`; an `Err` for a `cmsg_len` shorter than its header or past the
/// end of `data` (where the kernel refuses a send with `EINVAL`), after
/// which nothing more. Fewer than 16 bytes left end the walk, as they end
/// the kernel's.
pub(crate) fn cmsgs(
    data: &[u8],
) -> impl Iterator<Item = Result<(i32, i32, &[u8]), &'static str>> + '_ {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        let rest = data.get(at..)?;
        if rest.len() < abi::CMSGHDR_SIZE {
            return None;
        }
        let word = |k: usize| rest[k..k + 4].try_into().expect("4 bytes");
        let len = u64::from_le_bytes(rest[..8].try_into().expect("8 bytes"));
        let (level, ty) = (i32::from_le_bytes(word(8)), i32::from_le_bytes(word(12)));
        if len < abi::CMSGHDR_SIZE as u64 || len > rest.len() as u64 {
            at = data.len();
            return Some(Err(
                "a control message's cmsg_len is shorter than its header or runs past msg_controllen",
            ));
        }
        at += (len as usize).next_multiple_of(8);
        Some(Ok((level, ty, &rest[abi::CMSGHDR_SIZE..len as usize])))
    })
}

/// The descriptors the kernel installed for the control messages of `data`
/// (a `recvmsg`'s): those of `SCM_RIGHTS` messages, and the pidfd of an
/// `SCM_PIDFD` one (a socket the caller gave `SO_PASSPIDFD`, which no batch
/// can set), so that none is left without an owner.
pub(crate) fn received_fds(data: &[u8]) -> impl Iterator<Item = i32> + '_ {
    use abi::kernel::{SCM_PIDFD, SCM_RIGHTS, SOL_SOCKET};
    cmsgs(data)
        .map_while(Result::ok)
        .filter(|&(level, ty, _)| level == SOL_SOCKET && (ty == SCM_RIGHTS || ty == SCM_PIDFD))
        .flat_map(|(_, _, fds)| fds.chunks_exact(4))
        .map(|fd| i32::from_le_bytes(fd.try_into().expect("4 bytes")))
}

impl<'a> EncodedBatch<'a> {
    /// Check every atom, argument, pointer and length against `policy`; nothing
    /// runs unless all of it is valid.
    pub fn validate(self, policy: &Policy) -> Result<ValidatedBatch<'a>, ValidationError> {
        validate(self, policy)
    }
}

impl<'a> Chain<'a> {
    /// [`encode`](Chain::encode), then [`validate`](EncodedBatch::validate).
    #[inline]
    pub fn prepare(self, policy: &Policy) -> Result<ValidatedBatch<'a>, ValidationError> {
        self.encode()?.validate(policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(descs: &[BufDesc], start: u64, end: u64) -> bool {
        descs.iter().any(|d| {
            d.flags & abi::BUF_OUT != 0
                && d.len > 0
                && (d.offset as u64) < end
                && start < d.offset as u64 + d.len as u64
        })
    }

    #[test]
    fn written_agrees_with_a_plain_scan() {
        // Deterministic pseudo-random layouts: disjoint (with gaps and empty
        // buffers) and overlapping.
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for layout in 0..400 {
            let mut descs = vec![];
            let mut at = 0u32;
            for _ in 0..next(12) {
                let (gap, len) = (next(3) as u32 * 8, next(40) as u32);
                let offset = if layout % 4 == 0 {
                    next(200) as u32
                } else {
                    at + gap
                };
                let flags =
                    [abi::BUF_IN, abi::BUF_OUT, abi::BUF_IN | abi::BUF_OUT][next(3) as usize];
                descs.push(BufDesc {
                    offset,
                    len,
                    flags,
                    reserved: 0,
                });
                at = offset + len;
            }
            let table = BufTable::new(&descs);
            for _ in 0..50 {
                let start = next(260);
                let end = start + next(60);
                assert_eq!(
                    table.written(start, end),
                    scan(&descs, start, end),
                    "{descs:?} {start}..{end}"
                );
            }
        }
    }
}
