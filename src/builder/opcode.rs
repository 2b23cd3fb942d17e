//! Typed builders, one per system call of the signature table.
//!
//! Required arguments go to `new`, optional ones have `const fn` setters with the
//! defaults documented on each. Every builder also has the same flag setters:
//! [`stop_on`](Read::stop_on), [`skip_to_next_on_stop`](Read::skip_to_next_on_stop)
//! and [`private`](Read::private). Push builders with [`Chain::push`](crate::Chain::push).
//!
//! ```
//! use syslets::{ByteLen, Chain, Fd, Stop, opcode::{Openat, Read, Write, Close}};
//! let mut chain = Chain::new();
//! let path = chain.path("/proc/self/stat");
//! let buf = chain.scratch(4096);
//! let fd = chain.push(Openat::new(libc::AT_FDCWD, path).stop_on(Stop::NEGATIVE));
//! // The number of bytes read is the length written: result passing.
//! let n = chain.push(Read::new(fd, buf).stop_on(Stop::NON_POSITIVE).skip_to_next_on_stop());
//! chain.push(Close::new(fd));
//! # let _ = (n, ByteLen::Whole, Fd::Value(0), Write::new(1, buf));
//! ```

use std::os::fd::{AsRawFd, BorrowedFd};

use syslets_abi as abi;
use syslets_abi::kernel;
use syslets_abi::nr;

use crate::handles::{AtomRef, BufRef, ChainId, Iovecs, Mem, Msghdr, Out, SockAddr, SockAddrOut};
// The system-call table names the builders' length type `Len`.
use ByteLen as Len;

/// A file-descriptor argument: a value, or the result of an earlier atom.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fd {
    /// A descriptor the caller already has (or `AT_FDCWD`).
    Value(i32),
    /// The descriptor an earlier atom returned (open's fd → fstat, read, close).
    ResultOf(AtomRef),
}

impl From<i32> for Fd {
    fn from(fd: i32) -> Fd {
        Fd::Value(fd)
    }
}

impl From<AtomRef> for Fd {
    fn from(atom: AtomRef) -> Fd {
        Fd::ResultOf(atom)
    }
}

impl From<BorrowedFd<'_>> for Fd {
    fn from(fd: BorrowedFd<'_>) -> Fd {
        Fd::Value(fd.as_raw_fd())
    }
}

/// A 64-bit file offset argument: a value, or the result of an earlier atom
/// (`pread64` at the offset an `lseek` returned).
///
/// ```
/// use syslets::{Chain, Offset, Policy, opcode::{Lseek, Openat, Pread64}};
/// let mut chain = Chain::new();
/// let path = chain.path("/proc/self/exe");
/// let buf = chain.output_bytes(4);
/// let fd = chain.push(Openat::new(libc::AT_FDCWD, path));
/// let at = chain.push(Lseek::new(fd, 1, libc::SEEK_SET));
/// // Reads 4 bytes at offset 1, the offset lseek returned.
/// chain.push(Pread64::new(fd, buf, at));
/// # let mut batch = chain.prepare(&Policy::default()).unwrap();
/// # let done = batch.run();
/// # assert_eq!(done.results()[1], 1);
/// # let _ = Offset::Value(0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offset {
    /// This offset.
    Value(i64),
    /// The (non-negative) result of an earlier atom; a negative one (an
    /// error) reaches the call as an invalid offset, which it refuses.
    ResultOf(AtomRef),
}

impl From<i64> for Offset {
    fn from(offset: i64) -> Offset {
        Offset::Value(offset)
    }
}

impl From<i32> for Offset {
    fn from(offset: i32) -> Offset {
        Offset::Value(offset.into())
    }
}

impl From<AtomRef> for Offset {
    fn from(atom: AtomRef) -> Offset {
        Offset::ResultOf(atom)
    }
}

