//! The compat table: for every i386 system call the translator accepts, the
//! native call it becomes and where each native argument comes from.
//!
//! The rows are part of the system-call table of `syslets-abi` (each native
//! call lists the i386 and `socketcall` calls that become it); this module
//! re-exports what is derived from them and adds what only the translator
//! needs. Every native call of the signature table
//! ([`syslets_abi::signature::SIGNATURES`]) is reachable from at least one
//! i386 call (a test checks it).

pub use syslets_abi::compat32::{
    lookup, lookup_socketcall, ArgMap, CompatCall, Convention, SocketcallMap, COMPAT_CALLS,
    SOCKETCALLS,
};

use crate::nr32::socketcall as scn;

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
    use ArgMap::{Const, Pair, SiginfoIn, Stat64Out, Word};

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
        for c in &COMPAT_CALLS {
            assert_eq!(lookup(c.nr), Some(c));
        }
        assert_eq!(lookup(11), None, "execve must never translate");
        assert_eq!(
            lookup(syslets_abi::nr::READ),
            None,
            "x86_64 numbers are not i386 numbers"
        );
    }
}
