//! The socket-option table: every `(level, optname)` a batch may pass to
//! `setsockopt` or `getsockopt`, next to the signature table that says how
//! those calls take their arguments.
//!
//! The signature table alone cannot make these calls safe: it knows that
//! `optval` is `optlen` bytes, but the kernel interprets the value by level
//! and option, and some values hold user pointers the kernel reads or writes
//! through (`TCP_ZEROCOPY_RECEIVE`, `SO_ATTACH_FILTER`), and some lengths count
//! elements rather than bytes (`SO_GET_FILTER`); all three are refused. Only
//! the options listed here are accepted: each one's value is plain bytes of a
//! known size, and the table says how the kernel reads `optlen` ([`OptLen`]).
//! The validator bounds what the kernel may read or write by it; the worker's
//! seccomp filter allows `setsockopt`/`getsockopt` only with a `(level,
//! optname)` pair of the table in its registers. [`REFUSED`] lists options
//! known to be unsafe and why.
//!
//! The numbers are those of Linux on x86_64 for the protocol levels of
//! `AF_UNIX`, `AF_INET` and `AF_INET6` sockets (the families the default policy
//! allows); `tests/sockopt.rs` checks them against `libc` and checks on the
//! running kernel that every `Bytes` option writes no more than `optlen` bytes.
//! See [getsockopt(2)](https://man7.org/linux/man-pages/man2/getsockopt.2.html)
//! and [socket(7)](https://man7.org/linux/man-pages/man7/socket.7.html).
//!
//! ```
//! use syslets_abi::sockopt::{lookup, refused_entry, Access, IPPROTO_TCP, SOL_SOCKET};
//!
//! // SO_REUSEADDR: an int, both ways.
//! assert_eq!(lookup(Access::Set, SOL_SOCKET, 2).unwrap().size, 4);
//! // TCP_ZEROCOPY_RECEIVE holds addresses the kernel writes to: refused.
//! assert!(lookup(Access::Get, IPPROTO_TCP, 35).is_none());
//! assert_eq!(
//!     refused_entry(Access::Get, IPPROTO_TCP, 35).unwrap().name,
//!     "TCP_ZEROCOPY_RECEIVE"
//! );
//! ```

/// Which of the two calls an entry is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// `setsockopt`: the kernel reads the value.
    Set,
    /// `getsockopt`: the kernel writes the value and its length.
    Get,
}

/// How the kernel interprets `optlen`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptLen {
    /// `optlen` counts bytes: the kernel reads (`setsockopt`) or writes
    /// (`getsockopt`) at most `optlen` bytes of the value.
    Bytes,
    /// `optlen` counts elements of this many bytes: the kernel may write
    /// `optlen * n` bytes (`SO_GET_FILTER`: 8-byte `sock_filter` instructions).
    Elements(u32),
}

impl OptLen {
    /// Bytes one unit of `optlen` stands for.
    pub const fn unit(self) -> u32 {
        match self {
            OptLen::Bytes => 1,
            OptLen::Elements(n) => n,
        }
    }
}

/// One option a batch may set or get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockOpt {
    /// `SOL_*` / `IPPROTO_*` level.
    pub level: i32,
    /// Option number at that level.
    pub optname: i32,
    /// The option's name, as in `socket(7)`, `ip(7)`, `ipv6(7)`, `tcp(7)`, `udp(7)`.
    pub name: &'static str,
    /// Whether it may be set.
    pub set: bool,
    /// Whether it may be read.
    pub get: bool,
    /// Bytes of the value (of one element for [`OptLen::Elements`]). For
    /// structures that grew over kernel versions (`TCP_INFO`), an upper bound
    /// for the kernels this table was checked on; the kernel copies
    /// `min(optlen, its own size)`, so the bound the validator relies on is
    /// `optlen`, never this size.
    pub size: u32,
    /// How `optlen` is counted.
    pub optlen: OptLen,
}

impl SockOpt {
    /// Whether this entry allows the call.
    pub const fn allows(&self, access: Access) -> bool {
        match access {
            Access::Set => self.set,
            Access::Get => self.get,
        }
    }
}

/// `SOL_SOCKET`.
pub const SOL_SOCKET: i32 = 1;
/// `IPPROTO_IP` (`SOL_IP`).
pub const IPPROTO_IP: i32 = 0;
/// `IPPROTO_TCP` (`SOL_TCP`).
pub const IPPROTO_TCP: i32 = 6;
/// `IPPROTO_UDP` (`SOL_UDP`).
pub const IPPROTO_UDP: i32 = 17;
/// `IPPROTO_IPV6` (`SOL_IPV6`).
pub const IPPROTO_IPV6: i32 = 41;

