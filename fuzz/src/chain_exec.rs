//! Target `chain_exec`: random chains of allowed syscalls, built with the typed
//! builders from a structured input ([`ChainSpec`], decoded with `arbitrary`),
//! run on a fresh scratch directory (holding a non-empty file `b` and an
//! empty directory `d`), and checked against a model of the v6 semantics.
//!
//! Every chain is safe to run by construction:
//! * paths are relative names from a fixed set (`a`, `b`, `d`, `d/a`, `a/x`, `""`,
//!   `.`), never absolute and never `..`, under a directory descriptor of the
//!   scratch directory (or a descriptor an earlier atom of the chain opened
//!   there); there is no symlink call, so nothing resolves outside it;
//! * descriptor arguments are the result of an earlier `openat`/`socket` atom,
//!   `-1`, or (never for `close`) the scratch directory's descriptor, so no atom
//!   touches a descriptor the process had before the chain ran;
//! * sockets are `AF_UNIX` and non-blocking, so nothing waits.
//!
//! Checked for every chain: validation accepts it exactly when the model says it
//! must (and otherwise refuses it with the error the model predicts); running
//! it never panics; the completion is consistent (see [`check_completion`]);
//! `unclosed_fds` lists exactly the descriptors the chain left open, each
//! open and inside the scratch directory or a socket, and after `take_fds` the
//! process has the descriptors it had before; the kernel wrote the arena only
//! inside the windows of issued atoms, and never past borrowed memory; the
//! scratch tree holds only names the chain could make; and a second run of the
//! same batch on the scratch directory put back as it was gives the same
//! completion.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::path::Path;

use arbitrary::Arbitrary;
use syslets::abi;
use syslets::opcode::{
    ClockNanosleep, Close, CopyFileRange, Dup3, EpollCreate1, EpollCtl, EpollPwait, Faccessat2,
    Fchmodat, Fchmodat2, Fchownat, Fstat, Fstatfs, Fsync, Ftruncate, Getpid, Gettid, Linkat, Lseek,
    Mkdirat, Newfstatat, Openat, Pread64, Preadv2, Pwrite64, Pwritev2, Read, Readlinkat, Readv,
    Renameat2, Sendfile, Socket, Statx, Symlinkat, Unlinkat, Utimensat, Write, Writev,
};
use syslets::{
    AtomRef, BufRef, ByteLen, Chain, Completion, ErrorKind, Fd, Mem, Policy, Stat, Stop,
    ValidatedBatch,
};

use crate::fds;
use crate::scratch::Scratch;

/// Most atoms a generated chain has (the ABI's maximum).
const MAX_ATOMS: usize = abi::MAX_ATOMS;
/// Most buffers a generated chain has.
const MAX_BUFS: usize = 4;

/// A whole chain: batch-level fields, a small pool of buffers, the atoms.
#[derive(Arbitrary, Clone, Debug)]
pub struct ChainSpec {
    /// Echoed in the completion.
    pub caller_data: u64,
    /// Raw batch flags (masked to the defined bits; ASYNC|SYNC must be refused).
    pub batch_flags: u8,
    /// Buffers the atoms' data arguments pick from (a default one when empty).
    pub bufs: Vec<BufSpec>,
    /// The atoms, in chain order (at most [`MAX_ATOMS`] are used).
    pub atoms: Vec<AtomSpec>,
}

/// One buffer of the pool.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct BufSpec {
    /// Its direction.
    pub kind: BufKind,
    /// Its size.
    pub size: Size,
}

/// Direction of a pool buffer.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BufKind {
    /// `Chain::input` (IN): data to write.
    Input,
    /// `Chain::output_bytes` (OUT): data read.
    Output,
    /// `Chain::scratch` (IN|OUT): read by one atom, written by another.
    Scratch,
    /// `Chain::borrow_mut`: memory outside the arena (a RAW pointer), with
    /// canary bytes around it that must survive every run.
    Borrowed,
}

/// A buffer size.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Size {
    /// 0 bytes.
    Empty,
    /// 1 byte.
    One,
    /// 7 bytes.
    Seven,
    /// 64 bytes.
    Small,
    /// 4096 bytes.
    Page,
}

impl Size {
    fn bytes(self) -> usize {
        match self {
            Size::Empty => 0,
            Size::One => 1,
            Size::Seven => 7,
            Size::Small => 64,
            Size::Page => 4096,
        }
    }
}

/// One atom: what it does, and its flags.
#[derive(Arbitrary, Clone, Debug)]
pub struct AtomSpec {
    /// The syscall and its arguments.
    pub op: Op,
    /// Stop conditions: bit 0 NONZERO, 1 ZERO, 2 NEGATIVE, 3 NON_POSITIVE.
    pub stop: u8,
    /// `SKIP_TO_NEXT_ON_STOP`.
    pub skip: bool,
    /// A NEXT jump: to atom `i + 1 + n % (natoms - i)` (`natoms` ends the chain).
    pub jump: Option<u8>,
}

