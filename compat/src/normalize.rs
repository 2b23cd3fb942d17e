//! [`normalize`]: a compat batch becomes a native one; [`Normalized::write_back`]
//! turns what the native chain produced into what an i386 kernel would have.

use alloc::vec;
use alloc::vec::Vec;

use syslets_abi::kernel::{Stat, Statfs, SIGINFO_SIZE, STATFS_SIZE, STAT_SIZE};
use syslets_abi::signature::{self, ArgRule, ArgType, Signature};
use syslets_abi::{self as abi, Atom, BatchHeader, BufDesc, Completion};
use zerocopy::{FromBytes, IntoBytes};

use crate::error::{ArgPos, CompatError, CompatErrorKind as E};
use crate::layout::{
    compat_atoms_len, compat_batch_size, split_compat_buf_arg, CompatAtom, CompatIoVec,
    CompatMsgHdr, OldTimespec32, SocketcallArg, Stat64, Statfs32, Statfs64, COMPAT_ATOM_SIZE,
    COMPAT_CMSGHDR_SIZE, COMPAT_IOVEC_SIZE, COMPAT_MAGIC, COMPAT_MSGHDR_SIZE, COMPAT_OFF_SIZE,
    COMPAT_SIGINFO_SIZE, LLSEEK_RESULT_SIZE, OLD_TIMESPEC32_SIZE, SOCKETCALL_ARG_SIZE, STAT64_SIZE,
    STATFS32_SIZE, STATFS64_SIZE,
};

/// The native `struct timespec` (16 bytes: `tv_sec`, `tv_nsec`, both 64-bit).
const TIMESPEC_SIZE: usize = 16;
/// The native `loff_t` `sendfile` reads and advances.
const LOFF_SIZE: usize = 8;
/// `MAX_NON_LFS`: how far i386 `sendfile` (32-bit `off_t`) may move the offset.
const MAX_NON_LFS: i64 = i32::MAX as i64;
/// `EINTR`, `EOVERFLOW` (`include/uapi/asm-generic/errno-base.h`, `errno.h`).
const EINTR: i64 = 4;
const EOVERFLOW: i64 = 75;
use crate::table::{self, ArgMap, CompatCall, Convention};

/// How an atom's native result becomes the i386 one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ResultConv {
    /// The low 32 bits (what `eax` holds), sign-extended.
    Int32,
    /// `_llseek`: 0 on success (the offset went through the pointer), else `-errno`.
    Llseek,
}

/// A conversion [`Normalized::write_back`] makes after the chain ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fixup {
    /// Convert the native struct at `native_at` of the native arena into the
    /// i386 one at `compat_at` of the compat arena.
    Output {
        kind: OutStruct,
        atom: u16,
        native_at: u32,
        compat_at: u32,
    },
    /// Store the native `lseek` result as a `loff_t` at `compat_at`.
    Llseek { atom: u16, compat_at: u32 },
    /// Copy the `msg_namelen`, `msg_controllen` and `msg_flags` the native
    /// `recvmsg` left in its msghdr at `native_at` into the i386 one at
    /// `compat_at`.
    Msghdr {
        atom: u16,
        native_at: u32,
        compat_at: u32,
        control: Option<ControlFix>,
    },
}

/// Where the control data of a `recvmsg` goes back: from the native buffer
/// (`native_at`, `room` bytes) into the i386 one (`compat_at`, `compat_len`
/// bytes), converted message by message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ControlFix {
    native_at: u32,
    room: u32,
    compat_at: u32,
    compat_len: u32,
}

/// An output struct whose i386 layout differs from the native one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OutStruct {
    /// `struct stat` → `struct stat64`.
    Stat64,
    /// `struct statfs` → `struct statfs64`.
    Statfs64,
    /// `struct statfs` → the 32-bit `struct statfs` (or `EOVERFLOW`).
    Statfs32,
    /// `struct timespec` → `struct old_timespec32`, written on `EINTR`.
    Timespec32,
    /// `loff_t` → `compat_off_t`, written whenever the call ran.
    Off32,
}

// The zeros `output_struct` appends come from one array.
static_assertions::const_assert!(STATFS_SIZE <= STAT_SIZE);

impl OutStruct {
    /// `(native size, i386 size)`.
    const fn sizes(self) -> (usize, usize) {
        match self {
            OutStruct::Stat64 => (STAT_SIZE, STAT64_SIZE),
            OutStruct::Statfs64 => (STATFS_SIZE, STATFS64_SIZE),
            OutStruct::Statfs32 => (STATFS_SIZE, STATFS32_SIZE),
            OutStruct::Timespec32 => (TIMESPEC_SIZE, OLD_TIMESPEC32_SIZE),
            OutStruct::Off32 => (LOFF_SIZE, COMPAT_OFF_SIZE),
        }
    }

    /// Whether the call wrote the struct, by whether atom ran (`ran`) and
    /// its native result `r`: the stat calls on success; `clock_nanosleep`'s
    /// `remain` when a signal interrupted it (`EINTR`); `sendfile` stores
    /// the offset back whatever it returns (`put_user` after `do_sendfile`).
    const fn written(self, ran: bool, r: i64) -> bool {
        ran && match self {
            OutStruct::Stat64 | OutStruct::Statfs64 | OutStruct::Statfs32 => r >= 0,
            OutStruct::Timespec32 => r == -EINTR,
            OutStruct::Off32 => true,
        }
    }
}

/// A compat batch translated to the native layout, plus what is needed to
/// translate its outputs back after it ran.
///
/// Feed [`native_bytes`](Self::native_bytes) to the native pipeline
/// (`EncodedBatch::from_bytes`, then `validate` and `run`), then call
/// [`write_back`](Self::write_back) with the arena and completion of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Normalized {
    native: Vec<u8>,
    natoms: u16,
    compat_len: usize,
    compat_arena_start: usize,
    compat_arena_len: usize,
    native_arena_len: usize,
    results: Vec<ResultConv>,
    fixups: Vec<Fixup>,
}

