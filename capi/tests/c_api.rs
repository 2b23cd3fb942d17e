//! The C library as a C user gets it: `make install` into a fresh prefix,
//! then C programs built against the installed copy with `pkg-config` and
//! run — the example of `examples/c/`, the checks of `tests/c/chain.c`, a
//! threaded submit/reap stress (`tests/c/threads.c`), and a
//! `gcc -m32` producer whose batch the 64-bit side runs through
//! `syslet_validate_compat32`.
//!
//! The install builds the library itself (`make -C capi install PROFILE=dev`
//! with `CARGO_TARGET_DIR=target/capi`, a separate target directory so the
//! outer cargo's lock is not contended), once per test run.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// A directory of this test process (unique per run: several worktrees or
/// runs may test at once).
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d =
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("capi-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    })
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(what: &str, out: Output) -> Output {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

/// `make install` (with `features`, built in `target/<target>`) into a prefix
/// of this run.
fn install(features: &str, target: &str) -> PathBuf {
    let prefix = scratch().join(format!("prefix-{target}"));
    let out = Command::new("make")
        .arg("-C")
        .arg(root().join("capi"))
        .arg("install")
        .arg(format!("PREFIX={}", prefix.display()))
        .arg("PROFILE=dev")
        .arg(format!("FEATURES={features}"))
        .arg(format!("CARGO={}", env!("CARGO")))
        .env("CARGO_TARGET_DIR", root().join("target").join(target))
        .output()
        .expect("make (Debian package make) is required");
    ok("make install", out);
    prefix
}

/// The prefix the default build was installed into, once.
fn prefix() -> &'static Path {
    static PREFIX: OnceLock<PathBuf> = OnceLock::new();
    PREFIX.get_or_init(|| install("", "capi"))
}

/// `pkg-config --cflags --libs syslets` against the installed copy.
fn pkg_config() -> Vec<String> {
    let out = Command::new("pkg-config")
        .args(["--cflags", "--libs", "syslets"])
        .env("PKG_CONFIG_PATH", prefix().join("lib/pkgconfig"))
        .output()
        .expect("pkg-config (Debian package pkg-config) is required");
    let out = ok("pkg-config", out);
    text(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Build `src` (C11, warnings are errors) against the installed library.
fn build(src: &Path, name: &str) -> PathBuf {
    let exe = scratch().join(name);
    let out = Command::new("cc")
        .args([
            "-std=c11",
            "-O1",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-o",
        ])
        .arg(&exe)
        .arg(src)
        .args(pkg_config())
        .output()
        .expect("the system C compiler `cc` (Debian package gcc) is required");
    ok(&format!("cc {}", src.display()), out);
    exe
}

/// Run `exe` with the installed library (pkg-config gives no rpath).
fn run(exe: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new("timeout")
        .arg("60")
        .arg(exe)
        .args(args)
        .env("LD_LIBRARY_PATH", prefix().join("lib"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run a test program under timeout(1)");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or_default()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

/// A file of `len` bytes in the scratch directory.
fn file_of(len: usize) -> PathBuf {
    let p = scratch().join(format!("data-{len}"));
    std::fs::write(&p, vec![b'x'; len]).unwrap();
    p
}

fn exported(lib: &Path) -> Vec<String> {
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(lib)
        .output()
        .expect("nm (Debian package binutils) is required");
    text(&ok("nm", out).stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2).map(str::to_string))
        .collect()
}

const CHAIN_API: [&str; 18] = [
    "syslet_batch_buffer",
    "syslet_batch_completion",
    "syslet_batch_copy_out",
    "syslet_batch_free",
    "syslet_executor_eventfd",
    "syslet_executor_free",
    "syslet_executor_new",
    "syslet_executor_reap",
    "syslet_executor_submit",
    "syslet_executor_wait",
    "syslet_policy_allow",
    "syslet_policy_deny",
    "syslet_policy_free",
    "syslet_policy_new",
    "syslet_run",
    "syslet_strerror",
    "syslet_validate",
    "syslet_validate_compat32",
];

/// The install: the library under its versioned name with the SONAME and
/// `-l` symlinks, the three headers, syslets.pc; the default build exports
/// exactly the chain API (no AIO names: linking it never interposes libc).
#[test]
fn make_install_lays_out_the_library_headers_and_pc() {
    let lib = prefix().join("lib");
    assert_eq!(
        std::fs::read_link(lib.join("libsyslets.so.0")).unwrap(),
        Path::new("libsyslets.so.0.1.0")
    );
    assert_eq!(
        std::fs::read_link(lib.join("libsyslets.so")).unwrap(),
        Path::new("libsyslets.so.0")
    );
    for h in ["syslet.h", "syslet_compat.h", "syslets.h"] {
        assert!(
            prefix().join("include").join(h).is_file(),
            "{h} not installed"
        );
    }
    let out = Command::new("objdump")
        .arg("-p")
        .arg(lib.join("libsyslets.so.0.1.0"))
        .output()
        .expect("objdump (Debian package binutils) is required");
    let dynamic = text(&ok("objdump -p", out).stdout);
    assert!(
        dynamic
            .lines()
            .any(|l| l.split_whitespace().eq(["SONAME", "libsyslets.so.0"])),
        "no SONAME libsyslets.so.0:\n{dynamic}"
    );
    let mut names = exported(&lib.join("libsyslets.so.0.1.0"));
    names.sort();
    assert_eq!(names, CHAIN_API);
    let flags = pkg_config();
    assert!(flags.contains(&"-lsyslets".to_string()), "{flags:?}");
    assert!(
        flags.contains(&format!("-I{}", prefix().join("include").display())),
        "{flags:?}"
    );
}

/// The header is valid C11, C++11 and C++17 (pedantic, warnings are errors),
/// builder included.
#[test]
fn the_header_is_valid_c11_and_cxx17() {
    let src = scratch().join("header.c");
    std::fs::write(
        &src,
        "#include <syslets.h>\n\
         int f(void);\n\
         int f(void) {\n\
         \tstatic struct syslets_builder b;\n\
         \tsyslets_builder_init(&b);\n\
         \treturn SYSLETS_ATOM(&b, 0, SYSLET_NR_CLOSE, syslets_imm(-1)) +\n\
         \t       SYSLETS_ATOM0(&b, 0, SYSLET_NR_GETPID);\n\
         }\n",
    )
    .unwrap();
    let include = format!("-I{}", prefix().join("include").display());
    for (cc, std, lang) in [
        ("cc", "-std=c11", "c"),
        ("c++", "-std=c++11", "c++"),
        ("c++", "-std=c++17", "c++"),
    ] {
        let out = Command::new(cc)
            .args([
                std,
                "-Wall",
                "-Wextra",
                "-Werror",
                "-pedantic",
                "-fsyntax-only",
            ])
            .args(["-x", lang])
            .arg(&include)
            .arg(&src)
            .output()
            .unwrap_or_else(|e| panic!("{cc} (Debian packages gcc, g++) is required: {e}"));
        ok(&format!("{cc} {std}"), out);
    }
}

/// `examples/c/open_fstat.c`, built against the installed copy with
/// pkg-config: the size fstat saw, inline and through the executor; a missing
/// file stops at the openat.
#[test]
fn the_c_example_builds_with_pkg_config_and_runs() {
    let exe = build(&root().join("examples/c/open_fstat.c"), "open_fstat");
    let data = file_of(12345);
    let out = ok("open_fstat", run(&exe, &[data.to_str().unwrap()], None));
    assert_eq!(
        text(&out.stdout),
        "inline: atoms_run=3 size=12345\nexecutor: atoms_run=3 size=12345\n"
    );
    let missing = scratch().join("missing");
    let out = ok("open_fstat", run(&exe, &[missing.to_str().unwrap()], None));
    assert_eq!(
        text(&out.stdout),
        "inline: stopped at atom 0: No such file or directory\n\
         executor: stopped at atom 0: No such file or directory\n"
    );
}

const AIO_NAMES: [&str; 18] = [
    "aio_read",
    "aio_write",
    "aio_fsync",
    "aio_error",
    "aio_return",
    "aio_suspend",
    "aio_cancel",
    "lio_listio",
    "aio_init",
    "aio_read64",
    "aio_write64",
    "aio_fsync64",
    "aio_error64",
    "aio_return64",
    "aio_suspend64",
    "aio_cancel64",
    "lio_listio64",
    "syslets_aio_active",
];

/// With `FEATURES=aio-preload` the library also exports glibc's POSIX AIO
/// (unversioned and `*64`), `sysconf` and the marker `syslets_aio_active`:
/// nothing else. (The target directory is the one tests/aio_c.rs preloads
/// from, so the library is built once.)
#[test]
fn the_aio_preload_build_adds_exactly_the_aio_names() {
    let prefix = install("aio-preload", "capi-aio");
    let mut names = exported(&prefix.join("lib/libsyslets.so.0.1.0"));
    names.sort();
    let mut expected: Vec<&str> = CHAIN_API.iter().chain(&AIO_NAMES).copied().collect();
    expected.push("sysconf");
    expected.sort();
    assert_eq!(names, expected);
}

/// `tests/c/chain.c`: errors naming the atom, inline runs, copy-out, and the
/// executor (eventfd, wait, reap, a read handed to a worker, a full ring, busy
/// handles), policies that refuse numbers no policy can allow.
#[test]
fn the_chain_api_from_c() {
    let exe = build(&root().join("capi/tests/c/chain.c"), "chain");
    let data = file_of(777);
    let out = run(&exe, &[data.to_str().unwrap()], None);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success() && stdout.ends_with("ok room again after the reap\ndone\n"),
        "chain.c ({}):\n{stdout}\nstderr:\n{}",
        out.status,
        text(&out.stderr)
    );
    assert!(!stdout.contains("FAIL"), "{stdout}");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("ok ")).count(),
        54,
        "{stdout}"
    );
}

/// `tests/c/threads.c`: four threads submit 2000 chains to one executor
/// (blocking on a full 16-entry ring) while the main thread reaps through the
/// eventfd; every handle comes back once, with its own completion.
#[test]
fn threads_submit_while_one_reaps_and_nothing_is_lost() {
    let exe = build(&root().join("capi/tests/c/threads.c"), "threads");
    for _ in 0..3 {
        let out = run(&exe, &[], None);
        assert!(
            out.status.success() && text(&out.stdout) == "reaped 2000\n",
            "threads.c ({}):\n{}\nstderr:\n{}",
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        );
    }
}

/// A `gcc -m32` producer writes a compat batch (openat, fstat64, close) to a
/// pipe; the 64-bit program runs it through `syslet_validate_compat32` and
/// reads the i386 `struct stat64` back where the producer laid it out. A
/// batch with an unknown i386 number is refused naming the atom.
#[test]
fn a_32_bit_producer_runs_through_compat() {
    let producer = scratch().join("producer32");
    let out = Command::new("cc")
        .args([
            "-m32",
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pedantic",
            "-o",
        ])
        .arg(&producer)
        .arg(root().join("capi/tests/c/producer32.c"))
        .arg(format!("-I{}", root().join("abi/include").display()))
        .output()
        .expect("the system C compiler `cc` (Debian package gcc) is required");
    ok(
        "cc -m32 producer32.c (needs Debian package gcc-multilib)",
        out,
    );
    let consumer = build(&root().join("capi/tests/c/run_compat32.c"), "run_compat32");
    let data = file_of(4242);
    let path = data.to_str().unwrap();
    for (mode, expected) in [
        ("run", "size=4242 fd_ok=1 status=0 atoms_run=3\n"),
        (
            "bad",
            "refused code=2 atom=1 syscall=: compat atom 1: i386 syscall number 4000 is not translated\n",
        ),
    ] {
        let batch = ok("producer32", run(&producer, &[path, mode], None)).stdout;
        let out = ok("run_compat32", run(&consumer, &[], Some(&batch)));
        assert_eq!(text(&out.stdout), expected, "mode {mode}");
    }
}
