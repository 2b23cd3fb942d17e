//! Hostile conditions at run time, not in the batch bytes: a timeout at the
//! edge of the clock. Each test is the regression test of a failure that was
//! reproduced: a panic (`Instant + Duration` overflow).
//!
//! Every test holds [`SERIAL`] (they start workers and threads).

use std::io::Write as _;
use std::os::fd::AsRawFd;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use syslets::opcode::Recvfrom;
use syslets::{Chain, Executor, Policy, Submitted};

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
