//! The signature table: for every system call a batch may name, the kind of each
//! argument, which arguments are pointers, their direction, and where their
//! length comes from — and the i386 calls that become it.
//!
//! The validator uses it to check every pointer and length before anything runs,
//! the compat translator to widen 32-bit arguments by type, and the seccomp
//! filter generator to know the numbers. A syscall that is not in this table can
//! never run in a batch.
//!
//! This module holds the vocabulary of a row ([`Signature`] and the types of
//! its fields, the i386 ones included) and expands the rows of
//! [`for_each_syscall!`](crate::for_each_syscall) into [`SIGNATURES`] and the
//! numbers; [`compat32`](crate::compat32) derives its lookup tables from
//! [`SIGNATURES`], so data flows one way: the rows, then this module, then the
//! views derived from it.
//!
//! The values of `setsockopt`/`getsockopt` are described by the table next to
//! this one, [`crate::sockopt`]: only its options may be named.

use crate::kernel::{SIGINFO_SIZE, STATFS_SIZE, STATX_SIZE, STAT_SIZE};

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
    /// An array of `size`-byte elements, as many as the value of argument
    /// `count` (`epoll_pwait`'s `struct epoll_event`s).
    Elems {
        /// The element count argument.
        count: u8,
        /// Bytes per element.
        size: u32,
    },
    /// An array of [`IoVec`](crate::IoVec)s (the pointer is `In`: the array
    /// is read), as many as the value of argument `count` (an immediate, at
    /// most [`MAX_IOVECS`](crate::MAX_IOVECS)); each element names a buffer
    /// of the batch that the kernel accesses in direction `dir`.
    Iovecs {
        /// The element count argument.
        count: u8,
        /// What the kernel does with the elements' memory.
        dir: Dir,
    },
    /// A [`MsgHdr`](crate::MsgHdr) (`sendmsg`, `recvmsg`; the pointer is `In`
    /// for `sendmsg`, `InOut` for `recvmsg`, whose `msg_namelen`,
    /// `msg_controllen` and `msg_flags` the kernel writes): its address, its
    /// [`IoVec`](crate::IoVec) array's elements and its control buffer name
    /// buffers of the batch that the kernel accesses in direction `dir`.
    Msghdr {
        /// What the kernel does with the name, iovec and control memory.
        dir: Dir,
    },
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

/// What a call does with file descriptors, for the executor's bookkeeping
/// (`unclosed_fds`, `take_fds`) and the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fds {
    /// Neither opens nor closes one.
    None,
    /// A non-negative result is a new descriptor, which the chain then owns.
    Returns,
    /// Closes the descriptor in argument `arg` (even when it reports an error
    /// other than `EBADF`).
    Closes {
        /// The argument holding the descriptor.
        arg: u8,
    },
    /// A zero result means the call wrote two new descriptors into the
    /// `int[2]` argument `arg` points to (`socketpair`, `pipe2`), which the chain then
    /// owns. The run copies them out of the arena as soon as the call returns,
    /// so a later atom that writes the buffer cannot change what
    /// `take_fds` hands out; the buffer must lie in the arena.
    Pair {
        /// The `int[2]` pointer argument.
        arg: u8,
    },
    /// A non-negative result means the call may have installed descriptors
    /// it received in `SCM_RIGHTS` control messages (`recvmsg`), which the
    /// chain then owns: the run parses them out of the control buffer of the
    /// [`MsgHdr`](crate::MsgHdr) argument `arg` points to as soon as the
    /// call returns, like [`Fds::Pair`].
    Received {
        /// The [`Len::Msghdr`] pointer argument.
        arg: u8,
    },
}

/// How a path call avoids following a final symbolic link when a policy
/// confines paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoFollow {
    /// The call follows one unless bit `bit` of argument `arg` is set: the
    /// policy requires the bit.
    Flag {
        /// The flags argument.
        arg: u8,
        /// `O_NOFOLLOW`, `AT_SYMLINK_NOFOLLOW`.
        bit: u64,
    },
    /// The call follows one only when bit `bit` of argument `arg` is set
    /// (`linkat`'s `AT_SYMLINK_FOLLOW`): the policy requires the bit clear.
    FlagClear {
        /// The flags argument.
        arg: u8,
        /// `AT_SYMLINK_FOLLOW`.
        bit: u64,
    },
    /// The call always follows a final symlink (`fchmodat`): refused under
    /// confinement by kernel resolution, where a final symlink could
    /// lead out.
    Always,
    /// The call never follows a final symlink (`mkdirat`, `unlinkat`,
    /// `renameat2`, `readlinkat`, the new name of `linkat` and `symlinkat`).
    Never,
    /// The kernel resolves the path itself under `open_how.resolve`
    /// (`openat2`), which the policy checks.
    Resolve,
}

