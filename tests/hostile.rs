//! Hostile batches: each refused up front with its own exact error, and
//! nothing of it executed.
//!
//! Every hostile batch starts with "canary" atoms that are valid under its
//! policy and leave a trace when they run: a directory made in an empty
//! temporary directory, an open descriptor, a socket. After each refusal the
//! test checks that the directory is still empty and that `/proc/self/fd` is
//! unchanged (a control test shows the canaries do leave those traces when a
//! batch runs). The tests of this file are serialised: they compare the
//! process's descriptor table.

use std::collections::BTreeSet;
use std::fs;
use std::os::fd::{AsFd, AsRawFd};
use std::path::PathBuf;
use std::sync::Mutex;

use syslets::abi::sockopt::{self, Access};
use syslets::abi::{self, nr, Atom, BatchHeader, BufDesc};
use syslets::opcode::{
    Close, Getsockopt, Mkdirat, Openat, Openat2, RawAtom, Read, Setsockopt, Socket, Tgkill, Write,
};
use syslets::policy::{DenyWhen, DENYLIST, WRITE_OPEN_FLAGS};
use syslets::{
    AtomRef, ByteLen, Chain, EncodedBatch, ErrorKind, OpenHow, Policy, Stop, ValidationError,
};
use zerocopy::{FromBytes, IntoBytes};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// An empty temporary directory, open.
struct Env {
    path: PathBuf,
    dir: fs::File,
}

