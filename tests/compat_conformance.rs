//! Conformance of the 32/64-bit compat translator against real 32-bit code.
//!
//! `tests/compat/producer.c`, built with `gcc -m32 -static`, writes compat
//! batches (kept as golden fixtures in `tests/compat/fixtures/`) and performs
//! the same calls itself with the i386 system calls. The batches are normalised,
//! validated, run and written back here, and the outcome must match the 32-bit
//! process's own, field by field.
//!
//! Where `gcc -m32 -static` is missing the fixture tests still run from the
//! golden files (checked against what this process learns of the same files);
//! the tests that need the compiler say so on stderr — and fail when `CI=true`.

#[path = "common/newer_calls.rs"]
mod newer_calls;

use std::fs;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use syslets::abi::{self, BufDesc};
use syslets::compat::{self, nr32, CompatAtom, Stat64};
use syslets::{EncodedBatch, Policy};
use zerocopy::FromBytes;

const FIXTURES: &[&str] = &[
    "open_fstat",
    "fstatat_statx",
    "llseek_read",
    "pread64_sparse",
    "socketcall_connect",
];
/// The directory chains (run in directories of their own file systems by
/// `directory_offsets_match_the_32_bit_process_on_ext4_and_tmpfs`).
const DIR_FIXTURES: &[&str] = &["getdents_small", "getdents_big", "getdents_seek"];
/// The directory descriptor the fixtures name (patched to the real one).
const FIXTURE_DIRFD: u32 = 100;
const DATA: &[u8] = b"hello from a 32-bit producer\n";
const FIVE_GIB_MARKER: &[u8; 16] = b"FIVE-GIB-MARKER!";
const SIX_GIB_MARKER: &[u8; 16] = b"SIX-GIB-MARKER!!";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn fixture_dir() -> PathBuf {
    root().join("tests/compat/fixtures")
}

fn scratch(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "compat-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Whether the compiler is required (CI) rather than optional.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Handle a missing `gcc -m32`: fail in CI, say so loudly elsewhere.
fn missing_gcc(test: &str, why: &str) {
    assert!(
        !in_ci(),
        "{test}: gcc -m32 -static is required in CI (install gcc-multilib): {why}"
    );
    eprintln!("SKIPPED {test}: gcc -m32 -static is not available here ({why}); CI runs it");
}

/// The 32-bit producer, built once per test binary.
fn producer() -> Result<&'static Path, String> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let out = scratch("build").join("producer");
            let status = Command::new("gcc")
                .args([
                    "-m32", "-static", "-O1", "-std=c11", "-Wall", "-Wextra", "-Werror",
                ])
                .arg("-I")
                .arg(root().join("abi/include"))
                .arg(root().join("tests/compat/producer.c"))
                .arg("-o")
                .arg(&out)
                .output()
                .map_err(|e| format!("cannot run gcc: {e}"))?;
            if !status.status.success() {
                return Err(String::from_utf8_lossy(&status.stderr).into_owned());
            }
            Ok(out)
        })
        .as_ref()
        .map(|p| p.as_path())
        .map_err(Clone::clone)
}

/// The files and the listener the chains use, in a fresh directory.
struct Scene {
    dir: PathBuf,
    dirfd: fs::File,
    listener: TcpListener,
}

impl Scene {
    fn new() -> Scene {
        let dir = scratch("scene");
        fs::write(dir.join("data.txt"), DATA).unwrap();
        // Three distinct timestamps, so that a swapped field cannot go unnoticed.
        let at = |s: u64, ns: u32| std::time::UNIX_EPOCH + std::time::Duration::new(s, ns);
        fs::File::options()
            .write(true)
            .open(dir.join("data.txt"))
            .unwrap()
            .set_times(
                fs::FileTimes::new()
                    .set_accessed(at(1_000_000_000, 111))
                    .set_modified(at(1_200_000_000, 222_333_444)),
            )
            .unwrap();
        let sparse = fs::File::create(dir.join("sparse.bin")).unwrap();
        sparse.set_len((6 << 30) + 4096).unwrap();
        use std::os::unix::fs::FileExt;
        sparse.write_all_at(FIVE_GIB_MARKER, 5 << 30).unwrap();
        sparse.write_all_at(SIX_GIB_MARKER, 6 << 30).unwrap();
        let dirfd = fs::File::open(&dir).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        Scene {
            dir,
            dirfd,
            listener,
        }
    }

    fn port(&self) -> u16 {
        self.listener.local_addr().unwrap().port()
    }