/// A path argument of a call: a `(dirfd, path)` pair of its arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathArg {
    /// The directory descriptor argument.
    pub dirfd: u8,
    /// The NUL-terminated path argument.
    pub path: u8,
    /// How a final symlink is not followed.
    pub nofollow: NoFollow,
}

/// A policy rule on an argument value, beyond paths, that the validator and
/// the worker's seccomp filter both enforce for this call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgRule {
    /// None.
    None,
    /// Argument `arg` holds `O_*` flags (an open flag rule applies).
    OpenFlags {
        /// The flags argument.
        arg: u8,
    },
    /// Argument `arg` points to a `struct open_how` (flags and resolve rules).
    OpenHow {
        /// The `open_how` argument.
        arg: u8,
    },
    /// Argument `arg` is a socket address family (a family rule applies).
    SocketFamily {
        /// The domain argument.
        arg: u8,
    },
    /// Argument `arg` is a thread-group id that must be this process's own.
    OwnProcess {
        /// The tgid argument.
        arg: u8,
    },
    /// A socket option call: the `(level, optname)` pair in arguments
    /// `level` and `level + 1` must be an entry of the socket-option table
    /// ([`crate::sockopt`]) for `access`, and the entry's `optlen` unit
    /// bounds what the kernel touches through the value argument `value`.
    SocketOption {
        /// `setsockopt` (the kernel reads the value) or `getsockopt` (writes it).
        access: crate::sockopt::Access,
        /// The level argument (the option name follows it).
        level: u8,
        /// The option value argument.
        value: u8,
    },
    /// A sleep (`clock_nanosleep`): the `(clock, flags)` pair in arguments
    /// `clock` and `flags` must be one of [`SLEEPS`].
    Sleep {
        /// The clock argument.
        clock: u8,
        /// The flags argument.
        flags: u8,
    },
    /// Argument `arg` is the string a new symbolic link holds (`symlinkat`'s
    /// target). The call does not resolve it, but whoever later follows the
    /// link does, relative to the link's directory: under confinement it
    /// must be a relative path free of `..` components, so that the link
    /// cannot point out of the directory.
    SymlinkTarget {
        /// The target argument.
        arg: u8,
    },
    /// A message call (`sendmsg`, `recvmsg`) whose [`Len::Msghdr`] is
    /// argument `msg` and whose `MSG_*` flags are argument `flags`: a
    /// `recvmsg` must hold `MSG_CMSG_CLOEXEC` in its flags (descriptors it
    /// receives never leak across `exec`); a `sendmsg` may carry only the
    /// control messages of [`SEND_CONTROL`], and `SCM_RIGHTS` only when the
    /// policy allows descriptor passing.
    Msg {
        /// The msghdr argument.
        msg: u8,
        /// The flags argument.
        flags: u8,
    },
    /// Argument `arg` points to a socket address the kernel reads (`connect`,
    /// `bind`, `sendto`'s destination; its length is the next argument).
    /// Under confinement an `AF_UNIX` address is refused: the kernel resolves
    /// its path from the working directory (or names an abstract socket),
    /// never from the confined directory, and a `bind` would create a file
    /// anywhere.
    SockAddr {
        /// The address argument.
        arg: u8,
    },
}

/// The control messages a `sendmsg` atom may carry, as `(cmsg_level,
/// cmsg_type)`: `SCM_RIGHTS` (descriptors, under the policy's descriptor
/// passing knob) and nothing else. Credentials (`SCM_CREDENTIALS`) and the
/// protocol options (`IP_PKTINFO`…) are refused.
pub const SEND_CONTROL: &[(i32, i32)] = &[(crate::kernel::SOL_SOCKET, crate::kernel::SCM_RIGHTS)];

/// `TIMER_ABSTIME`: an absolute deadline for `clock_nanosleep`.
pub const TIMER_ABSTIME: u32 = 1;

