//! [`CompatError`]: why a compat batch was refused, naming the atom and the reason.

use core::fmt;

/// Where a refused argument sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgPos {
    /// Argument `i` of the compat atom.
    Atom(u8),
    /// Entry `i` of the argument array of a `socketcall` atom.
    Socketcall(u8),
}

impl fmt::Display for ArgPos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgPos::Atom(i) => write!(f, "argument {i}"),
            ArgPos::Socketcall(i) => write!(f, "socketcall argument {i}"),
        }
    }
}

/// Why a compat batch was refused by [`normalize`](crate::normalize), or why
/// [`Normalized::write_back`](crate::Normalized::write_back) could not run.
/// Nothing of a refused batch runs: no native bytes are produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompatError {
    /// The offending atom's index, when the problem is in one atom.
    pub atom: Option<u16>,
    /// That atom's i386 syscall name, when the number is known.
    pub syscall: Option<&'static str>,
    /// What is wrong.
    pub kind: CompatErrorKind,
}

/// The reason a compat batch was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CompatErrorKind {
    /// The buffer is shorter than its header says (or than a header).
    Truncated {
        /// Bytes the header implies.
        expected: usize,
        /// Bytes present.
        found: usize,
    },
    /// The buffer is longer than its header says.
    TrailingBytes {
        /// Bytes the header implies.
        expected: usize,
        /// Bytes present.
        found: usize,
    },
    /// The first four bytes are not `"SY32"` (a native batch starts with `"SYSL"`
    /// and needs no translation).
    BadMagic(u32),
    /// An ABI version this crate does not read.
    BadVersion(u16),
    /// A batch must hold at least one atom.
    NoAtoms,
    /// More than `MAX_ATOMS` atoms.
    TooManyAtoms(usize),
    /// More than `MAX_BUFS` buffers (counting the ones the translator appends).
    TooManyBufs(usize),
    /// An arena over `MAX_ARENA_LEN` bytes (counting what the translator appends).
    ArenaTooLarge(usize),
    /// The padding after an odd number of 44-byte atoms is not zero.
    PaddingNotZero,
    /// A buffer descriptor reaches past the end of the arena.
    BadBufDesc {
        /// The buffer's index.
        buf: u16,
    },
    /// An i386 syscall number the translator does not know (or that has no
    /// native counterpart in the signature table).
    UnknownSyscall(u32),
    /// `nargs` differs from the number of arguments the i386 call takes.
    WrongArgCount {
        /// Arguments the i386 call takes.
        expected: u8,
        /// `nargs` in the atom.
        found: u16,
    },
    /// An argument kind byte this ABI does not define.
    BadArgKind {
        /// Where.
        arg: ArgPos,
        /// The kind byte (or word, in a socketcall array).
        kind: u32,
    },
    /// An argument beyond `nargs` is not a zero immediate.
    UnusedArgNotZero(u8),
    /// A raw pointer: `ARG_RAW`, or a non-zero immediate where the call takes a
    /// pointer (a 32-bit address of the producer's memory, meaningless here).
    RawPointer {
        /// Where.
        arg: ArgPos,
    },
    /// A pointer argument holds the result of an earlier atom.
    NotABuffer {
        /// Where.
        arg: ArgPos,
    },
    /// A `BUF` argument where the call takes a value.
    BufferForValue {
        /// Where.
        arg: ArgPos,
    },
    /// A `BUF` word names a buffer the batch does not have.
    BufIndexOutOfRange {
        /// Where.
        arg: ArgPos,
        /// The buffer index.
        index: u16,
        /// Buffers in the batch.
        nbufs: u16,
    },
    /// A value that does not fit where it must go.
    DoesNotFit {
        /// Where.
        arg: ArgPos,
        /// The value.
        value: u32,
        /// What it had to fit.
        what: &'static str,
    },
    /// A value the translator must read up front (half of a split 64-bit value,
    /// the `socketcall` call number, a socket option level or name) is not an
    /// immediate.
    NeedsImmediate {
        /// Where.
        arg: ArgPos,
    },
    /// A struct the translator converts does not fit in its buffer, or its buffer
    /// has the wrong direction.
    BadTranslatedBuffer {
        /// Where.
        arg: ArgPos,
        /// What is wrong.
        reason: &'static str,
    },
    /// A buffer that receives a translated output (`struct stat64`, the `_llseek`
    /// result) is used by another argument too: the native call writes elsewhere
    /// and the bytes appear only after the chain ran, so no other atom may see it.
    SharedTranslatedBuffer {
        /// The buffer index.
        buf: u16,
    },
    /// The `socketcall` call number is not one the translator knows.
    UnsupportedSocketcall(u32),
    /// A socket option whose value has a different layout on i386.
    UnsupportedSockopt {
        /// `level`.
        level: u32,
        /// `optname`.
        optname: u32,
    },
    /// The control data of a `sendmsg`'s i386 `msghdr` is malformed (a
    /// `cmsg_len` shorter than its 12-byte header or past `msg_controllen`,
    /// or no message at all), where the i386 kernel refuses it with `EINVAL`.
    BadControl {
        /// Where (the msghdr).
        arg: ArgPos,
        /// What is wrong.
        reason: &'static str,
    },
    /// A `siginfo_t` whose layout depends on a kernel-generated `si_code`.
    UnsupportedSiginfo {
        /// The `si_code`.
        si_code: i32,
    },
    /// Stop flags on `_llseek` that have no native equivalent: the native call
    /// returns the offset, the i386 call 0, and `STOP_ON_ZERO` alone cannot tell
    /// success apart from a positive offset.
    UnsupportedStop(u32),
    /// A `RESULT` argument names an `_llseek` atom, whose native result (the
    /// offset) differs from the i386 one (0).
    ResultOfLlseek {
        /// Where.
        arg: ArgPos,
    },
    /// [`Normalized::write_back`](crate::Normalized::write_back) was handed
    /// buffers that do not belong to this batch.
    WriteBackMismatch(&'static str),
}

