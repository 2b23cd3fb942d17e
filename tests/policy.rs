//! Policies: the allowlist and its builders, the fixed denylist, and the
//! argument rules (open flags, socket families, signal targets, path
//! confinement) — each refusal with its exact error, each acceptance run.

use std::fs;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::symlink;
use std::path::PathBuf;

use syslets::abi::signature::{Class, SIGNATURES};
use syslets::abi::{self, nr, Atom};
use syslets::opcode::{
    Bind, Close, Connect, Fstat, Mkdirat, Newfstatat, Openat, Openat2, RawAtom, Read, Sendmsg,
    Sendto, Socket, Statx, Tgkill, Unlinkat,
};
use syslets::policy::{AllowError, ConfineMode, DENYLIST, WRITE_OPEN_FLAGS};
use syslets::{
    AtomRef, Chain, EncodedBatch, Errno, ErrorKind, OpenHow, Policy, SockAddr, Stat,
    Statx as StatxBuf, ValidationError,
};
use zerocopy::FromBytes;

fn atom_err(i: u16, name: &'static str, kind: ErrorKind) -> ValidationError {
    ValidationError {
        atom: Some(i),
        syscall: Some(name),
        kind,
    }
}

fn classes_of(policy: &Policy) -> Vec<u32> {
    policy.allowed().map(|s| s.nr).collect()
}

fn table_nrs_in(classes: &[Class]) -> Vec<u32> {
    SIGNATURES
        .iter()
        .filter(|s| classes.contains(&s.class))
        .map(|s| s.nr)
        .collect()
}

#[test]
fn default_allows_the_whole_table_and_the_table_holds_no_denied_call() {
    let p = Policy::default();
    for sig in SIGNATURES {
        assert!(p.allows(sig.nr), "{}", sig.name);
        assert!(
            DENYLIST.iter().all(|d| d.nr != sig.nr),
            "{} is in the table and on the denylist",
            sig.name
        );
    }
    assert_eq!(p.allowed().count(), SIGNATURES.len());
    assert!(Policy::empty().allowed().next().is_none());
}

#[test]
fn no_builder_admits_a_denied_or_unknown_number() {
    for d in DENYLIST {
        let e = AllowError::Denied {
            nr: d.nr,
            name: d.name,
        };
        assert_eq!(Policy::empty().allow(d.nr), Err(e), "{}", d.name);
        assert_eq!(Policy::default().allow(d.nr), Err(e), "{}", d.name);
        assert!(!Policy::default().allows(d.nr), "{}", d.name);
    }
    for unknown in [2, 100, 511, 512, 100_000] {
        assert_eq!(
            Policy::empty().allow(unknown),
            Err(AllowError::Unknown(unknown)),
            "{unknown}"
        );
    }
    let e = Policy::empty().allow(100_000).unwrap_err();
    assert_eq!(
        e.to_string(),
        "system call 100000 is not in the signature table"
    );
    assert!(Policy::empty().allow(nr::READ).unwrap().allows(nr::READ));
    assert!(!Policy::default().deny(nr::READ).allows(nr::READ));
}

#[test]
fn class_builders_narrow_the_allowlist() {
    use Class::*;
    assert_eq!(
        classes_of(&Policy::read_only_files()),
        table_nrs_in(&[FileRead, Fd, Info])
    );
    assert_eq!(
        classes_of(&Policy::network_client()),
        table_nrs_in(&[Socket, NetClient, NetIo, Fd, Info])
    );
    assert_eq!(
        classes_of(&Policy::default().only_classes(&[Signal, Info])),
        table_nrs_in(&[Signal, Info])
    );
    let no_net = Policy::default()
        .deny_class(Socket)
        .deny_class(NetClient)
        .deny_class(NetServer)
        .deny_class(NetIo);
    assert_eq!(
        classes_of(&no_net),
        table_nrs_in(&[Fd, FileRead, FileWrite, Signal, Info])
    );
    assert_eq!(
        classes_of(&Policy::empty().allow_class(FileWrite)),
        table_nrs_in(&[FileWrite])
    );
    // read_only() also removes FileWrite from a wider policy.
    assert!(!Policy::default().read_only().allows(nr::WRITE));
    assert!(Policy::default().read_only().allows(nr::READ));
    assert_eq!(
        Policy::read_only_files().forbidden_open_flags(),
        WRITE_OPEN_FLAGS
    );
    assert_eq!(Policy::default().forbidden_open_flags(), 0);
}