impl IntoArg for Offset {
    fn into_arg(self) -> Arg {
        match self {
            Offset::Value(v) => Arg::Imm(v as u64),
            Offset::ResultOf(a) => Arg::Result(a),
        }
    }
}

/// A length argument that goes with a pointer argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteLen {
    /// All of the memory the pointer argument reaches.
    Whole,
    /// This many bytes (checked against the memory before anything runs).
    Bytes(u64),
    /// The result of an earlier atom (the bytes a read returned, say). Checked
    /// just before the atom runs; if it does not fit, the atom is not issued and
    /// returns `-EFAULT`.
    ResultOf(AtomRef),
}

/// Stop conditions (the v6 `STOP_ON_*` flags); combine with `|`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Stop(u32);

impl Stop {
    /// No stop condition.
    pub const NEVER: Stop = Stop(0);
    /// Stop when the atom returns anything but zero.
    pub const NONZERO: Stop = Stop(abi::STOP_ON_NONZERO);
    /// Stop when the atom returns zero.
    pub const ZERO: Stop = Stop(abi::STOP_ON_ZERO);
    /// Stop when the atom fails (returns a negative value).
    pub const NEGATIVE: Stop = Stop(abi::STOP_ON_NEGATIVE);
    /// Stop when the atom returns zero or fails.
    pub const NON_POSITIVE: Stop = Stop(abi::STOP_ON_NON_POSITIVE);

    /// Both conditions.
    pub const fn or(self, other: Stop) -> Stop {
        Stop(self.0 | other.0)
    }

    pub(crate) const fn from_bits(bits: u32) -> Stop {
        Stop(bits & abi::STOP_MASK)
    }

    /// The raw `STOP_ON_*` bits.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether the condition holds for an atom's return value.
    pub const fn holds(self, ret: i64) -> bool {
        (self.0 & abi::STOP_ON_NONZERO != 0 && ret != 0)
            || (self.0 & abi::STOP_ON_ZERO != 0 && ret == 0)
            || (self.0 & abi::STOP_ON_NEGATIVE != 0 && ret < 0)
            || (self.0 & abi::STOP_ON_NON_POSITIVE != 0 && ret <= 0)
    }
}

impl std::ops::BitOr for Stop {
    type Output = Stop;
    fn bitor(self, rhs: Stop) -> Stop {
        self.or(rhs)
    }
}

/// One encoded argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arg {
    Imm(u64),
    Result(AtomRef),
    Buf(BufRef),
    Raw { addr: u64, len: u64 },
}

/// Converts a builder field into an [`Arg`].
pub(crate) trait IntoArg {
    fn into_arg(self) -> Arg;
}

impl IntoArg for Fd {
    fn into_arg(self) -> Arg {
        match self {
            Fd::Value(fd) => Arg::Imm(fd as i64 as u64),
            Fd::ResultOf(a) => Arg::Result(a),
        }
    }
}

impl IntoArg for i32 {
    fn into_arg(self) -> Arg {
        Arg::Imm(self as i64 as u64)
    }
}

impl IntoArg for u32 {
    fn into_arg(self) -> Arg {
        Arg::Imm(self as u64)
    }
}

impl IntoArg for u64 {
    fn into_arg(self) -> Arg {
        Arg::Imm(self)
    }
}

impl IntoArg for i64 {
    fn into_arg(self) -> Arg {
        Arg::Imm(self as u64)
    }
}

impl IntoArg for Mem {
    fn into_arg(self) -> Arg {
        match self {
            Mem::Buf(b) => Arg::Buf(b),
            Mem::Raw { addr, len } => Arg::Raw { addr, len },
        }
    }
}

impl IntoArg for BufRef {
    fn into_arg(self) -> Arg {
        Arg::Buf(self)
    }
}

impl<T> IntoArg for Out<T> {
    fn into_arg(self) -> Arg {
        Arg::Buf(self.buf)
    }
}

impl IntoArg for Iovecs {
    fn into_arg(self) -> Arg {
        Arg::Buf(self.array)
    }
}

