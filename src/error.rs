//! [`ValidationError`]: why a batch was refused, naming the atom and the reason.

use std::fmt;
use std::io;

/// Why a batch was refused. Nothing of a refused batch ever runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationError {
    /// The offending atom's index, when the problem is in one atom.
    pub atom: Option<u16>,
    /// That atom's syscall name, when the number is known.
    pub syscall: Option<&'static str>,
    /// What is wrong.
    pub kind: ErrorKind,
}

/// The reason a batch was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
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
    /// The first four bytes are not `"SYSL"`.
    BadMagic(u32),
    /// An ABI version this crate does not read.
    BadVersion(u16),
    /// A batch must hold at least one atom.
    NoAtoms,
    /// More than [`syslets_abi::MAX_ATOMS`] atoms.
    TooManyAtoms(usize),
    /// More than [`syslets_abi::MAX_BUFS`] buffers.
    TooManyBufs(usize),
    /// An arena over [`syslets_abi::MAX_ARENA_LEN`] bytes.
    ArenaTooLarge(usize),
    /// Unknown batch-flag bits.
    BadBatchFlags(u16),
    /// `ASYNC` and `SYNC` together.
    ConflictingBatchFlags,
    /// A reserved field is not zero.
    ReservedNotZero(&'static str),
    /// A buffer descriptor reaches outside the arena or has bad flags.
    BadBufDesc {
        /// The buffer's index.
        buf: u16,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A path given to the builder holds a NUL byte.
    InteriorNul,
    /// Unknown atom-flag bits.
    BadAtomFlags(u32),
    /// The `NEXT` field names an atom that is not later in the chain.
    BadNextTarget(u8),
    /// A syscall number the signature table does not know.
    UnknownSyscall(u32),
    /// A known syscall the policy does not allow.
    SyscallNotAllowed,
    /// A syscall on the fixed denylist that no policy may allow.
    SyscallDenied,
    /// `nargs` differs from the syscall's signature.
    WrongArgCount {
        /// Arguments the signature has.
        expected: usize,
        /// `nargs` in the atom.
        found: u16,
    },
    /// An argument kind byte this ABI does not define.
    BadArgKind {
        /// Argument index.
        arg: u8,
        /// The kind byte.
        kind: u8,
    },
    /// An argument beyond `nargs` is not a zero immediate.
    UnusedArgNotZero(u8),
    /// An immediate does not fit the argument's C type.
    ArgOutOfRange {
        /// Argument index.
        arg: u8,
        /// The value.
        value: u64,
    },
    /// A `RESULT` argument names its own atom.
    ResultRefersToSelf(u8),
    /// A `RESULT` argument names a later atom.
    ResultRefersForward {
        /// Argument index.
        arg: u8,
        /// The atom it names.
        target: u64,
    },
    /// An [`AtomRef`](crate::AtomRef) of another chain was passed to this
    /// chain: as argument `arg` of the atom, or (`arg: None`) to
    /// [`Chain::jump`](crate::Chain::jump). Its index would name whatever
    /// atom this chain has there.
    ForeignAtomRef {
        /// Argument index, or `None` for a jump.
        arg: Option<u8>,
        /// The index the reference holds (an atom of the other chain).
        atom: u16,
    },
    /// A pointer argument is an immediate (other than NULL where NULL is allowed)
    /// or the result of an earlier atom: it would let a value become a pointer.
    NotABuffer {
        /// Argument index.
        arg: u8,
        /// The kind found (`"immediate"`, `"result"`).
        found: &'static str,
    },
    /// A `BUF` argument names a buffer the batch does not have.
    BufIndexOutOfRange {
        /// Argument index.
        arg: u8,
        /// The buffer index.
        index: u64,
        /// Buffers in the batch.
        nbufs: u16,
    },
    /// A `BUF` argument's offset is past its buffer's end.
    BufOffsetOutOfRange {
        /// Argument index.
        arg: u8,
        /// The offset.
        offset: u32,
        /// The buffer's length.
        len: u32,
    },
    /// An element of an iovec array argument is not a buffer of the batch the
    /// kernel may use as the call does (or the array itself is unusable).
    BadIovec {
        /// The array argument.
        arg: u8,
        /// The element (0 when the array as a whole is refused).
        element: u16,
        /// Why.
        reason: &'static str,
    },
    /// A field of a `struct msghdr` argument (`sendmsg`, `recvmsg`: the
    /// address, the iovec array or the control buffer) is not memory of the
    /// batch the kernel may use as the call does, or a control message of a
    /// `sendmsg` is malformed.
    BadMsghdr {
        /// The msghdr argument.
        arg: u8,
        /// The field: `msg_name`, `msg_iov`, `msg_control` or `msghdr`.
        field: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// A `sendmsg` control message carries descriptors (`SCM_RIGHTS`) and
    /// the policy does not allow descriptor passing
    /// ([`Policy::allow_fd_passing`](crate::Policy::allow_fd_passing)), or
    /// allows it but refuses this descriptor.
    FdPassingRefused {
        /// The msghdr argument.
        arg: u8,
        /// The descriptor refused (-1: passing is not allowed at all).
        fd: i32,
    },
    /// A `sendmsg` control message of a kind outside
    /// [`SEND_CONTROL`](syslets_abi::signature::SEND_CONTROL).
    ControlMessageRefused {
        /// The msghdr argument.
        arg: u8,
        /// Its `cmsg_level`.
        level: i32,
        /// Its `cmsg_type`.
        ty: i32,
    },
    /// The kernel would write a buffer not marked `OUT`, or read one not marked `IN`.
    WrongDirection {
        /// Argument index.
        arg: u8,
        /// The buffer index.
        buf: u16,
    },
    /// A length argument is larger than the memory its pointer reaches.
    LengthExceedsBuffer {
        /// The pointer argument's index.
        arg: u8,
        /// The length asked for.
        len: u64,
        /// Bytes available from the pointer to the end of its buffer.
        available: u64,
    },
    /// A string argument has no NUL before its buffer ends.
    UnterminatedString(u8),
    /// Two pointer arguments of one atom, at least one of which the kernel
    /// writes through, reach overlapping memory: the kernel
    /// could write one before it reads the other (a `recvfrom` whose data
    /// lands on its own `addrlen`), so nothing checked before the call would
    /// still hold during it.
    PointerArgsOverlap {
        /// The first argument's index.
        arg: u8,
        /// The later argument it overlaps.
        other: u8,
    },
    /// Memory a policy rule read (a confined path, an `open_how`) overlaps a
    /// buffer the kernel may write: an earlier atom could rewrite it after it
    /// was checked.
    CheckedMemoryWritable {
        /// The argument whose memory the rule read.
        arg: u8,
        /// The `OUT` buffer that overlaps it.
        buf: u16,
    },
    /// A `setsockopt`/`getsockopt` option outside the socket-option table
    /// ([`syslets_abi::sockopt::SOCKOPTS`]), whose value may hold pointers,
    /// counts or kernel objects.
    SockoptRefused {
        /// The level (`SOL_*`, `IPPROTO_*`).
        level: i32,
        /// The option.
        optname: i32,
        /// Its name, when [`syslets_abi::sockopt::REFUSED`] lists it.
        name: Option<&'static str>,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A raw pointer in a batch decoded from bytes.
    RawPointerInForeignBatch(u8),
    /// An argument rule of the policy refused the value.
    ArgRefused {
        /// Argument index.
        arg: u8,
        /// The rule that refused it.
        reason: &'static str,
    },
    /// Open flags the policy forbids (`O_WRONLY`, `O_CREAT`… under a read-only
    /// policy), in `openat`'s flags or `openat2`'s `how.flags`.
    OpenFlagsRefused {
        /// Argument index (2 for both: the flags, or the `open_how`).
        arg: u8,
        /// The flags asked for.
        flags: u64,
        /// The forbidden bits among them.
        forbidden: u64,
    },
    /// A socket family the policy does not allow.
    SocketFamilyRefused {
        /// Argument index.
        arg: u8,
        /// The `AF_*` value asked for.
        family: u64,
    },
    /// A signal aimed at a thread group other than this process.
    SignalOutsideProcess {
        /// Argument index.
        arg: u8,
        /// The thread-group id asked for.
        tgid: u64,
    },
    /// Under confinement, a path call whose `dirfd` is not the policy's
    /// directory (another descriptor, `AT_FDCWD`, or the `RESULT` of an atom).
    DirfdNotConfined {
        /// Argument index.
        arg: u8,
    },
    /// Under confinement, a path that could resolve outside the directory.
    PathEscapes {
        /// Argument index.
        arg: u8,
        /// Why (absolute, `..` component, …).
        reason: &'static str,
    },
}

impl ValidationError {
    pub(crate) fn batch(kind: ErrorKind) -> Self {
        ValidationError {
            atom: None,
            syscall: None,
            kind,
        }
    }

    pub(crate) fn atom(index: usize, syscall: Option<&'static str>, kind: ErrorKind) -> Self {
        ValidationError {
            atom: Some(index as u16),
            syscall,
            kind,
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.atom, self.syscall) {
            (Some(i), Some(name)) => write!(f, "atom {i} ({name}): ")?,
            (Some(i), None) => write!(f, "atom {i}: ")?,
            _ => f.write_str("batch: ")?,
        }
        fmt::Display::fmt(&self.kind, f)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ErrorKind::*;
        match self {
            Truncated { expected, found } => {
                write!(f, "truncated: {found} bytes, the header implies {expected}")
            }
            TrailingBytes { expected, found } => {
                write!(f, "{found} bytes, the header implies only {expected}")
            }
            BadMagic(m) => write!(f, "bad magic {m:#010x} (expected \"SYSL\")"),
            BadVersion(v) => write!(f, "ABI version {v} is not supported (this is version 1)"),
            NoAtoms => f.write_str("a batch needs at least one atom"),
            TooManyAtoms(n) => write!(f, "{n} atoms, at most {} allowed", syslets_abi::MAX_ATOMS),
            TooManyBufs(n) => write!(f, "{n} buffers, at most {} allowed", syslets_abi::MAX_BUFS),
            ArenaTooLarge(n) => {
                write!(
                    f,
                    "arena of {n} bytes, at most {} allowed",
                    syslets_abi::MAX_ARENA_LEN
                )
            }
            BadBatchFlags(b) => write!(f, "unknown batch flags {b:#06x}"),
            ConflictingBatchFlags => f.write_str("batch flags ASYNC and SYNC are exclusive"),
            ReservedNotZero(field) => write!(f, "reserved field {field} is not zero"),
            BadBufDesc { buf, reason } => write!(f, "buffer {buf}: {reason}"),
            InteriorNul => f.write_str("a path holds a NUL byte"),
            BadAtomFlags(b) => write!(f, "unknown atom flags {b:#010x}"),
            BadNextTarget(t) => write!(f, "NEXT target {t} is not a later atom"),
            UnknownSyscall(nr) => write!(f, "syscall number {nr} is not in the signature table"),
            SyscallNotAllowed => f.write_str("syscall not allowed by the policy"),
            SyscallDenied => f.write_str("syscall is on the fixed denylist"),
            WrongArgCount { expected, found } => {
                write!(f, "nargs is {found}, the syscall takes {expected}")
            }
            BadArgKind { arg, kind } => write!(f, "argument {arg}: unknown kind {kind}"),
            UnusedArgNotZero(a) => {
                write!(f, "argument {a} is beyond nargs but not a zero immediate")
            }
            ArgOutOfRange { arg, value } => {
                write!(
                    f,
                    "argument {arg}: value {value:#x} does not fit its 32-bit type"
                )
            }
            ResultRefersToSelf(a) => write!(f, "argument {a}: RESULT names the atom itself"),
            ResultRefersForward { arg, target } => {
                write!(
                    f,
                    "argument {arg}: RESULT names atom {target}, which is not earlier"
                )
            }
            ForeignAtomRef { arg: Some(arg), atom } => write!(
                f,
                "argument {arg}: RESULT of atom {atom} of another chain"
            ),
            ForeignAtomRef { arg: None, atom } => {
                write!(f, "jump names atom {atom} of another chain")
            }
            NotABuffer { arg, found } => {
                write!(
                    f,
                    "argument {arg} is a pointer but holds a {found}, not a buffer"
                )
            }
            BufIndexOutOfRange { arg, index, nbufs } => write!(
                f,
                "argument {arg} refers to buffer {index}, but the batch has {nbufs} buffers"
            ),
            BufOffsetOutOfRange { arg, offset, len } => {
                write!(
                    f,
                    "argument {arg}: offset {offset} is past the buffer's {len} bytes"
                )
            }
            BadIovec {
                arg,
                element,
                reason,
            } => write!(f, "argument {arg}: iovec element {element}: {reason}"),
            BadMsghdr { arg, field, reason } => {
                write!(f, "argument {arg}: msghdr {field}: {reason}")
            }
            FdPassingRefused { arg, fd: -1 } => write!(
                f,
                "argument {arg}: SCM_RIGHTS sends descriptors to the peer, and the policy does \
                 not allow descriptor passing (Policy::allow_fd_passing)"
            ),
            FdPassingRefused { arg, fd } => write!(
                f,
                "argument {arg}: SCM_RIGHTS descriptor {fd} is refused by the policy's descriptor rules"
            ),
            ControlMessageRefused { arg, level, ty } => write!(
                f,
                "argument {arg}: control message (level {level}, type {ty}) is not one sendmsg \
                 may carry (only SOL_SOCKET/SCM_RIGHTS)"
            ),
            WrongDirection { arg, buf } => write!(
                f,
                "argument {arg}: buffer {buf} is not marked for the direction the kernel uses"
            ),
            LengthExceedsBuffer {
                arg,
                len,
                available,
            } => write!(
                f,
                "argument {arg}: length {len} exceeds the {available} bytes its buffer holds"
            ),
            UnterminatedString(a) => {
                write!(
                    f,
                    "argument {a}: string has no NUL before the end of its buffer"
                )
            }
            PointerArgsOverlap { arg, other } => write!(
                f,
                "arguments {arg} and {other} reach overlapping memory (the kernel may write one \
                 before it reads the other)"
            ),
            CheckedMemoryWritable { arg, buf } => write!(
                f,
                "argument {arg}: memory a policy rule checks overlaps buffer {buf}, which the \
                 kernel may write (an earlier atom could rewrite it)"
            ),
            SockoptRefused {
                level,
                optname,
                name,
                reason,
            } => {
                write!(f, "socket option ")?;
                match syslets_abi::sockopt::level_name(*level) {
                    Some(l) => write!(f, "{l}/")?,
                    None => write!(f, "{level}/")?,
                }
                match name {
                    Some(n) => write!(f, "{n}")?,
                    None => write!(f, "{optname}")?,
                }
                write!(f, " (level {level}, optname {optname}) refused: {reason}")
            }
            RawPointerInForeignBatch(a) => {
                write!(f, "argument {a}: raw pointer with no borrow behind it (a batch decoded from bytes may not carry raw pointers)")
            }
            ArgRefused { arg, reason } => write!(f, "argument {arg} refused: {reason}"),
            OpenFlagsRefused {
                arg,
                flags,
                forbidden,
            } => write!(
                f,
                "argument {arg}: open flags {flags:#o} hold {forbidden:#o}, which the policy forbids"
            ),
            SocketFamilyRefused { arg, family } => {
                write!(f, "argument {arg}: socket family {family} is not allowed by the policy")
            }
            SignalOutsideProcess { arg, tgid } => write!(
                f,
                "argument {arg}: signal to thread group {tgid}, which is not this process"
            ),
            DirfdNotConfined { arg } => write!(
                f,
                "argument {arg}: under confinement the directory fd must be the policy's directory, as an immediate"
            ),
            PathEscapes { arg, reason } => {
                write!(f, "argument {arg}: path could leave the confinement directory: {reason}")
            }
        }
    }
}

impl std::error::Error for ValidationError {}

impl From<ValidationError> for io::Error {
    fn from(e: ValidationError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, e)
    }
}
