//! `syslets::aio` from Rust: concurrency on one descriptor, ordering on
//! `O_APPEND` descriptors and pipes, the `aio_fsync` barrier, `EAGAIN` at the
//! request limit, and no lost completion under load.
//!
//! To see whether requests really run at once, buffers are pages registered
//! with a userfaultfd: a worker that reads into (or writes from) such a page
//! blocks in the page fault until the test resolves it, and the test sees
//! each fault as an event. N faults outstanding at once prove N requests in
//! flight at once; one fault and N-1 held requests prove the FIFO.

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use syslets::aio::{self, Aio, Cancel};
use syslets::Errno;

const PAGE: usize = 4096;

fn temp_file(tag: &str, append: bool) -> File {
    let p = std::env::temp_dir().join(format!("syslets-aio-{tag}-{}", std::process::id()));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(!append)
        .append(append)
        .open(&p)
        .unwrap();
    std::fs::remove_file(&p).unwrap();
    f
}

fn cb(fd: RawFd, buf: *mut u8, len: usize, offset: i64) -> libc::aiocb {
    // SAFETY: an all-zero aiocb is a valid value of this plain C struct.
    let mut cb: libc::aiocb = unsafe { std::mem::zeroed() };
    cb.aio_fildes = fd;
    cb.aio_buf = buf.cast();
    cb.aio_nbytes = len;
    cb.aio_offset = offset;
    cb.aio_sigevent = aio::sigevent_none();
    cb
}

/// Wait for `cb` (10 s at most) and take its return value.
///
/// # Safety
///
/// `cb` must point to an aiocb with a request of this library.
unsafe fn finish(cb: *mut libc::aiocb) -> Result<isize, Errno> {
    let deadline = Instant::now() + Duration::from_secs(10);
    // SAFETY: the caller's contract.
    while unsafe { aio::aio_error(cb) } == Ok(libc::EINPROGRESS) {
        assert!(Instant::now() < deadline, "request did not complete");
        // SAFETY: the caller's contract.
        match unsafe { aio::aio_suspend(&[cb], Some(Duration::from_millis(100))) } {
            Ok(()) | Err(Errno::EAGAIN) => {}
            Err(e) => panic!("aio_suspend: {e}"),
        }
    }
    // SAFETY: the caller's contract.
    match unsafe { aio::aio_error(cb) } {
        Ok(0) => {}
        Ok(e) => return Err(Errno::from_raw(e)),
        Err(e) => panic!("aio_error: {e}"),
    }
    // SAFETY: the caller's contract.
    unsafe { aio::aio_return(cb) }
}

/// Anonymous pages registered with a userfaultfd (missing-page mode).
/// Dropping it closes the userfaultfd first, which lets any fault still
/// blocked go on (the page is then zero-filled), so a failing test never
/// leaves a worker stuck.
struct FaultPages {
    uffd: Option<OwnedFd>,
    base: *mut u8,
    pages: usize,
}

#[repr(C)]
struct UffdioApi {
    api: u64,
    features: u64,
    ioctls: u64,
}

#[repr(C)]
struct UffdioRegister {
    start: u64,
    len: u64,
    mode: u64,
    ioctls: u64,
}

#[repr(C)]
struct UffdioCopy {
    dst: u64,
    src: u64,
    len: u64,
    mode: u64,
    copy: i64,
}

const UFFD_API: u64 = 0xAA;
const UFFDIO_API: u64 = 0xC018_AA3F;
const UFFDIO_REGISTER: u64 = 0xC020_AA00;
const UFFDIO_COPY: u64 = 0xC028_AA03;
const UFFDIO_REGISTER_MODE_MISSING: u64 = 1;
const UFFD_EVENT_PAGEFAULT: u8 = 0x12;

impl FaultPages {
    fn new(pages: usize) -> FaultPages {
        // SAFETY: userfaultfd takes flags only and returns a new fd or -1.
        let fd =
            unsafe { libc::syscall(libc::SYS_userfaultfd, libc::O_CLOEXEC | libc::O_NONBLOCK) };
        assert!(
            fd >= 0,
            "userfaultfd: {} (the test needs it; run as root or set vm.unprivileged_userfaultfd=1)",
            std::io::Error::last_os_error()
        );
        // SAFETY: a fresh descriptor nobody else owns.
        let uffd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
        let mut api = UffdioApi {
            api: UFFD_API,
            features: 0,
            ioctls: 0,
        };
        // SAFETY: UFFDIO_API reads and writes one uffdio_api, which `api` is.
        let rc = unsafe { libc::ioctl(uffd.as_raw_fd(), UFFDIO_API, &mut api) };
        assert_eq!(rc, 0, "UFFDIO_API: {}", std::io::Error::last_os_error());
        // SAFETY: an anonymous private mapping at an address the kernel picks.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                pages * PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(base, libc::MAP_FAILED);
        let mut reg = UffdioRegister {
            start: base as u64,
            len: (pages * PAGE) as u64,
            mode: UFFDIO_REGISTER_MODE_MISSING,
            ioctls: 0,
        };
        // SAFETY: UFFDIO_REGISTER reads and writes one uffdio_register; the
        // range is the mapping just made.
        let rc = unsafe { libc::ioctl(uffd.as_raw_fd(), UFFDIO_REGISTER, &mut reg) };
        assert_eq!(
            rc,
            0,
            "UFFDIO_REGISTER: {}",
            std::io::Error::last_os_error()
        );
        FaultPages {
            uffd: Some(uffd),
            base: base.cast(),
            pages,
        }
    }

