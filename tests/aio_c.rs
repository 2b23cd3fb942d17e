//! The C library's LD_PRELOAD-able POSIX AIO (crate `syslets-capi`, feature
//! `aio-preload`) against glibc: the C programs of
//! `tests/aio/` are built with the system `cc` (no `-lrt`: glibc ≥ 2.34 has
//! POSIX AIO in libc.so.6) and run twice, as they are (glibc's AIO) and with
//! `LD_PRELOAD` of `libsyslets.so`. Both runs must print exactly the
//! transcript in `tests/aio/<name>.expected`, and each run's stderr says which
//! implementation was in effect (the programs look up the library's marker
//! symbol `syslets_aio_active` with `dlsym`), so a preload that silently did
//! not take cannot pass.
//!
//! The library is built by the test itself: `cargo build -p syslets-capi
//! --features aio-preload` with `CARGO_TARGET_DIR=target/capi-aio` (a separate
//! target directory, so the outer cargo's lock is not contended), once per
//! test run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn work_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("aio-c");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `libsyslets.so` with the AIO exports, built once.
fn library() -> &'static Path {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        let target = manifest_dir().join("target").join("capi-aio");
        let out = Command::new(env!("CARGO"))
            .current_dir(manifest_dir())
            .args(["build", "-p", "syslets-capi", "--features", "aio-preload"])
            .arg("--quiet")
            .env("CARGO_TARGET_DIR", &target)
            .output()
            .expect("run cargo");
        assert!(
            out.status.success(),
            "building the aio-preload library failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lib = target.join("debug").join("libsyslets.so");
        assert!(lib.exists(), "{} was not built", lib.display());
        lib
    })
}

