//! The seccomp layer. Generated filters are run through a small classic-BPF
//! interpreter (so the filter logic is tested without the kernel), then
//! installed for real — always on a throwaway thread or in a forked child,
//! never on a test harness thread: a filter cannot be removed.

use std::fs;
use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::time::{Duration, Instant};

use syslets::abi::nr;
use syslets::abi::signature::{self, SIGNATURES};
use syslets::abi::sockopt::{self, Access};
use syslets::opcode::{Close, Fstat, Openat, Read};
use syslets::policy::{DenyWhen, DENYLIST, WRITE_OPEN_FLAGS};
use syslets::seccomp::{
    install_filter, FilterError, FilterOptions, SeccompFilter, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64,
    MACHINERY, MAX_INSNS, RET_ALLOW, RET_EPERM, RET_KILL, X32_SYSCALL_BIT,
};
use syslets::{ByteLen, Chain, Policy, Stat, Stop};

// ---------------------------------------------------------------------------
// A classic-BPF interpreter for seccomp programs.

/// `struct seccomp_data`: `nr`, `arch`, `instruction_pointer`, `args[6]`.
#[derive(Clone, Copy)]
struct Data {
    nr: u32,
    arch: u32,
    args: [u64; 6],
}

fn call(nr: u32, args: &[u64]) -> Data {
    let mut a = [0u64; 6];
    a[..args.len()].copy_from_slice(args);
    Data {
        nr,
        arch: AUDIT_ARCH_X86_64,
        args: a,
    }
}