/// The sleeps [`ArgRule::Sleep`] admits, as `(clock, flags allowed with it)`:
/// relative sleeps on `CLOCK_REALTIME` (0), `CLOCK_MONOTONIC` (1) and
/// `CLOCK_BOOTTIME` (7), and absolute deadlines on `CLOCK_MONOTONIC` only. An
/// absolute wall-clock deadline moves whenever the clock is set, and the
/// CPU-time clocks advance only while something runs, so neither bounds how
/// long a worker sleeps.
pub const SLEEPS: &[(u32, &[u32])] = &[(0, &[0]), (1, &[0, TIMER_ABSTIME]), (7, &[0])];

/// A data transfer through a user buffer: the fast paths (re-aiming a
/// validated one-atom batch at another buffer, recycling it) know these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Io {
    /// Not a plain transfer.
    None,
    /// `(fd, buf, count)` into the buffer at the file offset.
    Read,
    /// `(fd, buf, count)` from the buffer at the file offset.
    Write,
    /// `(fd, buf, count, offset)` into the buffer.
    Pread,
    /// `(fd, buf, count, offset)` from the buffer.
    Pwrite,
}

impl Io {
    /// Whether the call takes an explicit offset (argument 3).
    pub const fn positional(self) -> bool {
        matches!(self, Io::Pread | Io::Pwrite)
    }

    /// Whether the kernel reads the buffer (a write).
    pub const fn writes(self) -> bool {
        matches!(self, Io::Write | Io::Pwrite)
    }
}

/// The non-blocking form of a call, with which a worker probes whether the
/// call would block before it hands a chain on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nowait {
    /// None: the call is issued as it is.
    None,
    /// `preadv2`/`pwritev2` with `RWF_NOWAIT` (by [`Io`]).
    Io,
    /// `openat2` with `RESOLVE_CACHED`.
    Cached,
    /// The call with `MSG_DONTWAIT` in its flags (argument 3).
    DontWait,
    /// A vectored transfer `(fd, iov, iovcnt[, offset, _, flags])` probed as
    /// `preadv2`/`pwritev2` with `RWF_NOWAIT` (by the direction of its iovec
    /// array): `readv`/`writev` at the file offset (-1), `preadv2`/`pwritev2`
    /// at their own offset with `RWF_NOWAIT` or-ed into their flags.
    Vectored,
    /// `recvmsg` with `MSG_DONTWAIT` or-ed into its flags (argument 2): a
    /// receive returns what is there, so any result but `EAGAIN` is the
    /// call's own (`sendmsg` is not probed: a short non-blocking send of a
    /// stream could not be resumed through its msghdr).
    DontWaitMsg,
}

/// What a call costs when nothing blocks, for the executor's "did it block?"
/// estimate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cost {
    /// Well under the miss threshold.
    Flat,
    /// Long even when cached: grows with each KiB the call returns (a
    /// `getdents64` of a large directory).
    PerKib,
}