/// The levels of [`SOCKOPTS`], with their names.
pub static LEVELS: &[(i32, &str)] = &[
    (IPPROTO_IP, "IPPROTO_IP"),
    (SOL_SOCKET, "SOL_SOCKET"),
    (IPPROTO_TCP, "IPPROTO_TCP"),
    (IPPROTO_UDP, "IPPROTO_UDP"),
    (IPPROTO_IPV6, "IPPROTO_IPV6"),
];

/// The name of a level of the table.
pub fn level_name(level: i32) -> Option<&'static str> {
    LEVELS.iter().find(|l| l.0 == level).map(|l| l.1)
}

const INT: u32 = 4;

const fn both(level: i32, optname: i32, name: &'static str, size: u32) -> SockOpt {
    SockOpt {
        level,
        optname,
        name,
        set: true,
        get: true,
        size,
        optlen: OptLen::Bytes,
    }
}

const fn get(level: i32, optname: i32, name: &'static str, size: u32) -> SockOpt {
    SockOpt {
        set: false,
        ..both(level, optname, name, size)
    }
}

const fn set(level: i32, optname: i32, name: &'static str, size: u32) -> SockOpt {
    SockOpt {
        get: false,
        ..both(level, optname, name, size)
    }
}

/// Every socket option a batch may name, sorted by level, then option.
///
/// Values: `int` flags and counts (4 bytes; the `IPPROTO_IP` ones also
/// accept one byte), `struct linger` (8), `struct timeval` /
/// `__kernel_sock_timeval` (16), `struct ucred` (12), `struct ip_mreqn` (12,
/// or `ip_mreq`, 8), `struct ip_mreq_source` (12), `struct ipv6_mreq` (20),
/// `struct so_timestamping` (8), `struct sock_txtime` (8), a `u64` cookie or
/// rate (8), `struct tcp_info`, an interface or congestion-control name (16
/// bytes), a `sockaddr` (128) and the `SO_MEMINFO` array (9 × `u32`). Every
/// entry counts `optlen` in bytes today; [`OptLen::Elements`] is there so an
/// element-counted option can only be added with its unit.
pub static SOCKOPTS: &[SockOpt] = &[
    both(IPPROTO_IP, 1, "IP_TOS", INT),
    both(IPPROTO_IP, 2, "IP_TTL", INT),
    both(IPPROTO_IP, 6, "IP_RECVOPTS", INT),
    both(IPPROTO_IP, 8, "IP_PKTINFO", INT),
    both(IPPROTO_IP, 10, "IP_MTU_DISCOVER", INT),
    both(IPPROTO_IP, 11, "IP_RECVERR", INT),
    both(IPPROTO_IP, 12, "IP_RECVTTL", INT),
    both(IPPROTO_IP, 13, "IP_RECVTOS", INT),
    get(IPPROTO_IP, 14, "IP_MTU", INT),
    both(IPPROTO_IP, 15, "IP_FREEBIND", INT),
    both(IPPROTO_IP, 24, "IP_BIND_ADDRESS_NO_PORT", INT),
    both(IPPROTO_IP, 25, "IP_RECVFRAGSIZE", INT),
    both(IPPROTO_IP, 32, "IP_MULTICAST_IF", 12),
    both(IPPROTO_IP, 33, "IP_MULTICAST_TTL", INT),
    both(IPPROTO_IP, 34, "IP_MULTICAST_LOOP", INT),
    set(IPPROTO_IP, 35, "IP_ADD_MEMBERSHIP", 12),
    set(IPPROTO_IP, 36, "IP_DROP_MEMBERSHIP", 12),
    set(IPPROTO_IP, 37, "IP_UNBLOCK_SOURCE", 12),
    set(IPPROTO_IP, 38, "IP_BLOCK_SOURCE", 12),
    set(IPPROTO_IP, 39, "IP_ADD_SOURCE_MEMBERSHIP", 12),
    set(IPPROTO_IP, 40, "IP_DROP_SOURCE_MEMBERSHIP", 12),
    both(IPPROTO_IP, 49, "IP_MULTICAST_ALL", INT),
    both(IPPROTO_IP, 50, "IP_UNICAST_IF", INT),
    both(SOL_SOCKET, 1, "SO_DEBUG", INT),
    both(SOL_SOCKET, 2, "SO_REUSEADDR", INT),
    get(SOL_SOCKET, 3, "SO_TYPE", INT),
    get(SOL_SOCKET, 4, "SO_ERROR", INT),
    both(SOL_SOCKET, 5, "SO_DONTROUTE", INT),
    both(SOL_SOCKET, 6, "SO_BROADCAST", INT),
    both(SOL_SOCKET, 7, "SO_SNDBUF", INT),
    both(SOL_SOCKET, 8, "SO_RCVBUF", INT),
    both(SOL_SOCKET, 9, "SO_KEEPALIVE", INT),
    both(SOL_SOCKET, 10, "SO_OOBINLINE", INT),
    both(SOL_SOCKET, 11, "SO_NO_CHECK", INT),
    both(SOL_SOCKET, 12, "SO_PRIORITY", INT),
    both(SOL_SOCKET, 13, "SO_LINGER", 8),
    both(SOL_SOCKET, 15, "SO_REUSEPORT", INT),
    both(SOL_SOCKET, 16, "SO_PASSCRED", INT),
    get(SOL_SOCKET, 17, "SO_PEERCRED", 12),
    both(SOL_SOCKET, 18, "SO_RCVLOWAT", INT),
    both(SOL_SOCKET, 19, "SO_SNDLOWAT", INT),
    both(SOL_SOCKET, 20, "SO_RCVTIMEO_OLD", 16),
    both(SOL_SOCKET, 21, "SO_SNDTIMEO_OLD", 16),
    both(SOL_SOCKET, 25, "SO_BINDTODEVICE", 16),
    get(SOL_SOCKET, 28, "SO_PEERNAME", 128),
    both(SOL_SOCKET, 29, "SO_TIMESTAMP_OLD", INT),
    get(SOL_SOCKET, 30, "SO_ACCEPTCONN", INT),
    both(SOL_SOCKET, 35, "SO_TIMESTAMPNS_OLD", INT),
    both(SOL_SOCKET, 37, "SO_TIMESTAMPING_OLD", 8),
    get(SOL_SOCKET, 38, "SO_PROTOCOL", INT),
    get(SOL_SOCKET, 39, "SO_DOMAIN", INT),
    both(SOL_SOCKET, 40, "SO_RXQ_OVFL", INT),
    both(SOL_SOCKET, 42, "SO_PEEK_OFF", INT),
    both(SOL_SOCKET, 46, "SO_BUSY_POLL", INT),
    both(SOL_SOCKET, 47, "SO_MAX_PACING_RATE", 8),
    both(SOL_SOCKET, 49, "SO_INCOMING_CPU", INT),
    get(SOL_SOCKET, 55, "SO_MEMINFO", 36),
    get(SOL_SOCKET, 56, "SO_INCOMING_NAPI_ID", INT),
    get(SOL_SOCKET, 57, "SO_COOKIE", 8),
    both(SOL_SOCKET, 61, "SO_TXTIME", 8),
    both(SOL_SOCKET, 62, "SO_BINDTOIFINDEX", INT),
    both(SOL_SOCKET, 63, "SO_TIMESTAMP_NEW", INT),
    both(SOL_SOCKET, 64, "SO_TIMESTAMPNS_NEW", INT),
    both(SOL_SOCKET, 65, "SO_TIMESTAMPING_NEW", 8),
    both(SOL_SOCKET, 66, "SO_RCVTIMEO_NEW", 16),
    both(SOL_SOCKET, 67, "SO_SNDTIMEO_NEW", 16),
    both(SOL_SOCKET, 69, "SO_PREFER_BUSY_POLL", INT),
    both(SOL_SOCKET, 70, "SO_BUSY_POLL_BUDGET", INT),
    get(SOL_SOCKET, 71, "SO_NETNS_COOKIE", 8),
    both(SOL_SOCKET, 72, "SO_BUF_LOCK", INT),
    both(SOL_SOCKET, 74, "SO_TXREHASH", INT),
    both(IPPROTO_TCP, 1, "TCP_NODELAY", INT),
    both(IPPROTO_TCP, 2, "TCP_MAXSEG", INT),
    both(IPPROTO_TCP, 3, "TCP_CORK", INT),
    both(IPPROTO_TCP, 4, "TCP_KEEPIDLE", INT),
    both(IPPROTO_TCP, 5, "TCP_KEEPINTVL", INT),
    both(IPPROTO_TCP, 6, "TCP_KEEPCNT", INT),
    both(IPPROTO_TCP, 7, "TCP_SYNCNT", INT),
    both(IPPROTO_TCP, 8, "TCP_LINGER2", INT),
    both(IPPROTO_TCP, 9, "TCP_DEFER_ACCEPT", INT),
    both(IPPROTO_TCP, 10, "TCP_WINDOW_CLAMP", INT),
    get(IPPROTO_TCP, 11, "TCP_INFO", 512),
    both(IPPROTO_TCP, 12, "TCP_QUICKACK", INT),
    both(IPPROTO_TCP, 13, "TCP_CONGESTION", 16),
    both(IPPROTO_TCP, 16, "TCP_THIN_LINEAR_TIMEOUTS", INT),
    both(IPPROTO_TCP, 17, "TCP_THIN_DUPACK", INT),
    both(IPPROTO_TCP, 18, "TCP_USER_TIMEOUT", INT),
    both(IPPROTO_TCP, 23, "TCP_FASTOPEN", INT),
    both(IPPROTO_TCP, 25, "TCP_NOTSENT_LOWAT", INT),
    both(IPPROTO_TCP, 30, "TCP_FASTOPEN_CONNECT", INT),
    both(IPPROTO_TCP, 34, "TCP_FASTOPEN_NO_COOKIE", INT),
    both(IPPROTO_TCP, 36, "TCP_INQ", INT),
    both(IPPROTO_TCP, 37, "TCP_TX_DELAY", INT),
    both(IPPROTO_UDP, 1, "UDP_CORK", INT),
    both(IPPROTO_UDP, 103, "UDP_SEGMENT", INT),
    both(IPPROTO_UDP, 104, "UDP_GRO", INT),
    both(IPPROTO_IPV6, 16, "IPV6_UNICAST_HOPS", INT),
    both(IPPROTO_IPV6, 17, "IPV6_MULTICAST_IF", INT),
    both(IPPROTO_IPV6, 18, "IPV6_MULTICAST_HOPS", INT),
    both(IPPROTO_IPV6, 19, "IPV6_MULTICAST_LOOP", INT),
    set(IPPROTO_IPV6, 20, "IPV6_ADD_MEMBERSHIP", 20),
    set(IPPROTO_IPV6, 21, "IPV6_DROP_MEMBERSHIP", 20),
    both(IPPROTO_IPV6, 23, "IPV6_MTU_DISCOVER", INT),
    both(IPPROTO_IPV6, 24, "IPV6_MTU", INT),
    both(IPPROTO_IPV6, 25, "IPV6_RECVERR", INT),
    both(IPPROTO_IPV6, 26, "IPV6_V6ONLY", INT),
    both(IPPROTO_IPV6, 49, "IPV6_RECVPKTINFO", INT),
    both(IPPROTO_IPV6, 51, "IPV6_RECVHOPLIMIT", INT),
    both(IPPROTO_IPV6, 62, "IPV6_DONTFRAG", INT),
    both(IPPROTO_IPV6, 66, "IPV6_RECVTCLASS", INT),
    both(IPPROTO_IPV6, 67, "IPV6_TCLASS", INT),
    both(IPPROTO_IPV6, 70, "IPV6_AUTOFLOWLABEL", INT),
    both(IPPROTO_IPV6, 76, "IPV6_UNICAST_IF", INT),
    both(IPPROTO_IPV6, 78, "IPV6_FREEBIND", INT),
];

