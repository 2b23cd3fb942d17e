//! The socket-option table against `libc` and against the running kernel:
//! every option a batch may read writes at most `optlen` bytes and never
//! reports a longer length, whatever `optlen` it is given.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use syslets::abi::sockopt::{self, Access, OptLen, IPPROTO_IPV6, IPPROTO_UDP};

/// The table's numbers are those of the C library, for every option `libc`
/// names.
#[test]
fn numbers_match_libc() {
    let named: &[(&str, i32)] = &[
        ("IP_TOS", libc::IP_TOS),
        ("IP_TTL", libc::IP_TTL),
        ("IP_RECVOPTS", libc::IP_RECVOPTS),
        ("IP_PKTINFO", libc::IP_PKTINFO),
        ("IP_MTU_DISCOVER", libc::IP_MTU_DISCOVER),
        ("IP_RECVERR", libc::IP_RECVERR),
        ("IP_RECVTTL", libc::IP_RECVTTL),
        ("IP_RECVTOS", libc::IP_RECVTOS),
        ("IP_MTU", libc::IP_MTU),
        ("IP_FREEBIND", libc::IP_FREEBIND),
        ("IP_BIND_ADDRESS_NO_PORT", libc::IP_BIND_ADDRESS_NO_PORT),
        ("IP_RECVFRAGSIZE", libc::IP_RECVFRAGSIZE),
        ("IP_MULTICAST_IF", libc::IP_MULTICAST_IF),
        ("IP_MULTICAST_TTL", libc::IP_MULTICAST_TTL),
        ("IP_MULTICAST_LOOP", libc::IP_MULTICAST_LOOP),
        ("IP_ADD_MEMBERSHIP", libc::IP_ADD_MEMBERSHIP),
        ("IP_DROP_MEMBERSHIP", libc::IP_DROP_MEMBERSHIP),
        ("IP_UNBLOCK_SOURCE", libc::IP_UNBLOCK_SOURCE),
        ("IP_BLOCK_SOURCE", libc::IP_BLOCK_SOURCE),
        ("IP_ADD_SOURCE_MEMBERSHIP", libc::IP_ADD_SOURCE_MEMBERSHIP),
        ("IP_DROP_SOURCE_MEMBERSHIP", libc::IP_DROP_SOURCE_MEMBERSHIP),
        ("IP_MULTICAST_ALL", libc::IP_MULTICAST_ALL),
        ("IP_UNICAST_IF", libc::IP_UNICAST_IF),
        ("SO_DEBUG", libc::SO_DEBUG),
        ("SO_REUSEADDR", libc::SO_REUSEADDR),
        ("SO_TYPE", libc::SO_TYPE),
        ("SO_ERROR", libc::SO_ERROR),
        ("SO_DONTROUTE", libc::SO_DONTROUTE),
        ("SO_BROADCAST", libc::SO_BROADCAST),
        ("SO_SNDBUF", libc::SO_SNDBUF),
        ("SO_RCVBUF", libc::SO_RCVBUF),
        ("SO_KEEPALIVE", libc::SO_KEEPALIVE),
        ("SO_OOBINLINE", libc::SO_OOBINLINE),
        ("SO_NO_CHECK", libc::SO_NO_CHECK),
        ("SO_PRIORITY", libc::SO_PRIORITY),
        ("SO_LINGER", libc::SO_LINGER),
        ("SO_REUSEPORT", libc::SO_REUSEPORT),
        ("SO_PASSCRED", libc::SO_PASSCRED),
        ("SO_PEERCRED", libc::SO_PEERCRED),
        ("SO_RCVLOWAT", libc::SO_RCVLOWAT),
        ("SO_SNDLOWAT", libc::SO_SNDLOWAT),
        ("SO_BINDTODEVICE", libc::SO_BINDTODEVICE),
        ("SO_PEERNAME", libc::SO_PEERNAME),
        ("SO_ACCEPTCONN", libc::SO_ACCEPTCONN),
        ("SO_PROTOCOL", libc::SO_PROTOCOL),
        ("SO_DOMAIN", libc::SO_DOMAIN),
        ("SO_RXQ_OVFL", libc::SO_RXQ_OVFL),
        ("SO_PEEK_OFF", libc::SO_PEEK_OFF),
        ("SO_BUSY_POLL", libc::SO_BUSY_POLL),
        ("SO_BINDTOIFINDEX", libc::SO_BINDTOIFINDEX),
        ("SO_TIMESTAMP_NEW", libc::SO_TIMESTAMP_NEW),
        ("SO_TIMESTAMPNS_NEW", libc::SO_TIMESTAMPNS_NEW),
        ("SO_TIMESTAMPING_NEW", libc::SO_TIMESTAMPING_NEW),
        ("TCP_NODELAY", libc::TCP_NODELAY),
        ("TCP_MAXSEG", libc::TCP_MAXSEG),
        ("TCP_CORK", libc::TCP_CORK),
        ("TCP_KEEPIDLE", libc::TCP_KEEPIDLE),
        ("TCP_KEEPINTVL", libc::TCP_KEEPINTVL),
        ("TCP_KEEPCNT", libc::TCP_KEEPCNT),
        ("TCP_SYNCNT", libc::TCP_SYNCNT),
        ("TCP_LINGER2", libc::TCP_LINGER2),
        ("TCP_DEFER_ACCEPT", libc::TCP_DEFER_ACCEPT),
        ("TCP_WINDOW_CLAMP", libc::TCP_WINDOW_CLAMP),
        ("TCP_INFO", libc::TCP_INFO),
        ("TCP_QUICKACK", libc::TCP_QUICKACK),
        ("TCP_CONGESTION", libc::TCP_CONGESTION),
        ("TCP_THIN_LINEAR_TIMEOUTS", libc::TCP_THIN_LINEAR_TIMEOUTS),
        ("TCP_THIN_DUPACK", libc::TCP_THIN_DUPACK),
        ("TCP_USER_TIMEOUT", libc::TCP_USER_TIMEOUT),
        ("TCP_FASTOPEN", libc::TCP_FASTOPEN),
        ("TCP_NOTSENT_LOWAT", libc::TCP_NOTSENT_LOWAT),
        ("TCP_FASTOPEN_CONNECT", libc::TCP_FASTOPEN_CONNECT),
        ("TCP_FASTOPEN_NO_COOKIE", libc::TCP_FASTOPEN_NO_COOKIE),
        ("TCP_INQ", libc::TCP_INQ),
        ("UDP_CORK", libc::UDP_CORK),
        ("UDP_SEGMENT", libc::UDP_SEGMENT),
        ("UDP_GRO", libc::UDP_GRO),
        ("IPV6_UNICAST_HOPS", libc::IPV6_UNICAST_HOPS),
        ("IPV6_MULTICAST_IF", libc::IPV6_MULTICAST_IF),
        ("IPV6_MULTICAST_HOPS", libc::IPV6_MULTICAST_HOPS),
        ("IPV6_MULTICAST_LOOP", libc::IPV6_MULTICAST_LOOP),
        ("IPV6_ADD_MEMBERSHIP", libc::IPV6_ADD_MEMBERSHIP),
        ("IPV6_DROP_MEMBERSHIP", libc::IPV6_DROP_MEMBERSHIP),
        ("IPV6_MTU_DISCOVER", libc::IPV6_MTU_DISCOVER),
        ("IPV6_MTU", libc::IPV6_MTU),
        ("IPV6_RECVERR", libc::IPV6_RECVERR),
        ("IPV6_V6ONLY", libc::IPV6_V6ONLY),
        ("IPV6_RECVPKTINFO", libc::IPV6_RECVPKTINFO),
        ("IPV6_RECVHOPLIMIT", libc::IPV6_RECVHOPLIMIT),
        ("IPV6_DONTFRAG", libc::IPV6_DONTFRAG),
        ("IPV6_RECVTCLASS", libc::IPV6_RECVTCLASS),
        ("IPV6_TCLASS", libc::IPV6_TCLASS),
        ("IPV6_AUTOFLOWLABEL", libc::IPV6_AUTOFLOWLABEL),
        ("IPV6_UNICAST_IF", libc::IPV6_UNICAST_IF),
        ("IPV6_FREEBIND", libc::IPV6_FREEBIND),
    ];
    assert!(named.len() > 90, "{} names checked", named.len());
    for &(name, value) in named {
        let entry = sockopt::SOCKOPTS
            .iter()
            .find(|o| o.name == name)
            .unwrap_or_else(|| panic!("{name} is not in the table"));
        assert_eq!(entry.optname, value, "{name}");
    }
    for (level, name, value) in [
        (sockopt::SOL_SOCKET, "SOL_SOCKET", libc::SOL_SOCKET),
        (sockopt::IPPROTO_IP, "IPPROTO_IP", libc::IPPROTO_IP),
        (sockopt::IPPROTO_TCP, "IPPROTO_TCP", libc::IPPROTO_TCP),
        (IPPROTO_UDP, "IPPROTO_UDP", libc::IPPROTO_UDP),
        (IPPROTO_IPV6, "IPPROTO_IPV6", libc::IPPROTO_IPV6),
    ] {
        assert_eq!(level, value, "{name}");
        assert_eq!(sockopt::level_name(level), Some(name));
    }
    for (name, level, optname) in [
        ("SO_ATTACH_FILTER", libc::SOL_SOCKET, libc::SO_ATTACH_FILTER),
        ("SO_GET_FILTER", libc::SOL_SOCKET, libc::SO_GET_FILTER),
        ("SO_ATTACH_BPF", libc::SOL_SOCKET, libc::SO_ATTACH_BPF),
        ("SO_ZEROCOPY", libc::SOL_SOCKET, libc::SO_ZEROCOPY),
        ("IP_MSFILTER", libc::IPPROTO_IP, libc::IP_MSFILTER),
    ] {
        let r = sockopt::REFUSED.iter().find(|r| r.name == name).unwrap();
        assert_eq!((r.level, r.optname), (level, optname), "{name}");
    }
}

