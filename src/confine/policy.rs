//! [`Policy`]: which system calls a batch may run, and with which arguments.
//!
//! A policy is checked at validation time, before anything of a batch runs:
//!
//! * **Numbers.** An allowlist over the signature table
//!   ([`syslets_abi::signature::SIGNATURES`]), narrowed by syscall
//!   ([`Policy::deny`]) or by [`Class`] ([`Policy::only_classes`],
//!   [`Policy::read_only_files`], [`Policy::network_client`]). On top of every
//!   policy sits the fixed [`DENYLIST`], which no policy can allow; a batch
//!   naming one of its calls fails with [`ErrorKind::SyscallDenied`], even
//!   before the unknown-number check.
//! * **Arguments.** Rules on values, checked during validation:
//!   forbidden open flags ([`Policy::read_only`]: `O_WRONLY`, `O_RDWR`,
//!   `O_CREAT`, `O_TRUNC`, `O_APPEND`, `O_TMPFILE`, in `openat`'s flags and in
//!   `openat2`'s `how.flags`), allowed socket families
//!   ([`Policy::socket_families`]; by default `AF_UNIX`, `AF_INET`, `AF_INET6`),
//!   signals only to this process's own threads, and confinement of every path
//!   to one directory ([`Policy::confine_to`]).
//!
//! The same policy generates the kernel-enforced seccomp filter of the worker
//! threads ([`Policy::seccomp_filter`], in [`crate::seccomp`]). What each layer
//! guarantees, and what neither does, is in [`crate::security`].
//!
//! # Memory a rule looks at cannot change under it
//!
//! Rules that read the arena (a confined path, an `open_how`) only accept
//! memory that no atom can write: the bytes they inspect must not overlap any
//! buffer marked `OUT`. Otherwise an earlier atom of the same chain (a `read`
//! into an overlapping buffer) could rewrite the path after it was checked,
//! and the validator re-checks strings at run time only for termination, not
//! for their content. Values a rule looks at (flags, families, directory fds)
//! must be immediates: a `RESULT` could be anything at run time.

use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use syslets_abi::signature::{self, ArgRule, Class, NoFollow, PathArg, Signature};
use syslets_abi::{self as abi, Atom};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::batch::plan::{BufTable, Src};
use crate::error::ErrorKind;

/// A set of native syscall numbers (all x86_64 numbers are below 512).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct NrSet([u64; 8]);

impl NrSet {
    pub(crate) fn insert(&mut self, nr: u32) {
        if nr < 512 {
            self.0[nr as usize / 64] |= 1 << (nr % 64);
        }
    }

    pub(crate) fn remove(&mut self, nr: u32) {
        if nr < 512 {
            self.0[nr as usize / 64] &= !(1 << (nr % 64));
        }
    }

    pub(crate) fn contains(&self, nr: u32) -> bool {
        nr < 512 && self.0[nr as usize / 64] & (1 << (nr % 64)) != 0
    }
}

// ---------------------------------------------------------------------------
// The fixed denylist.

/// When a [`DENYLIST`] entry applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DenyWhen {
    /// Always: the call shapes the process (new programs, new processes,
    /// privileges, namespaces, kernel state) and has no place in a batch.
    Always,
    /// When the protection argument `arg` may hold `PROT_EXEC`: it is an
    /// immediate with `PROT_EXEC` set, or not an immediate at all. (Without
    /// `PROT_EXEC` these calls are still not in the signature table, so a batch
    /// cannot name them either; the worker's allocator needs them, see
    /// [`crate::seccomp::MACHINERY`].)
    ProtExec {
        /// Index of the `prot` argument.
        arg: u8,
    },
}

/// One call of the fixed denylist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Denied {
    /// Native (x86_64) number.
    pub nr: u32,
    /// Name, as in `man 2`.
    pub name: &'static str,
    /// When it is denied.
    pub when: DenyWhen,
}

const fn always(nr: libc::c_long, name: &'static str) -> Denied {
    Denied {
        nr: nr as u32,
        name,
        when: DenyWhen::Always,
    }
}

const fn prot_exec(nr: libc::c_long, name: &'static str, arg: u8) -> Denied {
    Denied {
        nr: nr as u32,
        name,
        when: DenyWhen::ProtExec { arg },
    }
}

