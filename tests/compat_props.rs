//! Property tests of the compat translator, with a small seeded generator
//! (SplitMix64; no extra dependency).
//!
//! * `normalize` never panics, whatever the bytes; what it accepts is a native
//!   batch the validator can decode without panicking, and write-back never
//!   panics either.
//! * A random chain over the compat table, written in the 32-bit layout and
//!   normalised, is byte-for-byte the same chain built natively with the typed
//!   builders (plus the native `struct stat`/`siginfo_t`/iovec-array buffers
//!   the translator appends, in the same order).
//!
//! `SYSLETS_PROP_SEED` and `SYSLETS_PROP_CASES` change the seed and the number of
//! cases; a failure prints the seed and case to reproduce it.

use syslets::abi::{self, Completion};
use syslets::compat::{self, nr32, CompatArg, CompatAtom, CompatWriter, SocketcallArg};
use syslets::opcode::*;
use syslets::Statx as StatxBuf;
use syslets::{AtomRef, BufRef, ByteLen, Chain, EncodedBatch, Fd, Iovecs, Out, Policy, SockAddr};
use syslets::{SockAddrOut, Stat, Stop};
use zerocopy::IntoBytes;

#[path = "common/rng.rs"]
mod rng;
use rng::{setting, Rng};

// Extra draws for the compat properties.
impl Rng {
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    /// A 32-bit value biased towards the interesting ones.
    fn u32(&mut self) -> u32 {
        match self.below(6) {
            0 => self.below(8) as u32,
            1 => u32::MAX - self.below(4) as u32,
            2 => 0x8000_0000 + self.below(2) as u32,
            3 => -100i32 as u32,
            _ => self.next() as u32,
        }
    }
    fn i32(&mut self) -> i32 {
        self.u32() as i32
    }
    fn u64(&mut self) -> u64 {
        match self.below(4) {
            0 => self.u32() as u64,
            1 => (5u64 << 30) + self.below(16),
            _ => self.next(),
        }
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

// ---------------------------------------------------------------------------
// Random chains, built twice.

/// A buffer both sides create in the same order.
#[derive(Clone)]
enum Spec {
    In(Vec<u8>),
    Out(usize),
    InOut(usize),
    /// Room for a `struct statx` (native: `Chain::output::<Statx>()`).
    Statx,
}

/// A native buffer.
#[derive(Clone, Copy)]
enum NB {
    Buf(BufRef),
    Statx(Out<StatxBuf>),
}

impl NB {
    fn buf(self) -> BufRef {
        match self {
            NB::Buf(b) => b,
            NB::Statx(o) => o.buf(),
        }
    }
}

/// What a native push needs besides its values.
struct Ctx<'c> {
    bufs: &'c [NB],
    stat: Option<Out<Stat>>,
    siginfo: Option<BufRef>,
    iovecs: Option<Iovecs>,
    stop: Stop,
    skip: bool,
    private: u64,
}

type Push = Box<dyn Fn(&mut Chain<'static>, &Ctx) -> AtomRef>;

struct AtomGen {
    nr: u32,
    args: Vec<CompatArg>,
    flags: u32,
    private: u32,
    needs_stat: bool,
    siginfo: Option<Vec<u8>>,
    /// The `(buffer, offset, len)` elements of an iovec array the translator
    /// widens and appends.
    iovecs: Option<Vec<(u16, u32, u32)>>,
    push: Push,
}

macro_rules! push {
    ($chain:expr, $cx:expr, $op:expr) => {{
        let op = $op.stop_on($cx.stop).private($cx.private);
        if $cx.skip {
            $chain.push(op.skip_to_next_on_stop())
        } else {
            $chain.push(op)
        }
    }};
}

/// A view `(index, offset)` of a buffer, on both sides.
#[derive(Clone, Copy)]
struct View {
    index: u16,
    offset: u32,
}

impl View {
    fn compat(self) -> CompatArg {
        CompatArg::Buf {
            index: self.index,
            offset: self.offset,
        }
    }
    fn native(self, cx: &Ctx) -> BufRef {
        cx.bufs[self.index as usize].buf().skip(self.offset)
    }
}

struct Gen<'r> {
    rng: &'r mut Rng,
    bufs: Vec<Spec>,
    /// Atoms a RESULT may name (not `_llseek`).
    referable: Vec<u16>,
}

impl Gen<'_> {
    fn add(&mut self, spec: Spec) -> u16 {
        self.bufs.push(spec);
        self.bufs.len() as u16 - 1
    }

    /// A buffer view with some offset into it.
    fn view(&mut self, spec: Spec) -> View {
        let len = match &spec {
            Spec::In(b) => b.len(),
            Spec::Out(n) | Spec::InOut(n) => *n,
            Spec::Statx => 256,
        };
        let offset = if self.rng.chance(30) {
            self.rng.below(len as u64 + 1) as u32
        } else {
            0
        };
        View {
            index: self.add(spec),
            offset,
        }
    }

