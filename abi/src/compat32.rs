//! The i386 side of the table: how a 32-bit producer's call becomes a native
//! one. The rows themselves are in [`for_each_syscall!`](crate::for_each_syscall)
//! (each native call lists the i386 calls and `socketcall` calls that become
//! it); [`COMPAT_CALLS`] and [`SOCKETCALLS`] are derived from them (through
//! [`SIGNATURES`]), sorted for lookup. The types of an entry belong to the row
//! and are declared with it in [`signature`](crate::signature); they are
//! re-exported here. The translator (`syslets-compat`) applies them.

use crate::signature::SIGNATURES;
pub use crate::signature::{ArgMap, CompatCall, Convention, SocketcallMap};

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

/// `[$ty; N]`: `$seed` followed by the `$field` entries of every row, sorted
/// by `$key` at compile time (insertion sort: the table is small), where `N`
/// is their count.
macro_rules! gather_sorted {
    ($ty:ty, $field:ident, $key:ident, $fill:expr, [$($seed:expr),*]) => {{
        const SEED: &[$ty] = &[$($seed),*];
        const N: usize = {
            let mut n = SEED.len();
            let mut i = 0;
            while i < SIGNATURES.len() {
                n += SIGNATURES[i].$field.len();
                i += 1;
            }
            n
        };
        const OUT: [$ty; N] = {
            let mut out = [$fill; N];
            let mut n = 0;
            while n < SEED.len() {
                out[n] = SEED[n];
                n += 1;
            }
            let mut i = 0;
            while i < SIGNATURES.len() {
                let rows = SIGNATURES[i].$field;
                let mut j = 0;
                while j < rows.len() {
                    // Keep out[..n] ordered by key.
                    let mut k = n;
                    while k > 0 && out[k - 1].$key > rows[j].$key {
                        out[k] = out[k - 1];
                        k -= 1;
                    }
                    out[k] = rows[j];
                    n += 1;
                    j += 1;
                }
                i += 1;
            }
            out
        };
        OUT
    }};
}

/// Every i386 call the translator accepts, sorted by i386 number: the rows'
/// i386 calls and the `socketcall` multiplexer.
pub static COMPAT_CALLS: &[CompatCall] =
    &gather_sorted!(CompatCall, i386, nr, SOCKETCALL_MUX, [SOCKETCALL_MUX]);

/// Every `socketcall` call the translator accepts, sorted by call number.
pub static SOCKETCALLS: &[SocketcallMap] = &gather_sorted!(
    SocketcallMap,
    socketcall,
    call,
    SocketcallMap {
        call: 0,
        name: "",
        native: 0,
        nargs: 0,
        args: &[],
    },
    []
);

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
    use crate::signature::ArgType;
    use ArgMap::{
        Const, Off32InOut, Pair, SiginfoIn, Stat64Out, Statfs32Out, Statfs64Out, Timespec32In,
        Timespec32Out, Word,
    };

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
        // The calls `socketcall` declares by hand are those without a row: a
        // row that adds one makes its constant here stale (remove it there).
        for call in [socketcall::RECVMMSG, socketcall::SENDMMSG] {
            assert_eq!(lookup_socketcall(call), None, "socketcall {call} has a row");
        }
        assert_eq!(lookup(11), None, "execve must never translate");
        assert_eq!(
            lookup(crate::nr::READ),
            None,
            "x86_64 numbers are not i386 numbers"
        );
    }

    #[test]
    fn every_entry_matches_its_native_signature() {
        let check = |name: &str, native: u32, nargs: u8, args: &[ArgMap], extra: Option<u8>| {
            let sig = crate::signature::lookup(native)
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
                    Stat64Out(j)
                    | Statfs32Out(j)
                    | SiginfoIn(j)
                    | Timespec32Out(j)
                    | Timespec32In { word: j, .. } => {
                        assert!(matches!(ty, ArgType::Ptr(_)), "{name}");
                        used[j as usize] = true;
                    }
                    Off32InOut { offset, count } => {
                        assert!(matches!(ty, ArgType::Ptr(_)), "{name}");
                        // The count the offset cuts is the native count, the
                        // same word widened.
                        assert!(args.contains(&Word(count)), "{name}: sendfile count");
                        used[offset as usize] = true;
                    }
                    ArgMap::Iovecs { iov, count } => {
                        let ArgType::Ptr(p) = ty else {
                            panic!("{name}: iovecs into a non-pointer")
                        };
                        let crate::signature::Len::Iovecs { count: native, .. } = p.len else {
                            panic!("{name}: iovecs into a pointer that is not an iovec array")
                        };
                        // The native count is the same word, widened.
                        assert_eq!(args[native as usize], Word(count), "{name}: iovec count");
                        used[iov as usize] = true;
                    }
                    ArgMap::Msghdr(j) => {
                        assert!(
                            matches!(ty, ArgType::Ptr(p) if matches!(p.len, crate::signature::Len::Msghdr { .. })),
                            "{name}: msghdr into a pointer that is not a msghdr"
                        );
                        used[j as usize] = true;
                    }
                    Statfs64Out { size, buf } => {
                        assert!(matches!(ty, ArgType::Ptr(_)), "{name}");
                        used[size as usize] = true;
                        used[buf as usize] = true;
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
        }
    }

    #[test]
    fn every_native_call_is_reachable() {
        for sig in SIGNATURES {
            assert!(
                COMPAT_CALLS.iter().any(|c| c.native == sig.nr),
                "native {} has no i386 counterpart",
                sig.name
            );
        }
    }
}
