//! The kernel-enforced layer: a classic-BPF seccomp filter generated from a
//! [`Policy`], installed on a worker thread when it starts.
//!
//! Validation ([`crate::policy`]) decides what a batch may ask for; this filter
//! makes the kernel refuse everything else on the thread that executes batches,
//! so that a bug in validation still cannot reach a syscall outside the
//! allowlist. See [seccomp(2)](https://man7.org/linux/man-pages/man2/seccomp.2.html)
//! for the mechanism.
//!
//! The generated program, in order:
//!
//! 1. **Architecture.** `seccomp_data.arch` must be `AUDIT_ARCH_X86_64`,
//!    with one exception: the i386 `getdents64` (220) and `_llseek` (140),
//!    allowed when the policy allows `getdents64` and `lseek` — the executor
//!    issues those atoms of a batch run on behalf of a 32-bit producer
//!    ([`BATCH_COMPAT32`](syslets_abi::BATCH_COMPAT32)) through `int 0x80`,
//!    so that directory offsets are the ones a 32-bit process gets. Any other
//!    i386 call, and any other architecture, kills the process
//!    (`SECCOMP_RET_KILL_PROCESS`): the i386 table has other numbers, so an
//!    allowlist of x86_64 numbers means nothing there.
//! 2. **x32.** Numbers with bit 30 set (`__X32_SYSCALL_BIT`, `nr >= 0x40000000`)
//!    kill the process too: this program never makes x32 calls, and x32
//!    numbers reach the same kernel handlers under other numbers.
//! 3. **Allowlist.** Every call the policy allows, plus the calls the worker's
//!    own machinery needs ([`MACHINERY`]), each allowed outright or after
//!    cheap checks of register arguments (below).
//! 4. **Everything else** fails with `EPERM` (`SECCOMP_RET_ERRNO`): the worker
//!    sees an error, reports it, and nothing is killed for a refused call.
//!
//! Argument checks in BPF (seccomp sees only the six registers, never the
//! memory they point to, so paths and `open_how` are checked by validation
//! alone):
//!
//! * `mmap`, `mprotect`: refused when `prot` holds `PROT_EXEC` (the
//!   [`DENYLIST`](crate::policy::DENYLIST) rule).
//! * `write`, when the policy does not allow it: only to fd 2 (stderr) and the
//!   eventfd named in [`FilterOptions`].
//! * `openat`: its flags must hold no bit of the policy's forbidden open flags
//!   ([`Policy::read_only`]).
//! * `socket`: the family must be one the policy allows.
//! * `setsockopt`, `getsockopt`: the level and option name must be a pair of
//!   the socket-option table ([`syslets_abi::sockopt::SOCKOPTS`]) allowed for
//!   that call; the value's memory is checked by validation alone.
//! * `clock_nanosleep`, when the policy allows it: the clock and flags must be
//!   a pair of [`SLEEPS`](syslets_abi::signature::SLEEPS) (when it does not,
//!   the worker's own sleeps keep it, as one of the [`MACHINERY`] calls, and
//!   validation alone refuses it in a batch).
//! * `tgkill`, `rt_tgsigqueueinfo`: the thread group must be this process (its
//!   pid when the filter was generated).
//! * `recvmsg`: its flags must hold `MSG_CMSG_CLOEXEC` (the control messages
//!   of `sendmsg`, in memory, are checked by validation alone).
//! * Under confinement, every path call (`openat`, `openat2`, `newfstatat`,
//!   `statx`, `mkdirat`, `unlinkat`, `linkat`, `symlinkat`, `renameat2`, …):
//!   each `dirfd` must be the policy's directory, and `linkat`'s flags must
//!   not hold `AT_SYMLINK_FOLLOW`.
//!
//! 32-bit arguments (`int` fds, flags, families) are compared on their low 32
//! bits, which is all the kernel reads of them.
//!
//! The filter goes on the calling thread only (no `SECCOMP_FILTER_FLAG_TSYNC`):
//! the rest of the process keeps every call. [`install_filter`] first sets
//! `no_new_privs` on the thread (`PR_SET_NO_NEW_PRIVS`), which seccomp requires
//! of unprivileged callers.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::os::fd::RawFd;

