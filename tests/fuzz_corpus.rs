//! The `decode_validate` fuzz target's seed corpus, on the stable toolchain.
//!
//! The seeds are built here, with the typed builders (and a few hand-broken
//! ones), and committed under `fuzz/corpus/decode_validate/`:
//! * `valid-*` must validate, `invalid-*` must be refused with the error class
//!   their name says; every other file there (inputs a fuzzer run added) must
//!   decode and validate or be refused without panicking;
//! * every seed defined here must be committed and byte-identical to what the
//!   builders make now, so an encoding change cannot leave stale seeds behind.
//!   `SYSLETS_BLESS_CORPUS=1 cargo test --test fuzz_corpus` rewrites them.
//!
//! Batches from the corpus are only validated here, never run.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use syslets::abi::{self, nr, Atom};
use syslets::opcode::{
    Accept4, Bind, Close, Connect, Fallocate, Fdatasync, Fstat, Fsync, Ftruncate, Getdents64,
    Getpid, Getsockopt, Gettid, Listen, Lseek, Mkdirat, Newfstatat, Openat, Openat2, Pread64,
    Pwrite64, RawAtom, Read, Recvfrom, RtTgsigqueueinfo, Sendto, Setsockopt, Shutdown, Socket,
    Statx, Tgkill, Unlinkat, Write,
};
use syslets::{ByteLen, Chain, EncodedBatch, ErrorKind, Policy, Stat, Stop};
use zerocopy::{FromBytes, IntoBytes};

/// Held by both tests: blessing rewrites the files the replay reads.
static CORPUS: Mutex<()> = Mutex::new(());

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/decode_validate")
}

fn bytes(chain: Chain<'_>) -> Vec<u8> {
    chain
        .encode()
        .expect("seed chains encode")
        .as_bytes()
        .to_vec()
}

/// openat → fstat → close, the README's headline chain.
fn open_fstat_close() -> Vec<u8> {
    let mut chain = Chain::new();
    let path = chain.path("/proc/self/stat");
    let st = chain.output::<Stat>();
    let fd = chain.push(Openat::new(libc::AT_FDCWD, path).stop_on(Stop::NEGATIVE));
    chain.push(Fstat::new(fd, st));
    chain.push(Close::new(fd));
    bytes(chain)
}

/// A copy loop body: read into a scratch buffer, write what was read
/// (a RESULT length, checked at run time), with a skip-on-stop branch.
fn read_write_result_len() -> Vec<u8> {
    let mut chain = Chain::new();
    let src = chain.path("in");
    let dst = chain.path("out");
    let buf = chain.scratch(4096);
    let i = chain.push(Openat::new(libc::AT_FDCWD, src).stop_on(Stop::NEGATIVE));
    let o = chain.push(
        Openat::new(libc::AT_FDCWD, dst)
            .flags((libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC) as u32)
            .mode(0o600)
            .stop_on(Stop::NEGATIVE)
            .skip_to_next_on_stop(),
    );
    let n = chain.push(
        Read::new(i, buf)
            .stop_on(Stop::NON_POSITIVE)
            .skip_to_next_on_stop(),
    );
    chain.push(Write::new(o, buf).len(ByteLen::ResultOf(n)));
    chain.push(Pread64::new(i, buf, 0).len(ByteLen::Bytes(100)));
    chain.push(Pwrite64::new(o, buf.skip(8).take(16), 4096));
    chain.push(Close::new(o));
    chain.push(Close::new(i));
    bytes(chain)
}

/// A client: socket, connect, sendto with a destination, recvfrom with a
/// source address (a socklen_t in/out buffer), shutdown, close.
fn socket_client() -> Vec<u8> {
    let mut chain = Chain::new();
    let addr = chain.sockaddr("127.0.0.1:9".parse::<SocketAddr>().unwrap());
    let addr6 = chain.sockaddr("[::1]:9".parse::<SocketAddr>().unwrap());
    let msg = chain.input(b"hello");
    let buf = chain.output_bytes(256);
    let from = chain.sockaddr_out();
    let s = chain.push(
        Socket::new(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC).stop_on(Stop::NEGATIVE),
    );
    chain.push(Connect::new(s, addr));
    chain.push(Sendto::new(s, msg).dest(Some(addr6)));
    chain.push(
        Recvfrom::new(s, buf)
            .src(Some(from))
            .flags(libc::MSG_DONTWAIT as u32),
    );
    chain.push(Shutdown::new(s, libc::SHUT_RDWR));
    chain.push(Close::new(s));
    bytes(chain)
}