/// A syscall with arguments that are safe on the scratch directory.
#[derive(Arbitrary, Clone, Debug)]
pub enum Op {
    /// `openat(dir, path, flags | O_CLOEXEC, 0600)`.
    Openat {
        /// Directory.
        dir: DirSel,
        /// Relative path.
        path: Name,
        /// Flags.
        flags: OpenFlags,
    },
    /// `newfstatat(dir, path, stat, flags)`.
    Newfstatat {
        /// Directory.
        dir: DirSel,
        /// Relative path.
        path: Name,
        /// `AT_SYMLINK_NOFOLLOW`.
        nofollow: bool,
        /// `AT_EMPTY_PATH`.
        empty_path: bool,
    },
    /// `statx(dir, path, flags, STATX_BASIC_STATS, statx)`.
    Statx {
        /// Directory.
        dir: DirSel,
        /// Relative path.
        path: Name,
        /// `AT_EMPTY_PATH`.
        empty_path: bool,
    },
    /// `unlinkat(dir, path, flags)`.
    Unlinkat {
        /// Directory.
        dir: DirSel,
        /// Relative path.
        path: Name,
        /// `AT_REMOVEDIR`.
        removedir: bool,
    },
    /// `mkdirat(dir, path, 0700)`.
    Mkdirat {
        /// Directory.
        dir: DirSel,
        /// Relative path.
        path: Name,
    },
    /// `read(fd, buf, len)`.
    Read {
        /// Descriptor.
        fd: FdSel,
        /// Buffer.
        buf: BufSel,
        /// Length.
        len: LenSel,
    },
    /// `pread64(fd, buf, len, offset)`.
    Pread {
        /// Descriptor.
        fd: FdSel,
        /// Buffer.
        buf: BufSel,
        /// Length.
        len: LenSel,
        /// Offset.
        offset: Offset,
    },
    /// `write(fd, buf, len)`.
    Write {
        /// Descriptor.
        fd: FdSel,
        /// Buffer.
        buf: BufSel,
        /// Length.
        len: LenSel,
    },
    /// `pwrite64(fd, buf, len, offset)`.
    Pwrite {
        /// Descriptor.
        fd: FdSel,
        /// Buffer.
        buf: BufSel,
        /// Length.
        len: LenSel,
        /// Offset.
        offset: Offset,
    },
    /// `lseek(fd, offset, whence)`; whence 0..=4 are defined, 5 stands for an
    /// undefined one.
    Lseek {
        /// Descriptor.
        fd: FdSel,
        /// Offset.
        offset: Offset,
        /// Whence (taken modulo 6).
        whence: u8,
    },
    /// `fstat(fd, stat)`.
    Fstat {
        /// Descriptor.
        fd: FdSel,
    },
    /// `ftruncate(fd, length)`.
    Ftruncate {
        /// Descriptor.
        fd: FdSel,
        /// Length.
        length: Offset,
    },
    /// `fsync(fd)`.
    Fsync {
        /// Descriptor.
        fd: FdSel,
    },
    /// `close(fd)` (never the scratch directory's descriptor).
    Close {
        /// Descriptor.
        fd: FdSel,
    },
    /// `getpid()`.
    Getpid,
    /// `gettid()`.
    Gettid,
    /// `socket(AF_UNIX, ty | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)`.
    Socket {
        /// Socket type.
        ty: SockType,
    },
    /// `renameat2(dir, from, dir2, to, flags)`: flags 0, `RENAME_NOREPLACE`
    /// or `RENAME_EXCHANGE` (taken modulo 3).
    Renameat2 {
        /// Directory of `from`.
        dir: DirSel,
        /// Old name.
        from: Name,
        /// Directory of `to`.
        dir2: DirSel,
        /// New name.
        to: Name,
        /// Flags selector.
        flags: u8,
    },
    /// `linkat(dir, from, dir2, to, follow ? AT_SYMLINK_FOLLOW : 0)`.
    Linkat {
        /// Directory of `from`.
        dir: DirSel,
        /// Existing name.
        from: Name,
        /// Directory of `to`.
        dir2: DirSel,
        /// New name.
        to: Name,
        /// `AT_SYMLINK_FOLLOW`.
        follow: bool,
    },
    /// `symlinkat(target, dir, link)`: the target is one of the relative
    /// names (never absolute, never `..`), so following the link stays in
    /// the scratch directory.
    Symlinkat {
        /// What the link holds.
        target: Name,
        /// Directory of the link.
        dir: DirSel,
        /// The link's name.
        link: Name,
    },
    /// `readlinkat(dir, path, buf, len)`.
    Readlinkat {
        /// Directory.
        dir: DirSel,
        /// Relative path.
        path: Name,
        /// Buffer.
        buf: BufSel,
        /// Length.
        len: LenSel,
    },
    /// `faccessat2(dir, path, mode % 8, flags)`.
    Faccessat2 {
        /// Directory.
        dir: DirSel,
        /// Relative path.
        path: Name,
        /// `F_OK` or `R_OK | W_OK | X_OK` bits.
        mode: u8,
        /// `AT_SYMLINK_NOFOLLOW`.
        nofollow: bool,
        /// `AT_EACCESS`.
        eaccess: bool,
    },
    /// `fchmodat(dir, path, 0700 | bits)` (the owner keeps every right, so
    /// no later atom or rerun sees another outcome for it), or with
    /// `flags`, `fchmodat2(dir, path, mode, AT_SYMLINK_NOFOLLOW?)`.
    Fchmodat {
        /// Directory.
        dir: DirSel,
        /// Relative path.
        path: Name,
        /// Group and other bits (masked to 0o077).
        bits: u8,
        /// `None`: `fchmodat`; `Some(nofollow)`: `fchmodat2`.
        flags: Option<bool>,
    },
    /// `fchownat(dir, path, -1 or own uid, -1 or own gid, AT_SYMLINK_NOFOLLOW?)`.
    Fchownat {
        /// Directory.
        dir: DirSel,
        /// Relative path.
        path: Name,
        /// Own ids instead of -1 (no change).
        own: bool,
        /// `AT_SYMLINK_NOFOLLOW`.
        nofollow: bool,
    },
    /// `utimensat(dir, path, times?, AT_SYMLINK_NOFOLLOW?)`.
    Utimensat {
        /// Directory.
        dir: DirSel,
        /// Relative path.
        path: Name,
        /// Seconds of both times (`None`: now).
        secs: Option<u16>,
        /// `AT_SYMLINK_NOFOLLOW`.
        nofollow: bool,
    },
    /// `dup3(old, new, O_CLOEXEC)`; `new` is never the scratch directory.
    Dup3 {
        /// Descriptor duplicated.
        old: FdSel,
        /// Number it goes to.
        new: FdSel,
    },
    /// `copy_file_range(in, NULL, out, NULL, len, 0)`.
    CopyFileRange {
        /// Source.
        fd_in: FdSel,
        /// Destination.
        fd_out: FdSel,
        /// Bytes.
        len: u16,
    },
    /// `sendfile(out, in, NULL, count)`.
    Sendfile {
        /// Destination.
        fd_out: FdSel,
        /// Source.
        fd_in: FdSel,
        /// Bytes.
        count: u16,
    },
    /// `clock_nanosleep(CLOCK_MONOTONIC, 0, {0, ns}, NULL)`: at most 65 µs.
    Sleep {
        /// Nanoseconds.
        ns: u16,
    },
    /// `fstatfs(fd, statfs)`.
    Fstatfs {
        /// Descriptor.
        fd: FdSel,
    },
    /// `epoll_create1(cloexec ? EPOLL_CLOEXEC : 0)`.
    EpollCreate1 {
        /// `EPOLL_CLOEXEC`.
        cloexec: bool,
    },
    /// `epoll_ctl(ep, op % 3 + 1, fd, {EPOLLIN | EPOLLOUT, data})`.
    EpollCtl {
        /// The epoll instance.
        ep: FdSel,
        /// `EPOLL_CTL_ADD`, `DEL`, `MOD`.
        op: u8,
        /// The descriptor watched.
        fd: FdSel,
        /// The event's data.
        data: u8,
    },
    /// `epoll_pwait(ep, events, max % 4 + 1, 0, NULL, 0)`: never waits.
    EpollPwait {
        /// The epoll instance.
        ep: FdSel,
        /// Room for this many events.
        max: u8,
    },
    /// `readv(fd, iov, n)` or, with an offset, `preadv2(fd, iov, n, offset,
    /// flags)`, into fresh output buffers of the given lengths.
    Readv {
        /// Descriptor.
        fd: FdSel,
        /// Element lengths (at most 3 elements).
        lens: Vec<u8>,
        /// `preadv2` at this offset.
        at: Option<Offset>,
        /// `RWF_NOWAIT` for `preadv2`.
        nowait: bool,
    },
    /// `writev(fd, iov, n)` or, with an offset, `pwritev2`, from fresh input
    /// buffers of the given lengths.
    Writev {
        /// Descriptor.
        fd: FdSel,
        /// Element lengths (at most 3 elements).
        lens: Vec<u8>,
        /// `pwritev2` at this offset.
        at: Option<Offset>,
    },
}

/// A directory-descriptor argument.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum DirSel {
    /// The scratch directory.
    Scratch,
    /// The result of an earlier descriptor-returning atom (picked modulo their
    /// number; the scratch directory when there is none).
    ResultOf(u8),
}

/// A descriptor argument.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum FdSel {
    /// The result of an earlier descriptor-returning atom (picked modulo their
    /// number; `-1` when there is none).
    ResultOf(u8),
    /// `-1`.
    Invalid,
    /// The scratch directory's descriptor (`-1` for `close`).
    Scratch,
}

/// A relative path.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Name {
    /// `a`
    A,
    /// `b`
    B,
    /// `d`
    D,
    /// `d/a`
    DA,
    /// `a/x`
    AX,
    /// `` (empty: ENOENT unless `AT_EMPTY_PATH`)
    Empty,
    /// `.`
    Dot,
}

impl Name {
    fn path(self) -> &'static str {
        match self {
            Name::A => "a",
            Name::B => "b",
            Name::D => "d",
            Name::DA => "d/a",
            Name::AX => "a/x",
            Name::Empty => "",
            Name::Dot => ".",
        }
    }
}

/// Every name a chain can create, at any depth.
const NAMES: [&str; 4] = ["a", "b", "d", "x"];

/// `openat` flags (`O_CLOEXEC` is always added).
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct OpenFlags {
    /// 0 `O_RDONLY`, 1 `O_WRONLY`, 2 `O_RDWR`, 3 `O_PATH`.
    pub access: u8,
    /// `O_CREAT`.
    pub creat: bool,
    /// `O_TRUNC`.
    pub trunc: bool,
    /// `O_APPEND`.
    pub append: bool,
    /// `O_EXCL`.
    pub excl: bool,
    /// `O_DIRECTORY`.
    pub directory: bool,
    /// `O_NOFOLLOW`.
    pub nofollow: bool,
}