impl IntoArg for Msghdr {
    fn into_arg(self) -> Arg {
        Arg::Buf(self.hdr)
    }
}

impl Iovecs {
    fn count_arg(self) -> Arg {
        Arg::Imm(self.count as u64)
    }
}

impl Len {
    fn arg_for(self, mem: impl Into<Mem>) -> Arg {
        match self {
            Len::Whole => Arg::Imm(mem.into().len()),
            Len::Bytes(n) => Arg::Imm(n),
            Len::ResultOf(a) => Arg::Result(a),
        }
    }
}

fn null_or<T: IntoArg>(v: Option<T>) -> Arg {
    v.map_or(Arg::Imm(0), IntoArg::into_arg)
}

/// An atom ready to be pushed: its ABI form plus the lengths of raw regions.
#[derive(Clone, Copy, Debug)]
pub struct AtomSpec {
    pub(crate) atom: abi::Atom,
    /// Bit `i`: argument `i` is a raw pointer reaching `raw_len[i]` bytes.
    raw_args: u8,
    raw_len: [u64; abi::MAX_ARGS],
    /// Bit `i`: argument `i` is a `RESULT` of an atom of chain
    /// `result_chain[i]` (for the chain check).
    result_args: u8,
    result_chain: [ChainId; abi::MAX_ARGS],
}

impl AtomSpec {
    pub(crate) fn new(nr: u32, flags: u32, private: u64, args: &[Arg]) -> Self {
        let mut atom = abi::Atom {
            flags,
            nr,
            nargs: args.len() as u16,
            private,
            ..Default::default()
        };
        let (mut raw_args, mut raw_len) = (0u8, [0u64; abi::MAX_ARGS]);
        let (mut result_args, mut result_chain) = (0u8, [ChainId::ANY; abi::MAX_ARGS]);
        for (i, arg) in args.iter().enumerate() {
            let (kind, value) = match *arg {
                Arg::Imm(v) => (abi::ARG_IMM, v),
                Arg::Result(a) => {
                    result_args |= 1 << i;
                    result_chain[i] = a.1;
                    (abi::ARG_RESULT, a.0 as u64)
                }
                Arg::Buf(b) => (abi::ARG_BUF, abi::buf_arg(b.index, b.offset)),
                Arg::Raw { addr, len } => {
                    raw_args |= 1 << i;
                    raw_len[i] = len;
                    (abi::ARG_RAW, addr)
                }
            };
            atom.arg_kind[i] = kind;
            atom.arg[i] = value;
        }
        AtomSpec {
            atom,
            raw_args,
            raw_len,
            result_args,
            result_chain,
        }
    }

    /// The first `RESULT` argument naming an atom of another chain than
    /// `chain`: `(argument, the atom's index)`.
    #[inline]
    pub(crate) fn foreign_result(&self, chain: ChainId) -> Option<(u8, u16)> {
        let mut left = self.result_args;
        while left != 0 {
            let i = left.trailing_zeros() as usize;
            left &= left - 1;
            if !self.result_chain[i].fits(chain) {
                return Some((i as u8, self.atom.arg[i] as u16));
            }
        }
        None
    }

    pub(crate) fn raw_regions(&self) -> impl Iterator<Item = (u8, u64)> + '_ {
        // Only raw pointers the builders made (from a borrow or an unsafe
        // contract) carry a length; a RawAtom's raw pointers have none and are refused.
        (0..abi::MAX_ARGS)
            .filter(|&i| self.raw_args & (1 << i) != 0)
            .map(|i| (i as u8, self.raw_len[i]))
    }

    /// Whether an argument is a raw pointer.
    #[inline]
    pub(crate) fn has_raw(&self) -> bool {
        self.raw_args != 0
    }
}

/// Something [`Chain::push`](crate::Chain::push) accepts: every builder of this module.
pub trait Opcode: sealed::Sealed {
    /// The native syscall number.
    const NR: u32;
    #[doc(hidden)]
    fn spec(&self) -> AtomSpec;
}