/// Translate a compat batch (written by a 32-bit producer) into a native one.
///
/// Checks everything it interprets and refuses bad input with a [`CompatError`]
/// naming the atom and the reason; everything else (pointer bounds, lengths,
/// policy) is left to the native validator, which sees the translated batch.
/// Either way nothing of a refused batch runs.
pub fn normalize(bytes: &[u8]) -> Result<Normalized, CompatError> {
    let batch = CompatError::batch;
    let header = BatchHeader::read_from_prefix(bytes)
        .map_err(|_| {
            batch(E::Truncated {
                expected: abi::HEADER_SIZE,
                found: bytes.len(),
            })
        })?
        .0;
    if header.magic != COMPAT_MAGIC {
        return Err(batch(E::BadMagic(header.magic)));
    }
    if header.version != abi::VERSION {
        return Err(batch(E::BadVersion(header.version)));
    }
    let (natoms, nbufs, arena_len) = (
        header.natoms as usize,
        header.nbufs as usize,
        header.arena_len as usize,
    );
    if natoms == 0 {
        return Err(batch(E::NoAtoms));
    }
    if natoms > abi::MAX_ATOMS {
        return Err(batch(E::TooManyAtoms(natoms)));
    }
    if nbufs > abi::MAX_BUFS {
        return Err(batch(E::TooManyBufs(nbufs)));
    }
    if arena_len > abi::MAX_ARENA_LEN {
        return Err(batch(E::ArenaTooLarge(arena_len)));
    }
    let expected = compat_batch_size(natoms, nbufs, arena_len);
    if bytes.len() < expected {
        return Err(batch(E::Truncated {
            expected,
            found: bytes.len(),
        }));
    }
    if bytes.len() > expected {
        return Err(batch(E::TrailingBytes {
            expected,
            found: bytes.len(),
        }));
    }

    let atoms_start = abi::HEADER_SIZE;
    let atoms_end = atoms_start + natoms * COMPAT_ATOM_SIZE;
    let bufs_start = atoms_start + compat_atoms_len(natoms);
    let arena_start = bufs_start + nbufs * abi::BUFDESC_SIZE;
    if bytes[atoms_end..bufs_start].iter().any(|&b| b != 0) {
        return Err(batch(E::PaddingNotZero));
    }
    let atoms: Vec<CompatAtom> = bytes[atoms_start..atoms_end]
        .chunks_exact(COMPAT_ATOM_SIZE)
        .map(|c| CompatAtom::read_from_bytes(c).expect("44-byte chunk"))
        .collect();
    let bufs: Vec<BufDesc> = bytes[bufs_start..arena_start]
        .chunks_exact(abi::BUFDESC_SIZE)
        .map(|c| BufDesc::read_from_bytes(c).expect("16-byte chunk"))
        .collect();
    let arena = &bytes[arena_start..];
    for (i, d) in bufs.iter().enumerate() {
        if d.offset as u64 + d.len as u64 > arena_len as u64 {
            return Err(batch(E::BadBufDesc { buf: i as u16 }));
        }
    }

    let extra_base = arena_len.next_multiple_of(abi::BATCH_ALIGN);
    let mut cx = Ctx {
        arena,
        bufs: &bufs,
        is_llseek: vec![false; natoms],
        uses: vec![0; nbufs],
        exclusive: Vec::new(),
        extra_bufs: Vec::new(),
        extra_arena: Vec::new(),
        extra_base,
        fixups: Vec::new(),
        count_cut: None,
    };
    let mut native_atoms = Vec::with_capacity(natoms);
    let mut results = Vec::with_capacity(natoms);
    for (i, atom) in atoms.iter().enumerate() {
        let call = table::lookup(atom.nr);
        let name = call.map(|c| c.name);
        let (native, conv) = cx.atom(i, atom, call).map_err(|kind| CompatError {
            atom: Some(i as u16),
            syscall: name,
            kind,
        })?;
        native_atoms.push(native);
        results.push(conv);
    }
    for &(buf, atom) in &cx.exclusive {
        if cx.uses[buf as usize] != 1 {
            return Err(CompatError {
                atom: Some(atom),
                syscall: table::lookup(atoms[atom as usize].nr).map(|c| c.name),
                kind: E::SharedTranslatedBuffer { buf },
            });
        }
    }

    let total_bufs = nbufs + cx.extra_bufs.len();
    if total_bufs > abi::MAX_BUFS {
        return Err(batch(E::TooManyBufs(total_bufs)));
    }
    let native_arena_len = extra_base + cx.extra_arena.len();
    if native_arena_len > abi::MAX_ARENA_LEN {
        return Err(batch(E::ArenaTooLarge(native_arena_len)));
    }
    let native_header = BatchHeader {
        magic: abi::MAGIC,
        // The calls whose outcome depends on the calling ABI (directory
        // offsets) then go through the kernel's i386 entry.
        flags: header.flags | abi::BATCH_COMPAT32,
        nbufs: total_bufs as u16,
        arena_len: native_arena_len as u32,
        ..header
    };
    let mut native = Vec::with_capacity(
        abi::HEADER_SIZE
            + natoms * abi::ATOM_SIZE
            + total_bufs * abi::BUFDESC_SIZE
            + native_arena_len,
    );
    native.extend_from_slice(native_header.as_bytes());
    native.extend_from_slice(native_atoms.as_bytes());
    native.extend_from_slice(bufs.as_bytes());
    native.extend_from_slice(cx.extra_bufs.as_bytes());
    native.extend_from_slice(arena);
    native.resize(native.len() + (extra_base - arena_len), 0);
    native.extend_from_slice(&cx.extra_arena);

    Ok(Normalized {
        native,
        natoms: natoms as u16,
        compat_len: bytes.len(),
        compat_arena_start: arena_start,
        compat_arena_len: arena_len,
        native_arena_len,
        results,
        fixups: cx.fixups,
    })
}

/// Translation state of one batch.
struct Ctx<'a> {
    arena: &'a [u8],
    bufs: &'a [BufDesc],
    /// Atoms (so far) that are `_llseek`.
    is_llseek: Vec<bool>,
    /// Per compat buffer: how many arguments refer to it.
    uses: Vec<u16>,
    /// `(buffer, atom)`: buffers that receive a translated output.
    exclusive: Vec<(u16, u16)>,
    extra_bufs: Vec<BufDesc>,
    extra_arena: Vec<u8>,
    extra_base: usize,
    fixups: Vec<Fixup>,
    /// `(compat word, value)`: the count of the atom being translated, cut
    /// by an [`ArgMap::Off32InOut`] offset (`sendfile`'s `MAX_NON_LFS`).
    count_cut: Option<(u8, u64)>,
}