    fn page(&self, i: usize) -> *mut u8 {
        assert!(i < self.pages);
        self.base.wrapping_add(i * PAGE)
    }

    /// The page index of the next fault, waiting at most `timeout`.
    fn next_fault(&self, timeout: Duration) -> Option<usize> {
        let fd = self.uffd.as_ref().unwrap().as_raw_fd();
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd on this stack frame.
        let n = unsafe { libc::poll(&mut pfd, 1, timeout.as_millis() as i32) };
        if n <= 0 {
            return None;
        }
        let mut msg = [0u8; 32];
        // SAFETY: reads at most 32 bytes (one uffd_msg) into `msg`.
        let got = unsafe { libc::read(fd, msg.as_mut_ptr().cast(), 32) };
        assert_eq!(got, 32);
        assert_eq!(msg[0], UFFD_EVENT_PAGEFAULT);
        let addr = u64::from_ne_bytes(msg[16..24].try_into().unwrap()) as usize;
        Some((addr - self.base as usize) / PAGE)
    }

    /// Resolve the fault on page `i` by filling it with `fill`.
    fn resolve(&self, i: usize, fill: u8) {
        let src = vec![fill; PAGE];
        let mut copy = UffdioCopy {
            dst: self.page(i) as u64,
            src: src.as_ptr() as u64,
            len: PAGE as u64,
            mode: 0,
            copy: 0,
        };
        // SAFETY: UFFDIO_COPY reads PAGE bytes at `src` (a live Vec) into the
        // registered page `i` and writes the struct.
        let rc = unsafe {
            libc::ioctl(
                self.uffd.as_ref().unwrap().as_raw_fd(),
                UFFDIO_COPY,
                &mut copy,
            )
        };
        assert_eq!(rc, 0, "UFFDIO_COPY: {}", std::io::Error::last_os_error());
    }
}

impl Drop for FaultPages {
    fn drop(&mut self) {
        // Closing the userfaultfd lets blocked faults go on.
        drop(self.uffd.take());
        // SAFETY: the mapping made in `new`; no request uses it any more
        // (every test waits for its requests before dropping this, or the
        // context — dropped after this — waits for them).
        unsafe { libc::munmap(self.base.cast(), self.pages * PAGE) };
    }
}

/// Eight reads of one regular file, submitted without waiting, are all in
/// flight at once: eight page faults are outstanding together (glibc would
/// run them one after the other).
#[test]
fn reads_on_one_seekable_fd_run_concurrently() {
    const N: usize = 8;
    reads_run_concurrently(Aio::builder().inline(false).workers(N).build().unwrap(), N);
}

/// Cached reads larger than the inline budget go to a worker unprobed, to
/// overlap their copies: with the default pools (the small file pool is
/// for probed misses; the copy pool has at least four workers) four of them
/// are in flight at once.
#[test]
fn reads_beyond_the_inline_budget_run_concurrently() {
    reads_run_concurrently(Aio::builder().inline_budget(0).build().unwrap(), 4);
}

/// `N` reads of one cached file into pages that fault (userfaultfd), all
/// submitted before any is resolved: `N` faults are outstanding together.
fn reads_run_concurrently(ctx: Aio, n: usize) {
    let pages = FaultPages::new(n);
    let mut file = temp_file("conc", false);
    let content: Vec<u8> = (0..n * PAGE).map(|i| (i / PAGE) as u8 + 1).collect();
    file.write_all(&content).unwrap();
    let fd = file.as_raw_fd();
    let mut cbs: Vec<libc::aiocb> = (0..n)
        .map(|i| cb(fd, pages.page(i), PAGE, (i * PAGE) as i64))
        .collect();
    for c in &mut cbs {
        // SAFETY: `cbs` and the pages outlive the requests (waited for below).
        unsafe { ctx.read(c) }.unwrap();
    }
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < n {
        match pages.next_fault(Duration::from_secs(10)) {
            Some(p) => {
                seen.insert(p);
            }
            None => panic!("only {} of {n} reads were in flight at once", seen.len()),
        }
    }
    assert_eq!(ctx.held(), 0);
    for i in 0..n {
        pages.resolve(i, 0);
    }
    for (i, c) in cbs.iter_mut().enumerate() {
        // SAFETY: a request of this context on a live aiocb.
        assert_eq!(unsafe { finish(c) }, Ok(PAGE as isize));
        // SAFETY: the page is mapped and the read into it completed.
        let got = unsafe { std::slice::from_raw_parts(pages.page(i), PAGE) };
        assert_eq!(got, &content[i * PAGE..(i + 1) * PAGE]);
    }
}

