//! Hostile conditions at run time, not in the batch bytes: a timeout at the
//! edge of the clock, a process that cannot start threads, a batch carried
//! across `fork()`. Each test is the regression test of a failure that was
//! reproduced: a panic (`Instant + Duration` overflow), a chain run without
//! the workers' seccomp filter on the submitting thread, a signal to the
//! parent from a child.
//!
//! Every test holds [`SERIAL`]: one forks, and a fork while another test's
//! thread holds a lock (the thread list during a spawn, a `OnceLock`) leaves
//! that lock held for ever in the child.

mod common;
#[path = "common/rerun.rs"]
mod rerun;
use common::{in_child, pid, LONG};

use std::io::Write as _;
use std::os::fd::AsRawFd;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use syslets::abi;
use syslets::opcode::{Getpid, Recvfrom, RtTgsigqueueinfo, Socket, Tgkill};
use syslets::{Chain, Executor, Policy, Submitted, ValidatedBatch};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// An aiocb reading one byte of `sock` into `byte`.
fn socket_read(sock: &std::os::unix::net::UnixStream, byte: &mut [u8; 1]) -> libc::aiocb {
    // SAFETY: an all-zero aiocb is a valid "empty" one; the fields are set below.
    let mut cb: libc::aiocb = unsafe { std::mem::zeroed() };
    cb.aio_fildes = sock.as_raw_fd();
    cb.aio_buf = byte.as_mut_ptr().cast();
    cb.aio_nbytes = 1;
    cb.aio_sigevent.sigev_notify = libc::SIGEV_NONE;
    cb
}

// ---------------------------------------------------------------------------
// A timeout past the clock's range

/// `Executor::wait` with `Duration::MAX` used to panic (`Instant + Duration`
/// overflow); it waits as without a timeout: until a chain blocked on a
/// socket completes, and at once when nothing is in flight.
#[test]
fn executor_wait_with_duration_max_waits_without_a_deadline() {
    let _s = serial();
    let ex = Executor::new();
    assert_eq!(
        ex.wait(1, Some(Duration::MAX)).unwrap(),
        0,
        "nothing in flight"
    );

    let (mut tx, rx) = std::os::unix::net::UnixStream::pair().unwrap();
    let mut chain = Chain::new();
    let buf = chain.output_bytes(1);
    let recv = chain.push(Recvfrom::new(rx.as_raw_fd(), buf));
    let Submitted::Queued(ticket) = ex
        .submit(chain.prepare(&Policy::default()).unwrap())
        .unwrap()
    else {
        panic!("a receive from an empty socket goes to a worker");
    };
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        tx.write_all(b"x").unwrap();
        tx
    });
    let t0 = Instant::now();
    assert_eq!(ex.wait(1, Some(Duration::MAX)).unwrap(), 1);
    assert!(
        t0.elapsed() >= Duration::from_millis(40),
        "it waited for the data"
    );
    let done = ex.reap().unwrap().pop().unwrap();
    assert_eq!(done.ticket(), ticket);
    assert_eq!(done.completion().result(recv), Some(1));
    drop(writer.join().unwrap());
}

/// The Rust `aio_suspend` with `Duration::MAX` (which used to panic) waits
/// for the request like no timeout; the C ABI follows glibc instead
/// (`tests/aio_c.rs`, `timeout_overflow_behaves_like_glibc`).
#[test]
fn aio_suspend_with_duration_max_waits_without_a_deadline() {
    let _s = serial();
    let (mut tx, rx) = std::os::unix::net::UnixStream::pair().unwrap();
    let mut buf = [0u8; 1];
    let mut cb = socket_read(&rx, &mut buf);
    // SAFETY: `cb` and `buf` live on this frame until the request completed
    // (this test waits for it below).
    unsafe { syslets::aio::aio_read(&mut cb) }.unwrap();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        tx.write_all(b"a").unwrap();
        tx
    });
    let list = [&cb as *const libc::aiocb];
    loop {
        // SAFETY: `cb` is a valid aiocb for the whole call.
        match unsafe { syslets::aio::aio_suspend(&list, Some(Duration::MAX)) } {
            Ok(()) => break,
            Err(e) if e.raw() == libc::EINTR => continue,
            Err(e) => panic!("aio_suspend: {e:?}"),
        }
    }
    // SAFETY: as above; the request is finished.
    assert_eq!(unsafe { syslets::aio::aio_error(&cb) }, Ok(0));
    // SAFETY: as above.
    assert_eq!(unsafe { syslets::aio::aio_return(&mut cb) }, Ok(1));
    assert_eq!(buf, *b"a");
    drop(writer.join().unwrap());
}

