//! `socketpair`, `getsockname` and `getpeername` on the real kernel: inline,
//! on a seccomp-filtered thread, on an executor's (filtered) worker and
//! through the i386 compat translator; the descriptors `socketpair` writes
//! are the chain's, like those an `openat` returns.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use syslets::abi::{self, nr};
use syslets::compat::CompatArg::{Buf, Imm};
use syslets::compat::{nr32, CompatAtom, CompatWriter};
use syslets::net::decode_sockaddr;

#[path = "common/compat_run.rs"]
mod compat_run;
use compat_run::{native_buffer, run_compat};
use syslets::opcode::{Getpeername, Getsockname, Openat, Read, Socketpair};
use syslets::{
    install_filter, Chain, ErrorKind, Executor, Policy, Stop, Submitted, ValidatedBatch,
};

/// Whether two descriptors are the two ends of one connected pair.
fn connected(a: OwnedFd, b: OwnedFd) -> bool {
    let (mut a, mut b) = (UnixStream::from(a), UnixStream::from(b));
    a.write_all(b"ping").unwrap();
    let mut got = [0u8; 4];
    b.read_exact(&mut got).unwrap();
    got == *b"ping"
}

fn socketpair_chain(policy: &Policy) -> ValidatedBatch<'static> {
    let mut chain = Chain::new();
    let sv = chain.output::<[i32; 2]>();
    chain.push(
        Socketpair::new(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, sv)
            .stop_on(Stop::NEGATIVE),
    );
    chain.prepare(policy).unwrap()
}

/// Runs one socketpair chain where it is called; returns what it reported.
fn run_socketpair() -> Result<(i64, Vec<i32>, bool), String> {
    let mut batch = socketpair_chain(&Policy::default());
    let ret = batch.run().results()[0];
    let listed: Vec<i32> = batch.unclosed_fds().iter().map(|&(_, fd)| fd).collect();
    let mut fds = batch.take_fds().into_iter().map(|(_, fd)| fd);
    let ok = match (fds.next(), fds.next()) {
        (Some(a), Some(b)) => connected(a, b),
        _ => false,
    };
    Ok((ret, listed, ok))
}

#[test]
fn socketpair_hands_both_descriptors_to_the_chain() {
    let mut batch = socketpair_chain(&Policy::default());
    let sv_atom = syslets::AtomRef::from_index(0);
    assert_eq!(batch.run().results()[0], 0);
    let unclosed = batch.unclosed_fds();
    assert_eq!(unclosed.len(), 2, "{unclosed:?}");
    assert!(unclosed
        .iter()
        .all(|&(atom, fd)| atom == sv_atom && fd >= 0));
    let fds = batch.take_fds();
    assert_eq!(
        fds.iter()
            .map(|(a, fd)| (*a, fd.as_raw_fd()))
            .collect::<Vec<_>>(),
        unclosed
    );
    assert!(batch.take_fds().is_empty(), "handed out once per run");
    let mut fds = fds.into_iter().map(|(_, fd)| fd);
    assert!(connected(fds.next().unwrap(), fds.next().unwrap()));
    // Each run owns the pair it made.
    batch.run();
    let again = batch.unclosed_fds();
    assert_eq!(again.len(), 2);
    let taken: Vec<i32> = batch
        .take_fds()
        .iter()
        .map(|(_, fd)| fd.as_raw_fd())
        .collect();
    assert_eq!(taken, again.iter().map(|&(_, fd)| fd).collect::<Vec<_>>());
}

#[test]
fn a_later_atom_overwriting_the_pair_buffer_changes_nothing_take_fds_returns() {
    // socketpair into a scratch buffer, then read /dev/zero over it: the
    // descriptors were copied out when socketpair returned.
    let mut chain = Chain::new();
    let path = chain.path("/dev/zero");
    let sv = chain.scratch(8);
    chain.push(RawSocketpair::atom(sv));
    let zero = chain.push(Openat::new(libc::AT_FDCWD, path).stop_on(Stop::NEGATIVE));
    chain.push(Read::new(zero, sv));
    let mut batch = chain.prepare(&Policy::default()).unwrap();
    let results = batch.run().results().to_vec();
    assert_eq!(results[0], 0);
    assert_eq!(results[2], 8, "{results:?}");
    assert_eq!(batch.bytes(sv), [0u8; 8], "the buffer was overwritten");
    let fds = batch.take_fds();
    assert_eq!(fds.len(), 3, "two from socketpair, one from openat");
    let pair: Vec<OwnedFd> = fds
        .into_iter()
        .filter(|(atom, _)| atom.index() == 0)
        .map(|(_, fd)| fd)
        .collect();
    assert!(pair.iter().all(|fd| fd.as_raw_fd() > 0), "not the zeros");
    let mut pair = pair.into_iter();
    assert!(connected(pair.next().unwrap(), pair.next().unwrap()));
}

