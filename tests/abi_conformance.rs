//! ABI conformance: `abi/include/syslet.h` (built with the system `cc`, with
//! `cc -m32` and as C++) and the Rust crate `syslets-abi` must agree on every
//! size, alignment, field offset and constant, and batches must survive the trip
//! from Rust to C and from C to Rust byte for byte.
//!
//! The C programs live in `tests/c/`. Each test compiles what it needs into its
//! own directory under `CARGO_TARGET_TMPDIR`.
//!
//! A missing tool (`cc`, `cc -m32` from gcc-multilib, `c++` from g++) fails the
//! test with the package to install. Outside CI (`CI` not `true`) a developer may
//! set `SYSLETS_ALLOW_MISSING_CC_TOOLS=1` to have such tests print
//! `skipping: ...` and return instead.

#[path = "common/newer_calls.rs"]
mod newer_calls;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::mem::{align_of, offset_of, size_of, size_of_val};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use syslets::abi::{
    self, nr, Atom, BatchHeader, BufDesc, Completion, IoVec, MsgHdr, RingEntry, RingHeader,
};
use syslets::opcode::{Close, Connect, Fstat, Openat, Sendto, Socket};
use syslets::{Chain, EncodedBatch, Errno, ErrorKind, Policy, Stat, Stop};
use zerocopy::FromBytes;

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

// ---------------------------------------------------------------------------
// Compilers and scratch directories.

/// One way of compiling the C sources.
#[derive(Clone, Copy, Debug)]
struct Compiler {
    /// For messages and directory names.
    name: &'static str,
    /// The command and the flags that select the language and target.
    argv: &'static [&'static str],
    /// The Debian package that provides it.
    package: &'static str,
}

const STRICT: &[&str] = &["-Wall", "-Wextra", "-Werror", "-pedantic"];

const CC: Compiler = Compiler {
    name: "cc",
    argv: &["cc", "-std=c11"],
    package: "gcc",
};
const CC32: Compiler = Compiler {
    name: "cc-m32",
    argv: &["cc", "-m32", "-std=c11"],
    package: "gcc-multilib",
};
const CXX: Compiler = Compiler {
    name: "c++",
    argv: &["c++", "-x", "c++", "-std=c++17"],
    package: "g++",
};

