//! The compat table: for every i386 system call the translator accepts, the
//! native call it becomes and where each native argument comes from.
//!
//! Every native call of the signature table ([`syslets_abi::signature::SIGNATURES`])
//! is reachable from at least one i386 call (a test checks it).

use syslets_abi::nr;

use crate::nr32;

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
    /// call writes a native `struct stat` into a buffer the translator appends;
    /// [`Normalized::write_back`](crate::Normalized::write_back) converts it.
    Stat64Out(u8),
    /// Compat word `j` points to an i386 `siginfo_t`; the translator appends its
    /// native translation and passes that.
    SiginfoIn(u8),
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
    /// `socketcall(call, args)`: the native call depends on `call` (an immediate),
    /// its arguments are the [`SocketcallArg`](crate::SocketcallArg) entries of
    /// the array `args` points to; see [`SOCKETCALLS`].
    Socketcall,
}

/// One i386 system call the translator accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompatCall {
    /// i386 number.
    pub nr: u32,
    /// The i386 name.
    pub name: &'static str,
    /// The native (x86_64) number it becomes (for `socketcall`, 0: it depends on
    /// the call).
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

use ArgMap::{Const, Pair, SiginfoIn, Stat64Out, Word};

/// `AT_FDCWD` as a native argument word.
const AT_FDCWD: u64 = -100i64 as u64;
/// `AT_SYMLINK_NOFOLLOW`.
const AT_SYMLINK_NOFOLLOW: u64 = 0x100;

const fn plain(
    nr: u32,
    name: &'static str,
    native: u32,
    nargs: u8,
    args: &'static [ArgMap],
) -> CompatCall {
    CompatCall {
        nr,
        name,
        native,
        nargs,
        args,
        convention: Convention::Plain,
    }
}

const W0: &[ArgMap] = &[Word(0)];
const W0_1: &[ArgMap] = &[Word(0), Word(1)];
const W0_2: &[ArgMap] = &[Word(0), Word(1), Word(2)];
const W0_3: &[ArgMap] = &[Word(0), Word(1), Word(2), Word(3)];
const W0_4: &[ArgMap] = &[Word(0), Word(1), Word(2), Word(3), Word(4)];
const W0_5: &[ArgMap] = &[Word(0), Word(1), Word(2), Word(3), Word(4), Word(5)];