    fn data(&mut self) -> View {
        let n = self.rng.below(64) as usize + 1;
        match self.rng.below(3) {
            0 => {
                let b = self.rng.bytes(n);
                self.view(Spec::In(b))
            }
            1 => self.view(Spec::Out(n)),
            _ => self.view(Spec::InOut(n)),
        }
    }

    fn path(&mut self) -> View {
        let mut p = b"dir/f".to_vec();
        let n = self.rng.below(4) as usize;
        p.extend(self.rng.bytes(n).iter().map(|b| b'a' + b % 26));
        p.push(0);
        View {
            index: self.add(Spec::In(p)),
            offset: 0,
        }
    }

    fn fd(&mut self) -> (CompatArg, Fd) {
        if !self.referable.is_empty() && self.rng.chance(40) {
            let k = self.referable[self.rng.below(self.referable.len() as u64) as usize];
            (CompatArg::Result(k), Fd::ResultOf(AtomRef::from_index(k)))
        } else {
            let v = self.rng.i32();
            (CompatArg::Imm(v as u32), Fd::Value(v))
        }
    }

    fn len(&mut self) -> (CompatArg, ByteLen) {
        if !self.referable.is_empty() && self.rng.chance(20) {
            let k = self.referable[self.rng.below(self.referable.len() as u64) as usize];
            (
                CompatArg::Result(k),
                ByteLen::ResultOf(AtomRef::from_index(k)),
            )
        } else {
            let v = self.rng.u32();
            (CompatArg::Imm(v), ByteLen::Bytes(v as u64))
        }
    }

    fn sockaddr(&mut self) -> (View, u32) {
        let b = self.rng.bytes(16);
        let v = self.view(Spec::In(b));
        (v, self.rng.u32())
    }

    fn sockaddr_out(&mut self) -> (View, View) {
        let addr = self.add(Spec::Out(128));
        let len = self.add(Spec::In(128u32.to_le_bytes().to_vec()));
        (
            View {
                index: addr,
                offset: 0,
            },
            View {
                index: len,
                offset: 0,
            },
        )
    }

    /// A `socketcall` argument array (an IN buffer).
    fn sockargs(&mut self, args: &[CompatArg]) -> View {
        View {
            index: self.add(Spec::In(CompatArg::socketcall_array(args))),
            offset: 0,
        }
    }