/// Writes to an `O_APPEND` file run one at a time in submission order: while
/// the first is blocked, the others are held (one fault, never two), and the
/// file ends up in submission order.
#[test]
fn append_writes_keep_submission_order() {
    const N: usize = 5;
    let ctx = Aio::builder().inline(false).build().unwrap();
    let pages = FaultPages::new(N);
    let mut file = temp_file("append", true);
    let fd = file.as_raw_fd();
    let mut cbs: Vec<libc::aiocb> = (0..N).map(|i| cb(fd, pages.page(i), PAGE, 0)).collect();
    for c in &mut cbs {
        // SAFETY: `cbs` and the pages outlive the requests.
        unsafe { ctx.write(c) }.unwrap();
    }
    for i in 0..N {
        assert_eq!(
            pages.next_fault(Duration::from_secs(10)),
            Some(i),
            "write {i} runs next"
        );
        assert_eq!(ctx.held(), N - 1 - i);
        // No other write runs meanwhile.
        assert_eq!(pages.next_fault(Duration::from_millis(100)), None);
        pages.resolve(i, b'a' + i as u8);
    }
    for c in &mut cbs {
        // SAFETY: a request of this context on a live aiocb.
        assert_eq!(unsafe { finish(c) }, Ok(PAGE as isize));
    }
    let mut all = Vec::new();
    std::io::Seek::rewind(&mut file).unwrap();
    file.read_to_end(&mut all).unwrap();
    let want: Vec<u8> = (0..N).flat_map(|i| [b'a' + i as u8; PAGE]).collect();
    assert_eq!(all, want);
}

/// An `aio_fsync` waits for the write submitted before it on its descriptor
/// (it is held while the write is blocked), and runs once it completed.
#[test]
fn fsync_waits_for_earlier_requests() {
    let ctx = Aio::builder().inline(false).build().unwrap();
    let pages = FaultPages::new(1);
    let file = temp_file("fsync", false);
    let fd = file.as_raw_fd();
    let mut w = cb(fd, pages.page(0), PAGE, 0);
    let mut s = cb(fd, std::ptr::null_mut(), 0, 0);
    // SAFETY: both aiocbs and the page outlive the requests.
    unsafe {
        ctx.write(&mut w).unwrap();
        ctx.fsync(libc::O_DSYNC, &mut s).unwrap();
    }
    assert_eq!(pages.next_fault(Duration::from_secs(10)), Some(0));
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(ctx.held(), 1, "the fsync waits");
    // SAFETY: a live aiocb.
    assert_eq!(unsafe { aio::aio_error(&s) }, Ok(libc::EINPROGRESS));
    pages.resolve(0, b'z');
    // SAFETY: requests of this context on live aiocbs.
    unsafe {
        assert_eq!(finish(&mut s), Ok(0));
        assert_eq!(finish(&mut w), Ok(PAGE as isize));
    }
    assert_eq!(ctx.held(), 0);
}