/// A compat argument: its kind, its word and where it sits.
#[derive(Clone, Copy)]
struct Word {
    kind: u32,
    value: u32,
    pos: ArgPos,
}

/// Stop flags for the native `lseek` of an `_llseek` atom. The i386 result is
/// `min(r, 0)` of the native result `r` (0 on success, `-errno` on failure), so a
/// condition on it becomes one on `r`: "negative" stays "negative", "zero" means
/// "not negative", which no native flag expresses unless negative also stops (and
/// then the chain stops whatever happens).
pub(crate) fn llseek_stop(flags: u32) -> Result<u32, u32> {
    let stop = flags & abi::STOP_MASK;
    let on_failure =
        stop & (abi::STOP_ON_NONZERO | abi::STOP_ON_NEGATIVE | abi::STOP_ON_NON_POSITIVE) != 0;
    let on_success = stop & (abi::STOP_ON_ZERO | abi::STOP_ON_NON_POSITIVE) != 0;
    let native = match (on_failure, on_success) {
        (false, false) => 0,
        (true, false) => abi::STOP_ON_NEGATIVE,
        (true, true) => abi::STOP_ON_NONZERO | abi::STOP_ON_ZERO,
        (false, true) => return Err(stop),
    };
    Ok((flags & !abi::STOP_MASK) | native)
}