/// Look up the entry for `(level, optname)` that allows `access`.
pub fn lookup(access: Access, level: i32, optname: i32) -> Option<&'static SockOpt> {
    SOCKOPTS
        .iter()
        .find(|o| o.level == level && o.optname == optname && o.allows(access))
}

/// An option refused on purpose, with the reason: the kernel interfaces
/// whose value holds pointers, counts or kernel objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    /// Level.
    pub level: i32,
    /// Option number.
    pub optname: i32,
    /// Which call it is refused for.
    pub access: Access,
    /// Its name.
    pub name: &'static str,
    /// Why it is refused.
    pub reason: &'static str,
}

const fn refused(
    level: i32,
    optname: i32,
    access: Access,
    name: &'static str,
    reason: &'static str,
) -> Refused {
    Refused {
        level,
        optname,
        access,
        name,
        reason,
    }
}

/// The reason given for an option that is in neither table.
pub const NOT_IN_TABLE: &str =
    "not in the socket-option table (only options whose value is plain bytes of a known size)";

const FPROG: &str = "the value is a sock_fprog whose filter pointer the kernel reads";

/// Options known to take pointers, counts or kernel objects in their value,
/// refused with a specific reason (every other option outside [`SOCKOPTS`]
/// is refused with [`NOT_IN_TABLE`]). Levels outside [`LEVELS`] are refused
/// whole; those listed here are examples the threat model names.
pub static REFUSED: &[Refused] = &[
    refused(SOL_SOCKET, 26, Access::Set, "SO_ATTACH_FILTER", FPROG),
    refused(
        SOL_SOCKET,
        26,
        Access::Get,
        "SO_GET_FILTER",
        "optlen counts 8-byte sock_filter instructions, not bytes, and the kernel writes \
         the whole filter or fails",
    ),
    refused(SOL_SOCKET, 51, Access::Set, "SO_ATTACH_REUSEPORT_CBPF", FPROG),
    refused(
        SOL_SOCKET,
        50,
        Access::Set,
        "SO_ATTACH_BPF",
        "attaches a BPF program (bpf is on the denylist)",
    ),
    refused(
        SOL_SOCKET,
        52,
        Access::Set,
        "SO_ATTACH_REUSEPORT_EBPF",
        "attaches a BPF program (bpf is on the denylist)",
    ),
    refused(
        SOL_SOCKET,
        60,
        Access::Set,
        "SO_ZEROCOPY",
        "enables MSG_ZEROCOPY sends, whose buffers the kernel reads after the call returned",
    ),
    refused(
        SOL_SOCKET,
        77,
        Access::Get,
        "SO_PEERPIDFD",
        "installs a new descriptor that no atom returns, so the chain's fd bookkeeping cannot own it",
    ),
    refused(
        IPPROTO_TCP,
        35,
        Access::Get,
        "TCP_ZEROCOPY_RECEIVE",
        "the value is a tcp_zerocopy_receive holding user addresses the kernel maps pages at \
         and copies data to (address, copybuf_address, msg_control)",
    ),
    refused(
        IPPROTO_TCP,
        31,
        Access::Set,
        "TCP_ULP",
        "attaches an upper-layer protocol (kTLS) with options of its own",
    ),
    refused(
        IPPROTO_IP,
        41,
        Access::Get,
        "IP_MSFILTER",
        "the value holds a count of the source addresses that follow it",
    ),
    refused(
        IPPROTO_IP,
        48,
        Access::Get,
        "MCAST_MSFILTER",
        "the value holds a count of the source addresses that follow it",
    ),
    refused(
        IPPROTO_IP,
        64,
        Access::Set,
        "IPT_SO_SET_REPLACE",
        "the value is an ipt_replace whose counters pointer the kernel writes through",
    ),
    refused(
        IPPROTO_IPV6,
        64,
        Access::Set,
        "IP6T_SO_SET_REPLACE",
        "the value is an ip6t_replace whose counters pointer the kernel writes through",
    ),
];