    /// One random atom.
    fn atom(&mut self) -> AtomGen {
        use CompatArg::Imm;
        let r = &mut *self;
        let mut g = AtomGen {
            nr: 0,
            args: Vec::new(),
            flags: 0,
            private: 0,
            needs_stat: false,
            siginfo: None,
            iovecs: None,
            push: Box::new(|_, _| unreachable!()),
        };
        macro_rules! set {
            ($nr:expr, [$($a:expr),*], |$c:ident, $cx:ident| $body:expr) => {{
                g.nr = $nr;
                g.args = vec![$($a),*];
                g.push = Box::new(move |$c, $cx| $body);
            }};
        }
        match r.rng.below(36) {
            34 | 35 => {
                // readv / writev / preadv2 / pwritev2 over 0 to 4 elements,
                // each a part of a buffer.
                let (cf, nf) = r.fd();
                let mut elements = Vec::new();
                for _ in 0..r.rng.below(5) {
                    let v = r.data();
                    let len = match &r.bufs[v.index as usize] {
                        Spec::In(b) => b.len(),
                        Spec::Out(n) | Spec::InOut(n) => *n,
                        Spec::Statx => 256,
                    } as u32;
                    let room = len - v.offset;
                    let n = r.rng.below(room as u64 + 1) as u32;
                    elements.push((v.index, v.offset, n));
                }
                let mut array = Vec::new();
                for &(index, offset, len) in &elements {
                    let e = compat::CompatIoVec {
                        base: compat::compat_buf_arg(index, offset).unwrap(),
                        len,
                    };
                    array.extend_from_slice(e.as_bytes());
                }
                let a = View {
                    index: r.add(Spec::In(array)),
                    offset: 0,
                };
                let count = Imm(elements.len() as u32);
                g.iovecs = Some(elements);
                let (lo, hi, fl) = (r.rng.u32(), r.rng.u32(), r.rng.u32());
                let at = ((hi as u64) << 32 | lo as u64) as i64;
                let iov = |cx: &Ctx| cx.iovecs.expect("an iovec array");
                match r.rng.below(4) {
                    0 => set!(nr32::READV, [cf, a.compat(), count], |c, cx| push!(
                        c,
                        cx,
                        Readv::new(nf, iov(cx))
                    )),
                    1 => set!(nr32::WRITEV, [cf, a.compat(), count], |c, cx| push!(
                        c,
                        cx,
                        Writev::new(nf, iov(cx))
                    )),
                    2 => set!(
                        nr32::PREADV2,
                        [cf, a.compat(), count, Imm(lo), Imm(hi), Imm(fl)],
                        |c, cx| push!(c, cx, Preadv2::new(nf, iov(cx), at).flags(fl))
                    ),
                    _ => set!(
                        nr32::PWRITEV2,
                        [cf, a.compat(), count, Imm(lo), Imm(hi), Imm(fl)],
                        |c, cx| push!(c, cx, Pwritev2::new(nf, iov(cx), at).flags(fl))
                    ),
                }
            }
            0 => {
                let (cf, nf) = r.fd();
                let b = r.data();
                let (cl, nl) = r.len();
                set!(nr32::READ, [cf, b.compat(), cl], |c, cx| push!(
                    c,
                    cx,
                    Read::new(nf, b.native(cx)).len(nl)
                ));
            }
            1 => {
                let (cf, nf) = r.fd();
                let b = r.data();
                let (cl, nl) = r.len();
                set!(nr32::WRITE, [cf, b.compat(), cl], |c, cx| push!(
                    c,
                    cx,
                    Write::new(nf, b.native(cx)).len(nl)
                ));
            }
            2 => {
                let (cf, nf) = r.fd();
                set!(nr32::CLOSE, [cf], |c, cx| push!(c, cx, Close::new(nf)));
            }
            3 => {
                let (cf, nf) = r.fd();
                let off = r.rng.i32();
                let wh = r.rng.below(5) as i32;
                set!(
                    nr32::LSEEK,
                    [cf, Imm(off as u32), Imm(wh as u32)],
                    |c, cx| push!(c, cx, Lseek::new(nf, off as i64, wh))
                );
            }
            4 => {
                let (cf, nf) = r.fd();
                let off = r.rng.u64();
                let wh = r.rng.below(5) as i32;
                let res = View {
                    index: r.add(Spec::Out(8)),
                    offset: 0,
                };
                set!(
                    nr32::LLSEEK,
                    [
                        cf,
                        Imm((off >> 32) as u32),
                        Imm(off as u32),
                        res.compat(),
                        Imm(wh as u32)
                    ],
                    |c, cx| push!(c, cx, Lseek::new(nf, off as i64, wh))
                );
            }
            5 => set!(nr32::GETPID, [], |c, cx| push!(c, cx, Getpid::new())),
            6 => set!(nr32::GETTID, [], |c, cx| push!(c, cx, Gettid::new())),
            7 => {
                let (cf, nf) = r.fd();
                let len = r.rng.i32();
                set!(nr32::FTRUNCATE, [cf, Imm(len as u32)], |c, cx| push!(
                    c,
                    cx,
                    Ftruncate::new(nf, len as i64)
                ));
            }
            8 => {
                let (cf, nf) = r.fd();
                let len = r.rng.u64();
                set!(
                    nr32::FTRUNCATE64,
                    [cf, Imm(len as u32), Imm((len >> 32) as u32)],
                    |c, cx| push!(c, cx, Ftruncate::new(nf, len as i64))
                );
            }
            9 => {
                let (cf, nf) = r.fd();
                set!(nr32::FSYNC, [cf], |c, cx| push!(c, cx, Fsync::new(nf)));
            }
            10 => {
                let (cf, nf) = r.fd();
                set!(nr32::FDATASYNC, [cf], |c, cx| push!(
                    c,
                    cx,
                    Fdatasync::new(nf)
                ));
            }
            n @ (11 | 12) => {
                let (cf, nf) = r.fd();
                let b = r.data();
                let (cl, nl) = r.len();
                let off = r.rng.u64();
                let args = [cf, b.compat(), cl, Imm(off as u32), Imm((off >> 32) as u32)];
                if n == 11 {
                    set!(
                        nr32::PREAD64,
                        [args[0], args[1], args[2], args[3], args[4]],
                        |c, cx| push!(c, cx, Pread64::new(nf, b.native(cx), off as i64).len(nl))
                    );
                } else {
                    set!(
                        nr32::PWRITE64,
                        [args[0], args[1], args[2], args[3], args[4]],
                        |c, cx| push!(c, cx, Pwrite64::new(nf, b.native(cx), off as i64).len(nl))
                    );
                }
            }
            n @ (13 | 14) => {
                let p = r.path();
                let st = View {
                    index: r.add(Spec::Out(96)),
                    offset: 0,
                };
                g.needs_stat = true;
                let (nr, flags) = if n == 13 {
                    (nr32::STAT64, 0)
                } else {
                    (nr32::LSTAT64, libc::AT_SYMLINK_NOFOLLOW as u32)
                };
                set!(nr, [p.compat(), st.compat()], |c, cx| push!(
                    c,
                    cx,
                    Newfstatat::new(libc::AT_FDCWD, p.native(cx), cx.stat.unwrap()).flags(flags)
                ));
            }
            15 => {
                let (cf, nf) = r.fd();
                let room = 96 + r.rng.below(9) as usize;
                let st = View {
                    index: r.add(Spec::Out(room)),
                    offset: 0,
                };
                g.needs_stat = true;
                set!(nr32::FSTAT64, [cf, st.compat()], |c, cx| push!(
                    c,
                    cx,
                    Fstat::new(nf, cx.stat.unwrap())
                ));
            }
            16 => {
                let (cf, nf) = r.fd();
                let p = r.path();
                let st = View {
                    index: r.add(Spec::InOut(96)),
                    offset: 0,
                };
                let fl = r.rng.u32();
                g.needs_stat = true;
                set!(
                    nr32::FSTATAT64,
                    [cf, p.compat(), st.compat(), Imm(fl)],
                    |c, cx| push!(
                        c,
                        cx,
                        Newfstatat::new(nf, p.native(cx), cx.stat.unwrap()).flags(fl)
                    )
                );
            }
            17 => {
                let (cf, nf) = r.fd();
                let b = r.data();
                let (cl, nl) = r.len();
                set!(nr32::GETDENTS64, [cf, b.compat(), cl], |c, cx| push!(
                    c,
                    cx,
                    Getdents64::new(nf, b.native(cx)).count(nl)
                ));
            }
            18 => {
                let (a, b, s) = (r.rng.i32(), r.rng.i32(), r.rng.i32());
                set!(
                    nr32::TGKILL,
                    [Imm(a as u32), Imm(b as u32), Imm(s as u32)],
                    |c, cx| push!(c, cx, Tgkill::new(a, b, s))
                );
            }
            19 => {
                let (cf, nf) = r.fd();
                let p = r.path();
                let (fl, mode) = (r.rng.u32(), r.rng.u32());
                set!(
                    nr32::OPENAT,
                    [cf, p.compat(), Imm(fl), Imm(mode)],
                    |c, cx| push!(c, cx, Openat::new(nf, p.native(cx)).flags(fl).mode(mode))
                );
            }
            20 => {
                let (cf, nf) = r.fd();
                let p = r.path();
                let mode = r.rng.u32();
                set!(nr32::MKDIRAT, [cf, p.compat(), Imm(mode)], |c, cx| push!(
                    c,
                    cx,
                    Mkdirat::new(nf, p.native(cx)).mode(mode)
                ));
            }
            21 => {
                let (cf, nf) = r.fd();
                let p = r.path();
                let fl = r.rng.u32();
                set!(nr32::UNLINKAT, [cf, p.compat(), Imm(fl)], |c, cx| push!(
                    c,
                    cx,
                    Unlinkat::new(nf, p.native(cx)).flags(fl)
                ));
            }
            22 => {
                let (cf, nf) = r.fd();
                let mode = r.rng.i32();
                let (off, len) = (r.rng.u64(), r.rng.u64());
                set!(
                    nr32::FALLOCATE,
                    [
                        cf,
                        Imm(mode as u32),
                        Imm(off as u32),
                        Imm((off >> 32) as u32),
                        Imm(len as u32),
                        Imm((len >> 32) as u32)
                    ],
                    |c, cx| push!(c, cx, Fallocate::new(nf, off as i64, len as i64).mode(mode))
                );
            }
            23 => {
                // SI_QUEUE (-1) or SI_TKILL (-6): pid, uid, sival_int at 12/16/20
                // on i386, 16/20/24 natively.
                let (tg, tid, sig) = (r.rng.i32(), r.rng.i32(), r.rng.i32());
                let code: i32 = if r.rng.chance(50) { -1 } else { -6 };
                let (pid, uid, val) = (r.rng.u32(), r.rng.u32(), r.rng.u32());
                let mut c32 = r.rng.bytes(128);
                let mut n64 = vec![0u8; 128];
                for (at, v) in [(0, sig as u32), (4, 0), (8, code as u32)] {
                    c32[at..at + 4].copy_from_slice(&v.to_le_bytes());
                    n64[at..at + 4].copy_from_slice(&v.to_le_bytes());
                }
                for (k, v) in [pid, uid, val].into_iter().enumerate() {
                    c32[12 + 4 * k..16 + 4 * k].copy_from_slice(&v.to_le_bytes());
                    n64[16 + 4 * k..20 + 4 * k].copy_from_slice(&v.to_le_bytes());
                }
                let info = View {
                    index: r.add(Spec::In(c32)),
                    offset: 0,
                };
                g.siginfo = Some(n64);
                set!(
                    nr32::RT_TGSIGQUEUEINFO,
                    [
                        Imm(tg as u32),
                        Imm(tid as u32),
                        Imm(sig as u32),
                        info.compat()
                    ],
                    |c, cx| push!(
                        c,
                        cx,
                        RtTgsigqueueinfo::new(tg, tid, sig, cx.siginfo.unwrap())
                    )
                );
            }
            24 => {
                let (d, t, p) = (r.rng.i32(), r.rng.i32(), r.rng.i32());
                let args = [Imm(d as u32), Imm(t as u32), Imm(p as u32)];
                if r.rng.chance(50) {
                    set!(nr32::SOCKET, [args[0], args[1], args[2]], |c, cx| push!(
                        c,
                        cx,
                        Socket::new(d, t).protocol(p)
                    ));
                } else {
                    let a = r.sockargs(&args);
                    set!(nr32::SOCKETCALL, [Imm(1), a.compat()], |c, cx| push!(
                        c,
                        cx,
                        Socket::new(d, t).protocol(p)
                    ));
                }
            }
            n @ (25 | 26) => {
                let (cf, nf) = r.fd();
                let (sa, len) = r.sockaddr();
                let args = [cf, sa.compat(), Imm(len)];
                let mk = move |cx: &Ctx| SockAddr {
                    buf: sa.native(cx),
                    len,
                };
                let via = r.rng.chance(50);
                match (n, via) {
                    (25, false) => set!(nr32::BIND, [args[0], args[1], args[2]], |c, cx| push!(
                        c,
                        cx,
                        Bind::new(nf, mk(cx))
                    )),
                    (25, true) => {
                        let a = r.sockargs(&args);
                        set!(nr32::SOCKETCALL, [Imm(2), a.compat()], |c, cx| push!(
                            c,
                            cx,
                            Bind::new(nf, mk(cx))
                        ))
                    }
                    (_, false) => {
                        set!(nr32::CONNECT, [args[0], args[1], args[2]], |c, cx| push!(
                            c,
                            cx,
                            Connect::new(nf, mk(cx))
                        ))
                    }
                    (_, true) => {
                        let a = r.sockargs(&args);
                        set!(nr32::SOCKETCALL, [Imm(3), a.compat()], |c, cx| push!(
                            c,
                            cx,
                            Connect::new(nf, mk(cx))
                        ))
                    }
                }
            }
            27 => {
                let (cf, nf) = r.fd();
                let bl = r.rng.i32();
                set!(nr32::LISTEN, [cf, Imm(bl as u32)], |c, cx| push!(
                    c,
                    cx,
                    Listen::new(nf).backlog(bl)
                ));
            }
            28 => {
                let (cf, nf) = r.fd();
                let out = if r.rng.chance(50) {
                    Some(r.sockaddr_out())
                } else {
                    None
                };
                let (ca, cl) = match out {
                    Some((a, l)) => (a.compat(), l.compat()),
                    None => (Imm(0), Imm(0)),
                };
                let addr = move |cx: &Ctx| {
                    out.map(|(a, l)| SockAddrOut {
                        addr: a.native(cx),
                        len: l.native(cx),
                    })
                };
                if r.rng.chance(50) {
                    let fl = r.rng.u32();
                    set!(nr32::ACCEPT4, [cf, ca, cl, Imm(fl)], |c, cx| push!(
                        c,
                        cx,
                        Accept4::new(nf).addr(addr(cx)).flags(fl)
                    ));
                } else {
                    // socketcall accept: accept4(.., 0).
                    let a = r.sockargs(&[cf, ca, cl]);
                    set!(nr32::SOCKETCALL, [Imm(5), a.compat()], |c, cx| push!(
                        c,
                        cx,
                        Accept4::new(nf).addr(addr(cx)).flags(0)
                    ));
                }
            }
            n @ (29 | 30) => {
                let (cf, nf) = r.fd();
                let b = r.data();
                let (cl, nl) = r.len();
                let fl = r.rng.u32();
                let send = n == 29;
                match r.rng.below(3) {
                    0 => {
                        // send/recv through socketcall: NULL address.
                        let a = r.sockargs(&[cf, b.compat(), cl, Imm(fl)]);
                        let call = if send { 9 } else { 10 };
                        set!(nr32::SOCKETCALL, [Imm(call), a.compat()], |c, cx| if send {
                            push!(c, cx, Sendto::new(nf, b.native(cx)).len(nl).flags(fl))
                        } else {
                            push!(c, cx, Recvfrom::new(nf, b.native(cx)).len(nl).flags(fl))
                        });
                    }
                    _ if send => {
                        let dest = if r.rng.chance(50) {
                            Some(r.sockaddr())
                        } else {
                            None
                        };
                        let (cd, cdl) = match dest {
                            Some((v, l)) => (v.compat(), Imm(l)),
                            None => (Imm(0), Imm(0)),
                        };
                        set!(
                            nr32::SENDTO,
                            [cf, b.compat(), cl, Imm(fl), cd, cdl],
                            |c, cx| {
                                let d = dest.map(|(v, len)| SockAddr {
                                    buf: v.native(cx),
                                    len,
                                });
                                push!(
                                    c,
                                    cx,
                                    Sendto::new(nf, b.native(cx)).len(nl).flags(fl).dest(d)
                                )
                            }
                        );
                    }
                    _ => {
                        let src = if r.rng.chance(50) {
                            Some(r.sockaddr_out())
                        } else {
                            None
                        };
                        let (ca, cal) = match src {
                            Some((a, l)) => (a.compat(), l.compat()),
                            None => (Imm(0), Imm(0)),
                        };
                        set!(
                            nr32::RECVFROM,
                            [cf, b.compat(), cl, Imm(fl), ca, cal],
                            |c, cx| {
                                let s = src.map(|(a, l)| SockAddrOut {
                                    addr: a.native(cx),
                                    len: l.native(cx),
                                });
                                push!(
                                    c,
                                    cx,
                                    Recvfrom::new(nf, b.native(cx)).len(nl).flags(fl).src(s)
                                )
                            }
                        );
                    }
                }
            }
            31 => {
                let (cf, nf) = r.fd();
                let how = r.rng.i32();
                set!(nr32::SHUTDOWN, [cf, Imm(how as u32)], |c, cx| push!(
                    c,
                    cx,
                    Shutdown::new(nf, how)
                ));
            }
            32 => {
                // setsockopt / getsockopt with options of the same layout.
                let (cf, nf) = r.fd();
                let (level, name) = loop {
                    let l = r.rng.i32();
                    let o = r.rng.i32();
                    if !compat::table::UNTRANSLATED_SOCKOPTS.contains(&(l as u32, o as u32)) {
                        break (l, o);
                    }
                };
                let v = r.data();
                if r.rng.chance(50) {
                    let (cl, nl) = r.len();
                    set!(
                        nr32::SETSOCKOPT,
                        [cf, Imm(level as u32), Imm(name as u32), v.compat(), cl],
                        |c, cx| push!(
                            c,
                            cx,
                            Setsockopt::new(nf, level, name, v.native(cx)).optlen(nl)
                        )
                    );
                } else {
                    let l = View {
                        index: r.add(Spec::InOut(4)),
                        offset: 0,
                    };
                    set!(
                        nr32::GETSOCKOPT,
                        [
                            cf,
                            Imm(level as u32),
                            Imm(name as u32),
                            v.compat(),
                            l.compat()
                        ],
                        |c, cx| push!(
                            c,
                            cx,
                            Getsockopt::new(nf, level, name, v.native(cx), l.native(cx))
                        )
                    );
                }
            }
            _ => {
                let (cf, nf) = r.fd();
                let p = r.path();
                if r.rng.chance(50) {
                    let idx = r.add(Spec::Statx);
                    let (fl, mask) = (r.rng.u32(), r.rng.u32());
                    let sx = View {
                        index: idx,
                        offset: 0,
                    };
                    set!(
                        nr32::STATX,
                        [cf, p.compat(), Imm(fl), Imm(mask), sx.compat()],
                        |c, cx| {
                            let NB::Statx(out) = cx.bufs[idx as usize] else {
                                unreachable!()
                            };
                            push!(
                                c,
                                cx,
                                Statx::new(nf, p.native(cx), out).flags(fl).mask(mask)
                            )
                        }
                    );
                } else {
                    let how_bytes = r.rng.bytes(24);
                    let how = r.view(Spec::In(how_bytes));
                    let size = 24 - how.offset;
                    set!(
                        nr32::OPENAT2,
                        [cf, p.compat(), how.compat(), Imm(size)],
                        |c, cx| push!(c, cx, Openat2::new(nf, p.native(cx), how.native(cx)))
                    );
                }
            }
        }
        g
    }
}