// ---------------------------------------------------------------------------
// No worker thread can be started

const EAGAIN: i64 = -(libc::EAGAIN as i64);
const EPERM: i64 = -(libc::EPERM as i64);

/// The role a re-run of this test binary plays (see [`rerun_as`]).
const ROLE: &str = "SYSLETS_HOSTILE_RUNTIME_ROLE";

/// Run test `name` of this binary again in a fresh process with `ROLE=role`
/// ([`rerun::rerun_as`]). A fresh process, not a fork: a forked child
/// inherits glibc's cache of the parent's exited thread stacks, so a tight
/// `RLIMIT_AS` would not stop its thread creation.
fn rerun_as(name: &str, role: &str, marker: &str) -> String {
    rerun::rerun_as(name, ROLE, role, marker)
}

/// `socket(AF_UNIX)` (validated with the default policy, which allows it),
/// caller data 6.
fn socket_chain(flags: u16) -> ValidatedBatch<'static> {
    let mut chain = Chain::new();
    chain.push(Socket::new(
        libc::AF_UNIX,
        libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
    ));
    chain.set_flags(flags).set_caller_data(6);
    chain.prepare(&Policy::default()).unwrap()
}

fn vm_size_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmSize:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

fn set_limit(resource: libc::__rlimit_resource_t, value: u64) {
    let lim = libc::rlimit {
        rlim_cur: value,
        rlim_max: value,
    };
    // SAFETY: `lim` is a valid rlimit for the call.
    let rc = unsafe { libc::setrlimit(resource, &lim) };
    assert_eq!(rc, 0, "setrlimit: {}", std::io::Error::last_os_error());
}