#[test]
fn socket_family_sets() {
    let def = Policy::default();
    assert_eq!(
        def.socket_family_list(),
        Some(vec![libc::AF_UNIX, libc::AF_INET, libc::AF_INET6])
    );
    assert!(!def.allows_socket_family(libc::AF_NETLINK));
    assert!(def
        .clone()
        .any_socket_family()
        .allows_socket_family(libc::AF_NETLINK));
    assert_eq!(def.clone().any_socket_family().socket_family_list(), None);
    let net = Policy::network_client();
    assert!(net.allows_socket_family(libc::AF_INET6));
    assert!(!net.allows_socket_family(libc::AF_UNIX));
    assert!(!def.allows_socket_family(-1));
}

// ---------------------------------------------------------------------------
// Open flags.

fn openat_chain(dirfd: i32, path: &str, flags: i32) -> Chain<'static> {
    let mut chain = Chain::new();
    let p = chain.path(path);
    chain.push(Openat::new(dirfd, p).flags(flags as u32));
    chain
}

#[test]
fn read_only_refuses_every_write_flag_of_openat() {
    let ro = Policy::read_only_files();
    for flag in [
        libc::O_WRONLY,
        libc::O_RDWR,
        libc::O_CREAT,
        libc::O_TRUNC,
        libc::O_APPEND,
        libc::O_TMPFILE,
        libc::O_WRONLY | libc::O_RDWR,
    ] {
        let flags = (flag | libc::O_CLOEXEC) as u64;
        let e = openat_chain(libc::AT_FDCWD, "/tmp/x", flags as i32)
            .prepare(&ro)
            .unwrap_err();
        let forbidden = flags & WRITE_OPEN_FLAGS as u64;
        assert_ne!(forbidden, 0);
        assert_eq!(
            e,
            atom_err(
                0,
                "openat",
                ErrorKind::OpenFlagsRefused {
                    arg: 2,
                    flags,
                    forbidden
                }
            ),
            "flag {flag:#o}"
        );
    }
    // The same chains pass the default policy (no flag rule).
    openat_chain(libc::AT_FDCWD, "/tmp/x", libc::O_WRONLY | libc::O_CREAT)
        .encode()
        .unwrap()
        .validate(&Policy::default())
        .unwrap();
}

#[test]
fn read_only_accepts_and_runs_reading_opens() {
    let ro = Policy::read_only_files();
    for (path, flags) in [
        ("/proc/self/stat", libc::O_RDONLY),
        ("/proc/self", libc::O_RDONLY | libc::O_DIRECTORY),
        ("/proc/self", libc::O_PATH),
        (
            "/proc/self/stat",
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK,
        ),
    ] {
        let mut batch = openat_chain(libc::AT_FDCWD, path, flags | libc::O_CLOEXEC)
            .prepare(&ro)
            .unwrap_or_else(|e| panic!("{path} {flags:#o}: {e}"));
        batch.run();
        let fds = batch.take_fds();
        assert_eq!(fds.len(), 1, "{path} {flags:#o}");
    }
}

#[test]
fn open_flags_must_be_immediates_under_a_flag_rule() {
    // openat's flags from the result of getpid: anything at run time.
    let mut chain = Chain::new();
    let p = chain.path("/tmp/x");
    let pid = chain.push(syslets::opcode::Getpid::new());
    let path = abi::buf_arg(p.index(), 0);
    chain.push(RawAtom(Atom {
        nr: nr::OPENAT,
        nargs: 4,
        arg_kind: [
            abi::ARG_IMM,
            abi::ARG_BUF,
            abi::ARG_RESULT,
            abi::ARG_IMM,
            0,
            0,
        ],
        arg: [
            libc::AT_FDCWD as i64 as u64,
            path,
            pid.index() as u64,
            0,
            0,
            0,
        ],
        ..Default::default()
    }));
    let e = chain.prepare(&Policy::read_only_files()).unwrap_err();
    assert_eq!(e.atom, Some(1));
    assert!(
        matches!(e.kind, ErrorKind::ArgRefused { arg: 2, reason } if reason.contains("immediate")),
        "{e}"
    );
}