/// Calls no policy can allow, whatever the signature table holds. A batch
/// naming one fails validation with [`ErrorKind::SyscallDenied`] (checked before
/// anything else about the atom), and the seccomp filter never allows one
/// (the `mmap`/`mprotect` the worker's allocator needs are allowed only
/// without `PROT_EXEC`).
pub static DENYLIST: &[Denied] = &[
    // New programs and new processes or threads.
    always(libc::SYS_execve, "execve"),
    always(libc::SYS_execveat, "execveat"),
    always(libc::SYS_clone, "clone"),
    always(libc::SYS_clone3, "clone3"),
    always(libc::SYS_fork, "fork"),
    always(libc::SYS_vfork, "vfork"),
    // Other processes' memory and execution.
    always(libc::SYS_ptrace, "ptrace"),
    always(libc::SYS_process_vm_readv, "process_vm_readv"),
    always(libc::SYS_process_vm_writev, "process_vm_writev"),
    // Executable memory.
    prot_exec(libc::SYS_mmap, "mmap", 2),
    prot_exec(libc::SYS_mprotect, "mprotect", 2),
    prot_exec(libc::SYS_pkey_mprotect, "pkey_mprotect", 2),
    // Process attributes, filters, kernel programs, asynchronous syscall engines.
    always(libc::SYS_prctl, "prctl"),
    always(libc::SYS_arch_prctl, "arch_prctl"),
    always(libc::SYS_seccomp, "seccomp"),
    always(libc::SYS_bpf, "bpf"),
    always(libc::SYS_io_uring_setup, "io_uring_setup"),
    always(libc::SYS_io_uring_enter, "io_uring_enter"),
    always(libc::SYS_io_uring_register, "io_uring_register"),
    always(libc::SYS_personality, "personality"),
    // The kernel itself.
    always(libc::SYS_kexec_load, "kexec_load"),
    always(libc::SYS_kexec_file_load, "kexec_file_load"),
    always(libc::SYS_init_module, "init_module"),
    always(libc::SYS_finit_module, "finit_module"),
    always(libc::SYS_delete_module, "delete_module"),
    always(libc::SYS_reboot, "reboot"),
    // Credentials.
    always(libc::SYS_setuid, "setuid"),
    always(libc::SYS_setgid, "setgid"),
    always(libc::SYS_setreuid, "setreuid"),
    always(libc::SYS_setregid, "setregid"),
    always(libc::SYS_setresuid, "setresuid"),
    always(libc::SYS_setresgid, "setresgid"),
    always(libc::SYS_setfsuid, "setfsuid"),
    always(libc::SYS_setfsgid, "setfsgid"),
    always(libc::SYS_setgroups, "setgroups"),
    always(libc::SYS_capset, "capset"),
    // Namespaces.
    always(libc::SYS_unshare, "unshare"),
    always(libc::SYS_setns, "setns"),
];

/// The denylist entry for `nr`, whatever its arguments.
pub fn denylist_entry(nr: u32) -> Option<&'static Denied> {
    DENYLIST.iter().find(|d| d.nr == nr)
}

/// Whether this atom is refused by the fixed denylist.
pub(crate) fn denied_atom(atom: &Atom) -> Option<&'static Denied> {
    let d = denylist_entry(atom.nr)?;
    match d.when {
        DenyWhen::Always => Some(d),
        DenyWhen::ProtExec { arg } => {
            let a = arg as usize;
            let may_exec =
                atom.arg_kind[a] != abi::ARG_IMM || atom.arg[a] & libc::PROT_EXEC as u64 != 0;
            may_exec.then_some(d)
        }
    }
}

// ---------------------------------------------------------------------------
// Argument rules.

/// Open flags a read-only policy refuses: every way `openat`/`openat2` can
/// write, create, truncate or append (`O_TMPFILE` without its `O_DIRECTORY` bit,
/// which read-only opens of directories use).
pub const WRITE_OPEN_FLAGS: u32 = (libc::O_WRONLY
    | libc::O_RDWR
    | libc::O_CREAT
    | libc::O_TRUNC
    | libc::O_APPEND
    | (libc::O_TMPFILE & !libc::O_DIRECTORY)) as u32;

/// The socket families the default policy allows: `AF_UNIX`, `AF_INET`,
/// `AF_INET6`. Exotic families (netlink, packet, alg, vsock…) are kernel
/// attack surface the batches of this crate do not need.
pub const DEFAULT_SOCKET_FAMILIES: &[i32] = &[libc::AF_UNIX, libc::AF_INET, libc::AF_INET6];

/// `struct open_how` of [openat2(2)](https://man7.org/linux/man-pages/man2/openat2.2.html)
/// (24 bytes), to copy into a batch with
/// [`Chain::input_value`](crate::Chain::input_value).
#[repr(C)]
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct OpenHow {
    /// `O_*` flags.
    pub flags: u64,
    /// Mode for `O_CREAT`/`O_TMPFILE`, else 0.
    pub mode: u64,
    /// `RESOLVE_*` flags.
    pub resolve: u64,
}

/// Size of [`OpenHow`] (`OPEN_HOW_SIZE_VER0`).
pub const OPEN_HOW_SIZE: usize = 24;
static_assertions::const_assert_eq!(size_of::<OpenHow>(), OPEN_HOW_SIZE);