impl OpenFlags {
    fn bits(self) -> u32 {
        let mut f = match self.access % 4 {
            0 => libc::O_RDONLY,
            1 => libc::O_WRONLY,
            2 => libc::O_RDWR,
            _ => libc::O_PATH,
        } | libc::O_CLOEXEC;
        for (on, bit) in [
            (self.creat, libc::O_CREAT),
            (self.trunc, libc::O_TRUNC),
            (self.append, libc::O_APPEND),
            (self.excl, libc::O_EXCL),
            (self.directory, libc::O_DIRECTORY),
            (self.nofollow, libc::O_NOFOLLOW),
        ] {
            if on {
                f |= bit;
            }
        }
        f as u32
    }
}

/// A data-buffer argument: a pool buffer and how much of its start to skip.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct BufSel {
    /// Pool index (modulo the pool's size).
    pub index: u8,
    /// Bytes skipped from its start (modulo its length plus one).
    pub skip: u16,
}

/// A length argument.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum LenSel {
    /// `ByteLen::Whole`.
    Whole,
    /// `ByteLen::Bytes(n)`; more than the buffer holds must be refused.
    Bytes(u16),
    /// `ByteLen::ResultOf` an earlier atom (modulo the atom's index; `Whole` for
    /// the first atom).
    ResultOf(u8),
}

/// A file offset or length.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Offset {
    /// 0.
    Zero,
    /// 0..=255.
    Small(u8),
    /// A multiple of 4096 up to 1 MiB.
    Pages(u8),
    /// -1.
    Negative,
    /// 8 GiB (a sparse file on tmpfs).
    Large,
}

impl Offset {
    fn value(self) -> i64 {
        match self {
            Offset::Zero => 0,
            Offset::Small(n) => n as i64,
            Offset::Pages(n) => n as i64 * 4096,
            Offset::Negative => -1,
            Offset::Large => 8 << 30,
        }
    }
}

/// `AF_UNIX` socket types.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum SockType {
    /// `SOCK_STREAM`.
    Stream,
    /// `SOCK_DGRAM`.
    Dgram,
    /// `SOCK_SEQPACKET`.
    Seqpacket,
}

/// What the model knows about one pushed atom.
#[derive(Clone, Debug, Default)]
struct Plan {
    stop: Stop,
    skip: bool,
    /// Normal-flow successor.
    next: usize,
    /// What kind of atom (for result checks).
    what: What,
    /// Atoms whose results are descriptor arguments of this one.
    fd_refs: Vec<usize>,
    /// An atom whose result is this atom's length, and the bytes available.
    len_ref: Option<(usize, u64)>,
    /// The length when it is a value.
    len: Option<u64>,
    /// For `close`: the descriptor argument (an atom's result, or a value).
    close_arg: Option<Result<usize, i32>>,
    /// Arena the kernel may write when this atom is issued: buffer index
    /// and offset in it; the length is the atom's length.
    window: Option<(u16, u32)>,
    /// More of it, each with its own length: `(buffer, offset, length)`
    /// (the elements of an iovec array, an event array).
    windows: Vec<(u16, u32, u64)>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum What {
    #[default]
    Other,
    OpensFd,
    Data,
    Getpid,
    Gettid,
    Close,
    /// `dup3`: its new number (in `close_arg`) is open afterwards.
    Dup3,
    /// `epoll_pwait` with room for this many events.
    Events(u8),
}

/// `RWF_NOWAIT` (`include/uapi/linux/fs.h`).
const RWF_NOWAIT: u32 = 0x8;

/// A pool buffer: a view of the arena, or borrowed memory.
#[derive(Clone, Copy)]
enum PoolBuf {
    Arena(BufRef),
    Borrowed(Mem),
}

/// The pool buffers of a chain under construction.
struct Pool {
    bufs: Vec<(PoolBuf, BufKind)>,
}

/// Canary bytes on each side of every borrowed buffer.
const CANARY_LEN: usize = 16;
/// Their value.
const CANARY: u8 = 0xa5;

/// The pool a spec asks for (a default scratch buffer when it names none).
fn pool_specs(specs: &[BufSpec]) -> Vec<BufSpec> {
    let mut specs: Vec<BufSpec> = specs.iter().take(MAX_BUFS).copied().collect();
    if specs.is_empty() {
        specs.push(BufSpec {
            kind: BufKind::Scratch,
            size: Size::Small,
        });
    }
    specs
}

/// Memory for the borrowed buffers of `specs`, each between canaries.
fn backing_for(specs: &[BufSpec]) -> Vec<u8> {
    let borrowed: usize = specs
        .iter()
        .filter(|s| s.kind == BufKind::Borrowed)
        .map(|s| s.size.bytes() + CANARY_LEN)
        .sum();
    vec![CANARY; borrowed + CANARY_LEN]
}

/// The canaries of `backing_for(specs)` are intact: no kernel write went
/// past either end of a borrowed buffer.
fn check_backing(specs: &[BufSpec], backing: &[u8]) {
    let mut at = 0;
    for s in specs.iter().filter(|s| s.kind == BufKind::Borrowed) {
        assert!(
            backing[at..at + CANARY_LEN].iter().all(|&b| b == CANARY),
            "a kernel write before borrowed memory: {:?}",
            &backing[at..at + CANARY_LEN]
        );
        at += CANARY_LEN + s.size.bytes();
    }
    assert!(
        backing[at..].iter().all(|&b| b == CANARY),
        "a kernel write past borrowed memory: {:?}",
        &backing[at..]
    );
}

impl Pool {
    fn new<'a>(chain: &mut Chain<'a>, specs: &[BufSpec], mut backing: &'a mut [u8]) -> Pool {
        let bufs = specs
            .iter()
            .enumerate()
            .map(|(n, s)| {
                let len = s.size.bytes();
                let buf = match s.kind {
                    BufKind::Input => {
                        let data: Vec<u8> = (0..len).map(|k| (k + n) as u8 | 1).collect();
                        PoolBuf::Arena(chain.input(&data))
                    }
                    BufKind::Output => PoolBuf::Arena(chain.output_bytes(len)),
                    BufKind::Scratch => PoolBuf::Arena(chain.scratch(len)),
                    BufKind::Borrowed => {
                        let (_canary, rest) = std::mem::take(&mut backing).split_at_mut(CANARY_LEN);
                        let (mem, rest) = rest.split_at_mut(len);
                        backing = rest;
                        mem.fill(0);
                        PoolBuf::Borrowed(chain.borrow_mut(mem))
                    }
                };
                (buf, s.kind)
            })
            .collect();
        Pool { bufs }
    }

    /// The memory a selection names; for arena views also (buffer index,
    /// offset of the view in the buffer).
    fn pick(&self, sel: BufSel) -> (Mem, BufKind, Option<(u16, u32)>) {
        match self.bufs[sel.index as usize % self.bufs.len()] {
            (PoolBuf::Arena(buf), kind) => {
                let skip = sel.skip as u32 % (buf.len() + 1);
                (buf.skip(skip).into(), kind, Some((buf.index(), skip)))
            }
            (PoolBuf::Borrowed(mem), kind) => (mem, kind, None),
        }
    }
}

/// A chain built from a spec, with what the model expects of it.
struct Built<'a> {
    chain: Chain<'a>,
    plans: Vec<Plan>,
    /// The error validation must give, or `None` when it must accept.
    expected_error: Option<(Option<u16>, ErrorKind)>,
}