impl Ctx<'_> {
    /// Translate atom `i`.
    fn atom(
        &mut self,
        i: usize,
        atom: &CompatAtom,
        call: Option<&'static CompatCall>,
    ) -> Result<(Atom, ResultConv), E> {
        let call = call.ok_or(E::UnknownSyscall(atom.nr))?;
        if atom.nargs != call.nargs as u16 {
            return Err(E::WrongArgCount {
                expected: call.nargs,
                found: atom.nargs,
            });
        }
        let mut words = [Word {
            kind: 0,
            value: 0,
            pos: ArgPos::Atom(0),
        }; abi::MAX_ARGS];
        for (a, w) in words.iter_mut().enumerate() {
            let (kind, value) = (atom.arg_kind[a], atom.arg[a]);
            if a >= call.nargs as usize {
                if kind != abi::ARG_IMM || value != 0 {
                    return Err(E::UnusedArgNotZero(a as u8));
                }
                continue;
            }
            *w = Word {
                kind: kind as u32,
                value,
                pos: ArgPos::Atom(a as u8),
            };
            check_kind(*w)?;
        }

        let (native_nr, maps, words) = match call.convention {
            Convention::Socketcall => self.socketcall(&words)?,
            _ => (call.native, call.args, words),
        };
        let sig = signature::lookup(native_nr).expect("the compat table names native calls");
        let mut flags = atom.flags;
        let mut conv = ResultConv::Int32;
        if let Convention::Llseek { result_arg } = call.convention {
            flags = llseek_stop(flags).map_err(E::UnsupportedStop)?;
            let w = words[result_arg as usize];
            let at = self.translated_region(w, LLSEEK_RESULT_SIZE, true)?;
            self.exclusive.push((self.buf_of(w), i as u16));
            self.fixups.push(Fixup::Llseek {
                atom: i as u16,
                compat_at: at,
            });
            conv = ResultConv::Llseek;
            self.is_llseek[i] = true;
        }

        let mut native = Atom {
            flags,
            nr: native_nr,
            nargs: sig.args.len() as u16,
            private: atom.private as u64,
            ..Default::default()
        };
        self.count_cut = None;
        for (k, map) in maps.iter().enumerate() {
            let (kind, value) = self.native_arg(i, sig, k, *map, &words)?;
            native.arg_kind[k] = kind;
            native.arg[k] = value;
        }
        if let Some((word, count)) = self.count_cut.take() {
            let k = maps
                .iter()
                .position(|m| *m == ArgMap::Word(word))
                .expect("the table names the count word (a test checks)");
            native.arg[k] = count;
        }
        if let ArgRule::SocketOption { level, .. } = sig.rule {
            check_sockopt(maps, &words, level as usize)?;
        }
        Ok((native, conv))
    }

    /// The native argument `k` of atom `i`.
    fn native_arg(
        &mut self,
        i: usize,
        sig: &Signature,
        k: usize,
        map: ArgMap,
        words: &[Word; abi::MAX_ARGS],
    ) -> Result<(u8, u64), E> {
        let ty = sig.args[k];
        Ok(match map {
            ArgMap::Const(v) => (abi::ARG_IMM, v),
            ArgMap::Word(j) => self.widen(i, words[j as usize], ty)?,
            ArgMap::Pair { lo, hi } => {
                let (lo, hi) = (words[lo as usize], words[hi as usize]);
                for w in [lo, hi] {
                    if w.kind != abi::ARG_IMM as u32 {
                        return Err(E::NeedsImmediate { arg: w.pos });
                    }
                }
                (abi::ARG_IMM, ((hi.value as u64) << 32) | lo.value as u64)
            }
            ArgMap::Stat64Out(j) => self.output_struct(i, words[j as usize], OutStruct::Stat64)?,
            ArgMap::Statfs32Out(j) => {
                self.output_struct(i, words[j as usize], OutStruct::Statfs32)?
            }
            ArgMap::Timespec32Out(j) => match words[j as usize] {
                w if w.kind == abi::ARG_IMM as u32 && w.value == 0 => (abi::ARG_IMM, 0),
                w => self.output_struct(i, w, OutStruct::Timespec32)?,
            },
            ArgMap::Timespec32In { word, count } => {
                let w = words[word as usize];
                if w.kind == abi::ARG_IMM as u32 && w.value == 0 {
                    return Ok((abi::ARG_IMM, 0));
                }
                let len = count as usize * OLD_TIMESPEC32_SIZE;
                let at = self.translated_region(w, len, false)? as usize;
                // As get_old_timespec32: both fields sign-extended.
                let mut native = Vec::with_capacity(count as usize * TIMESPEC_SIZE);
                for t in self.arena[at..at + len].chunks_exact(OLD_TIMESPEC32_SIZE) {
                    let t = OldTimespec32::read_from_bytes(t).expect("8 bytes");
                    native.extend_from_slice(&(t.tv_sec as i64).to_le_bytes());
                    native.extend_from_slice(&(t.tv_nsec as i64).to_le_bytes());
                }
                let (index, _) = self.append(&native, abi::BUF_IN);
                (abi::ARG_BUF, abi::buf_arg(index, 0))
            }
            ArgMap::Off32InOut { offset, count } => {
                let w = words[offset as usize];
                if w.kind == abi::ARG_IMM as u32 && w.value == 0 {
                    // No offset: the file offset, no MAX_NON_LFS (do_sendfile's max 0).
                    return Ok((abi::ARG_IMM, 0));
                }
                let compat_at = self.translated_region(w, COMPAT_OFF_SIZE, true)? as usize;
                let d = &self.bufs[self.buf_of(w) as usize];
                if d.flags & abi::BUF_IN == 0 {
                    return Err(E::BadTranslatedBuffer {
                        arg: w.pos,
                        reason: "the offset is read too: its buffer must be marked IN and OUT",
                    });
                }
                // Used by no other argument (checked below), so no atom can
                // change it before this one: reading it up front is reading it
                // when the call runs.
                self.exclusive.push((self.buf_of(w), i as u16));
                let raw = &self.arena[compat_at..compat_at + COMPAT_OFF_SIZE];
                let pos = i32::from_le_bytes(raw.try_into().expect("4 bytes")) as i64;
                let n = words[count as usize];
                if n.kind != abi::ARG_IMM as u32 {
                    return Err(E::NeedsImmediate { arg: n.pos });
                }
                // do_sendfile(.., MAX_NON_LFS): the count is cut so the offset
                // stays within 31 bits; at the limit the i386 call fails.
                if pos + n.value as i64 > MAX_NON_LFS {
                    if pos >= MAX_NON_LFS {
                        return Err(E::BadTranslatedBuffer {
                            arg: w.pos,
                            reason: "the 32-bit offset is at its limit (i386 sendfile fails with EOVERFLOW)",
                        });
                    }
                    self.count_cut = Some((count, (MAX_NON_LFS - pos) as u64));
                }
                let (index, native_at) =
                    self.append(&pos.to_le_bytes(), abi::BUF_IN | abi::BUF_OUT);
                self.fixups.push(Fixup::Output {
                    kind: OutStruct::Off32,
                    atom: i as u16,
                    native_at,
                    compat_at: compat_at as u32,
                });
                (abi::ARG_BUF, abi::buf_arg(index, 0))
            }
            ArgMap::Statfs64Out { size, buf } => {
                let sz = words[size as usize];
                if sz.kind != abi::ARG_IMM as u32 {
                    return Err(E::NeedsImmediate { arg: sz.pos });
                }
                if sz.value as usize != STATFS64_SIZE {
                    return Err(E::BadTranslatedBuffer {
                        arg: sz.pos,
                        reason: "fstatfs64 takes sizeof(struct statfs64), 84",
                    });
                }
                self.output_struct(i, words[buf as usize], OutStruct::Statfs64)?
            }
            ArgMap::Iovecs { iov, count } => {
                let (w, n) = (words[iov as usize], words[count as usize]);
                if n.kind != abi::ARG_IMM as u32 {
                    return Err(E::NeedsImmediate { arg: n.pos });
                }
                let index = self.iovecs(w, n.value, n.pos)?;
                (abi::ARG_BUF, abi::buf_arg(index, 0))
            }
            ArgMap::Msghdr(j) => self.msghdr(i, sig, k, words[j as usize])?,
            ArgMap::SiginfoIn(j) => {
                let w = words[j as usize];
                let at = self.translated_region(w, COMPAT_SIGINFO_SIZE, false)? as usize;
                let info = siginfo_to_native(&self.arena[at..at + COMPAT_SIGINFO_SIZE])
                    .map_err(|si_code| E::UnsupportedSiginfo { si_code })?;
                let (index, _) = self.append(&info, abi::BUF_IN);
                (abi::ARG_BUF, abi::buf_arg(index, 0))
            }
        })
    }

    /// The i386 iovec array compat word `w` points to, `n` elements (the
    /// count at `count_pos`), appended as a native [`abi::IoVec`] array;
    /// returns the index of the appended buffer.
    fn iovecs(&mut self, w: Word, n: u32, count_pos: ArgPos) -> Result<u16, E> {
        if n as usize > abi::MAX_IOVECS {
            return Err(E::DoesNotFit {
                arg: count_pos,
                value: n,
                what: "an iovec count (MAX_IOVECS)",
            });
        }
        let len = n as usize * COMPAT_IOVEC_SIZE;
        let at = self.translated_region(w, len, false)? as usize;
        // Copied out element by element: the producer may place the
        // array at any offset.
        let array = self.arena[at..at + len]
            .chunks_exact(COMPAT_IOVEC_SIZE)
            .map(|e| CompatIoVec::read_from_bytes(e).expect("8 bytes"));
        let mut native = Vec::with_capacity(n as usize * abi::IOVEC_SIZE);
        for e in array {
            // The element names a buffer like a BUF argument; the
            // native validator checks it against that buffer.
            let (index, offset) = self.buf_word(Word {
                kind: abi::ARG_BUF as u32,
                value: e.base,
                pos: w.pos,
            })?;
            self.uses[index as usize] += 1;
            let element = abi::IoVec {
                base: abi::buf_arg(index, offset),
                len: e.len as u64,
            };
            native.extend_from_slice(element.as_bytes());
        }
        let (index, _) = self.append(&native, abi::BUF_IN);
        Ok(index)
    }

    /// Compat word `w` of atom `i` points to the i386 msghdr of the native
    /// argument `k` of `sig` (`sendmsg`, `recvmsg`): append its native
    /// translation (and its iovec array's, and its control data's); a
    /// `recvmsg` gets its out fields and control messages written back.
    fn msghdr(&mut self, i: usize, sig: &Signature, k: usize, w: Word) -> Result<(u8, u64), E> {
        let recv = matches!(sig.args[k], ArgType::Ptr(p) if p.dir != signature::Dir::In);
        let compat_at = self.translated_region(w, COMPAT_MSGHDR_SIZE, recv)?;
        if recv {
            self.exclusive.push((self.buf_of(w), i as u16));
        }
        let c = compat_at as usize;
        let hdr = CompatMsgHdr::read_from_bytes(&self.arena[c..c + COMPAT_MSGHDR_SIZE])
            .expect("28 bytes");
        let buf = |value: u32| Word {
            kind: abi::ARG_BUF as u32,
            value,
            pos: w.pos,
        };
        // A field whose length is 0 names nothing (as natively).
        let mut fix = None;
        let (control, controllen) = match hdr.controllen as usize {
            0 => (0, 0),
            n if recv => {
                // Room for what an i386 process would get: the native header
                // is 4 bytes longer, and the data of one message starts at
                // the same 4-byte multiple.
                let cw = buf(hdr.control);
                let compat_ctl = self.translated_region(cw, n, true)?;
                self.exclusive.push((self.buf_of(cw), i as u16));
                let room = n + (abi::CMSGHDR_SIZE - COMPAT_CMSGHDR_SIZE);
                let (index, native_ctl) = self.append(&vec![0; room], abi::BUF_OUT);
                fix = Some(ControlFix {
                    native_at: native_ctl,
                    room: room as u32,
                    compat_at: compat_ctl,
                    compat_len: n as u32,
                });
                (abi::buf_arg(index, 0), room as u64)
            }
            n => {
                let at = self.translated_region(buf(hdr.control), n, false)? as usize;
                let native = cmsgs_to_native(&self.arena[at..at + n])
                    .map_err(|reason| E::BadControl { arg: w.pos, reason })?;
                let (index, _) = self.append(&native, abi::BUF_IN);
                (abi::buf_arg(index, 0), native.len() as u64)
            }
        };
        let name = match hdr.namelen {
            0 => 0,
            _ => {
                let (index, offset) = self.buf_word(buf(hdr.name))?;
                self.uses[index as usize] += 1;
                abi::buf_arg(index, offset)
            }
        };
        let iov = match hdr.iovlen {
            0 => 0,
            n => abi::buf_arg(self.iovecs(buf(hdr.iov), n, w.pos)?, 0),
        };
        let native = abi::MsgHdr {
            name,
            namelen: hdr.namelen,
            iov,
            iovlen: hdr.iovlen as u64,
            control,
            controllen,
            ..Default::default()
        };
        let flags = if recv {
            abi::BUF_IN | abi::BUF_OUT
        } else {
            abi::BUF_IN
        };
        let (index, native_at) = self.append(native.as_bytes(), flags);
        if recv {
            self.fixups.push(Fixup::Msghdr {
                atom: i as u16,
                native_at,
                compat_at,
                control: fix,
            });
        }
        Ok((abi::ARG_BUF, abi::buf_arg(index, 0)))
    }

    /// Widen one 32-bit argument by the native argument's type.
    fn widen(&mut self, i: usize, w: Word, ty: ArgType) -> Result<(u8, u64), E> {
        let is_ptr = matches!(ty, ArgType::Ptr(_));
        match w.kind as u8 {
            abi::ARG_RESULT => {
                if is_ptr {
                    return Err(E::NotABuffer { arg: w.pos });
                }
                if w.value as usize >= i {
                    return Err(E::DoesNotFit {
                        arg: w.pos,
                        value: w.value,
                        what: "the index of an earlier atom",
                    });
                }
                if self.is_llseek[w.value as usize] {
                    return Err(E::ResultOfLlseek { arg: w.pos });
                }
                Ok((abi::ARG_RESULT, w.value as u64))
            }
            abi::ARG_BUF => {
                if !is_ptr {
                    return Err(E::BufferForValue { arg: w.pos });
                }
                let (index, offset) = self.buf_word(w)?;
                self.uses[index as usize] += 1;
                Ok((abi::ARG_BUF, abi::buf_arg(index, offset)))
            }
            _ => {
                // ARG_IMM (check_kind refused everything else).
                let v = w.value;
                Ok(match ty {
                    ArgType::Ptr(_) if v == 0 => (abi::ARG_IMM, 0),
                    ArgType::Ptr(_) => return Err(E::RawPointer { arg: w.pos }),
                    ArgType::Fd | ArgType::Int | ArgType::Off => {
                        (abi::ARG_IMM, v as i32 as i64 as u64)
                    }
                    ArgType::UInt | ArgType::Size => (abi::ARG_IMM, v as u64),
                })
            }
        }
    }

    /// Decode a `BUF` word whose buffer must exist.
    fn buf_word(&self, w: Word) -> Result<(u16, u32), E> {
        let (index, offset) = split_compat_buf_arg(w.value);
        if index as usize >= self.bufs.len() {
            return Err(E::BufIndexOutOfRange {
                arg: w.pos,
                index,
                nbufs: self.bufs.len() as u16,
            });
        }
        Ok((index, offset))
    }

    fn buf_of(&self, w: Word) -> u16 {
        split_compat_buf_arg(w.value).0
    }

    /// Check a pointer to a struct the translator converts: it must be a `BUF`
    /// of `size` bytes in a buffer that is `OUT` (for outputs) or `IN` and not
    /// `OUT` (for inputs read up front, which no atom may change). Returns its
    /// offset in the compat arena and counts the use.
    fn translated_region(&mut self, w: Word, size: usize, output: bool) -> Result<u32, E> {
        let bad = |reason| E::BadTranslatedBuffer { arg: w.pos, reason };
        match w.kind as u8 {
            abi::ARG_BUF => {}
            abi::ARG_IMM if w.value != 0 => return Err(E::RawPointer { arg: w.pos }),
            abi::ARG_IMM => return Err(bad("a NULL pointer where the call writes or reads")),
            _ => return Err(E::NotABuffer { arg: w.pos }),
        }
        let (index, offset) = self.buf_word(w)?;
        let d = &self.bufs[index as usize];
        if offset as u64 + size as u64 > d.len as u64 {
            return Err(bad("the struct does not fit in its buffer"));
        }
        if output && d.flags & abi::BUF_OUT == 0 {
            return Err(bad("an output struct in a buffer not marked OUT"));
        }
        if !output && (d.flags & abi::BUF_IN == 0 || d.flags & abi::BUF_OUT != 0) {
            return Err(bad(
                "a struct read up front must lie in a buffer marked IN and not OUT",
            ));
        }
        self.uses[index as usize] += 1;
        Ok(d.offset + offset)
    }

    /// Compat word `w` of atom `i` points to an i386 output struct of `kind`:
    /// the native call writes the native struct into a buffer appended for
    /// it, which write-back converts. Returns the native argument.
    fn output_struct(&mut self, i: usize, w: Word, kind: OutStruct) -> Result<(u8, u64), E> {
        let (native_size, compat_size) = kind.sizes();
        let compat_at = self.translated_region(w, compat_size, true)?;
        self.exclusive.push((self.buf_of(w), i as u16));
        const ZEROS: [u8; STAT_SIZE] = [0; STAT_SIZE];
        let (index, native_at) = self.append(&ZEROS[..native_size], abi::BUF_OUT);
        self.fixups.push(Fixup::Output {
            kind,
            atom: i as u16,
            native_at,
            compat_at,
        });
        Ok((abi::ARG_BUF, abi::buf_arg(index, 0)))
    }

    /// Append a buffer to the native batch; returns `(index, arena offset)`.
    fn append(&mut self, bytes: &[u8], flags: u32) -> (u16, u32) {
        let offset = (self.extra_base + self.extra_arena.len()) as u32;
        let index = (self.bufs.len() + self.extra_bufs.len()) as u16;
        self.extra_bufs.push(BufDesc {
            offset,
            len: bytes.len() as u32,
            flags,
            reserved: 0,
        });
        self.extra_arena.extend_from_slice(bytes);
        let padded = self.extra_arena.len().next_multiple_of(abi::BATCH_ALIGN);
        self.extra_arena.resize(padded, 0);
        (index, offset)
    }

    /// Resolve a `socketcall(call, args)` atom into its native call and the
    /// entries of its argument array.
    fn socketcall(
        &mut self,
        words: &[Word; abi::MAX_ARGS],
    ) -> Result<(u32, &'static [ArgMap], [Word; abi::MAX_ARGS]), E> {
        let call = words[0];
        if call.kind != abi::ARG_IMM as u32 {
            return Err(E::NeedsImmediate { arg: call.pos });
        }
        let map =
            table::lookup_socketcall(call.value).ok_or(E::UnsupportedSocketcall(call.value))?;
        let n = map.nargs as usize;
        let at = self.translated_region(words[1], n * SOCKETCALL_ARG_SIZE, false)? as usize;
        let mut entries = [Word {
            kind: 0,
            value: 0,
            pos: ArgPos::Socketcall(0),
        }; abi::MAX_ARGS];
        for (j, e) in entries.iter_mut().enumerate().take(n) {
            let off = at + j * SOCKETCALL_ARG_SIZE;
            let raw = SocketcallArg::read_from_bytes(&self.arena[off..off + SOCKETCALL_ARG_SIZE])
                .expect("8 bytes");
            *e = Word {
                kind: raw.kind,
                value: raw.value,
                pos: ArgPos::Socketcall(j as u8),
            };
            check_kind(*e)?;
        }
        Ok((map.native, map.args, entries))
    }
}