fn stop_from_bits(bits: u32) -> Stop {
    [
        Stop::NONZERO,
        Stop::ZERO,
        Stop::NEGATIVE,
        Stop::NON_POSITIVE,
    ]
    .into_iter()
    .filter(|s| bits & s.bits() != 0)
    .fold(Stop::NEVER, Stop::or)
}

/// One random chain: its compat bytes and the native builders' bytes.
/// The native buffers the translator appends for one atom.
type Extras = (Option<Out<Stat>>, Option<BufRef>, Option<Iovecs>);

fn random_chain(rng: &mut Rng) -> (Vec<u8>, Vec<u8>) {
    let natoms = rng.below(8) as u16 + 1;
    let mut g = Gen {
        rng,
        bufs: Vec::new(),
        referable: Vec::new(),
    };
    let mut atoms = Vec::new();
    let mut jumps = Vec::new();
    for i in 0..natoms {
        let mut a = g.atom();
        let llseek = a.nr == nr32::LLSEEK;
        let stop = if llseek {
            [0, abi::STOP_ON_NEGATIVE][g.rng.below(2) as usize]
        } else {
            (g.rng.below(16) as u32) << 3
        };
        let skip = g.rng.chance(30);
        let next = if g.rng.chance(20) {
            (i + 1 + g.rng.below((natoms - i) as u64) as u16) as u8
        } else {
            0
        };
        if next != 0 {
            jumps.push((i, next));
        }
        a.flags = stop | if skip { abi::SKIP_TO_NEXT_ON_STOP } else { 0 } | abi::next_field(next);
        a.private = g.rng.u32();
        if !llseek {
            g.referable.push(i);
        }
        atoms.push(a);
    }

    let (flags, caller_data) = (g.rng.below(8) as u16, g.rng.next());
    let mut w = CompatWriter::new();
    w.set_flags(flags).set_caller_data(caller_data);
    let mut chain = Chain::new();
    // Normalised batches are marked as a 32-bit producer's.
    chain
        .set_flags(flags | abi::BATCH_COMPAT32)
        .set_caller_data(caller_data);
    let mut nbufs = Vec::new();
    for spec in &g.bufs {
        nbufs.push(match spec {
            Spec::In(b) => {
                w.buffer(b, abi::BUF_IN);
                NB::Buf(chain.input(b))
            }
            Spec::Out(n) => {
                w.zeroed(*n, abi::BUF_OUT);
                NB::Buf(chain.output_bytes(*n))
            }
            Spec::InOut(n) => {
                w.zeroed(*n, abi::BUF_IN | abi::BUF_OUT);
                NB::Buf(chain.scratch(*n))
            }
            Spec::Statx => {
                w.zeroed(256, abi::BUF_OUT);
                NB::Statx(chain.output::<StatxBuf>())
            }
        });
    }
    // The buffers the translator appends, in atom order.
    let extras: Vec<Extras> = atoms
        .iter()
        .map(|a| {
            let stat = a.needs_stat.then(|| chain.output::<Stat>());
            let info = a.siginfo.as_ref().map(|b| chain.input(b));
            let iov = a.iovecs.as_ref().map(|elements| {
                let bufs: Vec<BufRef> = elements
                    .iter()
                    .map(|&(i, offset, len)| nbufs[i as usize].buf().skip(offset).take(len))
                    .collect();
                chain.iovecs(&bufs)
            });
            (stat, info, iov)
        })
        .collect();
    for (a, (stat, siginfo, iovecs)) in atoms.iter().zip(extras) {
        w.push(
            CompatAtom::new(a.nr, &a.args)
                .with_flags(a.flags)
                .with_private(a.private),
        );
        let cx = Ctx {
            bufs: &nbufs,
            stat,
            siginfo,
            iovecs,
            stop: stop_from_bits(a.flags & abi::STOP_MASK),
            skip: a.flags & abi::SKIP_TO_NEXT_ON_STOP != 0,
            private: a.private as u64,
        };
        (a.push)(&mut chain, &cx);
    }
    for (from, to) in jumps {
        chain.jump(AtomRef::from_index(from), AtomRef::from_index(to as u16));
    }
    let native = chain
        .encode()
        .expect("the builders encode")
        .as_bytes()
        .to_vec();
    (w.finish(), native)
}