/// Every i386 call the translator accepts, sorted by i386 number.
pub static COMPAT_CALLS: &[CompatCall] = &[
    plain(nr32::READ, "read", nr::READ, 3, W0_2),
    plain(nr32::WRITE, "write", nr::WRITE, 3, W0_2),
    plain(nr32::CLOSE, "close", nr::CLOSE, 1, W0),
    // compat_sys_lseek: the offset is a signed 32-bit compat_off_t.
    plain(nr32::LSEEK, "lseek", nr::LSEEK, 3, W0_2),
    plain(nr32::GETPID, "getpid", nr::GETPID, 0, &[]),
    // compat_sys_ftruncate: compat_off_t length, sign-extended (since the 2024
    // fix "ftruncate: pass a signed offset", CVE-2024-42084, in Linux 6.10 and
    // the stable kernels; before it, compat_ulong_t and zero-extended).
    plain(nr32::FTRUNCATE, "ftruncate", nr::FTRUNCATE, 2, W0_1),
    CompatCall {
        nr: nr32::SOCKETCALL,
        name: "socketcall",
        native: 0,
        nargs: 2,
        args: &[],
        convention: Convention::Socketcall,
    },
    plain(nr32::FSYNC, "fsync", nr::FSYNC, 1, W0),
    CompatCall {
        nr: nr32::LLSEEK,
        name: "_llseek",
        native: nr::LSEEK,
        nargs: 5,
        // offset = (offset_high << 32) | offset_low: words 1 (high) and 2 (low).
        args: &[Word(0), Pair { lo: 2, hi: 1 }, Word(4)],
        convention: Convention::Llseek { result_arg: 3 },
    },
    plain(nr32::FDATASYNC, "fdatasync", nr::FDATASYNC, 1, W0),
    plain(
        nr32::PREAD64,
        "pread64",
        nr::PREAD64,
        5,
        &[Word(0), Word(1), Word(2), Pair { lo: 3, hi: 4 }],
    ),
    plain(
        nr32::PWRITE64,
        "pwrite64",
        nr::PWRITE64,
        5,
        &[Word(0), Word(1), Word(2), Pair { lo: 3, hi: 4 }],
    ),
    plain(
        nr32::FTRUNCATE64,
        "ftruncate64",
        nr::FTRUNCATE,
        3,
        &[Word(0), Pair { lo: 1, hi: 2 }],
    ),
    plain(
        nr32::STAT64,
        "stat64",
        nr::NEWFSTATAT,
        2,
        &[Const(AT_FDCWD), Word(0), Stat64Out(1), Const(0)],
    ),
    plain(
        nr32::LSTAT64,
        "lstat64",
        nr::NEWFSTATAT,
        2,
        &[
            Const(AT_FDCWD),
            Word(0),
            Stat64Out(1),
            Const(AT_SYMLINK_NOFOLLOW),
        ],
    ),
    plain(
        nr32::FSTAT64,
        "fstat64",
        nr::FSTAT,
        2,
        &[Word(0), Stat64Out(1)],
    ),
    plain(nr32::GETDENTS64, "getdents64", nr::GETDENTS64, 3, W0_2),
    plain(nr32::GETTID, "gettid", nr::GETTID, 0, &[]),
    plain(nr32::TGKILL, "tgkill", nr::TGKILL, 3, W0_2),
    plain(nr32::OPENAT, "openat", nr::OPENAT, 4, W0_3),
    plain(nr32::MKDIRAT, "mkdirat", nr::MKDIRAT, 3, W0_2),
    plain(
        nr32::FSTATAT64,
        "fstatat64",
        nr::NEWFSTATAT,
        4,
        &[Word(0), Word(1), Stat64Out(2), Word(3)],
    ),
    plain(nr32::UNLINKAT, "unlinkat", nr::UNLINKAT, 3, W0_2),
    plain(
        nr32::FALLOCATE,
        "fallocate",
        nr::FALLOCATE,
        6,
        &[
            Word(0),
            Word(1),
            Pair { lo: 2, hi: 3 },
            Pair { lo: 4, hi: 5 },
        ],
    ),
    plain(
        nr32::RT_TGSIGQUEUEINFO,
        "rt_tgsigqueueinfo",
        nr::RT_TGSIGQUEUEINFO,
        4,
        &[Word(0), Word(1), Word(2), SiginfoIn(3)],
    ),
    plain(nr32::SOCKET, "socket", nr::SOCKET, 3, W0_2),
    plain(nr32::BIND, "bind", nr::BIND, 3, W0_2),
    plain(nr32::CONNECT, "connect", nr::CONNECT, 3, W0_2),
    plain(nr32::LISTEN, "listen", nr::LISTEN, 2, W0_1),
    plain(nr32::ACCEPT4, "accept4", nr::ACCEPT4, 4, W0_3),
    plain(nr32::GETSOCKOPT, "getsockopt", nr::GETSOCKOPT, 5, W0_4),
    plain(nr32::SETSOCKOPT, "setsockopt", nr::SETSOCKOPT, 5, W0_4),
    plain(nr32::SENDTO, "sendto", nr::SENDTO, 6, W0_5),
    plain(nr32::RECVFROM, "recvfrom", nr::RECVFROM, 6, W0_5),
    plain(nr32::SHUTDOWN, "shutdown", nr::SHUTDOWN, 2, W0_1),
    plain(nr32::STATX, "statx", nr::STATX, 5, W0_4),
    plain(nr32::OPENAT2, "openat2", nr::OPENAT2, 4, W0_3),
];

const fn sc(
    call: u32,
    name: &'static str,
    native: u32,
    nargs: u8,
    args: &'static [ArgMap],
) -> SocketcallMap {
    SocketcallMap {
        call,
        name,
        native,
        nargs,
        args,
    }
}

use nr32::socketcall as scn;

/// Every `socketcall` call the translator accepts, by call number.
/// `getsockname`, `getpeername`, `socketpair`, `sendmsg`, `recvmsg`, `recvmmsg`
/// and `sendmmsg` have no native counterpart in the signature table and are
/// refused.
pub static SOCKETCALLS: &[SocketcallMap] = &[
    sc(scn::SOCKET, "socket", nr::SOCKET, 3, W0_2),
    sc(scn::BIND, "bind", nr::BIND, 3, W0_2),
    sc(scn::CONNECT, "connect", nr::CONNECT, 3, W0_2),
    sc(scn::LISTEN, "listen", nr::LISTEN, 2, W0_1),
    // accept(fd, addr, addrlen) is accept4(fd, addr, addrlen, 0).
    sc(
        scn::ACCEPT,
        "accept",
        nr::ACCEPT4,
        3,
        &[Word(0), Word(1), Word(2), Const(0)],
    ),
    // send(fd, buf, len, flags) is sendto(fd, buf, len, flags, NULL, 0).
    sc(
        scn::SEND,
        "send",
        nr::SENDTO,
        4,
        &[Word(0), Word(1), Word(2), Word(3), Const(0), Const(0)],
    ),
    // recv(fd, buf, len, flags) is recvfrom(fd, buf, len, flags, NULL, NULL).
    sc(
        scn::RECV,
        "recv",
        nr::RECVFROM,
        4,
        &[Word(0), Word(1), Word(2), Word(3), Const(0), Const(0)],
    ),
    sc(scn::SENDTO, "sendto", nr::SENDTO, 6, W0_5),
    sc(scn::RECVFROM, "recvfrom", nr::RECVFROM, 6, W0_5),
    sc(scn::SHUTDOWN, "shutdown", nr::SHUTDOWN, 2, W0_1),
    sc(scn::SETSOCKOPT, "setsockopt", nr::SETSOCKOPT, 5, W0_4),
    sc(scn::GETSOCKOPT, "getsockopt", nr::GETSOCKOPT, 5, W0_4),
    sc(scn::ACCEPT4, "accept4", nr::ACCEPT4, 4, W0_3),
];