/// i386 control messages (`cmsghdr`s of [`COMPAT_CMSGHDR_SIZE`] bytes, each
/// at a 4-byte aligned offset) as native ones (16-byte headers, 8-byte
/// aligned), as the kernel's compat `sendmsg` converts them
/// (`cmsghdr_from_user_compat_to_kern`): fewer than 12 bytes left end the
/// walk; a malformed length, or no message at all, is refused.
pub(crate) fn cmsgs_to_native(c: &[u8]) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while c.len().saturating_sub(at) >= COMPAT_CMSGHDR_SIZE {
        let word = |k: usize| c[at + k..at + k + 4].try_into().expect("4 bytes");
        let len = u32::from_le_bytes(word(0)) as usize;
        if len < COMPAT_CMSGHDR_SIZE || len > c.len() - at {
            return Err("a cmsg_len shorter than its 12-byte header or past msg_controllen");
        }
        let data = &c[at + COMPAT_CMSGHDR_SIZE..at + len];
        out.extend_from_slice(&((abi::CMSGHDR_SIZE + data.len()) as u64).to_le_bytes());
        out.extend_from_slice(&word(4));
        out.extend_from_slice(&word(8));
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(8), 0);
        at += len.next_multiple_of(4);
    }
    if out.is_empty() {
        return Err("no control message in msg_controllen bytes");
    }
    Ok(out)
}

