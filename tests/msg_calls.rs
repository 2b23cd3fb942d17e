//! `sendmsg` and `recvmsg` on the real kernel: a two-part message through a
//! socket pair, descriptors passed with `SCM_RIGHTS` (owned by the chain that
//! received them, never leaked), `MSG_CTRUNC`, the refusals of the validator
//! and the policy (nothing of a refused batch runs), a batch that rewrites
//! the control data after validation, a seccomp-filtered thread, an
//! executor worker and the i386 compat translator.
//!
//! The descriptor table is process-wide: every test takes `FD_TABLE` so that
//! the `/proc/self/fd` comparisons see only their own descriptors.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Read as _;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::sync::Mutex;
use std::time::Duration;

use syslets::abi::kernel::{MSG_CMSG_CLOEXEC, MSG_CTRUNC, SCM_RIGHTS, SOL_SOCKET};
use syslets::abi::{self, MsgHdr};
use syslets::compat::CompatArg::{Buf, Imm};
use syslets::compat::{self, nr32, CompatAtom, CompatErrorKind, CompatMsgHdr, CompatWriter};
use syslets::opcode::{Pread64, Recvmsg, Sendmsg, Socketpair};
use syslets::{
    install_filter, AtomRef, BufRef, Chain, EncodedBatch, ErrorKind, Executor, Msghdr, Policy,
    Stop, Submitted, ValidationError,
};
use zerocopy::{FromBytes, IntoBytes};

#[path = "common/compat_run.rs"]
mod compat_run;
use compat_run::{native_buffer, run_compat, run_compat_with};

static FD_TABLE: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    FD_TABLE.lock().unwrap_or_else(|e| e.into_inner())
}

fn open_fds() -> BTreeSet<String> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

/// The `(dev, ino)` of what a descriptor refers to.
fn identity(fd: BorrowedFd<'_>) -> (u64, u64) {
    let file = File::from(fd.try_clone_to_owned().unwrap());
    let m = file.metadata().unwrap();
    (m.dev(), m.ino())
}

fn cloexec(fd: BorrowedFd<'_>) -> bool {
    // SAFETY: F_GETFD on a descriptor the caller borrows.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFD) };
    flags >= 0 && flags & libc::FD_CLOEXEC != 0
}

/// A chain that sends `b"hello, "` and `b"world"` (two iovec elements) on
/// `tx`, with `rights` in an `SCM_RIGHTS` message when there are any, and
/// receives on `rx` into two buffers of 7 and 5 bytes with room for `room`
/// descriptors. Returns the chain, the receive's header and data buffers.
fn message_chain<'a>(
    tx: BorrowedFd<'_>,
    rx: BorrowedFd<'_>,
    rights: &[BorrowedFd<'_>],
    room: usize,
) -> (Chain<'a>, Msghdr, [BufRef; 2], [AtomRef; 2]) {
    let mut chain = Chain::new();
    let (a, b) = (chain.input(b"hello, "), chain.input(b"world"));
    let iov = chain.iovecs(&[a, b]);
    let control = (!rights.is_empty()).then(|| chain.rights(rights));
    let out = chain.msghdr_send(None, iov, control);
    let (x, y) = (chain.output_bytes(7), chain.output_bytes(5));
    let iov = chain.iovecs(&[x, y]);
    let control = (room > 0).then(|| chain.control_out(room));
    let inp = chain.msghdr_recv(None, iov, control);
    let send = chain.push(Sendmsg::new(tx.as_raw_fd(), out).stop_on(Stop::NEGATIVE));
    let recv = chain.push(Recvmsg::new(rx.as_raw_fd(), inp));
    (chain, inp, [x, y], [send, recv])
}

#[test]
fn socketpair_then_a_two_part_message_round_trips() {
    let _g = lock();
    // The pair comes from a batch of its own (its descriptors are written
    // to memory, so a later atom of the same chain cannot name them).
    let mut chain = Chain::new();
    let sv = chain.output::<[i32; 2]>();
    chain.push(Socketpair::new(
        libc::AF_UNIX,
        libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
        sv,
    ));
    let mut pair = chain.prepare(&Policy::default()).unwrap();
    assert_eq!(pair.run().results()[0], 0);
    let fds: Vec<OwnedFd> = pair.take_fds().into_iter().map(|(_, fd)| fd).collect();
    assert_eq!(fds.len(), 2);

    let (chain, hdr, [x, y], _) = message_chain(fds[0].as_fd(), fds[1].as_fd(), &[], 0);
    let mut batch = chain.prepare(&Policy::default()).unwrap();
    for _ in 0..3 {
        assert_eq!(batch.run().results(), [12, 12]);
        assert_eq!(batch.bytes(x), b"hello, ");
        assert_eq!(batch.bytes(y), b"world");
        let got: MsgHdr = batch.output(hdr.out());
        // The kernel echoes MSG_CMSG_CLOEXEC in msg_flags.
        assert_eq!((got.controllen, got.flags as u32), (0, MSG_CMSG_CLOEXEC));
        assert!(batch.unclosed_fds().is_empty());
    }
}

