//! The i386 side of the table: how a 32-bit producer's call becomes a native
//! one. The rows themselves are in [`for_each_syscall!`](crate::for_each_syscall)
//! (each native call lists the i386 calls and `socketcall` calls that become
//! it); [`COMPAT_CALLS`] and [`SOCKETCALLS`] are derived from them, sorted for
//! lookup. The translator (`syslets-compat`) applies them.

use crate::signature::SIGNATURES;

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
    /// `socketcall(call, args)`: the native call depends on `call` (an
    /// immediate), its arguments are the entries of the array `args` points
    /// to; see [`SOCKETCALLS`].
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

/// i386 system call numbers (`arch/x86/entry/syscalls/syscall_32.tbl`) of
/// every call the translator accepts: those of the table's rows, and
/// `socketcall`.
pub mod nr32 {
    pub use crate::signature::nr32_table::*;
    /// i386 `socketcall(call, args)`: the socket calls, multiplexed.
    pub const SOCKETCALL: u32 = 102;
}

/// `socketcall` call numbers (`include/uapi/linux/net.h`): those the
/// translator accepts (from the table's rows) and those it knows and refuses.
pub mod socketcall {
    pub use crate::signature::socketcall_table::*;
    /// `getsockname` (no native row yet: refused).
    pub const GETSOCKNAME: u32 = 6;
    /// `getpeername` (no native row yet: refused).
    pub const GETPEERNAME: u32 = 7;
    /// `socketpair` (no native row yet: refused).
    pub const SOCKETPAIR: u32 = 8;
    /// `sendmsg` (no native row yet: refused).
    pub const SENDMSG: u32 = 16;
    /// `recvmsg` (no native row yet: refused).
    pub const RECVMSG: u32 = 17;
    /// `recvmmsg` (no native row yet: refused).
    pub const RECVMMSG: u32 = 19;
    /// `sendmmsg` (no native row yet: refused).
    pub const SENDMMSG: u32 = 20;
}

/// The `socketcall` multiplexer's own row.
const SOCKETCALL_MUX: CompatCall = CompatCall {
    nr: nr32::SOCKETCALL,
    name: "socketcall",
    native: 0,
    nargs: 2,
    args: &[],
    convention: Convention::Socketcall,
};

const fn count_i386() -> usize {
    let mut n = 1; // the socketcall multiplexer
    let mut i = 0;
    while i < SIGNATURES.len() {
        n += SIGNATURES[i].i386.len();
        i += 1;
    }
    n
}

const fn count_socketcalls() -> usize {
    let mut n = 0;
    let mut i = 0;
    while i < SIGNATURES.len() {
        n += SIGNATURES[i].socketcall.len();
        i += 1;
    }
    n
}

const N_I386: usize = count_i386();
const N_SOCKETCALLS: usize = count_socketcalls();

/// Every i386 call the translator accepts, sorted by i386 number: the rows'
/// i386 calls and the `socketcall` multiplexer.
pub static COMPAT_CALLS: [CompatCall; N_I386] = {
    let mut out = [SOCKETCALL_MUX; N_I386];
    let mut n = 1;
    let mut i = 0;
    while i < SIGNATURES.len() {
        let calls = SIGNATURES[i].i386;
        let mut j = 0;
        while j < calls.len() {
            // Insertion sort: keep out[..n] ordered by number.
            let mut k = n;
            while k > 0 && out[k - 1].nr > calls[j].nr {
                out[k] = out[k - 1];
                k -= 1;
            }
            out[k] = calls[j];
            n += 1;
            j += 1;
        }
        i += 1;
    }
    out
};

/// Every `socketcall` call the translator accepts, sorted by call number.
pub static SOCKETCALLS: [SocketcallMap; N_SOCKETCALLS] = {
    let placeholder = SocketcallMap {
        call: 0,
        name: "",
        native: 0,
        nargs: 0,
        args: &[],
    };
    let mut out = [placeholder; N_SOCKETCALLS];
    let mut n = 0;
    let mut i = 0;
    while i < SIGNATURES.len() {
        let calls = SIGNATURES[i].socketcall;
        let mut j = 0;
        while j < calls.len() {
            let mut k = n;
            while k > 0 && out[k - 1].call > calls[j].call {
                out[k] = out[k - 1];
                k -= 1;
            }
            out[k] = calls[j];
            n += 1;
            j += 1;
        }
        i += 1;
    }
    out
};

/// Look up an i386 call.
pub fn lookup(nr32: u32) -> Option<&'static CompatCall> {
    COMPAT_CALLS
        .binary_search_by_key(&nr32, |c| c.nr)
        .ok()
        .map(|i| &COMPAT_CALLS[i])
}

/// Look up a `socketcall` call number.
pub fn lookup_socketcall(call: u32) -> Option<&'static SocketcallMap> {
    SOCKETCALLS
        .binary_search_by_key(&call, |s| s.call)
        .ok()
        .map(|i| &SOCKETCALLS[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_tables_are_sorted_and_unique() {
        for pair in COMPAT_CALLS.windows(2) {
            assert!(
                pair[0].nr < pair[1].nr,
                "{} before {}",
                pair[0].name,
                pair[1].name
            );
        }
        for pair in SOCKETCALLS.windows(2) {
            assert!(
                pair[0].call < pair[1].call,
                "{} before {}",
                pair[0].name,
                pair[1].name
            );
        }
    }

    #[test]
    fn every_row_entry_is_found() {
        for sig in SIGNATURES {
            for c in sig.i386 {
                assert_eq!(lookup(c.nr), Some(c));
                assert_eq!(c.native, sig.nr);
            }
            for s in sig.socketcall {
                assert_eq!(lookup_socketcall(s.call), Some(s));
            }
        }
        assert_eq!(lookup(nr32::SOCKETCALL), Some(&SOCKETCALL_MUX));
    }
}