/// Look up an i386 call.
pub fn lookup(nr32: u32) -> Option<&'static CompatCall> {
    COMPAT_CALLS
        .binary_search_by_key(&nr32, |c| c.nr)
        .ok()
        .map(|i| &COMPAT_CALLS[i])
}

/// Look up a `socketcall` call number.
pub fn lookup_socketcall(call: u32) -> Option<&'static SocketcallMap> {
    SOCKETCALLS.iter().find(|s| s.call == call)
}

/// Whether a `socketcall` call number exists but is not translated (its native
/// counterpart is not in the signature table).
pub const fn socketcall_untranslated(call: u32) -> bool {
    matches!(
        call,
        scn::GETSOCKNAME
            | scn::GETPEERNAME
            | scn::SOCKETPAIR
            | scn::SENDMSG
            | scn::RECVMSG
            | scn::RECVMMSG
            | scn::SENDMMSG
    )
}

/// Socket options whose value has a different layout on i386 (the kernel
/// converts them in its compat path; this translator does not), as
/// `(level, optname)`: `SO_RCVTIMEO_OLD`/`SO_SNDTIMEO_OLD` (a 32-bit `timeval`),
/// `SO_ATTACH_FILTER`/`SO_ATTACH_REUSEPORT_CBPF` (a `sock_fprog` holding a
/// pointer) and the `MCAST_*` group requests of `IPPROTO_IP` and `IPPROTO_IPV6`
/// (a `sockaddr_storage` aligned to 4 instead of 8).
pub const UNTRANSLATED_SOCKOPTS: &[(u32, u32)] = &[
    (1, 20),
    (1, 21),
    (1, 26),
    (1, 51),
    (0, 42),
    (0, 43),
    (0, 44),
    (0, 45),
    (0, 46),
    (0, 47),
    (0, 48),
    (41, 42),
    (41, 43),
    (41, 44),
    (41, 45),
    (41, 46),
    (41, 47),
    (41, 48),
];

#[cfg(test)]
mod tests {
    use super::*;
    use syslets_abi::signature::{self, ArgType};

    #[test]
    fn table_is_sorted_and_unique() {
        for pair in COMPAT_CALLS.windows(2) {
            assert!(
                pair[0].nr < pair[1].nr,
                "{} before {}",
                pair[0].name,
                pair[1].name
            );
        }
    }

    #[test]
    fn every_entry_matches_its_native_signature() {
        let check = |name: &str, native: u32, nargs: u8, args: &[ArgMap], extra: Option<u8>| {
            let sig = signature::lookup(native)
                .unwrap_or_else(|| panic!("{name}: native {native} not in the signature table"));
            assert_eq!(args.len(), sig.args.len(), "{name}: native arity");
            let mut used = [false; 6];
            if let Some(j) = extra {
                used[j as usize] = true;
            }
            for (k, m) in args.iter().enumerate() {
                let ty = sig.args[k];
                match *m {
                    Word(j) => used[j as usize] = true,
                    Pair { lo, hi } => {
                        assert_eq!(ty, ArgType::Off, "{name}: pair into a non-off_t");
                        used[lo as usize] = true;
                        used[hi as usize] = true;
                    }
                    Stat64Out(j) | SiginfoIn(j) => {
                        assert!(matches!(ty, ArgType::Ptr(_)), "{name}");
                        used[j as usize] = true;
                    }
                    Const(_) => {}
                }
            }
            // Every i386 argument is consumed exactly where the table says.
            for (j, u) in used.iter().enumerate() {
                assert_eq!(*u, j < nargs as usize, "{name}: word {j}");
            }
        };
        for c in COMPAT_CALLS {
            match c.convention {
                Convention::Socketcall => assert_eq!(c.nargs, 2),
                Convention::Llseek { result_arg } => {
                    check(c.name, c.native, c.nargs, c.args, Some(result_arg))
                }
                Convention::Plain => check(c.name, c.native, c.nargs, c.args, None),
            }
        }
        for s in SOCKETCALLS {
            check(s.name, s.native, s.nargs, s.args, None);
            assert!(!socketcall_untranslated(s.call));
        }
    }

    #[test]
    fn every_native_call_is_reachable() {
        for sig in signature::SIGNATURES {
            assert!(
                COMPAT_CALLS.iter().any(|c| c.native == sig.nr),
                "native {} has no i386 counterpart",
                sig.name
            );
        }
    }

    #[test]
    fn lookup_finds_every_entry() {
        for c in COMPAT_CALLS {
            assert_eq!(lookup(c.nr), Some(c));
        }
        assert_eq!(lookup(11), None, "execve must never translate");
        assert_eq!(
            lookup(nr::READ),
            None,
            "x86_64 numbers are not i386 numbers"
        );
    }
}