fn pipe() -> (File, File) {
    let mut p = [0; 2];
    // SAFETY: pipe2 writes two descriptors into `p`.
    assert_eq!(unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: two fresh descriptors nobody else owns.
    unsafe { (File::from_raw_fd(p[0]), File::from_raw_fd(p[1])) }
}

/// Reads of a pipe run one at a time in submission order (the rest are
/// held), each getting the next chunk; writes to it likewise.
#[test]
fn pipe_requests_keep_submission_order() {
    const N: usize = 6;
    let ctx = Aio::new();
    let (mut r, mut w) = pipe();
    let mut bufs = [[0u8; 3]; N];
    let mut cbs: Vec<libc::aiocb> = bufs
        .iter_mut()
        .map(|b| cb(r.as_raw_fd(), b.as_mut_ptr(), 3, 0))
        .collect();
    for c in &mut cbs {
        // SAFETY: `cbs` and `bufs` outlive the requests.
        unsafe { ctx.read(c) }.unwrap();
    }
    assert_eq!(ctx.held(), N - 1);
    for (i, c) in cbs.iter_mut().enumerate() {
        w.write_all(format!("{i:03}").as_bytes()).unwrap();
        // SAFETY: a request of this context on a live aiocb.
        assert_eq!(unsafe { finish(c) }, Ok(3));
    }
    for (i, b) in bufs.iter().enumerate() {
        assert_eq!(b, format!("{i:03}").as_bytes());
    }
    let mut out: Vec<[u8; 3]> = (0..N)
        .map(|i| *format!("{i:03}").as_bytes().first_chunk().unwrap())
        .collect();
    let mut wcbs: Vec<libc::aiocb> = out
        .iter_mut()
        .map(|b| cb(w.as_raw_fd(), b.as_mut_ptr(), 3, 0))
        .collect();
    for c in &mut wcbs {
        // SAFETY: as above.
        unsafe { ctx.write(c) }.unwrap();
    }
    for c in &mut wcbs {
        // SAFETY: as above.
        assert_eq!(unsafe { finish(c) }, Ok(3));
    }
    let mut got = vec![0u8; 3 * N];
    r.read_exact(&mut got).unwrap();
    let want: Vec<u8> = (0..N)
        .flat_map(|i| format!("{i:03}").into_bytes())
        .collect();
    assert_eq!(got, want);
}

/// A cached read completes inside `read` (no hand-off); with `inline(false)`
/// it goes to a worker first.
#[test]
fn cached_reads_complete_inline() {
    let mut file = temp_file("inline", false);
    file.write_all(&[7u8; 100]).unwrap();
    let mut buf = [0u8; 100];
    let mut c = cb(file.as_raw_fd(), buf.as_mut_ptr(), 100, 0);
    let ctx = Aio::new();
    // SAFETY: `c` and `buf` outlive the request (it is done on return).
    unsafe {
        ctx.read(&mut c).unwrap();
        assert_eq!(aio::aio_error(&c), Ok(0), "done before read returned");
        assert_eq!(aio::aio_return(&mut c), Ok(100));
    }
    assert_eq!(ctx.workers(), 0, "no thread was needed");
    assert_eq!(buf, [7u8; 100]);
}

/// More requests than the limit: the one too many is `EAGAIN` and its aiocb
/// is not touched; cancelling the held ones frees room.
#[test]
fn eagain_at_the_request_limit() {
    let ctx = Aio::builder().max_requests(4).build().unwrap();
    let (r, mut w) = pipe();
    let mut bufs = [[0u8; 1]; 5];
    let mut cbs: Vec<libc::aiocb> = bufs
        .iter_mut()
        .map(|b| cb(r.as_raw_fd(), b.as_mut_ptr(), 1, 0))
        .collect();
    for c in &mut cbs[..4] {
        // SAFETY: `cbs` and `bufs` outlive the requests.
        unsafe { ctx.read(c) }.unwrap();
    }
    // SAFETY: as above.
    unsafe {
        assert_eq!(ctx.read(&mut cbs[4]), Err(Errno::EAGAIN));
        assert_eq!(
            aio::aio_error(&cbs[4]),
            Err(Errno::EINVAL),
            "never submitted"
        );
        assert_eq!(ctx.cancel(r.as_raw_fd(), &mut cbs[3]), Ok(Cancel::Canceled));
        assert_eq!(aio::aio_error(&cbs[3]), Ok(libc::ECANCELED));
        // Finished but not returned: it still counts against the limit.
        assert_eq!(ctx.read(&mut cbs[4]), Err(Errno::EAGAIN));
        assert_eq!(aio::aio_return(&mut cbs[3]), Ok(-1));
        ctx.read(&mut cbs[4]).unwrap();
    }
    w.write_all(b"abcd").unwrap();
    for i in [0, 1, 2, 4] {
        // SAFETY: requests of this context on live aiocbs.
        assert_eq!(unsafe { finish(&mut cbs[i]) }, Ok(1));
    }
    assert_eq!(bufs.concat(), b"abc\0d");
}

/// Notifications of the stress test and of the direct-I/O test, counted
/// apart: the two run at the same time.
static NOTIFIED: AtomicUsize = AtomicUsize::new(0);
static NOTIFIED_DIRECT: AtomicUsize = AtomicUsize::new(0);

/// A `SIGEV_THREAD` function that counts into the `AtomicUsize` its value
/// points to.
extern "C" fn count(value: libc::sigval) {
    // SAFETY: every request with this function has a pointer to one of the
    // statics above as its value.
    unsafe { &*(value.sival_ptr as *const AtomicUsize) }.fetch_add(1, Ordering::SeqCst);
}

/// The value `count` expects for `counter`.
fn counter_value(counter: &'static AtomicUsize) -> *mut libc::c_void {
    counter as *const AtomicUsize as *mut libc::c_void
}

/// 1600 requests from four threads on a file and pipes, all through
/// workers, with a small request limit (`EAGAIN` is retried) and a thread
/// notification each: every request completes with the right result and
/// every notification is delivered — no completion is lost.
#[test]
fn no_completion_is_lost() {
    const THREADS: usize = 4;
    const PER: usize = 400;
    // Every request goes through a worker and the ring, so the request
    // limit is reached (EAGAIN, retried) and the completion thread is busy.
    let ctx = Aio::builder()
        .inline(false)
        .max_requests(16)
        .workers(8)
        .build()
        .unwrap();
    let mut file = temp_file("stress", false);
    let content: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    file.write_all(&content).unwrap();
    let before = NOTIFIED.load(Ordering::SeqCst);
    let eagain = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (ctx, file, content, eagain) = (&ctx, &file, &content, &eagain);
            s.spawn(move || {
                let (mut pr, mut pw) = pipe();
                let mut bufs = vec![[0u8; 64]; PER];
                let mut cbs: Vec<libc::aiocb> = Vec::with_capacity(PER);
                for (i, b) in bufs.iter_mut().enumerate() {
                    let off = ((t * 7919 + i * 131) % (content.len() - 64)) as i64;
                    let mut c = cb(file.as_raw_fd(), b.as_mut_ptr(), 64, off);
                    if i % 4 == 3 {
                        c.aio_fildes = pr.as_raw_fd();
                    }
                    c.aio_sigevent = aio::sigevent_thread(count, counter_value(&NOTIFIED));
                    cbs.push(c);
                }
                // Requests count against the limit until returned: on
                // EAGAIN, return this thread's oldest (waiting for it).
                let mut returned = 0;
                let check = |cbs: &mut [libc::aiocb], bufs: &[[u8; 64]], i: usize| {
                    // SAFETY: a request of this context on a live aiocb.
                    assert_eq!(unsafe { finish(&mut cbs[i]) }, Ok(64), "request {i}");
                    let want: &[u8] = if i % 4 == 3 {
                        &[i as u8; 64]
                    } else {
                        let off = (t * 7919 + i * 131) % (content.len() - 64);
                        &content[off..off + 64]
                    };
                    assert_eq!(&bufs[i][..], want, "data of request {i}");
                };
                for i in 0..PER {
                    if i % 4 == 3 {
                        pw.write_all(&[i as u8; 64]).unwrap();
                    }
                    loop {
                        // SAFETY: `cbs` (never reallocated) and `bufs` outlive
                        // the requests: all are waited for below.
                        match unsafe { ctx.read(&mut cbs[i]) } {
                            Ok(()) => break,
                            Err(Errno::EAGAIN) => {
                                eagain.fetch_add(1, Ordering::Relaxed);
                                if returned < i {
                                    check(&mut cbs, &bufs, returned);
                                    returned += 1;
                                } else {
                                    // The other threads hold the limit.
                                    std::thread::sleep(Duration::from_millis(1));
                                }
                            }
                            Err(e) => panic!("read: {e}"),
                        }
                    }
                }
                for i in returned..PER {
                    check(&mut cbs, &bufs, i);
                }
                let mut rest = Vec::new();
                drop(pw);
                pr.read_to_end(&mut rest).unwrap();
                assert!(rest.is_empty());
            });
        }
    });
    // Notifications run on the notifier thread after publication: wait a bit.
    let deadline = Instant::now() + Duration::from_secs(10);
    while NOTIFIED.load(Ordering::SeqCst) - before < THREADS * PER && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(NOTIFIED.load(Ordering::SeqCst) - before, THREADS * PER);
    eprintln!("EAGAIN retried {} times", eagain.load(Ordering::Relaxed));
    assert_eq!(ctx.in_flight(), 0);
}