#[test]
fn chains_in_the_32_bit_layout_normalise_to_the_natively_built_chain() {
    let seed = setting("SYSLETS_PROP_SEED", 0x5eed_c0de);
    let cases = setting("SYSLETS_PROP_CASES", 1500);
    let mut rng = Rng(seed);
    for case in 0..cases {
        let (compat_bytes, native) = random_chain(&mut rng);
        let norm = compat::normalize(&compat_bytes)
            .unwrap_or_else(|e| panic!("seed {seed:#x} case {case}: refused: {e}"));
        assert!(
            norm.native_bytes() == native.as_slice(),
            "seed {seed:#x} case {case}: normalised bytes differ from the native chain"
        );
    }
}

// ---------------------------------------------------------------------------
// Arbitrary bytes.

/// Bytes that get past the header checks often: a plausible header with random
/// counts, random atoms (numbers often from the table) and random descriptors.
fn plausible(rng: &mut Rng) -> Vec<u8> {
    let natoms = rng.below(6) as usize + 1;
    let nbufs = rng.below(5) as usize;
    let arena_len = rng.below(300) as usize;
    let mut w = CompatWriter::new();
    let mut arena = rng.bytes(arena_len);
    let calls = compat::table::COMPAT_CALLS;
    for _ in 0..natoms {
        let call = &calls[rng.below(calls.len() as u64) as usize];
        let mut a = CompatAtom {
            flags: if rng.chance(70) {
                0
            } else {
                rng.next() as u32 & 0x00ff_00f8
            },
            nr: if rng.chance(90) { call.nr } else { rng.u32() },
            nargs: if rng.chance(90) {
                call.nargs as u16
            } else {
                rng.below(8) as u16
            },
            private: rng.u32(),
            ..Default::default()
        };
        for k in 0..a.nargs.min(6) as usize {
            a.arg_kind[k] = [0, 0, 1, 2, 2, 3, 7][rng.below(7) as usize];
            a.arg[k] = match a.arg_kind[k] {
                1 => rng.below(8) as u32,
                2 => compat::compat_buf_arg(rng.below(6) as u16, rng.below(100) as u32).unwrap(),
                _ => rng.u32(),
            };
        }
        w.push(a);
    }
    let mut bytes = w.finish();
    // The writer holds the atoms only: patch in the header counts, then append
    // random descriptors and the arena.
    let h_at = 8;
    bytes[h_at..h_at + 2].copy_from_slice(&(nbufs as u16).to_le_bytes());
    bytes[12..16].copy_from_slice(&(arena_len as u32).to_le_bytes());
    for _ in 0..nbufs {
        let off = rng.below(arena_len as u64 + 1) as u32;
        let len = rng.below(arena_len as u64 - off as u64 + 2) as u32;
        let desc = abi::BufDesc {
            offset: off,
            len,
            flags: rng.below(4) as u32,
            reserved: 0,
        };
        bytes.extend_from_slice(desc.as_bytes());
    }
    // A socketcall array here and there.
    if arena_len >= 48 && rng.chance(30) {
        for e in 0..6 {
            let entry = SocketcallArg {
                kind: rng.below(4) as u32,
                value: rng.u32(),
            };
            arena[e * 8..e * 8 + 8].copy_from_slice(entry.as_bytes());
        }
    }
    bytes.extend_from_slice(&arena[..arena_len]);
    bytes
}

fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>) {
    for _ in 0..=rng.below(4) {
        match rng.below(4) {
            0 if !bytes.is_empty() => {
                let i = rng.below(bytes.len() as u64) as usize;
                bytes[i] ^= 1 << rng.below(8);
            }
            1 if !bytes.is_empty() => {
                let i = rng.below(bytes.len() as u64) as usize;
                bytes[i] = rng.next() as u8;
            }
            2 => {
                let n = rng.below(bytes.len() as u64 + 1) as usize;
                bytes.truncate(n);
            }
            _ => {
                let n = rng.below(9) as usize;
                bytes.extend(rng.bytes(n))
            }
        }
    }
}

/// Whatever `normalize` accepts must survive the rest of the pipeline's
/// non-executing steps without a panic.
fn exercise(rng: &mut Rng, bytes: &[u8]) -> bool {
    let Ok(norm) = compat::normalize(bytes) else {
        return false;
    };
    if let Ok(batch) = EncodedBatch::from_bytes(norm.native_bytes()).validate(&Policy::default()) {
        assert_eq!(batch.arena().len(), norm.native_arena_len());
        assert_eq!(batch.len(), norm.natoms());
    }
    let arena = rng.bytes(norm.native_arena_len());
    let mut done = Completion {
        natoms: norm.natoms() as u16,
        ran_mask: rng.next(),
        atoms_run: rng.below(70) as u16,
        last_atom: rng.below(70) as u16,
        status: rng.next() as i64,
        ..Default::default()
    };
    for r in done.results.iter_mut() {
        *r = rng.next() as i64;
    }
    let mut compat_copy = bytes.to_vec();
    norm.write_back(&arena, &done, &mut compat_copy)
        .expect("write-back of matching buffers");
    true
}

