//! The signature table: for every system call a batch may name, the kind of each
//! argument, which arguments are pointers, their direction, and where their
//! length comes from.
//!
//! The validator uses it to check every pointer and length before anything runs,
//! the compat translator to widen 32-bit arguments by type, and the seccomp
//! filter generator to know the numbers. A syscall that is not in this table can
//! never run in a batch.
//!
//! The values of `setsockopt`/`getsockopt` are described by the table next to
//! this one, [`crate::sockopt`]: only its options may be named.

use crate::kernel::{SIGINFO_SIZE, STATX_SIZE, STAT_SIZE};
use crate::nr;

/// Direction of a pointer argument, from the kernel's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// The kernel reads the memory.
    In,
    /// The kernel writes the memory.
    Out,
    /// The kernel reads, then writes the memory (value-result, e.g. `socklen_t *`).
    InOut,
}

/// Where the length of a pointer argument comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Len {
    /// The value of argument `i` (a size).
    Arg(u8),
    /// A fixed number of bytes (a struct).
    Fixed(u32),
    /// A NUL-terminated string that must end inside its buffer.
    CStr,
    /// A `u32` (`socklen_t`) stored in the memory argument `i` points to.
    ArgPtr(u8),
}

/// A pointer argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ptr {
    /// What the kernel does with the memory.
    pub dir: Dir,
    /// How long the memory is.
    pub len: Len,
    /// Whether a NULL immediate is accepted.
    pub nullable: bool,
}

/// The type of one argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgType {
    /// A file descriptor (`int`; `AT_FDCWD` allowed). Sign-extended from 32 bits.
    Fd,
    /// A signed `int` (domain, level, signal, pid). Sign-extended from 32 bits.
    Int,
    /// An unsigned 32-bit value: flags, modes, `socklen_t`. Zero-extended.
    UInt,
    /// A `size_t`. Zero-extended from 32 bits on compat.
    Size,
    /// An `off_t`/`loff_t` (signed 64-bit).
    Off,
    /// A pointer into memory the batch owns.
    Ptr(Ptr),
}

/// Coarse class of a syscall, for policies that narrow by class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// Descriptor bookkeeping: close, lseek.
    Fd,
    /// Opening and reading files and directories, and their metadata.
    FileRead,
    /// Writing, syncing, truncating, creating and removing files.
    FileWrite,
    /// Creating and configuring sockets.
    Socket,
    /// Outgoing connections.
    NetClient,
    /// Listening and accepting.
    NetServer,
    /// Sending and receiving data on sockets.
    NetIo,
    /// Signals to this process's own threads.
    Signal,
    /// Harmless queries (getpid, gettid).
    Info,
}

/// Whether an atom can block in the kernel, as a hint to the executor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blocking {
    /// Never sleeps for I/O (getpid, close of a regular file, lseek).
    Never,
    /// May wait for storage (page cache misses, metadata lookups, fsync).
    Storage,
    /// May wait for the network or a peer (connect, accept, recv on a blocking socket).
    Network,
}

/// Everything the crate knows about one system call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signature {
    /// Native (x86_64) number.
    pub nr: u32,
    /// The name, as in `man 2`.
    pub name: &'static str,
    /// One entry per argument, in order.
    pub args: &'static [ArgType],
    /// Coarse class.
    pub class: Class,
    /// Blocking hint.
    pub blocking: Blocking,
}

const fn ptr(dir: Dir, len: Len) -> ArgType {
    ArgType::Ptr(Ptr {
        dir,
        len,
        nullable: false,
    })
}

const fn nullable(dir: Dir, len: Len) -> ArgType {
    ArgType::Ptr(Ptr {
        dir,
        len,
        nullable: true,
    })
}

use ArgType::{Fd, Int, Off, Size, UInt};
use Dir::{In, InOut, Out};

const PATH: ArgType = ptr(In, Len::CStr);
const SOCKLEN_PTR: ArgType = nullable(InOut, Len::Fixed(4));

