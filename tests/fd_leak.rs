//! No descriptor leaks on stopped chains: `/proc/self/fd` is compared before and
//! after. The tests share one lock because the descriptor table is process-wide.

use std::collections::BTreeSet;
use std::sync::Mutex;

use syslets::opcode::{Close, Fstat, Openat, Read, Socket};
use syslets::{Chain, Errno, Policy, Stat, Stop};

static FD_TABLE: Mutex<()> = Mutex::new(());

fn open_fds() -> BTreeSet<String> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

/// Run `f` and check that the process has exactly the same descriptors after it.
fn without_leaks(f: impl FnOnce()) {
    let _guard = FD_TABLE.lock().unwrap_or_else(|e| e.into_inner());
    let before = open_fds();
    f();
    assert_eq!(open_fds(), before, "descriptors leaked");
}

#[test]
fn a_missing_file_stops_at_the_open() {
    without_leaks(|| {
        let mut chain = Chain::new();
        let path = chain.path("/nonexistent/syslets");
        let st = chain.output::<Stat>();
        let fd = chain.push(Openat::new(libc::AT_FDCWD, path).stop_on(Stop::NEGATIVE));
        chain.push(Fstat::new(fd, st));
        chain.push(Close::new(fd));
        let mut batch = chain.prepare(&Policy::default()).unwrap();
        let done = *batch.run();
        assert_eq!(done.outcome(fd), Some(Err(Errno::ENOENT)));
        assert_eq!(done.atoms_run(), 1);
        assert!(batch.unclosed_fds().is_empty());
    });
}

#[test]
fn a_chain_whose_close_ignores_earlier_failures_never_leaks() {
    without_leaks(|| {
        // read() on a directory fails with EISDIR; without a stop flag on the read
        // the close still runs.
        let mut chain = Chain::new();
        let path = chain.path("/");
        let buf = chain.output_bytes(16);
        let fd = chain.push(
            Openat::new(libc::AT_FDCWD, path)
                .flags((libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) as u32)
                .stop_on(Stop::NEGATIVE),
        );
        let read = chain.push(Read::new(fd, buf));
        let close = chain.push(Close::new(fd));
        let mut batch = chain.prepare(&Policy::default()).unwrap();
        let done = *batch.run();
        assert_eq!(done.outcome(read), Some(Err(Errno::from_raw(libc::EISDIR))));
        assert_eq!(done.result(close), Some(0));
        assert!(batch.unclosed_fds().is_empty());
    });
}

#[test]
fn a_chain_stopped_before_its_close_reports_the_fd_and_hands_it_over() {
    without_leaks(|| {
        let mut chain = Chain::new();
        let path = chain.path("/");
        let buf = chain.output_bytes(16);
        let fd = chain.push(
            Openat::new(libc::AT_FDCWD, path)
                .flags((libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) as u32)
                .stop_on(Stop::NEGATIVE),
        );
        chain.push(Read::new(fd, buf).stop_on(Stop::NEGATIVE));
        let sock = chain.push(Socket::new(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
        ));
        chain.push(Close::new(fd));
        let mut batch = chain.prepare(&Policy::default()).unwrap();
        let done = *batch.run();
        assert!(done.stopped());
        assert!(!done.ran(sock));
        let raw = done.result(fd).unwrap() as i32;
        assert_eq!(batch.unclosed_fds(), vec![(fd, raw)]);
        assert!(
            open_fds().contains(&raw.to_string()),
            "still open until taken"
        );
        let taken = batch.take_fds();
        assert_eq!(taken.len(), 1);
        assert!(batch.take_fds().is_empty(), "handed out once");
        drop(taken);
    });
}

#[test]
fn reruns_do_not_accumulate_descriptors() {
    without_leaks(|| {
        let mut chain = Chain::new();
        let path = chain.path("/proc/self/exe");
        let st = chain.output::<Stat>();
        let fd = chain.push(Openat::new(libc::AT_FDCWD, path).stop_on(Stop::NEGATIVE));
        chain.push(Fstat::new(fd, st));
        chain.push(Close::new(fd));
        let mut batch = chain.prepare(&Policy::default()).unwrap();
        for _ in 0..1000 {
            assert_eq!(batch.run().atoms_run(), 3);
        }
    });
}