/// Native control messages (what a `recvmsg` wrote) as i386 ones in at most
/// `room` bytes, and whether some did not fit (`MSG_CTRUNC` then). A
/// malformed native message ends the walk (the kernel writes none).
pub(crate) fn cmsgs_to_compat(n: &[u8], room: usize) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut at = 0usize;
    while n.len().saturating_sub(at) >= abi::CMSGHDR_SIZE {
        let len = u64::from_le_bytes(n[at..at + 8].try_into().expect("8 bytes")) as usize;
        if len < abi::CMSGHDR_SIZE || len > n.len() - at {
            break;
        }
        let data = &n[at + abi::CMSGHDR_SIZE..at + len];
        let clen = COMPAT_CMSGHDR_SIZE + data.len();
        if out.len() + clen > room {
            return (out, true);
        }
        out.extend_from_slice(&(clen as u32).to_le_bytes());
        out.extend_from_slice(&n[at + 8..at + 16]);
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(4).min(room), 0);
        at += len.next_multiple_of(8);
    }
    (out, false)
}

/// Refuse unknown kinds and raw pointers.
fn check_kind(w: Word) -> Result<(), E> {
    match w.kind {
        k if k == abi::ARG_RAW as u32 => Err(E::RawPointer { arg: w.pos }),
        k if k > abi::ARG_RAW as u32 => Err(E::BadArgKind {
            arg: w.pos,
            kind: k,
        }),
        _ => Ok(()),
    }
}

/// A socket option call (its row's [`ArgRule::SocketOption`]): the level and
/// name (native arguments `level` and `level + 1`) must be immediates, and the
/// option must have the same layout on i386.
fn check_sockopt(maps: &[ArgMap], words: &[Word; abi::MAX_ARGS], level: usize) -> Result<(), E> {
    let word = |k: usize| match maps[k] {
        ArgMap::Word(j) => words[j as usize],
        _ => unreachable!("level and optname come from words"),
    };
    let (level, optname) = (word(level), word(level + 1));
    for w in [level, optname] {
        if w.kind != abi::ARG_IMM as u32 {
            return Err(E::NeedsImmediate { arg: w.pos });
        }
    }
    if table::UNTRANSLATED_SOCKOPTS.contains(&(level.value, optname.value)) {
        return Err(E::UnsupportedSockopt {
            level: level.value,
            optname: optname.value,
        });
    }
    Ok(())
}