macro_rules! sig {
    ($nr:ident, $name:literal, $class:ident, $blocking:ident, [$($arg:expr),* $(,)?]) => {
        Signature {
            nr: nr::$nr,
            name: $name,
            args: &[$($arg),*],
            class: Class::$class,
            blocking: Blocking::$blocking,
        }
    };
}

/// Every syscall a batch may name, sorted by number.
pub static SIGNATURES: &[Signature] = SIGNATURES_ARRAY;

const SIGNATURES_ARRAY: &[Signature] = &[
    sig!(
        READ,
        "read",
        FileRead,
        Storage,
        [Fd, ptr(Out, Len::Arg(2)), Size]
    ),
    sig!(
        WRITE,
        "write",
        FileWrite,
        Storage,
        [Fd, ptr(In, Len::Arg(2)), Size]
    ),
    sig!(CLOSE, "close", Fd, Never, [Fd]),
    sig!(
        FSTAT,
        "fstat",
        FileRead,
        Never,
        [Fd, ptr(Out, Len::Fixed(STAT_SIZE as u32))]
    ),
    sig!(LSEEK, "lseek", Fd, Never, [Fd, Off, UInt]),
    sig!(
        PREAD64,
        "pread64",
        FileRead,
        Storage,
        [Fd, ptr(Out, Len::Arg(2)), Size, Off]
    ),
    sig!(
        PWRITE64,
        "pwrite64",
        FileWrite,
        Storage,
        [Fd, ptr(In, Len::Arg(2)), Size, Off]
    ),
    sig!(GETPID, "getpid", Info, Never, []),
    sig!(SOCKET, "socket", Socket, Never, [Int, Int, Int]),
    sig!(
        CONNECT,
        "connect",
        NetClient,
        Network,
        [Fd, ptr(In, Len::Arg(2)), UInt]
    ),
    sig!(
        SENDTO,
        "sendto",
        NetIo,
        Network,
        [
            Fd,
            ptr(In, Len::Arg(2)),
            Size,
            UInt,
            nullable(In, Len::Arg(5)),
            UInt
        ]
    ),
    sig!(
        RECVFROM,
        "recvfrom",
        NetIo,
        Network,
        [
            Fd,
            ptr(Out, Len::Arg(2)),
            Size,
            UInt,
            nullable(Out, Len::ArgPtr(5)),
            SOCKLEN_PTR
        ]
    ),
    sig!(SHUTDOWN, "shutdown", Socket, Never, [Fd, Int]),
    sig!(
        BIND,
        "bind",
        NetServer,
        Never,
        [Fd, ptr(In, Len::Arg(2)), UInt]
    ),
    sig!(LISTEN, "listen", NetServer, Never, [Fd, Int]),
    sig!(
        SETSOCKOPT,
        "setsockopt",
        Socket,
        Never,
        [Fd, Int, Int, ptr(In, Len::Arg(4)), UInt]
    ),
    sig!(
        GETSOCKOPT,
        "getsockopt",
        Socket,
        Never,
        [
            Fd,
            Int,
            Int,
            ptr(Out, Len::ArgPtr(4)),
            ptr(InOut, Len::Fixed(4))
        ]
    ),
    sig!(FSYNC, "fsync", FileWrite, Storage, [Fd]),
    sig!(FDATASYNC, "fdatasync", FileWrite, Storage, [Fd]),
    sig!(FTRUNCATE, "ftruncate", FileWrite, Storage, [Fd, Off]),
    sig!(GETTID, "gettid", Info, Never, []),
    sig!(
        GETDENTS64,
        "getdents64",
        FileRead,
        Storage,
        [Fd, ptr(Out, Len::Arg(2)), UInt]
    ),
    sig!(TGKILL, "tgkill", Signal, Never, [Int, Int, Int]),
    sig!(OPENAT, "openat", FileRead, Storage, [Fd, PATH, UInt, UInt]),
    sig!(MKDIRAT, "mkdirat", FileWrite, Storage, [Fd, PATH, UInt]),
    sig!(
        NEWFSTATAT,
        "newfstatat",
        FileRead,
        Storage,
        [Fd, PATH, ptr(Out, Len::Fixed(STAT_SIZE as u32)), UInt]
    ),
    sig!(UNLINKAT, "unlinkat", FileWrite, Storage, [Fd, PATH, UInt]),
    sig!(
        FALLOCATE,
        "fallocate",
        FileWrite,
        Storage,
        [Fd, Int, Off, Off]
    ),
    sig!(
        ACCEPT4,
        "accept4",
        NetServer,
        Network,
        [Fd, nullable(Out, Len::ArgPtr(2)), SOCKLEN_PTR, UInt]
    ),
    sig!(
        RT_TGSIGQUEUEINFO,
        "rt_tgsigqueueinfo",
        Signal,
        Never,
        [Int, Int, Int, ptr(In, Len::Fixed(SIGINFO_SIZE as u32))]
    ),
    sig!(
        STATX,
        "statx",
        FileRead,
        Storage,
        [
            Fd,
            PATH,
            UInt,
            UInt,
            ptr(Out, Len::Fixed(STATX_SIZE as u32))
        ]
    ),
    sig!(
        OPENAT2,
        "openat2",
        FileRead,
        Storage,
        [Fd, PATH, ptr(In, Len::Arg(3)), Size]
    ),
];