mod sealed {
    pub trait Sealed {}
}

/// An atom given directly in its ABI form, for chains built by hand and for tests
/// of the validator. Every check still applies.
#[derive(Clone, Copy, Debug)]
pub struct RawAtom(pub abi::Atom);

impl sealed::Sealed for RawAtom {}
impl Opcode for RawAtom {
    const NR: u32 = u32::MAX;
    fn spec(&self) -> AtomSpec {
        AtomSpec {
            atom: self.0,
            raw_args: 0,
            raw_len: [0; abi::MAX_ARGS],
            result_args: 0,
            result_chain: [ChainId::ANY; abi::MAX_ARGS],
        }
    }
}

macro_rules! opcode {
    (
        $(#[$meta:meta])*
        $name:ident = $nr:ident ( $man:literal ) {
            $( $req:ident : $req_ty:ty ),* ;
            $( $(#[$opt_meta:meta])* $opt:ident : $opt_ty:ty = $default:expr ),* $(,)?
        }
        |$s:ident| [ $($arg:expr),* $(,)? ]
    ) => {
        $(#[$meta])*
        #[doc = concat!("\n\nMan page: [", $man, "](https://man7.org/linux/man-pages/man2/", $man, ".2.html).")]
        #[derive(Clone, Copy, Debug)]
        #[must_use = "a builder does nothing until pushed onto a Chain"]
        pub struct $name {
            $( $req: $req_ty, )*
            $( $opt: $opt_ty, )*
            atom_flags: u32,
            atom_private: u64,
        }

        impl $name {
            /// A new atom with the required arguments; optional ones take their defaults.
            #[allow(clippy::new_without_default)]
            pub fn new($( $req: impl Into<$req_ty> ),*) -> Self {
                $name {
                    $( $req: $req.into(), )*
                    $( $opt: $default, )*
                    atom_flags: 0,
                    atom_private: 0,
                }
            }

            $(
                $(#[$opt_meta])*
                #[doc = concat!("\n\nDefault: `", stringify!($default), "`.")]
                pub const fn $opt(mut self, $opt: $opt_ty) -> Self {
                    self.$opt = $opt;
                    self
                }
            )*

            /// Stop the chain after this atom when the condition holds for its result.
            pub const fn stop_on(mut self, stop: Stop) -> Self {
                self.atom_flags = (self.atom_flags & !abi::STOP_MASK) | stop.bits();
                self
            }

            /// When a stop condition holds, go on with the linearly next atom
            /// instead of stopping (see [`Chain::jump`](crate::Chain::jump)).
            pub const fn skip_to_next_on_stop(mut self) -> Self {
                self.atom_flags |= abi::SKIP_TO_NEXT_ON_STOP;
                self
            }

            /// A caller cookie stored in the atom; never read by the executor.
            pub const fn private(mut self, private: u64) -> Self {
                self.atom_private = private;
                self
            }
        }

        impl sealed::Sealed for $name {}
        impl Opcode for $name {
            const NR: u32 = nr::$nr;
            fn spec(&self) -> AtomSpec {
                let $s = self;
                AtomSpec::new(nr::$nr, $s.atom_flags, $s.atom_private, &[$($arg),*])
            }
        }
    };
}

/// Expands the rows of the system-call table
/// ([`syslets_abi::for_each_syscall!`]) into one builder per call.
macro_rules! builders {
    ($({
        nr [$NR:ident = $num:literal, $name:literal]
        doc [$(#[$meta:meta])*]
        builder [$builder:ident ($man:literal) { $($fields:tt)* } |$s:ident| [ $($args:tt)* ]]
        $($_rest:tt)*
    })*) => {
        $(
            opcode! {
                $(#[$meta])*
                $builder = $NR($man) { $($fields)* } |$s| [ $($args)* ]
            }
        )*
    };
}

abi::for_each_syscall!(builders);