use libc::sock_filter;
use syslets_abi::nr;
use syslets_abi::signature::{self, ArgRule, NoFollow};
use syslets_abi::sockopt::{self, Access};

use crate::confine::policy::{denylist_entry, DenyWhen, Policy};

/// `AUDIT_ARCH_X86_64` (`EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE`).
pub const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
/// `AUDIT_ARCH_I386` (`EM_386 | __AUDIT_ARCH_LE`).
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// `__X32_SYSCALL_BIT`: set in the number of every x32 system call.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;
/// `BPF_MAXINSNS`: the longest program the kernel accepts.
pub const MAX_INSNS: usize = libc::BPF_MAXINSNS as usize;

/// Return value of a refused call: `SECCOMP_RET_ERRNO | EPERM`.
pub const RET_EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
/// Return value of an allowed call.
pub const RET_ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
/// Return value for a foreign architecture or an x32 call.
pub const RET_KILL: u32 = libc::SECCOMP_RET_KILL_PROCESS;

/// A system call the worker thread's own machinery needs, on top of the
/// policy's allowlist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MachineryCall {
    /// Native number.
    pub nr: u32,
    /// Name, as in `man 2`.
    pub name: &'static str,
    /// Why a worker needs it, and under which argument rule it is allowed.
    pub why: &'static str,
}

const fn call(nr: libc::c_long, name: &'static str, why: &'static str) -> MachineryCall {
    MachineryCall {
        nr: nr as u32,
        name,
        why,
    }
}