/// A socketpair atom whose `sv` is any 8-byte buffer (the builder takes an
/// `Out<[i32; 2]>`; this one takes a scratch buffer a later atom may write).
struct RawSocketpair;

impl RawSocketpair {
    fn atom(sv: syslets::BufRef) -> syslets::opcode::RawAtom {
        let mut atom = abi::Atom {
            nr: nr::SOCKETPAIR,
            nargs: 4,
            ..Default::default()
        };
        atom.arg[..3].copy_from_slice(&[
            libc::AF_UNIX as u64,
            (libc::SOCK_STREAM | libc::SOCK_CLOEXEC) as u64,
            0,
        ]);
        atom.arg_kind[3] = abi::ARG_BUF;
        atom.arg[3] = abi::buf_arg(sv.index(), 0);
        syslets::opcode::RawAtom(atom)
    }
}

#[test]
fn socketpair_follows_the_family_rule() {
    let mut chain = Chain::new();
    let sv = chain.output::<[i32; 2]>();
    chain.push(Socketpair::new(libc::AF_NETLINK, libc::SOCK_RAW, sv));
    let e = chain.prepare(&Policy::default()).unwrap_err();
    assert_eq!((e.atom, e.syscall), (Some(0), Some("socketpair")));
    assert!(
        matches!(e.kind, ErrorKind::SocketFamilyRefused { arg: 0, family } if family == libc::AF_NETLINK as u64),
        "{e}"
    );
    let mut chain = Chain::new();
    let sv = chain.output::<[i32; 2]>();
    chain.push(Socketpair::new(libc::AF_UNIX, libc::SOCK_STREAM, sv));
    let e = chain
        .prepare(&Policy::default().deny(nr::SOCKETPAIR))
        .unwrap_err();
    assert_eq!(e.atom, Some(0), "{e}");
}

/// getsockname and getpeername of one end of a loopback TCP connection.
fn names_chain(
    fd: i32,
) -> (
    ValidatedBatch<'static>,
    syslets::SockAddrOut,
    syslets::SockAddrOut,
) {
    let mut chain = Chain::new();
    let local = chain.sockaddr_out();
    let peer = chain.sockaddr_out();
    chain.push(Getsockname::new(fd, local));
    chain.push(Getpeername::new(fd, peer));
    (chain.prepare(&Policy::default()).unwrap(), local, peer)
}

fn names_of(
    batch: &ValidatedBatch<'_>,
    local: syslets::SockAddrOut,
    peer: syslets::SockAddrOut,
) -> (Option<std::net::SocketAddr>, Option<std::net::SocketAddr>) {
    let len = |b| u32::from_le_bytes(batch.bytes(b).try_into().unwrap()) as usize;
    (
        decode_sockaddr(&batch.bytes(local.addr)[..len(local.len)]),
        decode_sockaddr(&batch.bytes(peer.addr)[..len(peer.len)]),
    )
}

#[test]
fn getsockname_and_getpeername_match_std() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (mut batch, local, peer) = names_chain(client.as_raw_fd());
    assert_eq!(batch.run().results()[..2], [0, 0]);
    assert_eq!(
        names_of(&batch, local, peer),
        (
            Some(client.local_addr().unwrap()),
            Some(client.peer_addr().unwrap())
        )
    );
    // A socket with no peer: ENOTCONN, and the chain goes on.
    let (mut batch, ..) = names_chain(listener.as_raw_fd());
    let r = batch.run().results().to_vec();
    assert_eq!(r[..2], [0, -(libc::ENOTCONN as i64)]);
}

#[test]
fn the_calls_run_on_a_filtered_thread_and_are_eperm_when_the_policy_denies_them() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let fd = client.as_raw_fd();
    let want = (client.local_addr().ok(), client.peer_addr().ok());
    let filter = Policy::default().seccomp_filter().unwrap();
    let (pair, names) = std::thread::spawn(move || {
        install_filter(&filter).unwrap();
        let pair = run_socketpair();
        let (mut batch, local, peer) = names_chain(fd);
        let results = batch.run().results().to_vec();
        (pair, (results, names_of(&batch, local, peer)))
    })
    .join()
    .unwrap();
    let (ret, listed, ok) = pair.unwrap();
    assert_eq!((ret, listed.len(), ok), (0, 2, true));
    assert_eq!(names, (vec![0, 0], want));

    // A filter from a policy without them answers EPERM.
    let denied = Policy::default()
        .deny(nr::SOCKETPAIR)
        .deny(nr::GETSOCKNAME)
        .deny(nr::GETPEERNAME);
    let filter = denied.seccomp_filter().unwrap();
    let errnos = std::thread::spawn(move || {
        install_filter(&filter).unwrap();
        let mut sv = [-1i32; 2];
        let mut addr = [0u8; 128];
        let mut len = 128u32;
        let errno = || std::io::Error::last_os_error().raw_os_error();
        // SAFETY: `sv` holds two ints; `addr`/`len` are 128 bytes and a socklen_t.
        unsafe {
            let a = libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, sv.as_mut_ptr());
            let a = (a, errno());
            let b = libc::getsockname(fd, addr.as_mut_ptr().cast(), &mut len);
            let b = (b, errno());
            let c = libc::getpeername(fd, addr.as_mut_ptr().cast(), &mut len);
            [a, b, (c, errno())]
        }
    })
    .join()
    .unwrap();
    assert_eq!(errnos, [(-1, Some(libc::EPERM)); 3]);
}