/// Run `prog` on `d` and return the action, checking what the kernel's
/// verifier checks: only known opcodes, aligned in-bounds loads, jumps inside
/// the program, and that every path ends in a `ret`.
fn run_bpf(prog: &[libc::sock_filter], d: &Data) -> u32 {
    let mut bytes = [0u8; 64];
    bytes[0..4].copy_from_slice(&d.nr.to_le_bytes());
    bytes[4..8].copy_from_slice(&d.arch.to_le_bytes());
    for (i, a) in d.args.iter().enumerate() {
        bytes[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
    }
    let mut acc: u32 = 0;
    let mut pc = 0usize;
    loop {
        let i = prog
            .get(pc)
            .unwrap_or_else(|| panic!("pc {pc} ran off the program"));
        pc += 1;
        let code = i.code as u32;
        let cond = |taken: bool| if taken { i.jt as usize } else { i.jf as usize };
        match code {
            c if c == libc::BPF_LD | libc::BPF_W | libc::BPF_ABS => {
                let k = i.k as usize;
                assert!(k % 4 == 0 && k + 4 <= 64, "bad load offset {k}");
                acc = u32::from_le_bytes(bytes[k..k + 4].try_into().unwrap());
            }
            c if c == libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K => pc += cond(acc == i.k),
            c if c == libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K => pc += cond(acc >= i.k),
            c if c == libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K => pc += cond(acc > i.k),
            c if c == libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K => pc += cond(acc & i.k != 0),
            c if c == libc::BPF_RET | libc::BPF_K => return i.k,
            c => panic!("opcode {c:#x} at {} is not one the generator emits", pc - 1),
        }
    }
}

fn pid() -> u64 {
    std::process::id() as u64
}

/// Arguments that satisfy every argument rule a filter can have for `nr`
/// under `policy` (the value of each rule's "good" case).
fn benign_args(nr: u32, policy: &Policy) -> [u64; 6] {
    let mut a = [3, 0, 0, 0, 0, 0];
    match nr {
        nr::TGKILL | nr::RT_TGSIGQUEUEINFO => a[0] = pid(),
        nr::SOCKET | nr::SOCKETPAIR => a[0] = libc::AF_INET as u64,
        // SOL_SOCKET / SO_REUSEADDR: in the socket-option table both ways.
        nr::SETSOCKOPT | nr::GETSOCKOPT => (a[1], a[2]) = (1, 2),
        // A relative sleep on CLOCK_MONOTONIC.
        nr::CLOCK_NANOSLEEP => (a[0], a[1]) = (libc::CLOCK_MONOTONIC as u64, 0),
        nr::WRITE if !policy.allows(nr::WRITE) => a[0] = 2,
        nr::RECVMSG => a[2] = libc::MSG_CMSG_CLOEXEC as u64,
        _ => {}
    }
    if let (Some(c), Some(sig)) = (policy.confinement(), signature::lookup(nr)) {
        // Every dirfd of a path call is the directory.
        for path in sig.paths {
            a[path.dirfd as usize] = c.dirfd as u64;
        }
    }
    // mmap/mprotect: PROT_READ | PROT_WRITE in args[2].
    if nr == libc::SYS_mmap as u32 || nr == libc::SYS_mprotect as u32 {
        a[2] = (libc::PROT_READ | libc::PROT_WRITE) as u64;
    }
    a
}

fn policies() -> Vec<(&'static str, Policy)> {
    let dir = fs::File::open("/").unwrap();
    let confined = Policy::default().confine_to(dir.as_fd());
    // The number stays valid for the interpreter; the fd itself may close.
    vec![
        ("default", Policy::default()),
        ("empty", Policy::empty()),
        ("read_only_files", Policy::read_only_files()),
        ("network_client", Policy::network_client()),
        ("any family", Policy::default().any_socket_family()),
        ("confined", confined),
    ]
}

// ---------------------------------------------------------------------------
// The filter logic, interpreted.

#[test]
fn foreign_arch_and_x32_are_killed_allowed_numbers_pass_the_rest_is_eperm() {
    let policy = Policy::default();
    let f = policy.seccomp_filter().unwrap();
    let p = f.instructions();

    // i386 (an `int 0x80` from this process): killed, whatever the number —
    // even 20, getpid on i386, or 3 (read on i386, close on x86_64).
    for nr in [20, 3, 0, 11, 1] {
        let d = Data {
            nr,
            arch: AUDIT_ARCH_I386,
            args: [0; 6],
        };
        assert_eq!(run_bpf(p, &d), RET_KILL, "i386 nr {nr}");
    }
    // Any other architecture value as well.
    for arch in [0, 0x8000_003E, 0xC000_00B7] {
        let d = Data {
            nr: 39,
            arch,
            args: [0; 6],
        };
        assert_eq!(run_bpf(p, &d), RET_KILL, "arch {arch:#x}");
    }
    // x32 numbers: killed, including the x32 alias of an allowed call.
    for nr in [
        X32_SYSCALL_BIT,
        X32_SYSCALL_BIT | 39,
        X32_SYSCALL_BIT | 257,
        u32::MAX,
    ] {
        assert_eq!(run_bpf(p, &call(nr, &[3])), RET_KILL, "x32 nr {nr:#x}");
    }
    // Allowed numbers, with arguments their rules accept.
    for sig in SIGNATURES {
        let d = call(sig.nr, &benign_args(sig.nr, &policy));
        assert_eq!(run_bpf(p, &d), RET_ALLOW, "{}", sig.name);
    }
    // Everything else: EPERM.
    for nr in [
        libc::SYS_getppid as u32,
        libc::SYS_uname as u32,
        libc::SYS_execve as u32,
        libc::SYS_kill as u32,
        511,
        X32_SYSCALL_BIT - 1,
    ] {
        assert_eq!(run_bpf(p, &call(nr, &[3])), RET_EPERM, "nr {nr}");
    }
}

/// i386 `getdents64` and `_llseek`: what the executor issues through
/// `int 0x80` for a 32-bit producer's batch.
const I386_GETDENTS64: u32 = 220;
const I386_LLSEEK: u32 = 140;

#[test]
fn only_the_compat_entries_of_allowed_calls_pass_from_i386() {
    for (name, policy) in policies() {
        let f = policy.seccomp_filter().unwrap();
        for nr in 0..1024u32 {
            let allowed = (nr == I386_GETDENTS64 && policy.allows(nr::GETDENTS64))
                || (nr == I386_LLSEEK && policy.allows(nr::LSEEK));
            let d = Data {
                nr,
                arch: AUDIT_ARCH_I386,
                args: [3, 0, 0, 0, 0, 0],
            };
            let expected = if allowed { RET_ALLOW } else { RET_KILL };
            assert_eq!(
                run_bpf(f.instructions(), &d),
                expected,
                "policy {name}, i386 nr {nr}"
            );
        }
    }
    // The default policy allows both, and nothing else comes through: not the
    // i386 lseek (19), not the x86_64 meaning of the two numbers elsewhere.
    let f = Policy::default().seccomp_filter().unwrap();
    for nr in [I386_GETDENTS64, I386_LLSEEK] {
        let d = Data {
            nr,
            arch: AUDIT_ARCH_I386,
            args: [0; 6],
        };
        assert_eq!(run_bpf(f.instructions(), &d), RET_ALLOW, "i386 nr {nr}");
        for arch in [0, 0x8000_003E, 0xC000_00B7] {
            let d = Data {
                nr,
                arch,
                args: [0; 6],
            };
            assert_eq!(run_bpf(f.instructions(), &d), RET_KILL, "arch {arch:#x}");
        }
    }
    let lseek32 = Data {
        nr: 19,
        arch: AUDIT_ARCH_I386,
        args: [0; 6],
    };
    assert_eq!(run_bpf(f.instructions(), &lseek32), RET_KILL);
}

/// A 32-bit producer's directory chain (`BATCH_COMPAT32`), validated on this
/// thread, run on a filtered one: its getdents64 and lseek go through the
/// i386 entry where the kernel has it, and the filter lets them through.
#[test]
fn compat_directory_calls_run_on_a_filtered_thread() {
    use syslets::opcode::{Getdents64, Lseek};
    let dir = tempdir("compat-dir");
    for name in ["a", "bb", "ccc"] {
        fs::write(dir.join(name), b"").unwrap();
    }
    let mut chain = Chain::new();
    chain.set_flags(syslets::abi::BATCH_COMPAT32);
    let path = chain.path(dir.to_str().unwrap());
    let ents = chain.output_bytes(4096);
    let fd = chain.push(
        Openat::new(libc::AT_FDCWD, path)
            .flags((libc::O_DIRECTORY | libc::O_CLOEXEC) as u32)
            .stop_on(Stop::NEGATIVE),
    );
    chain.push(Getdents64::new(fd, ents));
    chain.push(Lseek::new(fd, 0, libc::SEEK_END));
    chain.push(Close::new(fd));
    let policy = Policy::default();
    // Validation (and the one-time probe of the i386 entry) on this thread.
    let mut batch = chain.prepare(&policy).unwrap();
    let filter = policy.seccomp_filter().unwrap();
    let (results, bytes) = std::thread::spawn(move || {
        install_filter(&filter).unwrap();
        let results = batch.run().results().to_vec();
        (results, batch.bytes(ents).to_vec())
    })
    .join()
    .unwrap();
    assert_eq!(results.len(), 4);
    assert!(results[0] >= 0 && results[3] == 0, "{results:?}");
    let n = results[1] as usize;
    assert!(n > 0 && n <= 4096, "getdents64: {results:?}");
    let mut names = Vec::new();
    let mut at = 0;
    while at < n {
        let reclen = u16::from_le_bytes([bytes[at + 16], bytes[at + 17]]) as usize;
        let name = &bytes[at + 19..at + reclen];
        names.push(
            String::from_utf8_lossy(&name[..name.iter().position(|&b| b == 0).unwrap()])
                .into_owned(),
        );
        at += reclen;
    }
    names.sort();
    assert_eq!(names, [".", "..", "a", "bb", "ccc"]);
    // The end of an ext4 directory is the 32-bit marker through the i386
    // entry, the 64-bit one otherwise.
    let unfiltered = in_child(&allow_all(), i386_getpid);
    let ia32 = libc::WIFEXITED(unfiltered) && libc::WEXITSTATUS(unfiltered) == 0;
    // SAFETY: `statfs` is plain data; the path is NUL-terminated.
    let mut sfs: libc::statfs = unsafe { std::mem::zeroed() };
    let cpath = std::ffi::CString::new(dir.to_str().unwrap()).unwrap();
    // SAFETY: statfs writes the struct it is given.
    assert_eq!(unsafe { libc::statfs(cpath.as_ptr(), &mut sfs) }, 0);
    if sfs.f_type == 0xEF53 {
        let end = if ia32 { 0x7fff_ffff } else { i64::MAX };
        assert_eq!(
            results[2], end,
            "ext4 directory end, IA32 emulation: {ia32}"
        );
    } else {
        assert!(results[2] > 0, "lseek(SEEK_END): {results:?}");
    }
    fs::remove_dir_all(&dir).unwrap();
    assert_harness_thread_unfiltered();
}

#[test]
fn filter_allows_exactly_the_policy_plus_the_machinery() {
    for (name, policy) in policies() {
        let f = policy.seccomp_filter().unwrap();
        for nr in 0..1024u32 {
            let expect_allowed = policy.allows(nr) || MACHINERY.iter().any(|m| m.nr == nr);
            let got = run_bpf(f.instructions(), &call(nr, &benign_args(nr, &policy)));
            let expected = if expect_allowed { RET_ALLOW } else { RET_EPERM };
            assert_eq!(got, expected, "policy {name}, nr {nr}");
        }
    }
}

#[test]
fn socket_options_outside_the_table_are_eperm_in_bpf() {
    for (name, policy) in policies() {
        if !policy.allows(nr::SETSOCKOPT) && !policy.allows(nr::GETSOCKOPT) {
            continue;
        }
        let f = policy.seccomp_filter().unwrap();
        let run = |nr: u32, level: i32, optname: i32| {
            run_bpf(
                f.instructions(),
                &call(nr, &[3, level as u64, optname as u64, 0, 4]),
            )
        };
        for (nr, access) in [(nr::SETSOCKOPT, Access::Set), (nr::GETSOCKOPT, Access::Get)] {
            if !policy.allows(nr) {
                continue;
            }
            for o in sockopt::SOCKOPTS {
                let want = if o.allows(access) {
                    RET_ALLOW
                } else {
                    RET_EPERM
                };
                assert_eq!(run(nr, o.level, o.optname), want, "{name}: {}", o.name);
            }
            for r in sockopt::REFUSED.iter().filter(|r| r.access == access) {
                assert_eq!(run(nr, r.level, r.optname), RET_EPERM, "{name}: {}", r.name);
            }
            // A level outside the table, and upper register bits.
            assert_eq!(run(nr, 270, 1), RET_EPERM, "{name}: SOL_NETLINK");
            assert_eq!(run(nr, -1, -1), RET_EPERM, "{name}");
        }
    }
    // The three options a batch used to reach host memory with.
    let f = Policy::default().seccomp_filter().unwrap();
    for (nr, level, optname) in [
        (nr::GETSOCKOPT, libc::IPPROTO_TCP, 35), // TCP_ZEROCOPY_RECEIVE
        (nr::SETSOCKOPT, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER),
        (nr::GETSOCKOPT, libc::SOL_SOCKET, libc::SO_GET_FILTER),
    ] {
        let d = call(nr, &[3, level as u64, optname as u64, 0, 4]);
        assert_eq!(
            run_bpf(f.instructions(), &d),
            RET_EPERM,
            "{level}/{optname}"
        );
    }
}

#[test]
fn refused_socket_options_are_eperm_on_a_filtered_thread() {
    // The kernel, not the interpreter: a raw getsockopt(TCP_ZEROCOPY_RECEIVE)
    // and setsockopt(SO_ATTACH_FILTER) on a filtered thread fail with EPERM
    // before the kernel looks at their values; a table option still works.
    let filter = Policy::default().seccomp_filter().unwrap();
    let sock = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let fd = sock.as_raw_fd();
    let results = std::thread::spawn(move || {
        install_filter(&filter).map_err(|e| e.to_string())?;
        let mut val = [0u8; 64];
        let mut len: libc::socklen_t = 64;
        let mut get = |level: i32, optname: i32| {
            len = 64;
            // SAFETY: val and len are live locals of the sizes given.
            let r =
                unsafe { libc::getsockopt(fd, level, optname, val.as_mut_ptr().cast(), &mut len) };
            (r, io::Error::last_os_error().raw_os_error().unwrap_or(0))
        };
        let zerocopy = get(libc::IPPROTO_TCP, 35);
        let get_filter = get(libc::SOL_SOCKET, libc::SO_GET_FILTER);
        let reuse = get(libc::SOL_SOCKET, libc::SO_REUSEADDR);
        let prog = [0u8; 16];
        // SAFETY: prog is 16 live bytes (the kernel never reads them: EPERM).
        let attach = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_ATTACH_FILTER,
                prog.as_ptr().cast(),
                16,
            )
        };
        let attach_errno = io::Error::last_os_error().raw_os_error().unwrap_or(0);
        Ok::<_, String>((zerocopy, get_filter, reuse, (attach, attach_errno)))
    })
    .join()
    .unwrap()
    .unwrap();
    let (zerocopy, get_filter, reuse, attach) = results;
    assert_eq!(zerocopy, (-1, libc::EPERM));
    assert_eq!(get_filter, (-1, libc::EPERM));
    assert_eq!(attach, (-1, libc::EPERM));
    assert_eq!(reuse.0, 0, "SO_REUSEADDR is in the table: {reuse:?}");
    drop(sock);
    assert_harness_thread_unfiltered();
}