/// The child's side: no thread can be made; a confined executor fails the
/// chains it cannot hand to a worker, an unconfined one runs them here.
fn no_threads() {
    let confined = Executor::builder()
        .policy(Policy::read_only_files())
        .max_workers(2)
        .build()
        .unwrap();
    let unconfined = Executor::builder()
        .policy(Policy::read_only_files())
        .seccomp(false)
        .max_workers(2)
        .build()
        .unwrap();
    let (mut tx, rx) = std::os::unix::net::UnixStream::pair().unwrap();
    // The process-wide AIO engine, made now: a read of a byte already there
    // completes inline.
    let mut byte = [0u8; 1];
    let mut cb = socket_read(&rx, &mut byte);
    tx.write_all(b"i").unwrap();
    // SAFETY: `cb` and `byte` outlive the request (it completes inline).
    unsafe { syslets::aio::aio_read(&mut cb) }.unwrap();
    // SAFETY: as above.
    assert_eq!(unsafe { syslets::aio::aio_return(&mut cb) }, Ok(1));
    let (async_socket, opted_out) = (
        socket_chain(abi::BATCH_ASYNC),
        socket_chain(abi::BATCH_ASYNC),
    );
    // getpid inline, then a receive from an empty socket, handed off.
    let mut mixed = Chain::new();
    let getpid = mixed.push(Getpid::new());
    let buf = mixed.output_bytes(1);
    let recv = mixed.push(Recvfrom::new(rx.as_raw_fd(), buf));
    mixed.set_caller_data(7);
    let mixed = mixed.prepare(&Policy::default()).unwrap();

    // No thread creation from here on: the address space is full but for a
    // little (a thread stack is 2 MiB), and no more processes (when not root;
    // root ignores RLIMIT_NPROC).
    set_limit(libc::RLIMIT_NPROC, 0);
    set_limit(libc::RLIMIT_AS, vm_size_bytes() + 512 * 1024);
    assert!(
        std::thread::Builder::new().spawn(|| ()).is_err(),
        "the limits must make thread creation fail"
    );

    // Repro: used to run on this (unfiltered) thread and return a socket.
    let Submitted::Queued(ticket) = confined.submit(async_socket).unwrap() else {
        panic!("ASYNC chains are queued");
    };
    assert_eq!(confined.workers(), 0);
    // Not lost: posted at once, with what happened.
    assert_eq!(confined.in_flight(), 0);
    assert_eq!(confined.ready(), 1);
    let mut done = confined.reap().unwrap();
    let mut d = done.pop().unwrap();
    assert_eq!(d.ticket(), ticket);
    let c = d.completion();
    assert_eq!(c.caller_data(), 6);
    assert!(c.canceled(), "the chain failed");
    assert_eq!(c.status(), EAGAIN, "with the thread creation's error");
    assert_eq!(c.atoms_run(), 0, "socket did not run");
    assert!(d.entry().flags & abi::COMPLETION_CANCELED as u32 != 0);
    assert!(d.batch_mut().take_fds().is_empty());

    // A chain whose first atom ran inline keeps its result.
    let Submitted::Queued(_) = confined.submit(mixed).unwrap() else {
        panic!("the receive is handed off");
    };
    let d = confined.reap().unwrap().pop().unwrap();
    let c = d.completion();
    assert_eq!(c.caller_data(), 7);
    assert_eq!(c.result(getpid), Some(pid()));
    assert_eq!(c.result(recv), None, "the receive did not run");
    assert!(c.canceled());
    assert_eq!(c.status(), EAGAIN);

    // An AIO read handed to a worker (nothing to read yet) fails the same way.
    let mut cb = socket_read(&rx, &mut byte);
    // SAFETY: `cb` and `byte` outlive the request (waited for below).
    unsafe { syslets::aio::aio_read(&mut cb) }.unwrap();
    let list = [&cb as *const libc::aiocb];
    // SAFETY: `cb` is a valid aiocb for the call.
    unsafe { syslets::aio::aio_suspend(&list, LONG) }.unwrap();
    // SAFETY: as above.
    assert_eq!(unsafe { syslets::aio::aio_error(&cb) }, Ok(libc::EAGAIN));

    // Without seccomp (the caller opted out) the chain runs here, as a
    // worker of that executor would run it: unconfined.
    let Submitted::Queued(_) = unconfined.submit(opted_out).unwrap() else {
        panic!("ASYNC chains are queued");
    };
    let mut d = unconfined.reap().unwrap().pop().unwrap();
    assert!(!d.completion().canceled());
    assert!(d.completion().results()[0] >= 0, "socket ran");
    assert_eq!(d.batch_mut().take_fds().len(), 1);
    println!("no-threads: all checks passed");
}

/// Repro: under a tight `RLIMIT_AS`, an executor built with
/// `Policy::read_only_files()` ran a `socket` atom on the submitting thread
/// (which has no filter) and it succeeded. Now the chain fails with
/// `COMPLETION_CANCELED` and `-EAGAIN` (nothing of it runs unfiltered, and
/// the completion is posted), unless the executor was built without seccomp.
/// On a worker, the same chain gets `EPERM` from the filter.
#[test]
fn without_a_worker_thread_a_confined_chain_fails_instead_of_running_unfiltered() {
    if std::env::var(ROLE).as_deref() == Ok("no-threads") {
        return no_threads();
    }
    let _s = serial();
    // What a worker does with it: the filter refuses socket.
    let ex = Executor::builder()
        .policy(Policy::read_only_files())
        .build()
        .unwrap();
    let Submitted::Queued(_) = ex.submit(socket_chain(abi::BATCH_ASYNC)).unwrap() else {
        panic!("ASYNC chains are queued");
    };
    ex.wait(1, LONG).unwrap();
    let d = ex.reap().unwrap().pop().unwrap();
    assert_eq!(d.completion().results()[0], EPERM);
    drop(ex);
    rerun_as(
        "without_a_worker_thread_a_confined_chain_fails_instead_of_running_unfiltered",
        "no-threads",
        "no-threads: all checks passed",
    );
}

// ---------------------------------------------------------------------------
// A batch validated before fork()

const ESRCH: i64 = -(libc::ESRCH as i64);

/// This thread's id.
fn gettid() -> i32 {
    // SAFETY: gettid takes no argument and cannot fail.
    unsafe { libc::gettid() }
}

/// `sig` blocked on this thread for the guard's life (so a signal sent to it
/// stays pending, where the test can see it, instead of ending the process).
struct Blocked(libc::sigset_t);