fn openat2_chain(dirfd: i32, path: &str, how: &OpenHow) -> Chain<'static> {
    let mut chain = Chain::new();
    let p = chain.path(path);
    let h = chain.input_value(how);
    chain.push(Openat2::new(dirfd, p, h));
    chain
}

#[test]
fn read_only_checks_openat2_how_flags() {
    let ro = Policy::read_only_files();
    let how = |flags: i32| OpenHow {
        flags: flags as u64,
        ..Default::default()
    };
    let e = openat2_chain(
        libc::AT_FDCWD,
        "/tmp/x",
        &how(libc::O_WRONLY | libc::O_CREAT),
    )
    .prepare(&ro)
    .unwrap_err();
    let flags = (libc::O_WRONLY | libc::O_CREAT) as u64;
    assert_eq!(
        e,
        atom_err(
            0,
            "openat2",
            ErrorKind::OpenFlagsRefused {
                arg: 2,
                flags,
                forbidden: flags
            }
        )
    );
    // A reading openat2 passes and runs.
    let mut batch = openat2_chain(libc::AT_FDCWD, "/proc/self/stat", &how(libc::O_RDONLY))
        .prepare(&ro)
        .unwrap();
    let done = batch.run();
    assert!(done.result(AtomRef::from_index(0)).unwrap() >= 0);
    assert_eq!(batch.take_fds().len(), 1);
}

#[test]
fn openat2_how_must_be_immutable_and_whole_under_a_rule() {
    let ro = Policy::read_only_files();
    // `how` in a scratch buffer (IN|OUT): a read atom could rewrite its flags
    // between validation and the openat2.
    let mut chain = Chain::new();
    let p = chain.path("/proc/self/stat");
    let how = chain.scratch(24);
    let src = chain.push(Openat::new(libc::AT_FDCWD, p));
    chain.push(Read::new(src, how));
    chain.push(Openat2::new(libc::AT_FDCWD, p, how));
    let e = chain.prepare(&ro).unwrap_err();
    assert_eq!(e.atom, Some(2));
    assert!(
        e.kind
            == ErrorKind::CheckedMemoryWritable {
                arg: 2,
                buf: how.index()
            },
        "{e}"
    );
    // `how` shorter than its first version.
    let mut chain = Chain::new();
    let p = chain.path("/proc/self/stat");
    let how = chain.input(&[0; 16]);
    chain.push(Openat2::new(libc::AT_FDCWD, p, how));
    let e = chain.prepare(&ro).unwrap_err();
    assert!(
        matches!(e.kind, ErrorKind::ArgRefused { arg: 3, .. }),
        "{e}"
    );
}

// ---------------------------------------------------------------------------
// Sockets and signals.

#[test]
fn socket_families_are_checked() {
    let socket = |domain: i32| {
        let mut chain = Chain::new();
        chain.push(Socket::new(domain, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC));
        chain.encode().unwrap()
    };
    for (policy, domain) in [
        (Policy::default(), libc::AF_NETLINK),
        (Policy::default(), libc::AF_PACKET),
        (Policy::default(), libc::AF_ALG),
        (Policy::network_client(), libc::AF_UNIX),
        (
            Policy::default().socket_families(&[libc::AF_UNIX]),
            libc::AF_INET,
        ),
    ] {
        let e = socket(domain).validate(&policy).unwrap_err();
        assert_eq!(
            e,
            atom_err(
                0,
                "socket",
                ErrorKind::SocketFamilyRefused {
                    arg: 0,
                    family: domain as u64
                }
            )
        );
    }
    // Allowed families validate (and a UDP socket runs).
    let mut batch = socket(libc::AF_INET)
        .validate(&Policy::network_client())
        .unwrap();
    batch.run();
    assert_eq!(batch.take_fds().len(), 1);
    socket(libc::AF_NETLINK)
        .validate(&Policy::default().any_socket_family())
        .unwrap();
}