/// Reads of pipes that wait for ever have a worker pool of their own: with
/// two workers per pool, four blocked pipe reads do not keep a file read
/// (sent to a worker with `inline(false)`) from completing.
#[test]
fn blocked_pipes_do_not_starve_file_io() {
    let ctx = Aio::builder().workers(2).inline(false).build().unwrap();
    let pipes: Vec<(File, File)> = (0..4).map(|_| pipe()).collect();
    let mut pbufs = [[0u8; 1]; 4];
    let mut pcbs: Vec<libc::aiocb> = pipes
        .iter()
        .zip(pbufs.iter_mut())
        .map(|((r, _), b)| cb(r.as_raw_fd(), b.as_mut_ptr(), 1, 0))
        .collect();
    for c in &mut pcbs {
        // SAFETY: `pcbs` and `pbufs` outlive the requests (completed below).
        unsafe { ctx.read(c) }.unwrap();
    }
    let mut file = temp_file("starve", false);
    file.write_all(b"file data").unwrap();
    let mut buf = [0u8; 9];
    let mut fcb = cb(file.as_raw_fd(), buf.as_mut_ptr(), 9, 0);
    // SAFETY: `fcb` and `buf` outlive the request.
    unsafe {
        ctx.read(&mut fcb).unwrap();
        assert_eq!(finish(&mut fcb), Ok(9), "the file read completes");
    }
    assert_eq!(&buf, b"file data");
    for (i, (_, w)) in pipes.iter().enumerate() {
        (&*w).write_all(&[i as u8]).unwrap();
        // SAFETY: a request of this context on a live aiocb.
        assert_eq!(unsafe { finish(&mut pcbs[i]) }, Ok(1));
    }
}

/// Block `signo` in this thread (so that it waits for it with `sigtimedwait`).
fn block_signal(signo: i32) -> libc::sigset_t {
    // SAFETY: sigset_t is a plain bit set; sigemptyset initialises it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t; pthread_sigmask only changes this
    // thread's mask.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, signo);
        assert_eq!(
            libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()),
            0
        );
    }
    set
}

/// Requests that went to a worker are published by that worker (the
/// executor's completion hook), not relayed by the completion thread, and a
/// `SIGEV_SIGNAL` notification is queued from the worker (its seccomp filter
/// allows `rt_tgsigqueueinfo` to this process): every request completes with
/// its data, every signal arrives once with its value and `SI_ASYNCIO`.
#[test]
fn workers_publish_their_own_completions() {
    const N: usize = 4;
    let ctx = Aio::builder().inline(false).workers(N).build().unwrap();
    let mut file = temp_file("hook", false);
    let content: Vec<u8> = (0..N * PAGE).map(|i| (i % 253) as u8).collect();
    file.write_all(&content).unwrap();
    let pages = FaultPages::new(N);
    let signo = libc::SIGRTMIN() + 3;
    let set = block_signal(signo);
    // SAFETY: gettid takes no arguments.
    let tid = unsafe { libc::syscall(libc::SYS_gettid) } as i32;
    let mut cbs: Vec<libc::aiocb> = (0..N)
        .map(|i| {
            let mut c = cb(file.as_raw_fd(), pages.page(i), PAGE, (i * PAGE) as i64);
            c.aio_sigevent = aio::sigevent_signal(signo, (i + 1) as *mut libc::c_void);
            c.aio_sigevent.sigev_notify = libc::SIGEV_THREAD_ID;
            c.aio_sigevent.sigev_notify_thread_id = tid;
            c
        })
        .collect();
    let before = ctx.completed_by_workers();
    for c in &mut cbs {
        // SAFETY: `cbs` and `pages` outlive the requests (waited for below).
        unsafe { ctx.read(c) }.unwrap();
    }
    // Every request is registered (read returned) and its worker blocked in
    // the fault on its buffer: let them go on.
    for _ in 0..N {
        let i = pages
            .next_fault(Duration::from_secs(10))
            .expect("a worker faults on its buffer");
        pages.resolve(i, 0);
    }
    for (i, c) in cbs.iter_mut().enumerate() {
        // SAFETY: a request of this context on a live aiocb.
        assert_eq!(unsafe { finish(c) }, Ok(PAGE as isize), "request {i}");
        // SAFETY: the page was resolved and the read wrote it.
        let got = unsafe { std::slice::from_raw_parts(pages.page(i), PAGE) };
        assert_eq!(
            got,
            &content[i * PAGE..(i + 1) * PAGE],
            "data of request {i}"
        );
    }
    assert_eq!(ctx.completed_by_workers() - before, N as u64);
    let mut values = Vec::new();
    for _ in 0..N {
        // SAFETY: siginfo_t is plain data; sigtimedwait fills it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let ts = libc::timespec {
            tv_sec: 10,
            tv_nsec: 0,
        };
        // SAFETY: `set`, `info` and `ts` are valid for the call.
        let got = unsafe { libc::sigtimedwait(&set, &mut info, &ts) };
        assert_eq!(got, signo, "{}", std::io::Error::last_os_error());
        assert_eq!(info.si_code, libc::SI_ASYNCIO);
        // SAFETY: a queued signal's siginfo carries si_value.
        values.push(unsafe { info.si_value() }.sival_ptr as usize);
    }
    values.sort_unstable();
    assert_eq!(values, (1..=N).collect::<Vec<_>>());
}