/// The calls a filtered worker thread makes for itself, not for a batch; every
/// generated filter allows them. Checked against what a Rust thread on glibc
/// does between its start and its exit (strace of a worker that allocates,
/// waits, sleeps and exits); `tests/seccomp.rs` runs all of it under a filter.
///
/// | call | why a worker needs it |
/// |---|---|
/// | `futex` | waits and wakes on the completion ring, `Mutex`/`Condvar` parking, `join` |
/// | `write` | only to fd 2 and [`FilterOptions::eventfd`] (when the policy has no `write`): panic messages, completion eventfd |
/// | `exit` | a worker thread ends with exit(2) |
/// | `exit_group` | `process::exit` or `abort` on a worker ends the process, as on any thread |
/// | `rt_sigreturn` | return from a signal handler that ran on the worker |
/// | `rt_sigprocmask` | glibc blocks all signals in a thread's last steps of exit; workers mask signals |
/// | `sigaltstack` | Rust std disables the thread's stack-overflow signal stack as the thread exits |
/// | `restart_syscall` | the kernel resumes a futex wait or sleep interrupted by a signal handler |
/// | `mmap` | only without `PROT_EXEC`: the allocator maps large blocks and thread-arena heaps |
/// | `mprotect` | only without `PROT_EXEC`: glibc grows a thread arena by making pages read-write |
/// | `munmap` | the allocator frees large blocks; std frees the signal stack at thread exit |
/// | `mremap` | `realloc` of large blocks (a `Vec` growing past the mmap threshold) |
/// | `madvise` | glibc releases the thread's stack at exit (`MADV_DONTNEED`) and trims arenas |
/// | `brk` | `malloc` from the main arena, when the thread gets no arena of its own |
/// | `sched_yield` | spin-then-yield in locks and back-off loops |
/// | `clock_gettime` | `Instant`/`SystemTime` when the vDSO cannot answer |
/// | `clock_nanosleep` | `thread::sleep`, timed back-off |
/// | `nanosleep` | sleep in code built against older libcs |
/// | `getrandom` | `HashMap`'s `RandomState` seeds its per-thread keys on first use |
/// | `getpid` | `process::id()` (validation of signal targets), glibc `raise()` |
/// | `gettid` | glibc `raise()`/`pthread_kill`, thread ids in logs |
/// | `getrusage` | the estimator tells a slow atom that slept (a miss) from one that was preempted |
pub static MACHINERY: &[MachineryCall] = &[
    call(
        libc::SYS_futex,
        "futex",
        "waits and wakes on the completion ring, Mutex/Condvar parking, join",
    ),
    call(
        libc::SYS_write,
        "write",
        "only to fd 2 and FilterOptions::eventfd (when the policy does not allow write): \
         panic messages reach stderr, completions signal an attached eventfd",
    ),
    call(libc::SYS_exit, "exit", "a worker thread ends with exit(2)"),
    call(
        libc::SYS_exit_group,
        "exit_group",
        "process::exit or abort on a worker ends the process, as on any thread",
    ),
    call(
        libc::SYS_rt_sigreturn,
        "rt_sigreturn",
        "return from a signal handler that ran on the worker",
    ),
    call(
        libc::SYS_rt_sigprocmask,
        "rt_sigprocmask",
        "glibc blocks all signals in a thread's last steps of exit; workers mask signals",
    ),
    call(
        libc::SYS_sigaltstack,
        "sigaltstack",
        "Rust std disables the thread's stack-overflow signal stack as the thread exits",
    ),
    call(
        libc::SYS_restart_syscall,
        "restart_syscall",
        "the kernel resumes a futex wait or sleep interrupted by a signal handler",
    ),
    call(
        libc::SYS_mmap,
        "mmap",
        "only without PROT_EXEC: the allocator maps large blocks and new thread-arena heaps",
    ),
    call(
        libc::SYS_mprotect,
        "mprotect",
        "only without PROT_EXEC: glibc grows a thread arena by making pages read-write",
    ),
    call(
        libc::SYS_munmap,
        "munmap",
        "the allocator frees large blocks; std frees the signal stack at thread exit",
    ),
    call(
        libc::SYS_mremap,
        "mremap",
        "realloc of large blocks (a Vec growing past the mmap threshold)",
    ),
    call(
        libc::SYS_madvise,
        "madvise",
        "glibc releases the thread's stack at exit (MADV_DONTNEED) and trims arenas",
    ),
    call(
        libc::SYS_brk,
        "brk",
        "malloc from the main arena, when the thread gets no arena of its own",
    ),
    call(
        libc::SYS_sched_yield,
        "sched_yield",
        "spin-then-yield in locks and back-off loops",
    ),
    call(
        libc::SYS_clock_gettime,
        "clock_gettime",
        "Instant/SystemTime when the vDSO cannot answer (fallback clocksource)",
    ),
    call(
        libc::SYS_clock_nanosleep,
        "clock_nanosleep",
        "thread::sleep, timed back-off",
    ),
    call(
        libc::SYS_nanosleep,
        "nanosleep",
        "sleep in code built against older libcs",
    ),
    call(
        libc::SYS_getrandom,
        "getrandom",
        "HashMap's RandomState seeds its per-thread keys on first use",
    ),
    call(
        libc::SYS_getpid,
        "getpid",
        "process::id(), used by validation of signal targets, and glibc raise()",
    ),
    call(
        libc::SYS_gettid,
        "gettid",
        "glibc raise()/pthread_kill, thread ids in logs",
    ),
    call(
        libc::SYS_getrusage,
        "getrusage",
        "the estimator reads the thread's voluntary context switches to tell a slow \
         atom that slept (a miss) from one that was only preempted",
    ),
];

/// What the worker adds to the filter beyond [`MACHINERY`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilterOptions {
    /// An eventfd the worker writes to post completions (allowed as a `write`
    /// target even when the policy does not allow `write`).
    pub eventfd: Option<RawFd>,
    /// Whether `write` to fd 2 is allowed (panic messages). Default: yes.
    pub stderr: bool,
}

impl Default for FilterOptions {
    fn default() -> Self {
        FilterOptions {
            eventfd: None,
            stderr: true,
        }
    }
}

impl FilterOptions {
    /// Also allow `write` to this eventfd.
    pub const fn eventfd(mut self, fd: RawFd) -> Self {
        self.eventfd = Some(fd);
        self
    }

    /// Whether `write` to fd 2 is allowed.
    pub const fn stderr(mut self, allow: bool) -> Self {
        self.stderr = allow;
        self
    }
}