impl OpenHow {
    /// Open with `flags`, resolving strictly beneath the directory fd:
    /// `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`, what a confined policy
    /// requires of every `openat2`.
    pub const fn beneath(flags: i32) -> Self {
        OpenHow {
            flags: flags as u32 as u64,
            mode: 0,
            resolve: libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS,
        }
    }
}

/// How [`Policy::confine_to`] keeps paths inside the directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfineMode {
    /// The kernel resolves: `openat2` must carry `RESOLVE_BENEATH` (or
    /// `RESOLVE_IN_ROOT`) and `RESOLVE_NO_MAGICLINKS`, so that `..`, absolute
    /// symlinks and renames can never lead out (see
    /// [openat2(2)](https://man7.org/linux/man-pages/man2/openat2.2.html)). Calls
    /// that have no `RESOLVE_*` flags (`openat`, `newfstatat`, `statx`,
    /// `mkdirat`, `unlinkat`, `renameat2`, `linkat`, `symlinkat`, …) get only
    /// paths that cannot resolve through anything: a single component, with
    /// the final symlink not followed (`O_NOFOLLOW`, `AT_SYMLINK_NOFOLLOW`;
    /// `linkat` without `AT_SYMLINK_FOLLOW`; `mkdirat`, `unlinkat`,
    /// `renameat2` and `symlinkat` never follow it), and both paths of a
    /// two-path call are checked. A `symlinkat` target must be relative and
    /// free of `..` (it is resolved later, from the link's directory). Needs
    /// Linux 5.6 for `openat2`.
    Beneath,
    /// Lexical checks only (relative, no `..` component): for kernels without
    /// `openat2`. **Racy**: a symlink inside the directory (present, or created
    /// by someone else while the chain runs) is followed wherever it points,
    /// and a directory renamed out of the tree while a lookup walks through it
    /// takes the lookup with it.
    Lexical,
}

/// Why [`Policy::allow`] refused a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllowError {
    /// The signature table does not describe this number: no batch can name it.
    Unknown(u32),
    /// The number is on the [`DENYLIST`]: no policy allows it.
    Denied {
        /// The number.
        nr: u32,
        /// Its name.
        name: &'static str,
    },
}

impl std::fmt::Display for AllowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AllowError::Unknown(nr) => {
                write!(f, "system call {nr} is not in the signature table")
            }
            AllowError::Denied { nr, name } => {
                write!(f, "system call {name} ({nr}) is on the fixed denylist")
            }
        }
    }
}

impl std::error::Error for AllowError {}

/// Confinement of every path to one directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Confinement {
    /// The directory; the only `dirfd` a path call may name.
    pub dirfd: RawFd,
    /// How resolution is kept inside it.
    pub mode: ConfineMode,
}

/// A set of socket families (`AF_*` below 64).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FamilySet(u64);

impl FamilySet {
    fn of(families: &[i32]) -> Self {
        FamilySet(
            families
                .iter()
                .filter(|&&f| (0..64).contains(&f))
                .fold(0, |s, &f| s | 1 << f),
        )
    }

    fn contains(self, family: u64) -> bool {
        family < 64 && self.0 & (1 << family) != 0
    }
}

/// Which system calls a batch may run, and with which arguments.
///
/// The default allows every call of the signature table
/// ([`syslets_abi::signature::SIGNATURES`]): file, directory, socket and
/// signalling calls, sockets of [`DEFAULT_SOCKET_FAMILIES`], signals only to
/// this process. No policy can allow a call outside that table, nor one on the
/// [`DENYLIST`].
///
/// ```
/// use std::os::fd::AsFd;
/// use syslets::{Chain, ErrorKind, Policy, opcode::Openat};
///
/// let dir = std::fs::File::open("/proc/self")?;
/// let policy = Policy::read_only_files().confine_to(dir.as_fd());
///
/// let mut chain = Chain::new();
/// let path = chain.path("/etc/passwd");
/// chain.push(Openat::new(dir.as_fd(), path));
/// let e = chain.prepare(&policy).unwrap_err();
/// assert_eq!(e.atom, Some(0));
/// assert!(matches!(e.kind, ErrorKind::PathEscapes { arg: 1, .. }));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub(crate) allowed: NrSet,
    /// `O_*` bits refused in `openat` flags and `openat2` `how.flags`.
    pub(crate) open_forbidden: u32,
    /// Allowed socket families; `None`: any.
    families: Option<FamilySet>,
    pub(crate) confine: Option<Confinement>,
    /// `sendmsg` may carry `SCM_RIGHTS` ([`Policy::allow_fd_passing`]).
    fd_passing: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy::empty().allow_where(|_| true)
    }
}