/// Translate an i386 `siginfo_t` into the native one, as the kernel's
/// `copy_siginfo_from_user32` does: the common `signo`, `errno`, `code` words,
/// then the union (at offset 12 on i386, 16 natively) by the layout `si_code`
/// selects: `SI_TIMER` (tid, overrun, `sival_int`), `SI_SIGIO` (a `long` band,
/// fd), other negative codes (pid, uid, `sival_int`), `SI_USER` and codes from
/// `SI_KERNEL` up (pid, uid). Codes between are kernel-generated with a
/// per-signal layout and refused. Everything else is zero, as in the kernel.
pub(crate) fn siginfo_to_native(c: &[u8]) -> Result<[u8; SIGINFO_SIZE], i32> {
    const SI_KERNEL: i32 = 0x80;
    const SI_SIGIO: i32 = -5;
    let rd = |o: usize| i32::from_le_bytes([c[o], c[o + 1], c[o + 2], c[o + 3]]);
    let mut n = [0u8; SIGINFO_SIZE];
    let mut put = |o: usize, v: &[u8]| n[o..o + v.len()].copy_from_slice(v);
    let code = rd(8);
    if code > 0 && code < SI_KERNEL {
        return Err(code);
    }
    put(0, &rd(0).to_le_bytes());
    put(4, &rd(4).to_le_bytes());
    put(8, &code.to_le_bytes());
    match code {
        SI_SIGIO => {
            put(16, &(rd(12) as i64).to_le_bytes());
            put(24, &rd(16).to_le_bytes());
        }
        // SI_TIMER (tid, overrun, sival_int) has the offsets of the other
        // negative codes (pid, uid, sival_int).
        c if c < 0 => {
            put(16, &rd(12).to_le_bytes());
            put(20, &rd(16).to_le_bytes());
            put(24, &rd(20).to_le_bytes());
        }
        _ => {
            put(16, &rd(12).to_le_bytes());
            put(20, &rd(16).to_le_bytes());
        }
    }
    Ok(n)
}

/// Convert the native `struct statfs` into the i386 `struct statfs64` as
/// `put_compat_statfs64` (`fs/statfs.c`) fills it: 32-bit fields take the low
/// 32 bits (the kernel refuses with `EOVERFLOW` only block sizes over 32 bits,
/// which no file system has).
pub(crate) fn statfs_to_statfs64(st: &Statfs) -> Statfs64 {
    Statfs64 {
        f_type: st.f_type as u32,
        f_bsize: st.f_bsize as u32,
        f_blocks: st.f_blocks.into(),
        f_bfree: st.f_bfree.into(),
        f_bavail: st.f_bavail.into(),
        f_files: st.f_files.into(),
        f_ffree: st.f_ffree.into(),
        f_fsid: st.f_fsid,
        f_namelen: st.f_namelen as u32,
        f_frsize: st.f_frsize as u32,
        f_flags: st.f_flags as u32,
        f_spare: [0; 4],
    }
}

/// Convert the native `struct statfs` into the i386 32-bit `struct statfs` as
/// `put_compat_statfs` (`fs/statfs.c`) does: `None` (the call's `EOVERFLOW`)
/// when a block count or size needs more than 32 bits, or a file count does
/// and is not -1 (unknown, which is stored as `0xffffffff`).
pub(crate) fn statfs_to_statfs32(st: &Statfs) -> Option<Statfs32> {
    const HIGH: u64 = 0xffff_ffff_0000_0000;
    let wide = st.f_blocks | st.f_bfree | st.f_bavail | st.f_bsize as u64 | st.f_frsize as u64;
    let files_wide = |n: u64| n != u64::MAX && n & HIGH != 0;
    if wide & HIGH != 0 || files_wide(st.f_files) || files_wide(st.f_ffree) {
        return None;
    }
    Some(Statfs32 {
        f_type: st.f_type as u32,
        f_bsize: st.f_bsize as u32,
        f_blocks: st.f_blocks as u32,
        f_bfree: st.f_bfree as u32,
        f_bavail: st.f_bavail as u32,
        f_files: st.f_files as u32,
        f_ffree: st.f_ffree as u32,
        f_fsid: st.f_fsid,
        f_namelen: st.f_namelen as u32,
        f_frsize: st.f_frsize as u32,
        f_flags: st.f_flags as u32,
        f_spare: [0; 4],
    })
}

/// Convert the native `struct stat` into the i386 `struct stat64` as
/// `cp_stat64` (`arch/x86/kernel/sys_ia32.c`) fills it: every field but the two
/// pads, which keep the bytes `old` had; 32-bit fields take the low 32 bits.
pub(crate) fn stat_to_stat64(st: &Stat, old: &Stat64) -> Stat64 {
    Stat64 {
        st_dev: st.st_dev.into(),
        pad0: old.pad0,
        st_ino_lo: st.st_ino as u32,
        st_mode: st.st_mode,
        st_nlink: st.st_nlink as u32,
        st_uid: st.st_uid,
        st_gid: st.st_gid,
        st_rdev: st.st_rdev.into(),
        pad3: old.pad3,
        st_size: st.st_size.into(),
        st_blksize: st.st_blksize as u32,
        st_blocks: (st.st_blocks as u64).into(),
        st_atime: st.st_atime as u32,
        st_atime_nsec: st.st_atime_nsec as u32,
        st_mtime: st.st_mtime as u32,
        st_mtime_nsec: st.st_mtime_nsec as u32,
        st_ctime: st.st_ctime as u32,
        st_ctime_nsec: st.st_ctime_nsec as u32,
        st_ino: st.st_ino.into(),
    }
}

impl Normalized {
    /// The native batch, `header | atoms | bufs | arena`: the compat buffers and
    /// arena unchanged, followed by the buffers the translator appended (native
    /// `struct stat` outputs, translated `siginfo_t` inputs).
    pub fn native_bytes(&self) -> &[u8] {
        &self.native
    }

    /// The native batch, by value.
    pub fn into_native_bytes(self) -> Vec<u8> {
        self.native
    }

    /// Number of atoms (the same in both layouts: one native atom per compat atom).
    pub fn natoms(&self) -> usize {
        self.natoms as usize
    }

    /// Length of the native arena (what `ValidatedBatch::arena()` returns).
    pub fn native_arena_len(&self) -> usize {
        self.native_arena_len
    }