/// Why a filter could not be generated or installed.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FilterError {
    /// More instructions than the kernel accepts (`BPF_MAXINSNS`).
    TooLong {
        /// Instructions in the program.
        len: usize,
        /// The kernel's limit.
        max: usize,
    },
    /// A program without instructions.
    Empty,
    /// A call of the fixed denylist would have been allowed.
    Denied {
        /// Its number.
        nr: u32,
        /// Its name.
        name: &'static str,
    },
    /// The argument rules of one call need a jump longer than BPF's 255.
    RuleTooLong {
        /// The call's number.
        nr: u32,
    },
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FilterError::TooLong { len, max } => write!(
                f,
                "seccomp filter of {len} instructions exceeds the kernel's limit of {max}"
            ),
            FilterError::Empty => f.write_str("seccomp filter without instructions"),
            FilterError::Denied { nr, name } => {
                write!(
                    f,
                    "the filter would allow {name} ({nr}), which is on the fixed denylist"
                )
            }
            FilterError::RuleTooLong { nr } => {
                write!(
                    f,
                    "argument rules of syscall {nr} are too long for one BPF jump"
                )
            }
        }
    }
}

impl std::error::Error for FilterError {}

impl From<FilterError> for io::Error {
    fn from(e: FilterError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, e)
    }
}

/// A classic-BPF seccomp program, ready for [`install_filter`].
#[derive(Clone)]
pub struct SeccompFilter {
    insns: Vec<sock_filter>,
}

impl fmt::Debug for SeccompFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeccompFilter")
            .field("instructions", &self.insns.len())
            .finish()
    }
}

impl SeccompFilter {
    /// A filter made of these instructions, as they are (the kernel verifies
    /// the program when it is installed; [`install_filter`] checks its length).
    pub fn from_instructions(insns: Vec<sock_filter>) -> Self {
        SeccompFilter { insns }
    }

    /// The program.
    pub fn instructions(&self) -> &[sock_filter] {
        &self.insns
    }

    /// Number of instructions.
    pub fn len(&self) -> usize {
        self.insns.len()
    }

    /// Whether the program has no instruction.
    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }
}

// Classic BPF opcodes (linux/bpf_common.h).
const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const JSET_K: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

// Offsets in `struct seccomp_data`.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const fn off_arg_low(arg: u8) -> u32 {
    16 + 8 * arg as u32
}

const fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// A check of one register argument (its low 32 bits).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Rule {
    /// The argument is one of these values.
    In { arg: u8, values: Vec<u32> },
    /// The argument has none of these bits.
    NoBits { arg: u8, mask: u32 },
    /// The argument has this bit (one bit: `jset` tests any of a mask).
    Bit { arg: u8, bit: u32 },
    /// Argument `first` is one of the groups' keys, and argument `second`
    /// one of that group's values (socket option level, then option name).
    Pairs {
        first: u8,
        second: u8,
        groups: Vec<(u32, Vec<u32>)>,
    },
}

/// The socket options of the table allowed for `access`, grouped by level,
/// as a [`Rule::Pairs`] on the level (argument `level`) and name (the next
/// argument) registers of `setsockopt`/`getsockopt`.
fn sockopt_rule(access: Access, level_arg: u8) -> Rule {
    let mut groups: Vec<(u32, Vec<u32>)> = Vec::new();
    for opt in sockopt::SOCKOPTS.iter().filter(|o| o.allows(access)) {
        let level = opt.level as u32;
        match groups.iter_mut().find(|g| g.0 == level) {
            Some(g) => g.1.push(opt.optname as u32),
            None => groups.push((level, vec![opt.optname as u32])),
        }
    }
    Rule::Pairs {
        first: level_arg,
        second: level_arg + 1,
        groups,
    }
}