impl Policy {
    /// A policy that allows nothing; add calls with [`allow`](Self::allow) or
    /// [`allow_class`](Self::allow_class). Its argument rules are the default
    /// ones ([`DEFAULT_SOCKET_FAMILIES`], own-process signals).
    pub fn empty() -> Self {
        Policy {
            allowed: NrSet::default(),
            open_forbidden: 0,
            families: Some(FamilySet::of(DEFAULT_SOCKET_FAMILIES)),
            confine: None,
            fd_passing: false,
        }
    }

    /// Reading files and directories and their metadata (classes
    /// [`Class::FileRead`], [`Class::Fd`], [`Class::Info`]), with
    /// [`read_only`](Self::read_only) open flags.
    pub fn read_only_files() -> Self {
        Policy::empty()
            .allow_class(Class::FileRead)
            .allow_class(Class::Fd)
            .allow_class(Class::Info)
            .read_only()
    }

    /// Outgoing IPv4/IPv6 connections and their I/O (classes [`Class::Socket`],
    /// [`Class::NetClient`], [`Class::NetIo`], [`Class::Fd`], [`Class::Info`]),
    /// sockets of `AF_INET` and `AF_INET6` only.
    pub fn network_client() -> Self {
        Policy::empty()
            .allow_class(Class::Socket)
            .allow_class(Class::NetClient)
            .allow_class(Class::NetIo)
            .allow_class(Class::Fd)
            .allow_class(Class::Info)
            .socket_families(&[libc::AF_INET, libc::AF_INET6])
    }

    /// Also allow the call with this native number.
    ///
    /// A number the signature table does not describe, or one on the
    /// [`DENYLIST`], can never run in a batch: asking for it is an error
    /// ([`AllowError`]) rather than a silent no-op, so a typo or a call the
    /// crate does not support yet shows at once.
    ///
    /// ```
    /// use syslets::abi::nr;
    /// use syslets::policy::{AllowError, Policy};
    ///
    /// let p = Policy::empty().allow(nr::READ)?.allow(nr::CLOSE)?;
    /// assert!(p.allows(nr::READ));
    /// assert_eq!(Policy::empty().allow(59).unwrap_err(), AllowError::Denied { nr: 59, name: "execve" });
    /// assert_eq!(Policy::empty().allow(100_000).unwrap_err(), AllowError::Unknown(100_000));
    /// # Ok::<(), AllowError>(())
    /// ```
    pub fn allow(mut self, nr: u32) -> Result<Self, AllowError> {
        if let Some(d) = denylist_entry(nr) {
            return Err(AllowError::Denied { nr, name: d.name });
        }
        if signature::lookup(nr).is_none() {
            return Err(AllowError::Unknown(nr));
        }
        self.allowed.insert(nr);
        Ok(self)
    }

    /// No longer allow the call with this native number.
    pub fn deny(mut self, nr: u32) -> Self {
        self.allowed.remove(nr);
        self
    }

    /// Also allow every call of the signature table in `class`.
    pub fn allow_class(self, class: Class) -> Self {
        self.allow_where(|sig| sig.class == class)
    }

    /// Allow the calls of the signature table for which `pick` holds (and
    /// that are not on the [`DENYLIST`]).
    fn allow_where(mut self, pick: impl Fn(&Signature) -> bool) -> Self {
        for sig in signature::SIGNATURES.iter().filter(|s| pick(s)) {
            if denylist_entry(sig.nr).is_none() {
                self.allowed.insert(sig.nr);
            }
        }
        self
    }

    /// No longer allow any call in `class`.
    pub fn deny_class(mut self, class: Class) -> Self {
        for sig in signature::SIGNATURES.iter().filter(|s| s.class == class) {
            self = self.deny(sig.nr);
        }
        self
    }

    /// Keep only the allowed calls whose class is one of `classes`.
    pub fn only_classes(mut self, classes: &[Class]) -> Self {
        for sig in signature::SIGNATURES {
            if !classes.contains(&sig.class) {
                self = self.deny(sig.nr);
            }
        }
        self
    }

    /// Refuse every write: no [`Class::FileWrite`] call, and no open flag of
    /// [`WRITE_OPEN_FLAGS`] in `openat` or `openat2`.
    pub fn read_only(self) -> Self {
        self.deny_class(Class::FileWrite)
            .forbid_open_flags(WRITE_OPEN_FLAGS)
    }

    /// Refuse `openat` flags and `openat2` `how.flags` holding any bit of `mask`
    /// (added to the bits already forbidden). The flags must then be
    /// immediates, and `open_how` must lie in memory no atom writes.
    pub fn forbid_open_flags(mut self, mask: u32) -> Self {
        self.open_forbidden |= mask;
        self
    }

    /// Allow sockets of these families only (`AF_*`; replaces the set).
    pub fn socket_families(mut self, families: &[i32]) -> Self {
        self.families = Some(FamilySet::of(families));
        self
    }

    /// Allow sockets of any family.
    pub fn any_socket_family(mut self) -> Self {
        self.families = None;
        self
    }