#[test]
fn every_denylisted_call_is_refused_by_every_filter() {
    for (name, policy) in policies() {
        let f = policy
            .seccomp_filter_with(&FilterOptions::default().eventfd(9))
            .unwrap();
        for d in DENYLIST {
            let mut args = [0u64; 6];
            if let DenyWhen::ProtExec { arg } = d.when {
                args[arg as usize] = (libc::PROT_READ | libc::PROT_EXEC) as u64;
            }
            let got = run_bpf(f.instructions(), &call(d.nr, &args));
            assert_eq!(got, RET_EPERM, "policy {name}: {}", d.name);
        }
    }
}

#[test]
fn argument_rules_in_bpf() {
    let run = |f: &SeccompFilter, nr: u32, args: &[u64]| run_bpf(f.instructions(), &call(nr, args));
    let (mmap, mprotect) = (libc::SYS_mmap as u32, libc::SYS_mprotect as u32);
    let (rw, rwx) = (
        (libc::PROT_READ | libc::PROT_WRITE) as u64,
        (libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC) as u64,
    );

    let def = Policy::default().seccomp_filter().unwrap();
    assert_eq!(
        run(&def, mmap, &[0, 4096, rw, 0x22, u64::MAX, 0]),
        RET_ALLOW
    );
    assert_eq!(
        run(&def, mmap, &[0, 4096, rwx, 0x22, u64::MAX, 0]),
        RET_EPERM
    );
    assert_eq!(
        run(&def, mmap, &[0, 4096, libc::PROT_EXEC as u64]),
        RET_EPERM
    );
    assert_eq!(run(&def, mprotect, &[0x1000, 4096, rw]), RET_ALLOW);
    assert_eq!(run(&def, mprotect, &[0x1000, 4096, rwx]), RET_EPERM);
    // recvmsg only with MSG_CMSG_CLOEXEC (whatever else its flags hold);
    // sendmsg's control messages are in memory: any flags.
    let cloexec = libc::MSG_CMSG_CLOEXEC as u64;
    for (flags, action) in [
        (cloexec, RET_ALLOW),
        (cloexec | libc::MSG_DONTWAIT as u64, RET_ALLOW),
        (0, RET_EPERM),
        (libc::MSG_DONTWAIT as u64, RET_EPERM),
    ] {
        assert_eq!(run(&def, nr::RECVMSG, &[3, 0, flags]), action, "{flags:#x}");
    }
    assert_eq!(run(&def, nr::SENDMSG, &[3, 0, 0]), RET_ALLOW);
    // The default policy allows write to any fd; sockets of its three families.
    assert_eq!(run(&def, nr::WRITE, &[1]), RET_ALLOW);
    for (family, action) in [
        (libc::AF_UNIX, RET_ALLOW),
        (libc::AF_INET, RET_ALLOW),
        (libc::AF_INET6, RET_ALLOW),
        (libc::AF_NETLINK, RET_EPERM),
        (libc::AF_PACKET, RET_EPERM),
        (-1, RET_EPERM),
    ] {
        assert_eq!(
            run(&def, nr::SOCKET, &[family as u64, 1]),
            action,
            "family {family}"
        );
    }
    // Signals: only to this process.
    assert_eq!(run(&def, nr::TGKILL, &[pid(), 5, 10]), RET_ALLOW);
    assert_eq!(run(&def, nr::TGKILL, &[1, 1, 9]), RET_EPERM);
    assert_eq!(
        run(&def, nr::RT_TGSIGQUEUEINFO, &[pid() + 1, 5, 10]),
        RET_EPERM
    );

    // Read-only: openat flags, and write only to stderr and the eventfd.
    let ro = Policy::read_only_files()
        .seccomp_filter_with(&FilterOptions::default().eventfd(7))
        .unwrap();
    let ro_flags = [
        libc::O_RDONLY,
        libc::O_DIRECTORY,
        libc::O_PATH,
        libc::O_NOFOLLOW,
    ];
    for flags in ro_flags {
        let flags = (flags | libc::O_CLOEXEC) as u64;
        assert_eq!(
            run(&ro, nr::OPENAT, &[3, 0, flags]),
            RET_ALLOW,
            "{flags:#o}"
        );
    }
    let write_flags = [
        libc::O_WRONLY,
        libc::O_RDWR,
        libc::O_CREAT,
        libc::O_TRUNC,
        libc::O_APPEND,
        libc::O_TMPFILE,
    ];
    for flags in write_flags {
        let flags = flags as u64;
        assert_eq!(
            run(&ro, nr::OPENAT, &[3, 0, flags]),
            RET_EPERM,
            "{flags:#o}"
        );
    }
    assert_eq!(run(&ro, nr::WRITE, &[2]), RET_ALLOW);
    assert_eq!(run(&ro, nr::WRITE, &[7]), RET_ALLOW);
    assert_eq!(run(&ro, nr::WRITE, &[1]), RET_EPERM);
    assert_eq!(run(&ro, nr::WRITE, &[8]), RET_EPERM);
    let ro_quiet = Policy::read_only_files()
        .seccomp_filter_with(&FilterOptions::default().stderr(false))
        .unwrap();
    assert_eq!(run(&ro_quiet, nr::WRITE, &[2]), RET_EPERM);

    // Confinement: dirfd must be the directory.
    let dir = fs::File::open("/").unwrap();
    let root = dir.as_raw_fd() as u64;
    let confined = Policy::default()
        .confine_to(dir.as_fd())
        .seccomp_filter()
        .unwrap();
    // Every dirfd of every path call (both of renameat2 and linkat).
    let path_calls: Vec<_> = SIGNATURES.iter().filter(|s| !s.paths.is_empty()).collect();
    for must in [
        nr::OPENAT,
        nr::MKDIRAT,
        nr::RENAMEAT2,
        nr::LINKAT,
        nr::SYMLINKAT,
    ] {
        assert!(path_calls.iter().any(|s| s.nr == must), "nr {must}");
    }
    let at_fdcwd = libc::AT_FDCWD as u32 as u64;
    for sig in path_calls {
        let call_nr = sig.nr;
        let mut good = [0u64; 6];
        for p in sig.paths {
            good[p.dirfd as usize] = root;
        }
        assert_eq!(run(&confined, call_nr, &good), RET_ALLOW, "{}", sig.name);
        for p in sig.paths {
            for bad in [at_fdcwd, root + 1] {
                let mut args = good;
                args[p.dirfd as usize] = bad;
                assert_eq!(
                    run(&confined, call_nr, &args),
                    RET_EPERM,
                    "{} dirfd arg {}",
                    sig.name,
                    p.dirfd
                );
            }
        }
    }
    // linkat may not follow a final symlink of its old path under confinement.
    let follow = libc::AT_SYMLINK_FOLLOW as u64;
    let linkat = [root, 0, root, 0, follow];
    assert_eq!(run(&confined, nr::LINKAT, &linkat), RET_EPERM);
    assert_eq!(run(&def, nr::LINKAT, &linkat), RET_ALLOW);

    // clock_nanosleep: relative on REALTIME/MONOTONIC/BOOTTIME, absolute on
    // MONOTONIC only.
    let abs = libc::TIMER_ABSTIME as u64;
    let (rt, mono, boot) = (0u64, 1u64, 7u64);
    for (clock, flags) in [(mono, 0), (rt, 0), (boot, 0), (mono, abs)] {
        assert_eq!(
            run(&def, nr::CLOCK_NANOSLEEP, &[clock, flags]),
            RET_ALLOW,
            "clock {clock} flags {flags}"
        );
    }
    for (clock, flags) in [(rt, abs), (2, 0), (3, 0), (mono, 2), (boot, abs)] {
        assert_eq!(
            run(&def, nr::CLOCK_NANOSLEEP, &[clock, flags]),
            RET_EPERM,
            "clock {clock} flags {flags}"
        );
    }
    // fd-based calls are not confined (see the threat model).
    assert_eq!(run(&confined, nr::FSTAT, &[root + 1]), RET_ALLOW);
}

