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
/// counterpart is not in the signature table): a call of
/// `include/uapi/linux/net.h` (`SYS_SOCKET` = 1 to `SYS_SENDMMSG` = 20) that no
/// row's `socketcall` list names.
pub const fn socketcall_untranslated(call: u32) -> bool {
    if call < scn::SOCKET || call > scn::SENDMMSG {
        return false;
    }
    let mut i = 0;
    while i < SOCKETCALLS.len() {
        if SOCKETCALLS[i].call == call {
            return false;
        }
        i += 1;
    }
    true
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

    #[test]
    fn no_translated_socketcall_is_listed_untranslated() {
        for s in SOCKETCALLS {
            assert!(!socketcall_untranslated(s.call), "{}", s.name);
        }
        for call in [scn::RECVMMSG, scn::SENDMMSG] {
            assert!(socketcall_untranslated(call), "{call}");
        }
        assert!(!socketcall_untranslated(0) && !socketcall_untranslated(21));
    }
}