/// A fresh directory for one test; removed when the test passes, kept for
/// inspection when it fails.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Scratch {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("abi_conformance")
            .join(format!("{test}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        Scratch(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// Whether `compiler` can build and run a trivial program. When it cannot, the
/// test fails naming the package to install — unless, outside CI only, the
/// developer opted into skipping with `SYSLETS_ALLOW_MISSING_CC_TOOLS=1`, in
/// which case this says so on stderr and returns `false`.
fn require(compiler: Compiler, scratch: &Scratch) -> bool {
    let src = scratch.path(&format!("probe-{}.c", compiler.name));
    fs::write(&src, "int main(void) { return 0; }\n").unwrap();
    let exe = scratch.path(&format!("probe-{}", compiler.name));
    let problem = match Command::new(compiler.argv[0])
        .args(&compiler.argv[1..])
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .output()
    {
        Err(e) => Some(format!("cannot run `{}`: {e}", compiler.argv[0])),
        Ok(out) if !out.status.success() => Some(format!(
            "`{}` cannot build a trivial program:\n{}",
            compiler.argv.join(" "),
            String::from_utf8_lossy(&out.stderr)
        )),
        Ok(_) => match Command::new(&exe).status() {
            Ok(s) if s.success() => None,
            other => Some(format!(
                "a trivial program built with `{}` does not run: {other:?}",
                compiler.argv.join(" ")
            )),
        },
    };
    let Some(problem) = problem else { return true };
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let allow_skip = std::env::var("SYSLETS_ALLOW_MISSING_CC_TOOLS").is_ok_and(|v| v == "1");
    if allow_skip && !ci {
        eprintln!(
            "skipping: {} not available (install {}): {problem}",
            compiler.argv.join(" "),
            compiler.package
        );
        return false;
    }
    panic!(
        "{} is required by the ABI conformance tests (install the Debian package {}; \
         .ci/run must install it). Outside CI, SYSLETS_ALLOW_MISSING_CC_TOOLS=1 turns this \
         into a skip.\n{problem}",
        compiler.argv.join(" "),
        compiler.package
    );
}

/// Compile `tests/c/{source}` with `compiler` (strict warnings, `syslet.h` and
/// the scratch directory on the include path) into the scratch directory;
/// returns the executable.
fn compile(compiler: Compiler, source: &str, scratch: &Scratch) -> PathBuf {
    let src = Path::new(MANIFEST_DIR).join("tests/c").join(source);
    let exe = scratch.path(&format!(
        "{}-{}",
        source.trim_end_matches(".c"),
        compiler.name
    ));
    let out = Command::new(compiler.argv[0])
        .args(&compiler.argv[1..])
        .args(STRICT)
        .arg("-I")
        .arg(Path::new(MANIFEST_DIR).join("abi/include"))
        .arg("-I")
        .arg(&scratch.0)
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", compiler.argv[0]));
    assert!(
        out.status.success(),
        "`{} {}` failed:\n{}",
        compiler.argv.join(" "),
        src.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// Run `exe` with `args`; it must succeed. Returns its stdout.
fn run(exe: &Path, args: &[&Path]) -> String {
    let out = Command::new(exe)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", exe.display()));
    assert!(
        out.status.success(),
        "{} {args:?} failed ({}):\n{}",
        exe.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("C output is ASCII")
}

// ---------------------------------------------------------------------------
// The layout lists.

/// `"sizeof syslet_atom" -> 80`, as printed by `tests/c/layout.c`: the last
/// space-separated word is the value, the rest is the key.
type Layout = BTreeMap<String, u64>;

fn parse_layout(text: &str) -> Layout {
    let mut map = Layout::new();
    for line in text.lines() {
        let (key, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("malformed line {line:?}"));
        let value: u64 = value
            .parse()
            .unwrap_or_else(|_| panic!("malformed value in {line:?}"));
        assert!(
            map.insert(key.to_string(), value).is_none(),
            "{key} printed twice"
        );
    }
    map
}

/// One struct of the ABI: its Rust and C names.
struct StructInfo {
    rust: &'static str,
    c: &'static str,
}

/// One constant: its Rust path and C name.
struct ConstInfo {
    rust: &'static str,
    c: &'static str,
}

/// The expected lines, built from the Rust crate.
struct RustSide {
    layout: Layout,
    structs: Vec<StructInfo>,
    consts: Vec<ConstInfo>,
}

/// `[$($rename,)? default][0]`: the rename when there is one.
macro_rules! pick {
    ($default:expr $(, $rename:literal)?) => {
        [$($rename,)? $default][0]
    };
}

macro_rules! structs {
    ($side:ident; $( $ty:ident => $cname:literal { $( $field:ident $(as $cfield:literal)? ),* $(,)? } )*) => { $(
        {
            let zero = <$ty as zerocopy::FromZeros>::new_zeroed();
            let layout = &mut $side.layout;
            layout.insert(format!("sizeof {}", $cname), size_of::<$ty>() as u64);
            layout.insert(format!("alignof {}", $cname), align_of::<$ty>() as u64);
            $(
                let f = pick!(stringify!($field) $(, $cfield)?);
                layout.insert(format!("offsetof {}.{f}", $cname), offset_of!($ty, $field) as u64);
                layout.insert(format!("sizeof {}.{f}", $cname), size_of_val(&zero.$field) as u64);
            )*
            $side.structs.push(StructInfo { rust: stringify!($ty), c: $cname });
        }
    )* };
}

macro_rules! consts {
    ($side:ident, $module:ident, $prefix:literal; $( $name:ident $(as $cname:literal)? ),* $(,)?) => { $(
        {
            let c = pick!(concat!($prefix, stringify!($name)) $(, $cname)?);
            $side.layout.insert(format!("const {c}"), $module::$name as u64);
            $side.consts.push(ConstInfo { rust: concat!(stringify!($module), "::", stringify!($name)), c });
        }
    )* };
}

fn rust_side() -> RustSide {
    let mut side = RustSide {
        layout: Layout::new(),
        structs: Vec::new(),
        consts: Vec::new(),
    };
    side.layout
        .insert("sizeof syslet_u64".into(), size_of::<u64>() as u64);
    side.layout
        .insert("alignof syslet_u64".into(), align_of::<u64>() as u64);
    side.layout
        .insert("sizeof syslet_s64".into(), size_of::<i64>() as u64);
    side.layout
        .insert("alignof syslet_s64".into(), align_of::<i64>() as u64);

    structs! { side;
        BatchHeader => "syslet_batch_header" {
            magic, version, natoms, nbufs, flags, arena_len, caller_data, reserved
        }
        Atom => "syslet_atom" {
            flags, nr, arg_kind, nargs, arg, private as "private_data", reserved
        }
        BufDesc => "syslet_buf_desc" { offset, len, flags, reserved }
        IoVec => "syslet_iovec" { base, len }
        MsgHdr => "syslet_msghdr" {
            name, namelen, pad0, iov, iovlen, control, controllen, flags, pad1
        }
        Completion => "syslet_completion" {
            caller_data, status, ran_mask, last_atom, atoms_run, natoms, flags, results
        }
        RingHeader => "syslet_ring" { kernel_head, user_tail, elements, wait_group }
        RingEntry => "syslet_ring_entry" {
            ticket, caller_data, status, last_atom, atoms_run, flags
        }
    }

    consts! { side, abi, "SYSLET_";
        MAGIC, VERSION, MAX_ATOMS, MAX_BUFS, MAX_ARENA_LEN, MAX_ARGS, BATCH_ALIGN, MAX_IOVECS,
        MSGHDR_SIZE, CMSGHDR_SIZE, MAX_CONTROL_LEN,
        HEADER_SIZE, ATOM_SIZE, BUFDESC_SIZE, IOVEC_SIZE, COMPLETION_SIZE, RING_HEADER_SIZE,
        RING_ENTRY_SIZE,
        STOP_ON_NONZERO, STOP_ON_ZERO, STOP_ON_NEGATIVE, STOP_ON_NON_POSITIVE, STOP_MASK,
        SKIP_TO_NEXT_ON_STOP, NEXT_MASK, NEXT_SHIFT, ATOM_FLAGS_MASK,
        BATCH_ASYNC as "SYSLET_ASYNC", BATCH_SYNC as "SYSLET_SYNC",
        BATCH_NO_COMPLETE as "SYSLET_NO_COMPLETE", BATCH_COMPAT32 as "SYSLET_COMPAT32",
        BATCH_FLAGS_MASK,
        ARG_IMM, ARG_RESULT, ARG_BUF, ARG_RAW,
        BUF_IN, BUF_OUT, BUF_FLAGS_MASK,
        COMPLETION_STOPPED, COMPLETION_CANCELED, COMPLETION_INLINE,
    }
    // `SYSLET_NR_*`: one per row of the system-call table, by its name.
    macro_rules! nr_consts {
        ($({ nr [$NR:ident = $num:literal, $name:literal] $($rest:tt)* })*) => {
            consts! { side, nr, "SYSLET_NR_"; $($NR),* }
        };
    }
    syslets_abi::for_each_syscall!(nr_consts);

    // The function-like macros against the Rust functions they mirror.
    let macros = [
        ("SYSLET_NEXT(0)", abi::next_field(0) as u64),
        ("SYSLET_NEXT(1)", abi::next_field(1) as u64),
        ("SYSLET_NEXT(255)", abi::next_field(255) as u64),
        ("SYSLET_BUF_ARG(0, 0)", abi::buf_arg(0, 0)),
        ("SYSLET_BUF_ARG(3, 0x1234)", abi::buf_arg(3, 0x1234)),
        (
            "SYSLET_BUF_ARG(65535, 0xffffffffu)",
            abi::buf_arg(65535, 0xffff_ffff),
        ),
    ];
    for (m, v) in macros {
        side.layout.insert(format!("macro {m}"), v);
    }
    side
}

/// Every difference between the two lists, one line each.
fn differences(rust: &Layout, c: &Layout, c_name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in rust {
        match c.get(k) {
            None => out.push(format!("{k}: Rust has {v}, {c_name} did not print it")),
            Some(w) if w != v => out.push(format!("{k}: Rust has {v}, {c_name} has {w}")),
            Some(_) => {}
        }
    }
    for (k, w) in c {
        if !rust.contains_key(k) {
            out.push(format!("{k}: {c_name} has {w}, Rust has no such entry"));
        }
    }
    out
}

/// Every struct's listed fields must cover it exactly, without gaps or
/// overlaps: proves that no field was left out of a list (the ABI has no
/// padding anywhere).
fn tiling_problems(layout: &Layout, who: &str) -> Vec<String> {
    let mut fields: BTreeMap<&str, Vec<(u64, u64, &str)>> = BTreeMap::new();
    for (k, &off) in layout {
        if let Some(sf) = k.strip_prefix("offsetof ") {
            let (s, f) = sf.split_once('.').expect("offsetof S.f");
            let size = layout
                .get(&format!("sizeof {sf}"))
                .copied()
                .unwrap_or(u64::MAX);
            fields.entry(s).or_default().push((off, size, f));
        }
    }
    let mut out = Vec::new();
    for (s, mut fs) in fields {
        fs.sort();
        let mut at = 0;
        for (off, size, f) in fs {
            if off != at {
                out.push(format!(
                    "{who}: {s}.{f} at {off}, but the fields before it end at {at} \
                     (a field missing from the list, or padding)"
                ));
            }
            at = off.saturating_add(size);
        }
        let total = layout.get(&format!("sizeof {s}")).copied();
        if total != Some(at) {
            out.push(format!(
                "{who}: the fields of {s} end at {at}, but it is {total:?} bytes \
                 (a field missing from the list, or trailing padding)"
            ));
        }
    }
    out
}

/// The C names of the `SYSLET_NR_*` constants, one per row of the table.
fn side_nr_consts() -> Vec<&'static str> {
    rust_side()
        .consts
        .iter()
        .map(|c| c.c)
        .filter(|c| c.starts_with("SYSLET_NR_"))
        .collect()
}

/// Build `tests/c/layout.c` with `compiler`, run it, compare with Rust.
/// Returns the program's output, or `None` when the compiler is absent and the
/// developer allowed skipping.
fn check_layout(compiler: Compiler, test: &str) -> Option<String> {
    let scratch = Scratch::new(test);
    if !require(compiler, &scratch) {
        return None;
    }
    // layout.c prints every SYSLET_NR_* the table has a row for.
    let nr_lines: String = side_nr_consts()
        .iter()
        .map(|c| format!("\tCONST({c});\n"))
        .collect();
    fs::write(scratch.path("nr_consts.inc"), nr_lines).unwrap();
    let exe = compile(compiler, "layout.c", &scratch);
    let text = run(&exe, &[]);
    let c = parse_layout(&text);
    let rust = rust_side().layout;
    let mut problems = differences(&rust, &c, compiler.name);
    problems.extend(tiling_problems(&c, compiler.name));
    assert!(
        problems.is_empty(),
        "syslet.h built with `{}` disagrees with syslets-abi:\n  {}",
        compiler.argv.join(" "),
        problems.join("\n  ")
    );
    Some(text)
}

// ---------------------------------------------------------------------------
// Layout tests.

/// The Rust lists are complete: every `pub const` of `abi/src/lib.rs`, every
/// row of the system-call table, and every `pub struct` of the batch and completion modules is
/// in them, every struct's listed fields cover it, and every `#define` and
/// `struct` of `syslet.h` has a Rust counterpart. (The layout tests then make
/// sure the C program prints every one of these.)
#[test]
fn rust_lists_cover_the_abi_crate_and_the_header() {
    let side = rust_side();
    let mut problems = tiling_problems(&side.layout, "Rust");

    let listed: Vec<&str> = side.consts.iter().map(|c| c.rust).collect();
    // Every row of the table, under the name of its `man 2` page.
    for sig in syslets_abi::signature::SIGNATURES {
        let path = format!("nr::{}", sig.name.to_uppercase());
        if !listed.contains(&path.as_str()) {
            problems.push(format!(
                "{path} ({}) is not compared with syslet.h",
                sig.name
            ));
        }
    }
    for (module, source) in [("abi", include_str!("../abi/src/lib.rs"))] {
        for line in source.lines() {
            let Some(rest) = line.trim_start().strip_prefix("pub const ") else {
                continue;
            };
            if rest.starts_with("fn ") {
                continue;
            }
            let name = rest.split(':').next().unwrap().trim();
            let path = format!("{module}::{name}");
            if !listed.contains(&path.as_str()) {
                problems.push(format!(
                    "{path} is not compared with syslet.h (add it to rust_side)"
                ));
            }
        }
    }

    let structs: Vec<&str> = side.structs.iter().map(|s| s.rust).collect();
    for source in [
        include_str!("../abi/src/batch.rs"),
        include_str!("../abi/src/completion.rs"),
    ] {
        for line in source.lines() {
            if let Some(rest) = line.strip_prefix("pub struct ") {
                let name = rest.split([' ', '{', '(', '<']).next().unwrap();
                if !structs.contains(&name) {
                    problems.push(format!(
                        "struct {name} is not compared with syslet.h (add it to rust_side)"
                    ));
                }
            }
        }
    }

    let header = fs::read_to_string(Path::new(MANIFEST_DIR).join("abi/include/syslet.h")).unwrap();
    let c_consts: Vec<&str> = side.consts.iter().map(|c| c.c).collect();
    let c_structs: Vec<&str> = side.structs.iter().map(|s| s.c).collect();
    let mut header_macros = Vec::new();
    for line in header.lines() {
        if let Some(rest) = line.strip_prefix("#define ") {
            let name_end = rest.find([' ', '\t', '(']).unwrap_or(rest.len());
            let (name, after) = rest.split_at(name_end);
            if after.starts_with('(') {
                header_macros.push(name);
            } else if name != "SYSLET_H" && !c_consts.contains(&name) {
                problems.push(format!(
                    "syslet.h defines {name}, which has no Rust counterpart in rust_side"
                ));
            }
        }
        if let Some(rest) = line.strip_prefix("struct ") {
            if let Some(name) = rest.strip_suffix(" {") {
                if !c_structs.contains(&name) {
                    problems.push(format!(
                        "syslet.h declares struct {name}, which has no Rust counterpart"
                    ));
                }
            }
        }
    }
    for m in header_macros {
        let tested = side
            .layout
            .keys()
            .any(|k| k.starts_with(&format!("macro {m}(")));
        if m != "SYSLET_STATIC_ASSERT" && !tested {
            problems.push(format!("syslet.h's macro {m}() is not compared with Rust"));
        }
    }
    for c in &c_consts {
        if !header.contains(&format!("#define {c} ")) {
            problems.push(format!("syslet.h does not define {c}"));
        }
    }
    assert!(problems.is_empty(), "\n  {}", problems.join("\n  "));
}

/// `layout.c` built with the system `cc` prints exactly the Rust list: every
/// struct size and alignment, every field offset and size, every constant and
/// the values of `SYSLET_NEXT`/`SYSLET_BUF_ARG`.
#[test]
fn layout_cc_matches_rust() {
    check_layout(CC, "layout_cc");
}

/// The same program built with `cc -m32` (i386) prints the same list, and the
/// very same text as the native build: the fixed-size structs do not depend on
/// the C ABI (this is what the aligned(8) 64-bit typedefs are for).
#[test]
fn layout_cc_m32_matches_rust_and_native() {
    let Some(m32) = check_layout(CC32, "layout_cc_m32") else {
        return;
    };
    let native = check_layout(CC, "layout_cc_for_m32").expect("cc is always required");
    assert_eq!(m32, native, "cc -m32 and cc print different layouts");
}

/// The same program built as C++17 prints the same list.
#[test]
fn layout_cxx_matches_rust() {
    check_layout(CXX, "layout_cxx");
}

/// The header alone compiles warning-free in strict C11 (native and `-m32`,
/// also with `-Wpadded`: no struct has implicit padding) and as C++17.
#[test]
fn header_compiles_strictly_as_c11_and_cxx17() {
    let scratch = Scratch::new("header_strict");
    let tu = scratch.path("only_header.c");
    fs::write(&tu, "#include \"syslet.h\"\nint syslet_header_only;\n").unwrap();
    for compiler in [CC, CC32, CXX] {
        if !require(compiler, &scratch) {
            continue;
        }
        let out = Command::new(compiler.argv[0])
            .args(&compiler.argv[1..])
            .args(STRICT)
            .arg("-Wpadded")
            .arg("-fsyntax-only")
            .arg("-I")
            .arg(Path::new(MANIFEST_DIR).join("abi/include"))
            .arg(&tu)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "syslet.h does not compile cleanly with `{} {} -Wpadded`:\n{}",
            compiler.argv.join(" "),
            STRICT.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Every syscall number of the table (and so of `SYSLET_NR_*`) is the
/// x86_64 kernel's: the `__NR_<name>` of the installed kernel headers, as the
/// system `cc` preprocesses `<sys/syscall.h>`, for every row by its name.
#[test]
fn syscall_numbers_match_the_kernel_headers() {
    let scratch = Scratch::new("syscall_numbers");
    if !require(CC, &scratch) {
        return;
    }
    let src = scratch.path("numbers.c");
    fs::write(&src, "#include <sys/syscall.h>\n").unwrap();
    let out = Command::new(CC.argv[0])
        .args(["-dM", "-E"])
        .arg(&src)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", CC.argv[0]));
    assert!(
        out.status.success(),
        "cc -dM -E <sys/syscall.h>: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let defines = String::from_utf8(out.stdout).unwrap();
    let kernel: BTreeMap<&str, u32> = defines
        .lines()
        .filter_map(|l| {
            let (name, value) = l.strip_prefix("#define __NR_")?.split_once(' ')?;
            Some((name, value.trim().parse().ok()?))
        })
        .collect();
    assert!(
        kernel.get("read") == Some(&0) && kernel.len() > 300,
        "no x86_64 __NR_* in <sys/syscall.h>:\n{defines}"
    );
    let mut problems = Vec::new();
    for sig in syslets_abi::signature::SIGNATURES {
        match kernel.get(sig.name) {
            // Newer than the headers: only the listed calls, with the listed number.
            None if newer_calls::newer_than_headers(sig.name).map(|n| n.0) == Some(sig.nr) => {
                let (_, _, since) = newer_calls::newer_than_headers(sig.name).unwrap();
                eprintln!(
                    "{}: not in these kernel headers ({since}); {} is the kernel table's number",
                    sig.name, sig.nr
                );
            }
            None => problems.push(format!(
                "{}: no __NR_{} in the kernel headers",
                sig.name, sig.name
            )),
            Some(&n) if n != sig.nr => problems.push(format!(
                "{}: the table says {}, the kernel headers say {n}",
                sig.name, sig.nr
            )),
            Some(_) => {}
        }
    }
    assert!(problems.is_empty(), "\n  {}", problems.join("\n  "));
}

// ---------------------------------------------------------------------------
// Rust -> C.

/// The text `tests/c/dump_batch.c` prints for `bytes`, made from the Rust structs.
fn rust_dump(bytes: &[u8]) -> String {
    let (h, mut rest) = BatchHeader::read_from_prefix(bytes).unwrap();
    let mut s = String::new();
    writeln!(s, "header.magic {}", h.magic).unwrap();
    writeln!(s, "header.version {}", h.version).unwrap();
    writeln!(s, "header.natoms {}", h.natoms).unwrap();
    writeln!(s, "header.nbufs {}", h.nbufs).unwrap();
    writeln!(s, "header.flags {}", h.flags).unwrap();
    writeln!(s, "header.arena_len {}", h.arena_len).unwrap();
    writeln!(s, "header.caller_data {}", h.caller_data).unwrap();
    writeln!(s, "header.reserved {}", h.reserved).unwrap();
    let join = |v: &[u64]| v.iter().map(|x| format!(" {x}")).collect::<String>();
    for i in 0..h.natoms {
        let (a, r) = Atom::read_from_prefix(rest).unwrap();
        rest = r;
        writeln!(s, "atom[{i}].flags {}", a.flags).unwrap();
        writeln!(s, "atom[{i}].nr {}", a.nr).unwrap();
        let kinds: Vec<u64> = a.arg_kind.iter().map(|&k| k as u64).collect();
        writeln!(s, "atom[{i}].arg_kind{}", join(&kinds)).unwrap();
        writeln!(s, "atom[{i}].nargs {}", a.nargs).unwrap();
        writeln!(s, "atom[{i}].arg{}", join(&a.arg)).unwrap();
        writeln!(s, "atom[{i}].private_data {}", a.private).unwrap();
        writeln!(s, "atom[{i}].reserved {}", a.reserved).unwrap();
    }
    for i in 0..h.nbufs {
        let (d, r) = BufDesc::read_from_prefix(rest).unwrap();
        rest = r;
        writeln!(s, "buf[{i}].offset {}", d.offset).unwrap();
        writeln!(s, "buf[{i}].len {}", d.len).unwrap();
        writeln!(s, "buf[{i}].flags {}", d.flags).unwrap();
        writeln!(s, "buf[{i}].reserved {}", d.reserved).unwrap();
    }
    writeln!(s, "arena {}", hex(rest)).unwrap();
    s
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `"atom[1].arg" -> "0 4294967296 0 0 0 0"`.
fn parse_dump(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(|l| {
            let (k, v) = l.split_once(' ').unwrap_or((l, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// A chain exercising everything a batch can carry: RESULT arguments (open's
/// fd into fstat and close; socket's into connect, sendto, close), buffers of
/// each direction (path, stat output, sockaddr, data), every kind of flag (stop
/// conditions, SKIP_TO_NEXT_ON_STOP, NEXT jumps and a NEXT that ends the chain),
/// private cookies, batch flags and caller data.
///
/// ```text
/// 0 openat(AT_FDCWD, path)        STOP_ON_NEGATIVE       private 0x5157...
/// 1 fstat(r0, stat)
/// 2 close(r0)
/// 3 socket(AF_INET, STREAM)       STOP_ON_NEGATIVE
/// 4 connect(r3, 127.0.0.1:9)      STOP_ON_NEGATIVE|SKIP  NEXT 6 (success skips 5)
/// 5 close(r3)                     NEXT 8 = end the chain
/// 6 sendto(r3, "ping")
/// 7 close(r3)
/// ```
fn rich_chain() -> Chain<'static> {
    let mut chain = Chain::new();
    chain
        .set_caller_data(0x0123_4567_89ab_cdef)
        .set_flags(abi::BATCH_SYNC);
    let path = chain.path("/nonexistent/syslets-abi-conformance");
    let st = chain.output::<Stat>();
    let addr = chain.sockaddr("127.0.0.1:9".parse().unwrap());
    let data = chain.input(b"ping");
    let fd = chain.push(
        Openat::new(libc::AT_FDCWD, path)
            .stop_on(Stop::NEGATIVE)
            .private(0x5157_4c45_5400_0001),
    );
    chain.push(Fstat::new(fd, st));
    chain.push(Close::new(fd));
    let sock = chain.push(
        Socket::new(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC).stop_on(Stop::NEGATIVE),
    );
    let conn = chain.push(
        Connect::new(sock, addr)
            .stop_on(Stop::NEGATIVE)
            .skip_to_next_on_stop(),
    );
    let fail_close = chain.push(Close::new(sock));
    let send = chain.push(Sendto::new(sock, data));
    chain.push(Close::new(sock));
    chain.jump(conn, send);
    chain.end_after(fail_close);
    chain
}

/// Encode [`rich_chain`], have `dump_batch.c` built with `compiler` read it
/// through the header's structs, and compare.
fn rust_batch_read_by_c(compiler: Compiler, test: &str) {
    let scratch = Scratch::new(test);
    if !require(compiler, &scratch) {
        return;
    }
    let encoded = rich_chain().encode().expect("the chain encodes");
    let bytes = encoded.as_bytes().to_vec();
    // It is a valid batch for a foreign reader too.
    EncodedBatch::from_bytes(&bytes)
        .validate(&Policy::default())
        .expect("the encoded chain validates as foreign bytes");
    let file = scratch.path("rust.batch");
    fs::write(&file, &bytes).unwrap();

    let exe = compile(compiler, "dump_batch.c", &scratch);
    let text = run(&exe, &[&file]);

    // Line for line what the Rust structs say the bytes hold…
    let expected = rust_dump(&bytes);
    if text != expected {
        let diff: Vec<String> = expected
            .lines()
            .zip(text.lines())
            .filter(|(r, c)| r != c)
            .map(|(r, c)| format!("Rust: {r}\n     {}: {c}", compiler.name))
            .collect();
        panic!(
            "{} reads the Rust batch differently ({} vs {} lines):\n{}",
            compiler.name,
            expected.lines().count(),
            text.lines().count(),
            diff.join("\n")
        );
    }

    // …and what the chain was built to hold, independently of the encoder.
    let c = parse_dump(&text);
    let get = |k: &str| c.get(k).unwrap_or_else(|| panic!("{k} missing")).as_str();
    let num = |k: &str| -> u64 { get(k).parse().unwrap() };
    assert_eq!(num("header.magic"), 0x4c53_5953, "\"SYSL\"");
    assert_eq!(num("header.version"), 1);
    assert_eq!(num("header.natoms"), 8);
    assert_eq!(num("header.nbufs"), 4);
    assert_eq!(num("header.flags"), 0x02, "SYNC");
    assert_eq!(num("header.caller_data"), 0x0123_4567_89ab_cdef);
    assert_eq!(num("header.reserved"), 0);

    assert_eq!(num("atom[0].nr"), 257, "openat");
    assert_eq!(num("atom[0].flags"), 0x20, "STOP_ON_NEGATIVE");
    assert_eq!(get("atom[0].arg_kind"), "0 2 0 0 0 0", "IMM BUF IMM IMM");
    let open_flags = (libc::O_RDONLY | libc::O_CLOEXEC) as u64;
    assert_eq!(
        get("atom[0].arg"),
        format!("{} 0 {open_flags} 0 0 0", (-100i64) as u64),
        "AT_FDCWD sign-extended, buffer 0 offset 0"
    );
    assert_eq!(num("atom[0].nargs"), 4);
    assert_eq!(num("atom[0].private_data"), 0x5157_4c45_5400_0001);

    assert_eq!(num("atom[1].nr"), 5, "fstat");
    assert_eq!(get("atom[1].arg_kind"), "1 2 0 0 0 0", "RESULT BUF");
    assert_eq!(get("atom[1].arg"), format!("0 {} 0 0 0 0", 1u64 << 32));
    assert_eq!(num("atom[2].nr"), 3, "close");
    assert_eq!(get("atom[2].arg_kind"), "1 0 0 0 0 0");

    assert_eq!(num("atom[4].nr"), 42, "connect");
    assert_eq!(
        num("atom[4].flags"),
        0x20 | 0x80 | (6 << 16),
        "STOP_ON_NEGATIVE | SKIP_TO_NEXT_ON_STOP | NEXT 6"
    );
    assert_eq!(get("atom[4].arg_kind"), "1 2 0 0 0 0");
    assert_eq!(get("atom[4].arg"), format!("3 {} 16 0 0 0", 2u64 << 32));
    assert_eq!(num("atom[5].flags"), 8 << 16, "NEXT 8: end of chain");
    assert_eq!(num("atom[6].nr"), 44, "sendto");
    assert_eq!(
        get("atom[6].arg"),
        format!("3 {} 4 {} 0 0", 3u64 << 32, libc::MSG_NOSIGNAL)
    );

    let arena = get("arena");
    let path = b"/nonexistent/syslets-abi-conformance\0";
    let expect_buf = |i: usize, len: usize, flags: u64, content: &[u8]| {
        assert_eq!(num(&format!("buf[{i}].len")), len as u64, "buf {i} len");
        assert_eq!(num(&format!("buf[{i}].flags")), flags, "buf {i} flags");
        assert_eq!(num(&format!("buf[{i}].reserved")), 0);
        let off = num(&format!("buf[{i}].offset")) as usize;
        assert_eq!(off % 8, 0, "buffer {i} is 8-byte aligned");
        assert_eq!(
            &arena[2 * off..2 * (off + content.len())],
            hex(content),
            "buffer {i} content"
        );
    };
    expect_buf(0, path.len(), 1, path);
    expect_buf(1, 144, 2, &[0; 144]);
    // sockaddr_in: AF_INET (LE), port 9 (BE), 127.0.0.1, 8 bytes of zero.
    expect_buf(
        2,
        16,
        1,
        &[2, 0, 0, 9, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
    );
    expect_buf(3, 4, 1, b"ping");
    assert_eq!(arena.len() as u64, 2 * num("header.arena_len"));
}

/// A batch encoded in Rust is read field for field by `dump_batch.c` built with
/// the system `cc`: header, every atom field, every buffer descriptor, the arena.
#[test]
fn rust_batch_read_by_c_cc() {
    rust_batch_read_by_c(CC, "rust_to_c_cc");
}

/// The same, with `dump_batch.c` built with `cc -m32`.
#[test]
fn rust_batch_read_by_c_cc_m32() {
    rust_batch_read_by_c(CC32, "rust_to_c_cc_m32");
}

// ---------------------------------------------------------------------------
// C -> Rust.

const CONTENT: &str = "syslets ABI conformance: opened by a batch written in C\n";

/// Have `write_batch.c` built with `compiler` write its batch for `target`
/// (mode `run` or `raw`); returns the bytes.
fn c_written_batch(compiler: Compiler, scratch: &Scratch, target: &Path, mode: &str) -> Vec<u8> {
    let exe = compile(compiler, "write_batch.c", scratch);
    let file = scratch.path(&format!("c-{mode}.batch"));
    run(&exe, &[&file, target, Path::new(mode)]);
    fs::read(&file).unwrap()
}

/// `write_batch.c` built with `compiler` writes openat+fstat+pread64(+NEXT over
/// getpid)+close; Rust decodes it with `from_bytes`, validates it with the
/// default policy and runs it.
fn c_batch_runs_in_rust(compiler: Compiler, test: &str) {
    let scratch = Scratch::new(test);
    if !require(compiler, &scratch) {
        return;
    }
    let target = scratch.path("target.txt");
    fs::write(&target, CONTENT).unwrap();
    let bytes = c_written_batch(compiler, &scratch, &target, "run");

    let mut batch = EncodedBatch::from_bytes(&bytes)
        .validate(&Policy::default())
        .unwrap_or_else(|e| panic!("the C-written batch is refused: {e}"));
    assert_eq!(batch.len(), 5);
    assert_eq!(batch.caller_data(), 0xc0ff_ee00_00c0_ffee);
    assert_eq!(batch.flags(), abi::BATCH_SYNC);
    let names: Vec<_> = (0..5).map(|i| batch.syscall_name(i).unwrap()).collect();
    assert_eq!(names, ["openat", "fstat", "pread64", "getpid", "close"]);

    let done = *batch.run();
    let atom = syslets::AtomRef::from_index;
    let fd = done.outcome(atom(0)).expect("openat ran");
    assert!(matches!(fd, Ok(fd) if fd >= 0), "openat: {fd:?}");
    assert_eq!(done.outcome(atom(1)), Some(Ok(0)), "fstat");
    assert_eq!(
        done.outcome(atom(2)),
        Some(Ok(CONTENT.len() as i64)),
        "pread64 read the whole file"
    );
    assert!(!done.ran(atom(3)), "NEXT 4 on pread64 skips getpid");
    assert_eq!(done.outcome(atom(4)), Some(Ok(0)), "close");
    assert_eq!(done.atoms_run(), 4);
    assert_eq!(done.last_atom(), 4);
    assert_eq!(done.status(), 0);
    assert!(!done.stopped());
    assert_eq!(done.caller_data(), 0xc0ff_ee00_00c0_ffee);
    assert!(
        batch.unclosed_fds().is_empty(),
        "the chain's close closed the fd"
    );

    let meta = fs::metadata(&target).unwrap();
    let st = Stat::read_from_bytes(batch.buffer(1).expect("stat buffer")).unwrap();
    assert_eq!(st.st_size, meta.len() as i64, "fstat st_size");
    assert_eq!(st.st_ino, meta.ino(), "fstat st_ino");
    assert_eq!(st.st_dev, meta.dev(), "fstat st_dev");
    assert_eq!(st.st_mode, meta.mode(), "fstat st_mode");
    let data = batch.buffer(2).expect("data buffer");
    assert_eq!(data.len(), 64);
    assert_eq!(&data[..CONTENT.len()], CONTENT.as_bytes(), "pread64 data");

    // The same C program's batch for a missing file stops at openat (its
    // STOP_ON_NEGATIVE), with ENOENT, and nothing else runs.
    let missing = scratch.path("missing.txt");
    let bytes = c_written_batch(compiler, &scratch, &missing, "run");
    let mut batch = EncodedBatch::from_bytes(&bytes)
        .validate(&Policy::default())
        .unwrap_or_else(|e| panic!("the C-written batch is refused: {e}"));
    let done = *batch.run();
    assert!(done.stopped());
    assert_eq!(done.atoms_run(), 1);
    assert_eq!(done.last_atom(), 0);
    assert_eq!(done.outcome(atom(0)), Some(Err(Errno::ENOENT)));
    assert_eq!(done.status(), -(libc::ENOENT as i64));
}

/// A batch written by `write_batch.c` built with the system `cc` decodes,
/// validates and runs in Rust: the fd flows through RESULT arguments, fstat's
/// `st_size`/`st_ino`/`st_dev`/`st_mode` equal the file's, pread64 read its
/// bytes, NEXT skipped an atom, close closed the fd; a missing file stops the
/// chain at openat with ENOENT.
#[test]
fn c_batch_runs_in_rust_cc() {
    c_batch_runs_in_rust(CC, "c_to_rust_cc");
}

/// The same, with `write_batch.c` built with `cc -m32`.
#[test]
fn c_batch_runs_in_rust_cc_m32() {
    c_batch_runs_in_rust(CC32, "c_to_rust_cc_m32");
}

/// A C-written batch whose fstat passes an `ARG_RAW` pointer is refused with
/// `RawPointerInForeignBatch`, naming atom 1 (fstat) and argument 1; the same
/// program's batch without it validates (so nothing else is wrong).
fn c_raw_pointer_refused(compiler: Compiler, test: &str) {
    let scratch = Scratch::new(test);
    if !require(compiler, &scratch) {
        return;
    }
    let target = scratch.path("target.txt");
    fs::write(&target, CONTENT).unwrap();
    let good = c_written_batch(compiler, &scratch, &target, "run");
    let raw = c_written_batch(compiler, &scratch, &target, "raw");
    assert_eq!(good.len(), raw.len());
    let differing: Vec<usize> = (0..good.len()).filter(|&i| good[i] != raw[i]).collect();
    let fstat_args = abi::HEADER_SIZE + abi::ATOM_SIZE + offset_of!(Atom, arg_kind);
    assert!(
        differing.contains(&(fstat_args + 1)),
        "raw mode changes atom 1's arg_kind[1]: {differing:?}"
    );
    EncodedBatch::from_bytes(&good)
        .validate(&Policy::default())
        .expect("the batch without the raw pointer validates");
    let err = EncodedBatch::from_bytes(&raw)
        .validate(&Policy::default())
        .expect_err("a raw pointer in foreign bytes must be refused");
    assert_eq!(err.kind, ErrorKind::RawPointerInForeignBatch(1));
    assert_eq!(err.atom, Some(1));
    assert_eq!(err.syscall, Some("fstat"));
}

/// [`c_raw_pointer_refused`] with `write_batch.c` built with the system `cc`.
#[test]
fn c_batch_with_raw_pointer_is_refused_cc() {
    c_raw_pointer_refused(CC, "c_raw_cc");
}

/// [`c_raw_pointer_refused`] with `write_batch.c` built with `cc -m32`.
#[test]
fn c_batch_with_raw_pointer_is_refused_cc_m32() {
    c_raw_pointer_refused(CC32, "c_raw_cc_m32");
}