#[test]
fn scm_rights_round_trip_hands_the_received_descriptor_to_the_chain() {
    let _g = lock();
    let (tx, rx) = UnixStream::pair().unwrap();
    let sent = File::open("/proc/self/exe").unwrap();
    let before = open_fds();
    {
        let (chain, hdr, [x, y], [_, recv]) =
            message_chain(tx.as_fd(), rx.as_fd(), &[sent.as_fd()], 1);
        let policy = Policy::default().allow_fd_passing();
        let mut batch = chain.prepare(&policy).unwrap();
        for round in 0..3 {
            assert_eq!(batch.run().results(), [12, 12], "round {round}");
            assert_eq!(
                (batch.bytes(x), batch.bytes(y)),
                (&b"hello, "[..], &b"world"[..])
            );
            let got: MsgHdr = batch.output(hdr.out());
            // CMSG_SPACE(4): one descriptor, nothing lost.
            assert_eq!((got.controllen, got.flags as u32 & MSG_CTRUNC), (24, 0));
            let listed = batch.unclosed_fds();
            assert_eq!(listed.len(), 1);
            assert_eq!(listed[0].0, recv);
            let taken = batch.take_fds();
            assert!(batch.take_fds().is_empty(), "handed out once");
            assert!(batch.unclosed_fds().is_empty());
            let fd = &taken[0].1;
            assert_eq!(fd.as_raw_fd(), listed[0].1);
            assert_eq!(identity(fd.as_fd()), identity(sent.as_fd()));
            assert!(cloexec(fd.as_fd()), "MSG_CMSG_CLOEXEC");
            drop(taken);
            assert_eq!(open_fds(), before, "round {round}: nothing left open");
        }
        // A run whose descriptor is not taken lists it until the next run
        // (the caller's to take), like any descriptor an atom returns.
        batch.run();
        let listed = batch.unclosed_fds();
        assert_eq!(listed.len(), 1);
        assert!(open_fds().contains(&listed[0].1.to_string()));
        drop(batch.take_fds());
    }
    assert_eq!(open_fds(), before, "dropped: nothing left open");
}

#[test]
fn a_short_control_buffer_reports_ctrunc_and_owns_only_what_arrived() {
    let _g = lock();
    let (tx, rx) = UnixStream::pair().unwrap();
    let (f1, f2) = (File::open("/").unwrap(), File::open("/proc").unwrap());
    let f3 = File::open("/dev").unwrap();
    let before = open_fds();
    // Room for one descriptor is CMSG_SPACE(4) = 24 bytes, which holds two
    // (the kernel counts the alignment padding): the third is lost.
    let three = [f1.as_fd(), f2.as_fd(), f3.as_fd()];
    let (chain, hdr, ..) = message_chain(tx.as_fd(), rx.as_fd(), &three, 1);
    let mut batch = chain
        .prepare(&Policy::default().allow_fd_passing())
        .unwrap();
    assert_eq!(batch.run().results(), [12, 12]);
    let got: MsgHdr = batch.output(hdr.out());
    assert_ne!(got.flags as u32 & MSG_CTRUNC, 0, "MSG_CTRUNC");
    assert_eq!(got.controllen, 24);
    let taken = batch.take_fds();
    assert_eq!(taken.len(), 2, "the descriptors that fitted");
    assert_eq!(identity(taken[0].1.as_fd()), identity(f1.as_fd()));
    assert_eq!(identity(taken[1].1.as_fd()), identity(f2.as_fd()));
    drop(taken);
    drop(batch);
    assert_eq!(
        open_fds(),
        before,
        "the kernel closed the one that did not fit"
    );
}

