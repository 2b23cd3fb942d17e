//! `epoll_ctl` and `epoll_pwait` on the real kernel: inline, on a
//! seccomp-filtered thread, on an executor's worker and through the i386
//! compat translator (the packed 12-byte `struct epoll_event` is the same on
//! both ABIs); the event array is bounded by `maxevents` elements.

use std::io::Write as _;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use syslets::abi::{self, nr};
use syslets::compat::CompatArg::{Buf, Imm};
use syslets::compat::{nr32, CompatAtom, CompatWriter};
use syslets::opcode::{EpollCtl, EpollPwait, RawAtom};
use syslets::{
    install_filter, BufRef, Chain, ErrorKind, Executor, Policy, Submitted, ValidatedBatch,
};

#[path = "common/compat_run.rs"]
mod compat_run;
use compat_run::{native_buffer, run_compat};

fn epoll() -> OwnedFd {
    // SAFETY: epoll_create1 takes a flag and returns a new descriptor or -1.
    let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    assert!(
        fd >= 0,
        "epoll_create1: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: `fd` is a new descriptor nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// A packed `struct epoll_event`: `events`, then `data`.
fn event(events: u32, data: u64) -> [u8; 12] {
    let mut e = [0u8; 12];
    e[..4].copy_from_slice(&events.to_le_bytes());
    e[4..].copy_from_slice(&data.to_le_bytes());
    e
}

/// epoll_ctl(ADD, fd, EPOLLIN, 42) → epoll_pwait(room for 4, 5 s).
fn watch_chain(epfd: i32, fd: i32) -> (ValidatedBatch<'static>, BufRef) {
    let mut chain = Chain::new();
    let ev = chain.input(&event(libc::EPOLLIN as u32, 42));
    let events = chain.output_bytes(4 * 12);
    chain.push(EpollCtl::new(epfd, libc::EPOLL_CTL_ADD, fd).event(Some(ev)));
    chain.push(EpollPwait::new(epfd, events, 5000));
    (chain.prepare(&Policy::default()).unwrap(), events)
}

fn check_events(results: &[i64], events: &[u8]) {
    assert_eq!(results[..2], [0, 1], "{results:?}");
    assert_eq!(events[..12], event(libc::EPOLLIN as u32, 42));
    assert_eq!(events[12..], [0u8; 36], "one event only");
}

#[test]
fn epoll_ctl_then_epoll_pwait_reports_a_readable_socket() {
    let ep = epoll();
    let (a, mut b) = UnixStream::pair().unwrap();
    b.write_all(b"x").unwrap();
    let (mut batch, events) = watch_chain(ep.as_raw_fd(), a.as_raw_fd());
    let results = batch.run().results().to_vec();
    check_events(&results, batch.bytes(events));
    // With a signal mask, and nothing ready: times out.
    let mut chain = Chain::new();
    let events = chain.output_bytes(12);
    let mask = chain.input(&[0u8; 8]);
    chain.push(EpollCtl::new(
        ep.as_raw_fd(),
        libc::EPOLL_CTL_DEL,
        a.as_raw_fd(),
    ));
    chain.push(EpollPwait::new(ep.as_raw_fd(), events, 10).sigmask(Some(mask)));
    let mut batch = chain.prepare(&Policy::default()).unwrap();
    assert_eq!(batch.run().results()[..2], [0, 0]);
}

#[test]
fn the_event_array_holds_maxevents_elements() {
    let mut chain = Chain::new();
    let events = chain.output_bytes(4 * 12);
    let mut atom = abi::Atom {
        nr: nr::EPOLL_PWAIT,
        nargs: 6,
        ..Default::default()
    };
    atom.arg_kind[1] = abi::ARG_BUF;
    atom.arg[1] = abi::buf_arg(events.index(), 0);
    atom.arg[2] = 5; // 60 bytes > 48
    chain.push(RawAtom(atom));
    let e = chain.prepare(&Policy::default()).unwrap_err();
    assert!(
        matches!(
            e.kind,
            ErrorKind::LengthExceedsBuffer {
                arg: 1,
                len: 60,
                available: 48
            }
        ),
        "{e}"
    );
    // A RESULT count is checked, in elements, just before the call.
    let mut chain = Chain::new();
    let events = chain.output_bytes(2 * 12);
    let ep = epoll();
    let count = chain.push(syslets::opcode::Getpid::new());
    let mut atom = abi::Atom {
        nr: nr::EPOLL_PWAIT,
        nargs: 6,
        ..Default::default()
    };
    atom.arg[0] = ep.as_raw_fd() as u64;
    atom.arg_kind[1] = abi::ARG_BUF;
    atom.arg[1] = abi::buf_arg(events.index(), 0);
    atom.arg_kind[2] = abi::ARG_RESULT;
    atom.arg[2] = count.index() as u64;
    chain.push(RawAtom(atom));
    let mut batch = chain.prepare(&Policy::default()).unwrap();
    let results = batch.run().results().to_vec();
    assert_eq!(
        results[1],
        -(libc::EFAULT as i64),
        "a pid is more than 2 events"
    );
}

#[test]
fn epoll_calls_run_on_a_filtered_thread_and_are_eperm_when_denied() {
    let ep = epoll();
    let (a, mut b) = UnixStream::pair().unwrap();
    b.write_all(b"x").unwrap();
    let (epfd, fd) = (ep.as_raw_fd(), a.as_raw_fd());
    let filter = Policy::default().seccomp_filter().unwrap();
    let (results, events) = std::thread::spawn(move || {
        install_filter(&filter).unwrap();
        let (mut batch, events) = watch_chain(epfd, fd);
        let results = batch.run().results().to_vec();
        (results, batch.bytes(events).to_vec())
    })
    .join()
    .unwrap();
    check_events(&results, &events);

    let denied = Policy::default().deny(nr::EPOLL_CTL).deny(nr::EPOLL_PWAIT);
    let filter = denied.seccomp_filter().unwrap();
    let errnos = std::thread::spawn(move || {
        install_filter(&filter).unwrap();
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        let errno = || std::io::Error::last_os_error().raw_os_error();
        // SAFETY: one epoll_event, which outlives the calls; a NULL sigmask.
        unsafe {
            [
                (
                    libc::epoll_ctl(epfd, libc::EPOLL_CTL_DEL, fd, &mut ev),
                    errno(),
                ),
                (
                    libc::epoll_pwait(epfd, &mut ev, 1, 0, std::ptr::null()),
                    errno(),
                ),
            ]
        }
    })
    .join()
    .unwrap();
    assert_eq!(errnos, [(-1, Some(libc::EPERM)); 2]);
}

#[test]
fn epoll_pwait_runs_on_an_executor_worker() {
    let ex = Executor::builder()
        .idle_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let ep = epoll();
    let (a, mut b) = UnixStream::pair().unwrap();
    let mut chain = Chain::new();
    let ev = chain.input(&event(libc::EPOLLIN as u32, 42));
    let events = chain.output_bytes(4 * 12);
    let (epfd, fd) = (ep.as_raw_fd(), a.as_raw_fd());
    chain.push(EpollCtl::new(epfd, libc::EPOLL_CTL_ADD, fd).event(Some(ev)));
    chain.push(EpollPwait::new(epfd, events, 20_000));
    chain.set_flags(abi::BATCH_ASYNC);
    let batch = chain.prepare(&Policy::default()).unwrap();
    let Submitted::Queued(_) = ex.submit(batch).unwrap() else {
        panic!("ASYNC chains go to a worker");
    };
    // The worker waits in epoll_pwait until the peer writes.
    std::thread::sleep(Duration::from_millis(50));
    b.write_all(b"x").unwrap();
    ex.wait(1, Some(Duration::from_secs(20))).unwrap();
    let done = ex.reap().unwrap().pop().expect("one completion");
    check_events(done.completion().results(), done.batch().bytes(events));
}

#[test]
fn i386_epoll_calls_translate_and_run() {
    let ep = epoll();
    let (a, mut b) = UnixStream::pair().unwrap();
    b.write_all(b"x").unwrap();
    let (epfd, fd) = (ep.as_raw_fd() as u32, a.as_raw_fd() as u32);
    let mut w = CompatWriter::new();
    let ev = w.buffer(&event(libc::EPOLLIN as u32, 42), abi::BUF_IN);
    let events = w.zeroed(4 * 12, abi::BUF_OUT);
    let buf = |index| Buf { index, offset: 0 };
    let add = libc::EPOLL_CTL_ADD as u32;
    w.push(CompatAtom::new(
        nr32::EPOLL_CTL,
        &[Imm(epfd), Imm(add), Imm(fd), buf(ev)],
    ));
    w.push(CompatAtom::new(
        nr32::EPOLL_PWAIT,
        &[Imm(epfd), buf(events), Imm(4), Imm(5000), Imm(0), Imm(0)],
    ));
    let (batch, _, done) = run_compat(&w);
    check_events(&done.results[..2], &native_buffer(&batch, events));
}

/// A pipe holding one byte: `(read end, write end)`.
fn readable_pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 writes two descriptors into the array it is given.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: pipe2 returned two new descriptors that nothing else owns.
    let (rx, tx) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: writes one byte of a static to the pipe's write end.
    let wrote = unsafe { libc::write(tx.as_raw_fd(), b"x".as_ptr().cast(), 1) };
    assert_eq!(wrote, 1);
    (rx, tx)
}

/// epoll_create1 → epoll_ctl(ADD, rx) → epoll_pwait on the instance the
/// first atom made (its result is the others' epfd), then, with `close`,
/// close(it).
fn create_watch_chain(rx: i32, close: bool) -> (Chain<'static>, BufRef) {
    use syslets::opcode::{Close, EpollCreate1};
    let mut chain = Chain::new();
    let ev = chain.input(&event(libc::EPOLLIN as u32, 42));
    let events = chain.output_bytes(4 * 12);
    let ep = chain.push(EpollCreate1::new().stop_on(syslets::Stop::NEGATIVE));
    chain.push(EpollCtl::new(ep, libc::EPOLL_CTL_ADD, rx).event(Some(ev)));
    chain.push(EpollPwait::new(ep, events, 5000));
    if close {
        chain.push(Close::new(ep));
    }
    (chain, events)
}

/// Whether `fd` is an epoll instance (its `/proc/self/fd` link says so).
fn is_epoll(fd: i32) -> bool {
    std::fs::read_link(format!("/proc/self/fd/{fd}"))
        .is_ok_and(|l| l.to_str() == Some("anon_inode:[eventpoll]"))
}

#[test]
fn epoll_create1_feeds_epoll_ctl_and_epoll_pwait_in_one_chain() {
    let (rx, _tx) = readable_pipe();
    // Closed by the chain: nothing left over.
    let (chain, events) = create_watch_chain(rx.as_raw_fd(), true);
    let mut batch = chain.prepare(&Policy::default()).unwrap();
    let results = batch.run().results().to_vec();
    assert!(results[0] >= 0, "{results:?}");
    assert_eq!(results[1..], [0, 1, 0], "{results:?}");
    check_events(&results[1..3], batch.bytes(events));
    assert!(batch.unclosed_fds().is_empty());
    assert!(!is_epoll(results[0] as i32), "closed by the chain");

    // Left open: the chain owns it and hands it over, once.
    let (chain, _) = create_watch_chain(rx.as_raw_fd(), false);
    let mut batch = chain.prepare(&Policy::default()).unwrap();
    let epfd = batch.run().results()[0] as i32;
    let unclosed: Vec<i32> = batch.unclosed_fds().iter().map(|&(_, fd)| fd).collect();
    assert_eq!(unclosed, [epfd]);
    assert!(is_epoll(epfd));
    // SAFETY: F_GETFD reads the descriptor flags.
    let fdflags = unsafe { libc::fcntl(epfd, libc::F_GETFD) };
    assert_eq!(
        fdflags & libc::FD_CLOEXEC,
        libc::FD_CLOEXEC,
        "EPOLL_CLOEXEC by default"
    );
    let taken = batch.take_fds();
    assert_eq!(taken.len(), 1);
    assert!(batch.take_fds().is_empty(), "handed out once");
    drop(taken);
    assert!(!is_epoll(epfd), "dropping what take_fds gave closes it");

    // On an executor's worker (under its seccomp filter), and refused there
    // when the executor's policy denies it.
    let ex = Executor::builder()
        .idle_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let (mut chain, events) = create_watch_chain(rx.as_raw_fd(), true);
    chain.set_flags(abi::BATCH_ASYNC);
    let Submitted::Queued(_) = ex
        .submit(chain.prepare(&Policy::default()).unwrap())
        .unwrap()
    else {
        panic!("ASYNC chains go to a worker");
    };
    ex.wait(1, Some(Duration::from_secs(20))).unwrap();
    let done = ex.reap().unwrap().pop().expect("one completion");
    let results = done.completion().results();
    assert!(results[0] >= 0, "{results:?}");
    assert_eq!(results[1..], [0, 1, 0], "{results:?}");
    check_events(&results[1..3], done.batch().bytes(events));
    let filter = Policy::default()
        .deny(nr::EPOLL_CREATE1)
        .seccomp_filter()
        .unwrap();
    let errno = std::thread::spawn(move || {
        install_filter(&filter).unwrap();
        // SAFETY: epoll_create1 takes a flag; a descriptor it returned is closed.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        let errno = std::io::Error::last_os_error().raw_os_error();
        if fd >= 0 {
            // SAFETY: our own new descriptor.
            unsafe { libc::close(fd) };
        }
        (fd, errno)
    })
    .join()
    .unwrap();
    assert_eq!(errno, (-1, Some(libc::EPERM)));

    // i386: epoll_create1 (329) → epoll_ctl (255) → epoll_pwait (319) → close (6).
    let mut w = CompatWriter::new();
    let ev = w.buffer(&event(libc::EPOLLIN as u32, 42), abi::BUF_IN);
    let events = w.zeroed(4 * 12, abi::BUF_OUT);
    let buf = |index| Buf { index, offset: 0 };
    use syslets::compat::CompatArg::Result as Res;
    w.push(CompatAtom::new(
        nr32::EPOLL_CREATE1,
        &[Imm(libc::EPOLL_CLOEXEC as u32)],
    ));
    w.push(CompatAtom::new(
        nr32::EPOLL_CTL,
        &[
            Res(0),
            Imm(libc::EPOLL_CTL_ADD as u32),
            Imm(rx.as_raw_fd() as u32),
            buf(ev),
        ],
    ));
    w.push(CompatAtom::new(
        nr32::EPOLL_PWAIT,
        &[Res(0), buf(events), Imm(4), Imm(5000), Imm(0), Imm(0)],
    ));
    w.push(CompatAtom::new(nr32::CLOSE, &[Res(0)]));
    let (batch, _, done) = run_compat(&w);
    assert!(done.results[0] >= 0, "{:?}", &done.results[..4]);
    assert_eq!(done.results[1..4], [0, 1, 0]);
    check_events(&done.results[1..3], &native_buffer(&batch, events));
    assert!(batch.unclosed_fds().is_empty());
}