#[test]
fn machinery_never_includes_an_always_denied_call() {
    for m in MACHINERY {
        let denied = DENYLIST
            .iter()
            .any(|d| d.nr == m.nr && d.when == DenyWhen::Always);
        assert!(!denied, "{} is on the denylist", m.name);
        assert!(!m.why.is_empty(), "{} has no justification", m.name);
    }
    // Both conditional entries are machinery calls: they must stay conditional.
    for d in DENYLIST.iter().filter(|d| d.when != DenyWhen::Always) {
        let f = Policy::empty().seccomp_filter().unwrap();
        let exec = libc::PROT_EXEC as u64;
        assert_eq!(
            run_bpf(f.instructions(), &call(d.nr, &[0, 0, exec])),
            RET_EPERM
        );
    }
}

#[test]
fn programs_are_well_formed_and_short() {
    for (name, policy) in policies() {
        let f = policy.seccomp_filter().unwrap();
        let p = f.instructions();
        // The socket-option pairs take about 230 of these; a call that is
        // not setsockopt/getsockopt jumps over them.
        assert!(p.len() < 512, "policy {name}: {} instructions", p.len());
        let last = p.last().unwrap();
        assert_eq!(
            (last.code as u32, last.k),
            (libc::BPF_RET | libc::BPF_K, RET_EPERM),
            "policy {name}: the fall-through is EPERM"
        );
        for (i, insn) in p.iter().enumerate() {
            if insn.code as u32 & 0x07 == libc::BPF_JMP {
                let far = i + 1 + insn.jt.max(insn.jf) as usize;
                assert!(
                    far < p.len(),
                    "policy {name}: jump at {i} leaves the program"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The real thing, on throwaway threads.

fn status_field(path: &str, field: &str) -> String {
    let s = fs::read_to_string(path).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(field).map(|v| v.trim().to_string()))
        .unwrap_or_else(|| panic!("{field} not in {path}"))
}

/// `(return value, errno)` of a raw system call.
fn raw(nr: libc::c_long, args: [libc::c_long; 3]) -> (libc::c_long, i32) {
    // SAFETY: the calls made through this helper take integers only (or
    // pointers to the static NUL-terminated strings the tests pass).
    let r = unsafe { libc::syscall(nr, args[0], args[1], args[2]) };
    let errno = if r < 0 {
        io::Error::last_os_error().raw_os_error().unwrap()
    } else {
        0
    };
    (r, errno)
}

fn assert_harness_thread_unfiltered() {
    assert_eq!(status_field("/proc/thread-self/status", "Seccomp:"), "0");
}

#[test]
fn refused_call_is_eperm_on_the_filtered_thread_only() {
    let filter = Policy::default().seccomp_filter().unwrap();
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let checked = Arc::new(Barrier::new(2));
    let c = checked.clone();
    let worker = std::thread::spawn(move || {
        let installed = install_filter(&filter).map_err(|e| e.to_string());
        // SAFETY: gettid takes no arguments.
        let tid = unsafe { libc::gettid() };
        let outside = [
            raw(libc::SYS_getppid, [0; 3]),
            raw(libc::SYS_getuid, [0; 3]),
            raw(
                libc::SYS_socket,
                [libc::AF_NETLINK as _, libc::SOCK_RAW as _, 0],
            ),
        ];
        let inside = raw(libc::SYS_getpid, [0; 3]);
        let path = c"/proc/self/stat";
        let open = raw(libc::SYS_open, [path.as_ptr() as _, libc::O_RDONLY as _, 0]);
        let opened = raw(
            libc::SYS_openat,
            [libc::AT_FDCWD as _, path.as_ptr() as _, libc::O_RDONLY as _],
        );
        if opened.0 >= 0 {
            raw(libc::SYS_close, [opened.0, 0, 0]);
        }
        tid_tx.send(tid).unwrap();
        c.wait(); // stay alive (and filtered) while the main thread looks
        installed.map(|()| (outside, inside, open, opened))
    });
    let tid = tid_rx.recv().unwrap();
    // While the worker is alive and filtered, this thread and new ones are not.
    let worker_status = format!("/proc/self/task/{tid}/status");
    let worker_seccomp = status_field(&worker_status, "Seccomp:");
    let worker_nnp = status_field(&worker_status, "NoNewPrivs:");
    let here_nnp = status_field("/proc/thread-self/status", "NoNewPrivs:");
    let ppid = raw(libc::SYS_getppid, [0; 3]);
    let other = std::thread::spawn(|| raw(libc::SYS_getuid, [0; 3]))
        .join()
        .unwrap();
    checked.wait();
    let (outside, inside, open, opened) = worker.join().unwrap().unwrap();

    assert_eq!(worker_seccomp, "2", "SECCOMP_MODE_FILTER on the worker");
    assert_eq!(worker_nnp, "1", "no_new_privs on the worker");
    assert_eq!(here_nnp, "0", "no_new_privs is per thread");
    for (i, (r, errno)) in outside.iter().enumerate() {
        assert_eq!((*r, *errno), (-1, libc::EPERM), "refused call {i}");
    }
    // open(2) is not in the table (openat is): EPERM too.
    assert_eq!(open, (-1, libc::EPERM));
    assert_eq!(inside, (std::process::id() as libc::c_long, 0));
    assert!(opened.0 >= 0, "openat is allowed: {opened:?}");
    assert!(ppid.0 > 0, "the harness thread keeps getppid: {ppid:?}");
    assert!(other.0 >= 0, "a new thread keeps getuid: {other:?}");
    assert_harness_thread_unfiltered();
}

#[test]
fn too_long_filter_is_refused_before_any_prctl() {
    let ret_allow = libc::sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k: RET_ALLOW,
    };
    let too_long = SeccompFilter::from_instructions(vec![ret_allow; MAX_INSNS + 1]);
    let empty = SeccompFilter::from_instructions(Vec::new());
    let at_limit = SeccompFilter::from_instructions(vec![ret_allow; MAX_INSNS]);
    let refused = std::thread::spawn(move || {
        let errs = [install_filter(&too_long), install_filter(&empty)];
        let status = fs::read_to_string("/proc/thread-self/status").unwrap();
        // SAFETY: PR_GET_NO_NEW_PRIVS takes integer arguments only.
        let nnp = unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) };
        (errs, status, nnp)
    })
    .join()
    .unwrap();
    let ([long_err, empty_err], status, nnp) = refused;
    let long_err = long_err.unwrap_err();
    assert_eq!(long_err.kind(), io::ErrorKind::InvalidInput);
    assert_eq!(
        long_err.get_ref().unwrap().downcast_ref::<FilterError>(),
        Some(&FilterError::TooLong {
            len: 4097,
            max: 4096
        })
    );
    assert!(long_err.to_string().contains("4097"), "{long_err}");
    let empty_err = empty_err.unwrap_err();
    assert_eq!(
        empty_err.get_ref().unwrap().downcast_ref::<FilterError>(),
        Some(&FilterError::Empty)
    );
    // Nothing reached the kernel: no no_new_privs, no filter.
    assert_eq!(nnp, 0);
    assert!(status.contains("\nNoNewPrivs:\t0\n"), "{status}");
    assert!(status.contains("\nSeccomp:\t0\n"), "{status}");

    // Exactly BPF_MAXINSNS is accepted by the kernel.
    let at_limit = std::thread::spawn(move || install_filter(&at_limit).map_err(|e| e.to_string()))
        .join()
        .unwrap();
    assert_eq!(at_limit, Ok(()));
    assert_harness_thread_unfiltered();
}

/// openat(path) → fstat → read → close, all inline on the calling thread.
fn open_stat_read_close(policy: &Policy) -> Result<(usize, Vec<i64>, u64), String> {
    let mut chain = Chain::new();
    let path = chain.path("/proc/self/stat");
    let st = chain.output::<Stat>();
    let buf = chain.output_bytes(512);
    let fd = chain.push(Openat::new(libc::AT_FDCWD, path).stop_on(Stop::NEGATIVE));
    chain.push(Fstat::new(fd, st));
    chain.push(Read::new(fd, buf).len(ByteLen::Bytes(512)));
    chain.push(Close::new(fd));
    let mut batch = chain.prepare(policy).map_err(|e| e.to_string())?;
    let done = batch.run();
    let (n, results) = (done.atoms_run(), done.results().to_vec());
    let mode = batch.output(st).st_mode as u64;
    Ok((n, results, mode))
}

#[test]
fn validated_chain_runs_on_a_filtered_thread() {
    for (name, policy) in [
        ("default", Policy::default()),
        ("read_only_files", Policy::read_only_files()),
    ] {
        let filter = policy.seccomp_filter().unwrap();
        let out = std::thread::spawn(move || {
            install_filter(&filter).map_err(|e| e.to_string())?;
            open_stat_read_close(&policy)
        })
        .join()
        .unwrap();
        let (n, results, mode) = out.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(n, 4, "{name}: {results:?}");
        assert!(results[..4].iter().all(|&r| r >= 0), "{name}: {results:?}");
        assert!(results[2] > 0, "{name}: read returned {}", results[2]);
        assert_eq!(mode & libc::S_IFMT as u64, libc::S_IFREG as u64, "{name}");
    }
    assert_harness_thread_unfiltered();
}

#[test]
fn kernel_refuses_write_opens_under_a_read_only_filter() {
    let dir = tempdir("ro");
    let target = dir.join("created");
    let c_target = std::ffi::CString::new(target.to_str().unwrap()).unwrap();
    let filter = Policy::read_only_files().seccomp_filter().unwrap();
    let results = std::thread::spawn(move || {
        install_filter(&filter).map_err(|e| e.to_string())?;
        let flags = [
            libc::O_WRONLY | libc::O_CREAT,
            libc::O_RDWR | libc::O_CREAT,
            libc::O_RDONLY | libc::O_CREAT,
            libc::O_TMPFILE | libc::O_RDWR,
        ];
        Ok::<_, String>(flags.map(|fl| {
            raw(
                libc::SYS_openat,
                [libc::AT_FDCWD as _, c_target.as_ptr() as _, fl as _],
            )
        }))
    })
    .join()
    .unwrap()
    .unwrap();
    for (i, r) in results.iter().enumerate() {
        assert_eq!(*r, (-1, libc::EPERM), "open {i}");
    }
    assert_eq!(
        fs::read_dir(&dir).unwrap().count(),
        0,
        "nothing was created"
    );
    fs::remove_dir(&dir).unwrap();
    assert_eq!(WRITE_OPEN_FLAGS & libc::O_DIRECTORY as u32, 0);
}

fn tempdir(tag: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir =
        std::env::temp_dir().join(format!("syslets-seccomp-{}-{tag}-{n}", std::process::id()));
    fs::create_dir(&dir).unwrap();
    dir
}

#[test]
fn worker_machinery_works_under_the_filter() {
    // SAFETY: eventfd takes integers only.
    let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    assert!(efd >= 0);
    // SAFETY: eventfd returned a new descriptor that nothing else owns.
    let efd = unsafe { OwnedFd::from_raw_fd(efd) };
    let raw_efd = efd.as_raw_fd();
    // The strictest useful policy: read-only files, no write at all.
    let filter = Policy::read_only_files()
        .seccomp_filter_with(&FilterOptions::default().eventfd(raw_efd))
        .unwrap();
    let pair = Arc::new((Mutex::new(0u32), Condvar::new()));
    let p2 = pair.clone();
    let worker = std::thread::Builder::new()
        .name("filtered-worker".into())
        .spawn(move || {
            install_filter(&filter).map_err(|e| e.to_string())?;
            let mut seen = Vec::new();
            // Allocator: many small blocks (thread arena: mmap + mprotect),
            // large ones (mmap, mremap, munmap).
            let small: Vec<Box<[u8; 64]>> = (0..50_000).map(|_| Box::new([7; 64])).collect();
            let mut big = vec![1u8; 8 << 20];
            big.resize(24 << 20, 2);
            seen.push(small.len() + big.len());
            drop((small, big));
            let mut map = std::collections::HashMap::new(); // getrandom
            map.insert("k", 1);
            seen.push(map.len());
            let t = Instant::now(); // clock_gettime (vDSO or syscall)
            std::thread::sleep(Duration::from_millis(2)); // clock_nanosleep
            std::thread::yield_now(); // sched_yield
            seen.push((t.elapsed() >= Duration::from_millis(2)) as usize);
            // futex: hand a value to the main thread.
            let (lock, cv) = &*p2;
            *lock.lock().unwrap() = 42;
            cv.notify_all();
            // The eventfd may be written; any other fd may not.
            let one = 1u64.to_ne_bytes();
            let to_efd = raw(libc::SYS_write, [raw_efd as _, one.as_ptr() as _, 8]);
            let to_stdout = raw(libc::SYS_write, [1, one.as_ptr() as _, 0]);
            // mmap without PROT_EXEC works; with it, and mprotect to it, do not.
            let rw = (libc::PROT_READ | libc::PROT_WRITE) as libc::c_int;
            let map_anon = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as libc::c_int;
            // SAFETY: an anonymous private mapping at an address the kernel
            // picks touches no existing memory.
            let p = unsafe { libc::mmap(std::ptr::null_mut(), 4096, rw, map_anon, -1, 0) };
            // SAFETY: as above.
            let px = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    4096,
                    rw | libc::PROT_EXEC,
                    map_anon,
                    -1,
                    0,
                )
            };
            let px_err = io::Error::last_os_error().raw_os_error();
            // SAFETY: `p` is the page mapped above (checked not MAP_FAILED),
            // owned by nothing else.
            let mx = unsafe { libc::mprotect(p, 4096, libc::PROT_READ | libc::PROT_EXEC) };
            let mx_err = io::Error::last_os_error().raw_os_error();
            // SAFETY: as above; unmapped once.
            let unmapped = unsafe { libc::munmap(p, 4096) };
            assert_ne!(p, libc::MAP_FAILED);
            Ok::<_, String>((
                seen,
                to_efd,
                to_stdout,
                px == libc::MAP_FAILED,
                px_err,
                mx,
                mx_err,
                unmapped,
            ))
        })
        .unwrap();
    let (lock, cv) = &*pair;
    let got = *cv
        .wait_timeout_while(lock.lock().unwrap(), Duration::from_secs(10), |v| *v == 0)
        .unwrap()
        .0;
    // The thread exits under the filter (sigaltstack, munmap, madvise,
    // rt_sigprocmask, exit) and joins.
    let (seen, to_efd, to_stdout, px_failed, px_err, mx, mx_err, unmapped) =
        worker.join().unwrap().unwrap();
    assert_eq!(got, 42);
    assert_eq!(seen, vec![50_000 + (24 << 20), 1, 1]);
    assert_eq!(to_efd, (8, 0));
    assert_eq!(to_stdout, (-1, libc::EPERM));
    assert!(px_failed);
    assert_eq!(px_err, Some(libc::EPERM));
    assert_eq!((mx, mx_err), (-1, Some(libc::EPERM)));
    assert_eq!(unmapped, 0);
    let mut counter = [0u8; 8];
    let n = raw(libc::SYS_read, [raw_efd as _, counter.as_mut_ptr() as _, 8]);
    assert_eq!(n, (8, 0));
    assert_eq!(u64::from_ne_bytes(counter), 1);
    drop(efd);
    assert_harness_thread_unfiltered();
}