/// Under the completion hook, cancellation and drop still complete every
/// request exactly once: `aio_cancel` on a descriptor with two requests
/// running on workers (blocked in faults) and six queued cancels the six
/// (`ECANCELED` at once) and reports the two as not cancelled; they complete
/// normally, published by their workers. Then a context is dropped with the
/// same mix in flight: the drop cancels the queued ones, waits for the
/// running ones (delivered by their workers while it waits), and leaves no
/// request in progress.
#[test]
fn cancel_and_drop_with_worker_completions_in_flight() {
    const N: usize = 8;
    const RUNNING: usize = 2;
    let mut file = temp_file("hook-cancel", false);
    file.write_all(&vec![7u8; N * PAGE]).unwrap();
    for round in 0..2 {
        let ctx = Aio::builder()
            .inline(false)
            .workers(RUNNING)
            .build()
            .unwrap();
        let pages = FaultPages::new(N);
        let mut cbs: Vec<libc::aiocb> = (0..N)
            .map(|i| cb(file.as_raw_fd(), pages.page(i), PAGE, (i * PAGE) as i64))
            .collect();
        for c in &mut cbs {
            // SAFETY: `cbs` and `pages` outlive the requests (waited for
            // below, or by the drop of `ctx`).
            unsafe { ctx.read(c) }.unwrap();
        }
        let running: Vec<usize> = (0..RUNNING)
            .map(|_| pages.next_fault(Duration::from_secs(10)).expect("a fault"))
            .collect();
        assert_eq!(pages.next_fault(Duration::from_millis(100)), None);
        let before = ctx.completed_by_workers();
        if round == 0 {
            // SAFETY: NULL: every request on the descriptor.
            let canceled = unsafe { ctx.cancel(file.as_raw_fd(), std::ptr::null_mut()) };
            assert_eq!(canceled, Ok(Cancel::NotCanceled));
            for (i, c) in cbs.iter().enumerate() {
                // SAFETY: a request of this context on a live aiocb.
                let e = unsafe { aio::aio_error(c) };
                if running.contains(&i) {
                    assert_eq!(e, Ok(libc::EINPROGRESS), "request {i}");
                } else {
                    assert_eq!(e, Ok(libc::ECANCELED), "request {i}");
                }
            }
            for &i in &running {
                pages.resolve(i, 0);
            }
            for &i in &running {
                // SAFETY: a request of this context on a live aiocb.
                assert_eq!(unsafe { finish(&mut cbs[i]) }, Ok(PAGE as isize));
            }
            assert_eq!(ctx.completed_by_workers() - before, RUNNING as u64);
            assert_eq!(ctx.in_flight(), 0);
        } else {
            let dropper = std::thread::spawn(move || drop(ctx));
            // The drop cancels the queued requests before it waits for the
            // running ones: resolve only then, or a worker freed by the
            // resolve takes a queued request and faults on its page, which
            // nobody resolves (a hang on a loaded machine, where the dropper
            // may start late).
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            for (i, c) in cbs.iter().enumerate().filter(|(i, _)| !running.contains(i)) {
                // SAFETY: a live aiocb of a request of this round.
                while unsafe { aio::aio_error(c) } != Ok(libc::ECANCELED) {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "request {i} not canceled"
                    );
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            for &i in &running {
                pages.resolve(i, 0);
            }
            dropper.join().unwrap();
            for (i, c) in cbs.iter().enumerate() {
                // SAFETY: the request's aiocb; its context is gone, its
                // outcome stays in the aiocb.
                let e = unsafe { aio::aio_error(c) };
                if running.contains(&i) {
                    assert_eq!(e, Ok(0), "request {i}");
                } else {
                    assert_eq!(e, Ok(libc::ECANCELED), "request {i}");
                }
            }
        }
    }
}

/// A page-aligned buffer (`O_DIRECT` needs aligned memory).
struct Aligned {
    ptr: *mut u8,
    len: usize,
}

impl Aligned {
    fn new(len: usize) -> Aligned {
        let layout = std::alloc::Layout::from_size_align(len, PAGE).unwrap();
        // SAFETY: a non-zero size (the tests ask for at least a page).
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        assert!(!ptr.is_null());
        Aligned { ptr, len }
    }

    fn at(&self, off: usize) -> *mut u8 {
        assert!(off <= self.len);
        // SAFETY: within the allocation.
        unsafe { self.ptr.add(off) }
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: `len` initialised bytes (zeroed at allocation), not written
        // while this borrow lives (the tests read it once requests are done).
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl Drop for Aligned {
    fn drop(&mut self) {
        let layout = std::alloc::Layout::from_size_align(self.len, PAGE).unwrap();
        // SAFETY: allocated with this layout in `new`.
        unsafe { std::alloc::dealloc(self.ptr, layout) };
    }
}

/// A file of `len` bytes of a pattern, on a disk-backed file system (the
/// target directory), opened again with `O_DIRECT`. Fails loudly when the
/// file system refuses `O_DIRECT` (tmpfs before Linux 6.6).
fn direct_file(tag: &str, len: usize) -> (File, Vec<u8>) {
    use std::os::unix::fs::OpenOptionsExt;
    let p = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("syslets-aio-{tag}-{}", std::process::id()));
    let content: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&p, &content).unwrap();
    File::open(&p).unwrap().sync_all().unwrap();
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(&p)
        .unwrap_or_else(|e| panic!("O_DIRECT on {}: {e}", p.display()));
    std::fs::remove_file(&p).unwrap();
    (f, content)
}

/// `O_DIRECT` reads and writes with the kernel queue and without it: the
/// same data and return values (short read at the end of the file, 0 past
/// it, what `pread` gives for an unaligned buffer), with a
/// `SIGEV_THREAD` notification for every request; with the kernel queue the
/// requests were queued in the kernel (io_submit), without it none was.
#[test]
fn direct_requests_with_and_without_the_kernel_queue() {
    const N: usize = 16;
    let len = N * PAGE - 100;
    for kernel in [true, false] {
        let (file, content) = direct_file(&format!("direct-{kernel}"), len);
        let ctx = Aio::builder().kernel_aio(kernel).build().unwrap();
        let buf = Aligned::new((N + 2) * PAGE);
        let before = NOTIFIED_DIRECT.load(Ordering::SeqCst);
        let mut cbs: Vec<libc::aiocb> = (0..N + 1)
            .map(|i| {
                let mut c = cb(file.as_raw_fd(), buf.at(i * PAGE), PAGE, (i * PAGE) as i64);
                c.aio_sigevent = aio::sigevent_thread(count, counter_value(&NOTIFIED_DIRECT));
                c
            })
            .collect();
        // An unaligned buffer: whatever pread says (EINVAL, unless the
        // device takes any memory alignment).
        let mut bad = cb(file.as_raw_fd(), buf.at(N * PAGE + PAGE + 1), 512, 0);
        // SAFETY: 512 bytes of `buf`, not used by any request yet.
        let plain = unsafe { libc::pread(file.as_raw_fd(), bad.aio_buf, 512, 0) };
        let plain = if plain < 0 {
            Err(Errno::from_raw(
                std::io::Error::last_os_error().raw_os_error().unwrap(),
            ))
        } else {
            Ok(plain)
        };
        for c in cbs.iter_mut().chain([&mut bad]) {
            // SAFETY: `cbs`, `bad` and `buf` outlive the requests.
            unsafe { ctx.read(c) }.unwrap();
        }
        for (i, c) in cbs.iter_mut().enumerate() {
            let want = match i {
                i if i < N - 1 => PAGE as isize,
                i if i == N - 1 => (PAGE - 100) as isize,
                _ => 0,
            };
            // SAFETY: a request of this context on a live aiocb.
            assert_eq!(unsafe { finish(c) }, Ok(want), "kernel {kernel}: read {i}");
        }
        // SAFETY: as above.
        assert_eq!(unsafe { finish(&mut bad) }, plain, "kernel {kernel}");
        assert_eq!(&buf.bytes()[..len], &content[..], "kernel {kernel}");
        // Overwrite two pages with direct writes, read them back.
        let out = Aligned::new(2 * PAGE);
        // SAFETY: `out` is ours; no request uses it yet.
        unsafe { std::ptr::write_bytes(out.at(0), 0xA5, 2 * PAGE) };
        let mut w = cb(file.as_raw_fd(), out.at(0), 2 * PAGE, PAGE as i64);
        // SAFETY: `w` and `out` outlive the request.
        unsafe {
            ctx.write(&mut w).unwrap();
            assert_eq!(finish(&mut w), Ok(2 * PAGE as isize));
        }
        let back = Aligned::new(2 * PAGE);
        let mut r = cb(file.as_raw_fd(), back.at(0), 2 * PAGE, PAGE as i64);
        // SAFETY: as above.
        unsafe {
            ctx.read(&mut r).unwrap();
            assert_eq!(finish(&mut r), Ok(2 * PAGE as isize));
        }
        assert!(back.bytes().iter().all(|&b| b == 0xA5), "kernel {kernel}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while NOTIFIED_DIRECT.load(Ordering::SeqCst) - before < N + 1 {
            assert!(Instant::now() < deadline, "notifications missing");
            std::thread::sleep(Duration::from_millis(1));
        }
        if kernel {
            assert!(
                ctx.kernel_requests() > 0,
                "nothing went to the kernel queue"
            );
        } else {
            assert_eq!(ctx.kernel_requests(), 0);
        }
    }
}

/// Requests in the kernel queue cannot be cancelled: `aio_cancel` says
/// `AIO_NOTCANCELED` (or `AIO_ALLDONE` once they finished), and every one of
/// them then completes normally; dropping a context with direct requests in
/// flight waits for them.
#[test]
fn direct_requests_are_not_cancelled_and_drop_waits_for_them() {
    const N: usize = 32;
    let (file, content) = direct_file("direct-cancel", N * PAGE);
    for round in 0..2 {
        let ctx = Aio::new();
        let buf = Aligned::new(N * PAGE);
        let mut cbs: Vec<libc::aiocb> = (0..N)
            .map(|i| cb(file.as_raw_fd(), buf.at(i * PAGE), PAGE, (i * PAGE) as i64))
            .collect();
        for c in &mut cbs {
            // SAFETY: `cbs` and `buf` outlive the requests.
            unsafe { ctx.read(c) }.unwrap();
        }
        if round == 0 {
            // SAFETY: NULL: every request on the descriptor.
            let answer = unsafe { ctx.cancel(file.as_raw_fd(), std::ptr::null_mut()) };
            assert!(
                matches!(answer, Ok(Cancel::NotCanceled | Cancel::AllDone)),
                "{answer:?}"
            );
            for c in &mut cbs {
                // SAFETY: a request of this context on a live aiocb.
                assert_eq!(unsafe { finish(c) }, Ok(PAGE as isize));
            }
        } else {
            drop(ctx);
            for c in &cbs {
                // SAFETY: the request's aiocb; its outcome stays there.
                assert_eq!(unsafe { aio::aio_error(c) }, Ok(0));
            }
        }
        assert_eq!(buf.bytes(), &content[..]);
    }
}

/// The inline byte budget: the members of a `lio_listio(LIO_NOWAIT)` of
/// cached reads that fit the budget complete inside the call, the rest go to
/// workers (a thread is started for them) and complete with the right bytes;
/// with an unlimited budget the same list completes inline, without a thread.
#[test]
fn the_inline_byte_budget_sends_the_rest_of_a_list_to_workers() {
    const PART: usize = 128 * 1024;
    const PARTS: usize = 8;
    let mut file = temp_file("budget", false);
    let data: Vec<u8> = (0..PART * PARTS)
        .map(|i| (i / PART * 31 + i % 251) as u8)
        .collect();
    file.write_all(&data).unwrap();
    // Just written: the pages are cached.
    for (budget, inline_parts) in [(2 * PART, 2), (usize::MAX, PARTS)] {
        let ctx = Aio::builder().inline_budget(budget).build().unwrap();
        let mut bufs = vec![vec![0u8; PART]; PARTS];
        let mut cbs: Vec<libc::aiocb> = bufs
            .iter_mut()
            .enumerate()
            .map(|(k, b)| {
                let mut c = cb(file.as_raw_fd(), b.as_mut_ptr(), PART, (k * PART) as i64);
                c.aio_lio_opcode = libc::LIO_READ;
                c
            })
            .collect();
        let list: Vec<*mut libc::aiocb> = cbs.iter_mut().map(|c| c as *mut _).collect();
        // SAFETY: the aiocbs and buffers outlive the requests (each is
        // finished below before they are dropped).
        unsafe { ctx.lio_listio(libc::LIO_NOWAIT, &list, None).unwrap() };
        for (k, &c) in list.iter().enumerate().take(inline_parts) {
            // SAFETY: `c` is a request of this context.
            let state = unsafe { aio::aio_error(c) };
            assert_eq!(
                state,
                Ok(0),
                "budget {budget}: member {k} within the budget is done"
            );
        }
        for &c in &list {
            // SAFETY: as above.
            assert_eq!(unsafe { finish(c) }, Ok(PART as isize));
        }
        for (k, b) in bufs.iter().enumerate() {
            assert!(
                b[..] == data[k * PART..][..PART],
                "budget {budget}: member {k} bytes"
            );
        }
        if inline_parts == PARTS {
            assert_eq!(ctx.workers(), 0, "an unlimited budget needs no thread");
        } else {
            assert!(
                ctx.workers() > 0,
                "members beyond the budget went to a worker"
            );
        }
    }
}

#[test]
fn a_large_read_goes_to_a_worker_even_alone() {
    // Over the default budget, a cached read is copied on a worker so that
    // it overlaps with the caller's own work, even with nothing else in
    // flight (completing it inline would be faster for a caller that waits
    // at once, and would take that overlap from every other caller).
    const LEN: usize = 256 * 1024;
    let ctx = Aio::new();
    let mut file = temp_file("overlap", false);
    let data: Vec<u8> = (0..LEN).map(|i| (i % 253) as u8).collect();
    file.write_all(&data).unwrap();
    let mut buf = vec![0u8; LEN];
    let mut big = cb(file.as_raw_fd(), buf.as_mut_ptr(), LEN, 0);
    // SAFETY: `big` and `buf` outlive the request (finished below).
    unsafe {
        ctx.read(&mut big).unwrap();
        assert_eq!(finish(&mut big), Ok(LEN as isize));
    }
    assert_eq!(ctx.workers(), 1, "alone, a worker of its own");
    assert!(buf == data);
    // Within the budget the same file completes inline, with no new thread.
    let mut small = cb(file.as_raw_fd(), buf.as_mut_ptr(), 4096, 0);
    // SAFETY: as above.
    unsafe {
        ctx.read(&mut small).unwrap();
        assert_eq!(aio::aio_error(&small), Ok(0), "within the budget: inline");
        assert_eq!(finish(&mut small), Ok(4096));
    }
    assert_eq!(ctx.workers(), 1);
}