fn build<'a>(spec: &ChainSpec, dirfd: i32, backing: &'a mut [u8]) -> Built<'a> {
    let mut chain = Chain::new();
    let flags = spec.batch_flags as u16 & abi::BATCH_FLAGS_MASK;
    chain.set_flags(flags).set_caller_data(spec.caller_data);
    // The first error validation must report, in the validator's order:
    // header checks, then atom by atom, each atom's directions before lengths.
    let mut expected_error = None;
    let pool = Pool::new(&mut chain, &pool_specs(&spec.bufs), backing);
    let atoms = &spec.atoms[..spec.atoms.len().min(MAX_ATOMS)];
    let natoms = atoms.len();
    let mut fd_atoms: Vec<usize> = Vec::new();
    let mut plans = Vec::with_capacity(natoms);

    for (i, a) in atoms.iter().enumerate() {
        let mut plan = Plan {
            stop: stop_bits(a.stop),
            skip: a.skip,
            next: i + 1,
            ..Plan::default()
        };
        let fd_of = |sel: FdSel, plan: &mut Plan, for_close: bool| -> Fd {
            match sel {
                FdSel::ResultOf(k) if !fd_atoms.is_empty() => {
                    let atom = fd_atoms[k as usize % fd_atoms.len()];
                    plan.fd_refs.push(atom);
                    Fd::ResultOf(AtomRef::from_index(atom as u16))
                }
                FdSel::Scratch if !for_close => Fd::Value(dirfd),
                _ => Fd::Value(-1),
            }
        };
        let dir_of = |sel: DirSel, plan: &mut Plan| -> Fd {
            match sel {
                DirSel::ResultOf(k) if !fd_atoms.is_empty() => {
                    let atom = fd_atoms[k as usize % fd_atoms.len()];
                    plan.fd_refs.push(atom);
                    Fd::ResultOf(AtomRef::from_index(atom as u16))
                }
                _ => Fd::Value(dirfd),
            }
        };
        // A data atom: pick the buffer and the length, and note what
        // validation must say about them.
        let mut data =
            |buf: BufSel, len: LenSel, writes: bool, arg: u8, plan: &mut Plan| -> (Mem, ByteLen) {
                plan.what = What::Data;
                let (view, kind, at) = pool.pick(buf);
                if !writes {
                    plan.window = at;
                }
                let needs_ok = if writes {
                    kind != BufKind::Output
                } else {
                    kind != BufKind::Input
                };
                let avail = view.len();
                let len = match len {
                    LenSel::Whole => {
                        plan.len = Some(avail);
                        ByteLen::Whole
                    }
                    LenSel::Bytes(n) => {
                        plan.len = Some(n as u64);
                        if needs_ok && n as u64 > avail && expected_error.is_none() {
                            expected_error = Some((
                                Some(i as u16),
                                ErrorKind::LengthExceedsBuffer {
                                    arg,
                                    len: n as u64,
                                    available: avail,
                                },
                            ));
                        }
                        ByteLen::Bytes(n as u64)
                    }
                    LenSel::ResultOf(k) if i > 0 => {
                        let k = k as usize % i;
                        plan.len_ref = Some((k, avail));
                        ByteLen::ResultOf(AtomRef::from_index(k as u16))
                    }
                    LenSel::ResultOf(_) => {
                        plan.len = Some(avail);
                        ByteLen::Whole
                    }
                };
                if !needs_ok && expected_error.is_none() {
                    let (buf, _) = at.expect("only arena buffers have a direction");
                    expected_error = Some((Some(i as u16), ErrorKind::WrongDirection { arg, buf }));
                }
                (view, len)
            };
        macro_rules! push {
            ($op:expr) => {{
                let op = $op.stop_on(plan.stop);
                if a.skip {
                    chain.push(op.skip_to_next_on_stop())
                } else {
                    chain.push(op)
                }
            }};
        }
        let at = match a.op {
            Op::Openat { dir, path, flags } => {
                let dir = dir_of(dir, &mut plan);
                let path = chain.path(path.path());
                plan.what = What::OpensFd;
                push!(Openat::new(dir, path).flags(flags.bits()).mode(0o600))
            }
            Op::Newfstatat {
                dir,
                path,
                nofollow,
                empty_path,
            } => {
                let dir = dir_of(dir, &mut plan);
                let path = chain.path(path.path());
                let st = chain.output::<Stat>();
                plan.window = Some((st.buf().index(), 0));
                plan.len = Some(st.buf().len() as u64);
                let mut f = 0;
                if nofollow {
                    f |= libc::AT_SYMLINK_NOFOLLOW;
                }
                if empty_path {
                    f |= libc::AT_EMPTY_PATH;
                }
                push!(Newfstatat::new(dir, path, st).flags(f as u32))
            }
            Op::Statx {
                dir,
                path,
                empty_path,
            } => {
                let dir = dir_of(dir, &mut plan);
                let path = chain.path(path.path());
                let stx = chain.output::<syslets::Statx>();
                plan.window = Some((stx.buf().index(), 0));
                plan.len = Some(stx.buf().len() as u64);
                let f = if empty_path { libc::AT_EMPTY_PATH } else { 0 };
                push!(Statx::new(dir, path, stx).flags(f as u32))
            }
            Op::Unlinkat {
                dir,
                path,
                removedir,
            } => {
                let dir = dir_of(dir, &mut plan);
                let path = chain.path(path.path());
                let f = if removedir { libc::AT_REMOVEDIR } else { 0 };
                push!(Unlinkat::new(dir, path).flags(f as u32))
            }
            Op::Mkdirat { dir, path } => {
                let dir = dir_of(dir, &mut plan);
                let path = chain.path(path.path());
                push!(Mkdirat::new(dir, path).mode(0o700))
            }
            Op::Read { fd, buf, len } => {
                let fd = fd_of(fd, &mut plan, false);
                let (buf, len) = data(buf, len, false, 1, &mut plan);
                push!(Read::new(fd, buf).len(len))
            }
            Op::Pread {
                fd,
                buf,
                len,
                offset,
            } => {
                let fd = fd_of(fd, &mut plan, false);
                let (buf, len) = data(buf, len, false, 1, &mut plan);
                push!(Pread64::new(fd, buf, offset.value()).len(len))
            }
            Op::Write { fd, buf, len } => {
                let fd = fd_of(fd, &mut plan, false);
                let (buf, len) = data(buf, len, true, 1, &mut plan);
                push!(Write::new(fd, buf).len(len))
            }
            Op::Pwrite {
                fd,
                buf,
                len,
                offset,
            } => {
                let fd = fd_of(fd, &mut plan, false);
                let (buf, len) = data(buf, len, true, 1, &mut plan);
                push!(Pwrite64::new(fd, buf, offset.value()).len(len))
            }
            Op::Lseek { fd, offset, whence } => {
                let fd = fd_of(fd, &mut plan, false);
                let whence = match whence % 6 {
                    w @ 0..=4 => w as i32,
                    _ => 77,
                };
                push!(Lseek::new(fd, offset.value(), whence))
            }
            Op::Fstat { fd } => {
                let fd = fd_of(fd, &mut plan, false);
                let st = chain.output::<Stat>();
                plan.window = Some((st.buf().index(), 0));
                plan.len = Some(st.buf().len() as u64);
                push!(Fstat::new(fd, st))
            }
            Op::Ftruncate { fd, length } => {
                let fd = fd_of(fd, &mut plan, false);
                push!(Ftruncate::new(fd, length.value()))
            }
            Op::Fsync { fd } => {
                let fd = fd_of(fd, &mut plan, false);
                push!(Fsync::new(fd))
            }
            Op::Close { fd } => {
                let fd = fd_of(fd, &mut plan, true);
                plan.what = What::Close;
                plan.close_arg = Some(match fd {
                    Fd::ResultOf(a) => Ok(a.index()),
                    Fd::Value(v) => Err(v),
                });
                push!(Close::new(fd))
            }
            Op::Getpid => {
                plan.what = What::Getpid;
                push!(Getpid::new())
            }
            Op::Gettid => {
                plan.what = What::Gettid;
                push!(Gettid::new())
            }
            Op::Socket { ty } => {
                let ty = match ty {
                    SockType::Stream => libc::SOCK_STREAM,
                    SockType::Dgram => libc::SOCK_DGRAM,
                    SockType::Seqpacket => libc::SOCK_SEQPACKET,
                };
                plan.what = What::OpensFd;
                push!(Socket::new(
                    libc::AF_UNIX,
                    ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC
                ))
            }
            Op::Renameat2 {
                dir,
                from,
                dir2,
                to,
                flags,
            } => {
                let (dir, dir2) = (dir_of(dir, &mut plan), dir_of(dir2, &mut plan));
                let (from, to) = (chain.path(from.path()), chain.path(to.path()));
                let f = [0, libc::RENAME_NOREPLACE, libc::RENAME_EXCHANGE][flags as usize % 3];
                push!(Renameat2::new(dir, from, dir2, to).flags(f))
            }
            Op::Linkat {
                dir,
                from,
                dir2,
                to,
                follow,
            } => {
                let (dir, dir2) = (dir_of(dir, &mut plan), dir_of(dir2, &mut plan));
                let (from, to) = (chain.path(from.path()), chain.path(to.path()));
                let f = if follow { libc::AT_SYMLINK_FOLLOW } else { 0 };
                push!(Linkat::new(dir, from, dir2, to).flags(f as u32))
            }
            Op::Symlinkat { target, dir, link } => {
                let dir = dir_of(dir, &mut plan);
                let (target, link) = (chain.path(target.path()), chain.path(link.path()));
                push!(Symlinkat::new(target, dir, link))
            }
            Op::Readlinkat {
                dir,
                path,
                buf,
                len,
            } => {
                let dir = dir_of(dir, &mut plan);
                let path = chain.path(path.path());
                let (buf, len) = data(buf, len, false, 2, &mut plan);
                push!(Readlinkat::new(dir, path, buf).len(len))
            }
            Op::Faccessat2 {
                dir,
                path,
                mode,
                nofollow,
                eaccess,
            } => {
                let dir = dir_of(dir, &mut plan);
                let path = chain.path(path.path());
                let mut f = 0;
                if nofollow {
                    f |= libc::AT_SYMLINK_NOFOLLOW;
                }
                if eaccess {
                    f |= libc::AT_EACCESS;
                }
                push!(Faccessat2::new(dir, path, (mode % 8) as i32).flags(f as u32))
            }
            Op::Fchmodat {
                dir,
                path,
                bits,
                flags,
            } => {
                let dir = dir_of(dir, &mut plan);
                let path = chain.path(path.path());
                let mode = 0o700 | (bits as u32 & 0o077);
                match flags {
                    None => push!(Fchmodat::new(dir, path, mode)),
                    Some(nofollow) => {
                        let f = if nofollow {
                            libc::AT_SYMLINK_NOFOLLOW
                        } else {
                            0
                        };
                        push!(Fchmodat2::new(dir, path, mode).flags(f as u32))
                    }
                }
            }
            Op::Fchownat {
                dir,
                path,
                own,
                nofollow,
            } => {
                let dir = dir_of(dir, &mut plan);
                let path = chain.path(path.path());
                let (uid, gid) = if own {
                    // /proc/self belongs to the process's effective ids.
                    use std::os::unix::fs::MetadataExt;
                    let me = std::fs::metadata("/proc/self").expect("/proc/self");
                    (me.uid(), me.gid())
                } else {
                    (u32::MAX, u32::MAX)
                };
                let f = if nofollow {
                    libc::AT_SYMLINK_NOFOLLOW
                } else {
                    0
                };
                push!(Fchownat::new(dir, path, uid, gid).flags(f as u32))
            }
            Op::Utimensat {
                dir,
                path,
                secs,
                nofollow,
            } => {
                let dir = dir_of(dir, &mut plan);
                let path = chain.path(path.path());
                let times = secs.map(|t| {
                    let mut b = [0u8; 32];
                    b[..8].copy_from_slice(&(t as i64).to_le_bytes());
                    b[16..24].copy_from_slice(&(t as i64 + 1).to_le_bytes());
                    chain.input(&b)
                });
                let f = if nofollow {
                    libc::AT_SYMLINK_NOFOLLOW
                } else {
                    0
                };
                push!(Utimensat::new(dir, path).times(times).flags(f as u32))
            }
            Op::Dup3 { old, new } => {
                let old = fd_of(old, &mut plan, false);
                let new = fd_of(new, &mut plan, true);
                plan.what = What::Dup3;
                plan.close_arg = Some(match new {
                    Fd::ResultOf(a) => Ok(a.index()),
                    Fd::Value(v) => Err(v),
                });
                push!(Dup3::new(old, new))
            }
            Op::CopyFileRange { fd_in, fd_out, len } => {
                let (fd_in, fd_out) = (
                    fd_of(fd_in, &mut plan, false),
                    fd_of(fd_out, &mut plan, false),
                );
                plan.what = What::Data;
                plan.len = Some(len as u64);
                push!(CopyFileRange::new(fd_in, fd_out, len as u64))
            }
            Op::Sendfile {
                fd_out,
                fd_in,
                count,
            } => {
                let (fd_out, fd_in) = (
                    fd_of(fd_out, &mut plan, false),
                    fd_of(fd_in, &mut plan, false),
                );
                plan.what = What::Data;
                plan.len = Some(count as u64);
                push!(Sendfile::new(fd_out, fd_in, count as u64))
            }
            Op::Sleep { ns } => {
                let mut ts = [0u8; 16];
                ts[8..].copy_from_slice(&(ns as i64).to_le_bytes());
                let ts = chain.input(&ts);
                push!(ClockNanosleep::new(ts))
            }
            Op::Fstatfs { fd } => {
                let fd = fd_of(fd, &mut plan, false);
                let st = chain.output::<syslets::abi::kernel::Statfs>();
                plan.window = Some((st.buf().index(), 0));
                plan.len = Some(st.buf().len() as u64);
                push!(Fstatfs::new(fd, st))
            }
            Op::EpollCreate1 { cloexec } => {
                plan.what = What::OpensFd;
                let f = if cloexec { libc::EPOLL_CLOEXEC } else { 0 };
                push!(EpollCreate1::new().flags(f as u32))
            }
            Op::EpollCtl { ep, op, fd, data } => {
                let (ep, fd) = (fd_of(ep, &mut plan, false), fd_of(fd, &mut plan, false));
                let mut e = [0u8; 12];
                e[..4].copy_from_slice(&((libc::EPOLLIN | libc::EPOLLOUT) as u32).to_le_bytes());
                e[4..].copy_from_slice(&(data as u64).to_le_bytes());
                let event = chain.input(&e);
                push!(EpollCtl::new(ep, (op % 3 + 1) as i32, fd).event(Some(event)))
            }
            Op::EpollPwait { ep, max } => {
                let ep = fd_of(ep, &mut plan, false);
                let max = max % 4 + 1;
                let events = chain.output_bytes(max as usize * 12);
                plan.windows.push((events.index(), 0, events.len() as u64));
                plan.what = What::Events(max);
                push!(EpollPwait::new(ep, events, 0))
            }
            Op::Readv {
                fd,
                ref lens,
                at,
                nowait,
            } => {
                let fd = fd_of(fd, &mut plan, false);
                let bufs: Vec<BufRef> = lens
                    .iter()
                    .take(3)
                    .map(|&n| chain.output_bytes(n as usize))
                    .collect();
                for b in &bufs {
                    plan.windows.push((b.index(), 0, b.len() as u64));
                }
                plan.what = What::Data;
                plan.len = Some(bufs.iter().map(|b| b.len() as u64).sum());
                let iov = chain.iovecs(&bufs);
                match at {
                    None => push!(Readv::new(fd, iov)),
                    Some(at) => {
                        let f = if nowait { RWF_NOWAIT } else { 0 };
                        push!(Preadv2::new(fd, iov, at.value()).flags(f))
                    }
                }
            }
            Op::Writev { fd, ref lens, at } => {
                let fd = fd_of(fd, &mut plan, false);
                let bufs: Vec<BufRef> = lens
                    .iter()
                    .take(3)
                    .map(|&n| chain.input(&vec![n | 1; n as usize]))
                    .collect();
                plan.what = What::Data;
                plan.len = Some(bufs.iter().map(|b| b.len() as u64).sum());
                let iov = chain.iovecs(&bufs);
                match at {
                    None => push!(Writev::new(fd, iov)),
                    Some(at) => push!(Pwritev2::new(fd, iov, at.value())),
                }
            }
        };
        debug_assert_eq!(at.index(), i);
        if plan.what == What::OpensFd {
            fd_atoms.push(i);
        }
        plans.push(plan);
    }

    for (i, a) in atoms.iter().enumerate() {
        if let Some(j) = a.jump {
            let target = i + 1 + j as usize % (natoms - i);
            chain.jump(
                AtomRef::from_index(i as u16),
                AtomRef::from_index(target as u16),
            );
            plans[i].next = target;
        }
    }
    if natoms == 0 {
        expected_error = Some((None, ErrorKind::NoAtoms));
    } else if flags & abi::BATCH_ASYNC != 0 && flags & abi::BATCH_SYNC != 0 {
        expected_error = Some((None, ErrorKind::ConflictingBatchFlags));
    }
    Built {
        chain,
        plans,
        expected_error,
    }
}