/// Why `(level, optname)` is refused for `access`: its [`REFUSED`] entry, if
/// it has one.
pub fn refused_entry(access: Access, level: i32, optname: i32) -> Option<&'static Refused> {
    REFUSED
        .iter()
        .find(|r| r.level == level && r.optname == optname && r.access == access)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_unique_and_every_entry_allows_something() {
        for pair in SOCKOPTS.windows(2) {
            let key = |o: &SockOpt| (o.level, o.optname);
            assert!(
                key(&pair[0]) < key(&pair[1]),
                "{} before {}",
                pair[0].name,
                pair[1].name
            );
        }
        for o in SOCKOPTS {
            assert!(o.set || o.get, "{}", o.name);
            assert!(o.size > 0, "{}", o.name);
            assert!(level_name(o.level).is_some(), "{}", o.name);
            // Element-counted lengths are handled for getsockopt only.
            assert!(o.optlen == OptLen::Bytes || !o.set, "{}", o.name);
        }
    }

    #[test]
    fn no_refused_option_is_allowed() {
        for r in REFUSED {
            assert_eq!(lookup(r.access, r.level, r.optname), None, "{}", r.name);
        }
        for (access, level, optname) in [
            (Access::Set, SOL_SOCKET, 26),  // SO_ATTACH_FILTER
            (Access::Get, SOL_SOCKET, 26),  // SO_GET_FILTER
            (Access::Get, IPPROTO_TCP, 35), // TCP_ZEROCOPY_RECEIVE
        ] {
            assert!(lookup(access, level, optname).is_none());
            assert!(refused_entry(access, level, optname).is_some());
        }
    }
}