// ---------------------------------------------------------------------------
// Calls that kill: in forked children.

/// Fork; in the child install `filter` and run `f`, then `_exit(0)`. Returns
/// the child's wait status. The child only makes raw system calls:
/// `install_filter` does not allocate when it succeeds.
fn in_child(filter: &SeccompFilter, f: fn() -> i64) -> libc::c_int {
    // SAFETY: the child runs only async-signal-safe code (raw syscalls, no
    // allocation, no locks) before `_exit`, as required after fork in a
    // multi-threaded process.
    let child = unsafe { libc::fork() };
    assert!(child >= 0, "fork: {}", io::Error::last_os_error());
    if child == 0 {
        let no_core = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: setrlimit reads the struct it is given and is
        // async-signal-safe; no core file for the deaths provoked below.
        unsafe { libc::setrlimit(libc::RLIMIT_CORE, &no_core) };
        let code = match install_filter(filter) {
            Ok(()) => {
                f();
                0
            }
            Err(_) => 99,
        };
        // SAFETY: ends the child without running the parent's atexit handlers
        // or destructors.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: `child` is our child; `status` is a valid out pointer.
    let r = unsafe { libc::waitpid(child, &mut status, 0) };
    assert_eq!(r, child);
    status
}

/// A filter that allows everything: `in_child` without a real filter.
fn allow_all() -> SeccompFilter {
    SeccompFilter::from_instructions(vec![libc::sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k: RET_ALLOW,
    }])
}