fn stop_bits(bits: u8) -> Stop {
    let mut stop = Stop::NEVER;
    for (bit, s) in [
        (1, Stop::NONZERO),
        (2, Stop::ZERO),
        (4, Stop::NEGATIVE),
        (8, Stop::NON_POSITIVE),
    ] {
        if bits & bit != 0 {
            stop = stop | s;
        }
    }
    stop
}

/// The whole check for one input.
pub fn check(spec: &ChainSpec) {
    let specs = pool_specs(&spec.bufs);
    let mut backing = backing_for(&specs);
    let scratch = Scratch::new();
    let dir = scratch.open_dir();
    check_chain(spec, &scratch, &dir, &mut backing);
    // The batch is gone: its borrow of the backing memory has ended.
    check_backing(&specs, &backing);
}

fn check_chain(spec: &ChainSpec, scratch: &Scratch, dir: &File, backing: &mut [u8]) {
    let Built {
        chain,
        plans,
        expected_error,
    } = build(spec, dir.as_raw_fd(), backing);
    let mut batch = match (chain.prepare(&Policy::default()), expected_error) {
        (Ok(batch), None) => batch,
        (Err(e), Some((atom, kind))) => {
            assert_eq!((e.atom, &e.kind), (atom, &kind), "{e}");
            return;
        }
        (Ok(_), Some(e)) => panic!("validation accepted a chain it must refuse: {e:?}"),
        (Err(e), None) => panic!("validation refused a valid chain: {e}"),
    };
    assert_eq!(batch.len(), plans.len());
    assert_eq!(batch.caller_data(), spec.caller_data);

    let first = run_and_check(&mut batch, &plans, scratch, dir);
    scratch.reset();
    let second = run_and_check(&mut batch, &plans, scratch, dir);
    assert_eq!(
        first, second,
        "a second run on a reset scratch directory gives another completion"
    );
}