/// The block for one allowed number: `jeq nr` then, if `rules` hold, ALLOW,
/// else EPERM. Every path through a block with rules ends in a `ret`, so the
/// accumulator holds the number again at the next block.
fn block(nr: u32, rules: &[Rule]) -> Result<Vec<sock_filter>, FilterError> {
    if rules
        .iter()
        .any(|r| matches!(r, Rule::In { values, .. } if values.is_empty()))
    {
        // No value can pass: the call is simply not allowed.
        return Ok(Vec::new());
    }
    if rules.is_empty() {
        return Ok(vec![jump(JEQ_K, nr, 0, 1), stmt(RET_K, RET_ALLOW)]);
    }
    let body_rules: usize = rules
        .iter()
        .map(|r| match r {
            Rule::In { values, .. } => 1 + values.len(),
            Rule::NoBits { .. } | Rule::Bit { .. } => 2,
            Rule::Pairs { groups, .. } => groups.iter().map(|g| 3 + g.1.len()).sum(),
        })
        .sum();
    // Layout: rules (body_rules insns), ret ALLOW, ret EPERM (index `fail`).
    let fail = body_rules + 1;
    let far = |to: usize, from: usize| -> Result<u8, FilterError> {
        u8::try_from(to - from - 1).map_err(|_| FilterError::RuleTooLong { nr })
    };
    let mut body = Vec::with_capacity(fail + 1);
    for r in rules {
        match r {
            Rule::In { arg, values } => {
                body.push(stmt(LD_W_ABS, off_arg_low(*arg)));
                let next = body.len() + values.len();
                for (k, &v) in values.iter().enumerate() {
                    let at = body.len();
                    if k + 1 < values.len() {
                        body.push(jump(JEQ_K, v, far(next, at)?, 0));
                    } else {
                        body.push(jump(JEQ_K, v, 0, far(fail, at)?));
                    }
                }
            }
            Rule::NoBits { arg, mask } => {
                body.push(stmt(LD_W_ABS, off_arg_low(*arg)));
                let at = body.len();
                body.push(jump(JSET_K, *mask, far(fail, at)?, 0));
            }
            Rule::Bit { arg, bit } => {
                debug_assert_eq!(bit.count_ones(), 1);
                body.push(stmt(LD_W_ABS, off_arg_low(*arg)));
                let at = body.len();
                body.push(jump(JSET_K, *bit, 0, far(fail, at)?));
            }
            Rule::Pairs {
                first,
                second,
                groups,
            } => {
                // Per group: load `first`; not this key: next group; load
                // `second`; one of the values: past the rule; else fail. Past
                // the last group: fail.
                let size: usize = groups.iter().map(|g| 3 + g.1.len()).sum();
                let next_rule = body.len() + size;
                for (k, (key, values)) in groups.iter().enumerate() {
                    let group_end = body.len() + 3 + values.len();
                    let miss = if k + 1 < groups.len() {
                        group_end
                    } else {
                        fail
                    };
                    body.push(stmt(LD_W_ABS, off_arg_low(*first)));
                    let at = body.len();
                    body.push(jump(JEQ_K, *key, 0, far(miss, at)?));
                    body.push(stmt(LD_W_ABS, off_arg_low(*second)));
                    for (v, &value) in values.iter().enumerate() {
                        let at = body.len();
                        let otherwise = if v + 1 < values.len() {
                            0
                        } else {
                            far(fail, at)?
                        };
                        body.push(jump(JEQ_K, value, far(next_rule, at)?, otherwise));
                    }
                }
                debug_assert_eq!(body.len(), next_rule);
            }
        }
    }
    body.push(stmt(RET_K, RET_ALLOW));
    body.push(stmt(RET_K, RET_EPERM));
    let skip = u8::try_from(body.len()).map_err(|_| FilterError::RuleTooLong { nr })?;
    let mut out = Vec::with_capacity(body.len() + 1);
    out.push(jump(JEQ_K, nr, 0, skip));
    out.extend(body);
    Ok(out)
}