/// Where one native argument comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgMap {
    /// Compat word `j`, widened by the native argument's type in the signature
    /// table: sign-extended for `Fd`, `Int` and `Off`, zero-extended for `UInt`
    /// and `Size`; a compat `BUF` word becomes a native `BUF` argument.
    Word(u8),
    /// A 64-bit value split across two compat words, as i386 passes a `loff_t`
    /// in two registers: `(word[hi] << 32) | word[lo]`. Both must be immediates.
    Pair {
        /// The word holding the low half.
        lo: u8,
        /// The word holding the high half.
        hi: u8,
    },
    /// A fixed value (e.g. `AT_FDCWD` for `stat64`, which has no `dirfd`).
    Const(u64),
    /// Compat word `j` points to an i386 `struct stat64` (96 bytes). The native
    /// call writes a native `struct stat` into a buffer the translator appends,
    /// which write-back converts.
    Stat64Out(u8),
    /// `fstatfs64(fd, sz, buf)`: compat word `buf` points to an i386
    /// `struct statfs64` (84 bytes, packed) and word `size` must be an
    /// immediate 84 (the kernel refuses other sizes). The native call writes a
    /// native `struct statfs` into a buffer the translator appends, which
    /// write-back converts.
    Statfs64Out {
        /// The word holding `sz`.
        size: u8,
        /// The word holding the pointer.
        buf: u8,
    },
    /// i386 `fstatfs(fd, buf)`: compat word `j` points to an i386 32-bit
    /// `struct statfs` (`struct compat_statfs`, 64 bytes). The native call
    /// writes a native `struct statfs` into a buffer the translator appends,
    /// which write-back converts (or, where a count does not fit 32 bits,
    /// turns into the i386 call's `EOVERFLOW`).
    Statfs32Out(u8),
    /// Compat word `word` points to `count` i386 `struct old_timespec32`s
    /// (8 bytes each: `s32 tv_sec, s32 tv_nsec`) the call reads, or is NULL
    /// (`IMM 0`, passed on as NULL); the translator appends the native
    /// 16-byte timespecs, read up front.
    Timespec32In {
        /// The word holding the pointer.
        word: u8,
        /// How many timespecs.
        count: u8,
    },
    /// Compat word `j` is NULL or points to an i386 `struct old_timespec32`
    /// the call writes when a signal interrupts it (`clock_nanosleep`'s
    /// `remain`, written on `EINTR`); the native call writes a native
    /// timespec into an appended buffer, which write-back converts.
    Timespec32Out(u8),
    /// `sendfile`'s `compat_off_t *` in compat word `offset`: NULL, or a
    /// 4-byte signed offset the call reads and advances. The translator
    /// appends the native 8-byte `loff_t`, which write-back stores back as
    /// 32 bits; as the i386 kernel (`MAX_NON_LFS`), the count in compat word
    /// `count` (then an immediate) is cut so the offset stays below 2 GiB.
    Off32InOut {
        /// The word holding the pointer.
        offset: u8,
        /// The word holding the count.
        count: u8,
    },
    /// Compat word `j` points to an i386 `siginfo_t`; the translator appends its
    /// native translation and passes that.
    SiginfoIn(u8),
    /// Compat word `iov` points to an array of i386 iovecs (8 bytes each: a
    /// compat `BUF` word and a `u32` length), as many as compat word `count`
    /// (an immediate) says; the translator appends the native array
    /// ([`IoVec`](crate::IoVec)s) and passes that.
    Iovecs {
        /// The word holding the array pointer.
        iov: u8,
        /// The word holding the element count.
        count: u8,
    },
    /// Compat word `j` points to an i386 `struct msghdr` (28 bytes: compat
    /// `BUF` words for the name, the iovec array and the control buffer,
    /// `u32` lengths and flags), whose iovec array is 8-byte i386 iovecs;
    /// the translator appends the native [`MsgHdr`](crate::MsgHdr) and
    /// array and passes that (and, after a `recvmsg`, writes the kernel's
    /// `msg_namelen` and `msg_flags` back). Control data is translated too:
    /// i386 `cmsghdr`s (12 bytes, 4-byte aligned) into native ones for a
    /// `sendmsg`, and a `recvmsg`'s native messages back into i386 ones.
    Msghdr(u8),
}

/// The i386 convention a call follows, beyond argument mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Convention {
    /// Arguments map by [`ArgMap`]; the result is the native result.
    Plain,
    /// `_llseek(fd, offset_high, offset_low, loff_t *result, whence)`: native
    /// `lseek` returns the new offset; the i386 call stores it through `result`
    /// (compat word `result_arg`, 8 bytes) and returns 0.
    Llseek {
        /// The compat word holding the `result` pointer.
        result_arg: u8,
    },
    /// `socketcall(call, args)`: the native call depends on `call` (an
    /// immediate), its arguments are the entries of the array `args` points
    /// to; see [`SOCKETCALLS`](crate::compat32::SOCKETCALLS).
    Socketcall,
}

/// One i386 system call the translator accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompatCall {
    /// i386 number.
    pub nr: u32,
    /// The i386 name.
    pub name: &'static str,
    /// The native (x86_64) number it becomes (for `socketcall`, 0: it depends
    /// on the call).
    pub native: u32,
    /// Arguments the i386 call takes (the compat atom's `nargs`).
    pub nargs: u8,
    /// One entry per argument of the native call.
    pub args: &'static [ArgMap],
    /// The convention.
    pub convention: Convention,
}

/// One `socketcall` call the translator accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SocketcallMap {
    /// The `call` number (`SYS_SOCKET` = 1, …).
    pub call: u32,
    /// The name.
    pub name: &'static str,
    /// The native call it becomes.
    pub native: u32,
    /// Entries of the argument array the kernel reads for this call.
    pub nargs: u8,
    /// One entry per argument of the native call (`Word(j)` is array entry `j`).
    pub args: &'static [ArgMap],
}