/// A server: setsockopt, bind, listen, getsockopt, accept4 with an address.
fn socket_server() -> Vec<u8> {
    let mut chain = Chain::new();
    let addr = chain.sockaddr("127.0.0.1:0".parse::<SocketAddr>().unwrap());
    let one = chain.input(&1i32.to_le_bytes());
    let opt = chain.sockaddr_out();
    let peer = chain.sockaddr_out();
    let s = chain.push(
        Socket::new(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC).stop_on(Stop::NEGATIVE),
    );
    chain.push(Setsockopt::new(
        s,
        libc::SOL_SOCKET,
        libc::SO_REUSEADDR,
        one,
    ));
    chain.push(Bind::new(s, addr).stop_on(Stop::NEGATIVE));
    chain.push(Listen::new(s).backlog(16));
    chain.push(Getsockopt::new(
        s,
        libc::SOL_SOCKET,
        libc::SO_TYPE,
        opt.addr,
        opt.len,
    ));
    let c = chain.push(
        Accept4::new(s)
            .addr(Some(peer))
            .flags((libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) as u32),
    );
    chain.push(Close::new(c));
    chain.push(Close::new(s));
    bytes(chain)
}

/// The file and directory calls: stat family, openat2, getdents64, mkdirat,
/// unlinkat, fallocate, ftruncate, fsync, fdatasync, lseek.
fn files_and_dirs() -> Vec<u8> {
    let mut chain = Chain::new();
    let dir = chain.path("d");
    let file = chain.path("d/f");
    let how = chain.input(&[0u8; 24]);
    let st = chain.output::<Stat>();
    let stx = chain.output::<syslets::Statx>();
    let dents = chain.output_bytes(1024);
    chain.push(Mkdirat::new(libc::AT_FDCWD, dir).mode(0o700));
    let d = chain.push(Openat2::new(libc::AT_FDCWD, dir, how));
    chain.push(Getdents64::new(d, dents));
    chain.push(Newfstatat::new(d, file, st).flags(libc::AT_SYMLINK_NOFOLLOW as u32));
    chain.push(Statx::new(libc::AT_FDCWD, file, stx));
    let f = chain.push(
        Openat::new(libc::AT_FDCWD, file)
            .flags((libc::O_RDWR | libc::O_CREAT | libc::O_CLOEXEC) as u32)
            .mode(0o600),
    );
    chain.push(Fallocate::new(f, 0, 8192));
    chain.push(Ftruncate::new(f, 100));
    chain.push(Lseek::new(f, 0, libc::SEEK_END));
    chain.push(Fsync::new(f));
    chain.push(Fdatasync::new(f));
    chain.push(Close::new(f));
    chain.push(Close::new(d));
    chain.push(Unlinkat::new(libc::AT_FDCWD, file));
    chain.push(Unlinkat::new(libc::AT_FDCWD, dir).flags(libc::AT_REMOVEDIR as u32));
    bytes(chain)
}

/// Signals to this process's own threads; NEXT jumps and every stop flag;
/// caller data and the NO_COMPLETE batch flag.
/// Jumps, stop flags and skips (the signal atoms of the policy-free era are
/// gone: a fixed byte seed cannot name the validating process, and the default
/// policy only lets signals reach this process; see `signal_outside_process`).
fn jumps_stops() -> Vec<u8> {
    let mut chain = Chain::new();
    chain
        .set_caller_data(0x5359_534c_4554_5321)
        .set_flags(abi::BATCH_NO_COMPLETE);
    let pid = chain.push(Getpid::new().stop_on(Stop::NON_POSITIVE));
    let tid = chain.push(Gettid::new().stop_on(Stop::ZERO.or(Stop::NEGATIVE)));
    let k = chain.push(Close::new(-1).stop_on(Stop::NONZERO).skip_to_next_on_stop());
    chain.push(Lseek::new(-1, 0, libc::SEEK_SET).stop_on(Stop::NEGATIVE));
    let last = chain.push(Getpid::new());
    chain.jump(pid, tid).jump(k, last).end_after(last);
    bytes(chain)
}