#[test]
fn normalize_never_panics_on_arbitrary_bytes() {
    let seed = setting("SYSLETS_PROP_SEED", 0xbad_b17e5);
    let cases = setting("SYSLETS_PROP_CASES", 1500);
    let mut rng = Rng(seed);
    let mut accepted = 0;
    for case in 0..cases {
        // Random bytes, sometimes with the compat magic in front.
        let n = rng.below(400) as usize;
        let mut b = rng.bytes(n);
        if b.len() >= 4 && rng.chance(50) {
            b[..4].copy_from_slice(&compat::COMPAT_MAGIC.to_le_bytes());
        }
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut local = Rng(rng.next());
            let mut hits = exercise(&mut local, &b) as u32;
            let mut p = plausible(&mut local);
            hits += exercise(&mut local, &p) as u32;
            mutate(&mut local, &mut p);
            hits += exercise(&mut local, &p) as u32;
            let (mut valid, _) = random_chain(&mut local);
            hits += exercise(&mut local, &valid) as u32;
            mutate(&mut local, &mut valid);
            hits + exercise(&mut local, &valid) as u32
        }));
        match r {
            Ok(h) => accepted += h,
            Err(_) => panic!("seed {seed:#x} case {case}: panicked (see above)"),
        }
    }
    // The generator is only useful if some inputs get all the way through.
    assert!(
        accepted as u64 >= cases,
        "only {accepted} inputs were accepted"
    );
}