/// Everything the crate knows about one system call: one row of
/// [`SIGNATURES`], written once in the [`for_each_syscall!`](crate::for_each_syscall)
/// table.
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
    /// What it does with descriptors.
    pub fds: Fds,
    /// Its path arguments (`renameat2` and `linkat` have two), each confined
    /// by a confining policy.
    pub paths: &'static [PathArg],
    /// Its argument-value rule, if any.
    pub rule: ArgRule,
    /// Whether it is a plain transfer through a buffer.
    pub io: Io,
    /// Its non-blocking probe.
    pub nowait: Nowait,
    /// Its cost when nothing blocks.
    pub cost: Cost,
    /// The i386 calls that become this call (the compat translator's rows).
    pub i386: &'static [CompatCall],
    /// The i386 `socketcall` calls that become this call.
    pub socketcall: &'static [SocketcallMap],
    /// The i386 call a batch with [`BATCH_COMPAT32`](crate::BATCH_COMPAT32)
    /// issues this call as, through the kernel's i386 entry: the calls whose
    /// outcome depends on the calling ABI (ext4 directory offsets).
    pub via_i386: Option<u32>,
}

impl Signature {
    /// A row's defaults: the fields a row does not name.
    const DEFAULT: Signature = Signature {
        nr: u32::MAX,
        name: "",
        args: &[],
        class: Class::Info,
        blocking: Blocking::Never,
        fds: Fds::None,
        paths: &[],
        rule: ArgRule::None,
        io: Io::None,
        nowait: Nowait::None,
        cost: Cost::Flat,
        i386: &[],
        socketcall: &[],
        via_i386: None,
    };