fn socket(family: i32, ty: i32) -> OwnedFd {
    // SAFETY: socket takes integers; a descriptor it returns is ours.
    let fd = unsafe { libc::socket(family, ty | libc::SOCK_CLOEXEC, 0) };
    assert!(
        fd >= 0,
        "socket({family}, {ty}): {}",
        io::Error::last_os_error()
    );
    // SAFETY: fd was just returned by socket and is owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// The sockets an option of `level` is read on.
fn sockets_for(level: i32) -> Vec<(&'static str, OwnedFd)> {
    let mut v = Vec::new();
    match level {
        IPPROTO_IPV6 => v.push(("tcp6", socket(libc::AF_INET6, libc::SOCK_STREAM))),
        IPPROTO_UDP => v.push(("udp", socket(libc::AF_INET, libc::SOCK_DGRAM))),
        _ => {
            v.push(("tcp", socket(libc::AF_INET, libc::SOCK_STREAM)));
            v.push(("udp", socket(libc::AF_INET, libc::SOCK_DGRAM)));
            if level == sockopt::SOL_SOCKET {
                v.push(("unix", socket(libc::AF_UNIX, libc::SOCK_STREAM)));
            }
        }
    }
    v
}

#[test]
fn the_kernel_writes_no_more_than_optlen() {
    const PAD: usize = 64;
    let mut calls = 0;
    let mut succeeded = 0;
    for opt in sockopt::SOCKOPTS.iter().filter(|o| o.allows(Access::Get)) {
        assert_eq!(opt.optlen, OptLen::Bytes, "{}", opt.name);
        for (kind, fd) in sockets_for(opt.level) {
            for optlen in 0..=opt.size as usize + 8 {
                let mut buf = vec![0xa5u8; opt.size as usize + 8 + PAD];
                let mut len = optlen as libc::socklen_t;
                // SAFETY: buf has more than `optlen` bytes and len is a live
                // socklen_t; the assertions below check the kernel kept to them.
                let r = unsafe {
                    libc::getsockopt(
                        fd.as_raw_fd(),
                        opt.level,
                        opt.optname,
                        buf.as_mut_ptr().cast(),
                        &mut len,
                    )
                };
                calls += 1;
                let what = format!("{} on {kind}, optlen {optlen}", opt.name);
                assert!(
                    buf[optlen..].iter().all(|&b| b == 0xa5),
                    "{what}: written past optlen"
                );
                if r == 0 {
                    succeeded += 1;
                    assert!(len as usize <= optlen, "{what}: reported length {len}");
                }
            }
        }
    }
    // Most options are readable on a fresh socket of their level.
    assert!(
        succeeded * 2 > calls,
        "{succeeded} of {calls} calls succeeded"
    );
}