    /// Confine every path to `dir`, in [`ConfineMode::Beneath`]: each path call
    /// must name `dir` (an immediate, the same descriptor number) as its
    /// `dirfd`, with a relative path free of `..` components held in memory no
    /// atom writes, and `openat2` must carry `RESOLVE_BENEATH` and
    /// `RESOLVE_NO_MAGICLINKS`.
    ///
    /// The policy records the descriptor's number: the caller keeps `dir` open
    /// while batches validated under this policy run.
    pub fn confine_to(self, dir: BorrowedFd<'_>) -> Self {
        self.confine(dir, ConfineMode::Beneath)
    }

    /// Confine every path to `dir`, in [`ConfineMode::Lexical`] (for kernels
    /// without `openat2`; racy, see there).
    pub fn confine_lexically_to(self, dir: BorrowedFd<'_>) -> Self {
        self.confine(dir, ConfineMode::Lexical)
    }

    fn confine(mut self, dir: BorrowedFd<'_>, mode: ConfineMode) -> Self {
        self.confine = Some(Confinement {
            dirfd: dir.as_raw_fd(),
            mode,
        });
        self
    }

    /// Let `sendmsg` atoms send descriptors (`SCM_RIGHTS` control
    /// messages), which hands the peer of the socket (possibly another
    /// process) host descriptors of this process: off by default, where such
    /// an atom fails validation with [`ErrorKind::FdPassingRefused`]. Even
    /// allowed, the descriptors sent are subject to the policy's descriptor
    /// rules: under confinement ([`confine_to`](Self::confine_to)) the
    /// confined directory's descriptor may not be sent (it would let the
    /// peer resolve paths from it outside this policy), and a negative
    /// number is refused. The numbers sent are those validation read: the
    /// kernel gets a private copy of the control data.
    ///
    /// Receiving descriptors (`recvmsg`) needs no knob: they become the
    /// chain's, and `MSG_CMSG_CLOEXEC` is required. See
    /// [sendmsg(2)](https://man7.org/linux/man-pages/man2/sendmsg.2.html),
    /// [unix(7)](https://man7.org/linux/man-pages/man7/unix.7.html).
    pub fn allow_fd_passing(mut self) -> Self {
        self.fd_passing = true;
        self
    }

    /// Whether `sendmsg` atoms may send descriptors
    /// ([`allow_fd_passing`](Self::allow_fd_passing)).
    pub fn allows_fd_passing(&self) -> bool {
        self.fd_passing
    }

    /// Whether the call with this native number is allowed.
    pub fn allows(&self, nr: u32) -> bool {
        self.allowed.contains(nr)
    }

    /// The signatures of every allowed call.
    pub fn allowed(&self) -> impl Iterator<Item = &'static Signature> + '_ {
        signature::SIGNATURES.iter().filter(|s| self.allows(s.nr))
    }

    /// The open flags this policy refuses.
    pub fn forbidden_open_flags(&self) -> u32 {
        self.open_forbidden
    }

    /// Whether sockets of this family are allowed.
    pub fn allows_socket_family(&self, family: i32) -> bool {
        match self.families {
            None => true,
            Some(set) => family >= 0 && set.contains(family as u64),
        }
    }

    /// The allowed socket families (`None`: any).
    pub fn socket_family_list(&self) -> Option<Vec<i32>> {
        self.families
            .map(|set| (0..64).filter(|&f| set.contains(f as u64)).collect())
    }

    /// The directory paths are confined to, if any.
    pub fn confinement(&self) -> Option<Confinement> {
        self.confine
    }

    /// Argument rules beyond the syscall number, applied to each atom after its
    /// arguments were decoded and every pointer and length was checked (`bufs`
    /// and `arena` are the batch's, for paths and `open_how`; `control` the
    /// validated copy of a `sendmsg`'s control data, which the kernel gets;
    /// `msg_name` where its destination address lies, `(offset, length)`).
    #[inline]
    pub(crate) fn check_atom(
        &self,
        sig: &Signature,
        args: &[Src],
        bufs: BufTable<'_>,
        arena: &[u8],
        control: Option<&[u8]>,
        msg_name: Option<(u32, u32)>,
    ) -> Result<(), ErrorKind> {
        // Most atoms meet no rule: say so without a call.
        if !self.has_rules_for(sig) {
            return Ok(());
        }
        let ctx = Ctx {
            args,
            bufs,
            arena,
            control,
            msg_name,
        };
        self.check_atom_rules(sig, ctx)
    }