/// Run `batch` once, check the completion and the descriptors, hand the
/// chain's open descriptors over and close them, check the scratch tree.
fn run_and_check(
    batch: &mut ValidatedBatch<'_>,
    plans: &[Plan],
    scratch: &Scratch,
    dir: &File,
) -> Completion {
    // The directory descriptor outlives the run: put its offset (which an
    // lseek atom may have moved) back where a fresh one has it.
    (&mut &*dir)
        .seek(SeekFrom::Start(0))
        .expect("rewind scratch dirfd");
    let before = fds::snapshot();
    assert!(before.contains(&dir.as_raw_fd()));
    let arena = batch.arena().to_vec();
    let done = *batch.run();
    check_completion(plans, &done, batch.caller_data());
    check_arena(batch, plans, &done, &arena);
    let callers = check_fds(batch, plans, &done, &before, scratch.path());
    drop(batch.take_fds());
    // Numbers dup3 opened again after the chain closed them are the
    // caller's (see check_fds): the harness, as the caller, closes them.
    if !callers.is_empty() {
        let mut chain = Chain::new();
        for &fd in &callers {
            chain.push(Close::new(fd));
        }
        let mut closing = chain.prepare(&Policy::default()).expect("close chain");
        assert!(closing.run().results().iter().all(|&r| r == 0));
    }
    assert!(
        batch.take_fds().is_empty(),
        "descriptors are handed out once"
    );
    assert_eq!(fds::snapshot(), before, "descriptors leaked");
    check_tree(scratch.path(), 0);
    done
}

/// Completion invariants, derived from the executor's semantics:
/// * `natoms`, `caller_data` echo the batch; only the STOPPED flag can be set;
/// * the atoms that ran are exactly the path the v6 rules give from atom 0
///   with the recorded results (each atom at most once, forward only), so
///   `atoms_run == popcount(ran_mask)`, `last_atom` is the highest atom that
///   ran and `status` its result;
/// * STOPPED is set exactly when the last atom's stop condition holds for its
///   result and it has no SKIP_TO_NEXT_ON_STOP;
/// * atoms that did not run have result 0;
/// * an atom that names the result of an atom that did not run returns
///   `-EINVAL`; one whose length, the result of another atom, exceeds its
///   buffer returns `-EFAULT`; `getpid`/`gettid` return this process and thread;
///   data calls never report more bytes than they were given; every result is a
///   value or `-errno` with errno in 1..=4095.
fn check_completion(plans: &[Plan], done: &Completion, caller_data: u64) {
    let c = done.as_abi();
    let n = plans.len();
    assert_eq!(c.natoms as usize, n);
    assert_eq!(c.caller_data, caller_data);
    assert_eq!(
        c.flags & !abi::COMPLETION_STOPPED,
        0,
        "flags {:#x}",
        c.flags
    );
    assert!(n == 64 || c.ran_mask >> n == 0, "ran_mask past natoms");
    assert_eq!(c.atoms_run as u32, c.ran_mask.count_ones());
    assert_eq!(done.atoms_run(), c.atoms_run as usize);
    assert_eq!(done.results().len(), n);
    let ran = |i: usize| c.ran_mask & (1 << i) != 0;

    // Replay the control flow from the results.
    let mut path = Vec::new();
    let mut at = 0;
    let mut stopped = false;
    while at < n {
        assert!(ran(at), "atom {at} is next on the path but did not run");
        path.push(at);
        let p = &plans[at];
        let ret = c.results[at];
        at = if p.stop.holds(ret) {
            if p.skip {
                at + 1
            } else {
                stopped = true;
                n
            }
        } else {
            p.next
        };
    }
    let path_mask = path.iter().fold(0u64, |m, &i| m | 1 << i);
    assert_eq!(path_mask, c.ran_mask, "atoms ran off the v6 path {path:?}");
    let last = *path.last().expect("atom 0 always runs");
    assert_eq!(c.last_atom as usize, last);
    assert_eq!(done.last_atom(), last);
    assert_eq!(c.status, c.results[last]);
    assert_eq!(done.stopped(), stopped);
    assert!(!done.canceled());
    if stopped {
        reached(Outcome::Stopped);
    }
    for w in path.windows(2) {
        let p = &plans[w[0]];
        if p.stop.holds(c.results[w[0]]) {
            reached(Outcome::SkippedOnStop);
        } else if p.next != w[0] + 1 {
            reached(Outcome::Jumped);
        }
    }

    for (i, p) in plans.iter().enumerate() {
        let r = c.results[i];
        if !ran(i) {
            assert_eq!(r, 0, "atom {i} did not run but has a result");
            assert_eq!(done.result(AtomRef::from_index(i as u16)), None);
            continue;
        }
        assert_eq!(done.result(AtomRef::from_index(i as u16)), Some(r));
        assert!(r >= -4095, "atom {i}: result {r}");
        let refs_ran = p.fd_refs.iter().chain(p.len_ref.iter().map(|(k, _)| k));
        if refs_ran.clone().any(|&k| !ran(k)) {
            assert_eq!(
                r,
                -(libc::EINVAL as i64),
                "atom {i}: RESULT of an atom that did not run"
            );
            continue;
        }
        let mut len = p.len;
        if let Some((k, avail)) = p.len_ref {
            let v = c.results[k] as u64;
            if v > avail {
                assert_eq!(r, -(libc::EFAULT as i64), "atom {i}: length {v} > {avail}");
                continue;
            }
            len = Some(v);
            reached(Outcome::ResultLengthIssued);
        }
        match p.what {
            What::Getpid => assert_eq!(r, std::process::id() as i64),
            What::Gettid => assert_eq!(r, fds::gettid() as i64),
            What::Data if r >= 0 => {
                assert!(r as u64 <= len.unwrap(), "atom {i}: {r} bytes of {len:?}");
                if r > 0 && p.window.is_some() {
                    reached(Outcome::DataRead);
                } else if r > 0 {
                    reached(Outcome::DataWritten);
                }
            }
            What::OpensFd if r >= 0 => assert!(r <= i32::MAX as i64),
            What::Events(max) => assert!(r < 0 || r <= max as i64, "atom {i}: {r} events"),
            What::Dup3 if r >= 0 => {
                let v = match p.close_arg {
                    Some(Ok(k)) => c.results[k],
                    Some(Err(v)) => v as i64,
                    None => unreachable!("dup3 has a new number"),
                };
                assert_eq!(r, v, "atom {i}: dup3 returns newfd");
            }
            What::Close if p.close_arg == Some(Err(-1)) => {
                assert_eq!(r, -(libc::EBADF as i64))
            }
            _ => {}
        }
    }
}

