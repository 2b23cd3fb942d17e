//! Every syscall of the signature table has a typed builder, and every builder
//! produces an atom the validator accepts with its natural arguments.

use std::collections::BTreeSet;

use syslets::abi::signature::SIGNATURES;
use syslets::opcode::*;
use syslets::{ByteLen, Chain, Policy, Stat, Statx};

#[test]
fn every_table_entry_has_a_builder_and_every_builder_validates() {
    let mut chain = Chain::new();
    let path = chain.path("file");
    let data = chain.scratch(64);
    let st = chain.output::<Stat>();
    let stx = chain.output::<Statx>();
    let sa = chain.sockaddr("127.0.0.1:9".parse().unwrap());
    let peer = chain.sockaddr_out();
    let optval = chain.input_value(&1i32);
    let optlen = chain.socklen(4);
    let optout = chain.scratch(4);
    let info = chain.input(&[0u8; 128]);
    let how = chain.input(&[0u8; 24]);
    let name_out = chain.sockaddr_out();
    let pair = chain.output::<[i32; 2]>();
    let (head, body) = (chain.output_bytes(8), chain.output_bytes(32));
    let iov_out = chain.iovecs(&[head, body]);
    let iov_in = chain.iovecs(&[data, data.take(4)]);
    let event = chain.input(&[0u8; 12]);
    let events = chain.output_bytes(12 * 4);
    let sigmask = chain.input(&[0u8; 8]);
    let times = chain.input(&[0u8; 32]);
    let ts = chain.input(&[0u8; 16]);
    let off = chain.scratch(8);
    let pipe_fds = chain.output::<[i32; 2]>();
    let sfs = chain.output::<syslets::abi::kernel::Statfs>();
    let msg_send = chain.msghdr_send(Some(sa), iov_in, None);
    let (msg_name, msg_head) = (chain.output_bytes(128), chain.output_bytes(8));
    let msg_iov = chain.iovecs(&[msg_head]);
    let msg_control = chain.control_out(2);
    let msg_recv = chain.msghdr_recv(Some(msg_name), msg_iov, Some(msg_control));
    let fd = chain.push(Openat::new(libc::AT_FDCWD, path));
    let pid = std::process::id() as i32;

    let nrs = [
        (Read::NR, chain.push(Read::new(fd, data))),
        (
            Write::NR,
            chain.push(Write::new(fd, data).len(ByteLen::Bytes(8))),
        ),
        (Pread64::NR, chain.push(Pread64::new(fd, data, 4096))),
        (Pwrite64::NR, chain.push(Pwrite64::new(fd, data, 0))),
        (Fstat::NR, chain.push(Fstat::new(fd, st))),
        (Fstatfs::NR, chain.push(Fstatfs::new(fd, sfs))),
        (
            Newfstatat::NR,
            chain.push(Newfstatat::new(libc::AT_FDCWD, path, st)),
        ),
        (
            syslets::opcode::Statx::NR,
            chain.push(syslets::opcode::Statx::new(libc::AT_FDCWD, path, stx)),
        ),
        (Lseek::NR, chain.push(Lseek::new(fd, 0, libc::SEEK_END))),
        (Fsync::NR, chain.push(Fsync::new(fd))),
        (Fdatasync::NR, chain.push(Fdatasync::new(fd))),
        (Ftruncate::NR, chain.push(Ftruncate::new(fd, 0))),
        (Fallocate::NR, chain.push(Fallocate::new(fd, 0, 4096))),
        (Getdents64::NR, chain.push(Getdents64::new(fd, data))),
        (Mkdirat::NR, chain.push(Mkdirat::new(libc::AT_FDCWD, path))),
        (
            Unlinkat::NR,
            chain.push(Unlinkat::new(libc::AT_FDCWD, path)),
        ),
        (
            Linkat::NR,
            chain.push(Linkat::new(libc::AT_FDCWD, path, libc::AT_FDCWD, path)),
        ),
        (
            Symlinkat::NR,
            chain.push(Symlinkat::new(path, libc::AT_FDCWD, path)),
        ),
        (Readlinkat::NR, chain.push(Readlinkat::new(fd, path, data))),
        (Fchmodat::NR, chain.push(Fchmodat::new(fd, path, 0o600u32))),
        (
            Fchmodat2::NR,
            chain.push(Fchmodat2::new(fd, path, 0o600u32).flags(libc::AT_SYMLINK_NOFOLLOW as u32)),
        ),
        (
            Fchownat::NR,
            chain.push(Fchownat::new(fd, path, u32::MAX, u32::MAX)),
        ),
        (
            Utimensat::NR,
            chain.push(Utimensat::new(fd, path).times(Some(times))),
        ),
        (
            Faccessat2::NR,
            chain.push(Faccessat2::new(fd, path, libc::R_OK)),
        ),
        (Dup3::NR, chain.push(Dup3::new(fd, 100))),
        (Pipe2::NR, chain.push(Pipe2::new(pipe_fds))),
        (
            Sendfile::NR,
            chain.push(Sendfile::new(fd, fd, 8u64).offset(Some(off))),
        ),
        (
            Splice::NR,
            chain.push(Splice::new(fd, fd, 8u64).off_in(Some(off))),
        ),
        (
            CopyFileRange::NR,
            chain.push(CopyFileRange::new(fd, fd, 8u64).off_out(Some(off))),
        ),
        (ClockNanosleep::NR, chain.push(ClockNanosleep::new(ts))),
        (
            Renameat2::NR,
            chain.push(Renameat2::new(libc::AT_FDCWD, path, libc::AT_FDCWD, path)),
        ),
        (
            Openat2::NR,
            chain.push(Openat2::new(libc::AT_FDCWD, path, how)),
        ),
        (Close::NR, chain.push(Close::new(fd))),
        (
            Socket::NR,
            chain.push(Socket::new(libc::AF_INET, libc::SOCK_STREAM)),
        ),
        (
            Setsockopt::NR,
            chain.push(Setsockopt::new(
                fd,
                libc::SOL_SOCKET,
                libc::SO_REUSEADDR,
                optval,
            )),
        ),
        (
            Getsockopt::NR,
            chain.push(Getsockopt::new(
                fd,
                libc::SOL_SOCKET,
                libc::SO_TYPE,
                optout,
                optlen,
            )),
        ),
        (Bind::NR, chain.push(Bind::new(fd, sa))),
        (Listen::NR, chain.push(Listen::new(fd))),
        (Connect::NR, chain.push(Connect::new(fd, sa))),
        (Accept4::NR, chain.push(Accept4::new(fd).addr(Some(peer)))),
        (Sendto::NR, chain.push(Sendto::new(fd, data).dest(Some(sa)))),
        (
            Recvfrom::NR,
            chain.push(Recvfrom::new(fd, data).src(Some(peer))),
        ),
        (Sendmsg::NR, chain.push(Sendmsg::new(fd, msg_send))),
        (Recvmsg::NR, chain.push(Recvmsg::new(fd, msg_recv))),
        (Shutdown::NR, chain.push(Shutdown::new(fd, libc::SHUT_RDWR))),
        (Getpid::NR, chain.push(Getpid::new())),
        (Gettid::NR, chain.push(Gettid::new())),
        (Tgkill::NR, chain.push(Tgkill::new(pid, pid, 0))),
        (
            RtTgsigqueueinfo::NR,
            chain.push(RtTgsigqueueinfo::new(pid, pid, 0, info)),
        ),
        (Getsockname::NR, chain.push(Getsockname::new(fd, name_out))),
        (Getpeername::NR, chain.push(Getpeername::new(fd, name_out))),
        (
            Socketpair::NR,
            chain.push(Socketpair::new(libc::AF_UNIX, libc::SOCK_STREAM, pair)),
        ),
        (Readv::NR, chain.push(Readv::new(fd, iov_out))),
        (Writev::NR, chain.push(Writev::new(fd, iov_in))),
        (Preadv2::NR, chain.push(Preadv2::new(fd, iov_out, 0))),
        (Pwritev2::NR, chain.push(Pwritev2::new(fd, iov_in, -1))),
        (EpollCreate1::NR, chain.push(EpollCreate1::new())),
        (
            EpollCtl::NR,
            chain.push(EpollCtl::new(fd, libc::EPOLL_CTL_ADD, fd).event(Some(event))),
        ),
        (
            EpollPwait::NR,
            chain.push(EpollPwait::new(fd, events, 0).sigmask(Some(sigmask))),
        ),
    ];
    let built: BTreeSet<u32> = nrs.iter().map(|(nr, _)| *nr).chain([Openat::NR]).collect();
    let table: BTreeSet<u32> = SIGNATURES.iter().map(|s| s.nr).collect();
    assert_eq!(
        built, table,
        "builders and the signature table must cover the same calls"
    );

    let batch = chain
        .prepare(&Policy::default())
        .expect("every builder's atom validates");
    for (nr, atom) in nrs {
        let name = batch.syscall_name(atom.index()).unwrap();
        assert_eq!(SIGNATURES.iter().find(|s| s.nr == nr).unwrap().name, name);
    }
}

/// The optional setters are `const fn`: usable in const contexts.
const fn read_only(open: Openat) -> Openat {
    open.flags(libc::O_RDONLY as u32)
        .mode(0)
        .private(7)
        .stop_on(syslets::Stop::NEGATIVE)
}

#[test]
fn setters_are_const_and_take_effect() {
    let mut chain = Chain::new();
    let p = chain.path("/");
    chain.push(read_only(
        Openat::new(libc::AT_FDCWD, p).flags(libc::O_WRONLY as u32),
    ));
    let bytes = chain.encode().unwrap().as_bytes().to_vec();
    let atom = &bytes[syslets::abi::HEADER_SIZE..][..syslets::abi::ATOM_SIZE];
    let flags = u32::from_le_bytes(atom[0..4].try_into().unwrap());
    let open_flags = u64::from_le_bytes(atom[32..40].try_into().unwrap());
    let private = u64::from_le_bytes(atom[64..72].try_into().unwrap());
    assert_eq!(
        (flags, open_flags, private),
        (syslets::abi::STOP_ON_NEGATIVE, libc::O_RDONLY as u64, 7)
    );
}