    /// Whether an argument rule of this policy applies to calls of `sig`:
    /// false exactly when [`check_atom`](Self::check_atom) accepts every
    /// argument value (`check_atom_rules` does nothing for the call). A
    /// validated atom of such a call may be re-aimed at other argument values
    /// without asking the policy again (`ValidatedBatch::reaim_io`).
    #[inline]
    pub(crate) fn has_rules_for(&self, sig: &Signature) -> bool {
        let rule = match sig.rule {
            ArgRule::None => false,
            ArgRule::OpenFlags { .. } | ArgRule::OpenHow { .. } => self.open_forbidden != 0,
            ArgRule::SocketFamily { .. } => self.families.is_some(),
            ArgRule::OwnProcess { .. } | ArgRule::SocketOption { .. } => true,
            ArgRule::SymlinkTarget { .. } | ArgRule::SockAddr { .. } => self.confine.is_some(),
            ArgRule::Sleep { .. } | ArgRule::Msg { .. } => true,
        };
        // Confinement looks only at path calls.
        rule || (self.confine.is_some() && !sig.paths.is_empty())
    }

    fn check_atom_rules(&self, sig: &Signature, ctx: Ctx<'_>) -> Result<(), ErrorKind> {
        match sig.rule {
            ArgRule::None => {}
            ArgRule::OpenFlags { arg } => {
                if self.open_forbidden != 0 {
                    let flags =
                        ctx.imm(arg, "open flags must be an immediate under a flag rule")?;
                    self.check_open_flags(arg, flags)?;
                }
            }
            ArgRule::OpenHow { arg } => {
                if self.open_forbidden != 0 || self.confine.is_some() {
                    let how = ctx.open_how(arg)?;
                    self.check_open_flags(arg, how.flags)?;
                    if let Some(Confinement {
                        mode: ConfineMode::Beneath,
                        ..
                    }) = self.confine
                    {
                        let beneath = libc::RESOLVE_BENEATH | libc::RESOLVE_IN_ROOT;
                        if how.resolve & beneath == 0
                            || how.resolve & libc::RESOLVE_NO_MAGICLINKS == 0
                        {
                            return Err(ErrorKind::ArgRefused {
                                arg,
                                reason: "confinement requires how.resolve to hold \
                                         RESOLVE_BENEATH (or RESOLVE_IN_ROOT) and \
                                         RESOLVE_NO_MAGICLINKS",
                            });
                        }
                    }
                }
            }
            ArgRule::SocketFamily { arg } => {
                if let Some(set) = self.families {
                    let family = ctx.imm(arg, "socket family must be an immediate")?;
                    if !set.contains(family) {
                        return Err(ErrorKind::SocketFamilyRefused { arg, family });
                    }
                }
            }
            // Checked against the socket-option table by the validator,
            // with the lengths it bounds.
            ArgRule::SocketOption { .. } => {}
            ArgRule::Sleep { clock, flags } => {
                let c = ctx.imm(clock, "the clock of a sleep must be an immediate")?;
                let fl = ctx.imm(flags, "the flags of a sleep must be an immediate")?;
                let admitted = signature::SLEEPS
                    .iter()
                    .any(|&(k, fs)| c == k as u64 && fs.iter().any(|&f| fl == f as u64));
                if !admitted {
                    return Err(ErrorKind::ArgRefused {
                        arg: clock,
                        reason: "only relative sleeps on CLOCK_REALTIME, CLOCK_MONOTONIC or \
                                 CLOCK_BOOTTIME, or absolute CLOCK_MONOTONIC deadlines",
                    });
                }
            }
            ArgRule::SymlinkTarget { arg } => {
                if self.confine.is_some() {
                    let target = ctx.frozen_cstr(arg)?;
                    lexically_inside(arg, target)?;
                }
            }
            ArgRule::SockAddr { arg } => {
                if self.confine.is_some() {
                    ctx.not_unix_address(arg)?;
                }
            }
            ArgRule::Msg { msg, flags } => self.check_msg(sig, &ctx, msg, flags)?,
            ArgRule::OwnProcess { arg } => {
                let tgid = ctx.imm(arg, "thread-group id of a signal must be an immediate")?;
                if tgid != std::process::id() as u64 {
                    return Err(ErrorKind::SignalOutsideProcess { arg, tgid });
                }
            }
        }
        if let Some(confine) = self.confine {
            self.check_confined(sig, &ctx, confine)?;
        }
        Ok(())
    }