impl Env {
    fn new(tag: &str) -> Env {
        let path =
            std::env::temp_dir().join(format!("syslets-hostile-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir(&path).unwrap();
        let dir = fs::File::open(&path).unwrap();
        Env { path, dir }
    }

    fn fd(&self) -> i32 {
        self.dir.as_raw_fd()
    }

    fn entries(&self) -> Vec<String> {
        fs::read_dir(&self.path)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    fn confined(&self) -> Policy {
        Policy::default().confine_to(self.dir.as_fd())
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// This process's descriptors and what they refer to.
fn fd_table() -> BTreeSet<(String, String)> {
    fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let target = fs::read_link(e.path()).ok()?;
            Some((
                e.file_name().to_string_lossy().into_owned(),
                target.to_string_lossy().into_owned(),
            ))
        })
        .collect()
}

/// A chain that starts with canaries valid under `policy`; returns the chain
/// and the index of the next atom.
fn canaried(env: &Env, policy: &Policy) -> (Chain<'static>, u16) {
    let mut chain = Chain::new();
    if policy.allows(nr::MKDIRAT) {
        let p = chain.path("canary-dir");
        chain.push(Mkdirat::new(env.fd(), p));
    }
    if policy.allows(nr::OPENAT) {
        let p = chain.path(".");
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        chain.push(Openat::new(env.fd(), p).flags(flags as u32));
    }
    if policy.allows(nr::SOCKET) && policy.allows_socket_family(libc::AF_INET) {
        chain.push(Socket::new(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
        ));
    }
    let n = chain.len() as u16;
    assert!(n > 0, "every policy of the matrix has a canary");
    (chain, n)
}

fn raw_atom(nr: u32, args: &[(u8, u64)]) -> RawAtom {
    let mut atom = Atom {
        nr,
        nargs: args.len() as u16,
        ..Default::default()
    };
    for (i, &(kind, value)) in args.iter().enumerate() {
        atom.arg_kind[i] = kind;
        atom.arg[i] = value;
    }
    RawAtom(atom)
}

const IMM: u8 = abi::ARG_IMM;
const RES: u8 = abi::ARG_RESULT;
const BUF: u8 = abi::ARG_BUF;

fn imm(v: i64) -> (u8, u64) {
    (IMM, v as u64)
}

fn buf(b: syslets::BufRef) -> (u8, u64) {
    (BUF, abi::buf_arg(b.index(), 0))
}

fn at(i: u16, name: &'static str, kind: ErrorKind) -> ValidationError {
    ValidationError {
        atom: Some(i),
        syscall: Some(name),
        kind,
    }
}

fn batch_err(kind: ErrorKind) -> ValidationError {
    ValidationError {
        atom: None,
        syscall: None,
        kind,
    }
}

// Byte surgery on encoded batches (foreign producers).

fn header(b: &[u8]) -> BatchHeader {
    BatchHeader::read_from_prefix(b).unwrap().0
}

fn edit_header(b: &mut [u8], f: impl FnOnce(&mut BatchHeader)) {
    let mut h = header(b);
    f(&mut h);
    b[..abi::HEADER_SIZE].copy_from_slice(h.as_bytes());
}

fn edit_atom(b: &mut [u8], i: u16, f: impl FnOnce(&mut Atom)) {
    let start = abi::HEADER_SIZE + i as usize * abi::ATOM_SIZE;
    let r = start..start + abi::ATOM_SIZE;
    let mut a = Atom::read_from_bytes(&b[r.clone()]).unwrap();
    f(&mut a);
    b[r].copy_from_slice(a.as_bytes());
}

fn desc_range(b: &[u8], i: u16) -> std::ops::Range<usize> {
    let start = abi::HEADER_SIZE
        + header(b).natoms as usize * abi::ATOM_SIZE
        + i as usize * abi::BUFDESC_SIZE;
    start..start + abi::BUFDESC_SIZE
}

fn edit_buf(b: &mut [u8], i: u16, f: impl FnOnce(&mut BufDesc)) {
    let r = desc_range(b, i);
    let mut d = BufDesc::read_from_bytes(&b[r.clone()]).unwrap();
    f(&mut d);
    b[r].copy_from_slice(d.as_bytes());
}

fn arena_offset(b: &[u8]) -> usize {
    let h = header(b);
    abi::HEADER_SIZE + h.natoms as usize * abi::ATOM_SIZE + h.nbufs as usize * abi::BUFDESC_SIZE
}

/// Store `n` in the socklen_t that is the batch's last buffer.
fn set_last_socklen(b: &mut [u8], n: u32) {
    let last = header(b).nbufs - 1;
    let d = BufDesc::read_from_bytes(&b[desc_range(b, last)]).unwrap();
    let at_len = arena_offset(b) + d.offset as usize;
    b[at_len..at_len + 4].copy_from_slice(&n.to_le_bytes());
}

fn bytes_of(chain: Chain<'_>) -> Vec<u8> {
    chain.encode().unwrap().as_bytes().to_vec()
}

struct Case {
    name: String,
    policy: Policy,
    batch: EncodedBatch<'static>,
    expect: ValidationError,
}

struct Cases<'e> {
    env: &'e Env,
    list: Vec<Case>,
}

impl Cases<'_> {
    /// A case built with the typed chain (in-process).
    fn chain(
        &mut self,
        name: impl Into<String>,
        policy: Policy,
        build: impl FnOnce(&mut Chain<'static>, u16) -> ValidationError,
    ) {
        let (mut chain, k) = canaried(self.env, &policy);
        let expect = build(&mut chain, k);
        let batch = chain.encode().unwrap();
        self.list.push(Case {
            name: name.into(),
            policy,
            batch,
            expect,
        });
    }

    /// A case whose bytes are edited after encoding (a foreign producer).
    fn bytes(
        &mut self,
        name: impl Into<String>,
        policy: Policy,
        build: impl FnOnce(&mut Chain<'static>, u16),
        edit: impl FnOnce(&mut Vec<u8>, u16) -> ValidationError,
    ) {
        let (mut chain, k) = canaried(self.env, &policy);
        build(&mut chain, k);
        let mut b = bytes_of(chain);
        let expect = edit(&mut b, k);
        self.list.push(Case {
            name: name.into(),
            policy,
            batch: EncodedBatch::from_bytes(&b),
            expect,
        });
    }
}

fn cases(env: &Env) -> Vec<Case> {
    let mut c = Cases {
        env,
        list: Vec::new(),
    };
    let def = Policy::default;

    // --- Every denylisted call, and the order of the checks. ---------------
    for d in DENYLIST {
        c.chain(format!("denied {}", d.name), def(), |ch, k| {
            let mut args = vec![imm(0); 6];
            if let DenyWhen::ProtExec { arg } = d.when {
                args[arg as usize] = imm((libc::PROT_READ | libc::PROT_EXEC) as i64);
            }
            ch.push(raw_atom(d.nr, &args));
            at(k, d.name, ErrorKind::SyscallDenied)
        });
        if let DenyWhen::ProtExec { arg } = d.when {
            // A prot that is a RESULT could hold PROT_EXEC at run time.
            c.chain(
                format!("denied {} with a RESULT prot", d.name),
                def(),
                |ch, k| {
                    let mut args = vec![imm(0); 6];
                    args[arg as usize] = (RES, 0);
                    ch.push(raw_atom(d.nr, &args));
                    at(k, d.name, ErrorKind::SyscallDenied)
                },
            );
        }
    }
    c.chain("execve of a path in the arena", def(), |ch, k| {
        let sh = ch.path("/bin/sh");
        ch.push(raw_atom(
            libc::SYS_execve as u32,
            &[buf(sh), imm(0), imm(0)],
        ));
        at(k, "execve", ErrorKind::SyscallDenied)
    });
    c.bytes(
        "denylist is checked before flags, reserved fields and the table",
        def(),
        |ch, _| {
            ch.push(raw_atom(libc::SYS_ptrace as u32, &[imm(16), imm(1)]));
        },
        |b, k| {
            edit_atom(b, k, |a| {
                a.flags = 0xdead_0001;
                a.reserved = 7;
                a.arg_kind[5] = 9;
            });
            at(k, "ptrace", ErrorKind::SyscallDenied)
        },
    );
    c.chain("mmap without PROT_EXEC is still unknown", def(), |ch, k| {
        let rw = (libc::PROT_READ | libc::PROT_WRITE) as i64;
        ch.push(raw_atom(
            9,
            &[imm(0), imm(4096), imm(rw), imm(0x22), imm(-1), imm(0)],
        ));
        ValidationError {
            atom: Some(k),
            syscall: None,
            kind: ErrorKind::UnknownSyscall(9),
        }
    });
    c.chain("a number outside the table", def(), |ch, k| {
        ch.push(raw_atom(1000, &[]));
        ValidationError {
            atom: Some(k),
            syscall: None,
            kind: ErrorKind::UnknownSyscall(1000),
        }
    });
    c.chain(
        "write under a read-only policy",
        Policy::read_only_files(),
        |ch, k| {
            let data = ch.input(b"x");
            ch.push(Write::new(1, data));
            at(k, "write", ErrorKind::SyscallNotAllowed)
        },
    );

    // --- RESULT tricks: a returned value must never become a pointer. ------
    c.chain("read into a RESULT", def(), |ch, k| {
        ch.push(raw_atom(nr::READ, &[imm(0), (RES, 0), imm(8)]));
        at(
            k,
            "read",
            ErrorKind::NotABuffer {
                arg: 1,
                found: "result",
            },
        )
    });
    c.chain("fstat into a RESULT", def(), |ch, k| {
        ch.push(raw_atom(nr::FSTAT, &[(RES, 0), (RES, 0)]));
        at(
            k,
            "fstat",
            ErrorKind::NotABuffer {
                arg: 1,
                found: "result",
            },
        )
    });
    c.chain("openat of a path from a RESULT", def(), |ch, k| {
        ch.push(raw_atom(
            nr::OPENAT,
            &[imm(libc::AT_FDCWD as i64), (RES, 0), imm(0), imm(0)],
        ));
        at(
            k,
            "openat",
            ErrorKind::NotABuffer {
                arg: 1,
                found: "result",
            },
        )
    });
    c.chain("connect to an address from a RESULT", def(), |ch, k| {
        ch.push(raw_atom(nr::CONNECT, &[(RES, 0), (RES, 0), imm(16)]));
        at(
            k,
            "connect",
            ErrorKind::NotABuffer {
                arg: 1,
                found: "result",
            },
        )
    });
    c.chain("write from an immediate address", def(), |ch, k| {
        ch.push(raw_atom(nr::WRITE, &[imm(1), imm(0x7fff_0000), imm(8)]));
        at(
            k,
            "write",
            ErrorKind::NotABuffer {
                arg: 1,
                found: "immediate",
            },
        )
    });
    c.chain("fstat into NULL", def(), |ch, k| {
        ch.push(raw_atom(nr::FSTAT, &[imm(0), imm(0)]));
        at(
            k,
            "fstat",
            ErrorKind::NotABuffer {
                arg: 1,
                found: "immediate",
            },
        )
    });
    c.chain("RESULT of a later atom", def(), |ch, k| {
        ch.push(raw_atom(nr::CLOSE, &[(RES, k as u64 + 1)]));
        ch.push(raw_atom(nr::GETPID, &[]));
        at(
            k,
            "close",
            ErrorKind::ResultRefersForward {
                arg: 0,
                target: k as u64 + 1,
            },
        )
    });
    c.chain("RESULT of itself", def(), |ch, k| {
        ch.push(raw_atom(nr::CLOSE, &[(RES, k as u64)]));
        at(k, "close", ErrorKind::ResultRefersToSelf(0))
    });

    // --- Lengths that overrun buffers. --------------------------------------
    c.chain("read longer than its buffer", def(), |ch, k| {
        let b = ch.output_bytes(16);
        ch.push(Read::new(0, b).len(ByteLen::Bytes(17)));
        at(
            k,
            "read",
            ErrorKind::LengthExceedsBuffer {
                arg: 1,
                len: 17,
                available: 16,
            },
        )
    });
    c.chain("read from the middle past the end", def(), |ch, k| {
        let b = ch.output_bytes(16);
        ch.push(Read::new(0, b.skip(8)).len(ByteLen::Bytes(9)));
        at(
            k,
            "read",
            ErrorKind::LengthExceedsBuffer {
                arg: 1,
                len: 9,
                available: 8,
            },
        )
    });
    c.chain("fstat into a short buffer", def(), |ch, k| {
        let b = ch.output_bytes(100);
        ch.push(raw_atom(nr::FSTAT, &[imm(0), buf(b)]));
        at(
            k,
            "fstat",
            ErrorKind::LengthExceedsBuffer {
                arg: 1,
                len: 144,
                available: 100,
            },
        )
    });
    c.chain(
        "connect with an address length past its buffer",
        def(),
        |ch, k| {
            let a = ch.input(&[0; 16]);
            ch.push(raw_atom(nr::CONNECT, &[imm(3), buf(a), imm(64)]));
            at(
                k,
                "connect",
                ErrorKind::LengthExceedsBuffer {
                    arg: 1,
                    len: 64,
                    available: 16,
                },
            )
        },
    );
    c.bytes(
        "getsockopt whose socklen_t claims more than optval",
        def(),
        |ch, _| {
            let val = ch.output_bytes(8);
            let len = ch.scratch(4);
            ch.push(raw_atom(
                nr::GETSOCKOPT,
                &[imm(3), imm(1), imm(2), buf(val), buf(len)],
            ));
        },
        |b, k| {
            // The socklen_t says 64; optval has 8 bytes.
            set_last_socklen(b, 64);
            at(
                k,
                "getsockopt",
                ErrorKind::LengthExceedsBuffer {
                    arg: 3,
                    len: 64,
                    available: 8,
                },
            )
        },
    );
    c.bytes(
        "buffer offset past the buffer's end",
        def(),
        |ch, _| {
            let b = ch.output_bytes(16);
            ch.push(Read::new(0, b).len(ByteLen::Bytes(0)));
        },
        |b, k| {
            let last = header(b).nbufs - 1;
            edit_atom(b, k, |a| a.arg[1] = abi::buf_arg(last, 17));
            at(
                k,
                "read",
                ErrorKind::BufOffsetOutOfRange {
                    arg: 1,
                    offset: 17,
                    len: 16,
                },
            )
        },
    );
    c.bytes(
        "buffer index the batch does not have",
        def(),
        |ch, _| {
            let b = ch.output_bytes(16);
            ch.push(Read::new(0, b));
        },
        |b, k| {
            let nbufs = header(b).nbufs;
            edit_atom(b, k, |a| a.arg[1] = abi::buf_arg(nbufs + 5, 0));
            at(
                k,
                "read",
                ErrorKind::BufIndexOutOfRange {
                    arg: 1,
                    index: nbufs as u64 + 5,
                    nbufs,
                },
            )
        },
    );
    c.bytes(
        "buffer descriptor reaching past the arena",
        def(),
        |ch, _| {
            let b = ch.output_bytes(16);
            ch.push(Read::new(0, b));
        },
        |b, _| {
            let last = header(b).nbufs - 1;
            edit_buf(b, last, |d| d.len = 1 << 20);
            batch_err(ErrorKind::BadBufDesc {
                buf: last,
                reason: "reaches past the end of the arena",
            })
        },
    );

    // --- Out-of-range flags and values. -------------------------------------
    c.chain("openat flags over 32 bits", def(), |ch, k| {
        let p = ch.path("x");
        ch.push(raw_atom(
            nr::OPENAT,
            &[imm(libc::AT_FDCWD as i64), buf(p), imm(1 << 32), imm(0)],
        ));
        at(
            k,
            "openat",
            ErrorKind::ArgOutOfRange {
                arg: 2,
                value: 1 << 32,
            },
        )
    });
    c.chain("fd over 32 bits", def(), |ch, k| {
        ch.push(raw_atom(nr::CLOSE, &[imm(1 << 33)]));
        at(
            k,
            "close",
            ErrorKind::ArgOutOfRange {
                arg: 0,
                value: 1 << 33,
            },
        )
    });
    c.chain(
        "AT_FDCWD zero-extended instead of sign-extended",
        def(),
        |ch, k| {
            let p = ch.path("x");
            let fdcwd = libc::AT_FDCWD as u32 as i64;
            ch.push(raw_atom(nr::OPENAT, &[imm(fdcwd), buf(p), imm(0), imm(0)]));
            at(
                k,
                "openat",
                ErrorKind::ArgOutOfRange {
                    arg: 0,
                    value: fdcwd as u64,
                },
            )
        },
    );
    c.chain("socket domain over 32 bits", def(), |ch, k| {
        ch.push(raw_atom(nr::SOCKET, &[imm(1 << 40 | 2), imm(1), imm(0)]));
        at(
            k,
            "socket",
            ErrorKind::ArgOutOfRange {
                arg: 0,
                value: 1 << 40 | 2,
            },
        )
    });
    c.chain("lseek whence over 32 bits", def(), |ch, k| {
        ch.push(raw_atom(nr::LSEEK, &[imm(0), imm(0), imm(1 << 32)]));
        at(
            k,
            "lseek",
            ErrorKind::ArgOutOfRange {
                arg: 2,
                value: 1 << 32,
            },
        )
    });
    c.bytes(
        "unknown atom flag",
        def(),
        |ch, _| {
            ch.push(raw_atom(nr::GETPID, &[]));
        },
        |b, k| {
            edit_atom(b, k, |a| a.flags = 0x1);
            at(k, "getpid", ErrorKind::BadAtomFlags(0x1))
        },
    );
    c.bytes(
        "unknown batch flag",
        def(),
        |_, _| {},
        |b, _| {
            edit_header(b, |h| h.flags = 0x80);
            batch_err(ErrorKind::BadBatchFlags(0x80))
        },
    );
    c.bytes(
        "ASYNC and SYNC together",
        def(),
        |_, _| {},
        |b, _| {
            edit_header(b, |h| h.flags = abi::BATCH_ASYNC | abi::BATCH_SYNC);
            batch_err(ErrorKind::ConflictingBatchFlags)
        },
    );
    c.chain("argument beyond nargs not zero", def(), |ch, k| {
        let mut a = raw_atom(nr::CLOSE, &[imm(0)]);
        a.0.arg[3] = 5;
        ch.push(a);
        at(k, "close", ErrorKind::UnusedArgNotZero(3))
    });
    c.chain("nargs that differs from the signature", def(), |ch, k| {
        ch.push(raw_atom(nr::CLOSE, &[imm(0), imm(0)]));
        at(
            k,
            "close",
            ErrorKind::WrongArgCount {
                expected: 1,
                found: 2,
            },
        )
    });
    c.chain("unknown argument kind", def(), |ch, k| {
        ch.push(raw_atom(nr::CLOSE, &[(7, 0)]));
        at(k, "close", ErrorKind::BadArgKind { arg: 0, kind: 7 })
    });

    // --- NEXT targets that go backwards (or nowhere). -----------------------
    for (what, target) in [("backwards", -1i32), ("to itself", 0), ("past the end", 2)] {
        c.bytes(
            format!("NEXT {what}"),
            def(),
            |ch, _| {
                ch.push(raw_atom(nr::GETPID, &[]));
            },
            |b, k| {
                let t = (k as i32 + target) as u8;
                edit_atom(b, k, |a| a.flags = abi::next_field(t));
                at(k, "getpid", ErrorKind::BadNextTarget(t))
            },
        );
    }

    // --- ARG_RAW in foreign bytes. ------------------------------------------
    {
        let policy = def();
        let (mut chain, k) = canaried(env, &policy);
        let mut mem = [0u8; 32];
        let m = chain.borrow_mut(&mut mem);
        chain.push(Read::new(0, m));
        let b = bytes_of(chain);
        c.list.push(Case {
            name: "raw pointer in bytes from elsewhere".into(),
            policy,
            batch: EncodedBatch::from_bytes(&b),
            expect: at(k, "read", ErrorKind::RawPointerInForeignBatch(1)),
        });
    }

    // --- Wrong directions. --------------------------------------------------
    c.chain("read into an IN-only buffer", def(), |ch, k| {
        let p = ch.path("a path the kernel must not overwrite");
        ch.push(Read::new(0, p));
        at(
            k,
            "read",
            ErrorKind::WrongDirection {
                arg: 1,
                buf: p.index(),
            },
        )
    });
    c.chain("write from an OUT-only buffer", def(), |ch, k| {
        let o = ch.output_bytes(8);
        ch.push(Write::new(1, o));
        at(
            k,
            "write",
            ErrorKind::WrongDirection {
                arg: 1,
                buf: o.index(),
            },
        )
    });
    c.chain("openat of a path in an OUT-only buffer", def(), |ch, k| {
        let o = ch.output_bytes(8);
        ch.push(raw_atom(
            nr::OPENAT,
            &[imm(libc::AT_FDCWD as i64), buf(o), imm(0), imm(0)],
        ));
        at(
            k,
            "openat",
            ErrorKind::WrongDirection {
                arg: 1,
                buf: o.index(),
            },
        )
    });

    // --- Unterminated paths. ------------------------------------------------
    c.bytes(
        "path without its NUL",
        def(),
        |ch, _| {
            let p = ch.path("created");
            let flags = libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC;
            ch.push(
                Openat::new(libc::AT_FDCWD, p)
                    .flags(flags as u32)
                    .mode(0o600),
            );
        },
        |b, k| {
            // The path is the last buffer: "created\0", 8 bytes.
            let last = header(b).nbufs - 1;
            let d = BufDesc::read_from_bytes(&b[desc_range(b, last)]).unwrap();
            let nul = arena_offset(b) + d.offset as usize + d.len as usize - 1;
            assert_eq!(b[nul], 0);
            b[nul] = b'!';
            at(k, "openat", ErrorKind::UnterminatedString(1))
        },
    );

    // --- Path escapes under confinement. ------------------------------------
    let create = (libc::O_CREAT | libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC) as u32;
    let escape = |reason| ErrorKind::PathEscapes { arg: 1, reason };
    for (path, reason) in [
        ("/tmp/syslets-escaped", "absolute path"),
        ("..", "`..` component"),
        ("../syslets-escaped", "`..` component"),
        ("canary-dir/../../x", "`..` component"),
    ] {
        c.chain(format!("confined: {path}"), env.confined(), |ch, k| {
            let p = ch.path(path);
            ch.push(Openat::new(env.fd(), p).flags(create).mode(0o600));
            at(k, "openat", escape(reason))
        });
    }
    c.chain(
        "confined: two components without openat2",
        env.confined(),
        |ch, k| {
            let p = ch.path("canary-dir/created");
            ch.push(Openat::new(env.fd(), p).flags(create).mode(0o600));
            at(
                k,
                "openat",
                escape(
                    "more than one component without openat2 and RESOLVE_BENEATH \
                 (an intermediate symlink could lead out)",
                ),
            )
        },
    );
    c.chain(
        "confined: create without O_NOFOLLOW",
        env.confined(),
        |ch, k| {
            let p = ch.path("created");
            let flags = (libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC) as u32;
            ch.push(Openat::new(env.fd(), p).flags(flags).mode(0o600));
            at(
                k,
                "openat",
                ErrorKind::ArgRefused {
                    arg: 2,
                    reason: "confinement requires O_NOFOLLOW / AT_SYMLINK_NOFOLLOW \
                         (a final symlink could lead out)",
                },
            )
        },
    );
    c.chain("confined: dirfd AT_FDCWD", env.confined(), |ch, k| {
        let p = ch.path("created");
        ch.push(Openat::new(libc::AT_FDCWD, p).flags(create).mode(0o600));
        at(k, "openat", ErrorKind::DirfdNotConfined { arg: 0 })
    });
    c.chain("confined: dirfd from a RESULT", env.confined(), |ch, k| {
        // Canary 1 is the openat of the directory itself.
        let p = ch.path("created");
        ch.push(
            Openat::new(AtomRef::from_index(1), p)
                .flags(create)
                .mode(0o600),
        );
        at(k, "openat", ErrorKind::DirfdNotConfined { arg: 0 })
    });
    c.chain(
        "confined: openat2 without RESOLVE_BENEATH",
        env.confined(),
        |ch, k| {
            let p = ch.path("created");
            let how = ch.input_value(&OpenHow {
                flags: (libc::O_CREAT | libc::O_WRONLY) as u64,
                mode: 0o600,
                resolve: 0,
            });
            ch.push(Openat2::new(env.fd(), p, how));
            at(
                k,
                "openat2",
                ErrorKind::ArgRefused {
                    arg: 2,
                    reason: "confinement requires how.resolve to hold RESOLVE_BENEATH \
                         (or RESOLVE_IN_ROOT) and RESOLVE_NO_MAGICLINKS",
                },
            )
        },
    );
    c.chain(
        "confined: path a read could rewrite",
        env.confined(),
        |ch, k| {
            let p = ch.scratch(16);
            ch.push(Read::new(0, p).len(ByteLen::Bytes(0)));
            ch.push(Openat::new(env.fd(), p).flags(create).mode(0o600));
            at(
                k + 1,
                "openat",
                ErrorKind::CheckedMemoryWritable {
                    arg: 1,
                    buf: p.index(),
                },
            )
        },
    );
    c.bytes(
        "confined: IN path overlapped by an OUT buffer",
        env.confined(),
        |ch, _| {
            let p = ch.path("created");
            let o = ch.output_bytes(8);
            ch.push(Read::new(0, o).len(ByteLen::Bytes(0)));
            ch.push(Openat::new(env.fd(), p).flags(create).mode(0o600));
        },
        |b, k| {
            let n = header(b).nbufs;
            let path = BufDesc::read_from_bytes(&b[desc_range(b, n - 2)]).unwrap();
            edit_buf(b, n - 1, |d| d.offset = path.offset);
            at(
                k + 1,
                "openat",
                ErrorKind::CheckedMemoryWritable { arg: 1, buf: n - 1 },
            )
        },
    );

    // --- Socket options: only the table's, plain bytes of a known size. ------
    let sockopt_refused = |access, level: i32, optname: i32| {
        let r = sockopt::refused_entry(access, level, optname).expect("listed");
        ErrorKind::SockoptRefused {
            level,
            optname,
            name: Some(r.name),
            reason: r.reason,
        }
    };
    // The value is a tcp_zerocopy_receive whose copybuf_address the kernel
    // copies queued data to: a host address there was written by the kernel.
    c.chain("getsockopt TCP_ZEROCOPY_RECEIVE", def(), |ch, k| {
        let val = ch.output_bytes(64);
        let len = ch.scratch(4);
        ch.push(Getsockopt::new(3, libc::IPPROTO_TCP, 35, val, len));
        at(
            k,
            "getsockopt",
            sockopt_refused(Access::Get, libc::IPPROTO_TCP, 35),
        )
    });
    // The value is a sock_fprog whose filter pointer the kernel reads.
    c.chain("setsockopt SO_ATTACH_FILTER", def(), |ch, k| {
        let prog = ch.input(&[0; 16]);
        ch.push(Setsockopt::new(
            3,
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            prog,
        ));
        at(
            k,
            "setsockopt",
            sockopt_refused(Access::Set, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER),
        )
    });
    // optlen counts 8-byte instructions: 128 let the kernel write 1024
    // bytes into a 128-byte buffer at the end of the arena.
    c.bytes(
        "getsockopt SO_GET_FILTER with optlen 128",
        def(),
        |ch, _| {
            let val = ch.output_bytes(128);
            let len = ch.scratch(4);
            ch.push(Getsockopt::new(
                3,
                libc::SOL_SOCKET,
                libc::SO_GET_FILTER,
                val,
                len,
            ));
        },
        |b, k| {
            set_last_socklen(b, 128);
            at(
                k,
                "getsockopt",
                sockopt_refused(Access::Get, libc::SOL_SOCKET, libc::SO_GET_FILTER),
            )
        },
    );
    c.chain("getsockopt of a level outside the table", def(), |ch, k| {
        let val = ch.output_bytes(8);
        let len = ch.scratch(4);
        ch.push(Getsockopt::new(3, libc::SOL_NETLINK, 1, val, len));
        at(
            k,
            "getsockopt",
            ErrorKind::SockoptRefused {
                level: libc::SOL_NETLINK,
                optname: 1,
                name: None,
                reason: sockopt::NOT_IN_TABLE,
            },
        )
    });
    c.chain("setsockopt of a get-only option", def(), |ch, k| {
        let val = ch.input(&[0; 4]);
        ch.push(Setsockopt::new(3, libc::SOL_SOCKET, libc::SO_ERROR, val));
        at(
            k,
            "setsockopt",
            ErrorKind::SockoptRefused {
                level: libc::SOL_SOCKET,
                optname: libc::SO_ERROR,
                name: None,
                reason: sockopt::NOT_IN_TABLE,
            },
        )
    });
    c.chain("getsockopt with a RESULT option name", def(), |ch, k| {
        let val = ch.output_bytes(8);
        let len = ch.scratch(4);
        ch.push(raw_atom(
            nr::GETSOCKOPT,
            &[imm(3), imm(1), (RES, 0), buf(val), buf(len)],
        ));
        at(
            k,
            "getsockopt",
            ErrorKind::ArgRefused {
                arg: 2,
                reason: "socket option level and name must be immediates",
            },
        )
    });

    // --- One call's pointers never overlap. --------------------------------
    // recvfrom wrote its data over its own addrlen (255), then a 48-byte
    // address into a 4-byte buffer: past the arena, into the completion.
    let recvfrom_overlap = |c: &mut Cases<'_>, name: &str, onto_data: bool| {
        c.bytes(
            name,
            def(),
            |ch, _| {
                let data = ch.output_bytes(64);
                let addr = ch.output_bytes(4);
                let addrlen = ch.scratch(4);
                ch.push(raw_atom(
                    nr::RECVFROM,
                    &[imm(3), buf(data), imm(64), imm(0), buf(addr), buf(addrlen)],
                ));
            },
            move |b, k| {
                let n = header(b).nbufs;
                let (data, addr, addrlen) = (n - 3, n - 2, n - 1);
                let target = if onto_data { data } else { addr };
                let t = BufDesc::read_from_bytes(&b[desc_range(b, target)]).unwrap();
                edit_buf(b, addrlen, |d| d.offset = t.offset);
                let (arg, other) = if onto_data { (1, 5) } else { (4, 5) };
                at(k, "recvfrom", ErrorKind::PointerArgsOverlap { arg, other })
            },
        );
    };
    recvfrom_overlap(&mut c, "recvfrom whose addrlen lies in its data", true);
    recvfrom_overlap(&mut c, "recvfrom whose addrlen lies in its address", false);

    // --- Write flags under a read-only policy. ------------------------------
    let target = env.path.join("created");
    for flag in [
        libc::O_WRONLY,
        libc::O_RDWR,
        libc::O_CREAT,
        libc::O_TRUNC,
        libc::O_APPEND,
        libc::O_TMPFILE,
    ] {
        let flags = (flag | libc::O_CREAT | libc::O_CLOEXEC) as u64;
        let dir_flags = (flag | libc::O_CLOEXEC) as u64;
        let (path, flags) = if flag == libc::O_TMPFILE {
            (env.path.clone(), dir_flags | libc::O_RDWR as u64)
        } else {
            (target.clone(), flags)
        };
        c.chain(
            format!("read-only: openat {flag:#o}"),
            Policy::read_only_files(),
            |ch, k| {
                let p = ch.path(&path);
                ch.push(
                    Openat::new(libc::AT_FDCWD, p)
                        .flags(flags as u32)
                        .mode(0o600),
                );
                let forbidden = flags & WRITE_OPEN_FLAGS as u64;
                at(
                    k,
                    "openat",
                    ErrorKind::OpenFlagsRefused {
                        arg: 2,
                        flags,
                        forbidden,
                    },
                )
            },
        );
    }
    c.chain(
        "read-only: openat2 how.flags",
        Policy::read_only_files(),
        |ch, k| {
            let p = ch.path(&target);
            let flags = (libc::O_CREAT | libc::O_WRONLY) as u64;
            let how = ch.input_value(&OpenHow {
                flags,
                mode: 0o600,
                resolve: 0,
            });
            ch.push(Openat2::new(libc::AT_FDCWD, p, how));
            at(
                k,
                "openat2",
                ErrorKind::OpenFlagsRefused {
                    arg: 2,
                    flags,
                    forbidden: flags,
                },
            )
        },
    );

    // --- Socket families and signals. ---------------------------------------
    for family in [
        libc::AF_NETLINK,
        libc::AF_PACKET,
        libc::AF_VSOCK,
        libc::AF_ALG,
    ] {
        c.chain(format!("socket family {family}"), def(), |ch, k| {
            ch.push(Socket::new(family, libc::SOCK_RAW | libc::SOCK_CLOEXEC));
            at(
                k,
                "socket",
                ErrorKind::SocketFamilyRefused {
                    arg: 0,
                    family: family as u64,
                },
            )
        });
    }
    c.chain("SIGKILL to init", def(), |ch, k| {
        ch.push(Tgkill::new(1, 1, libc::SIGKILL));
        at(
            k,
            "tgkill",
            ErrorKind::SignalOutsideProcess { arg: 0, tgid: 1 },
        )
    });

    c.list
}

#[test]
fn hostile_batches_are_refused_up_front_and_nothing_runs() {
    let _serial = serial();
    let env = Env::new("matrix");
    let cases = cases(&env);
    assert!(cases.len() >= 100, "{} cases", cases.len());
    let fds_before = fd_table();
    let mut wrong = Vec::new();
    for case in cases {
        match case.batch.validate(&case.policy) {
            // Dropped, never run.
            Ok(_) => wrong.push(format!("{}: accepted", case.name)),
            Err(e) if e != case.expect => wrong.push(format!(
                "{}:\n   got {e:?}\n  want {:?}",
                case.name, case.expect
            )),
            Err(e) => assert!(!e.to_string().is_empty()),
        }
        assert_eq!(
            env.entries(),
            Vec::<String>::new(),
            "{}: a file appeared",
            case.name
        );
        assert_eq!(
            fd_table(),
            fds_before,
            "{}: a descriptor appeared",
            case.name
        );
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn canaries_leave_traces_when_they_run() {
    // The control for the matrix: the same canaries, in a valid batch that
    // runs, create a directory and open two descriptors.
    let _serial = serial();
    let env = Env::new("control");
    let fds_before = fd_table();
    let (chain, k) = canaried(&env, &env.confined());
    assert_eq!(k, 3);
    let mut batch = chain.prepare(&env.confined()).unwrap();
    let done = batch.run();
    assert_eq!(done.atoms_run(), 3, "{:?}", done.results());
    assert_eq!(env.entries(), vec!["canary-dir".to_string()]);
    assert_eq!(fd_table().len(), fds_before.len() + 2);
    let fds = batch.take_fds();
    assert_eq!(fds.len(), 2);
    drop(fds);
    assert_eq!(fd_table(), fds_before);
}

#[test]
fn every_denylisted_number_is_denied_whatever_the_policy() {
    let _serial = serial();
    for policy in [
        Policy::default(),
        Policy::empty(),
        Policy::read_only_files(),
    ] {
        for d in DENYLIST {
            let mut chain = Chain::new();
            let mut atom = raw_atom(d.nr, &[imm(0); 6]);
            atom.0.arg[2] = libc::PROT_EXEC as u64;
            chain.push(atom);
            let e = chain.prepare(&policy).unwrap_err();
            assert_eq!(e, at(0, d.name, ErrorKind::SyscallDenied));
            assert!(e.to_string().contains(d.name), "{e}");
        }
    }
}

#[test]
fn a_stop_before_a_hostile_atom_does_not_make_it_acceptable() {
    // Validation is of the whole batch, not of the path that will run: an
    // atom that a stop condition would skip is still checked.
    let _serial = serial();
    let mut chain = Chain::new();
    let p = chain.path("/nonexistent/syslets");
    chain.push(Openat::new(libc::AT_FDCWD, p).stop_on(Stop::NEGATIVE));
    chain.push(raw_atom(libc::SYS_execve as u32, &[imm(0), imm(0), imm(0)]));
    chain.push(Close::new(AtomRef::from_index(0)));
    let e = chain.prepare(&Policy::default()).unwrap_err();
    assert_eq!(e, at(1, "execve", ErrorKind::SyscallDenied));
}

#[test]
fn overwritten_terminator_is_caught_at_run_time() {
    // Foreign bytes: an IN-only path, and an OUT buffer laid over the same
    // arena bytes. A read into the OUT buffer replaces the path's NUL, so the
    // kernel would read the path on past the end of its buffer (up to the
    // next NUL in the arena or beyond it). The openat must not be issued.
    let _serial = serial();
    let env = Env::new("terminator");
    let filler = env.path.join("filler");
    fs::write(&filler, [b'A'; 64]).unwrap();
    let mut chain = Chain::new();
    let src = chain.path(&filler);
    let victim = chain.path("ok");
    let over = chain.output_bytes(8);
    let fd = chain.push(Openat::new(libc::AT_FDCWD, src).stop_on(Stop::NEGATIVE));
    chain.push(Read::new(fd, over));
    let open = chain.push(Openat::new(libc::AT_FDCWD, victim));
    chain.push(Close::new(fd));
    let mut b = bytes_of(chain);
    let v = BufDesc::read_from_bytes(&b[desc_range(&b, victim.index())]).unwrap();
    edit_buf(&mut b, over.index(), |d| d.offset = v.offset);
    let mut batch = EncodedBatch::from_bytes(&b)
        .validate(&Policy::default())
        .unwrap();
    let done = batch.run();
    assert_eq!(
        done.result(AtomRef::from_index(1)),
        Some(8),
        "{:?}",
        done.results()
    );
    assert_eq!(done.result(open), Some(-(libc::EFAULT as i64)));
    drop(batch.take_fds());
}

/// Two pointers of one atom that the kernel only reads may share bytes
/// (nothing can change one while the kernel reads the other); as soon as one
/// of them is written, the same layout is refused.
#[test]
fn read_only_pointers_of_one_atom_may_overlap_written_ones_may_not() {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let fd = sock.as_raw_fd() as i64;
    // A sockaddr_in for 127.0.0.1:9 (discard), which is also the data sent.
    let mut raw = [0u8; 16];
    raw[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
    raw[2..4].copy_from_slice(&9u16.to_be_bytes());
    raw[4..8].copy_from_slice(&[127, 0, 0, 1]);
    let size = raw.len() as i64;
    let bytes = |dir_out: bool| {
        let mut ch = Chain::new();
        let data = ch.input(&raw);
        let dest = ch.input(&raw);
        if dir_out {
            let out = ch.output_bytes(size as usize);
            let from = ch.output_bytes(size as usize);
            let len = ch.scratch(4);
            ch.push(raw_atom(
                nr::RECVFROM,
                &[
                    imm(fd),
                    buf(out),
                    imm(size),
                    imm(libc::MSG_DONTWAIT as i64),
                    buf(from),
                    buf(len),
                ],
            ));
        } else {
            ch.push(raw_atom(
                nr::SENDTO,
                &[imm(fd), buf(data), imm(size), imm(0), buf(dest), imm(size)],
            ));
        }
        let mut b = bytes_of(ch);
        // Describe the call's second pointer's buffer over its first's bytes.
        let (onto, moved) = if dir_out { (2, 3) } else { (0, 1) };
        let first = BufDesc::read_from_bytes(&b[desc_range(&b, onto)]).unwrap();
        edit_buf(&mut b, moved, |d| d.offset = first.offset);
        b
    };
    let policy = Policy::default();
    let sendto = bytes(false);
    let mut sent = EncodedBatch::from_bytes(&sendto)
        .validate(&policy)
        .expect("two read-only pointers over the same bytes are fine");
    assert_eq!(sent.run().as_abi().results[0], size);
    // recvfrom's address buffer (written) over its data buffer (written).
    let err = EncodedBatch::from_bytes(&bytes(true))
        .validate(&policy)
        .unwrap_err();
    assert_eq!(err.atom, Some(0));
    assert!(
        matches!(err.kind, ErrorKind::PointerArgsOverlap { .. }),
        "{err}"
    );
}