/// Build `tests/aio/<name>.c`.
fn program(name: &str) -> PathBuf {
    let src = manifest_dir().join("tests/aio").join(format!("{name}.c"));
    let exe = work_dir().join(name);
    let out = Command::new("cc")
        .args(["-std=gnu11", "-O1", "-Wall", "-Werror", "-pthread", "-o"])
        .arg(&exe)
        .arg(&src)
        .output()
        .expect("the system C compiler `cc` (Debian package gcc) is required");
    assert!(
        out.status.success(),
        "cc {name}.c failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

fn run(exe: &Path, preload: bool) -> Output {
    let mut cmd = Command::new("timeout");
    cmd.arg("60").arg(exe).current_dir(work_dir());
    cmd.env_remove("LD_PRELOAD");
    if preload {
        cmd.env("LD_PRELOAD", library());
    }
    cmd.output().expect("run a test program under timeout(1)")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Run `name` with glibc and with the library; both must print the expected
/// transcript, and each must say which implementation ran.
fn same_as_glibc(name: &str) {
    let exe = program(name);
    let expected =
        std::fs::read_to_string(manifest_dir().join(format!("tests/aio/{name}.expected")))
            .expect("expected transcript");
    for (preload, imp) in [(false, "impl=glibc"), (true, "impl=syslets")] {
        let out = run(&exe, preload);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        assert!(
            out.status.success(),
            "{name} ({imp}) failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
            out.status
        );
        assert!(
            stderr.lines().any(|l| l == imp),
            "{name}: expected {imp} on stderr, got:\n{stderr}"
        );
        assert_eq!(
            stdout, expected,
            "{name} ({imp}) printed a different transcript"
        );
    }
}

/// Read, write, fsync (`O_SYNC`, `O_DSYNC`), short reads at end of file; a bad
/// descriptor, a bad and a negative `aio_reqprio`, a negative offset, a write
/// to a read-only descriptor; `aio_suspend` with a 150 ms timeout (`EAGAIN`
/// after at least that long), a zero timeout, NULL entries, and interrupted
/// by a signal (`EINTR`); `SIGEV_SIGNAL` with an `SA_SIGINFO` handler that
/// sees `SI_ASYNCIO` and the final `aio_error`/`aio_return`; 40 `O_APPEND`
/// writes and 20 reads and writes of a pipe in submission order.
#[test]
fn basic_behaves_like_glibc() {
    same_as_glibc("basic");
}

/// Cancelling on a socket: four queued reads, `aio_cancel(fd, NULL)` is
/// `AIO_NOTCANCELED`; the three waiting behind the blocked one say
/// `ECANCELED`, return -1 and get their `SIGEV_THREAD` notification; the
/// blocked one completes when data comes; then `AIO_ALLDONE`. Cancelling one
/// request (`AIO_CANCELED`) keeps the order of the rest; `EBADF` and `EINVAL`.
#[test]
fn cancel_behaves_like_glibc() {
    same_as_glibc("cancel");
}

/// `lio_listio`: `LIO_WAIT` with `LIO_NOP` and NULL entries; a failing member
/// (`EIO`, the member says `EBADF`); per-request signals under `LIO_WAIT`
/// (`SI_ASYNCIO`, `si_value`, `si_pid`, outcome visible at the signal);
/// `LIO_NOWAIT` with a list-wide signal that comes after every member
/// completed, and for an empty list at once; `LIO_NOWAIT` with a list-wide
/// `SIGEV_THREAD` function (on another thread, after every member
/// completed); per-request `SIGEV_THREAD` functions.
#[test]
fn listio_behaves_like_glibc() {
    same_as_glibc("listio");
}

/// `aio_fsync` with a negative `aio_reqprio` (accepted: POSIX gives it no
/// such error); `aio_suspend` with no entries (0); `sysconf` of
/// `_SC_AIO_PRIO_DELTA_MAX` and of a name libc answers; a cancel storm of
/// 3,000 reads of empty pipes, each cancelled right after submission, in
/// which every answer matches the request's final state.
#[test]
fn corners_behave_like_glibc() {
    same_as_glibc("corners");
}

/// `aio_suspend` with timeouts whose end overflows `time_t` (`{LONG_MAX, 0}`,
/// `{LONG_MAX, 999999999}`): -1 `EAGAIN` at once while the request is in
/// progress (glibc's sum wraps into the past), 0 for a finished one; a huge
/// timeout that fits (`{LONG_MAX / 2, 0}`) waits for the data. Under the
/// preload this used to abort the program (an `Instant` overflow panicked
/// inside `extern "C"`).
#[test]
fn timeout_overflow_behaves_like_glibc() {
    same_as_glibc("timeout");
}

/// A program that never calls `aio_init` forks before any AIO and with a
/// request in flight: AIO works in the children and the parent, and in a
/// child `aio_cancel` of the inherited request says `AIO_NOTCANCELED` while
/// `aio_error` says `EINPROGRESS`.
#[test]
fn fork_behaves_like_glibc() {
    same_as_glibc("fork");
}

/// Where the library deliberately differs from glibc (POSIX allows it):
/// `aio_return` on an unfinished or already returned request and
/// `aio_error`/`aio_return` on a never-submitted aiocb are `EINVAL`;
/// resubmitting an aiocb in progress is `EINVAL`; a negative offset, a size
/// overflow and a bad signal number are refused at submission; `lio_listio`
/// with an unsubmittable member is `EIO`; a cached read completes inline;
/// `sysconf(_SC_AIO_MAX)` is the request limit (glibc: -1, no limit), which
/// counts requests until `aio_return`, with `EAGAIN` beyond it (for a
/// `lio_listio` member too).
/// Without the preload the program refuses to run (it checks the marker).
#[test]
fn posix_differences_under_preload() {
    let exe = program("posix");
    let out = run(&exe, true);
    assert!(
        out.status.success(),
        "posix under the preload: {}\n{}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout), "posix: all as promised\n");
    let out = run(&exe, false);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("libsyslets.so is not preloaded"));
}

/// `<aio.h>`'s layout, private fields included, is the one the library
/// mirrors (`RawAiocb` in src/aio/cb.rs asserts the same offsets statically
/// against `libc::aiocb` and these numbers), and `AioInit` is `struct aioinit`.
#[test]
fn aiocb_layout_matches_aio_h() {
    use std::mem::{offset_of, size_of};
    let out = Command::new(program("layout")).output().unwrap();
    assert!(out.status.success());
    let c: Vec<(String, i64)> = text(&out.stdout)
        .lines()
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect();
    let get = |k: &str| {
        c.iter()
            .find(|(n, _)| n == k)
            .unwrap_or_else(|| panic!("{k}"))
            .1
    };
    let a = |k: &str, v: usize| assert_eq!(get(k), v as i64, "{k}");
    a("aiocb.size", size_of::<libc::aiocb>());
    a("aiocb64.size", size_of::<libc::aiocb>());
    a("aiocb.aio_fildes", offset_of!(libc::aiocb, aio_fildes));
    a(
        "aiocb.aio_lio_opcode",
        offset_of!(libc::aiocb, aio_lio_opcode),
    );
    a("aiocb.aio_reqprio", offset_of!(libc::aiocb, aio_reqprio));
    a("aiocb.aio_buf", offset_of!(libc::aiocb, aio_buf));
    a("aiocb.aio_nbytes", offset_of!(libc::aiocb, aio_nbytes));
    a("aiocb.aio_sigevent", offset_of!(libc::aiocb, aio_sigevent));
    a("aiocb.aio_offset", offset_of!(libc::aiocb, aio_offset));
    // The private fields the library keeps its state in (cb.rs asserts these).
    for (k, v) in [
        ("aiocb.__next_prio", 96),
        ("aiocb.__abs_prio", 104),
        ("aiocb.__policy", 108),
        ("aiocb.__error_code", 112),
        ("aiocb.__return_value", 120),
        ("aiocb.__glibc_reserved", 136),
        ("aiocb64.__error_code", 112),
        ("aiocb64.__return_value", 120),
        ("aiocb64.aio_offset", 128),
        ("sigevent.sigev_notify_function", 16),
        ("sigevent.sigev_notify_attributes", 24),
        ("sigevent._sigev_un._tid", 16),
    ] {
        a(k, v);
    }
    a("sigevent.size", size_of::<libc::sigevent>());
    a(
        "sigevent.sigev_value",
        offset_of!(libc::sigevent, sigev_value),
    );
    a(
        "sigevent.sigev_signo",
        offset_of!(libc::sigevent, sigev_signo),
    );
    a(
        "sigevent.sigev_notify",
        offset_of!(libc::sigevent, sigev_notify),
    );
    use syslets::aio::AioInit;
    a("aioinit.size", size_of::<AioInit>());
    a("aioinit.aio_threads", offset_of!(AioInit, aio_threads));
    a("aioinit.aio_num", offset_of!(AioInit, aio_num));
    a("aioinit.aio_idle_time", offset_of!(AioInit, aio_idle_time));
    a(
        "AIO_PRIO_DELTA_MAX",
        syslets::aio::AIO_PRIO_DELTA_MAX as usize,
    );
    assert_eq!(get("SI_ASYNCIO"), libc::SI_ASYNCIO as i64);
}

// Which names the library exports (and nothing else) is checked in
// capi/tests/c_api.rs, for this build and the default one.
