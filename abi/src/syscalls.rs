//! The system-call table: one row per call a batch may name, and the only
//! place a call is described.
//!
//! A row gives the native (x86_64) number and name; the [`Signature`] fields
//! that differ from the defaults (argument kinds, pointer directions and
//! lengths, class, blocking hint, descriptors, path and no-follow rule, policy
//! rule, transfer kind, non-blocking probe, cost, i386 route); the i386 calls
//! and `socketcall` calls that become it, with how their arguments convert;
//! and its typed builder (name, man page, required and optional fields, how
//! the fields become arguments). Everything else is derived from the rows:
//!
//! | derived | where |
//! |---|---|
//! | native numbers | [`nr`](crate::nr) (and `SYSLET_NR_*` in `syslet.h`, checked against it) |
//! | [`SIGNATURES`], lookup, [`returns_fd`] | [`signature`](crate::signature) |
//! | i386 numbers, the compat table, the untranslated `socketcall` calls | [`compat32`](crate::compat32), `syslets_compat::table` |
//! | the builders | `syslets::opcode` |
//! | the policy's per-call rules and no-follow rule, the seccomp filter's argument rules and path list | `syslets::policy`, `syslets::seccomp`, from [`Signature::paths`] and [`Signature::rule`] |
//! | the executor's probe dispatch, re-aiming, recycling and cost estimate | from [`Signature::nowait`], [`Signature::io`], [`Signature::fds`] and [`Signature::cost`] |
//! | the i386-entry route of compat batches, the seccomp filter's i386 numbers | from [`Signature::via_i386`] |
//!
//! The table is a `macro_rules!` callback ([`for_each_syscall!`]) rather
//! than a `build.rs` step: the rows are Rust tokens, so the builders' field
//! types and argument expressions stay ordinary code that the compiler checks
//! where they are expanded, nothing is generated into files, and any crate can
//! expand the rows again (the main crate does, for its builders).
//! [`for_each_syscall!`] parses the row grammar once and hands each callback
//! uniform sections, so a callback matches only the parts it uses.
//!
//! # Adding a system call
//!
//! 1. **One row** in the table below, with the rows of its kind (the table is
//!    grouped, not sorted: [`SIGNATURES`] is sorted at compile time). Its doc comment is the
//!    builder's doc line (the man page link is added from the name in
//!    `builder Type("page")`). Name the [`Signature`] fields that differ from
//!    the defaults, the i386 calls (numbers from
//!    `arch/x86/entry/syscalls/syscall_32.tbl`) and `socketcall` calls that
//!    become it, and the builder's fields and argument expressions.
//! 2. **One line** `#define SYSLET_NR_<NAME> <nr>` in `abi/include/syslet.h`,
//!    the header C producers read (the conformance test names a missing or
//!    wrong line).
//! 3. **Its tests**: an entry in `tests/builders.rs` (every builder's atom
//!    validates) and a test that runs it on the real kernel, inline and on a
//!    seccomp-filtered worker (and through compat when it has i386 calls).
//!
//! Nothing else is edited: the number constants, [`SIGNATURES`], the compat
//! tables, the builder, the policy's and the seccomp filter's rules and the
//! executor's fast paths all follow from the row. These tests fail when a row
//! and what is derived from it disagree:
//!
//! - this crate: the numbers are unique, its lengths name sizes, and
//!   every row's fields fit its arguments as their consumers read them
//!   (`signature`); every i386 entry consumes exactly its words and every
//!   native call is reachable from i386 (`compat32`);
//! - `tests/abi_conformance.rs`: `syslet.h` defines exactly one
//!   `SYSLET_NR_*` per row with the row's number, built with `cc`, `cc -m32`
//!   and `c++`; every number is the kernel headers' `__NR_<name>`;
//! - `tests/compat_conformance.rs`: every i386 number is the i386
//!   `SYS_<name>` of the kernel headers;
//! - both: a call newer than the installed headers (`fchmodat2`) may be
//!   missing from them only when `tests/common/newer_calls.rs` lists it,
//!   with the kernel table's numbers, which the row must have;
//! - `tests/builders.rs`: the builders and the table cover the same calls;
//! - `syslets::sys::compat32`: every row with a `via_i386` has its route.
//!
//! A row that needs a kind the vocabulary lacks (a new [`ArgRule`], [`Nowait`],
//! [`Io`] or [`ArgMap`] variant, a new `via_i386` route) also needs the code
//! that gives the new kind its meaning, in the consumer the kind is for; the
//! `match`es on these enums are exhaustive, so the compiler lists those places.
//!
//! [`Signature`]: crate::signature::Signature
//! [`Signature::paths`]: crate::signature::Signature::paths
//! [`Signature::rule`]: crate::signature::Signature::rule
//! [`Signature::nowait`]: crate::signature::Signature::nowait
//! [`Signature::io`]: crate::signature::Signature::io
//! [`Signature::fds`]: crate::signature::Signature::fds
//! [`Signature::cost`]: crate::signature::Signature::cost
//! [`Signature::via_i386`]: crate::signature::Signature::via_i386
//! [`SIGNATURES`]: crate::signature::SIGNATURES
//! [`returns_fd`]: crate::signature::returns_fd
//! [`ArgRule`]: crate::signature::ArgRule
//! [`Nowait`]: crate::signature::Nowait
//! [`Io`]: crate::signature::Io
//! [`ArgMap`]: crate::signature::ArgMap

pub use crate::for_each_syscall;