/// Native numbers the direct-index table covers (all x86_64 numbers are below).
const INDEX_LEN: usize = 512;

/// `INDEX[nr]` is one plus the position of `nr` in [`SIGNATURES`], or zero:
/// validation looks up every atom, so this is a table, not a search.
static INDEX: [u8; INDEX_LEN] = {
    let mut index = [0u8; INDEX_LEN];
    let mut i = 0;
    while i < SIGNATURES_ARRAY.len() {
        index[SIGNATURES_ARRAY[i].nr as usize] = i as u8 + 1;
        i += 1;
    }
    index
};

/// Look up the signature of a native syscall number.
pub fn lookup(nr: u32) -> Option<&'static Signature> {
    match INDEX.get(nr as usize) {
        Some(&slot) if slot != 0 => Some(&SIGNATURES[slot as usize - 1]),
        _ => None,
    }
}

/// Whether the call returns a new file descriptor (which the chain then owns).
pub const fn returns_fd(nr: u32) -> bool {
    matches!(nr, nr::OPENAT | nr::OPENAT2 | nr::SOCKET | nr::ACCEPT4)
}

/// Look up a signature by name.
pub fn by_name(name: &str) -> Option<&'static Signature> {
    SIGNATURES.iter().find(|s| s.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        for pair in SIGNATURES.windows(2) {
            assert!(
                pair[0].nr < pair[1].nr,
                "{} before {}",
                pair[0].name,
                pair[1].name
            );
        }
    }

    #[test]
    fn length_references_point_at_sizes_or_socklen_pointers() {
        for sig in SIGNATURES {
            assert!(sig.args.len() <= crate::MAX_ARGS, "{}", sig.name);
            for arg in sig.args {
                let ArgType::Ptr(p) = arg else { continue };
                match p.len {
                    Len::Arg(i) => assert!(
                        matches!(sig.args[i as usize], ArgType::Size | ArgType::UInt),
                        "{}: length arg {i} is not a size",
                        sig.name
                    ),
                    Len::ArgPtr(i) => assert!(
                        matches!(
                            sig.args[i as usize],
                            ArgType::Ptr(Ptr {
                                dir: Dir::InOut,
                                len: Len::Fixed(4),
                                ..
                            })
                        ),
                        "{}",
                        sig.name
                    ),
                    Len::Fixed(n) => assert!(n > 0),
                    Len::CStr => assert_eq!(p.dir, Dir::In),
                }
            }
        }
    }

    #[test]
    fn lookup_finds_every_entry() {
        for sig in SIGNATURES {
            assert_eq!(lookup(sig.nr), Some(sig));
            assert_eq!(by_name(sig.name), Some(sig));
        }
        assert_eq!(lookup(59), None, "execve must never be in the table");
    }
}