#[test]
fn socketpair_runs_on_an_executor_worker() {
    let ex = Executor::builder()
        .idle_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut chain = Chain::new();
    let sv = chain.output::<[i32; 2]>();
    chain.push(Socketpair::new(
        libc::AF_UNIX,
        libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
        sv,
    ));
    chain.set_flags(abi::BATCH_ASYNC);
    let batch = chain.prepare(&Policy::default()).unwrap();
    let Submitted::Queued(_) = ex.submit(batch).unwrap() else {
        panic!("ASYNC chains go to a worker");
    };
    ex.wait(1, Some(Duration::from_secs(20))).unwrap();
    let mut done = ex.reap().unwrap().pop().expect("one completion");
    assert_eq!(done.completion().results()[0], 0);
    let written = done.batch().output(sv);
    let listed: Vec<i32> = done
        .batch()
        .unclosed_fds()
        .iter()
        .map(|&(_, fd)| fd)
        .collect();
    assert_eq!(listed, written, "the descriptors the worker's call wrote");
    let mut fds = done.batch_mut().take_fds().into_iter().map(|(_, fd)| fd);
    assert!(connected_dgram(fds.next().unwrap(), fds.next().unwrap()));
}

fn connected_dgram(a: OwnedFd, b: OwnedFd) -> bool {
    let (a, b) = (
        std::os::unix::net::UnixDatagram::from(a),
        std::os::unix::net::UnixDatagram::from(b),
    );
    a.send(b"ping").unwrap();
    let mut got = [0u8; 4];
    b.recv(&mut got).unwrap() == 4 && got == *b"ping"
}

#[test]
fn i386_socketpair_and_names_translate_and_run() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let fd = client.as_raw_fd() as u32;
    let mut w = CompatWriter::new();
    let sv_direct = w.zeroed(8, abi::BUF_OUT);
    let sv_call = w.zeroed(8, abi::BUF_OUT);
    let local = w.zeroed(128, abi::BUF_OUT);
    let local_len = w.buffer(&128u32.to_le_bytes(), abi::BUF_IN | abi::BUF_OUT);
    let peer = w.zeroed(128, abi::BUF_OUT);
    let peer_len = w.buffer(&128u32.to_le_bytes(), abi::BUF_IN | abi::BUF_OUT);
    let buf = |index| Buf { index, offset: 0 };
    let unix = Imm(libc::AF_UNIX as u32);
    let stream = Imm((libc::SOCK_STREAM | libc::SOCK_CLOEXEC) as u32);
    let pair_args = w.socketcall_args(&[unix, stream, Imm(0), buf(sv_call)]);
    let peer_args = w.socketcall_args(&[Imm(fd), buf(peer), buf(peer_len)]);
    w.push(CompatAtom::new(
        nr32::SOCKETPAIR,
        &[unix, stream, Imm(0), buf(sv_direct)],
    ));
    w.push(CompatAtom::new(nr32::SOCKETCALL, &[Imm(8), buf(pair_args)]));
    w.push(CompatAtom::new(
        nr32::GETSOCKNAME,
        &[Imm(fd), buf(local), buf(local_len)],
    ));
    w.push(CompatAtom::new(nr32::SOCKETCALL, &[Imm(7), buf(peer_args)]));
    let (mut batch, _, done) = run_compat(&w);
    assert_eq!(done.results[..4], [0, 0, 0, 0]);
    let fds = batch.take_fds();
    assert_eq!(fds.len(), 4, "two pairs");
    let mut ends = fds.into_iter().map(|(_, fd)| fd);
    for _ in 0..2 {
        assert!(connected(ends.next().unwrap(), ends.next().unwrap()));
    }
    let at = |i| native_buffer(&batch, i);
    let len = |i| u32::from_le_bytes(at(i)[..4].try_into().unwrap()) as usize;
    assert_eq!(
        decode_sockaddr(&at(local)[..len(local_len)]),
        client.local_addr().ok()
    );
    assert_eq!(
        decode_sockaddr(&at(peer)[..len(peer_len)]),
        client.peer_addr().ok()
    );
}