fn x32_getpid() -> i64 {
    // SAFETY: an x32 getpid takes no arguments and touches no memory.
    unsafe { libc::syscall((X32_SYSCALL_BIT | 39) as libc::c_long) as i64 }
}

fn i386_getpid() -> i64 {
    let r: i64;
    // SAFETY: `int 0x80` with eax = 20 is getpid in the i386 table; it takes
    // no arguments, touches no memory and returns in eax.
    unsafe { core::arch::asm!("int 0x80", inlateout("rax") 20i64 => r, options(nostack)) };
    r
}

fn native_getpid() -> i64 {
    // SAFETY: getpid takes no arguments.
    unsafe { libc::syscall(libc::SYS_getpid) as i64 }
}

#[test]
fn x32_and_i386_calls_kill_the_filtered_process() {
    let filter = Policy::default().seccomp_filter().unwrap();
    // Control: an allowed call, then a clean exit.
    let st = in_child(&filter, native_getpid);
    assert!(
        libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 0,
        "status {st:#x}"
    );
    // An x32 number: SECCOMP_RET_KILL_PROCESS, seen as death by SIGSYS.
    let st = in_child(&filter, x32_getpid);
    assert!(libc::WIFSIGNALED(st), "status {st:#x}");
    assert_eq!(libc::WTERMSIG(st), libc::SIGSYS);
    // An i386 call. Without the filter it works where the kernel has IA32
    // emulation (and faults where it does not); with the filter it never
    // returns: SIGSYS from the arch check.
    let unfiltered = in_child(&allow_all(), i386_getpid);
    let ia32 = libc::WIFEXITED(unfiltered) && libc::WEXITSTATUS(unfiltered) == 0;
    let st = in_child(&filter, i386_getpid);
    assert!(libc::WIFSIGNALED(st), "status {st:#x}");
    let expected = if ia32 { libc::SIGSYS } else { libc::SIGSEGV };
    assert_eq!(libc::WTERMSIG(st), expected, "IA32 emulation: {ia32}");
}