/// What the filter does with a call whose architecture is not x86_64 (the
/// accumulator holds the architecture): kill it, unless it is i386 and one
/// of the compat entries whose native call `allowed` holds.
fn foreign_arch(allowed: &BTreeMap<u32, Vec<Rule>>) -> Vec<sock_filter> {
    let i386: Vec<u32> = signature::SIGNATURES
        .iter()
        .filter(|sig| allowed.contains_key(&sig.nr))
        .filter_map(|sig| sig.via_i386)
        .collect();
    if i386.is_empty() {
        return vec![stmt(RET_K, RET_KILL)];
    }
    let n = i386.len() as u8;
    // Not i386: past the number and its comparisons, to the kill.
    let mut out = vec![
        jump(JEQ_K, AUDIT_ARCH_I386, 0, 1 + n),
        stmt(LD_W_ABS, OFF_NR),
    ];
    for (k, &nr) in i386.iter().enumerate() {
        // A match jumps over the comparisons left and the kill, to the allow.
        out.push(jump(JEQ_K, nr, n - k as u8, 0));
    }
    out.push(stmt(RET_K, RET_KILL));
    out.push(stmt(RET_K, RET_ALLOW));
    out
}

impl Policy {
    /// The seccomp filter for a worker thread executing batches under this
    /// policy, with the default [`FilterOptions`] (no eventfd).
    pub fn seccomp_filter(&self) -> Result<SeccompFilter, FilterError> {
        self.seccomp_filter_with(&FilterOptions::default())
    }

    /// The seccomp filter for a worker thread executing batches under this
    /// policy: see the [module documentation](crate::seccomp) for what it holds.
    pub fn seccomp_filter_with(&self, opts: &FilterOptions) -> Result<SeccompFilter, FilterError> {
        // Allowed numbers and the rules under which they are allowed.
        let mut allowed: BTreeMap<u32, Vec<Rule>> = BTreeMap::new();
        let confined_dirfd = self.confine.map(|c| c.dirfd as u32);
        for sig in self.allowed() {
            let mut rules = Vec::new();
            if let Some(fd) = confined_dirfd {
                for path in sig.paths {
                    rules.push(Rule::In {
                        arg: path.dirfd,
                        values: vec![fd],
                    });
                    // linkat's AT_SYMLINK_FOLLOW is a register bit: refuse it
                    // here too (the bits a call needs set are the validator's).
                    if let NoFollow::FlagClear { arg, bit } = path.nofollow {
                        rules.push(Rule::NoBits {
                            arg,
                            mask: bit as u32,
                        });
                    }
                }
            }
            match sig.rule {
                ArgRule::OpenFlags { arg } if self.open_forbidden != 0 => {
                    rules.push(Rule::NoBits {
                        arg,
                        mask: self.open_forbidden,
                    });
                }
                ArgRule::SocketFamily { arg } => {
                    if let Some(families) = self.socket_family_list() {
                        if families.is_empty() {
                            continue;
                        }
                        rules.push(Rule::In {
                            arg,
                            values: families.iter().map(|&f| f as u32).collect(),
                        });
                    }
                }
                ArgRule::SocketOption { access, level, .. } => {
                    rules.push(sockopt_rule(access, level))
                }
                ArgRule::Sleep { clock, flags } => rules.push(Rule::Pairs {
                    first: clock,
                    second: flags,
                    groups: signature::SLEEPS
                        .iter()
                        .map(|&(c, fs)| (c, fs.to_vec()))
                        .collect(),
                }),
                ArgRule::OwnProcess { arg } => rules.push(Rule::In {
                    arg,
                    values: vec![std::process::id()],
                }),
                // recvmsg's MSG_CMSG_CLOEXEC is a register bit; sendmsg's
                // control messages are in memory (the validator's).
                ArgRule::Msg { flags, .. } => {
                    if matches!(sig.fds, signature::Fds::Received { .. }) {
                        rules.push(Rule::Bit {
                            arg: flags,
                            bit: syslets_abi::kernel::MSG_CMSG_CLOEXEC,
                        });
                    }
                }
                // openat2's flags are in memory: the validator checks them.
                // As the symlink target and a socket address's family,
                // which only validation sees.
                ArgRule::OpenFlags { .. }
                | ArgRule::OpenHow { .. }
                | ArgRule::SymlinkTarget { .. }
                | ArgRule::SockAddr { .. }
                | ArgRule::None => {}
            }
            allowed.insert(sig.nr, rules);
        }
        for m in MACHINERY {
            if allowed.contains_key(&m.nr) {
                // The policy allows it already, with rules that are its own
                // (none of the machinery calls has policy rules today).
                continue;
            }
            let rules = match m.nr {
                nr::WRITE => {
                    let mut fds = Vec::new();
                    if opts.stderr {
                        fds.push(2);
                    }
                    fds.extend(opts.eventfd.map(|fd| fd as u32));
                    if fds.is_empty() {
                        continue;
                    }
                    vec![Rule::In {
                        arg: 0,
                        values: fds,
                    }]
                }
                _ => Vec::new(),
            };
            allowed.insert(m.nr, rules);
        }
        // The fixed denylist wins over everything above.
        for (&nr, rules) in allowed.iter_mut() {
            match denylist_entry(nr).map(|d| (d, d.when)) {
                None => {}
                Some((d, DenyWhen::Always)) => {
                    return Err(FilterError::Denied { nr, name: d.name })
                }
                Some((_, DenyWhen::ProtExec { arg })) => rules.push(Rule::NoBits {
                    arg,
                    mask: libc::PROT_EXEC as u32,
                }),
            }
        }

        let mut insns = vec![stmt(LD_W_ABS, OFF_ARCH)];
        let foreign = foreign_arch(&allowed);
        let skip = u8::try_from(foreign.len()).expect("a few instructions");
        insns.push(jump(JEQ_K, AUDIT_ARCH_X86_64, skip, 0));
        insns.extend(foreign);
        insns.extend([
            stmt(LD_W_ABS, OFF_NR),
            jump(JGE_K, X32_SYSCALL_BIT, 0, 1),
            stmt(RET_K, RET_KILL),
        ]);
        for (&nr, rules) in &allowed {
            insns.extend(block(nr, rules)?);
        }
        insns.push(stmt(RET_K, RET_EPERM));
        if insns.len() > MAX_INSNS {
            return Err(FilterError::TooLong {
                len: insns.len(),
                max: MAX_INSNS,
            });
        }
        Ok(SeccompFilter { insns })
    }
}