/// The kernel wrote the arena only where an atom that was issued may write:
/// a read's buffer view up to the length it was given, a stat call's output.
/// Every other byte (paths, input data, padding, views not read into) is as
/// it was before the run.
fn check_arena(batch: &ValidatedBatch<'_>, plans: &[Plan], done: &Completion, before: &[u8]) {
    let c = done.as_abi();
    let after = batch.arena();
    assert_eq!(after.len(), before.len());
    // 0: no atom may write the byte; 1: a stat output; 2: a read's window.
    let mut may_write = vec![0u8; after.len()];
    for (i, p) in plans.iter().enumerate() {
        let Some((buf, offset)) = p.window else {
            continue;
        };
        let ran = |k: usize| c.ran_mask & (1 << k) != 0;
        if !ran(i) || p.fd_refs.iter().any(|&k| !ran(k)) {
            continue;
        }
        let len = match p.len_ref {
            Some((k, avail)) if ran(k) && (c.results[k] as u64) <= avail => c.results[k] as u64,
            Some(_) => continue, // not issued
            None => p.len.expect("a length"),
        };
        let d = batch.buf_descs()[buf as usize];
        let start = (d.offset + offset) as usize;
        let kind = if p.what == What::Data { 2 } else { 1 };
        for w in &mut may_write[start..start + len as usize] {
            *w = (*w).max(kind);
        }
    }
    for (i, p) in plans.iter().enumerate() {
        let ran = |k: usize| c.ran_mask & (1 << k) != 0;
        if !ran(i) || p.fd_refs.iter().any(|&k| !ran(k)) {
            continue;
        }
        let kind = if p.what == What::Data { 2 } else { 1 };
        for &(buf, offset, len) in &p.windows {
            let d = batch.buf_descs()[buf as usize];
            let start = (d.offset + offset) as usize;
            for w in &mut may_write[start..start + len as usize] {
                *w = (*w).max(kind);
            }
        }
    }
    let mut read_data = false;
    for (at, ((&b, &a), &w)) in before.iter().zip(after).zip(&may_write).enumerate() {
        assert!(
            w != 0 || a == b,
            "arena byte {at} changed outside any write window"
        );
        read_data |= w == 2 && a != b;
    }
    if read_data {
        reached(Outcome::ReadBroughtData);
    } else if before != after {
        reached(Outcome::ArenaChanged);
    }
}

/// Outcomes worth steering towards. Coverage guidance only keeps an input
/// that reaches new code, and most outcomes (a read that returned data, a
/// length that came from a result and fit) run the same harness code as
/// their failures; a distinct call site for each makes them new edges.
#[derive(Clone, Copy, Debug)]
enum Outcome {
    ArenaChanged,
    ReadBroughtData,
    DataRead,
    DataWritten,
    ResultLengthIssued,
    SkippedOnStop,
    Jumped,
    Stopped,
    /// A dup3 opened a number the chain had closed.
    Reopened,
}

#[inline(never)]
fn reached(outcome: Outcome) {
    std::hint::black_box(outcome);
}

/// Descriptor invariants after a run, before `take_fds`: the descriptors
/// opened since `before` are exactly those `unclosed_fds` lists; each of those
/// was returned by a descriptor-returning atom that ran, is open, and is a
/// socket or a file inside the scratch directory; and every descriptor such an
/// atom returned is either listed or was closed by a later close atom that ran
/// with that value.
///
/// A `dup3` onto a number the chain had closed opens that number again, and
/// the chain does not claim it (another thread may have taken the number in
/// between: its owner is the caller, as for any number the chain did not
/// open). Those numbers are returned, for the caller to close.
fn check_fds(
    batch: &ValidatedBatch<'_>,
    plans: &[Plan],
    done: &Completion,
    before: &BTreeSet<i32>,
    scratch: &Path,
) -> Vec<i32> {
    let c = done.as_abi();
    let ran = |i: usize| c.ran_mask & (1 << i) != 0;
    let now = fds::snapshot();
    let unclosed = batch.unclosed_fds();
    let listed: BTreeSet<i32> = unclosed.iter().map(|&(_, fd)| fd).collect();
    assert_eq!(
        listed.len(),
        unclosed.len(),
        "an fd listed twice: {unclosed:?}"
    );
    for &(atom, fd) in &unclosed {
        let i = atom.index();
        assert!(ran(i) && plans[i].what == What::OpensFd, "{unclosed:?}");
        assert_eq!(c.results[i], fd as i64);
        assert!(!before.contains(&fd), "fd {fd} was open before the run");
        let target = fds::target(fd)
            .unwrap_or_else(|| panic!("unclosed_fds lists fd {fd} (atom {i}), which is not open"));
        let anon = target.to_string_lossy();
        assert!(
            target.starts_with(scratch)
                || anon.starts_with("socket:")
                || anon == "anon_inode:[eventpoll]",
            "fd {fd} of atom {i} is {target:?}, outside {scratch:?}"
        );
    }
    // The model: replay opens, closes and dup3s in the order they ran.
    let mut open: Vec<(usize, i32)> = Vec::new();
    let mut callers: BTreeSet<i32> = BTreeSet::new();
    for i in (0..plans.len()).filter(|&i| ran(i)) {
        let r = c.results[i];
        match plans[i].what {
            What::OpensFd if r >= 0 => open.push((i, r as i32)),
            What::Close if r != -(libc::EBADF as i64) => {
                let v = match plans[i].close_arg {
                    Some(Ok(k)) if ran(k) => c.results[k],
                    Some(Err(v)) => v as i64,
                    _ => continue,
                };
                open.retain(|&(_, fd)| fd as i64 != v);
                callers.retain(|&fd| fd as i64 != v);
            }
            What::Dup3 if r >= 0 && !open.iter().any(|&(_, fd)| fd as i64 == r) => {
                assert!(
                    !before.contains(&(r as i32)),
                    "dup3 onto a number the process had"
                );
                callers.insert(r as i32);
                reached(Outcome::Reopened);
            }
            _ => {}
        }
    }
    let opened: BTreeSet<i32> = now.difference(before).copied().collect();
    let expected: BTreeSet<i32> = listed.union(&callers).copied().collect();
    assert_eq!(
        opened, expected,
        "open descriptors the chain does not report"
    );
    let model: Vec<(AtomRef, i32)> = open
        .into_iter()
        .map(|(i, fd)| (AtomRef::from_index(i as u16), fd))
        .collect();
    assert_eq!(unclosed, model, "unclosed_fds differs from the model");
    callers.into_iter().collect()
}

/// Every entry under the scratch directory has a name a chain can make.
fn check_tree(dir: &Path, depth: usize) {
    assert!(depth <= MAX_ATOMS, "deeper than a chain can make");
    for e in std::fs::read_dir(dir).expect("scratch directory readable") {
        let e = e.unwrap();
        let name = e.file_name();
        let name = name.to_str().expect("utf-8 name");
        assert!(NAMES.contains(&name), "unexpected entry {:?}", e.path());
        if e.file_type().unwrap().is_dir() {
            check_tree(&e.path(), depth + 1);
        }
    }
}