    /// Accept one pending connection (one that already completed its connect).
    fn accept_one(&self) -> TcpStream {
        self.listener.set_nonblocking(true).unwrap();
        let (s, peer) = self.listener.accept().expect("a completed connection");
        assert!(peer.ip().is_loopback());
        s
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A compat batch's sections, for patching placeholders and reading buffers.
struct View {
    natoms: usize,
    bufs_at: usize,
    arena_at: usize,
}

fn view(bytes: &[u8]) -> View {
    let h = abi::BatchHeader::read_from_prefix(bytes).unwrap().0;
    assert_eq!(h.magic, compat::COMPAT_MAGIC);
    let natoms = h.natoms as usize;
    let bufs_at = abi::HEADER_SIZE + compat::compat_atoms_len(natoms);
    View {
        natoms,
        bufs_at,
        arena_at: bufs_at + h.nbufs as usize * abi::BUFDESC_SIZE,
    }
}

fn atom_mut(bytes: &mut [u8], i: usize) -> &mut CompatAtom {
    let at = abi::HEADER_SIZE + i * compat::COMPAT_ATOM_SIZE;
    CompatAtom::mut_from_bytes(&mut bytes[at..at + compat::COMPAT_ATOM_SIZE]).unwrap()
}

fn buffer(bytes: &[u8], index: usize) -> &[u8] {
    let v = view(bytes);
    let at = v.bufs_at + index * abi::BUFDESC_SIZE;
    let d = BufDesc::read_from_bytes(&bytes[at..at + abi::BUFDESC_SIZE]).unwrap();
    &bytes[v.arena_at + d.offset as usize..][..d.len as usize]
}

fn buffer_mut(bytes: &mut [u8], index: usize) -> &mut [u8] {
    let v = view(bytes);
    let at = v.bufs_at + index * abi::BUFDESC_SIZE;
    let d = BufDesc::read_from_bytes(&bytes[at..at + abi::BUFDESC_SIZE]).unwrap();
    &mut bytes[v.arena_at + d.offset as usize..][..d.len as usize]
}

/// Put the scene's real directory descriptor and port where the fixtures hold
/// placeholders; every placeholder found is checked to be one.
fn relocate(name: &str, bytes: &mut [u8], scene: &Scene) {
    let mut patched = patch_dirfd(name, bytes, scene.dirfd.as_raw_fd());
    if name == "socketcall_connect" {
        let sa = buffer_mut(bytes, 0);
        assert_eq!(sa, &[2, 0, 0, 0, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
        sa[2..4].copy_from_slice(&scene.port().to_be_bytes());
        patched += 1;
    }
    assert!(patched > 0, "{name}: no placeholder found");
}

/// Put `dirfd` where the fixture names `FIXTURE_DIRFD`; returns how many
/// atoms were patched.
fn patch_dirfd(name: &str, bytes: &mut [u8], dirfd: i32) -> usize {
    let mut patched = 0;
    for i in 0..view(bytes).natoms {
        let a = atom_mut(bytes, i);
        if matches!(a.nr, nr32::OPENAT | nr32::FSTATAT64 | nr32::STATX) {
            assert_eq!(
                (a.arg_kind[0], a.arg[0]),
                (abi::ARG_IMM, FIXTURE_DIRFD),
                "{name}: atom {i} dirfd"
            );
            a.arg[0] = dirfd as u32;
            patched += 1;
        }
    }
    patched
}

/// Normalise, validate, run and write back one compat batch; returns the
/// producer's view of the completion (and `bytes` now holds what the kernel
/// wrote, in the i386 layout).
fn run_compat(bytes: &mut [u8]) -> abi::Completion {
    let norm = compat::normalize(bytes).expect("normalises");
    let mut batch = EncodedBatch::from_bytes(norm.native_bytes())
        .validate(&Policy::default())
        .expect("the translated batch validates");
    let done = *batch.run().as_abi();
    norm.write_back(batch.arena(), &done, bytes)
        .expect("write-back")
}

fn load(name: &str) -> Vec<u8> {
    fs::read(fixture_dir().join(format!("{name}.bin")))
        .unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// Check a written-back `struct stat64` against what `std` reports natively.
fn check_stat64(bytes: &[u8], pad: u8, md: &fs::Metadata) {
    let s = Stat64::read_from_bytes(bytes).unwrap();
    assert_eq!(s.pad0, [pad; 4], "__pad0 untouched");
    assert_eq!(s.pad3, [pad; 4], "__pad3 untouched");
    assert_eq!(s.st_dev.get(), md.dev());
    assert_eq!(s.st_ino.get(), md.ino());
    assert_eq!(s.st_ino_lo, md.ino() as u32);
    assert_eq!(s.st_mode, md.mode());
    assert_eq!(s.st_nlink as u64, md.nlink());
    assert_eq!((s.st_uid, s.st_gid), (md.uid(), md.gid()));
    assert_eq!(s.st_rdev.get(), md.rdev());
    assert_eq!(s.st_size.get(), DATA.len() as i64);
    assert_eq!(s.st_blksize as u64, md.blksize());
    assert_eq!(s.st_blocks.get(), md.blocks());
    assert_eq!(s.st_mtime, md.mtime() as u32);
    assert_eq!(s.st_mtime_nsec, md.mtime_nsec() as u32);
    assert_eq!(s.st_ctime, md.ctime() as u32);
    assert_eq!(s.st_ctime_nsec, md.ctime_nsec() as u32);
    assert_eq!(s.st_atime, md.atime() as u32);
}

#[test]
fn golden_fixtures_translate_and_run() {
    let scene = Scene::new();
    let md = fs::metadata(scene.dir.join("data.txt")).unwrap();

    let mut b = load("open_fstat");
    relocate("open_fstat", &mut b, &scene);
    let c = run_compat(&mut b);
    assert_eq!(c.atoms_run, 3);
    assert!(c.results[0] >= 0, "openat: {}", c.results[0]);
    assert_eq!(&c.results[1..3], &[0, 0], "fstat64, close");
    check_stat64(buffer(&b, 1), 0xa5, &md);

    let mut b = load("fstatat_statx");
    relocate("fstatat_statx", &mut b, &scene);
    let c = run_compat(&mut b);
    assert_eq!(&c.results[..2], &[0, 0]);
    check_stat64(buffer(&b, 1), 0x5a, &md);
    let stx = syslets::Statx::read_from_bytes(buffer(&b, 2)).unwrap();
    assert_eq!((stx.stx_ino, stx.stx_size), (md.ino(), DATA.len() as u64));

    let mut b = load("llseek_read");
    relocate("llseek_read", &mut b, &scene);
    let c = run_compat(&mut b);
    assert_eq!(c.atoms_run, 4);
    assert!(c.results[0] >= 0);
    assert_eq!(&c.results[1..4], &[0, 16, 0], "_llseek returns 0 on i386");
    assert_eq!(buffer(&b, 1), &(5u64 << 30).to_le_bytes(), "loff_t result");
    assert_eq!(buffer(&b, 2), FIVE_GIB_MARKER);

    let mut b = load("pread64_sparse");
    relocate("pread64_sparse", &mut b, &scene);
    let c = run_compat(&mut b);
    assert_eq!(&c.results[1..3], &[16, 0]);
    assert_eq!(buffer(&b, 1), SIX_GIB_MARKER);

    let mut b = load("socketcall_connect");
    relocate("socketcall_connect", &mut b, &scene);
    let c = run_compat(&mut b);
    assert!(c.results[0] >= 0, "socket: {}", c.results[0]);
    assert_eq!(&c.results[1..3], &[0, 0], "connect, close");
    scene.accept_one();
}

#[test]
fn golden_fixtures_are_regenerated_byte_identical() {
    let test = "golden_fixtures_are_regenerated_byte_identical";
    let exe = match producer() {
        Ok(p) => p,
        Err(why) => return missing_gcc(test, &why),
    };
    let out = scratch("regen");
    let st = Command::new(exe).arg(&out).status().unwrap();
    assert!(st.success());
    let bless = std::env::var("SYSLETS_BLESS_FIXTURES").is_ok_and(|v| v == "1");
    for name in FIXTURES.iter().chain(DIR_FIXTURES) {
        let fresh = fs::read(out.join(format!("{name}.bin"))).unwrap();
        let golden = fixture_dir().join(format!("{name}.bin"));
        if bless {
            fs::create_dir_all(fixture_dir()).unwrap();
            fs::write(&golden, &fresh).unwrap();
            eprintln!("blessed {}", golden.display());
            continue;
        }
        let kept = fs::read(&golden).unwrap_or_else(|e| panic!("{}: {e}", golden.display()));
        assert!(
            kept == fresh,
            "{name}: the 32-bit producer no longer writes the golden fixture \
             (run with SYSLETS_BLESS_FIXTURES=1 if the change is intended)"
        );
    }
}

/// One line of a `.expect` file.
enum Expect {
    Ret(usize, i64),
    Buf(usize, Vec<u8>),
}

fn parse_expect(text: &str) -> Vec<Expect> {
    text.lines()
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            match f[..] {
                ["ret", i, v] => Expect::Ret(i.parse().unwrap(), v.parse().unwrap()),
                ["buf", i, hex] => Expect::Buf(
                    i.parse().unwrap(),
                    (0..hex.len())
                        .step_by(2)
                        .map(|k| u8::from_str_radix(&hex[k..k + 2], 16).unwrap())
                        .collect(),
                ),
                _ => panic!("bad expect line {l:?}"),
            }
        })
        .collect()
}

/// Compare two buffers; a difference is shown where it starts (directory
/// buffers are kilobytes of mostly fill bytes).
fn same_bytes(what: &str, ours: &[u8], theirs: &[u8]) {
    assert_eq!(ours.len(), theirs.len(), "{what}: length");
    if let Some(k) = ours.iter().zip(theirs).position(|(a, b)| a != b) {
        let (from, to) = (k.saturating_sub(16), (k + 32).min(ours.len()));
        panic!(
            "{what}: differs from byte {k}; bytes {from}..{to}:\n  ours   {:02x?}\n  theirs {:02x?}",
            &ours[from..to],
            &theirs[from..to]
        );
    }
}

/// Compare two output structs byte by byte, except the access time (`range`),
/// which may only move forward between the 32-bit process's run and ours.
fn same_but_atime(name: &str, ours: &[u8], theirs: &[u8], atime: std::ops::Range<usize>) {
    assert_eq!(ours.len(), theirs.len());
    for (k, (a, b)) in ours.iter().zip(theirs).enumerate() {
        if !atime.contains(&k) {
            assert_eq!(a, b, "{name}: byte {k} differs");
        }
    }
    let (o, t) = (&ours[atime.clone()], &theirs[atime]);
    // stat64: u32 seconds, u32 nanoseconds; statx: i64 seconds, u32 nanoseconds.
    let when = |b: &[u8]| -> (i64, u32) {
        let word = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
        if b.len() == 8 {
            (word(0) as i64, word(4))
        } else {
            (i64::from_le_bytes(b[..8].try_into().unwrap()), word(8))
        }
    };
    assert!(when(o) >= when(t), "{name}: atime went backwards");
}

/// Compare what syslets wrote back (`b`, `c`) with `OUT/<file>.expect`, what
/// the 32-bit process got from its own kernel: every result (descriptors of
/// `fd_atoms` only as "both are descriptors") and every buffer byte (access
/// times only as "not earlier"); failures say `name`.
fn assert_matches_the_32_bit_run(
    (file, name): (&str, &str),
    b: &[u8],
    c: &abi::Completion,
    out: &Path,
    fd_atoms: &[usize],
) {
    let text = fs::read_to_string(out.join(format!("{file}.expect"))).unwrap();
    let expect = parse_expect(&text);
    let rets = expect
        .iter()
        .filter(|e| matches!(e, Expect::Ret(..)))
        .count();
    assert_eq!(rets, c.atoms_run as usize, "{name}: atoms run");
    for e in &expect {
        match e {
            // Descriptor numbers legitimately differ between processes:
            // both must be descriptors.
            Expect::Ret(i, theirs) if fd_atoms.contains(i) => {
                assert!(*theirs >= 0 && c.results[*i] >= 0, "{name}: atom {i}");
            }
            Expect::Ret(i, theirs) => {
                assert_eq!(c.results[*i], *theirs, "{name}: result of atom {i}");
            }
            Expect::Buf(i, theirs) => {
                let ours = buffer(b, *i);
                match theirs.len() {
                    96 => same_but_atime(name, ours, theirs, 64..72),
                    256 => same_but_atime(name, ours, theirs, 64..80),
                    _ => same_bytes(&format!("{name}: buffer {i}"), ours, theirs),
                }
            }
        }
    }
}

/// The atoms of a compat batch that return a new descriptor.
fn fd_atoms(b: &mut [u8]) -> Vec<usize> {
    (0..view(b).natoms)
        .filter(|&i| {
            let a = atom_mut(b, i);
            a.nr == nr32::OPENAT || (a.nr == nr32::SOCKETCALL && a.arg[0] == 1)
        })
        .collect()
}

#[test]
fn results_match_the_32_bit_process_field_by_field() {
    let test = "results_match_the_32_bit_process_field_by_field";
    let exe = match producer() {
        Ok(p) => p,
        Err(why) => return missing_gcc(test, &why),
    };
    let scene = Scene::new();
    let out = scratch("run");
    let st = Command::new(exe)
        .arg(&out)
        .arg(&scene.dir)
        .arg(scene.port().to_string())
        .status()
        .unwrap();
    assert!(st.success());
    scene.accept_one(); // the 32-bit process's own connection

    for name in FIXTURES {
        // The batches this very run of the producer wrote.
        let mut b = fs::read(out.join(format!("{name}.bin"))).unwrap();
        relocate(name, &mut b, &scene);
        let fd_atoms = fd_atoms(&mut b);
        let c = run_compat(&mut b);
        assert_matches_the_32_bit_run((name, name), &b, &c, &out, &fd_atoms);
        if *name == "socketcall_connect" {
            scene.accept_one(); // ours
        }
    }
}

#[test]
fn c_header_layout_and_i386_numbers_match_rust() {
    let test = "c_header_layout_and_i386_numbers_match_rust";
    let dir = scratch("layout");
    let mut src = String::from(
        "#define _GNU_SOURCE\n#include <stdio.h>\n#include <stddef.h>\n\
         #include <sys/syscall.h>\n#include <sys/statfs.h>\n#include <sys/socket.h>\n\
         #include <time.h>\n\
         #include \"syslet_compat.h\"\n\
         int main(void) {\n",
    );
    let fields = [
        ("syslet_compat_atom", "flags"),
        ("syslet_compat_atom", "nr"),
        ("syslet_compat_atom", "arg_kind"),
        ("syslet_compat_atom", "nargs"),
        ("syslet_compat_atom", "arg"),
        ("syslet_compat_atom", "private_data"),
        ("syslet_compat_sockarg", "value"),
        ("syslet_compat_iovec", "len"),
        ("syslet_compat_msghdr", "iov"),
        ("syslet_compat_msghdr", "controllen"),
        ("syslet_compat_msghdr", "flags"),
        ("syslet_compat_stat64", "st_ino_lo"),
        ("syslet_compat_stat64", "st_rdev"),
        ("syslet_compat_stat64", "pad3"),
        ("syslet_compat_stat64", "st_size"),
        ("syslet_compat_stat64", "st_blksize"),
        ("syslet_compat_stat64", "st_blocks"),
        ("syslet_compat_stat64", "st_atime_"),
        ("syslet_compat_stat64", "st_ctime_nsec"),
        ("syslet_compat_stat64", "st_ino"),
    ];
    for (s, f) in fields {
        src += &format!("printf(\"{s}.{f} %zu\\n\", offsetof(struct {s}, {f}));\n");
    }
    for s in [
        "syslet_compat_atom",
        "syslet_compat_sockarg",
        "syslet_compat_iovec",
        "syslet_compat_msghdr",
        "syslet_compat_stat64",
    ] {
        src += &format!("printf(\"sizeof {s} %zu\\n\", sizeof(struct {s}));\n");
    }
    // glibc's i386 struct statfs64 is the kernel's compat_statfs64 (its
    // fstatfs64 passes sizeof it to the kernel).
    for f in [
        "f_bsize",
        "f_blocks",
        "f_ffree",
        "f_fsid",
        "f_namelen",
        "f_flags",
        "f_spare",
    ] {
        src += &format!("printf(\"statfs64.{f} %zu\\n\", offsetof(struct statfs64, {f}));\n");
    }
    src += "printf(\"sizeof statfs64 %zu\\n\", sizeof(struct statfs64));\n";
    // glibc's i386 struct msghdr and struct cmsghdr are the kernel's compat ones.
    for f in ["msg_iov", "msg_control", "msg_controllen", "msg_flags"] {
        src += &format!("printf(\"msghdr.{f} %zu\\n\", offsetof(struct msghdr, {f}));\n");
    }
    src += "printf(\"sizeof msghdr %zu\\n\", sizeof(struct msghdr));\n";
    src += "printf(\"sizeof cmsghdr %zu\\n\", sizeof(struct cmsghdr));\n";
    src += "printf(\"cmsg_space4 %zu\\n\", (size_t)CMSG_SPACE(4));\n";
    // glibc's i386 struct statfs (32-bit off_t and fsblkcnt_t, the default)
    // is the kernel's compat_statfs, what i386 fstatfs writes; its struct
    // timespec (32-bit time_t, the default) is old_timespec32.
    for f in [
        "f_blocks",
        "f_files",
        "f_fsid",
        "f_namelen",
        "f_flags",
        "f_spare",
    ] {
        src += &format!("printf(\"statfs.{f} %zu\\n\", offsetof(struct statfs, {f}));\n");
    }
    src += "printf(\"sizeof statfs %zu\\n\", sizeof(struct statfs));\n";
    src += "printf(\"sizeof timespec %zu\\n\", sizeof(struct timespec));\n";
    src += "printf(\"timespec.tv_nsec %zu\\n\", offsetof(struct timespec, tv_nsec));\n";
    src += "printf(\"magic %u\\n\", SYSLET_COMPAT_MAGIC);\n";
    src += "printf(\"buf %u\\n\", SYSLET_COMPAT_BUF_ARG(3, 0x10));\n";
    src += "printf(\"atoms_len %u\\n\", SYSLET_COMPAT_ATOMS_LEN(3));\n";
    for c in compat::table::COMPAT_CALLS {
        // A call newer than the headers prints "missing" where they lack it.
        src += &format!(
            "#ifdef SYS_{0}\nprintf(\"nr {0} %d\\n\", SYS_{0});\n#else\nprintf(\"nr {0} missing\\n\");\n#endif\n",
            c.name
        );
    }
    src += "return 0; }\n";
    fs::File::create(dir.join("layout.c"))
        .unwrap()
        .write_all(src.as_bytes())
        .unwrap();
    let exe = dir.join("layout");
    let built = Command::new("gcc")
        .args(["-m32", "-std=c11", "-Wall", "-Werror", "-I"])
        .arg(root().join("abi/include"))
        .arg(dir.join("layout.c"))
        .arg("-o")
        .arg(&exe)
        .output();
    match built {
        Ok(o) if o.status.success() => {}
        Ok(o) => return missing_gcc(test, &String::from_utf8_lossy(&o.stderr)),
        Err(e) => return missing_gcc(test, &e.to_string()),
    }
    let out = Command::new(&exe).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let got = |key: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{key} missing from\n{text}"))
    };
    use std::mem::offset_of;
    let rust = [
        offset_of!(CompatAtom, flags),
        offset_of!(CompatAtom, nr),
        offset_of!(CompatAtom, arg_kind),
        offset_of!(CompatAtom, nargs),
        offset_of!(CompatAtom, arg),
        offset_of!(CompatAtom, private),
        offset_of!(compat::SocketcallArg, value),
        offset_of!(compat::CompatIoVec, len),
        offset_of!(compat::CompatMsgHdr, iov),
        offset_of!(compat::CompatMsgHdr, controllen),
        offset_of!(compat::CompatMsgHdr, flags),
        offset_of!(Stat64, st_ino_lo),
        offset_of!(Stat64, st_rdev),
        offset_of!(Stat64, pad3),
        offset_of!(Stat64, st_size),
        offset_of!(Stat64, st_blksize),
        offset_of!(Stat64, st_blocks),
        offset_of!(Stat64, st_atime),
        offset_of!(Stat64, st_ctime_nsec),
        offset_of!(Stat64, st_ino),
    ];
    for ((s, f), off) in fields.iter().zip(rust) {
        assert_eq!(got(&format!("{s}.{f}")), off as u64, "{s}.{f}");
    }
    assert_eq!(
        got("sizeof syslet_compat_atom"),
        compat::COMPAT_ATOM_SIZE as u64
    );
    assert_eq!(
        got("sizeof syslet_compat_sockarg"),
        compat::SOCKETCALL_ARG_SIZE as u64
    );
    assert_eq!(
        got("sizeof syslet_compat_iovec"),
        compat::COMPAT_IOVEC_SIZE as u64
    );
    assert_eq!(
        got("sizeof syslet_compat_stat64"),
        compat::STAT64_SIZE as u64
    );
    let msghdr = compat::COMPAT_MSGHDR_SIZE as u64;
    assert_eq!(got("sizeof syslet_compat_msghdr"), msghdr);
    assert_eq!(got("sizeof msghdr"), msghdr, "glibc's i386 struct msghdr");
    let msghdr_fields = [
        ("msg_iov", offset_of!(compat::CompatMsgHdr, iov)),
        ("msg_control", offset_of!(compat::CompatMsgHdr, control)),
        (
            "msg_controllen",
            offset_of!(compat::CompatMsgHdr, controllen),
        ),
        ("msg_flags", offset_of!(compat::CompatMsgHdr, flags)),
    ];
    for (f, off) in msghdr_fields {
        assert_eq!(got(&format!("msghdr.{f}")), off as u64, "msghdr.{f}");
    }
    let cmsghdr = compat::COMPAT_CMSGHDR_SIZE as u64;
    assert_eq!(
        got("sizeof cmsghdr"),
        cmsghdr,
        "glibc's i386 struct cmsghdr"
    );
    assert_eq!(got("cmsg_space4"), cmsghdr + 4, "4-byte alignment");
    let statfs64 = [
        ("f_bsize", offset_of!(compat::Statfs64, f_bsize)),
        ("f_blocks", offset_of!(compat::Statfs64, f_blocks)),
        ("f_ffree", offset_of!(compat::Statfs64, f_ffree)),
        ("f_fsid", offset_of!(compat::Statfs64, f_fsid)),
        ("f_namelen", offset_of!(compat::Statfs64, f_namelen)),
        ("f_flags", offset_of!(compat::Statfs64, f_flags)),
        ("f_spare", offset_of!(compat::Statfs64, f_spare)),
    ];
    for (f, off) in statfs64 {
        assert_eq!(got(&format!("statfs64.{f}")), off as u64, "statfs64.{f}");
    }
    assert_eq!(got("sizeof statfs64"), compat::STATFS64_SIZE as u64);
    let statfs = [
        ("f_blocks", offset_of!(compat::Statfs32, f_blocks)),
        ("f_files", offset_of!(compat::Statfs32, f_files)),
        ("f_fsid", offset_of!(compat::Statfs32, f_fsid)),
        ("f_namelen", offset_of!(compat::Statfs32, f_namelen)),
        ("f_flags", offset_of!(compat::Statfs32, f_flags)),
        ("f_spare", offset_of!(compat::Statfs32, f_spare)),
    ];
    for (f, off) in statfs {
        assert_eq!(got(&format!("statfs.{f}")), off as u64, "statfs.{f}");
    }
    assert_eq!(got("sizeof statfs"), compat::STATFS32_SIZE as u64);
    assert_eq!(got("sizeof timespec"), compat::OLD_TIMESPEC32_SIZE as u64);
    assert_eq!(
        got("timespec.tv_nsec"),
        offset_of!(compat::OldTimespec32, tv_nsec) as u64
    );
    assert_eq!(got("magic"), compat::COMPAT_MAGIC as u64);
    assert_eq!(got("buf"), compat::compat_buf_arg(3, 0x10).unwrap() as u64);
    assert_eq!(got("atoms_len"), compat::compat_atoms_len(3) as u64);
    for c in compat::table::COMPAT_CALLS {
        let missing = format!("nr {} missing", c.name);
        if text.lines().any(|l| l == missing) {
            let newer = newer_calls::newer_than_headers(c.name);
            assert_eq!(
                newer.map(|n| n.1),
                Some(c.nr),
                "{}: not in the i386 headers, and not a listed newer call with this number",
                c.name
            );
            continue;
        }
        assert_eq!(
            got(&format!("nr {}", c.name)),
            c.nr as u64,
            "i386 number of {}",
            c.name
        );
    }
}

#[test]
fn a_refused_compat_batch_runs_nothing() {
    use std::io::Read;
    use std::os::unix::net::UnixStream;
    let (mut reader, writer) = UnixStream::pair().unwrap();
    reader.set_nonblocking(true).unwrap();
    let (rfd, wfd) = (reader.as_raw_fd() as u32, writer.as_raw_fd() as u32);
    use compat::CompatArg::{Buf, Imm};
    let write_atom = |w: &mut compat::CompatWriter| {
        let data = w.buffer(b"ran!", abi::BUF_IN);
        w.push(CompatAtom::new(
            nr32::WRITE,
            &[
                Imm(wfd),
                Buf {
                    index: data,
                    offset: 0,
                },
                Imm(4),
            ],
        ));
    };

    // Refused by the translator: an unknown i386 number after the write.
    let mut w = compat::CompatWriter::new();
    write_atom(&mut w);
    w.push(CompatAtom::new(11 /* execve */, &[]));
    let e = compat::normalize(&w.finish()).unwrap_err();
    assert_eq!(
        (e.atom, &e.kind),
        (Some(1), &compat::CompatErrorKind::UnknownSyscall(11))
    );

    // Translated, then refused by the native validator: a read longer than its buffer.
    let mut w = compat::CompatWriter::new();
    write_atom(&mut w);
    let small = w.zeroed(4, abi::BUF_OUT);
    w.push(CompatAtom::new(
        nr32::READ,
        &[
            Imm(rfd),
            Buf {
                index: small,
                offset: 0,
            },
            Imm(64),
        ],
    ));
    let norm = compat::normalize(&w.finish()).unwrap();
    let e = EncodedBatch::from_bytes(norm.native_bytes())
        .validate(&Policy::default())
        .unwrap_err();
    assert_eq!(e.atom, Some(1));

    // Neither wrote into the socket.
    let mut buf = [0u8; 8];
    let got = reader.read(&mut buf);
    assert_eq!(
        got.map_err(|e| e.kind()),
        Err(std::io::ErrorKind::WouldBlock),
        "nothing may have run"
    );
    // And the same write, accepted, does run.
    let mut w = compat::CompatWriter::new();
    write_atom(&mut w);
    let mut bytes = w.finish();
    let c = run_compat(&mut bytes);
    assert_eq!(c.results[0], 4);
    let n = reader.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ran!");
}

#[test]
fn the_native_layout_of_a_translated_batch_is_what_the_builders_make() {
    // open+fstat64+close written in the 32-bit layout equals the same chain
    // built natively with the typed builders (with the appended struct stat).
    use compat::CompatArg::{Buf, Imm, Result as Res};
    use syslets::opcode::{Close, Fstat, Openat};
    use syslets::{Chain, Stop};
    let mut w = compat::CompatWriter::new();
    let p = w.path(b"data.txt");
    let st = w.zeroed(96, abi::BUF_OUT);
    w.push(
        CompatAtom::new(
            nr32::OPENAT,
            &[
                Imm(-100i32 as u32),
                Buf {
                    index: p,
                    offset: 0,
                },
                Imm(0x88000),
                Imm(0),
            ],
        )
        .with_flags(abi::STOP_ON_NEGATIVE),
    );
    w.push(CompatAtom::new(
        nr32::FSTAT64,
        &[
            Res(0),
            Buf {
                index: st,
                offset: 0,
            },
        ],
    ));
    w.push(CompatAtom::new(nr32::CLOSE, &[Res(0)]));
    let norm = compat::normalize(&w.finish()).unwrap();

    let mut chain = Chain::new();
    chain.set_flags(abi::BATCH_COMPAT32);
    let path = chain.path("data.txt");
    let _unused_stat64 = chain.output_bytes(96);
    let stat = chain.output::<syslets::Stat>();
    let fd = chain.push(
        Openat::new(libc::AT_FDCWD, path)
            .flags(0x88000)
            .stop_on(Stop::NEGATIVE),
    );
    chain.push(Fstat::new(fd, stat));
    chain.push(Close::new(fd));
    let native = chain.encode().unwrap();
    assert_eq!(norm.native_bytes(), native.as_bytes());
}

#[test]
fn the_fixtures_exist_for_every_chain() {
    for name in FIXTURES.iter().chain(DIR_FIXTURES) {
        let b = load(name);
        let n = compat::normalize(&b);
        // The placeholders (dirfd 100, port 0) still translate; they only fail
        // when run.
        assert!(n.is_ok(), "{name}: {:?}", n.err());
    }
}

// ---------------------------------------------------------------------------
// Directory offsets, on file systems of the test's own.

const EXT4_SUPER_MAGIC: i64 = 0xEF53;
const TMPFS_MAGIC: i64 = 0x0102_1994;
/// ext4's end-of-directory marker for a 32-bit caller.
const EXT4_EOF_32: i64 = 0x7fff_ffff;
/// The names in "small" (with "." and ".."), one of each file type.
const SMALL: &[&str] = &[
    "alpha", "beta", "gamma", "f01", "f02", "f03", "f04", "f05", "f06", "f07",
];
/// Entries of "big": several 4 KiB blocks, an indexed (htree) directory on ext4.
const BIG: usize = 300;

/// The file system type of `path` (`statfs.f_type`).
fn fs_type(path: &Path) -> i64 {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: `statfs` is plain integers; all zero is a valid value.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a struct statfs to fill.
    let r = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    assert_eq!(
        r,
        0,
        "statfs {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
    st.f_type as i64
}

/// Run a command; its stderr when it fails (or cannot start).
fn sh(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{cmd:?}: {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

/// A file system for one test: an ext4 image on a loop device, or a tmpfs,
/// mounted under the test's own scratch directory. Dropping it (also when the
/// test panics) unmounts it, detaches the loop device and removes the files.
struct TestFs {
    kind: &'static str,
    mnt: PathBuf,
    /// Removed when dropped (after the unmount).
    scratch: PathBuf,
    image: Option<PathBuf>,
    mounted: bool,
}

impl TestFs {
    /// A scratch directory with an empty `mnt` in it, nothing mounted yet
    /// (the guard exists before anything it must undo).
    fn unmounted(kind: &'static str) -> TestFs {
        let scratch = scratch(kind);
        let mnt = scratch.join("mnt");
        fs::create_dir(&mnt).unwrap();
        TestFs {
            kind,
            mnt,
            scratch,
            image: None,
            mounted: false,
        }
    }

    fn ext4() -> Result<TestFs, String> {
        let mut t = TestFs::unmounted("ext4");
        let image = t.scratch.join("fs.img");
        t.image = Some(image.clone());
        fs::File::create(&image)
            .and_then(|f| f.set_len(32 << 20))
            .map_err(|e| e.to_string())?;
        // No journal: smaller and faster; the directory code is the same.
        sh(Command::new("mkfs.ext4")
            .args(["-q", "-F", "-O", "^has_journal", "-E", "nodiscard"])
            .arg(&image))
        .map_err(|e| format!("mkfs.ext4 (e2fsprogs): {e}"))?;
        // mount(8) picks a free loop device and sets autoclear on it: the
        // unmount releases it.
        sh(Command::new("mount")
            .args(["-t", "ext4", "-o", "loop,nosuid,nodev"])
            .arg(&image)
            .arg(&t.mnt))
        .map_err(|e| format!("loop-mounting the ext4 image needs root and loop devices: {e}"))?;
        t.mounted = true;
        Ok(t)
    }

    fn tmpfs() -> Result<TestFs, String> {
        let mut t = TestFs::unmounted("tmpfs");
        match sh(Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                "size=16m,mode=0755,nosuid,nodev",
                "tmpfs",
            ])
            .arg(&t.mnt))
        {
            Ok(()) => t.mounted = true,
            // Not root: a directory of our own on /dev/shm, where that is tmpfs.
            Err(e) => {
                let shm = Path::new("/dev/shm");
                if !shm.is_dir() || fs_type(shm) != TMPFS_MAGIC {
                    return Err(format!("cannot mount a tmpfs ({e}), and /dev/shm is none"));
                }
                fs::remove_dir_all(&t.scratch).unwrap();
                t.scratch = shm.join(t.scratch.file_name().unwrap());
                t.mnt = t.scratch.clone();
                fs::create_dir(&t.mnt).unwrap();
            }
        }
        Ok(t)
    }

    /// "small" (one entry of each type, and files) and "big".
    fn populate(&self) {
        let small = self.mnt.join("small");
        fs::create_dir(&small).unwrap();
        for name in SMALL {
            match *name {
                "beta" => fs::create_dir(small.join(name)).unwrap(),
                "gamma" => std::os::unix::fs::symlink("alpha", small.join(name)).unwrap(),
                _ => fs::write(small.join(name), name).unwrap(),
            }
        }
        let big = self.mnt.join("big");
        fs::create_dir(&big).unwrap();
        for k in 0..BIG {
            fs::write(big.join(format!("entry-{k:03}")), b"").unwrap();
        }
    }
}

impl Drop for TestFs {
    fn drop(&mut self) {
        if self.mounted {
            if let Err(e) = sh(Command::new("umount").arg(&self.mnt)) {
                eprintln!("{}: {e}; detaching lazily", self.kind);
                let _ = sh(Command::new("umount").arg("-l").arg(&self.mnt));
            }
        }
        if let Some(image) = &self.image {
            // A loop device still attached to the image (autoclear could not
            // run): detach it.
            if let Ok(out) = Command::new("losetup")
                .args(["-n", "-O", "NAME", "-j"])
                .arg(image)
                .output()
            {
                for dev in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = sh(Command::new("losetup").arg("-d").arg(dev));
                }
            }
        }
        let _ = fs::remove_dir_all(&self.scratch);
    }
}

/// `(d_ino, d_off, d_type, name)` of every entry in a getdents64 buffer.
fn dirents(buf: &[u8]) -> Vec<(u64, i64, u8, String)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 19 <= buf.len() {
        let reclen = u16::from_le_bytes([buf[at + 16], buf[at + 17]]) as usize;
        assert!(
            reclen >= 24 && at + reclen <= buf.len(),
            "reclen {reclen} at {at}"
        );
        let ino = u64::from_le_bytes(buf[at..at + 8].try_into().unwrap());
        let off = i64::from_le_bytes(buf[at + 8..at + 16].try_into().unwrap());
        let name = &buf[at + 19..at + reclen];
        let name = &name[..name.iter().position(|&b| b == 0).unwrap()];
        out.push((
            ino,
            off,
            buf[at + 18],
            String::from_utf8(name.to_vec()).unwrap(),
        ));
        at += reclen;
    }
    out
}

/// What a 64-bit getdents64 of `dir` gives this process, read whole.
fn native_dirents(dir: &Path) -> Vec<(u64, i64, u8, String)> {
    let f = fs::File::open(dir).unwrap();
    let mut buf = vec![0u8; 32 << 10];
    // SAFETY: getdents64 writes at most `buf.len()` bytes into `buf`.
    let n = unsafe {
        libc::syscall(
            libc::SYS_getdents64,
            f.as_raw_fd(),
            buf.as_mut_ptr(),
            buf.len(),
        )
    };
    assert!(n > 0, "getdents64: {}", std::io::Error::last_os_error());
    dirents(&buf[..n as usize])
}

/// The d_off after the first entry: where `getdents_seek` seeks.
fn second_d_off(buf: &[u8]) -> u64 {
    dirents(buf)[1].1 as u64
}

/// Put the directory offset `cookie` into getdents_seek's `_llseek`
/// (the fixture seeks to 0).
fn patch_cookie(bytes: &mut [u8], cookie: u64) {
    let a = atom_mut(bytes, 1);
    assert_eq!(a.nr, nr32::LLSEEK);
    assert_eq!(&a.arg_kind[1..3], &[abi::ARG_IMM, abi::ARG_IMM]);
    assert_eq!(
        &a.arg[1..3],
        &[0, 0],
        "getdents_seek: the placeholder offset"
    );
    a.arg[1] = (cookie >> 32) as u32;
    a.arg[2] = cookie as u32;
}

/// `run_compat` on a worker of `ex`: the batch flagged `BATCH_ASYNC` (in the
/// 32-bit header, as a producer would) goes straight to a worker thread,
/// which runs under the policy's seccomp filter.
fn run_compat_on_a_worker(ex: &syslets::Executor, bytes: &mut [u8]) -> abi::Completion {
    let header = abi::BatchHeader::mut_from_prefix(bytes).unwrap().0;
    header.flags |= abi::BATCH_ASYNC;
    let norm = compat::normalize(bytes).expect("normalises");
    let batch = EncodedBatch::from_bytes(norm.native_bytes())
        .validate(&Policy::default())
        .expect("the translated batch validates");
    let ticket = match ex.submit(batch).expect("submits") {
        syslets::Submitted::Queued(t) => t,
        syslets::Submitted::Done(_) => panic!("an ASYNC batch completed inline"),
    };
    let mut done = Vec::new();
    while done.is_empty() {
        ex.wait(1, Some(std::time::Duration::from_secs(30)))
            .unwrap();
        ex.reap_into(&mut done).unwrap();
    }
    assert_eq!(done[0].ticket(), ticket);
    let batch = done.pop().unwrap().into_batch();
    let c = *batch.completion().as_abi();
    norm.write_back(batch.arena(), &c, bytes)
        .expect("write-back")
}

/// Run the directory chains the producer ran in `t` (its batches and its
/// results are in `out`), inline and on a worker, and compare field by field;
/// then check what makes the comparison mean something on this file system.
fn check_dirs(t: &TestFs, out: &Path, ex: &syslets::Executor) {
    let kind = t.kind;
    let dirfd = fs::File::open(&t.mnt).unwrap();
    for worker in [false, true] {
        let how = if worker { "worker" } else { "inline" };
        let mut small_ents = Vec::new();
        for name in DIR_FIXTURES {
            let label = format!("{kind}, {how}: {name}");
            let mut b = fs::read(out.join(format!("{name}.bin"))).unwrap();
            assert_eq!(patch_dirfd(name, &mut b, dirfd.as_raw_fd()), 1, "{label}");
            if *name == "getdents_seek" {
                patch_cookie(&mut b, second_d_off(&small_ents));
            }
            let fd_atoms = fd_atoms(&mut b);
            let c = if worker {
                run_compat_on_a_worker(ex, &mut b)
            } else {
                run_compat(&mut b)
            };
            assert_matches_the_32_bit_run((name, &label), &b, &c, out, &fd_atoms);
            if *name == "getdents_small" {
                small_ents = buffer(&b, 1)[..c.results[1] as usize].to_vec();
                let ends = (
                    i64::from_le_bytes(buffer(&b, 3).try_into().unwrap()),
                    c.results[4],
                );
                check_small(kind, &t.mnt.join("small"), &small_ents, ends);
            }
            if *name == "getdents_big" {
                let n = |i: usize| c.results[i] as usize;
                let mut all = dirents(&buffer(&b, 1)[..n(1)]);
                all.extend(dirents(&buffer(&b, 3)[..n(3)]));
                assert_eq!(c.results[4], 0, "{label}: read to its end");
                assert_eq!(all.len(), BIG + 2, "{label}: every entry once");
                if kind == "ext4" {
                    assert!(
                        all.iter().all(|e| (0..=EXT4_EOF_32).contains(&e.1)),
                        "{label}"
                    );
                }
            }
        }
    }
}

/// "small" as the 32-bit process saw it (and as syslets wrote it back): every
/// name, and on ext4 the 32-bit offsets and end marker that differ from what a
/// 64-bit call gets — so that the comparison above could have failed.
fn check_small(kind: &str, dir: &Path, ents: &[u8], (end, lseek32): (i64, i64)) {
    let ours = dirents(ents);
    let mut names: Vec<&str> = ours.iter().map(|e| e.3.as_str()).collect();
    names.sort();
    let mut want: Vec<&str> = SMALL.iter().copied().chain([".", ".."]).collect();
    want.sort();
    assert_eq!(names, want, "{kind}");
    let native = native_dirents(dir);
    match kind {
        "ext4" => {
            assert!(
                ours.iter().all(|e| (0..=EXT4_EOF_32).contains(&e.1)),
                "ext4: a 32-bit caller gets 31-bit directory offsets: {ours:?}"
            );
            assert_eq!(ours.last().unwrap().1, EXT4_EOF_32, "ext4: the last d_off");
            assert_eq!(
                (end, lseek32),
                (EXT4_EOF_32, EXT4_EOF_32),
                "ext4: SEEK_END, SEEK_CUR"
            );
            // A 64-bit call gets other offsets (their high halves are ours).
            assert!(native.iter().any(|e| e.1 > u32::MAX as i64), "{native:?}");
            let high: Vec<i64> = native.iter().map(|e| e.1 >> 32).collect();
            assert_eq!(high, ours.iter().map(|e| e.1).collect::<Vec<_>>());
        }
        _ => {
            // tmpfs offsets are the same for every caller (its end and
            // SEEK_END were compared with the 32-bit process's above).
            assert_eq!(native, ours, "{kind}: as a 64-bit call sees it");
        }
    }
}

/// A file system the test cannot have: fail in CI, say so loudly elsewhere.
fn missing_fs(test: &str, kind: &str, why: &str) {
    assert!(
        !in_ci(),
        "{test}: the {kind} case is required in CI (root, loop devices, e2fsprogs): {why}"
    );
    eprintln!("SKIPPED the {kind} case of {test}: {why}");
}

#[test]
fn directory_offsets_match_the_32_bit_process_on_ext4_and_tmpfs() {
    let test = "directory_offsets_match_the_32_bit_process_on_ext4_and_tmpfs";
    let exe = match producer() {
        Ok(p) => p,
        Err(why) => return missing_gcc(test, &why),
    };
    let ex = syslets::Executor::new();
    for (kind, make) in [
        ("ext4", TestFs::ext4 as fn() -> Result<TestFs, String>),
        ("tmpfs", TestFs::tmpfs),
    ] {
        let t = match make() {
            Ok(t) => t,
            Err(why) => {
                missing_fs(test, kind, &why);
                continue;
            }
        };
        let expected = if kind == "ext4" {
            EXT4_SUPER_MAGIC
        } else {
            TMPFS_MAGIC
        };
        assert_eq!(fs_type(&t.mnt), expected, "{kind} is mounted");
        t.populate();
        let out = scratch("dirs");
        let st = Command::new(exe)
            .arg(&out)
            .arg("--dirs")
            .arg(&t.mnt)
            .status()
            .unwrap();
        assert!(st.success(), "{kind}: the 32-bit producer: {st}");
        check_dirs(&t, &out, &ex);
        let _ = fs::remove_dir_all(&out);
    }
}