    /// A message call: a `recvmsg` must hold `MSG_CMSG_CLOEXEC` (an
    /// immediate); a `sendmsg`'s control messages must be of
    /// [`SEND_CONTROL`](signature::SEND_CONTROL), and descriptors only under
    /// [`allow_fd_passing`](Self::allow_fd_passing) and the descriptor rules.
    fn check_msg(
        &self,
        sig: &Signature,
        ctx: &Ctx<'_>,
        msg: u8,
        flags: u8,
    ) -> Result<(), ErrorKind> {
        use abi::kernel::{MSG_CMSG_CLOEXEC, SCM_RIGHTS, SOL_SOCKET};
        let receives = matches!(
            sig.args[msg as usize],
            abi::signature::ArgType::Ptr(abi::signature::Ptr {
                len: abi::signature::Len::Msghdr {
                    dir: abi::signature::Dir::Out
                },
                ..
            })
        );
        if receives {
            let fl = ctx.imm(flags, "the flags of a recvmsg must be an immediate")?;
            if fl & MSG_CMSG_CLOEXEC as u64 == 0 {
                return Err(ErrorKind::ArgRefused {
                    arg: flags,
                    reason: "recvmsg requires MSG_CMSG_CLOEXEC \
                             (a received descriptor would leak across exec)",
                });
            }
            return Ok(());
        }
        if let (Some(_), Some(name)) = (self.confine, ctx.msg_name) {
            ctx.family_not_unix(msg, name)?;
        }
        for cmsg in crate::confine::validate::cmsgs(ctx.control.unwrap_or_default()) {
            let (level, ty, data) = cmsg.map_err(|reason| ErrorKind::BadMsghdr {
                arg: msg,
                field: "msg_control",
                reason,
            })?;
            if !signature::SEND_CONTROL.contains(&(level, ty)) {
                return Err(ErrorKind::ControlMessageRefused {
                    arg: msg,
                    level,
                    ty,
                });
            }
            if (level, ty) == (SOL_SOCKET, SCM_RIGHTS) {
                if !self.fd_passing {
                    return Err(ErrorKind::FdPassingRefused { arg: msg, fd: -1 });
                }
                for fd in data.chunks_exact(4) {
                    let fd = i32::from_le_bytes(fd.try_into().expect("4 bytes"));
                    if fd < 0 || self.confine.is_some_and(|c| c.dirfd == fd) {
                        return Err(ErrorKind::FdPassingRefused { arg: msg, fd });
                    }
                }
            }
        }
        Ok(())
    }

    fn check_open_flags(&self, arg: u8, flags: u64) -> Result<(), ErrorKind> {
        let bad = flags & self.open_forbidden as u64;
        if bad != 0 {
            return Err(ErrorKind::OpenFlagsRefused {
                arg,
                flags,
                forbidden: bad,
            });
        }
        Ok(())
    }

    fn check_confined(
        &self,
        sig: &Signature,
        ctx: &Ctx<'_>,
        confine: Confinement,
    ) -> Result<(), ErrorKind> {
        for path in sig.paths {
            self.check_confined_path(*path, ctx, confine)?;
        }
        Ok(())
    }

    fn check_confined_path(
        &self,
        PathArg {
            dirfd,
            path: path_arg,
            nofollow,
        }: PathArg,
        ctx: &Ctx<'_>,
        confine: Confinement,
    ) -> Result<(), ErrorKind> {
        match ctx.args[dirfd as usize] {
            Src::Imm(fd) if fd as i32 == confine.dirfd => {}
            _ => return Err(ErrorKind::DirfdNotConfined { arg: dirfd }),
        }
        let path = ctx.frozen_cstr(path_arg)?;
        lexically_inside(path_arg, path)?;
        if confine.mode == ConfineMode::Beneath && nofollow == NoFollow::Always {
            return Err(ErrorKind::PathEscapes {
                arg: path_arg,
                reason: "the call always follows a final symlink, which could lead out",
            });
        }
        if confine.mode == ConfineMode::Beneath && nofollow != NoFollow::Resolve {
            if path.contains(&b'/') {
                return Err(ErrorKind::PathEscapes {
                    arg: path_arg,
                    reason: "more than one component without openat2 and RESOLVE_BENEATH \
                             (an intermediate symlink could lead out)",
                });
            }
            // The flag bit confinement requires set (`Flag`) or clear
            // (`FlagClear`), and why.
            let required = match nofollow {
                NoFollow::Flag { arg, bit } => Some((
                    arg,
                    bit,
                    true,
                    "confinement requires O_NOFOLLOW / AT_SYMLINK_NOFOLLOW \
                     (a final symlink could lead out)",
                )),
                NoFollow::FlagClear { arg, bit } => Some((
                    arg,
                    bit,
                    false,
                    "confinement refuses AT_SYMLINK_FOLLOW \
                     (a final symlink could lead out)",
                )),
                _ => None,
            };
            if let Some((flags_arg, bit, set, reason)) = required {
                let flags = ctx.imm(flags_arg, "flags must be an immediate under confinement")?;
                if (flags & bit != 0) != set {
                    return Err(ErrorKind::ArgRefused {
                        arg: flags_arg,
                        reason,
                    });
                }
            }
        }
        Ok(())
    }
}

/// Refuse a path (or symlink target) in argument `arg` that names something
/// outside the directory it is resolved from before any symlink: an absolute
/// one, or one with a `..` component.
fn lexically_inside(arg: u8, path: &[u8]) -> Result<(), ErrorKind> {
    if path.first() == Some(&b'/') {
        return Err(ErrorKind::PathEscapes {
            arg,
            reason: "absolute path",
        });
    }
    if path.split(|&b| b == b'/').any(|c| c == b"..") {
        return Err(ErrorKind::PathEscapes {
            arg,
            reason: "`..` component",
        });
    }
    Ok(())
}