/// Bit of [`features`]: validation refused the chain as the plan expected.
pub const FEATURE_REFUSED: u128 = 1;
/// Bit of [`features`]: data was moved (a read or write returned > 0).
pub const FEATURE_DATA: u128 = 1 << 2;
/// Bit of [`features`] of the first row of the signature table; row `i` is
/// this bit shifted by `i`.
const FEATURE_FIRST_CALL: u32 = 16;
const _: () = assert!(
    FEATURE_FIRST_CALL as usize + abi::signature::SIGNATURES.len() <= 128,
    "every row of the table has a feature bit"
);

/// For the seed generator: the features a spec exercises when run, as a
/// bit set (which syscalls ran, stops, skips, jumps, result lengths, data
/// moved, the arena changed, a read brought non-zero data, 8+ atoms run).
pub fn features(spec: &ChainSpec) -> u128 {
    let mut backing = backing_for(&pool_specs(&spec.bufs));
    let scratch = Scratch::new();
    let dir = scratch.open_dir();
    let Built {
        chain,
        plans,
        expected_error,
    } = build(spec, dir.as_raw_fd(), &mut backing);
    let mut batch = match chain.prepare(&Policy::default()) {
        Ok(b) => b,
        Err(_) => {
            return if expected_error.is_some() {
                FEATURE_REFUSED
            } else {
                0
            }
        }
    };
    let arena = batch.arena().to_vec();
    let done = *batch.run();
    drop(batch.take_fds());
    let c = done.as_abi();
    let mut f = 0u128;
    if batch.arena() != arena {
        f |= 1 << 1;
    }
    for (i, p) in plans.iter().enumerate() {
        if c.ran_mask & (1 << i) == 0 {
            continue;
        }
        let name = batch.syscall_name(i).unwrap_or("");
        let slot = abi::signature::SIGNATURES
            .iter()
            .position(|s| s.name == name)
            .unwrap_or(0);
        f |= 1 << (FEATURE_FIRST_CALL as usize + slot);
        if c.results[i] >= 0 && p.what == What::OpensFd {
            f |= 1 << 3;
        }
        if c.results[i] > 0 && p.what == What::Data {
            f |= FEATURE_DATA;
            if let Some((buf, offset)) = p.window {
                let d = batch.buf_descs()[buf as usize];
                let start = (d.offset + offset) as usize;
                let got = &batch.arena()[start..start + c.results[i] as usize];
                if got.iter().any(|&b| b != 0) {
                    f |= 1 << 4;
                }
            }
        }
        if p.len_ref.is_some() {
            f |= 1 << 5;
        }
        if p.next != i + 1 {
            f |= 1 << 6;
        }
        if p.skip && p.stop.holds(c.results[i]) {
            f |= 1 << 7;
        }
    }
    if done.stopped() {
        f |= 1 << 8;
    }
    if c.atoms_run >= 8 {
        f |= 1 << 9;
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn atom(op: Op) -> AtomSpec {
        AtomSpec {
            op,
            stop: 0,
            skip: false,
            jump: None,
        }
    }

    /// open → write → pread → close, reading back what it wrote, through
    /// arena and borrowed buffers: the data really lands where the windows
    /// say (the arena oracle and the canaries see real writes).
    #[test]
    fn a_chain_reads_back_what_it_wrote() {
        let _fds = crate::TEST_FDS.lock().unwrap_or_else(|e| e.into_inner());
        let fd = FdSel::ResultOf(0);
        let spec = ChainSpec {
            caller_data: 7,
            batch_flags: 0,
            bufs: vec![
                BufSpec {
                    kind: BufKind::Input,
                    size: Size::Small,
                },
                BufSpec {
                    kind: BufKind::Output,
                    size: Size::Small,
                },
                BufSpec {
                    kind: BufKind::Borrowed,
                    size: Size::Seven,
                },
            ],
            atoms: vec![
                atom(Op::Openat {
                    dir: DirSel::Scratch,
                    path: Name::A,
                    flags: OpenFlags {
                        access: 2,
                        creat: true,
                        trunc: false,
                        append: false,
                        excl: false,
                        directory: false,
                        nofollow: false,
                    },
                }),
                atom(Op::Write {
                    fd,
                    buf: BufSel { index: 0, skip: 0 },
                    len: LenSel::Whole,
                }),
                atom(Op::Pread {
                    fd,
                    buf: BufSel { index: 1, skip: 3 },
                    len: LenSel::Whole,
                    offset: Offset::Zero,
                }),
                atom(Op::Pread {
                    fd,
                    buf: BufSel { index: 2, skip: 0 },
                    len: LenSel::Whole,
                    offset: Offset::Small(1),
                }),
                atom(Op::Close { fd }),
            ],
        };
        // 64 bytes written, 61 read back (the view skips 3), 7 into the
        // borrowed buffer: features() sees data moved, check() passes.
        assert_ne!(features(&spec) & FEATURE_DATA, 0);
        check(&spec);
    }

    /// The calls added to the generator, in one chain: links and renames,
    /// the metadata calls, an epoll instance watching a socket, vectored
    /// I/O, and a dup3 onto a number the chain closed (the caller's then,
    /// which check closes).
    #[test]
    fn the_newer_calls_run_through_the_whole_check() {
        let _fds = crate::TEST_FDS.lock().unwrap_or_else(|e| e.into_inner());
        let open = |path| Op::Openat {
            dir: DirSel::Scratch,
            path,
            flags: OpenFlags {
                access: 2,
                creat: false,
                trunc: false,
                append: false,
                excl: false,
                directory: false,
                nofollow: false,
            },
        };
        let spec = ChainSpec {
            caller_data: 1,
            batch_flags: 0,
            bufs: vec![BufSpec {
                kind: BufKind::Output,
                size: Size::Small,
            }],
            atoms: vec![
                atom(open(Name::B)), // 0: fd
                atom(open(Name::B)), // 1: fd
                atom(Op::Close {
                    fd: FdSel::ResultOf(0),
                }),
                atom(Op::Dup3 {
                    old: FdSel::ResultOf(1),
                    new: FdSel::ResultOf(0),
                }),
                atom(Op::Symlinkat {
                    target: Name::B,
                    dir: DirSel::Scratch,
                    link: Name::A,
                }),
                atom(Op::Readlinkat {
                    dir: DirSel::Scratch,
                    path: Name::A,
                    buf: BufSel { index: 0, skip: 0 },
                    len: LenSel::Whole,
                }),
                atom(Op::Linkat {
                    dir: DirSel::Scratch,
                    from: Name::B,
                    dir2: DirSel::Scratch,
                    to: Name::DA,
                    follow: false,
                }),
                atom(Op::Renameat2 {
                    dir: DirSel::Scratch,
                    from: Name::DA,
                    dir2: DirSel::Scratch,
                    to: Name::A,
                    flags: 2,
                }),
                atom(Op::Fchmodat {
                    dir: DirSel::Scratch,
                    path: Name::B,
                    bits: 0o55,
                    flags: Some(true),
                }),
                atom(Op::Utimensat {
                    dir: DirSel::Scratch,
                    path: Name::B,
                    secs: Some(77),
                    nofollow: false,
                }),
                atom(Op::Readv {
                    fd: FdSel::ResultOf(1),
                    lens: vec![3, 200],
                    at: Some(Offset::Small(5)),
                    nowait: false,
                }),
                atom(Op::Socket {
                    ty: SockType::Dgram,
                }), // 11: fd
                atom(Op::EpollCreate1 { cloexec: true }), // 12: fd
                atom(Op::EpollCtl {
                    ep: FdSel::ResultOf(3),
                    op: 0,
                    fd: FdSel::ResultOf(2),
                    data: 9,
                }),
                atom(Op::EpollPwait {
                    ep: FdSel::ResultOf(3),
                    max: 1,
                }),
                atom(Op::Sleep { ns: 10 }),
                atom(Op::Fstatfs { fd: FdSel::Scratch }),
            ],
        };
        check(&spec);
        assert_ne!(features(&spec) & FEATURE_DATA, 0);
    }
}