impl Blocked {
    fn new(sig: i32) -> Blocked {
        // SAFETY: sigset_t is plain data; sigemptyset/sigaddset initialise it,
        // and pthread_sigmask reads `set` and writes `old`, both on this frame.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, sig);
            assert_eq!(libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old), 0);
            Blocked(old)
        }
    }
}

impl Drop for Blocked {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved by `new`.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.0, std::ptr::null_mut()) };
    }
}

/// Whether `sig` is pending for this thread; takes it if so.
fn take_pending(sig: i32) -> bool {
    // SAFETY: as in `Blocked::new`; sigtimedwait with a zero timeout only
    // dequeues a pending `sig` (blocked here), writing `info`.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let mut any = false;
        while libc::sigtimedwait(&set, &mut info, &zero) == sig {
            any = true;
        }
        any
    }
}

/// A signal chain to thread `tid` of this process: `tgkill`, or
/// `rt_tgsigqueueinfo` with an `SI_QUEUE` siginfo (the kind one process may
/// send another).
fn signal_chain(queue: bool, tid: i32, sig: i32, flags: u16) -> ValidatedBatch<'static> {
    let me = std::process::id() as i32;
    let mut chain = Chain::new();
    if queue {
        let mut info = [0u8; 128];
        info[0..4].copy_from_slice(&sig.to_ne_bytes());
        info[8..12].copy_from_slice(&libc::SI_QUEUE.to_ne_bytes());
        let info = chain.input(&info);
        chain.push(RtTgsigqueueinfo::new(me, tid, sig, info));
    } else {
        chain.push(Tgkill::new(me, tid, sig));
    }
    chain.set_flags(flags);
    chain.prepare(&Policy::default()).unwrap()
}

/// Repro: a `tgkill(own pid)` batch validated before `fork()` and run in the
/// child signalled the parent. Now its signal atoms return `-ESRCH` in the
/// child, inline and through an executor (inline or on a worker), without
/// being issued; the child's own signal batches work, and so does the
/// batch in the parent.
#[test]
fn a_signal_batch_validated_before_fork_does_not_signal_the_parent() {
    let _s = serial();
    let sig = libc::SIGUSR2;
    let _blocked = Blocked::new(sig);
    assert!(!take_pending(sig));
    let tid = gettid();
    // Two to run inline, two to submit, two to submit ASYNC.
    let mut batches: Vec<ValidatedBatch<'static>> = (0..6)
        .map(|i| {
            let flags = if i < 4 { 0 } else { abi::BATCH_ASYNC };
            signal_chain(i % 2 == 1, tid, sig, flags)
        })
        .collect();
    let code = in_child(move || {
        let mut code = 0;
        // Inline.
        for (k, b) in batches.drain(..2).enumerate() {
            let mut b = b;
            if b.run().results()[0] != ESRCH {
                code |= 1 << k;
            }
        }
        // Through a new executor: inline, then on a worker (ASYNC).
        let ex = Executor::new();
        for (k, b) in batches.drain(..).enumerate() {
            let r = match ex.submit(b) {
                Ok(Submitted::Done(d)) => d.completion().results()[0],
                Ok(Submitted::Queued(_)) => {
                    ex.wait(1, LONG).unwrap();
                    ex.reap().unwrap().pop().unwrap().completion().results()[0]
                }
                Err(_) => 0,
            };
            if r != ESRCH {
                code |= 4 << k;
            }
        }
        // The child's own signals: validated here, for here (signal 0 only
        // checks that the thread exists).
        let mut own = signal_chain(false, gettid(), 0, 0);
        if own.run().results()[0] != 0 {
            code |= 64;
        }
        code
    });
    // (Taken before any assert: a failing one would unblock a pending signal,
    // whose default action ends the test process.)
    let signalled = take_pending(sig);
    assert_eq!(code, 0, "child checks failed (bit mask)");
    assert!(!signalled, "the child's batches signalled the parent");
    // In the parent the same batches still signal (and the check above sees it).
    let mut b = signal_chain(false, tid, sig, 0);
    assert_eq!(b.run().results()[0], 0);
    assert!(take_pending(sig), "tgkill to ourselves arrives");
    let mut b = signal_chain(true, tid, sig, 0);
    assert_eq!(b.run().results()[0], 0);
    assert!(take_pending(sig), "rt_tgsigqueueinfo to ourselves arrives");
}
