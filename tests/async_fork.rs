//! After `fork()`, the child's copy of an executor refuses every call with a
//! clear error instead of hanging on workers that do not exist there, and a
//! new executor works in the child. Its own binary: forking a process with
//! many test threads is best avoided.

use std::time::{Duration, Instant};

use syslets::abi;
use syslets::opcode::Getpid;
use syslets::{Chain, Executor, ExecutorError, Policy, SubmitError, Submitted};

fn getpid_chain(flags: u16) -> syslets::ValidatedBatch<'static> {
    let mut chain = Chain::new();
    chain.push(Getpid::new());
    chain.set_flags(flags);
    chain.prepare(&Policy::default()).unwrap()
}

/// What the child checks; returns the exit code (0: all good).
fn child(parent_ex: Executor) -> i32 {
    match parent_ex.submit(getpid_chain(abi::BATCH_ASYNC)) {
        Err(SubmitError::Forked(_)) => {}
        _ => return 10,
    }
    if !matches!(parent_ex.reap(), Err(ExecutorError::Forked)) {
        return 11;
    }
    if !matches!(parent_ex.wait(1, None), Err(ExecutorError::Forked)) {
        return 12;
    }
    // Dropping the parent's executor must not hang (no join of threads that
    // do not exist here, no lock the parent held).
    drop(parent_ex);
    let fresh = Executor::new();
    if fresh.submit(getpid_chain(abi::BATCH_ASYNC)).is_err() {
        return 13;
    }
    if fresh.wait(1, Some(Duration::from_secs(10))).ok() != Some(1) {
        return 14;
    }
    let done = fresh.reap().unwrap();
    if done[0].completion().status() != std::process::id() as i64 {
        return 15;
    }
    0
}

#[test]
fn forked_child_gets_a_clear_error_and_can_start_afresh() {
    let ex = Executor::builder().max_workers(2).build().unwrap();
    // Make the parent's executor busy: workers exist, a completion is queued.
    ex.submit(getpid_chain(abi::BATCH_ASYNC)).unwrap();
    assert_eq!(ex.wait(1, Some(Duration::from_secs(10))).unwrap(), 1);
    assert!(ex.workers() >= 1);

    // SAFETY: fork() takes no pointer. The child only runs `child` and then
    // `_exit`, never returning into the test harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // A panic must not unwind into the harness's copy of this thread (which
        // would end the child with status 0): it is a failure too.
        let code =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| child(ex))).unwrap_or(99);
        // SAFETY: _exit ends the child at once, without running the parent's
        // atexit handlers or unwinding into the harness.
        unsafe { libc::_exit(code) };
    }

    // Parent: the child must finish, and must not hang.
    let end = Instant::now() + Duration::from_secs(30);
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid int on this stack frame.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert!(r >= 0, "waitpid failed");
        if r == pid {
            break;
        }
        if Instant::now() > end {
            // SAFETY: kill takes no pointer; `pid` is our child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the forked child hung");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(libc::WIFEXITED(status), "child died: status {status:#x}");
    assert_eq!(libc::WEXITSTATUS(status), 0, "child check failed");

    // The parent's executor is unaffected.
    assert_eq!(ex.reap().unwrap().len(), 1);
    match ex.submit(getpid_chain(0)).unwrap() {
        Submitted::Done(d) => assert_eq!(d.completion().status(), std::process::id() as i64),
        Submitted::Queued(_) => panic!("getpid completes inline"),
    }
}