    /// Length of the compat batch this was made from.
    pub fn compat_len(&self) -> usize {
        self.compat_len
    }

    /// The completion as the i386 producer sees it: each result of an atom that
    /// ran becomes what the i386 call returns in `eax` (its low 32 bits,
    /// sign-extended; for `_llseek`, 0 on success), and `status` follows. The
    /// completion layout itself is the same on i386.
    pub fn completion(&self, native: &Completion) -> Completion {
        let mut c = *native;
        let n = (self.natoms as usize).min(abi::MAX_ATOMS);
        for (i, conv) in self.results.iter().enumerate().take(n) {
            if native.ran_mask & (1 << i) == 0 {
                continue;
            }
            let r = native.results[i];
            c.results[i] = match conv {
                ResultConv::Llseek if r >= 0 => 0,
                _ => r as i32 as i64,
            };
        }
        if native.atoms_run > 0 && (native.last_atom as usize) < n {
            c.status = c.results[native.last_atom as usize];
        }
        c
    }

    /// After the native batch ran: copy its arena back into the compat batch
    /// `compat` (the bytes given to [`normalize`], updated in place), convert
    /// every translated output of an atom that ran and succeeded (`struct stat`
    /// → `struct stat64`, the `_llseek` offset into its `loff_t`), and return the
    /// i386 view of the completion ([`completion`](Self::completion)).
    ///
    /// `native_arena` is the native batch's arena after the run
    /// (`ValidatedBatch::arena()`), `native` its completion.
    pub fn write_back(
        &self,
        native_arena: &[u8],
        native: &Completion,
        compat: &mut [u8],
    ) -> Result<Completion, CompatError> {
        let mismatch = |what| CompatError::batch(E::WriteBackMismatch(what));
        if native_arena.len() != self.native_arena_len {
            return Err(mismatch("the native arena is not this batch's"));
        }
        if compat.len() != self.compat_len {
            return Err(mismatch("the compat batch is not the one normalised"));
        }
        if native.natoms != self.natoms {
            return Err(mismatch("the completion is not this batch's"));
        }
        let arena = &mut compat[self.compat_arena_start..];
        arena.copy_from_slice(&native_arena[..self.compat_arena_len]);
        let ran = |atom: u16| native.ran_mask & (1 << atom) != 0;
        let ok = |atom: u16| ran(atom) && native.results[atom as usize] >= 0;
        // Atoms whose i386 call fails where the native one succeeded.
        let mut overflowed: Vec<u16> = Vec::new();
        for fixup in &self.fixups {
            match *fixup {
                Fixup::Output {
                    kind,
                    atom,
                    native_at,
                    compat_at,
                } if kind.written(ran(atom), native.results[atom as usize]) => {
                    let (native_size, compat_size) = kind.sizes();
                    let (n, c) = (native_at as usize, compat_at as usize);
                    let written = &native_arena[n..n + native_size];
                    let out = &mut arena[c..c + compat_size];
                    match kind {
                        OutStruct::Stat64 => {
                            let st = Stat::read_from_bytes(written).expect("a struct stat");
                            let old = Stat64::read_from_bytes(out).expect("96 bytes");
                            out.copy_from_slice(stat_to_stat64(&st, &old).as_bytes());
                        }
                        OutStruct::Statfs64 => {
                            let st = Statfs::read_from_bytes(written).expect("a struct statfs");
                            out.copy_from_slice(statfs_to_statfs64(&st).as_bytes());
                        }
                        OutStruct::Statfs32 => {
                            let st = Statfs::read_from_bytes(written).expect("a struct statfs");
                            match statfs_to_statfs32(&st) {
                                Some(st32) => out.copy_from_slice(st32.as_bytes()),
                                // The kernel returns before copy_to_user.
                                None => overflowed.push(atom),
                            }
                        }
                        OutStruct::Timespec32 => {
                            // As put_old_timespec32: both fields take the low 32 bits.
                            let sec = i64::from_le_bytes(written[..8].try_into().expect("8"));
                            let nsec = i64::from_le_bytes(written[8..].try_into().expect("8"));
                            let t = OldTimespec32 {
                                tv_sec: sec as i32,
                                tv_nsec: nsec as i32,
                            };
                            out.copy_from_slice(t.as_bytes());
                        }
                        OutStruct::Off32 => {
                            // At most MAX_NON_LFS (the count was cut): fits.
                            let pos = i64::from_le_bytes(written.try_into().expect("8 bytes"));
                            out.copy_from_slice(&(pos as i32).to_le_bytes());
                        }
                    }
                }
                Fixup::Msghdr {
                    atom,
                    native_at,
                    compat_at,
                    control,
                } if ok(atom) => {
                    let (n, c) = (native_at as usize, compat_at as usize);
                    let hdr = abi::MsgHdr::read_from_bytes(&native_arena[n..n + abi::MSGHDR_SIZE])
                        .expect("56 bytes");
                    let (mut controllen, mut flags) = (0u32, hdr.flags);
                    if let Some(f) = control {
                        let len = (hdr.controllen as usize).min(f.room as usize);
                        let native = &native_arena[f.native_at as usize..][..len];
                        let (bytes, lost) = cmsgs_to_compat(native, f.compat_len as usize);
                        arena[f.compat_at as usize..][..bytes.len()].copy_from_slice(&bytes);
                        if lost {
                            flags |= abi::kernel::MSG_CTRUNC as i32;
                        }
                        controllen = bytes.len() as u32;
                    }
                    let out = &mut arena[c..c + COMPAT_MSGHDR_SIZE];
                    out[4..8].copy_from_slice(&hdr.namelen.to_le_bytes());
                    out[20..24].copy_from_slice(&controllen.to_le_bytes());
                    out[24..28].copy_from_slice(&flags.to_le_bytes());
                }
                Fixup::Llseek { atom, compat_at } if ok(atom) => {
                    let c = compat_at as usize;
                    arena[c..c + LLSEEK_RESULT_SIZE]
                        .copy_from_slice(&native.results[atom as usize].to_le_bytes());
                }
                _ => {}
            }
        }
        let mut c = self.completion(native);
        for atom in overflowed {
            c.results[atom as usize] = -EOVERFLOW;
            if native.last_atom == atom {
                c.status = -EOVERFLOW;
            }
        }
        Ok(c)
    }
}