#[test]
fn signals_only_to_this_process() {
    let pid = std::process::id() as i32;
    for tgid in [1, pid + 1, -1] {
        let mut chain = Chain::new();
        chain.push(Tgkill::new(tgid, 1, libc::SIGKILL));
        let e = chain.prepare(&Policy::default()).unwrap_err();
        assert_eq!(
            e,
            atom_err(
                0,
                "tgkill",
                ErrorKind::SignalOutsideProcess {
                    arg: 0,
                    tgid: tgid as i64 as u64
                }
            )
        );
    }
    // Signal 0 to this thread: checks it exists, and runs.
    // SAFETY: gettid takes no arguments.
    let tid = unsafe { libc::gettid() };
    let mut chain = Chain::new();
    let k = chain.push(Tgkill::new(pid, tid, 0));
    let mut batch = chain.prepare(&Policy::default()).unwrap();
    assert_eq!(batch.run().result(k), Some(0));
}

// ---------------------------------------------------------------------------
// Confinement.

struct Tree {
    root: PathBuf,
    dir: fs::File,
}

impl Tree {
    /// `root/{file, sub/inner, out -> /proc/self/status, sub/up -> ../..}`.
    fn new(tag: &str) -> Tree {
        let root =
            std::env::temp_dir().join(format!("syslets-policy-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::write(root.join("file"), b"inside").unwrap();
        fs::write(root.join("sub/inner"), b"deeper").unwrap();
        symlink("/proc/self/status", root.join("out")).unwrap();
        symlink("../..", root.join("sub/up")).unwrap();
        let dir = fs::File::open(&root).unwrap();
        Tree { root, dir }
    }

    fn fd(&self) -> BorrowedFd<'_> {
        self.dir.as_fd()
    }

    fn raw(&self) -> i32 {
        self.dir.as_raw_fd()
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

fn nofollow() -> i32 {
    libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC
}

fn run_one(chain: Chain<'_>, policy: &Policy) -> Result<i64, Errno> {
    let mut batch = chain.prepare(policy).unwrap();
    let r = batch.run().outcome(AtomRef::from_index(0)).unwrap();
    drop(batch.take_fds());
    r
}

#[test]
fn confinement_requires_the_directory_as_an_immediate_dirfd() {
    let t = Tree::new("dirfd");
    let policy = Policy::default().confine_to(t.fd());
    assert_eq!(
        policy.confinement().map(|c| (c.dirfd, c.mode)),
        Some((t.raw(), ConfineMode::Beneath))
    );
    let other = fs::File::open("/").unwrap();
    for dirfd in [libc::AT_FDCWD, other.as_raw_fd()] {
        let e = openat_chain(dirfd, "file", nofollow())
            .prepare(&policy)
            .unwrap_err();
        assert_eq!(
            e,
            atom_err(0, "openat", ErrorKind::DirfdNotConfined { arg: 0 })
        );
    }
    // A dirfd from a RESULT: refused, even if it came from the directory.
    let mut chain = Chain::new();
    let dot = chain.path(".");
    let sub = chain.path("file");
    let st = chain.output::<Stat>();
    let d = chain.push(
        Openat::new(t.raw(), dot)
            .flags((libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW) as u32),
    );
    chain.push(Newfstatat::new(d, sub, st).flags(libc::AT_SYMLINK_NOFOLLOW as u32));
    let e = chain.prepare(&policy).unwrap_err();
    assert_eq!(
        e,
        atom_err(1, "newfstatat", ErrorKind::DirfdNotConfined { arg: 0 })
    );
}

#[test]
fn confinement_refuses_absolute_paths_and_dotdot() {
    let t = Tree::new("escape");
    for policy in [
        Policy::default().confine_to(t.fd()),
        Policy::default().confine_lexically_to(t.fd()),
    ] {
        for (path, reason) in [
            ("/etc/passwd", "absolute path"),
            ("/", "absolute path"),
            ("..", "`..` component"),
            ("../x", "`..` component"),
            ("sub/../..", "`..` component"),
            ("sub/..", "`..` component"),
        ] {
            for chain in [
                openat_chain(t.raw(), path, nofollow()),
                openat2_chain(t.raw(), path, &OpenHow::beneath(libc::O_RDONLY)),
            ] {
                let e = chain.prepare(&policy).unwrap_err();
                assert_eq!(e.atom, Some(0));
                assert_eq!(
                    e.kind,
                    ErrorKind::PathEscapes { arg: 1, reason },
                    "{path}: {e}"
                );
            }
        }
        // Names that merely contain dots are fine.
        let mut chain = Chain::new();
        let p = chain.path("..hidden.d");
        chain.push(Mkdirat::new(t.raw(), p));
        let mut batch = chain.prepare(&policy).unwrap();
        assert_eq!(batch.run().result(AtomRef::from_index(0)), Some(0));
        fs::remove_dir(t.root.join("..hidden.d")).unwrap();
    }
}

#[test]
fn beneath_mode_keeps_calls_without_resolve_flags_to_one_component() {
    let t = Tree::new("beneath");
    let policy = Policy::default().confine_to(t.fd());
    // Two components through openat: refused (sub could be a symlink).
    let e = openat_chain(t.raw(), "sub/inner", nofollow())
        .prepare(&policy)
        .unwrap_err();
    assert!(
        matches!(e.kind, ErrorKind::PathEscapes { arg: 1, .. }),
        "{e}"
    );
    // One component without O_NOFOLLOW: refused (it could be a symlink).
    let e = openat_chain(t.raw(), "file", libc::O_RDONLY)
        .prepare(&policy)
        .unwrap_err();
    assert!(
        matches!(e.kind, ErrorKind::ArgRefused { arg: 2, .. }),
        "{e}"
    );
    // With O_NOFOLLOW: runs, and a symlink leading out is not followed.
    assert!(run_one(openat_chain(t.raw(), "file", nofollow()), &policy).is_ok());
    assert_eq!(
        run_one(openat_chain(t.raw(), "out", nofollow()), &policy),
        Err(Errno::from_raw(libc::ELOOP))
    );
    // newfstatat / statx: AT_SYMLINK_NOFOLLOW required.
    let stat = |flags: u32| {
        let mut chain = Chain::new();
        let p = chain.path("out");
        let st = chain.output::<Stat>();
        chain.push(Newfstatat::new(t.raw(), p, st).flags(flags));
        chain
    };
    let e = stat(0).prepare(&policy).unwrap_err();
    assert!(
        matches!(e.kind, ErrorKind::ArgRefused { arg: 3, .. }),
        "{e}"
    );
    let mut batch = stat(libc::AT_SYMLINK_NOFOLLOW as u32)
        .prepare(&policy)
        .unwrap();
    batch.run();
    // The symlink itself, not /proc/self/status.
    let st = Stat::read_from_bytes(batch.buffer(1).unwrap()).unwrap();
    assert_eq!(st.st_mode & libc::S_IFMT, libc::S_IFLNK);
    let statx = |flags: u32| {
        let mut chain = Chain::new();
        let p = chain.path("file");
        let st = chain.output::<StatxBuf>();
        chain.push(Statx::new(t.raw(), p, st).flags(flags));
        chain
    };
    let e = statx(0).prepare(&policy).unwrap_err();
    assert!(
        matches!(e.kind, ErrorKind::ArgRefused { arg: 2, .. }),
        "{e}"
    );
    assert_eq!(
        run_one(statx(libc::AT_SYMLINK_NOFOLLOW as u32), &policy),
        Ok(0)
    );
    // mkdirat / unlinkat never follow the last component: one is enough.
    let mut chain = Chain::new();
    let p = chain.path("made");
    chain.push(Mkdirat::new(t.raw(), p));
    chain.push(Unlinkat::new(t.raw(), p).flags(libc::AT_REMOVEDIR as u32));
    let mut batch = chain.prepare(&policy).unwrap();
    assert_eq!(batch.run().results()[..2], [0, 0]);
}

#[test]
fn beneath_mode_requires_resolve_beneath_and_the_kernel_enforces_it() {
    let t = Tree::new("openat2");
    let policy = Policy::default().confine_to(t.fd());
    let plain = OpenHow {
        flags: libc::O_RDONLY as u64,
        ..Default::default()
    };
    let beneath_only = OpenHow {
        resolve: libc::RESOLVE_BENEATH,
        ..plain
    };
    for how in [plain, beneath_only] {
        let e = openat2_chain(t.raw(), "file", &how)
            .prepare(&policy)
            .unwrap_err();
        assert!(
            matches!(e.kind, ErrorKind::ArgRefused { arg: 2, .. }),
            "{e}"
        );
    }
    let in_root = OpenHow {
        resolve: libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
        ..plain
    };
    let how = OpenHow::beneath(libc::O_RDONLY | libc::O_CLOEXEC);
    // Deeper paths are fine: the kernel resolves beneath the directory.
    assert!(run_one(openat2_chain(t.raw(), "sub/inner", &how), &policy).is_ok());
    assert!(run_one(openat2_chain(t.raw(), "sub/inner", &in_root), &policy).is_ok());
    // Symlinks leading out: refused by the kernel at run time, whatever the
    // validator could see in the path.
    assert_eq!(
        run_one(openat2_chain(t.raw(), "out", &how), &policy),
        Err(Errno::from_raw(libc::EXDEV))
    );
    assert_eq!(
        run_one(openat2_chain(t.raw(), "sub/up/file", &how), &policy),
        Err(Errno::from_raw(libc::EXDEV))
    );
}

#[test]
fn lexical_mode_follows_symlinks_as_documented() {
    // The weakness ConfineMode::Lexical documents: a symlink inside the
    // directory leads out, and the lexical checks cannot see it.
    let t = Tree::new("lexical");
    let policy = Policy::default().confine_lexically_to(t.fd());
    let mut chain = Chain::new();
    let p = chain.path("out");
    let buf = chain.output_bytes(64);
    let fd = chain.push(Openat::new(t.raw(), p));
    chain.push(Read::new(fd, buf));
    chain.push(Close::new(fd));
    let mut batch = chain.prepare(&policy).unwrap();
    let done = batch.run();
    assert!(done.results()[1] > 0);
    assert!(
        batch.bytes(buf).starts_with(b"Name:"),
        "read /proc/self/status"
    );
    // Multi-component openat is accepted in this mode.
    assert!(run_one(openat_chain(t.raw(), "sub/inner", libc::O_RDONLY), &policy).is_ok());
}

#[test]
fn confined_paths_must_be_in_memory_no_atom_writes() {
    let t = Tree::new("mutable");
    let policy = Policy::default().confine_to(t.fd());
    // The attack: read "../../etc/passwd" (or anything) over a checked path.
    let mut chain = Chain::new();
    let src_path = chain.path("file");
    let path = chain.scratch(32);
    let src = chain.push(Openat::new(t.raw(), src_path).flags(nofollow() as u32));
    chain.push(Read::new(src, path));
    chain.push(Openat::new(t.raw(), path).flags(nofollow() as u32));
    let e = chain.prepare(&policy).unwrap_err();
    assert_eq!(e.atom, Some(2));
    assert!(
        e.kind
            == ErrorKind::CheckedMemoryWritable {
                arg: 1,
                buf: path.index()
            },
        "{e}"
    );

    // Foreign bytes: an IN-only path buffer overlapped by an OUT buffer.
    let mut chain = Chain::new();
    let p = chain.path("file");
    let out = chain.output_bytes(8);
    chain.push(Openat::new(t.raw(), p).flags(nofollow() as u32));
    chain.push(Read::new(0, out));
    let mut bytes = chain.encode().unwrap().as_bytes().to_vec();
    // Point buffer 1 (OUT) at buffer 0's bytes.
    let natoms = 2;
    let d0 = abi::HEADER_SIZE + natoms * abi::ATOM_SIZE;
    let d1 = d0 + abi::BUFDESC_SIZE;
    let off0 = bytes[d0..d0 + 4].to_vec();
    bytes[d1..d1 + 4].copy_from_slice(&off0);
    let e = EncodedBatch::from_bytes(&bytes)
        .validate(&policy)
        .unwrap_err();
    assert_eq!(e.atom, Some(0));
    assert!(
        e.kind == ErrorKind::CheckedMemoryWritable { arg: 1, buf: 1 },
        "{e}"
    );
    // Without the overlap, the same bytes validate.
    let mut chain = Chain::new();
    let p = chain.path("file");
    let out = chain.output_bytes(8);
    chain.push(Openat::new(t.raw(), p).flags(nofollow() as u32));
    chain.push(Read::new(0, out));
    let bytes = chain.encode().unwrap().as_bytes().to_vec();
    EncodedBatch::from_bytes(&bytes).validate(&policy).unwrap();
}

/// A `sockaddr_un` for `path` (a leading NUL makes it abstract).
fn unix_addr(chain: &mut Chain<'_>, path: &[u8]) -> SockAddr {
    let mut bytes = (libc::AF_UNIX as u16).to_ne_bytes().to_vec();
    bytes.extend_from_slice(path);
    bytes.push(0);
    let len = bytes.len() as u32;
    SockAddr {
        buf: chain.input(&bytes),
        len,
    }
}

fn unix_refusal(arg: u8) -> ErrorKind {
    ErrorKind::ArgRefused {
        arg,
        reason: "an AF_UNIX address under confinement (the kernel resolves \
                 its path from the working directory, not the confined \
                 directory, or names an abstract socket)",
    }
}

#[test]
fn confinement_refuses_unix_socket_addresses() {
    // sun_path is resolved from the working directory, never from the
    // confined one: a confined batch must not reach (connect, sendto,
    // sendmsg) or create (bind) a socket by path, nor an abstract one.
    let t = Tree::new("unix");
    let outside = t.root.join("sock");
    let listener = std::os::unix::net::UnixListener::bind(&outside).unwrap();
    let path = outside.as_os_str().as_encoded_bytes().to_vec();
    let stream = libc::SOCK_STREAM | libc::SOCK_CLOEXEC;
    let connect = |path: &[u8]| {
        let mut chain = Chain::new();
        let addr = unix_addr(&mut chain, path);
        let s = chain.push(Socket::new(libc::AF_UNIX, stream));
        chain.push(Connect::new(s, addr));
        chain.push(Close::new(s));
        chain
    };
    let confined = Policy::default().confine_to(t.fd());
    for p in [&path[..], b"\0abstract-syslets-test"] {
        let e = connect(p).prepare(&confined).unwrap_err();
        assert_eq!((e.atom, &e.kind), (Some(1), &unix_refusal(1)), "{e}");
    }
    // The same chain runs unconfined: the rule is confinement's, and it is
    // what stands between the batch and the socket.
    let mut batch = connect(&path).prepare(&Policy::default()).unwrap();
    let results = batch.run().results().to_vec();
    assert!(results[0] >= 0 && results[1..] == [0, 0], "{results:?}");
    let (_accepted, _) = listener.accept().unwrap();

    let elsewhere = std::env::temp_dir().join(format!("syslets-unix-bind-{}", std::process::id()));
    let mut chain = Chain::new();
    let addr = unix_addr(&mut chain, elsewhere.as_os_str().as_encoded_bytes());
    let s = chain.push(Socket::new(libc::AF_UNIX, stream));
    chain.push(Bind::new(s, addr));
    chain.push(Close::new(s));
    let e = chain.prepare(&confined).unwrap_err();
    assert_eq!((e.atom, &e.kind), (Some(1), &unix_refusal(1)), "{e}");
    assert!(!elsewhere.exists(), "nothing ran");

    let dgram = libc::SOCK_DGRAM | libc::SOCK_CLOEXEC;
    let mut chain = Chain::new();
    let addr = unix_addr(&mut chain, &path);
    let data = chain.input(b"x");
    let s = chain.push(Socket::new(libc::AF_UNIX, dgram));
    chain.push(Sendto::new(s, data).dest(Some(addr)));
    chain.push(Close::new(s));
    let e = chain.prepare(&confined).unwrap_err();
    assert_eq!((e.atom, &e.kind), (Some(1), &unix_refusal(4)), "{e}");

    let mut chain = Chain::new();
    let addr = unix_addr(&mut chain, &path);
    let data = chain.input(b"x");
    let iov = chain.iovecs(&[data]);
    let hdr = chain.msghdr_send(Some(addr), iov, None);
    let s = chain.push(Socket::new(libc::AF_UNIX, dgram));
    chain.push(Sendmsg::new(s, hdr));
    chain.push(Close::new(s));
    let e = chain.prepare(&confined).unwrap_err();
    assert_eq!((e.atom, &e.kind), (Some(1), &unix_refusal(1)), "{e}");
}

#[test]
fn confinement_admits_inet_addresses_in_memory_no_atom_writes() {
    let t = Tree::new("inet");
    let confined = Policy::default().confine_to(t.fd());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut chain = Chain::new();
    let addr = chain.sockaddr(listener.local_addr().unwrap());
    let s = chain.push(Socket::new(
        libc::AF_INET,
        libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
    ));
    chain.push(Connect::new(s, addr));
    chain.push(Close::new(s));
    let mut batch = chain.prepare(&confined).unwrap();
    assert_eq!(&batch.run().results()[1..], [0, 0]);
    let (_accepted, _) = listener.accept().unwrap();

    // An address an earlier atom could rewrite (into AF_UNIX) after
    // validation is refused, whatever it holds now.
    let mut chain = Chain::new();
    let file = chain.path("file");
    let scratch = chain.scratch(16);
    let f = chain.push(Openat::new(t.raw(), file).flags(nofollow() as u32));
    chain.push(Read::new(f, scratch));
    let s = chain.push(Socket::new(
        libc::AF_INET,
        libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
    ));
    chain.push(Connect::new(
        s,
        SockAddr {
            buf: scratch,
            len: 16,
        },
    ));
    let e = chain.prepare(&confined).unwrap_err();
    assert_eq!(e.atom, Some(3));
    assert_eq!(
        e.kind,
        ErrorKind::CheckedMemoryWritable {
            arg: 1,
            buf: scratch.index()
        },
        "{e}"
    );
}

#[test]
fn fd_calls_are_not_confined() {
    // Confinement is about paths; fds the chain opened are its own.
    let t = Tree::new("fdcalls");
    let policy = Policy::read_only_files().confine_to(t.fd());
    let mut chain = Chain::new();
    let p = chain.path("file");
    let st = chain.output::<Stat>();
    let buf = chain.output_bytes(6);
    let fd = chain.push(Openat::new(t.raw(), p).flags(nofollow() as u32));
    chain.push(Fstat::new(fd, st));
    chain.push(Read::new(fd, buf));
    chain.push(Close::new(fd));
    let mut batch = chain.prepare(&policy).unwrap();
    let done = batch.run();
    assert_eq!(done.atoms_run(), 4);
    assert_eq!(batch.output(st).st_size, 6);
    assert_eq!(batch.bytes(buf), b"inside");
}

/// Validation looks the denylist up only for numbers outside the signature
/// table: that is equivalent only while no table entry is on the denylist.
#[test]
fn no_signature_table_call_is_on_the_denylist() {
    for sig in syslets::abi::signature::SIGNATURES {
        assert!(
            syslets::policy::denylist_entry(sig.nr).is_none(),
            "{} is both in the table and on the denylist",
            sig.name
        );
    }
}