/// One atom's decoded arguments and the batch memory they point into.
struct Ctx<'a> {
    args: &'a [Src],
    bufs: BufTable<'a>,
    arena: &'a [u8],
    /// A `sendmsg`'s control data, as the kernel gets it.
    control: Option<&'a [u8]>,
    /// A `sendmsg`'s destination address: `(arena offset, length)`.
    msg_name: Option<(u32, u32)>,
}

impl Ctx<'_> {
    /// The immediate value of argument `arg`, or `reason` if it is not one.
    fn imm(&self, arg: u8, reason: &'static str) -> Result<u64, ErrorKind> {
        match self.args[arg as usize] {
            Src::Imm(v) => Ok(v),
            _ => Err(ErrorKind::ArgRefused { arg, reason }),
        }
    }

    /// Refuse `start..end` of the arena if a buffer the kernel may write
    /// overlaps it: an earlier atom could change it after validation.
    fn frozen(&self, arg: u8, start: u32, end: u32) -> Result<(), ErrorKind> {
        match self.bufs.first_writer(start as u64, end as u64) {
            Some(buf) => Err(ErrorKind::CheckedMemoryWritable { arg, buf }),
            None => Ok(()),
        }
    }

    /// The string (without its NUL) argument `arg` points to, if no atom can
    /// rewrite it. Validation already found its NUL inside its buffer.
    fn frozen_cstr(&self, arg: u8) -> Result<&[u8], ErrorKind> {
        let Src::Arena(at) = self.args[arg as usize] else {
            unreachable!("strings are arena-only")
        };
        let tail = &self.arena[at as usize..];
        let len = tail
            .iter()
            .position(|&b| b == 0)
            .expect("validation found the NUL");
        self.frozen(arg, at, at + len as u32 + 1)?;
        Ok(&tail[..len])
    }

    /// Refuse an `AF_UNIX` address in argument `arg` (its length in the
    /// next one), read from memory no atom writes ([`ArgRule::SockAddr`]).
    fn not_unix_address(&self, arg: u8) -> Result<(), ErrorKind> {
        let len = self.imm(
            arg + 1,
            "a socket address length must be an immediate under confinement",
        )?;
        match self.args[arg as usize] {
            // sendto without a destination.
            Src::Imm(0) => Ok(()),
            // The validator checked that `len` bytes from `at` lie in the buffer.
            Src::Arena(at) => self.family_not_unix(arg, (at, len as u32)),
            _ => Err(ErrorKind::ArgRefused {
                arg,
                reason: "a socket address must be in the arena under confinement",
            }),
        }
    }

    /// Refuse the address of `len` bytes at arena offset `at` if it is an
    /// `AF_UNIX` one or an atom could make it one after validation. Shorter
    /// than its family field, it names no socket (the kernel says `EINVAL`).
    fn family_not_unix(&self, arg: u8, (at, len): (u32, u32)) -> Result<(), ErrorKind> {
        const FAMILY: u32 = std::mem::size_of::<libc::sa_family_t>() as u32;
        if len < FAMILY {
            return Ok(());
        }
        self.frozen(arg, at, at + FAMILY)?;
        let bytes = &self.arena[at as usize..][..FAMILY as usize];
        if u16::from_ne_bytes([bytes[0], bytes[1]]) == libc::AF_UNIX as u16 {
            return Err(ErrorKind::ArgRefused {
                arg,
                reason: "an AF_UNIX address under confinement (the kernel resolves \
                         its path from the working directory, not the confined \
                         directory, or names an abstract socket)",
            });
        }
        Ok(())
    }

    /// openat2's `open_how` (argument `arg`, its size in the next one), if no
    /// atom can rewrite it.
    fn open_how(&self, arg: u8) -> Result<OpenHow, ErrorKind> {
        let size = self.imm(
            arg + 1,
            "open_how size must be an immediate under a policy rule",
        )?;
        if size < OPEN_HOW_SIZE as u64 {
            return Err(ErrorKind::ArgRefused {
                arg: arg + 1,
                reason: "open_how smaller than its 24-byte first version",
            });
        }
        let Src::Arena(at) = self.args[arg as usize] else {
            return Err(ErrorKind::ArgRefused {
                arg,
                reason: "open_how must be in the arena under a policy rule",
            });
        };
        // The validator checked that `size` bytes from `at` lie in the buffer.
        self.frozen(arg, at, at + size as u32)?;
        let bytes = &self.arena[at as usize..at as usize + OPEN_HOW_SIZE];
        Ok(OpenHow::read_from_bytes(bytes).expect("24 bytes"))
    }
}
