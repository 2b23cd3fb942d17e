//! # Threat model
//!
//! A batch is **untrusted input**: its bytes may come from a C program, another
//! process or a 32-bit producer, and may be crafted to do harm. The process
//! that validates and executes it, the [`Policy`] it chooses, and the
//! descriptors it names in that policy are **trusted**. Two layers stand
//! between the two: validation, for every batch, and a seccomp filter, on the
//! worker threads that execute batches.
//!
//! ## What validation guarantees
//!
//! For a batch that [`EncodedBatch::validate`](crate::EncodedBatch::validate)
//! accepted under a policy, before any atom runs (a refused batch runs
//! nothing, and its [`ValidationError`](crate::ValidationError) names the
//! atom and the reason):
//!
//! * **Only known, allowed calls.** Every atom's number is in the signature
//!   table, allowed by the policy, and not on the fixed
//!   [`DENYLIST`](crate::policy::DENYLIST) (`execve`, `clone`/`fork`, `ptrace`,
//!   `mmap`/`mprotect` with `PROT_EXEC`, `prctl`, `seccomp`, `bpf`,
//!   `io_uring_*`, `process_vm_*`, `kexec_*`, module loading, `reboot`, the
//!   `setuid` family, `unshare`/`setns`, `personality`…), which is checked
//!   first and which no policy can lift.
//! * **Memory safety of every pointer.** Each pointer the kernel receives
//!   points into the batch's own arena, inside a buffer whose direction
//!   (`IN`/`OUT`) matches what the kernel does, and reaches at least as far as
//!   the length the kernel will use (a size argument, a count of fixed-size
//!   elements such as `epoll_pwait`'s events, a fixed struct, a
//!   `socklen_t`, a NUL-terminated string). A value (an immediate, or an
//!   earlier atom's `RESULT`) never becomes a pointer. No two pointer
//!   arguments of one atom reach overlapping memory when the kernel writes
//!   through either of them
//!   ([`ErrorKind::PointerArgsOverlap`](crate::ErrorKind::PointerArgsOverlap)):
//!   the kernel may write one before it reads the other (two it only reads
//!   may share bytes). An iovec array (`readv`, `writev`, `preadv2`,
//!   `pwritev2`) is checked element by element: an immediate count of at most
//!   [`MAX_IOVECS`](crate::abi::MAX_IOVECS), the array in memory no atom
//!   writes, each element inside a buffer of the batch marked for what the
//!   kernel does, no two written elements overlapping
//!   ([`ErrorKind::BadIovec`](crate::ErrorKind::BadIovec) names the element);
//!   the kernel then reads a private copy of the checked elements, never the
//!   arena's array. Lengths and strings an
//!   earlier atom can change are re-checked just before their atom runs. Raw
//!   pointers exist only in batches built in-process, behind a Rust borrow or
//!   an `unsafe` contract; bytes from elsewhere cannot carry one.
//! * **Socket options by table.** `setsockopt`/`getsockopt` name a `(level,
//!   optname)` pair of [`syslets_abi::sockopt::SOCKOPTS`] as immediates; the
//!   value of each is plain bytes of a known size, and `optlen` is bounded in
//!   the unit the kernel counts it in. Every other option is refused
//!   ([`ErrorKind::SockoptRefused`](crate::ErrorKind::SockoptRefused), naming
//!   the level and the option).
//! * **Nothing the executor trusts is reachable.** The [`Completion`](crate::Completion)
//!   (whose results [`take_fds`](crate::ValidatedBatch::take_fds) turns into
//!   `OwnedFd`s) and the plan lie *before* the arena in the batch's storage,
//!   and the kernel writes forward from a pointer into the arena; the fd
//!   bookkeeping (which atoms return, closed or handed out descriptors) lives
//!   in the `ValidatedBatch` itself, outside the storage. The two descriptors
//!   a `socketpair` writes into its arena `int[2]` are copied there as the
//!   call returns, before any later atom can write the buffer (which may not
//!   be a raw region); so are those the `SCM_RIGHTS` messages of a `recvmsg`
//!   carry, parsed from a copy of its control data taken as it returns
//!   (`MSG_CMSG_CLOEXEC` is required, so none leaks across `exec`). So
//!   `take_fds` and `unclosed_fds` only ever name descriptors an atom of this
//!   run returned or received.
//! * **Argument rules** ([`crate::policy`]): forbidden open flags (read-only
//!   policies refuse every way to write, create, truncate or append, in
//!   `openat` and in `openat2`'s `how.flags`); socket families; signals only
//!   to this process (`tgkill`/`rt_tgsigqueueinfo` thread group = our pid);
//!   and confinement of paths to one directory: the directory's descriptor as
//!   an immediate `dirfd` (never another fd, `AT_FDCWD`, or a `RESULT`), no
//!   absolute path, no `..` component, and in
//!   [`ConfineMode::Beneath`](crate::policy::ConfineMode::Beneath) either
//!   `openat2` with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS` (the kernel then
//!   keeps the whole resolution beneath the directory, see
//!   [openat2(2)](https://man7.org/linux/man-pages/man2/openat2.2.html)) or a
//!   single component whose final symlink is not followed (each path of a
//!   two-path call such as `renameat2` or `linkat`; `fchmodat`, which always
//!   follows one, is refused). A `symlinkat` target must be relative and free
//!   of `..`: it is resolved later, from the link's directory, by whoever
//!   follows the link. Under confinement no socket address (`connect`,
//!   `bind`, `sendto`, a `sendmsg`'s `msg_name`) may be `AF_UNIX`: the kernel
//!   resolves `sun_path` from the working directory, not the confined one
//!   (and a `bind` creates the socket file), and an abstract name reaches
//!   whatever listens on it. Everything a rule
//!   reads from the arena (paths, symlink targets, `open_how`; no rule reads
//!   socket addresses today) lies in memory no atom may write
//!   ([`ErrorKind::CheckedMemoryWritable`](crate::ErrorKind::CheckedMemoryWritable)
//!   otherwise), so an earlier atom cannot rewrite what a rule checked.
//!
//! ## Why the remaining run-time checks suffice
//!
//! After validation, a batch's pointers and the extent of memory each may
//! touch are fixed, and the batch owns its storage (and borrows its raw
//! regions) exclusively while it runs. What can still change between
//! validation and an atom's call is only (a) arena bytes that an earlier
//! atom's `OUT` buffer covers and (b) the values of `RESULT` arguments. Every
//! input to the kernel of either kind is handled:
//!
//! * a length that is a `RESULT` is compared with its buffer just before the
//!   call (too long: the atom returns `-EFAULT`, unissued);
//! * a value-result length (`socklen_t` of `getsockopt`, `recvfrom`, `getsockname`, `getpeername`,
//!   `accept4`) must lie in the arena and is compared with its buffer just
//!   before the call, whatever an earlier atom wrote there. Within the call,
//!   the kernel reads it before it writes through the buffer it bounds, and
//!   no other pointer of the same atom overlaps it, so nothing the call
//!   writes can change it first (that overlap let a `recvfrom` write its data
//!   over its own `addrlen`, then copy a 48-byte address into 4 bytes);
//! * a string an `OUT` buffer overlaps is checked for its NUL just before the
//!   call;
//! * memory a policy rule read cannot be written at all (above), so it needs
//!   no run-time check;
//! * what the kernel writes is bounded by the length it is told, in the unit
//!   the signature table (or, for socket options, the option table) says;
//!   `tests/sockopt.rs` checks on the running kernel that every readable
//!   option writes at most `optlen` bytes and reports no longer length, and
//!   `tests/layouts.rs` checks, for random chains and random buffer layouts,
//!   that no write lands outside the declared `OUT` regions.
//!
//! ## Kernel interfaces with pointers inside values
//!
//! Of the calls of the signature table, iovec arrays, `msghdr`s and socket
//! option values hold pointers the kernel follows or descriptors it acts on
//! (`open_how`, `stat`, `statx`, socket addresses and `siginfo` are plain
//! data; no `ioctl` is in the table). Iovec arrays and `msghdr`s are read once
//! at validation, every pointer checked against its buffer and direction, and
//! the kernel gets private copies; the rest is in the table below. Each
//! refused option is refused by validation *and* by the worker's filter (its
//! `(level, optname)` pair is not in the table):
//!
//! | option | what its value holds | handling |
//! | --- | --- | --- |
//! | `TCP_ZEROCOPY_RECEIVE` (get) | `tcp_zerocopy_receive`: `address` the kernel maps pages at, `copybuf_address` it copies data to, `msg_control` it writes cmsgs to | refused |
//! | `SO_ATTACH_FILTER`, `SO_ATTACH_REUSEPORT_CBPF` (set) | `sock_fprog` whose `filter` pointer the kernel reads | refused |
//! | `SO_GET_FILTER` (get) | `optlen` counts 8-byte instructions, not bytes | refused |
//! | `SO_ATTACH_BPF`, `SO_ATTACH_REUSEPORT_EBPF` (set) | a BPF program descriptor | refused |
//! | `IPT_SO_SET_REPLACE`, `IP6T_SO_SET_REPLACE` (set) | `ipt_replace` whose `counters` pointer the kernel writes through | refused |
//! | `IP_MSFILTER`, `MCAST_MSFILTER` (get) | a count of the addresses that follow | refused |
//! | `SO_ZEROCOPY` (set) | enables sends whose buffers the kernel reads after the call | refused |
//! | `SO_PEERPIDFD` (get) | installs a descriptor no atom returns | refused |
//! | `TCP_ULP` (set) | attaches kTLS, whose own options hold key material and more | refused |
//! | any other option outside the table, any level outside it | unknown | refused |
//! | `sendmsg`/`recvmsg` `msghdr` | pointers to an address, an iovec array (pointers to data) and control data | each checked against its buffer and the call's direction (`BadMsghdr`, `BadIovec`); a `sendmsg` header and every iovec array in memory no atom writes; what a `recvmsg` writes pairwise disjoint; the kernel gets a private header, a private iovec array and, for `sendmsg`, the control bytes the policy checked |
//! | `SCM_RIGHTS` in `sendmsg` | descriptors of this process, handed to the peer | refused unless [`Policy::allow_fd_passing`](crate::Policy::allow_fd_passing); then never a negative number or the confined directory (`FdPassingRefused`) |
//! | other control messages in `sendmsg` (`SCM_CREDENTIALS`, `IP_PKTINFO`, …) | identities, routing | refused (`ControlMessageRefused`; [`SEND_CONTROL`](syslets_abi::signature::SEND_CONTROL) lists what passes) |
//! | `SCM_RIGHTS` in `recvmsg` | descriptors the kernel installs in this process | `MSG_CMSG_CLOEXEC` required (validation and filter); owned by the batch (`unclosed_fds`, `take_fds`); with `MSG_CTRUNC` only those installed |
//! | control data of an i386 producer | 12-byte, 4-byte aligned `cmsghdr`s | converted by the translator (a malformed `cmsg_len` is `BadControl`), then checked as native control data; a `recvmsg`'s messages converted back at write-back, its descriptors owned by the native batch |
//!
//! The socket options' list is [`syslets_abi::sockopt::REFUSED`]; new table entries must be
//! plain bytes of a known size.
//!
//! ## What the seccomp layer adds
//!
//! Worker threads install the filter [`Policy::seccomp_filter`] generates
//! ([`crate::seccomp`], see
//! [seccomp(2)](https://man7.org/linux/man-pages/man2/seccomp.2.html)) before
//! they run any batch. Then, on that thread, **the kernel** enforces:
//!
//! * only the policy's calls plus the worker machinery's own
//!   ([`MACHINERY`](crate::seccomp::MACHINERY), each justified) succeed;
//!   everything else fails with `EPERM`, whatever validation let through — a
//!   wrong signature-table entry or a missed check in validation still cannot
//!   reach a call outside the allowlist;
//! * the denylist again (`mmap`/`mprotect` only without `PROT_EXEC`);
//! * register-level argument rules: `openat` flags, socket family, the
//!   `(level, optname)` pair of `setsockopt`/`getsockopt`, the signal
//!   target's thread group, the confinement `dirfd`, `MSG_CMSG_CLOEXEC` in
//!   `recvmsg`'s flags, `write` only to stderr and the worker's eventfd when
//!   the policy has no `write`;
//! * a foreign architecture (`int 0x80`) or an x32 number kills the process —
//!   except the i386 `getdents64` and `_llseek` the executor issues for a
//!   32-bit producer's batch, when the policy allows `getdents64`/`lseek`;
//! * `no_new_privs`: the thread can never gain privileges.
//!
//! ## At run time: where a chain runs, and when
//!
//! * **Never unfiltered on the executor's behalf.** A chain handed to the
//!   executor's workers runs on a worker, under the filter, or not at all.
//!   When no worker thread can be started (thread creation fails with no
//!   worker left, e.g. under a tight `RLIMIT_AS` or `RLIMIT_NPROC`) the
//!   submitting thread, which has no filter, does not run it: the rest of
//!   the chain is cancelled and its completion posted at once with
//!   `COMPLETION_CANCELED` and the thread creation's `-errno` as status
//!   (`-EAGAIN`), the way a worker that cannot install its filter fails its
//!   chains. Only an executor built with
//!   [`seccomp(false)`](crate::ExecutorBuilder::seccomp), whose workers
//!   would be as unconfined as the submitter, runs it there. (Atoms that run
//!   *inline* — `BATCH_SYNC`, and the default mode's non-blocking atoms — run
//!   on the caller's thread by design, see below.)
//! * **Signals stay in the validating process across `fork()`.** The policy
//!   fixes the thread group of `tgkill` and `rt_tgsigqueueinfo` to the pid of
//!   the process that validates the batch. A [`ValidatedBatch`] carried into
//!   a child of `fork()` would signal the parent; there each of these atoms
//!   is not issued and returns `-ESRCH`, inline, through
//!   [`Executor`](crate::Executor) or on a worker (validate the batch again
//!   in the child to signal the child). The check compares the atom's thread
//!   group with this process's pid as a `pthread_atfork` child handler keeps
//!   it: one load per signal atom, no `getpid`. A child made without libc's
//!   `fork()` (a raw `clone` system call, glibc's `_Fork`) runs no fork
//!   handler and is not recognised. The filter bakes the pid in too: an
//!   executor made before the fork refuses every call in the child
//!   ([`ExecutorError::Forked`](crate::ExecutorError::Forked)).
//! * **No panic across `extern "C"`.** Timeouts use checked arithmetic: in
//!   the Rust API ([`Executor::wait`](crate::Executor::wait),
//!   [`aio::aio_suspend`](crate::aio::aio_suspend)) a timeout beyond the
//!   clock's range is no timeout; the C `aio_suspend` does what glibc does
//!   with a timeout whose end overflows `time_t` (its sum wraps into the
//!   past: `-1`, `EAGAIN` at once). Any panic left in a C entry point is
//!   caught there and reported as `-1` with `EAGAIN` (calls that queue or
//!   wait) or `EINVAL` (the others) instead of aborting the program.
//!
//! ## What neither covers
//!
//! * **Memory the filter cannot see.** Seccomp reads registers only: paths,
//!   `open_how` and socket addresses are checked by validation alone, and a
//!   filtered thread could pass any path to an allowed path call.
//! * **Path races.** In [`ConfineMode::Lexical`](crate::policy::ConfineMode::Lexical)
//!   a symlink inside the directory (existing, or created concurrently by
//!   someone else) is followed wherever it points, and a directory renamed out
//!   of the tree while a lookup walks through it takes the lookup outside. In
//!   `Beneath` mode `openat2` refuses symlinks that lead out (`EXDEV`) and
//!   `..` races (`EAGAIN`), but the kernel checks jumps (`..`, symlinks), not
//!   each downward step: a directory renamed out of the tree while a lookup
//!   walks down through it still ends the lookup outside (only someone who
//!   may rename inside the tree can do that). Mount points inside the
//!   directory are crossed (a bind mount of `/` there is "beneath";
//!   `RESOLVE_NO_XDEV` is not required), and a hard link inside the directory
//!   is the file it links to, wherever else that lives (`linkat` can only
//!   link names inside the directory, but a file that already has a link
//!   outside is shared). A relative `symlinkat` target may still name a
//!   symlink inside the directory that someone else pointed outside; only
//!   kernel resolution (`openat2` with `RESOLVE_BENEATH`) keeps following it
//!   inside. The single-component
//!   calls of `Beneath` mode resolve nothing but their last name, but that
//!   name may be swapped between two atoms of a chain (a `newfstatat` and a
//!   later `openat` may see different files). The policy records the
//!   directory's descriptor number: closing it while batches run lets another
//!   descriptor take the number.
//! * **Descriptors the process already has.** Fd arguments that are
//!   immediates may name any descriptor of the process — stdin/stdout, a
//!   socket, the ring's eventfd, a file owned by a Rust `File` (a `close` atom
//!   on it breaks that object's ownership). Neither layer restricts fd
//!   numbers, except `dirfd` under confinement and `write` in the filter.
//!   Socket families are checked at `socket()` and `socketpair()` only, not on sockets the
//!   process already has. The socket-option table gives the meaning of each
//!   pair on `AF_UNIX`, `AF_INET` and `AF_INET6` sockets; on a socket of
//!   another family (one the process already has, or one a policy with
//!   [`Policy::any_socket_family`](crate::Policy::any_socket_family) lets a
//!   batch open) the same numbers may name another option.
//! * **What allowed calls do.** An allowed `unlinkat` removes any file the
//!   process may remove (within the directory when confined); an allowed
//!   `write` writes to any descriptor; `connect` reaches any address.
//! * **Resource exhaustion.** A batch has at most 64 atoms and a bounded
//!   arena, but batches can be submitted again and again: descriptors not
//!   closed (`EMFILE`), disk space (`write`, `fallocate`, `mkdirat`), workers
//!   tied up by calls that block (a `read` on a pipe, a `connect` to a black
//!   hole).
//! * **Signals to our own threads.** `tgkill` to this process may send
//!   `SIGKILL` or `SIGSTOP` (ending or stopping the whole process), or a signal
//!   whose handler runs in the middle of another thread's work;
//!   `rt_tgsigqueueinfo` may choose its own `siginfo` for our threads. Drop
//!   [`Class::Signal`](syslets_abi::signature::Class::Signal) from the policy
//!   when batches need no signals.
//! * **Code execution in the process.** The filter is per thread, and
//!   threads share one address space: a worker compromised by a memory
//!   corruption bug could write into another, unfiltered thread's memory and
//!   make it issue any call. The filter contains a validation bug, not an
//!   attacker running code in the process. Batches run inline with
//!   [`ValidatedBatch::run`](crate::ValidatedBatch::run) execute on the
//!   caller's thread, which has no filter unless the caller installed one.
//! * **The process's own state.** A pid baked into a filter at generation
//!   time is the generating process's (regenerate after `fork`; a validated
//!   batch's signal atoms refuse to run in the child, see above); a process
//!   running with the `READ_IMPLIES_EXEC` personality (legacy binaries with an
//!   executable stack) gets executable mappings from `PROT_READ`, which the
//!   `PROT_EXEC` rule cannot see; kernel bugs are out of scope.
//!
//! [`Policy`]: crate::Policy
//! [`ValidatedBatch`]: crate::ValidatedBatch
//! [`Policy::seccomp_filter`]: crate::Policy::seccomp_filter