impl CompatError {
    pub(crate) fn batch(kind: CompatErrorKind) -> Self {
        CompatError {
            atom: None,
            syscall: None,
            kind,
        }
    }
}

impl fmt::Display for CompatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.atom, self.syscall) {
            (Some(i), Some(name)) => write!(f, "compat atom {i} ({name}): ")?,
            (Some(i), None) => write!(f, "compat atom {i}: ")?,
            _ => f.write_str("compat batch: ")?,
        }
        fmt::Display::fmt(&self.kind, f)
    }
}

impl fmt::Display for CompatErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use CompatErrorKind::*;
        match self {
            Truncated { expected, found } => {
                write!(f, "truncated: {found} bytes, the header implies {expected}")
            }
            TrailingBytes { expected, found } => {
                write!(f, "{found} bytes, the header implies only {expected}")
            }
            BadMagic(m) if *m == syslets_abi::MAGIC => {
                f.write_str("this is a native batch (\"SYSL\"), not a compat one (\"SY32\")")
            }
            BadMagic(m) => write!(f, "bad magic {m:#010x} (expected \"SY32\")"),
            BadVersion(v) => write!(f, "ABI version {v} is not supported (this is version 1)"),
            NoAtoms => f.write_str("a batch needs at least one atom"),
            TooManyAtoms(n) => write!(f, "{n} atoms, at most {} allowed", syslets_abi::MAX_ATOMS),
            TooManyBufs(n) => write!(
                f,
                "{n} buffers (with the translator's), at most {} allowed",
                syslets_abi::MAX_BUFS
            ),
            ArenaTooLarge(n) => write!(
                f,
                "arena of {n} bytes (with the translator's), at most {} allowed",
                syslets_abi::MAX_ARENA_LEN
            ),
            PaddingNotZero => f.write_str("the padding after the atoms is not zero"),
            BadBufDesc { buf } => write!(f, "buffer {buf} reaches past the end of the arena"),
            UnknownSyscall(nr) => write!(f, "i386 syscall number {nr} is not translated"),
            WrongArgCount { expected, found } => {
                write!(f, "nargs is {found}, the i386 call takes {expected}")
            }
            BadArgKind { arg, kind } => write!(f, "{arg}: unknown kind {kind}"),
            UnusedArgNotZero(a) => {
                write!(f, "argument {a} is beyond nargs but not a zero immediate")
            }
            RawPointer { arg } => write!(
                f,
                "{arg}: a raw pointer (only BUF arguments can point into a compat batch)"
            ),
            NotABuffer { arg } => write!(f, "{arg}: a pointer holds a RESULT, not a buffer"),
            BufferForValue { arg } => write!(f, "{arg}: a BUF where the call takes a value"),
            BufIndexOutOfRange { arg, index, nbufs } => write!(
                f,
                "{arg} refers to buffer {index}, but the batch has {nbufs} buffers"
            ),
            DoesNotFit { arg, value, what } => {
                write!(f, "{arg}: value {value:#x} does not fit {what}")
            }
            NeedsImmediate { arg } => write!(
                f,
                "{arg} must be an immediate (the translator reads it before anything runs)"
            ),
            BadTranslatedBuffer { arg, reason } => write!(f, "{arg}: {reason}"),
            SharedTranslatedBuffer { buf } => write!(
                f,
                "buffer {buf} receives a translated output and may not be used by any other argument"
            ),
            UnsupportedSocketcall(c) => write!(f, "socketcall call {c} is not translated"),
            UnsupportedSockopt { level, optname } => write!(
                f,
                "socket option ({level}, {optname}) has an i386 layout the translator does not convert"
            ),
            BadControl { arg, reason } => write!(f, "{arg}: msghdr control data: {reason}"),
            UnsupportedSiginfo { si_code } => write!(
                f,
                "siginfo with kernel si_code {si_code} has a signal-specific layout that is not translated"
            ),
            UnsupportedStop(flags) => write!(
                f,
                "stop flags {flags:#x} on _llseek have no native equivalent"
            ),
            ResultOfLlseek { arg } => write!(
                f,
                "{arg}: RESULT of an _llseek atom (0 on i386, the offset natively)"
            ),
            WriteBackMismatch(what) => write!(f, "write-back: {what}"),
        }
    }
}

impl core::error::Error for CompatError {}