/// Expands `$callback! { rows }` with every row of the system-call table,
/// each digested into uniform sections.
///
/// The table is written in the row grammar below, which only this macro
/// parses. A callback receives every row as one brace group holding six
/// sections, always in this order and always present (an empty list stays an
/// empty `[]`):
///
/// ```text
/// {
///     nr [ NAME = x86_64 number, "name" ]
///     doc [ #[doc = "…"]… ]
///     builder [ Type("man page") { required: Type, …; /// doc
///               optional: Type = default, … } |s| [ argument expressions ] ]
///     signature [ field: value, … ]
///     i386 [ [ I386NAME = number, "name", nargs, &[ArgMap…], convention ] … ]
///     socketcall [ [ CALLNAME = call, "name", nargs, &[ArgMap…] ] … ]
/// }
/// ```
///
/// so a callback names the sections it uses and skips the rest of a row with
/// `$($rest:tt)*`; for instance, the native names alone:
///
/// ```
/// macro_rules! names {
///     ($( { nr [$NR:ident = $num:literal, $name:literal] $($rest:tt)* } )*) => {
///         const NAMES: &[&str] = &[$($name),*];
///     };
/// }
/// syslets_abi::for_each_syscall!(names);
/// assert_eq!(NAMES.len(), syslets_abi::signature::SIGNATURES.len());
/// assert_eq!(NAMES[0], "read");
/// ```
///
/// The `signature` values are expressions in the scope of
/// [`signature`](crate::signature) (only its table expands them); the
/// `convention` of an i386 call is its `=> Convention` or
/// [`Convention::Plain`](crate::signature::Convention::Plain); the builder
/// section is tokens for the builder macro of `syslets`.
///
/// A row of the table, as written below, reads
///
/// ```text
/// /// builder doc
/// NAME = x86_64 number, "name" { Signature fields that are not the default, }
/// i386 [ I386NAME = number, "name", nargs, &[ArgMap…] (=> Convention)?; … ]
/// socketcall [ CALLNAME = call, "name", nargs, &[ArgMap…]; … ]
/// builder Type("man page") { required: Type, …; /// doc
///     optional: Type = default, … }
/// |s| [ argument expressions ];
/// ```
#[macro_export]
macro_rules! for_each_syscall {
    // The one parser of the row grammar: digests the rows for `$callback`.
    (@digest $callback:ident; $(
        $(#[$meta:meta])*
        $NR:ident = $num:literal, $name:literal { $($field:ident : $value:expr),* $(,)? }
        i386 [ $( $N32:ident = $n32:literal, $name32:literal, $nargs32:literal, $map32:expr $(=> $conv:expr)? );* $(;)? ]
        socketcall [ $( $SC:ident = $call:literal, $scname:literal, $scnargs:literal, $scmap:expr );* $(;)? ]
        builder $builder:ident ($man:literal) { $($fields:tt)* } |$s:ident| [ $($args:tt)* ];
    )*) => {
        $callback! { $(
            {
                nr [$NR = $num, $name]
                doc [$(#[$meta])*]
                builder [$builder ($man) { $($fields)* } |$s| [ $($args)* ]]
                signature [$($field: $value,)*]
                i386 [$([
                    $N32 = $n32, $name32, $nargs32, $map32,
                    $crate::__convention_or_plain!($($conv)?)
                ])*]
                socketcall [$([$SC = $call, $scname, $scnargs, $scmap])*]
            }
        )* }
    };
    ($callback:ident) => {
        $crate::for_each_syscall! { @digest $callback;
            /// Read from a file descriptor at its current offset.
            READ = 0, "read" {
                args: &[Fd, ptr(Out, Len::Arg(2)), Size],
                class: Class::FileRead,
                blocking: Blocking::Storage,
                io: Io::Read,
                nowait: Nowait::Io,
            }
            i386 [
                READ = 3, "read", 3, W0_2;
            ]
            socketcall []
            builder Read("read") {
                fd: Fd, buf: Mem;
                /// How many bytes.
                len: Len = Len::Whole,
            }
            |s| [s.fd.into_arg(), s.buf.into_arg(), s.len.arg_for(s.buf)];

            /// Write to a file descriptor at its current offset.
            WRITE = 1, "write" {
                args: &[Fd, ptr(In, Len::Arg(2)), Size],
                class: Class::FileWrite,
                blocking: Blocking::Storage,
                io: Io::Write,
                nowait: Nowait::Io,
            }
            i386 [
                WRITE = 4, "write", 3, W0_2;
            ]
            socketcall []
            builder Write("write") {
                fd: Fd, buf: Mem;
                /// How many bytes.
                len: Len = Len::Whole,
            }
            |s| [s.fd.into_arg(), s.buf.into_arg(), s.len.arg_for(s.buf)];

            /// Close a file descriptor.
            CLOSE = 3, "close" {
                args: &[Fd],
                class: Class::Fd,
                blocking: Blocking::Never,
                fds: Fds::Closes { arg: 0 },
            }
            i386 [
                CLOSE = 6, "close", 1, W0;
            ]
            socketcall []
            builder Close("close") { fd: Fd; }
            |s| [s.fd.into_arg()];

            /// Get file status by descriptor.
            FSTAT = 5, "fstat" {
                args: &[Fd, STAT_OUT],
                class: Class::FileRead,
                blocking: Blocking::Never,
            }
            i386 [
                FSTAT64 = 197, "fstat64", 2, &[Word(0), Stat64Out(1)];
            ]
            socketcall []
            builder Fstat("fstat") { fd: Fd, statbuf: Out<kernel::Stat>; }
            |s| [s.fd.into_arg(), s.statbuf.into_arg()];

            /// Reposition a file offset.
            LSEEK = 8, "lseek" {
                args: &[Fd, Off, UInt],
                class: Class::Fd,
                blocking: Blocking::Never,
                via_i386: Some(nr32_table::LLSEEK),
            }
            i386 [
                // compat_sys_lseek: the offset is a signed 32-bit compat_off_t.
                LSEEK = 19, "lseek", 3, W0_2;
                // offset = (offset_high << 32) | offset_low: words 1 (high) and 2 (low).
                LLSEEK = 140, "_llseek", 5, &[Word(0), Pair { lo: 2, hi: 1 }, Word(4)]
                    => Convention::Llseek { result_arg: 3 };
            ]
            socketcall []
            builder Lseek("lseek") { fd: Fd, offset: i64, whence: i32; }
            |s| [s.fd.into_arg(), s.offset.into_arg(), s.whence.into_arg()];

            /// Read from a file descriptor at an offset.
            PREAD64 = 17, "pread64" {
                args: &[Fd, ptr(Out, Len::Arg(2)), Size, Off],
                class: Class::FileRead,
                blocking: Blocking::Storage,
                io: Io::Pread,
                nowait: Nowait::Io,
            }
            i386 [
                PREAD64 = 180, "pread64", 5, &[Word(0), Word(1), Word(2), Pair { lo: 3, hi: 4 }];
            ]
            socketcall []
            builder Pread64("pread64") {
                fd: Fd, buf: Mem, offset: Offset;
                /// How many bytes.
                len: Len = Len::Whole,
            }
            |s| [s.fd.into_arg(), s.buf.into_arg(), s.len.arg_for(s.buf), s.offset.into_arg()];

            /// Write to a file descriptor at an offset.
            PWRITE64 = 18, "pwrite64" {
                args: &[Fd, ptr(In, Len::Arg(2)), Size, Off],
                class: Class::FileWrite,
                blocking: Blocking::Storage,
                io: Io::Pwrite,
                nowait: Nowait::Io,
            }
            i386 [
                PWRITE64 = 181, "pwrite64", 5, &[Word(0), Word(1), Word(2), Pair { lo: 3, hi: 4 }];
            ]
            socketcall []
            builder Pwrite64("pwrite64") {
                fd: Fd, buf: Mem, offset: Offset;
                /// How many bytes.
                len: Len = Len::Whole,
            }
            |s| [s.fd.into_arg(), s.buf.into_arg(), s.len.arg_for(s.buf), s.offset.into_arg()];

            /// The process id.
            GETPID = 39, "getpid" {
                args: &[],
                class: Class::Info,
                blocking: Blocking::Never,
            }
            i386 [
                GETPID = 20, "getpid", 0, &[];
            ]
            socketcall []
            builder Getpid("getpid") { ; }
            |_s| [];

            /// Copy data between descriptors in the kernel, from `in_fd` at
            /// `*offset` (which it advances), or at its file offset when
            /// `offset` is `None`.
            SENDFILE = 40, "sendfile" {
                args: &[Fd, Fd, OFFSET_PTR, Size],
                class: Class::FileWrite,
                blocking: Blocking::Network,
            }
            i386 [
                // sendfile(out, in, compat_off_t *offset, count): the 32-bit
                // offset is widened up front and stored back after the run.
                SENDFILE = 187, "sendfile", 4, &[Word(0), Word(1), Off32InOut { offset: 2, count: 3 }, Word(3)];
                // sendfile64: a loff_t pointer, the native layout.
                SENDFILE64 = 239, "sendfile64", 4, W0_3;
            ]
            socketcall []
            builder Sendfile("sendfile") {
                out_fd: Fd, in_fd: Fd, count: u64;
                /// An 8-byte `loff_t` buffer (in and out) for the input offset.
                offset: Option<BufRef> = None,
            }
            |s| [s.out_fd.into_arg(), s.in_fd.into_arg(), null_or(s.offset), s.count.into_arg()];

            /// Create a socket.
            SOCKET = 41, "socket" {
                args: &[Int, Int, Int],
                class: Class::Socket,
                blocking: Blocking::Never,
                fds: Fds::Returns,
                rule: ArgRule::SocketFamily { arg: 0 },
            }
            i386 [
                SOCKET = 359, "socket", 3, W0_2;
            ]
            socketcall [
                SOCKET = 1, "socket", 3, W0_2;
            ]
            builder Socket("socket") {
                domain: i32, ty: i32;
                /// Protocol.
                protocol: i32 = 0,
            }
            |s| [s.domain.into_arg(), s.ty.into_arg(), s.protocol.into_arg()];

            /// Connect a socket.
            CONNECT = 42, "connect" {
                args: &[Fd, ptr(In, Len::Arg(2)), UInt],
                class: Class::NetClient,
                blocking: Blocking::Network,
                rule: ArgRule::SockAddr { arg: 1 },
            }
            i386 [
                CONNECT = 362, "connect", 3, W0_2;
            ]
            socketcall [
                CONNECT = 3, "connect", 3, W0_2;
            ]
            builder Connect("connect") { fd: Fd, addr: SockAddr; }
            |s| [s.fd.into_arg(), s.addr.buf.into_arg(), s.addr.len.into_arg()];

            /// Send data, optionally to an address.
            SENDTO = 44, "sendto" {
                args: &[
                    Fd,
                    ptr(In, Len::Arg(2)),
                    Size,
                    UInt,
                    nullable(In, Len::Arg(5)),
                    UInt,
                ],
                class: Class::NetIo,
                blocking: Blocking::Network,
                nowait: Nowait::DontWait,
                rule: ArgRule::SockAddr { arg: 4 },
            }
            i386 [
                SENDTO = 369, "sendto", 6, W0_5;
            ]
            socketcall [
                // send(fd, buf, len, flags) is sendto(fd, buf, len, flags, NULL, 0).
                SEND = 9, "send", 4, &[Word(0), Word(1), Word(2), Word(3), Const(0), Const(0)];
                SENDTO = 11, "sendto", 6, W0_5;
            ]
            builder Sendto("sendto") {
                fd: Fd, buf: Mem;
                /// How many bytes.
                len: Len = Len::Whole,
                /// `MSG_*` flags.
                flags: u32 = libc::MSG_NOSIGNAL as u32,
                /// Destination for unconnected sockets.
                dest: Option<SockAddr> = None,
            }
            |s| [
                s.fd.into_arg(),
                s.buf.into_arg(),
                s.len.arg_for(s.buf),
                s.flags.into_arg(),
                null_or(s.dest.map(|d| d.buf)),
                s.dest.map_or(0, |d| d.len).into_arg(),
            ];

            /// Receive data, optionally with the sender's address.
            RECVFROM = 45, "recvfrom" {
                args: &[
                    Fd,
                    ptr(Out, Len::Arg(2)),
                    Size,
                    UInt,
                    nullable(Out, Len::ArgPtr(5)),
                    SOCKLEN_PTR,
                ],
                class: Class::NetIo,
                blocking: Blocking::Network,
                nowait: Nowait::DontWait,
            }
            i386 [
                RECVFROM = 371, "recvfrom", 6, W0_5;
            ]
            socketcall [
                // recv(fd, buf, len, flags) is recvfrom(fd, buf, len, flags, NULL, NULL).
                RECV = 10, "recv", 4, &[Word(0), Word(1), Word(2), Word(3), Const(0), Const(0)];
                RECVFROM = 12, "recvfrom", 6, W0_5;
            ]
            builder Recvfrom("recvfrom") {
                fd: Fd, buf: Mem;
                /// How many bytes.
                len: Len = Len::Whole,
                /// `MSG_*` flags.
                flags: u32 = 0,
                /// Where to store the sender's address.
                src: Option<SockAddrOut> = None,
            }
            |s| [
                s.fd.into_arg(),
                s.buf.into_arg(),
                s.len.arg_for(s.buf),
                s.flags.into_arg(),
                null_or(s.src.map(|a| a.addr)),
                null_or(s.src.map(|a| a.len)),
            ];

            /// Send a message: the buffers of an iovec array, optionally to
            /// an address, with control messages (`signature::SEND_CONTROL`:
            /// only `SCM_RIGHTS`, and only under a policy that allows
            /// descriptor passing). `msg` is a `MsgHdr` made by
            /// `Chain::msghdr`.
            SENDMSG = 46, "sendmsg" {
                args: &[Fd, MSGHDR_IN, UInt],
                class: Class::NetIo,
                blocking: Blocking::Network,
                rule: ArgRule::Msg { msg: 1, flags: 2 },
            }
            i386 [
                SENDMSG = 370, "sendmsg", 3, MSG32;
            ]
            socketcall [
                SENDMSG = 16, "sendmsg", 3, MSG32;
            ]
            builder Sendmsg("sendmsg") {
                fd: Fd, msg: Msghdr;
                /// `MSG_*` flags.
                flags: u32 = libc::MSG_NOSIGNAL as u32,
            }
            |s| [s.fd.into_arg(), s.msg.into_arg(), s.flags.into_arg()];

            /// Receive a message into the buffers of an iovec array, with
            /// the sender's address and control messages. Descriptors
            /// received in `SCM_RIGHTS` messages are the chain's, like
            /// those other atoms open (`ValidatedBatch::unclosed_fds`,
            /// `take_fds`); `flags` must
            /// hold `MSG_CMSG_CLOEXEC`. After the call the `MsgHdr` holds
            /// the kernel's `msg_namelen`, `msg_controllen` and `msg_flags`
            /// (`MSG_CTRUNC`: control data was lost, and with it any
            /// descriptor that did not fit).
            RECVMSG = 47, "recvmsg" {
                args: &[Fd, MSGHDR_OUT, UInt],
                class: Class::NetIo,
                blocking: Blocking::Network,
                fds: Fds::Received { arg: 1 },
                rule: ArgRule::Msg { msg: 1, flags: 2 },
                nowait: Nowait::DontWaitMsg,
            }
            i386 [
                RECVMSG = 372, "recvmsg", 3, MSG32;
            ]
            socketcall [
                RECVMSG = 17, "recvmsg", 3, MSG32;
            ]
            builder Recvmsg("recvmsg") {
                fd: Fd, msg: Msghdr;
                /// `MSG_*` flags (`MSG_CMSG_CLOEXEC` required).
                flags: u32 = libc::MSG_CMSG_CLOEXEC as u32,
            }
            |s| [s.fd.into_arg(), s.msg.into_arg(), s.flags.into_arg()];

            /// Shut down part of a connection.
            SHUTDOWN = 48, "shutdown" {
                args: &[Fd, Int],
                class: Class::Socket,
                blocking: Blocking::Never,
            }
            i386 [
                SHUTDOWN = 373, "shutdown", 2, W0_1;
            ]
            socketcall [
                SHUTDOWN = 13, "shutdown", 2, W0_1;
            ]
            builder Shutdown("shutdown") { fd: Fd, how: i32; }
            |s| [s.fd.into_arg(), s.how.into_arg()];

            /// Bind a socket to an address.
            BIND = 49, "bind" {
                args: &[Fd, ptr(In, Len::Arg(2)), UInt],
                class: Class::NetServer,
                blocking: Blocking::Never,
                rule: ArgRule::SockAddr { arg: 1 },
            }
            i386 [
                BIND = 361, "bind", 3, W0_2;
            ]
            socketcall [
                BIND = 2, "bind", 3, W0_2;
            ]
            builder Bind("bind") { fd: Fd, addr: SockAddr; }
            |s| [s.fd.into_arg(), s.addr.buf.into_arg(), s.addr.len.into_arg()];

            /// Listen for connections.
            LISTEN = 50, "listen" {
                args: &[Fd, Int],
                class: Class::NetServer,
                blocking: Blocking::Never,
            }
            i386 [
                LISTEN = 363, "listen", 2, W0_1;
            ]
            socketcall [
                LISTEN = 4, "listen", 2, W0_1;
            ]
            builder Listen("listen") {
                fd: Fd;
                /// Backlog.
                backlog: i32 = 128,
            }
            |s| [s.fd.into_arg(), s.backlog.into_arg()];

            /// Set a socket option.
            SETSOCKOPT = 54, "setsockopt" {
                args: &[Fd, Int, Int, ptr(In, Len::Arg(4)), UInt],
                class: Class::Socket,
                blocking: Blocking::Never,
                rule: ArgRule::SocketOption { access: Access::Set, level: 1, value: 3 },
            }
            i386 [
                SETSOCKOPT = 366, "setsockopt", 5, W0_4;
            ]
            socketcall [
                SETSOCKOPT = 14, "setsockopt", 5, W0_4;
            ]
            builder Setsockopt("setsockopt") {
                fd: Fd, level: i32, optname: i32, optval: Mem;
                /// Bytes of the option value.
                optlen: Len = Len::Whole,
            }
            |s| [
                s.fd.into_arg(),
                s.level.into_arg(),
                s.optname.into_arg(),
                s.optval.into_arg(),
                s.optlen.arg_for(s.optval),
            ];

            /// Get a socket option; `optlen` is a 4-byte in/out `socklen_t` buffer.
            GETSOCKOPT = 55, "getsockopt" {
                args: &[
                    Fd,
                    Int,
                    Int,
                    ptr(Out, Len::ArgPtr(4)),
                    ptr(InOut, Len::Fixed(4)),
                ],
                class: Class::Socket,
                blocking: Blocking::Never,
                rule: ArgRule::SocketOption { access: Access::Get, level: 1, value: 3 },
            }
            i386 [
                GETSOCKOPT = 365, "getsockopt", 5, W0_4;
            ]
            socketcall [
                GETSOCKOPT = 15, "getsockopt", 5, W0_4;
            ]
            builder Getsockopt("getsockopt") {
                fd: Fd, level: i32, optname: i32, optval: BufRef, optlen: BufRef;
            }
            |s| [
                s.fd.into_arg(),
                s.level.into_arg(),
                s.optname.into_arg(),
                s.optval.into_arg(),
                s.optlen.into_arg(),
            ];

            /// Flush a file to storage.
            FSYNC = 74, "fsync" {
                args: &[Fd],
                class: Class::FileWrite,
                blocking: Blocking::Storage,
            }
            i386 [
                FSYNC = 118, "fsync", 1, W0;
            ]
            socketcall []
            builder Fsync("fsync") { fd: Fd; }
            |s| [s.fd.into_arg()];

            /// Flush a file's data to storage.
            FDATASYNC = 75, "fdatasync" {
                args: &[Fd],
                class: Class::FileWrite,
                blocking: Blocking::Storage,
            }
            i386 [
                FDATASYNC = 148, "fdatasync", 1, W0;
            ]
            socketcall []
            builder Fdatasync("fdatasync") { fd: Fd; }
            |s| [s.fd.into_arg()];

            /// Truncate a file to a length.
            FTRUNCATE = 77, "ftruncate" {
                args: &[Fd, Off],
                class: Class::FileWrite,
                blocking: Blocking::Storage,
            }
            i386 [
                // compat_sys_ftruncate: compat_off_t length, sign-extended (since the 2024
                // fix "ftruncate: pass a signed offset", CVE-2024-42084, in Linux 6.10 and
                // the stable kernels; before it, compat_ulong_t and zero-extended).
                FTRUNCATE = 93, "ftruncate", 2, W0_1;
                FTRUNCATE64 = 194, "ftruncate64", 3, &[Word(0), Pair { lo: 1, hi: 2 }];
            ]
            socketcall []
            builder Ftruncate("ftruncate") { fd: Fd, length: i64; }
            |s| [s.fd.into_arg(), s.length.into_arg()];

            /// Get file-system statistics by descriptor.
            FSTATFS = 138, "fstatfs" {
                args: &[Fd, ptr(Out, Len::Fixed(STATFS_SIZE as u32))],
                class: Class::FileRead,
                blocking: Blocking::Storage,
            }
            i386 [
                // fstatfs(fd, buf) with the 32-bit struct statfs.
                FSTATFS = 100, "fstatfs", 2, &[Word(0), Statfs32Out(1)];
                // fstatfs64(fd, sizeof(struct statfs64), buf).
                FSTATFS64 = 269, "fstatfs64", 3, &[Word(0), Statfs64Out { size: 1, buf: 2 }];
            ]
            socketcall []
            builder Fstatfs("fstatfs") { fd: Fd, buf: Out<kernel::Statfs>; }
            |s| [s.fd.into_arg(), s.buf.into_arg()];

            /// The thread id.
            GETTID = 186, "gettid" {
                args: &[],
                class: Class::Info,
                blocking: Blocking::Never,
            }
            i386 [
                GETTID = 224, "gettid", 0, &[];
            ]
            socketcall []
            builder Gettid("gettid") { ; }
            |_s| [];

            /// Read directory entries.
            GETDENTS64 = 217, "getdents64" {
                args: &[Fd, ptr(Out, Len::Arg(2)), UInt],
                class: Class::FileRead,
                blocking: Blocking::Storage,
                cost: Cost::PerKib,
                via_i386: Some(nr32_table::GETDENTS64),
            }
            i386 [
                GETDENTS64 = 220, "getdents64", 3, W0_2;
            ]
            socketcall []
            builder Getdents64("getdents64") {
                fd: Fd, dirp: Mem;
                /// Bytes of room.
                count: Len = Len::Whole,
            }
            |s| [s.fd.into_arg(), s.dirp.into_arg(), s.count.arg_for(s.dirp)];

            /// Sleep on a clock: a timeout atom. Relative (`flags` 0) on
            /// `CLOCK_REALTIME`, `CLOCK_MONOTONIC` or `CLOCK_BOOTTIME`, or until
            /// an absolute `CLOCK_MONOTONIC` deadline (`TIMER_ABSTIME`); other
            /// clocks and absolute wall-clock deadlines (which move when the
            /// clock is set) are refused. `request` is a 16-byte
            /// `struct timespec`, `remain` receives what is left when a signal
            /// interrupts a relative sleep. Like any blocking call, a sleep a
            /// worker is in is not cut short by cancellation (the chain stops
            /// after it): keep sleeps short.
            CLOCK_NANOSLEEP = 230, "clock_nanosleep" {
                args: &[Int, Int, ptr(In, Len::Fixed(16)), nullable(Out, Len::Fixed(16))],
                class: Class::Info,
                blocking: Blocking::Network,
                rule: ArgRule::Sleep { clock: 0, flags: 1 },
            }
            i386 [
                // The 32-bit-time form: an old_timespec32 request, and remain.
                CLOCK_NANOSLEEP = 267, "clock_nanosleep", 4,
                    &[Word(0), Word(1), Timespec32In { word: 2, count: 1 }, Timespec32Out(3)];
                // The time64 form takes the native 64-bit timespec.
                CLOCK_NANOSLEEP_TIME64 = 407, "clock_nanosleep_time64", 4, W0_3;
            ]
            socketcall []
            builder ClockNanosleep("clock_nanosleep") {
                request: BufRef;
                /// `CLOCK_MONOTONIC`, `CLOCK_REALTIME` or `CLOCK_BOOTTIME`.
                clock: i32 = libc::CLOCK_MONOTONIC,
                /// 0 (relative) or `TIMER_ABSTIME` (with `CLOCK_MONOTONIC`).
                flags: i32 = 0,
                /// Where the time left goes when a signal interrupts the sleep.
                remain: Option<BufRef> = None,
            }
            |s| [s.clock.into_arg(), s.flags.into_arg(), s.request.into_arg(), null_or(s.remain)];

            /// Send a signal to a thread of a thread group.
            TGKILL = 234, "tgkill" {
                args: &[Int, Int, Int],
                class: Class::Signal,
                blocking: Blocking::Never,
                rule: ArgRule::OwnProcess { arg: 0 },
            }
            i386 [
                TGKILL = 270, "tgkill", 3, W0_2;
            ]
            socketcall []
            builder Tgkill("tgkill") { tgid: i32, tid: i32, sig: i32; }
            |s| [s.tgid.into_arg(), s.tid.into_arg(), s.sig.into_arg()];

            /// Open a file relative to a directory descriptor.
            OPENAT = 257, "openat" {
                args: &[Fd, PATH, UInt, UInt],
                class: Class::FileRead,
                blocking: Blocking::Storage,
                fds: Fds::Returns,
                paths: &[path(nofollow_flag(2, O_NOFOLLOW))],
                rule: ArgRule::OpenFlags { arg: 2 },
                nowait: Nowait::Cached,
            }
            i386 [
                OPENAT = 295, "openat", 4, W0_3;
            ]
            socketcall []
            builder Openat("openat") {
                dirfd: Fd, path: BufRef;
                /// `O_*` flags.
                flags: u32 = (libc::O_RDONLY | libc::O_CLOEXEC) as u32,
                /// Mode for `O_CREAT`.
                mode: u32 = 0,
            }
            |s| [s.dirfd.into_arg(), s.path.into_arg(), s.flags.into_arg(), s.mode.into_arg()];

            /// Create a directory.
            MKDIRAT = 258, "mkdirat" {
                args: &[Fd, PATH, UInt],
                class: Class::FileWrite,
                blocking: Blocking::Storage,
                paths: &[path(NoFollow::Never)],
            }
            i386 [
                MKDIRAT = 296, "mkdirat", 3, W0_2;
            ]
            socketcall []
            builder Mkdirat("mkdirat") {
                dirfd: Fd, path: BufRef;
                /// Permission bits.
                mode: u32 = 0o777,
            }
            |s| [s.dirfd.into_arg(), s.path.into_arg(), s.mode.into_arg()];

            /// Change the owner and group of a file (`u32::MAX`: leave as is).
            FCHOWNAT = 260, "fchownat" {
                args: &[Fd, PATH, UInt, UInt, UInt],
                class: Class::FileWrite,
                blocking: Blocking::Storage,
                paths: &[path(nofollow_flag(4, AT_SYMLINK_NOFOLLOW))],
            }
            i386 [
                // uid_t and gid_t are 32 bits on i386 too (fchownat has no 16-bit form).
                FCHOWNAT = 298, "fchownat", 5, W0_4;
            ]
            socketcall []
            builder Fchownat("fchownat") {
                dirfd: Fd, path: BufRef, owner: u32, group: u32;
                /// `AT_SYMLINK_NOFOLLOW`, `AT_EMPTY_PATH` or 0.
                flags: u32 = 0,
            }
            |s| [
                s.dirfd.into_arg(),
                s.path.into_arg(),
                s.owner.into_arg(),
                s.group.into_arg(),
                s.flags.into_arg(),
            ];

            /// Get file status by path (`AT_SYMLINK_NOFOLLOW` for lstat).
            NEWFSTATAT = 262, "newfstatat" {
                args: &[Fd, PATH, STAT_OUT, UInt],
                class: Class::FileRead,
                blocking: Blocking::Storage,
                paths: &[path(nofollow_flag(3, AT_SYMLINK_NOFOLLOW))],
            }
            i386 [
                STAT64 = 195, "stat64", 2, &[Const(AT_FDCWD), Word(0), Stat64Out(1), Const(0)];
                LSTAT64 = 196, "lstat64", 2, &[Const(AT_FDCWD), Word(0), Stat64Out(1), Const(AT_SYMLINK_NOFOLLOW)];
                FSTATAT64 = 300, "fstatat64", 4, &[Word(0), Word(1), Stat64Out(2), Word(3)];
            ]
            socketcall []
            builder Newfstatat("newfstatat") {
                dirfd: Fd, path: BufRef, statbuf: Out<kernel::Stat>;
                /// `AT_*` flags.
                flags: u32 = 0,
            }
            |s| [s.dirfd.into_arg(), s.path.into_arg(), s.statbuf.into_arg(), s.flags.into_arg()];

            /// Remove a file or (with `AT_REMOVEDIR`) a directory.
            UNLINKAT = 263, "unlinkat" {
                args: &[Fd, PATH, UInt],
                class: Class::FileWrite,
                blocking: Blocking::Storage,
                paths: &[path(NoFollow::Never)],
            }
            i386 [
                UNLINKAT = 301, "unlinkat", 3, W0_2;
            ]
            socketcall []
            builder Unlinkat("unlinkat") {
                dirfd: Fd, path: BufRef;
                /// `AT_REMOVEDIR` or 0.
                flags: u32 = 0,
            }
            |s| [s.dirfd.into_arg(), s.path.into_arg(), s.flags.into_arg()];

            /// Make a new name for a file (a hard link); `AT_SYMLINK_FOLLOW`
            /// links what a final symlink of `oldpath` points to.
            LINKAT = 265, "linkat" {
                args: &[Fd, PATH, Fd, PATH, UInt],
                class: Class::FileWrite,
                blocking: Blocking::Storage,
                paths: &[
                    path(NoFollow::FlagClear { arg: 4, bit: AT_SYMLINK_FOLLOW }),
                    path_at(2, 3, NoFollow::Never),
                ],
            }
            i386 [
                LINKAT = 303, "linkat", 5, W0_4;
            ]
            socketcall []
            builder Linkat("linkat") {
                olddirfd: Fd, oldpath: BufRef, newdirfd: Fd, newpath: BufRef;
                /// `AT_SYMLINK_FOLLOW`, `AT_EMPTY_PATH` or 0.
                flags: u32 = 0,
            }
            |s| [
                s.olddirfd.into_arg(),
                s.oldpath.into_arg(),
                s.newdirfd.into_arg(),
                s.newpath.into_arg(),
                s.flags.into_arg(),
            ];

            /// Make a symbolic link `linkpath` holding `target`. Under
            /// confinement the target must be relative and free of `..`
            /// components: the link is created inside the directory and
            /// whoever follows it later resolves the target from there.
            SYMLINKAT = 266, "symlinkat" {
                args: &[PATH, Fd, PATH],
                class: Class::FileWrite,
                blocking: Blocking::Storage,
                paths: &[path_at(1, 2, NoFollow::Never)],
                rule: ArgRule::SymlinkTarget { arg: 0 },
            }
            i386 [
                SYMLINKAT = 304, "symlinkat", 3, W0_2;
            ]
            socketcall []
            builder Symlinkat("symlinkat") { target: BufRef, newdirfd: Fd, linkpath: BufRef; }
            |s| [s.target.into_arg(), s.newdirfd.into_arg(), s.linkpath.into_arg()];

            /// Read the target of a symbolic link (not NUL-terminated; the
            /// result is its length).
            READLINKAT = 267, "readlinkat" {
                args: &[Fd, PATH, ptr(Out, Len::Arg(3)), Size],
                class: Class::FileRead,
                blocking: Blocking::Storage,
                paths: &[path(NoFollow::Never)],
            }
            i386 [
                READLINKAT = 305, "readlinkat", 4, W0_3;
            ]
            socketcall []
            builder Readlinkat("readlinkat") {
                dirfd: Fd, path: BufRef, buf: Mem;
                /// Bytes of room.
                len: Len = Len::Whole,
            }
            |s| [s.dirfd.into_arg(), s.path.into_arg(), s.buf.into_arg(), s.len.arg_for(s.buf)];

            /// Change the permission bits of a file. It always follows a
            /// final symlink, so [`Policy::confine_to`](crate::Policy::confine_to)
            /// refuses it (its lexical form does not).
            FCHMODAT = 268, "fchmodat" {
                args: &[Fd, PATH, UInt],
                class: Class::FileWrite,
                blocking: Blocking::Storage,
                paths: &[path(NoFollow::Always)],
            }
            i386 [
                FCHMODAT = 306, "fchmodat", 3, W0_2;
            ]
            socketcall []
            builder Fchmodat("fchmodat") { dirfd: Fd, path: BufRef, mode: u32; }
            |s| [s.dirfd.into_arg(), s.path.into_arg(), s.mode.into_arg()];

            /// Change the permission bits of a file, with flags (Linux 6.6;
            /// `ENOSYS` before). With `AT_SYMLINK_NOFOLLOW` a final symlink
            /// is not followed (the kernel refuses to change the mode of a
            /// symlink itself, `EOPNOTSUPP`), so under
            /// [`Policy::confine_to`](crate::Policy::confine_to) the flag is
            /// required, and the call is the confined form of `fchmodat`.
            FCHMODAT2 = 452, "fchmodat2" {
                args: &[Fd, PATH, UInt, UInt],
                class: Class::FileWrite,
                blocking: Blocking::Storage,
                paths: &[path(nofollow_flag(3, AT_SYMLINK_NOFOLLOW))],
            }
            i386 [
                FCHMODAT2 = 452, "fchmodat2", 4, W0_3;
            ]
            socketcall []
            builder Fchmodat2("fchmodat") {
                dirfd: Fd, path: BufRef, mode: u32;
                /// `AT_SYMLINK_NOFOLLOW`, `AT_EMPTY_PATH` or 0.
                flags: u32 = 0,
            }
            |s| [s.dirfd.into_arg(), s.path.into_arg(), s.mode.into_arg(), s.flags.into_arg()];

            /// Move data between a pipe and another descriptor in the kernel;
            /// the offsets are 8-byte `loff_t` buffers (in and out) or `None`.
            SPLICE = 275, "splice" {
                args: OFFSET_PAIR_COPY,
                class: Class::FileWrite,
                blocking: Blocking::Network,
            }
            i386 [
                SPLICE = 313, "splice", 6, W0_5;
            ]
            socketcall []
            builder Splice("splice") {
                fd_in: Fd, fd_out: Fd, len: u64;
                /// The input offset (not for a pipe).
                off_in: Option<BufRef> = None,
                /// The output offset (not for a pipe).
                off_out: Option<BufRef> = None,
                /// `SPLICE_F_*` flags.
                flags: u32 = 0,
            }
            |s| [
                s.fd_in.into_arg(),
                null_or(s.off_in),
                s.fd_out.into_arg(),
                null_or(s.off_out),
                s.len.into_arg(),
                s.flags.into_arg(),
            ];

            /// Change file timestamps: `times` is two 16-byte `struct
            /// timespec` (access, modification; `UTIME_NOW`, `UTIME_OMIT`), or
            /// `None` for now.
            UTIMENSAT = 280, "utimensat" {
                args: &[Fd, PATH, nullable(In, Len::Fixed(32)), UInt],
                class: Class::FileWrite,
                blocking: Blocking::Storage,
                paths: &[path(nofollow_flag(3, AT_SYMLINK_NOFOLLOW))],
            }
            i386 [
                // The 32-bit-time form: two old_timespec32s (or NULL).
                UTIMENSAT = 320, "utimensat", 4,
                    &[Word(0), Word(1), Timespec32In { word: 2, count: 2 }, Word(3)];
                // The time64 form takes the native 64-bit timespecs.
                UTIMENSAT_TIME64 = 412, "utimensat_time64", 4, W0_3;
            ]
            socketcall []
            builder Utimensat("utimensat") {
                dirfd: Fd, path: BufRef;
                /// Two timespecs (32 bytes), or `None` for the current time.
                times: Option<BufRef> = None,
                /// `AT_SYMLINK_NOFOLLOW`, `AT_EMPTY_PATH` or 0.
                flags: u32 = 0,
            }
            |s| [s.dirfd.into_arg(), s.path.into_arg(), null_or(s.times), s.flags.into_arg()];

            /// Allocate or punch file space.
            FALLOCATE = 285, "fallocate" {
                args: &[Fd, Int, Off, Off],
                class: Class::FileWrite,
                blocking: Blocking::Storage,
            }
            i386 [
                FALLOCATE = 324, "fallocate", 6, &[Word(0), Word(1), Pair { lo: 2, hi: 3 }, Pair { lo: 4, hi: 5 }];
            ]
            socketcall []
            builder Fallocate("fallocate") {
                fd: Fd, offset: i64, len: i64;
                /// `FALLOC_FL_*` mode.
                mode: i32 = 0,
            }
            |s| [s.fd.into_arg(), s.mode.into_arg(), s.offset.into_arg(), s.len.into_arg()];

            /// Accept a connection.
            ACCEPT4 = 288, "accept4" {
                args: &[Fd, nullable(Out, Len::ArgPtr(2)), SOCKLEN_PTR, UInt],
                class: Class::NetServer,
                blocking: Blocking::Network,
                fds: Fds::Returns,
            }
            i386 [
                ACCEPT4 = 364, "accept4", 4, W0_3;
            ]
            socketcall [
                // accept(fd, addr, addrlen) is accept4(fd, addr, addrlen, 0).
                ACCEPT = 5, "accept", 3, &[Word(0), Word(1), Word(2), Const(0)];
                ACCEPT4 = 18, "accept4", 4, W0_3;
            ]
            builder Accept4("accept4") {
                fd: Fd;
                /// Where to store the peer's address.
                addr: Option<SockAddrOut> = None,
                /// `SOCK_*` flags.
                flags: u32 = libc::SOCK_CLOEXEC as u32,
            }
            |s| [
                s.fd.into_arg(),
                null_or(s.addr.map(|a| a.addr)),
                null_or(s.addr.map(|a| a.len)),
                s.flags.into_arg(),
            ];

            /// Duplicate `oldfd` onto the number `newfd` (closing what
            /// `newfd` held). The number is the caller's choice, so its owner
            /// stays who it was: the atom that returned it, or the caller. A
            /// number an atom of the chain had closed is the caller's when
            /// `dup3` opens it again (another thread may have taken it in
            /// between), so it is not in `unclosed_fds`: close it yourself.
            DUP3 = 292, "dup3" {
                args: &[Fd, Fd, UInt],
                class: Class::Fd,
                blocking: Blocking::Never,
            }
            i386 [
                DUP3 = 330, "dup3", 3, W0_2;
            ]
            socketcall []
            builder Dup3("dup3") {
                oldfd: Fd, newfd: Fd;
                /// `O_CLOEXEC` or 0.
                flags: u32 = libc::O_CLOEXEC as u32,
            }
            |s| [s.oldfd.into_arg(), s.newfd.into_arg(), s.flags.into_arg()];

            /// Create a pipe: on success (0) its read and write ends are in
            /// `fds` (an 8-byte `int[2]` in the batch), and the chain owns
            /// both, like the descriptors other atoms return
            /// ([`unclosed_fds`](crate::ValidatedBatch::unclosed_fds),
            /// [`take_fds`](crate::ValidatedBatch::take_fds), closes).
            PIPE2 = 293, "pipe2" {
                args: &[ptr(Out, Len::Fixed(8)), UInt],
                class: Class::Fd,
                blocking: Blocking::Never,
                fds: Fds::Pair { arg: 0 },
            }
            i386 [
                PIPE2 = 331, "pipe2", 2, W0_1;
            ]
            socketcall []
            builder Pipe2("pipe2") {
                fds: Out<[i32; 2]>;
                /// `O_CLOEXEC`, `O_NONBLOCK`, `O_DIRECT` or 0.
                flags: u32 = libc::O_CLOEXEC as u32,
            }
            |s| [s.fds.into_arg(), s.flags.into_arg()];

            /// Queue a signal with a `siginfo_t` (128 bytes in `info`) to a thread.
            RT_TGSIGQUEUEINFO = 297, "rt_tgsigqueueinfo" {
                args: &[Int, Int, Int, ptr(In, Len::Fixed(SIGINFO_SIZE as u32))],
                class: Class::Signal,
                blocking: Blocking::Never,
                rule: ArgRule::OwnProcess { arg: 0 },
            }
            i386 [
                RT_TGSIGQUEUEINFO = 335, "rt_tgsigqueueinfo", 4, &[Word(0), Word(1), Word(2), SiginfoIn(3)];
            ]
            socketcall []
            builder RtTgsigqueueinfo("rt_tgsigqueueinfo") {
                tgid: i32, tid: i32, sig: i32, info: BufRef;
            }
            |s| [s.tgid.into_arg(), s.tid.into_arg(), s.sig.into_arg(), s.info.into_arg()];

            /// Rename a file, atomically replacing `newpath` unless `flags`
            /// hold `RENAME_NOREPLACE` (or swap both with `RENAME_EXCHANGE`).
            RENAMEAT2 = 316, "renameat2" {
                args: &[Fd, PATH, Fd, PATH, UInt],
                class: Class::FileWrite,
                blocking: Blocking::Storage,
                paths: &[path(NoFollow::Never), path_at(2, 3, NoFollow::Never)],
            }
            i386 [
                RENAMEAT2 = 353, "renameat2", 5, W0_4;
            ]
            socketcall []
            builder Renameat2("renameat2") {
                olddirfd: Fd, oldpath: BufRef, newdirfd: Fd, newpath: BufRef;
                /// `RENAME_NOREPLACE`, `RENAME_EXCHANGE`, `RENAME_WHITEOUT` or 0.
                flags: u32 = 0,
            }
            |s| [
                s.olddirfd.into_arg(),
                s.oldpath.into_arg(),
                s.newdirfd.into_arg(),
                s.newpath.into_arg(),
                s.flags.into_arg(),
            ];

            /// Copy a range of data from one file to another in the kernel;
            /// the offsets are 8-byte `loff_t` buffers (in and out) or `None`
            /// for the file offsets.
            COPY_FILE_RANGE = 326, "copy_file_range" {
                args: OFFSET_PAIR_COPY,
                class: Class::FileWrite,
                blocking: Blocking::Storage,
            }
            i386 [
                COPY_FILE_RANGE = 377, "copy_file_range", 6, W0_5;
            ]
            socketcall []
            builder CopyFileRange("copy_file_range") {
                fd_in: Fd, fd_out: Fd, len: u64;
                /// The input offset, or the file offset.
                off_in: Option<BufRef> = None,
                /// The output offset, or the file offset.
                off_out: Option<BufRef> = None,
                /// Flags (0).
                flags: u32 = 0,
            }
            |s| [
                s.fd_in.into_arg(),
                null_or(s.off_in),
                s.fd_out.into_arg(),
                null_or(s.off_out),
                s.len.into_arg(),
                s.flags.into_arg(),
            ];

            /// Get extended file status.
            STATX = 332, "statx" {
                args: &[Fd, PATH, UInt, UInt, ptr(Out, Len::Fixed(STATX_SIZE as u32))],
                class: Class::FileRead,
                blocking: Blocking::Storage,
                paths: &[path(nofollow_flag(2, AT_SYMLINK_NOFOLLOW))],
            }
            i386 [
                STATX = 383, "statx", 5, W0_4;
            ]
            socketcall []
            builder Statx("statx") {
                dirfd: Fd, path: BufRef, statxbuf: Out<kernel::Statx>;
                /// `AT_*` flags.
                flags: u32 = 0,
                /// `STATX_*` fields wanted.
                mask: u32 = libc::STATX_BASIC_STATS,
            }
            |s| [
                s.dirfd.into_arg(),
                s.path.into_arg(),
                s.flags.into_arg(),
                s.mask.into_arg(),
                s.statxbuf.into_arg(),
            ];

            /// Open a file with an `open_how` (`RESOLVE_BENEATH`, `RESOLVE_CACHED`…).
            OPENAT2 = 437, "openat2" {
                args: &[Fd, PATH, ptr(In, Len::Arg(3)), Size],
                class: Class::FileRead,
                blocking: Blocking::Storage,
                fds: Fds::Returns,
                paths: &[path(NoFollow::Resolve)],
                rule: ArgRule::OpenHow { arg: 2 },
            }
            i386 [
                OPENAT2 = 437, "openat2", 4, W0_3;
            ]
            socketcall []
            builder Openat2("openat2") {
                dirfd: Fd, path: BufRef, how: BufRef;
            }
            |s| [s.dirfd.into_arg(), s.path.into_arg(), s.how.into_arg(), Arg::Imm(s.how.len() as u64)];

            /// Get the address a socket is bound to; `addrlen` is a 4-byte in/out `socklen_t`.
            GETSOCKNAME = 51, "getsockname" {
                args: &[Fd, ptr(Out, Len::ArgPtr(2)), ptr(InOut, Len::Fixed(4))],
                class: Class::Socket,
                blocking: Blocking::Never,
            }
            i386 [
                GETSOCKNAME = 367, "getsockname", 3, W0_2;
            ]
            socketcall [
                GETSOCKNAME = 6, "getsockname", 3, W0_2;
            ]
            builder Getsockname("getsockname") { fd: Fd, addr: SockAddrOut; }
            |s| [s.fd.into_arg(), s.addr.addr.into_arg(), s.addr.len.into_arg()];

            /// Get the address of a socket's peer; `addrlen` is a 4-byte in/out `socklen_t`.
            GETPEERNAME = 52, "getpeername" {
                args: &[Fd, ptr(Out, Len::ArgPtr(2)), ptr(InOut, Len::Fixed(4))],
                class: Class::Socket,
                blocking: Blocking::Never,
            }
            i386 [
                GETPEERNAME = 368, "getpeername", 3, W0_2;
            ]
            socketcall [
                GETPEERNAME = 7, "getpeername", 3, W0_2;
            ]
            builder Getpeername("getpeername") { fd: Fd, addr: SockAddrOut; }
            |s| [s.fd.into_arg(), s.addr.addr.into_arg(), s.addr.len.into_arg()];

            /// Create a pair of connected sockets; the two descriptors land in
            /// `sv` (an `int[2]`), and the chain owns them like any it opened.
            SOCKETPAIR = 53, "socketpair" {
                args: &[Int, Int, Int, ptr(Out, Len::Fixed(8))],
                class: Class::Socket,
                blocking: Blocking::Never,
                fds: Fds::Pair { arg: 3 },
                rule: ArgRule::SocketFamily { arg: 0 },
            }
            i386 [
                SOCKETPAIR = 360, "socketpair", 4, W0_3;
            ]
            socketcall [
                SOCKETPAIR = 8, "socketpair", 4, W0_3;
            ]
            builder Socketpair("socketpair") {
                domain: i32, ty: i32, sv: Out<[i32; 2]>;
                /// Protocol.
                protocol: i32 = 0,
            }
            |s| [s.domain.into_arg(), s.ty.into_arg(), s.protocol.into_arg(), s.sv.into_arg()];

            /// Read into the buffers of an iovec array at the file offset.
            READV = 19, "readv" {
                args: &[Fd, iovecs(Out), Size],
                class: Class::FileRead,
                blocking: Blocking::Storage,
                nowait: Nowait::Vectored,
            }
            i386 [
                READV = 145, "readv", 3, &[Word(0), IOV32, Word(2)];
            ]
            socketcall []
            builder Readv("readv") { fd: Fd, iov: Iovecs; }
            |s| [s.fd.into_arg(), s.iov.into_arg(), s.iov.count_arg()];

            /// Write the buffers of an iovec array at the file offset.
            WRITEV = 20, "writev" {
                args: &[Fd, iovecs(In), Size],
                class: Class::FileWrite,
                blocking: Blocking::Storage,
                nowait: Nowait::Vectored,
            }
            i386 [
                WRITEV = 146, "writev", 3, &[Word(0), IOV32, Word(2)];
            ]
            socketcall []
            builder Writev("writev") { fd: Fd, iov: Iovecs; }
            |s| [s.fd.into_arg(), s.iov.into_arg(), s.iov.count_arg()];

            /// Read into the buffers of an iovec array at an offset (-1: the
            /// file offset), with `RWF_*` flags.
            PREADV2 = 327, "preadv2" {
                // (fd, iov, iovcnt, pos_l, pos_h, flags): x86_64 ignores pos_h.
                args: &[Fd, iovecs(Out), Size, Off, Size, UInt],
                class: Class::FileRead,
                blocking: Blocking::Storage,
                nowait: Nowait::Vectored,
            }
            i386 [
                PREADV2 = 378, "preadv2", 6, &[Word(0), IOV32, Word(2), Pair { lo: 3, hi: 4 }, Const(0), Word(5)];
            ]
            socketcall []
            builder Preadv2("preadv2") {
                fd: Fd, iov: Iovecs, offset: i64;
                /// `RWF_*` flags.
                flags: u32 = 0,
            }
            |s| [s.fd.into_arg(), s.iov.into_arg(), s.iov.count_arg(), s.offset.into_arg(), Arg::Imm(0), s.flags.into_arg()];

            /// Write the buffers of an iovec array at an offset (-1: the file
            /// offset), with `RWF_*` flags.
            PWRITEV2 = 328, "pwritev2" {
                args: &[Fd, iovecs(In), Size, Off, Size, UInt],
                class: Class::FileWrite,
                blocking: Blocking::Storage,
                nowait: Nowait::Vectored,
            }
            i386 [
                PWRITEV2 = 379, "pwritev2", 6, &[Word(0), IOV32, Word(2), Pair { lo: 3, hi: 4 }, Const(0), Word(5)];
            ]
            socketcall []
            builder Pwritev2("pwritev2") {
                fd: Fd, iov: Iovecs, offset: i64;
                /// `RWF_*` flags.
                flags: u32 = 0,
            }
            |s| [s.fd.into_arg(), s.iov.into_arg(), s.iov.count_arg(), s.offset.into_arg(), Arg::Imm(0), s.flags.into_arg()];

            /// Create an epoll instance; the chain owns the descriptor it
            /// returns, like any it opened.
            EPOLL_CREATE1 = 291, "epoll_create1" {
                args: &[UInt],
                class: Class::Fd,
                blocking: Blocking::Never,
                fds: Fds::Returns,
            }
            i386 [
                EPOLL_CREATE1 = 329, "epoll_create1", 1, W0;
            ]
            socketcall []
            builder EpollCreate1("epoll_create1") {
                ;
                /// `EPOLL_CLOEXEC` or 0.
                flags: u32 = libc::EPOLL_CLOEXEC as u32,
            }
            |s| [s.flags.into_arg()];

            /// Add, change or remove a descriptor of an epoll instance;
            /// `event` is a 12-byte packed `struct epoll_event` (NULL for
            /// `EPOLL_CTL_DEL`).
            EPOLL_CTL = 233, "epoll_ctl" {
                args: &[Fd, Int, Fd, nullable(In, Len::Fixed(EPOLL_EVENT_SIZE))],
                class: Class::Fd,
                blocking: Blocking::Never,
            }
            i386 [
                EPOLL_CTL = 255, "epoll_ctl", 4, W0_3;
            ]
            socketcall []
            builder EpollCtl("epoll_ctl") {
                epfd: Fd, op: i32, fd: Fd;
                /// The `struct epoll_event` (12 bytes) for `EPOLL_CTL_ADD`/`MOD`.
                event: Option<BufRef> = None,
            }
            |s| [s.epfd.into_arg(), s.op.into_arg(), s.fd.into_arg(), null_or(s.event)];

            /// Wait for events on an epoll instance: as many 12-byte
            /// `struct epoll_event`s as `events` holds, with an optional
            /// signal mask (8 bytes).
            EPOLL_PWAIT = 281, "epoll_pwait" {
                args: &[
                    Fd,
                    ptr(Out, Len::Elems { count: 2, size: EPOLL_EVENT_SIZE }),
                    Int,
                    Int,
                    nullable(In, Len::Arg(5)),
                    Size,
                ],
                class: Class::Fd,
                blocking: Blocking::Network,
            }
            i386 [
                EPOLL_PWAIT = 319, "epoll_pwait", 6, W0_5;
            ]
            socketcall []
            builder EpollPwait("epoll_wait") {
                epfd: Fd, events: BufRef, timeout: i32;
                /// The signal mask to wait with (8 bytes).
                sigmask: Option<BufRef> = None,
            }
            |s| [
                s.epfd.into_arg(),
                s.events.into_arg(),
                Arg::Imm(s.events.len() as u64 / 12),
                s.timeout.into_arg(),
                null_or(s.sigmask),
                Arg::Imm(s.sigmask.map_or(0, |m| m.len() as u64)),
            ];
            /// Check the caller's permissions for a file (`mode` is `F_OK` or
            /// `R_OK | W_OK | X_OK`); `AT_EACCESS` checks with the effective ids.
            FACCESSAT2 = 439, "faccessat2" {
                args: &[Fd, PATH, Int, UInt],
                class: Class::FileRead,
                blocking: Blocking::Storage,
                paths: &[path(nofollow_flag(3, AT_SYMLINK_NOFOLLOW))],
            }
            i386 [
                // faccessat(dirfd, path, mode) is faccessat2(dirfd, path, mode, 0).
                FACCESSAT = 307, "faccessat", 3, &[Word(0), Word(1), Word(2), Const(0)];
                FACCESSAT2 = 439, "faccessat2", 4, W0_3;
            ]
            socketcall []
            builder Faccessat2("faccessat2") {
                dirfd: Fd, path: BufRef, mode: i32;
                /// `AT_EACCESS`, `AT_SYMLINK_NOFOLLOW`, `AT_EMPTY_PATH` or 0.
                flags: u32 = 0,
            }
            |s| [s.dirfd.into_arg(), s.path.into_arg(), s.mode.into_arg(), s.flags.into_arg()];
        }
    };
}

/// The convention of an i386 row entry: the one it names, or
/// [`Convention::Plain`](crate::signature::Convention::Plain).
#[doc(hidden)]
#[macro_export]
macro_rules! __convention_or_plain {
    () => {
        $crate::signature::Convention::Plain
    };
    ($conv:expr) => {
        $conv
    };
}
