//! An [`Aio`] context leaves no thread behind: its workers, completion
//! thread and notifier thread are all joined when it is dropped, and the
//! requests it still had are finished first (held ones cancelled, with their
//! notification; running ones waited for). One test in its own binary, so
//! that no other test's threads come and go meanwhile.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::Write as _;
use std::os::fd::{AsRawFd, FromRawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use syslets::aio::{self, Aio};

fn threads() -> BTreeSet<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

fn thread_names() -> Vec<String> {
    threads()
        .iter()
        .map(|t| std::fs::read_to_string(format!("/proc/self/task/{t}/comm")).unwrap_or_default())
        .map(|s| s.trim().to_string())
        .collect()
}

fn pipe() -> (File, File) {
    let mut p = [0; 2];
    // SAFETY: pipe2 writes two descriptors into `p`.
    assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: two fresh descriptors nobody else owns.
    unsafe { (File::from_raw_fd(p[0]), File::from_raw_fd(p[1])) }
}

static CALLS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn note(_: libc::sigval) {
    CALLS.fetch_add(1, Ordering::SeqCst);
}

fn cb(fd: i32, buf: &mut [u8]) -> libc::aiocb {
    // SAFETY: an all-zero aiocb is a valid value of this plain C struct.
    let mut cb: libc::aiocb = unsafe { std::mem::zeroed() };
    cb.aio_fildes = fd;
    cb.aio_buf = buf.as_mut_ptr().cast();
    cb.aio_nbytes = buf.len();
    cb.aio_sigevent = aio::sigevent_thread(note, std::ptr::null_mut());
    cb
}

#[test]
fn dropping_a_context_joins_every_thread_and_finishes_every_request() {
    let before = threads();
    let (r, mut w) = pipe();
    let mut bufs = [[0u8; 2]; 4];
    let mut cbs: Vec<libc::aiocb> = bufs.iter_mut().map(|b| cb(r.as_raw_fd(), b)).collect();
    {
        let ctx = Aio::builder().workers(4).build().unwrap();
        // Two reads complete (a worker, the completion thread and the
        // notifier run), two more wait on the pipe: one blocked in a worker,
        // one held behind it.
        for c in &mut cbs[..2] {
            // SAFETY: `cbs` and `bufs` outlive the context, which finishes
            // every request before its drop returns.
            unsafe { ctx.read(c) }.unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
        w.write_all(b"aabb").unwrap();
        for c in &mut cbs[2..] {
            // SAFETY: as above.
            unsafe { ctx.read(c) }.unwrap();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while CALLS.load(Ordering::SeqCst) < 2 {
            assert!(Instant::now() < deadline, "notifications of the first two");
            std::thread::sleep(Duration::from_millis(5));
        }
        let names = thread_names();
        for name in ["syslet-worker", "aio-complete", "aio-notify"] {
            assert!(
                names.iter().any(|n| n == name),
                "no {name} thread in {names:?}"
            );
        }
        assert_eq!(ctx.held(), 1);
        // The blocked read gets its data (end of file) only after the drop
        // started: the drop must wait for it.
        let closer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            drop(w);
        });
        drop(ctx);
        closer.join().unwrap();
    }
    // SAFETY: the aiocbs are live and their requests finished.
    unsafe {
        assert_eq!(aio::aio_return(&mut cbs[0]), Ok(2));
        assert_eq!(aio::aio_return(&mut cbs[1]), Ok(2));
        assert_eq!(aio::aio_return(&mut cbs[2]), Ok(0), "end of file");
        assert_eq!(aio::aio_error(&cbs[3]), Ok(libc::ECANCELED));
        assert_eq!(aio::aio_return(&mut cbs[3]), Ok(-1));
    }
    assert_eq!(&bufs[..2], &[*b"aa", *b"bb"]);
    assert_eq!(
        CALLS.load(Ordering::SeqCst),
        4,
        "every request was notified"
    );
    assert_eq!(
        threads(),
        before,
        "threads left behind: {:?}",
        thread_names()
    );
    drop(r);
}