/// Signals to thread group 0 (not this process): refused by the default policy.
fn signal_outside_process() -> Vec<u8> {
    let mut chain = Chain::new();
    let info = chain.input(&[0u8; 128]);
    chain.push(Tgkill::new(0, 0, 0));
    chain.push(RtTgsigqueueinfo::new(0, 0, 0, info));
    bytes(chain)
}

/// The largest chain: 64 atoms.
fn sixty_four_atoms() -> Vec<u8> {
    let mut chain = Chain::new();
    for i in 0..abi::MAX_ATOMS {
        if i % 2 == 0 {
            chain.push(Getpid::new());
        } else {
            chain.push(Gettid::new().stop_on(Stop::NEGATIVE));
        }
    }
    bytes(chain)
}

/// A raw pointer survives encoding, but a batch from bytes may not carry one.
fn raw_pointer() -> Vec<u8> {
    let mut mem = [0u8; 16];
    let mut chain = Chain::new();
    let m = chain.borrow_mut(&mut mem);
    chain.push(Read::new(0, m));
    let mut b = bytes(chain);
    // The address is of this stack frame: pin it, so the seed is the same
    // on every run (it stays an ARG_RAW argument).
    let at = abi::HEADER_SIZE;
    let mut a = Atom::read_from_bytes(&b[at..at + abi::ATOM_SIZE]).unwrap();
    assert_eq!(a.arg_kind[1], abi::ARG_RAW);
    a.arg[1] = 0x7fff_0000_1000;
    b[at..at + abi::ATOM_SIZE].copy_from_slice(a.as_bytes());
    b
}

/// A path whose buffer has no NUL.
fn unterminated_path() -> Vec<u8> {
    let mut chain = Chain::new();
    let path = chain.input(b"/etc/passwd");
    chain.push(RawAtom(Atom {
        nr: nr::OPENAT,
        nargs: 4,
        arg_kind: [abi::ARG_IMM, abi::ARG_BUF, 0, 0, 0, 0],
        arg: [
            libc::AT_FDCWD as i64 as u64,
            abi::buf_arg(path.index(), 0),
            0,
            0,
            0,
            0,
        ],
        ..Atom::default()
    }));
    bytes(chain)
}

/// Every seed: file name and bytes.
fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let mut bad_magic = open_fstat_close();
    bad_magic[0] ^= 0xff;
    vec![
        ("valid-open-fstat-close", open_fstat_close()),
        ("valid-read-write-result-len", read_write_result_len()),
        ("valid-socket-client", socket_client()),
        ("valid-socket-server", socket_server()),
        ("valid-files-and-dirs", files_and_dirs()),
        ("valid-jumps-stops", jumps_stops()),
        ("valid-sixty-four-atoms", sixty_four_atoms()),
        ("invalid-truncated", open_fstat_close()[..40].to_vec()),
        ("invalid-bad-magic", bad_magic),
        ("invalid-raw-pointer", raw_pointer()),
        ("invalid-unterminated-path", unterminated_path()),
        ("invalid-signal-outside-process", signal_outside_process()),
    ]
}

/// The error class an `invalid-*` seed must be refused with.
fn expected_error(name: &str) -> fn(&ErrorKind) -> bool {
    match name {
        "invalid-truncated" => |k| matches!(k, ErrorKind::Truncated { .. }),
        "invalid-bad-magic" => |k| matches!(k, ErrorKind::BadMagic(_)),
        "invalid-raw-pointer" => |k| matches!(k, ErrorKind::RawPointerInForeignBatch(_)),
        "invalid-unterminated-path" => |k| matches!(k, ErrorKind::UnterminatedString(_)),
        "invalid-signal-outside-process" => |k| matches!(k, ErrorKind::SignalOutsideProcess { .. }),
        _ => panic!("no expected error class for {name}"),
    }
}