    /// Whether the call returns a new file descriptor.
    pub const fn returns_fd(&self) -> bool {
        matches!(self.fds, Fds::Returns)
    }
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

/// `(dirfd, path)` in arguments 0 and 1.
const fn path(nofollow: NoFollow) -> PathArg {
    path_at(0, 1, nofollow)
}

/// `(dirfd, path)` in arguments `dirfd` and `path`.
const fn path_at(dirfd: u8, path: u8, nofollow: NoFollow) -> PathArg {
    PathArg {
        dirfd,
        path,
        nofollow,
    }
}

const fn nofollow_flag(arg: u8, bit: u64) -> NoFollow {
    NoFollow::Flag { arg, bit }
}

use crate::kernel::{AT_SYMLINK_FOLLOW, AT_SYMLINK_NOFOLLOW, O_NOFOLLOW};
use crate::sockopt::Access;
use ArgMap::{
    Const, Off32InOut, Pair, SiginfoIn, Stat64Out, Statfs32Out, Statfs64Out, Timespec32In,
    Timespec32Out, Word,
};

/// An iovec array the kernel reads (`writev`) or writes (`readv`), counted
/// by argument 2.
const fn iovecs(dir: Dir) -> ArgType {
    ptr(In, Len::Iovecs { count: 2, dir })
}
/// The i386 iovec array in word 1, counted by word 2.
const IOV32: ArgMap = ArgMap::Iovecs { iov: 1, count: 2 };
/// `(fd, msg, flags)` of `sendmsg`/`recvmsg` from i386 words 0 to 2.
const MSG32: &[ArgMap] = &[Word(0), ArgMap::Msghdr(1), Word(2)];
/// The msghdr of a `sendmsg` (the kernel reads it and the memory it names).
const MSGHDR_IN: ArgType = ptr(In, Len::Msghdr { dir: In });
/// The msghdr of a `recvmsg` (the kernel writes back three of its fields,
/// and the memory it names).
const MSGHDR_OUT: ArgType = ptr(InOut, Len::Msghdr { dir: Out });
use ArgType::{Fd, Int, Off, Size, UInt};
use Dir::{In, InOut, Out};

const PATH: ArgType = ptr(In, Len::CStr);
const SOCKLEN_PTR: ArgType = nullable(InOut, Len::Fixed(4));
/// `struct epoll_event` on x86_64 and i386: packed, 12 bytes.
const EPOLL_EVENT_SIZE: u32 = 12;
const STAT_OUT: ArgType = ptr(Out, Len::Fixed(STAT_SIZE as u32));
/// A nullable 8-byte `loff_t *` the kernel reads and advances.
const OFFSET_PTR: ArgType = nullable(InOut, Len::Fixed(8));
/// `(fd_in, off_in, fd_out, off_out, len, flags)`: `splice`, `copy_file_range`.
const OFFSET_PAIR_COPY: &[ArgType] = &[Fd, OFFSET_PTR, Fd, OFFSET_PTR, Size, UInt];

const W0: &[ArgMap] = &[Word(0)];
const W0_1: &[ArgMap] = &[Word(0), Word(1)];
const W0_2: &[ArgMap] = &[Word(0), Word(1), Word(2)];
const W0_3: &[ArgMap] = &[Word(0), Word(1), Word(2), Word(3)];
const W0_4: &[ArgMap] = &[Word(0), Word(1), Word(2), Word(3), Word(4)];
const W0_5: &[ArgMap] = &[Word(0), Word(1), Word(2), Word(3), Word(4), Word(5)];
/// `AT_FDCWD` as a native argument word.
const AT_FDCWD: u64 = -100i64 as u64;

/// Expands the rows of [`for_each_syscall!`](crate::for_each_syscall) into
/// the native and i386 numbers ([`crate::nr`], [`nr32_table`],
/// [`socketcall_table`]) and [`SIGNATURES`].
macro_rules! signature_table {
    ($({
        nr [$NR:ident = $num:literal, $name:literal]
        doc $_doc:tt
        builder $_builder:tt
        signature [$($field:ident : $value:expr,)*]
        i386 [$([$N32:ident = $n32:literal, $name32:literal, $nargs32:literal, $map32:expr, $conv:expr])*]
        socketcall [$([$SC:ident = $call:literal, $scname:literal, $scnargs:literal, $scmap:expr])*]
        $($_rest:tt)*
    })*) => {
        /// Native (x86_64) system call numbers of every call of the table.
        ///
        /// Spelled out in the table rather than taken from `libc` so that this
        /// `no_std` crate describes the x86_64 ABI on any host (the compat
        /// translator and the C conformance tests build it for i386 too).
        /// `abi/include/syslet.h` has the same numbers as `SYSLET_NR_*`; the
        /// conformance tests check each one against the header and against
        /// the kernel headers' `__NR_*`.
        pub mod nr {
            $(
                // The row's doc is the builder's (in `syslets`, whose items
                // it links), not repeated here.
                #[doc = concat!("`", $name, "`, x86_64 number ", stringify!($num), ".")]
                pub const $NR: u32 = $num;
            )*
        }

        /// i386 system call numbers (`arch/x86/entry/syscalls/syscall_32.tbl`)
        /// of every call the compat translator accepts.
        pub mod nr32_table {
            $($(
                #[doc = concat!("i386 `", $name32, "` (", stringify!($n32), "): becomes `", $name, "`.")]
                pub const $N32: u32 = $n32;
            )*)*
        }

        /// `socketcall` call numbers (`include/uapi/linux/net.h`) the compat
        /// translator accepts.
        pub mod socketcall_table {
            $($(
                #[doc = concat!("`socketcall` call `", $scname, "` (", stringify!($call), "): becomes `", $name, "`.")]
                pub const $SC: u32 = $call;
            )*)*
        }

        const SIGNATURES_ARRAY: &[Signature] = &[$(
            Signature {
                nr: $num,
                name: $name,
                $($field: $value,)*
                i386: &[$(CompatCall {
                    nr: $n32,
                    name: $name32,
                    native: $num,
                    nargs: $nargs32,
                    args: $map32,
                    convention: $conv,
                }),*],
                socketcall: &[$(SocketcallMap {
                    call: $call,
                    name: $scname,
                    native: $num,
                    nargs: $scnargs,
                    args: $scmap,
                }),*],
                ..Signature::DEFAULT
            }
        ),*];
    };
}

crate::for_each_syscall!(signature_table);

/// Every syscall a batch may name, sorted by number (the rows are grouped by
/// kind in the table; they are sorted here, at compile time, by insertion
/// sort: the table is small).
pub static SIGNATURES: &[Signature] = &SORTED;

const SORTED: [Signature; SIGNATURES_ARRAY.len()] = {
    const N: usize = SIGNATURES_ARRAY.len();
    let mut out = [Signature::DEFAULT; N];
    let mut n = 0;
    while n < N {
        let row = SIGNATURES_ARRAY[n];
        let mut k = n;
        while k > 0 && out[k - 1].nr > row.nr {
            out[k] = out[k - 1];
            k -= 1;
        }
        out[k] = row;
        n += 1;
    }
    out
};

/// Native numbers the direct-index table covers (all x86_64 numbers are below).
const INDEX_LEN: usize = 512;

/// `INDEX[nr]` is one plus the position of `nr` in [`SIGNATURES`], or zero:
/// validation looks up every atom, so this is a table, not a search.
static INDEX: [u8; INDEX_LEN] = {
    let mut index = [0u8; INDEX_LEN];
    let mut i = 0;
    while i < SORTED.len() {
        index[SORTED[i].nr as usize] = i as u8 + 1;
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
pub fn returns_fd(nr: u32) -> bool {
    lookup(nr).is_some_and(Signature::returns_fd)
}

/// Look up a signature by name.
pub fn by_name(name: &str) -> Option<&'static Signature> {
    SIGNATURES.iter().find(|s| s.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_sorted_and_unique() {
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
                    Len::Elems { count, size } => {
                        assert!(size > 0, "{}", sig.name);
                        assert!(
                            matches!(sig.args[count as usize], ArgType::Int | ArgType::Size),
                            "{}: element count {count} is not a count",
                            sig.name
                        );
                    }
                    Len::Msghdr { dir } => {
                        let want = if dir == Dir::In { Dir::In } else { Dir::InOut };
                        assert_eq!(p.dir, want, "{}: the msghdr", sig.name);
                        assert!(!p.nullable, "{}", sig.name);
                    }
                    Len::Iovecs { count, .. } => {
                        assert_eq!(p.dir, Dir::In, "{}: the array is read", sig.name);
                        assert!(
                            matches!(sig.args[count as usize], ArgType::Size | ArgType::UInt),
                            "{}: iovec count {count} is not a size",
                            sig.name
                        );
                    }
                }
            }
        }
    }