/// Nothing was sent on `rx`'s peer: a non-blocking read finds no data.
fn nothing_arrived(rx: &UnixStream) -> bool {
    rx.set_nonblocking(true).unwrap();
    let mut b = [0u8; 1];
    let r = (&*rx).read(&mut b);
    rx.set_nonblocking(false).unwrap();
    matches!(r, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

fn refusal(chain: Chain<'_>, policy: &Policy) -> ValidationError {
    chain.prepare(policy).expect_err("refused")
}

#[test]
fn scm_rights_needs_the_policy_knob_and_other_control_messages_are_refused() {
    let _g = lock();
    let (tx, rx) = UnixStream::pair().unwrap();
    let sent = File::open("/").unwrap();
    let (chain, ..) = message_chain(tx.as_fd(), rx.as_fd(), &[sent.as_fd()], 1);
    let e = refusal(chain, &Policy::default());
    assert_eq!((e.atom, e.syscall), (Some(0), Some("sendmsg")));
    assert_eq!(e.kind, ErrorKind::FdPassingRefused { arg: 1, fd: -1 });
    assert!(nothing_arrived(&rx));

    // Under confinement the confined directory may not be sent.
    let policy = Policy::default()
        .allow_fd_passing()
        .confine_to(sent.as_fd());
    let (chain, ..) = message_chain(tx.as_fd(), rx.as_fd(), &[sent.as_fd()], 1);
    let e = refusal(chain, &policy);
    let fd = sent.as_raw_fd();
    assert_eq!(e.kind, ErrorKind::FdPassingRefused { arg: 1, fd });

    // SCM_CREDENTIALS (2), even with the knob.
    let mut chain = Chain::new();
    let data = chain.input(b"x");
    let iov = chain.iovecs(&[data]);
    let mut creds = Vec::new();
    creds.extend_from_slice(&28u64.to_le_bytes());
    creds.extend_from_slice(&SOL_SOCKET.to_le_bytes());
    creds.extend_from_slice(&2i32.to_le_bytes());
    creds.extend_from_slice(&[0u8; 16]);
    let control = chain.input(&creds);
    let hdr = chain.msghdr_send(None, iov, Some(control));
    chain.push(Sendmsg::new(tx.as_raw_fd(), hdr));
    let e = refusal(chain, &Policy::default().allow_fd_passing());
    assert_eq!(
        e.kind,
        ErrorKind::ControlMessageRefused {
            arg: 1,
            level: SOL_SOCKET,
            ty: 2
        }
    );
    assert!(nothing_arrived(&rx));
}

#[test]
fn addresses_go_out_and_come_back_through_the_msghdr() {
    let _g = lock();
    let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut chain = Chain::new();
    let dest = chain.sockaddr(rx.local_addr().unwrap());
    let data = chain.input(b"datagram");
    let iov = chain.iovecs(&[data]);
    let out = chain.msghdr_send(Some(dest), iov, None);
    let (name, x) = (chain.output_bytes(128), chain.output_bytes(16));
    let iov = chain.iovecs(&[x]);
    let inp = chain.msghdr_recv(Some(name), iov, None);
    chain.push(Sendmsg::new(tx.as_raw_fd(), out).stop_on(Stop::NEGATIVE));
    chain.push(Recvmsg::new(rx.as_raw_fd(), inp));
    let mut batch = chain.prepare(&Policy::default()).unwrap();
    assert_eq!(batch.run().results(), [8, 8]);
    assert_eq!(&batch.bytes(x)[..8], b"datagram");
    let got: MsgHdr = batch.output(inp.out());
    assert_eq!(got.namelen, 16, "a sockaddr_in");
    let from = syslets::net::decode_sockaddr(&batch.bytes(name)[..got.namelen as usize]);
    assert_eq!(from, tx.local_addr().ok());
    // A datagram longer than the buffers: MSG_TRUNC, as the kernel says.
    let mut chain = Chain::new();
    let data = chain.input(&[7u8; 40]);
    let iov = chain.iovecs(&[data]);
    let dest = chain.sockaddr(rx.local_addr().unwrap());
    let out = chain.msghdr_send(Some(dest), iov, None);
    let x = chain.output_bytes(16);
    let iov = chain.iovecs(&[x]);
    let inp = chain.msghdr_recv(None, iov, None);
    chain.push(Sendmsg::new(tx.as_raw_fd(), out).stop_on(Stop::NEGATIVE));
    chain.push(Recvmsg::new(rx.as_raw_fd(), inp));
    let mut batch = chain.prepare(&Policy::default()).unwrap();
    assert_eq!(batch.run().results(), [40, 16]);
    let got: MsgHdr = batch.output(inp.out());
    assert_ne!(got.flags & libc::MSG_TRUNC, 0, "MSG_TRUNC");
}

#[test]
fn malformed_or_negative_rights_are_refused() {
    let _g = lock();
    let (tx, rx) = UnixStream::pair().unwrap();
    let policy = Policy::default().allow_fd_passing();
    let send = |control: &[u8]| {
        let mut chain = Chain::new();
        let data = chain.input(b"x");
        let iov = chain.iovecs(&[data]);
        let control = chain.input(control);
        let hdr = chain.msghdr_send(None, iov, Some(control));
        chain.push(Sendmsg::new(tx.as_raw_fd(), hdr));
        refusal(chain, &policy).kind
    };
    assert_eq!(
        send(&rights_bytes(-1)),
        ErrorKind::FdPassingRefused { arg: 1, fd: -1 }
    );
    // cmsg_len past msg_controllen, and shorter than its header.
    let mut long = rights_bytes(0);
    long[..8].copy_from_slice(&64u64.to_le_bytes());
    let mut short = rights_bytes(0);
    short[..8].copy_from_slice(&8u64.to_le_bytes());
    for bytes in [long, short] {
        assert!(
            matches!(
                send(&bytes),
                ErrorKind::BadMsghdr {
                    arg: 1,
                    field: "msg_control",
                    ..
                }
            ),
            "{bytes:?}"
        );
    }
    assert!(nothing_arrived(&rx));
}

/// `SO_PASSPIDFD` (Linux 6.5): the kernel installs the sender's pidfd with
/// every message.
const SO_PASSPIDFD: libc::c_int = 76;

#[test]
fn a_pidfd_the_kernel_installs_is_owned_too() {
    let _g = lock();
    let (tx, rx) = UnixStream::pair().unwrap();
    let on: libc::c_int = 1;
    // SAFETY: setsockopt reads one int from `on`.
    let set = unsafe {
        libc::setsockopt(
            rx.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_PASSPIDFD,
            (&on as *const libc::c_int).cast(),
            4,
        )
    };
    if set != 0 {
        // Older kernels: nothing to own. CI runs on one that has it.
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "SO_PASSPIDFD: {}",
            std::io::Error::last_os_error()
        );
        eprintln!("SO_PASSPIDFD is not supported: the pidfd case is not exercised");
        return;
    }
    let before = open_fds();
    let (chain, _, _, [_, recv]) = message_chain(tx.as_fd(), rx.as_fd(), &[], 1);
    let mut batch = chain.prepare(&Policy::default()).unwrap();
    assert_eq!(batch.run().results(), [12, 12]);
    let taken = batch.take_fds();
    assert_eq!(taken.len(), 1, "the pidfd");
    assert_eq!(taken[0].0, recv);
    assert!(cloexec(taken[0].1.as_fd()));
    let link = std::fs::read_link(format!("/proc/self/fd/{}", taken[0].1.as_raw_fd())).unwrap();
    assert_eq!(link.to_str(), Some("anon_inode:[pidfd]"));
    drop(taken);
    drop(batch);
    assert_eq!(open_fds(), before);
}

#[test]
fn recvmsg_requires_msg_cmsg_cloexec() {
    let _g = lock();
    let (tx, rx) = UnixStream::pair().unwrap();
    let mut chain = Chain::new();
    let x = chain.output_bytes(4);
    let iov = chain.iovecs(&[x]);
    let hdr = chain.msghdr_recv(None, iov, None);
    chain.push(Recvmsg::new(rx.as_raw_fd(), hdr).flags(libc::MSG_DONTWAIT as u32));
    let e = refusal(chain, &Policy::default());
    assert_eq!((e.atom, e.syscall), (Some(0), Some("recvmsg")));
    assert!(
        matches!(e.kind, ErrorKind::ArgRefused { arg: 2, reason } if reason.contains("MSG_CMSG_CLOEXEC")),
        "{e}"
    );
    drop(tx);
}

/// Makes the address and control buffers of a receive.
type Pick = dyn Fn(&mut Chain<'_>) -> (Option<BufRef>, Option<BufRef>);

/// A msghdr for a receive, hand-made: `name`, `iov` and `control` words
/// and lengths as given.
fn raw_hdr(name: (u64, u32), iov: (u64, u64), control: (u64, u64)) -> MsgHdr {
    MsgHdr {
        name: name.0,
        namelen: name.1,
        iov: iov.0,
        iovlen: iov.1,
        control: control.0,
        controllen: control.1,
        ..Default::default()
    }
}

fn word(b: BufRef) -> u64 {
    // Whole buffers only (offset 0).
    abi::buf_arg(b.index(), 0)
}

#[test]
fn memory_outside_the_arena_or_overlapping_writes_are_refused() {
    let _g = lock();
    let (tx, rx) = UnixStream::pair().unwrap();
    let fd = rx.as_raw_fd();
    let e = |chain: Chain<'_>| refusal(chain, &Policy::default()).kind;

    // A msghdr in 16 bytes.
    let mut chain = Chain::new();
    let short = chain.input(&[0u8; 16]);
    chain.push(Sendmsg::new(tx.as_raw_fd(), Msghdr { hdr: short }));
    assert_eq!(
        e(chain),
        ErrorKind::LengthExceedsBuffer {
            arg: 1,
            len: 56,
            available: 16
        }
    );

    // An iovec element naming a buffer the batch does not have.
    let mut chain = Chain::new();
    let bad = abi::IoVec {
        base: abi::buf_arg(99, 0),
        len: 4,
    };
    let array = chain.input(bad.as_bytes());
    let hdr = chain.input(raw_hdr((0, 0), (word(array), 1), (0, 0)).as_bytes());
    chain.push(Sendmsg::new(tx.as_raw_fd(), Msghdr { hdr }));
    assert_eq!(
        e(chain),
        ErrorKind::BadIovec {
            arg: 1,
            element: 0,
            reason: "names a buffer the batch does not have"
        }
    );

    // A control buffer longer than its buffer.
    let mut chain = Chain::new();
    let data = chain.input(b"x");
    let iov = chain.iovecs(&[data]);
    let control = chain.input(&[0u8; 24]);
    let raw = raw_hdr((0, 0), (word(iov.array), 1), (word(control), 32));
    let hdr = chain.input(raw.as_bytes());
    chain.push(Sendmsg::new(tx.as_raw_fd(), Msghdr { hdr }));
    assert_eq!(
        e(chain),
        ErrorKind::BadMsghdr {
            arg: 1,
            field: "msg_control",
            reason: "reaches past the end of its buffer"
        }
    );

    // A receive of 4 bytes, with the address and control buffers `pick`
    // makes, and what validation says of it.
    let receive = |pick: &Pick| {
        let mut chain = Chain::new();
        let x = chain.output_bytes(4);
        let iov = chain.iovecs(&[x]);
        let (name, control) = pick(&mut chain);
        let hdr = chain.msghdr_recv(name, iov, control);
        chain.push(Recvmsg::new(fd, hdr));
        e(chain)
    };
    let bad = |field, reason| ErrorKind::BadMsghdr {
        arg: 1,
        field,
        reason,
    };
    // A control buffer in an IN-only buffer.
    assert_eq!(
        receive(&|c| (None, Some(c.input(&[0u8; 24])))),
        bad(
            "msg_control",
            "its buffer is not marked for what the kernel does"
        )
    );
    // The address and the control data land on the same bytes.
    assert_eq!(
        receive(&|c| {
            let both = c.output_bytes(64);
            (Some(both), Some(both))
        }),
        bad("msg_name", "overlaps other memory the kernel writes")
    );
    // An address longer than a sockaddr_storage.
    assert_eq!(
        receive(&|c| (Some(c.output_bytes(200)), None)),
        bad("msg_name", "longer than a sockaddr_storage (128 bytes)")
    );

    // A sendmsg header in memory an atom may write.
    let mut chain = Chain::new();
    let scratch = chain.scratch(56);
    chain.push(Sendmsg::new(tx.as_raw_fd(), Msghdr { hdr: scratch }));
    assert_eq!(
        e(chain),
        ErrorKind::CheckedMemoryWritable { arg: 1, buf: 0 }
    );
    assert!(nothing_arrived(&rx));
}

/// The encoded bytes of `chain` with buffer `index` made to cover the
/// bytes of buffer `over` (a foreign batch may describe overlapping
/// buffers; the builders never do).
fn overlaid(chain: Chain<'_>, index: u16, over: u16) -> EncodedBatch<'static> {
    let mut bytes = chain.encode().unwrap().as_bytes().to_vec();
    let natoms = u16::from_le_bytes(bytes[6..8].try_into().unwrap()) as usize;
    let desc = |i: u16| abi::HEADER_SIZE + natoms * abi::ATOM_SIZE + i as usize * 16;
    let (from, to) = (desc(over), desc(index));
    let place: [u8; 8] = bytes[from..from + 8].try_into().unwrap();
    bytes[to..to + 8].copy_from_slice(&place);
    EncodedBatch::from_bytes(&bytes)
}

/// An `SCM_RIGHTS` message carrying `fd`, whose `cmsg_len` field is `len`
/// (8 bytes natively, 4 on i386), followed by `pad` zero bytes.
fn rights(len: &[u8], fd: i32, pad: usize) -> Vec<u8> {
    let mut b = len.to_vec();
    b.extend_from_slice(&SOL_SOCKET.to_le_bytes());
    b.extend_from_slice(&SCM_RIGHTS.to_le_bytes());
    b.extend_from_slice(&fd.to_le_bytes());
    b.resize(b.len() + pad, 0);
    b
}

/// An `SCM_RIGHTS` control message carrying `fd`, as the kernel reads it
/// (`CMSG_SPACE(4)`).
fn rights_bytes(fd: i32) -> Vec<u8> {
    rights(&20u64.to_le_bytes(), fd, 4)
}

#[test]
fn control_data_rewritten_after_validation_does_not_change_what_is_sent() {
    let _g = lock();
    let (tx, rx) = UnixStream::pair().unwrap();
    let (checked, other) = (File::open("/").unwrap(), File::open("/proc").unwrap());
    // A file holding a control message that names `other`.
    let path = std::env::temp_dir().join(format!("syslets-msg-{}", std::process::id()));
    std::fs::write(&path, rights_bytes(other.as_raw_fd())).unwrap();
    let evil = File::open(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let before = open_fds();

    let mut chain = Chain::new();
    let data = chain.input(b"x");
    let iov = chain.iovecs(&[data]);
    let control = chain.rights(&[checked.as_fd()]);
    let hdr = chain.msghdr_send(None, iov, Some(control));
    let overwrite = chain.output_bytes(24);
    let x = chain.output_bytes(1);
    let iov_in = chain.iovecs(&[x]);
    let room = chain.control_out(1);
    let hdr_in = chain.msghdr_recv(None, iov_in, Some(room));
    // Atom 0 writes the other descriptor's message over the checked one.
    chain.push(Pread64::new(evil.as_raw_fd(), overwrite, 0).stop_on(Stop::NEGATIVE));
    chain.push(Sendmsg::new(tx.as_raw_fd(), hdr).stop_on(Stop::NEGATIVE));
    chain.push(Recvmsg::new(rx.as_raw_fd(), hdr_in));
    let encoded = overlaid(chain, overwrite.index(), control.index());
    let mut batch = encoded
        .validate(&Policy::default().allow_fd_passing())
        .unwrap();
    assert_eq!(batch.run().results(), [24, 1, 1]);
    assert_eq!(
        batch.buffer(control.index()).unwrap(),
        &rights_bytes(other.as_raw_fd())[..],
        "the arena holds what atom 0 wrote"
    );
    let taken = batch.take_fds();
    assert_eq!(taken.len(), 1);
    assert_eq!(
        identity(taken[0].1.as_fd()),
        identity(checked.as_fd()),
        "the kernel sent the descriptor the policy checked"
    );
    drop(taken);
    drop(batch);
    assert_eq!(open_fds(), before);
}

#[test]
fn the_calls_run_on_a_filtered_thread_which_refuses_recvmsg_without_cloexec() {
    let _g = lock();
    let (tx, rx) = UnixStream::pair().unwrap();
    let sent = File::open("/").unwrap();
    let policy = Policy::default().allow_fd_passing();
    let filter = policy.seccomp_filter().unwrap();
    let (tx_fd, rx_fd, sent_fd) = (tx.as_raw_fd(), rx.as_raw_fd(), sent.as_raw_fd());
    let (results, fds, raw) = std::thread::spawn(move || {
        install_filter(&filter).unwrap();
        // SAFETY: the descriptors outlive the thread (joined below).
        let b = |fd| unsafe { BorrowedFd::borrow_raw(fd) };
        let (chain, ..) = message_chain(b(tx_fd), b(rx_fd), &[b(sent_fd)], 1);
        let mut batch = chain.prepare(&policy).unwrap();
        let results = batch.run().results().to_vec();
        let fds = batch.take_fds();
        // A recvmsg without MSG_CMSG_CLOEXEC, straight to the kernel.
        let mut byte = [0u8; 1];
        let mut iov = libc::iovec {
            iov_base: byte.as_mut_ptr().cast(),
            iov_len: 1,
        };
        // SAFETY: an all-zero msghdr is valid; it names `iov` only.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        // SAFETY: `msg` names one byte of `byte`.
        let r = unsafe { libc::recvmsg(rx_fd, &mut msg, libc::MSG_DONTWAIT) };
        let raw = (r, std::io::Error::last_os_error().raw_os_error());
        (results, fds, raw)
    })
    .join()
    .unwrap();
    assert_eq!(results, [12, 12]);
    assert_eq!(fds.len(), 1);
    assert_eq!(identity(fds[0].1.as_fd()), identity(sent.as_fd()));
    assert_eq!(raw, (-1, Some(libc::EPERM)));

    // Without the calls in the policy, the filter refuses both.
    let denied = Policy::default()
        .deny(abi::nr::SENDMSG)
        .deny(abi::nr::RECVMSG);
    let filter = denied.seccomp_filter().unwrap();
    let errnos = std::thread::spawn(move || {
        install_filter(&filter).unwrap();
        // SAFETY: an all-zero msghdr names no memory.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        let errno = || std::io::Error::last_os_error().raw_os_error();
        // SAFETY: as above.
        let a = unsafe { libc::sendmsg(tx_fd, &msg, 0) };
        let a = (a as i32, errno());
        // SAFETY: as above.
        let b = unsafe { libc::recvmsg(rx_fd, &mut msg, libc::MSG_CMSG_CLOEXEC) };
        [a, (b as i32, errno())]
    })
    .join()
    .unwrap();
    assert_eq!(errnos, [(-1, Some(libc::EPERM)); 2]);
}

/// A policy that allows descriptor passing, and an executor under it.
fn fd_passing_executor() -> (Policy, Executor) {
    let policy = Policy::default().allow_fd_passing();
    let ex = Executor::builder()
        .policy(policy.clone())
        .idle_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    (policy, ex)
}

#[test]
fn a_descriptor_passes_on_an_executor_worker() {
    let _g = lock();
    let (tx, rx) = UnixStream::pair().unwrap();
    let sent = File::open("/").unwrap();
    let before = open_fds();
    let (policy, ex) = fd_passing_executor();
    let (mut chain, ..) = message_chain(tx.as_fd(), rx.as_fd(), &[sent.as_fd()], 1);
    chain.set_flags(abi::BATCH_ASYNC);
    let batch = chain.prepare(&policy).unwrap();
    let Submitted::Queued(_) = ex.submit(batch).unwrap() else {
        panic!("ASYNC chains go to a worker");
    };
    ex.wait(1, Some(Duration::from_secs(20))).unwrap();
    let mut done = ex.reap().unwrap().pop().expect("one completion");
    assert_eq!(done.completion().results(), [12, 12]);
    let fds = done.batch_mut().take_fds();
    assert_eq!(fds.len(), 1);
    assert_eq!(identity(fds[0].1.as_fd()), identity(sent.as_fd()));
    drop(fds);
    drop(done);
    drop(ex);
    assert_eq!(
        open_fds(),
        before,
        "the executor and the batch closed everything"
    );
}

/// An i386 iovec array naming whole buffers.
fn compat_iov(w: &mut CompatWriter, bufs: &[(u16, u32)]) -> u16 {
    let mut bytes = Vec::new();
    for &(index, len) in bufs {
        let e = compat::CompatIoVec {
            base: compat::compat_buf_arg(index, 0).unwrap(),
            len,
        };
        bytes.extend_from_slice(e.as_bytes());
    }
    w.buffer(&bytes, abi::BUF_IN)
}

#[test]
fn i386_sendmsg_and_recvmsg_translate_and_run() {
    let _g = lock();
    let (tx, rx) = UnixStream::pair().unwrap();
    let (tx_fd, rx_fd) = (tx.as_raw_fd() as u32, rx.as_raw_fd() as u32);
    let mut w = CompatWriter::new();
    let (a, b) = (
        w.buffer(b"hello, ", abi::BUF_IN),
        w.buffer(b"world", abi::BUF_IN),
    );
    let iov = compat_iov(&mut w, &[(a, 7), (b, 5)]);
    let send = CompatMsgHdr {
        iov: compat::compat_buf_arg(iov, 0).unwrap(),
        iovlen: 2,
        ..Default::default()
    };
    let send = w.buffer(send.as_bytes(), abi::BUF_IN);
    let (x, y) = (w.zeroed(5, abi::BUF_OUT), w.zeroed(7, abi::BUF_OUT));
    let iov = compat_iov(&mut w, &[(x, 5), (y, 7)]);
    let recv = CompatMsgHdr {
        iov: compat::compat_buf_arg(iov, 0).unwrap(),
        iovlen: 2,
        flags: 0xdead,
        ..Default::default()
    };
    let recv = w.buffer(recv.as_bytes(), abi::BUF_IN | abi::BUF_OUT);
    let buf = |index| Buf { index, offset: 0 };
    let cloexec = Imm(MSG_CMSG_CLOEXEC);
    // The direct i386 sendmsg, then recvmsg through socketcall.
    w.push(CompatAtom::new(
        nr32::SENDMSG,
        &[Imm(tx_fd), buf(send), Imm(0)],
    ));
    let args = w.socketcall_args(&[Imm(rx_fd), buf(recv), cloexec]);
    w.push(CompatAtom::new(nr32::SOCKETCALL, &[Imm(17), buf(args)]));
    let (batch, bytes, done) = run_compat(&w);
    assert_eq!(done.results[..2], [12, 12]);
    assert_eq!(native_buffer(&batch, x), b"hello");
    assert_eq!(native_buffer(&batch, y), b", world");
    // The producer's msghdr got the kernel's flags (none) back.
    let got = CompatMsgHdr::read_from_bytes(compat_buffer(&bytes, recv)).unwrap();
    assert_eq!((got.flags, got.controllen), (MSG_CMSG_CLOEXEC, 0));

    // Malformed i386 control data is refused before anything runs.
    let mut w = CompatWriter::new();
    let data = w.buffer(b"x", abi::BUF_IN);
    let iov = compat_iov(&mut w, &[(data, 1)]);
    let mut bad = compat_rights(3);
    bad[..4].copy_from_slice(&40u32.to_le_bytes());
    let control = w.buffer(&bad, abi::BUF_IN);
    let hdr = compat_hdr(iov, 1, control, 16);
    let hdr = w.buffer(hdr.as_bytes(), abi::BUF_IN);
    w.push(CompatAtom::new(
        nr32::SENDMSG,
        &[Imm(tx_fd), buf(hdr), Imm(0)],
    ));
    let e = compat::normalize(&w.finish()).unwrap_err();
    assert!(matches!(e.kind, CompatErrorKind::BadControl { .. }), "{e}");
    assert!(nothing_arrived(&rx));
}

/// An i386 `SCM_RIGHTS` message carrying `fd` (`CMSG_COMPAT_SPACE(4)`).
fn compat_rights(fd: i32) -> Vec<u8> {
    rights(&16u32.to_le_bytes(), fd, 0)
}

fn compat_hdr(iov: u16, iovlen: u32, control: u16, controllen: u32) -> CompatMsgHdr {
    CompatMsgHdr {
        iov: compat::compat_buf_arg(iov, 0).unwrap(),
        iovlen,
        control: compat::compat_buf_arg(control, 0).unwrap(),
        controllen,
        ..Default::default()
    }
}

#[test]
fn i386_scm_rights_translate_both_ways() {
    let _g = lock();
    let (tx, rx) = UnixStream::pair().unwrap();
    let sent = File::open("/proc").unwrap();
    let before = open_fds();
    let (tx_fd, rx_fd) = (tx.as_raw_fd() as u32, rx.as_raw_fd() as u32);
    let mut w = CompatWriter::new();
    let data = w.buffer(b"fd", abi::BUF_IN);
    let iov = compat_iov(&mut w, &[(data, 2)]);
    let control = w.buffer(&compat_rights(sent.as_raw_fd()), abi::BUF_IN);
    let send = w.buffer(compat_hdr(iov, 1, control, 16).as_bytes(), abi::BUF_IN);
    let x = w.zeroed(2, abi::BUF_OUT);
    let iov = compat_iov(&mut w, &[(x, 2)]);
    // Room for one descriptor, as an i386 process counts it.
    let room = w.zeroed(16, abi::BUF_OUT);
    let recv = w.buffer(
        compat_hdr(iov, 1, room, 16).as_bytes(),
        abi::BUF_IN | abi::BUF_OUT,
    );
    let buf = |index| Buf { index, offset: 0 };
    let args = w.socketcall_args(&[Imm(tx_fd), buf(send), Imm(0)]);
    w.push(CompatAtom::new(nr32::SOCKETCALL, &[Imm(16), buf(args)]));
    w.push(CompatAtom::new(
        nr32::RECVMSG,
        &[Imm(rx_fd), buf(recv), Imm(MSG_CMSG_CLOEXEC)],
    ));
    let policy = Policy::default().allow_fd_passing();
    let (mut batch, bytes, done) = run_compat_with(&w, &policy);
    assert_eq!(done.results[..2], [2, 2]);
    let taken = batch.take_fds();
    assert_eq!(taken.len(), 1);
    let fd = taken[0].1.as_raw_fd();
    assert_eq!(identity(taken[0].1.as_fd()), identity(sent.as_fd()));
    // The producer sees an i386 message naming the same descriptor.
    assert_eq!(compat_buffer(&bytes, room), &compat_rights(fd)[..]);
    let got = CompatMsgHdr::read_from_bytes(compat_buffer(&bytes, recv)).unwrap();
    assert_eq!((got.controllen, got.flags & MSG_CTRUNC), (16, 0));
    drop(taken);
    drop(batch);
    assert_eq!(open_fds(), before);

    // Without the knob the translated SCM_RIGHTS is refused like a native one.
    let norm = compat::normalize(&w.finish()).unwrap();
    let e = EncodedBatch::from_bytes(norm.native_bytes())
        .validate(&Policy::default())
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::FdPassingRefused { arg: 1, fd: -1 });
}

/// The bytes of buffer `index` of a compat batch.
fn compat_buffer(bytes: &[u8], index: u16) -> &[u8] {
    let word = |at: usize| u16::from_le_bytes(bytes[at..at + 2].try_into().unwrap()) as usize;
    let (natoms, nbufs) = (word(6), word(8));
    let descs = abi::HEADER_SIZE + compat::compat_atoms_len(natoms);
    let arena = descs + nbufs * abi::BUFDESC_SIZE;
    let d = descs + index as usize * abi::BUFDESC_SIZE;
    let field = |k: usize| u32::from_le_bytes(bytes[d + k..d + k + 4].try_into().unwrap()) as usize;
    &bytes[arena + field(0)..][..field(4)]
}

/// A chain that only receives on `rx`: two buffers of 7 and 5 bytes, room
/// for one descriptor.
fn receive_chain<'a>(rx: BorrowedFd<'_>) -> (Chain<'a>, [BufRef; 2], AtomRef) {
    let mut chain = Chain::new();
    let (x, y) = (chain.output_bytes(7), chain.output_bytes(5));
    let iov = chain.iovecs(&[x, y]);
    let control = chain.control_out(1);
    let inp = chain.msghdr_recv(None, iov, Some(control));
    let recv = chain.push(Recvmsg::new(rx.as_raw_fd(), inp));
    (chain, [x, y], recv)
}

/// Send `b"hello, world"` with `sent` in an `SCM_RIGHTS` message, synchronously.
fn send_with_rights(tx: BorrowedFd<'_>, sent: BorrowedFd<'_>, policy: &Policy) {
    let mut chain = Chain::new();
    let data = chain.input(b"hello, world");
    let iov = chain.iovecs(&[data]);
    let control = chain.rights(&[sent]);
    let hdr = chain.msghdr_send(None, iov, Some(control));
    chain.push(Sendmsg::new(tx.as_raw_fd(), hdr));
    let mut batch = chain.prepare(policy).unwrap();
    assert_eq!(batch.run().results(), [12]);
}

#[test]
fn a_message_already_there_is_received_inline_by_the_probe() {
    let _g = lock();
    let (tx, rx) = UnixStream::pair().unwrap();
    let sent = File::open("/").unwrap();
    let before = open_fds();
    let (policy, ex) = fd_passing_executor();
    send_with_rights(tx.as_fd(), sent.as_fd(), &policy);
    let (chain, [x, y], recv) = receive_chain(rx.as_fd());
    let Submitted::Done(mut done) = ex.submit(chain.prepare(&policy).unwrap()).unwrap() else {
        panic!("the message is there: the MSG_DONTWAIT probe must receive it inline");
    };
    assert_eq!(done.completion().result(recv), Some(12));
    assert_eq!(done.batch().bytes(x), b"hello, ");
    assert_eq!(done.batch().bytes(y), b"world");
    // The probe's receive owns its descriptor as the real call's would.
    let fds = done.batch_mut().take_fds();
    assert_eq!(fds.len(), 1);
    assert_eq!(identity(fds[0].1.as_fd()), identity(sent.as_fd()));
    assert!(cloexec(fds[0].1.as_fd()));
    assert_eq!(ex.workers(), 0, "nothing was handed off");
    drop((fds, done));

    // Nothing there yet: the probe says EAGAIN, a worker waits for it.
    let (chain, [x, _], recv) = receive_chain(rx.as_fd());
    let Submitted::Queued(_) = ex.submit(chain.prepare(&policy).unwrap()).unwrap() else {
        panic!("nothing to receive: the chain must wait on a worker, not fail with EAGAIN");
    };
    std::thread::sleep(Duration::from_millis(20));
    send_with_rights(tx.as_fd(), sent.as_fd(), &policy);
    ex.wait(1, Some(Duration::from_secs(20))).unwrap();
    let mut done = ex.reap().unwrap().pop().expect("one completion");
    assert_eq!(done.completion().result(recv), Some(12));
    assert_eq!(done.batch().bytes(x), b"hello, ");
    assert_eq!(done.batch_mut().take_fds().len(), 1);
    drop(done);
    drop(ex);
    assert_eq!(open_fds(), before, "every received descriptor was closed");
}