#[test]
fn seeds_are_committed_and_current() {
    let _guard = CORPUS.lock().unwrap_or_else(|e| e.into_inner());
    let dir = corpus_dir();
    let bless = std::env::var_os("SYSLETS_BLESS_CORPUS").is_some();
    if bless {
        std::fs::create_dir_all(&dir).unwrap();
    }
    for (name, bytes) in seeds() {
        let path = dir.join(name);
        if bless {
            std::fs::write(&path, &bytes).unwrap();
        }
        let committed = std::fs::read(&path).unwrap_or_else(|e| {
            panic!("{}: {e} (SYSLETS_BLESS_CORPUS=1 writes it)", path.display())
        });
        assert!(
            committed == bytes,
            "{name} is stale: the builders now encode it differently \
             (SYSLETS_BLESS_CORPUS=1 rewrites it)"
        );
    }
}

/// What a validated batch shows is the bytes it was made from.
fn check_views(batch: &syslets::ValidatedBatch<'_>, data: &[u8]) {
    let arena = batch.arena();
    assert_eq!(arena, &data[data.len() - arena.len()..]);
    for (i, d) in batch.buf_descs().iter().enumerate() {
        let (start, end) = (d.offset as usize, (d.offset + d.len) as usize);
        assert_eq!(batch.buffer(i as u16), Some(&arena[start..end]));
    }
    assert_eq!(batch.buffer(batch.buf_descs().len() as u16), None);
    for i in 0..batch.len() {
        assert!(batch.syscall_name(i).is_some());
    }
    assert_eq!(batch.completion().atoms_run(), 0);
}

/// Replays a corpus directory a fuzzer grew (`SYSLETS_REPLAY_CORPUS=DIR`, e.g.
/// `fuzz/work/decode_validate` after `fuzz/run.sh`): every input must decode
/// and validate or be refused without panicking; what validates must show
/// its own bytes. Meant for Miri (docs/hardening.md); without the variable it
/// replays the committed corpus again.
#[test]
fn a_grown_corpus_replays_too() {
    let dir = std::env::var_os("SYSLETS_REPLAY_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(corpus_dir);
    let _guard = CORPUS.lock().unwrap_or_else(|e| e.into_inner());
    let mut accepted = 0;
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = e.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        n += 1;
        if let Ok(batch) = EncodedBatch::from_bytes(&data).validate(&Policy::default()) {
            check_views(&batch, &data);
            accepted += 1;
        }
    }
    assert!(
        n > 0 && accepted > 0,
        "{}: {n} inputs, {accepted} valid",
        dir.display()
    );
}

#[test]
fn the_whole_corpus_replays_through_decode_and_validate() {
    let _guard = CORPUS.lock().unwrap_or_else(|e| e.into_inner());
    let policy = Policy::default();
    let mut counts = (0, 0, 0);
    let mut files: Vec<_> = std::fs::read_dir(corpus_dir())
        .expect("fuzz/corpus/decode_validate")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    for path in &files {
        let name = path.file_name().unwrap().to_str().unwrap();
        let data = std::fs::read(path).unwrap();
        let result = EncodedBatch::from_bytes(&data).validate(&policy);
        if name.starts_with("valid-") {
            let batch = result.unwrap_or_else(|e| panic!("{name} must validate: {e}"));
            check_views(&batch, &data);
            counts.0 += 1;
        } else if name.starts_with("invalid-") {
            let e = result.expect_err(name);
            assert!(expected_error(name)(&e.kind), "{name}: {e}");
            counts.1 += 1;
        } else {
            // Added by a fuzzer run: must only not panic.
            let _ = result.map(|b| b.len()).map_err(|e| e.to_string());
            counts.2 += 1;
        }
    }
    assert!(counts.0 >= 7 && counts.1 >= 4, "seeds missing: {counts:?}");
    // Every committed valid seed of the list above is among them.
    for (name, _) in seeds() {
        assert!(files.iter().any(|p| p.ends_with(name)), "{name} missing");
    }
}