    /// Each derived view reads a row's fields with a shape in mind (the
    /// executor's probes and re-aiming, the policy's rules, the seccomp
    /// filter's argument rules, the i386 route): a row whose fields disagree
    /// with its arguments fails here, not in a consumer.
    #[test]
    fn every_row_fits_what_its_fields_promise() {
        let is_ptr = |sig: &Signature, i: u8, dir: Dir| matches!(sig.args.get(i as usize), Some(ArgType::Ptr(p)) if p.dir == dir);
        let is = |sig: &Signature, i: u8, ty: ArgType| sig.args.get(i as usize) == Some(&ty);
        for sig in SIGNATURES {
            let name = sig.name;
            // Io: (fd, buf, count[, offset]), the buffer's length in count.
            if sig.io != Io::None {
                let dir = if sig.io.writes() { In } else { Out };
                assert!(is(sig, 0, Fd) && is(sig, 2, Size), "{name}: io shape");
                assert_eq!(sig.args[1], ptr(dir, Len::Arg(2)), "{name}: io buffer");
                let want = if sig.io.positional() { 4 } else { 3 };
                assert_eq!(sig.args.len(), want, "{name}: io arity");
                assert!(!sig.io.positional() || is(sig, 3, Off), "{name}: io offset");
            }
            match sig.nowait {
                Nowait::None => {}
                Nowait::Io => assert_ne!(sig.io, Io::None, "{name}: an Io probe needs io"),
                // openat2 with RESOLVE_CACHED from (dirfd, path, flags, mode).
                Nowait::Cached => {
                    assert_eq!(sig.rule, ArgRule::OpenFlags { arg: 2 }, "{name}");
                    assert!(!sig.paths.is_empty() && is(sig, 3, UInt), "{name}");
                }
                // MSG_DONTWAIT is or-ed into argument 3.
                Nowait::DontWait => assert!(is(sig, 3, UInt), "{name}: flags in arg 3"),
                // MSG_DONTWAIT is or-ed into argument 2 of a receiving msghdr call.
                Nowait::DontWaitMsg => {
                    assert_eq!(sig.args.get(1), Some(&MSGHDR_OUT), "{name}: receives");
                    assert!(is(sig, 2, UInt), "{name}: flags in arg 2");
                }
                // (fd, iov, iovcnt) or (fd, iov, iovcnt, offset, pos_h, flags).
                Nowait::Vectored => {
                    assert!(is(sig, 0, Fd) && is(sig, 2, Size), "{name}: vectored shape");
                    assert!(
                        matches!(
                            sig.args[1],
                            ArgType::Ptr(Ptr {
                                len: Len::Iovecs { count: 2, .. },
                                ..
                            })
                        ),
                        "{name}: an iovec array in arg 1"
                    );
                    match sig.args.len() {
                        3 => {}
                        6 => assert!(is(sig, 3, Off) && is(sig, 5, UInt), "{name}: offset, flags"),
                        n => panic!("{name}: {n} arguments"),
                    }
                }
            }
            match sig.fds {
                Fds::None | Fds::Returns => {}
                Fds::Closes { arg } => assert!(is(sig, arg, Fd), "{name}: closes a non-fd"),
                Fds::Pair { arg } => {
                    assert_eq!(
                        sig.args[arg as usize],
                        ptr(Out, Len::Fixed(8)),
                        "{name}: int[2]"
                    )
                }
                Fds::Received { arg } => {
                    assert_eq!(sig.args[arg as usize], MSGHDR_OUT, "{name}: msghdr")
                }
            }
            for p in sig.paths {
                assert!(
                    is(sig, p.dirfd, Fd) && is(sig, p.path, PATH),
                    "{name}: path"
                );
                if let NoFollow::Flag { arg, .. } | NoFollow::FlagClear { arg, .. } = p.nofollow {
                    assert!(is(sig, arg, UInt), "{name}: no-follow flag");
                }
            }
            match sig.rule {
                ArgRule::None => {}
                ArgRule::OpenFlags { arg } => assert!(is(sig, arg, UInt), "{name}"),
                ArgRule::OpenHow { arg } => assert!(is_ptr(sig, arg, In), "{name}"),
                ArgRule::SymlinkTarget { arg } => assert!(is(sig, arg, PATH), "{name}"),
                ArgRule::SockAddr { arg } => {
                    let len = Len::Arg(arg + 1);
                    let addr = matches!(sig.args.get(arg as usize),
                        Some(ArgType::Ptr(p)) if p.dir == In && p.len == len);
                    assert!(addr && is(sig, arg + 1, UInt), "{name}: address, length");
                }
                ArgRule::Sleep { clock, flags } => {
                    assert!(is(sig, clock, Int) && is(sig, flags, Int), "{name}")
                }
                ArgRule::Msg { msg, flags } => {
                    assert!(is(sig, flags, UInt), "{name}: msg flags");
                    assert!(
                        sig.args[msg as usize] == MSGHDR_IN || sig.args[msg as usize] == MSGHDR_OUT,
                        "{name}: msghdr"
                    );
                }
                ArgRule::SocketFamily { arg } | ArgRule::OwnProcess { arg } => {
                    assert!(is(sig, arg, Int), "{name}")
                }
                ArgRule::SocketOption {
                    level,
                    value,
                    access,
                } => {
                    assert!(is(sig, level, Int) && is(sig, level + 1, Int), "{name}");
                    let dir = match access {
                        Access::Set => In,
                        Access::Get => Out,
                    };
                    assert!(is_ptr(sig, value, dir), "{name}: option value");
                }
            }
            // An iovec array's elements are checked against each other, not
            // against other pointers: a row with one has no other.
            let iovecs = sig.args.iter().filter(|a| {
                matches!(a, ArgType::Ptr(p) if matches!(p.len, Len::Iovecs { .. } | Len::Msghdr { .. }))
            });
            if iovecs.count() > 0 {
                let pointers = sig.args.iter().filter(|a| matches!(a, ArgType::Ptr(_)));
                assert_eq!(
                    pointers.count(),
                    1,
                    "{name}: an iovec array and another pointer"
                );
            }
            if let Some(nr32) = sig.via_i386 {
                assert!(
                    sig.i386.iter().any(|c| c.nr == nr32),
                    "{name}: via_i386 is not one of its i386 calls"
                );
            }
            if sig.cost == Cost::PerKib {
                assert!(sig
                    .args
                    .iter()
                    .any(|a| matches!(a, ArgType::Ptr(p) if p.dir == Out)));
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
