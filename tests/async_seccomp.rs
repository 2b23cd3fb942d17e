//! Workers run under the seccomp filter generated from the executor's policy:
//! even a batch that passed a (wider) validation cannot reach a call outside
//! the executor's allowlist on a worker. Own binary: it creates workers whose
//! threads it inspects through /proc.

use std::time::Duration;

use syslets::abi::{self, nr};
use syslets::opcode::{Close, Gettid, Socket};
use syslets::{Chain, Executor, Policy, Submitted, ValidatedBatch};

/// Both tests create workers named "syslet-worker"; one at a time.
static WORKERS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn chain(flags: u16) -> ValidatedBatch<'static> {
    let mut chain = Chain::new();
    chain.push(Gettid::new());
    let sock = chain.push(Socket::new(
        libc::AF_UNIX,
        libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
    ));
    chain.push(Close::new(sock));
    chain.set_flags(flags);
    // Validated with the default policy, which allows socket.
    chain.prepare(&Policy::default()).unwrap()
}

/// `(Seccomp mode, SigBlk mask)` of every worker thread.
fn worker_status() -> Vec<(String, u64)> {
    let mut out = vec![];
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let dir = task.unwrap().path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim() != "syslet-worker" {
            continue;
        }
        let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
        let field = |name: &str| {
            let line = status.lines().find(|l| l.starts_with(name)).unwrap_or("");
            line.split_whitespace().last().unwrap_or("").to_string()
        };
        let sigblk = u64::from_str_radix(&field("SigBlk:"), 16).unwrap_or(0);
        out.push((field("Seccomp:"), sigblk));
    }
    out
}

#[test]
fn a_call_outside_the_executors_policy_is_eperm_on_a_worker_but_not_inline() {
    let _one_at_a_time = WORKERS.lock().unwrap_or_else(|e| e.into_inner());
    let ex = Executor::builder()
        .policy(Policy::default().deny(nr::SOCKET))
        .idle_timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    // Inline (SYNC): the caller's thread is not filtered.
    let Submitted::Done(done) = ex.submit(chain(abi::BATCH_SYNC)).unwrap() else {
        panic!("SYNC chains complete inline");
    };
    let results = done.completion().results();
    assert!(results[1] >= 0, "socket works inline: {results:?}");
    assert_eq!(results[2], 0, "and is closed");

    // On a worker (ASYNC): the filter answers EPERM for socket; gettid still works.
    let Submitted::Queued(ticket) = ex.submit(chain(abi::BATCH_ASYNC)).unwrap() else {
        panic!("ASYNC chains go to a worker");
    };
    ex.wait(1, Some(Duration::from_secs(20))).unwrap();
    let done = ex.reap().unwrap().pop().expect("one completion");
    assert_eq!(done.ticket(), ticket);
    let results = done.completion().results();
    assert!(results[0] > 0, "gettid is allowed: {results:?}");
    assert_eq!(
        results[1],
        -(libc::EPERM as i64),
        "socket is outside the filter"
    );
    assert_eq!(results[2], -(libc::EBADF as i64), "nothing to close");

    // Inspect a worker that is provably alive: one blocked reading a socket
    // pair until this test writes to it.
    let (mut tx, rx) = std::os::unix::net::UnixStream::pair().unwrap();
    let mut blocked = Chain::new();
    let buf = blocked.output_bytes(1);
    blocked.push(syslets::opcode::Read::new(
        std::os::fd::AsRawFd::as_raw_fd(&rx),
        buf,
    ));
    blocked.set_flags(abi::BATCH_ASYNC);
    let Submitted::Queued(_) = ex
        .submit(blocked.prepare(&Policy::default()).unwrap())
        .unwrap()
    else {
        panic!("ASYNC chains go to a worker");
    };
    // A worker is briefly unfiltered between its spawn and its first
    // instruction (it installs the filter before taking any job, which the
    // EPERM above shows); wait until the workers have settled. One that never
    // installs its filter keeps failing the assertions below.
    let settled = |w: &Vec<(String, u64)>| !w.is_empty() && w.iter().all(|(m, _)| m == "2");
    let mut workers = worker_status();
    for _ in 0..200 {
        if settled(&workers) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
        workers = worker_status();
    }
    assert!(!workers.is_empty(), "a worker thread exists");
    for (mode, sigblk) in &workers {
        assert_eq!(
            mode, "2",
            "every worker is in seccomp filter mode: {workers:?}"
        );
        // Workers never run the application's signal handlers.
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGUSR1, libc::SIGCHLD] {
            assert!(
                sigblk & (1 << (sig - 1)) != 0,
                "signal {sig} blocked on workers: {sigblk:#x}"
            );
        }
    }
    std::io::Write::write_all(&mut tx, b"x").unwrap();
    ex.wait(1, Some(Duration::from_secs(20))).unwrap();
    let done = ex
        .reap()
        .unwrap()
        .pop()
        .expect("the blocked read completed");
    assert_eq!(done.completion().results()[0], 1);
    // The test's own thread is not filtered.
    let me = std::fs::read_to_string("/proc/thread-self/status").unwrap();
    assert!(me.lines().any(|l| l == "Seccomp:\t0"), "{me}");
}

#[test]
fn the_completion_eventfd_stays_writable_for_filtered_workers() {
    let _one_at_a_time = WORKERS.lock().unwrap_or_else(|e| e.into_inner());
    let ex = Executor::builder().build().unwrap();
    // Attached after the filter was generated: it must be the reserved one.
    let efd = ex.attach_eventfd().unwrap();
    let Submitted::Queued(_) = ex.submit(chain(abi::BATCH_ASYNC)).unwrap() else {
        panic!("ASYNC chains go to a worker");
    };
    let mut pfd = libc::pollfd {
        fd: std::os::fd::AsRawFd::as_raw_fd(&efd),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `pfd` is one valid pollfd for the duration of the call.
    #[allow(unsafe_code)]
    let n = unsafe { libc::poll(&mut pfd, 1, 20_000) };
    assert_eq!(n, 1, "the worker's completion made the eventfd readable");
    let done = ex.reap().unwrap().pop().expect("one completion");
    let results = done.completion().results();
    assert!(
        results[0] > 0 && results[1] >= 0 && results[2] == 0,
        "{results:?}"
    );
}