/// Install `filter` on the calling thread: set `no_new_privs`
/// (`prctl(PR_SET_NO_NEW_PRIVS)`), then load the filter with
/// `seccomp(SECCOMP_SET_MODE_FILTER, 0, …)` — without
/// `SECCOMP_FILTER_FLAG_TSYNC`, so other threads are not affected. Threads
/// and processes the filtered thread would create inherit both (the filter
/// refuses to create them anyway). A filter cannot be removed: install it on
/// a thread that only executes batches, once, when it starts.
///
/// The length is checked before any call into the kernel: an empty program or
/// one over [`MAX_INSNS`] fails with [`io::ErrorKind::InvalidInput`] wrapping
/// a [`FilterError`] (see [`io::Error::get_ref`]), and the thread is left as
/// it was. On success nothing is allocated, so a forked child may call it.
///
/// See [seccomp(2)](https://man7.org/linux/man-pages/man2/seccomp.2.html) and
/// [prctl(2)](https://man7.org/linux/man-pages/man2/prctl.2.html).
pub fn install_filter(filter: &SeccompFilter) -> io::Result<()> {
    let len = filter.insns.len();
    if len == 0 {
        return Err(FilterError::Empty.into());
    }
    if len > MAX_INSNS {
        return Err(FilterError::TooLong {
            len,
            max: MAX_INSNS,
        }
        .into());
    }
    crate::sys::seccomp::install_thread_filter(&filter.insns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machinery_table_in_the_docs_matches_the_list() {
        let src = include_str!("seccomp.rs");
        let rows: Vec<&str> = src
            .lines()
            .filter_map(|l| l.strip_prefix("/// | `"))
            .filter_map(|l| l.split('`').next())
            .collect();
        let names: Vec<&str> = MACHINERY.iter().map(|m| m.name).collect();
        assert_eq!(rows, names);
        for m in MACHINERY {
            assert!(crate::confine::policy::denylist_entry(m.nr)
                .is_none_or(|d| d.when != DenyWhen::Always));
        }
    }
}
