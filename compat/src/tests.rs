//! Unit tests of the translator: layout, widening, conventions, write-back and
//! every refusal.

use alloc::string::ToString;
use alloc::vec::Vec;

use syslets_abi::kernel::Stat;
use syslets_abi::{self as abi, Atom, BatchHeader, BufDesc, Completion, BUF_IN, BUF_OUT};
use zerocopy::{FromBytes, IntoBytes};

use crate::error::{ArgPos, CompatErrorKind as E};
use crate::normalize::{cmsgs_to_compat, cmsgs_to_native, llseek_stop, siginfo_to_native};
use crate::writer::CompatArg::{Buf, Imm, Result as Res};
use crate::*;

/// Decoded native batch.
struct Native {
    header: BatchHeader,
    atoms: Vec<Atom>,
    bufs: Vec<BufDesc>,
    arena: Vec<u8>,
}

fn decode(n: &Normalized) -> Native {
    let b = n.native_bytes();
    let header = BatchHeader::read_from_prefix(b).unwrap().0;
    let natoms = header.natoms as usize;
    let mut at = abi::HEADER_SIZE;
    let atoms = (0..natoms)
        .map(|i| Atom::read_from_bytes(&b[at + i * 80..at + (i + 1) * 80]).unwrap())
        .collect();
    at += natoms * abi::ATOM_SIZE;
    let bufs = (0..header.nbufs as usize)
        .map(|i| BufDesc::read_from_bytes(&b[at + i * 16..at + (i + 1) * 16]).unwrap())
        .collect();
    at += header.nbufs as usize * abi::BUFDESC_SIZE;
    assert_eq!(b.len() - at, header.arena_len as usize);
    Native {
        header,
        atoms,
        bufs,
        arena: b[at..].to_vec(),
    }
}

fn one(atom: CompatAtom, w: &mut CompatWriter) -> Native {
    w.push(atom);
    decode(&normalize(&w.finish()).expect("normalises"))
}

fn refuse(w: &CompatWriter) -> CompatError {
    normalize(&w.finish()).expect_err("must be refused")
}

fn buf(index: u16) -> CompatArg {
    Buf { index, offset: 0 }
}

#[test]
fn buf_words_hold_index_high_and_offset_low() {
    assert_eq!(compat_buf_arg(3, 0x10), Some(0x0300_0010));
    assert_eq!(compat_buf_arg(255, COMPAT_MAX_BUF_OFFSET), Some(u32::MAX));
    assert_eq!(compat_buf_arg(256, 0), None);
    assert_eq!(compat_buf_arg(0, 1 << 24), None);
    assert_eq!(split_compat_buf_arg(0x0300_0010), (3, 0x10));
    assert_eq!(compat_atoms_len(3), 136, "3 * 44 = 132, padded to 136");
}

#[test]
fn header_is_native_layout_with_compat_magic() {
    let mut w = CompatWriter::new();
    w.set_flags(abi::BATCH_SYNC)
        .set_caller_data(0xdead_beef_0000_0001);
    let n = one(
        CompatAtom::new(nr32::GETPID, &[]).with_private(0xffff_fffe),
        &mut w,
    );
    assert_eq!(n.header.magic, abi::MAGIC);
    assert_eq!(
        n.header.flags,
        abi::BATCH_SYNC | abi::BATCH_COMPAT32,
        "the producer's flags, marked as a 32-bit producer's batch"
    );
    assert_eq!(n.header.caller_data, 0xdead_beef_0000_0001);
    assert_eq!(n.atoms[0].nr, abi::nr::GETPID);
    assert_eq!(n.atoms[0].nargs, 0);
    assert_eq!(n.atoms[0].private, 0xffff_fffe, "private is zero-extended");
}

#[test]
fn arguments_widen_by_their_native_type() {
    let mut w = CompatWriter::new();
    let path = w.path(b"x");
    // openat(AT_FDCWD, path, O_RDONLY | 0x8000_0000 (a flag bit), 0o644)
    let n = one(
        CompatAtom::new(
            nr32::OPENAT,
            &[Imm(-100i32 as u32), buf(path), Imm(0x8000_0000), Imm(0o644)],
        ),
        &mut w,
    );
    let a = n.atoms[0];
    assert_eq!(a.arg[0], -100i64 as u64, "Fd sign-extends");
    assert_eq!(a.arg[1], abi::buf_arg(path, 0));
    assert_eq!(a.arg[2], 0x8000_0000, "UInt zero-extends");
    assert_eq!(a.arg_kind[..4], [0, abi::ARG_BUF, 0, 0]);

    let mut w = CompatWriter::new();
    let data = w.zeroed(8, BUF_OUT);
    // read(-1, buf, 0xffff_fffe): size_t zero-extends.
    let n = one(
        CompatAtom::new(nr32::READ, &[Imm(u32::MAX), buf(data), Imm(0xffff_fffe)]),
        &mut w,
    );
    assert_eq!(n.atoms[0].arg[0], u64::MAX);
    assert_eq!(n.atoms[0].arg[2], 0xffff_fffe);

    // lseek(3, -8, SEEK_END): the 32-bit off_t sign-extends.
    let mut w = CompatWriter::new();
    let n = one(
        CompatAtom::new(nr32::LSEEK, &[Imm(3), Imm(-8i32 as u32), Imm(2)]),
        &mut w,
    );
    assert_eq!(n.atoms[0].nr, abi::nr::LSEEK);
    assert_eq!(n.atoms[0].arg[1] as i64, -8);
}

#[test]
fn split_64_bit_values_are_joined() {
    let mut w = CompatWriter::new();
    let data = w.zeroed(16, BUF_OUT);
    // pread64(fd, buf, 16, lo, hi) at 6 GiB + 3.
    let n = one(
        CompatAtom::new(
            nr32::PREAD64,
            &[Imm(5), buf(data), Imm(16), Imm(0x8000_0003), Imm(1)],
        ),
        &mut w,
    );
    assert_eq!(n.atoms[0].nr, abi::nr::PREAD64);
    assert_eq!(n.atoms[0].nargs, 4);
    assert_eq!(n.atoms[0].arg[3], (6 << 30) + 3);
    assert_eq!(n.atoms[0].arg[4], 0, "no stray words");

    let mut w = CompatWriter::new();
    let n = one(
        CompatAtom::new(
            nr32::FALLOCATE,
            &[Imm(5), Imm(1), Imm(0), Imm(2), Imm(0xffff_ffff), Imm(0)],
        ),
        &mut w,
    );
    assert_eq!(n.atoms[0].nr, abi::nr::FALLOCATE);
    assert_eq!(&n.atoms[0].arg[..4], &[5, 1, 2 << 32, 0xffff_ffff]);

    let mut w = CompatWriter::new();
    let n = one(
        CompatAtom::new(nr32::FTRUNCATE64, &[Imm(5), Imm(7), Imm(0x8000_0000)]),
        &mut w,
    );
    assert_eq!(n.atoms[0].nr, abi::nr::FTRUNCATE);
    assert_eq!(
        n.atoms[0].arg[1], 0x8000_0000_0000_0007,
        "high word is not sign-extended"
    );
}

#[test]
fn llseek_becomes_lseek_and_writes_its_result_back() {
    let mut w = CompatWriter::new();
    let res = w.buffer(&[0xee; 8], BUF_OUT);
    let flags = abi::STOP_ON_NEGATIVE;
    w.push(
        CompatAtom::new(
            nr32::LLSEEK,
            &[Imm(4), Imm(1), Imm(0x4000_0000), buf(res), Imm(0)],
        )
        .with_flags(flags),
    );
    let mut compat = w.finish();
    let norm = normalize(&compat).unwrap();
    let n = decode(&norm);
    assert_eq!(n.atoms[0].nr, abi::nr::LSEEK);
    assert_eq!(&n.atoms[0].arg[..3], &[4, 5 << 30, 0]);
    assert_eq!(n.atoms[0].flags, abi::STOP_ON_NEGATIVE);
    assert_eq!(n.bufs.len(), 1, "nothing appended");

    let done = Completion {
        natoms: 1,
        atoms_run: 1,
        ran_mask: 1,
        status: 5 << 30,
        results: {
            let mut r = [0; 64];
            r[0] = 5 << 30;
            r
        },
        ..Default::default()
    };
    let seen = norm.write_back(&n.arena, &done, &mut compat).unwrap();
    assert_eq!(seen.results[0], 0, "_llseek returns 0 on i386");
    assert_eq!(seen.status, 0);
    let at = compat.len() - 8;
    assert_eq!(
        i64::from_le_bytes(compat[at..].try_into().unwrap()),
        5 << 30
    );

    // A failed lseek writes nothing and returns -errno.
    let mut compat2 = w.finish();
    let mut failed = done;
    failed.results[0] = -29;
    failed.status = -29;
    let seen = norm.write_back(&n.arena, &failed, &mut compat2).unwrap();
    assert_eq!(seen.results[0], -29);
    assert_eq!(&compat2[at..], &[0xee; 8]);
}

#[test]
fn llseek_stop_flags_mean_the_same_on_the_native_result() {
    // Every combination of stop bits: either refused (stop on success only) or
    // translated so that, for any native result r, the native flags stop exactly
    // when the compat flags stop on the i386 result min(r, 0).
    let holds = |stop: u32, r: i64| {
        (stop & abi::STOP_ON_NONZERO != 0 && r != 0)
            || (stop & abi::STOP_ON_ZERO != 0 && r == 0)
            || (stop & abi::STOP_ON_NEGATIVE != 0 && r < 0)
            || (stop & abi::STOP_ON_NON_POSITIVE != 0 && r <= 0)
    };
    let mut refused = 0;
    for bits in 0..16u32 {
        let stop = bits << 3;
        let flags = stop | abi::SKIP_TO_NEXT_ON_STOP | abi::next_field(3);
        match llseek_stop(flags) {
            Ok(native) => {
                assert_eq!(native & !abi::STOP_MASK, flags & !abi::STOP_MASK);
                for r in [-4095, -22, -1, 0, 1, 4096, 5 << 30, i64::MAX] {
                    assert_eq!(
                        holds(native & abi::STOP_MASK, r),
                        holds(stop, r.min(0)),
                        "stop {stop:#x}, r {r}"
                    );
                }
            }
            Err(s) => {
                assert_eq!(s, stop);
                // Refused only when it stops on success but not on failure.
                assert!(holds(stop, 0) && !holds(stop, -1), "{stop:#x}");
                refused += 1;
            }
        }
    }
    assert_eq!(refused, 1, "only STOP_ON_ZERO alone");
}

#[test]
fn socketcall_connect_reads_its_argument_array() {
    let mut w = CompatWriter::new();
    let sa = w.buffer(
        &[2, 0, 0x1f, 0x90, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
        BUF_IN,
    );
    let mut socket_args = Vec::new();
    for e in [(0u32, 2u32), (0, 1), (0, 0)] {
        socket_args.extend_from_slice(
            SocketcallArg {
                kind: e.0,
                value: e.1,
            }
            .as_bytes(),
        );
    }
    let sargs = w.buffer(&socket_args, BUF_IN);
    let mut connect_args = Vec::new();
    for a in [
        Res(0),
        Buf {
            index: sa,
            offset: 0,
        },
        Imm(16),
    ] {
        let (kind, value) = a.encode();
        connect_args.extend_from_slice(
            SocketcallArg {
                kind: kind as u32,
                value,
            }
            .as_bytes(),
        );
    }
    let cargs = w.buffer(&connect_args, BUF_IN);
    w.push(CompatAtom::new(nr32::SOCKETCALL, &[Imm(1), buf(sargs)]));
    let n = one(
        CompatAtom::new(nr32::SOCKETCALL, &[Imm(3), buf(cargs)]),
        &mut w,
    );
    assert_eq!(n.atoms[0].nr, abi::nr::SOCKET);
    assert_eq!(&n.atoms[0].arg[..3], &[2, 1, 0]);
    assert_eq!(n.atoms[1].nr, abi::nr::CONNECT);
    assert_eq!(
        n.atoms[1].arg_kind[..3],
        [abi::ARG_RESULT, abi::ARG_BUF, abi::ARG_IMM]
    );
    assert_eq!(&n.atoms[1].arg[..3], &[0, abi::buf_arg(sa, 0), 16]);
}

#[test]
fn socketcall_accept_send_recv_become_their_native_forms() {
    let mut w = CompatWriter::new();
    let data = w.zeroed(8, BUF_IN | BUF_OUT);
    let acc = w.socketcall_args(&[Imm(3), Imm(0), Imm(0)]);
    let snd = w.socketcall_args(&[Imm(4), buf(data), Imm(8), Imm(0x4000)]);
    w.push(CompatAtom::new(nr32::SOCKETCALL, &[Imm(5), buf(acc)]));
    let n = one(
        CompatAtom::new(nr32::SOCKETCALL, &[Imm(9), buf(snd)]),
        &mut w,
    );
    assert_eq!(n.atoms[0].nr, abi::nr::ACCEPT4);
    assert_eq!(&n.atoms[0].arg[..4], &[3, 0, 0, 0]);
    assert_eq!(n.atoms[1].nr, abi::nr::SENDTO);
    assert_eq!(n.atoms[1].nargs, 6);
    assert_eq!(
        &n.atoms[1].arg[..6],
        &[4, abi::buf_arg(data, 0), 8, 0x4000, 0, 0]
    );
}

fn sample_stat() -> Stat {
    Stat {
        st_dev: 0x0803,
        st_ino: 0x1_2345_6789,
        st_nlink: 2,
        st_mode: 0o100644,
        st_uid: 1000,
        st_gid: 100,
        st_rdev: 0,
        st_size: 6 << 30,
        st_blksize: 4096,
        st_blocks: 24,
        st_atime: 0x1_0000_0010,
        st_atime_nsec: 11,
        st_mtime: 1_700_000_000,
        st_mtime_nsec: 999_999_999,
        st_ctime: 1_700_000_001,
        st_ctime_nsec: 5,
        ..Default::default()
    }
}

#[test]
fn fstat64_writes_an_i386_stat64_and_keeps_the_padding() {
    let mut w = CompatWriter::new();
    let st = w.buffer(&[0xa5; 96], BUF_OUT);
    w.push(CompatAtom::new(nr32::FSTAT64, &[Imm(3), buf(st)]));
    let mut compat = w.finish();
    let norm = normalize(&compat).unwrap();
    let mut n = decode(&norm);
    assert_eq!(n.atoms[0].nr, abi::nr::FSTAT);
    assert_eq!(n.bufs.len(), 2);
    assert_eq!(
        n.bufs[1],
        BufDesc {
            offset: 96,
            len: 144,
            flags: BUF_OUT,
            reserved: 0
        }
    );
    assert_eq!(n.atoms[0].arg[1], abi::buf_arg(1, 0));
    n.arena[96..240].copy_from_slice(sample_stat().as_bytes());
    let done = Completion {
        natoms: 1,
        atoms_run: 1,
        ran_mask: 1,
        ..Default::default()
    };
    norm.write_back(&n.arena, &done, &mut compat).unwrap();
    let bytes = &compat[compat.len() - 96..];
    let s = Stat64::read_from_bytes(bytes).unwrap();
    assert_eq!(s.st_dev.get(), 0x0803);
    assert_eq!(s.pad0, [0xa5; 4], "the kernel never writes __pad0");
    assert_eq!(s.st_ino_lo, 0x2345_6789, "__st_ino keeps the low 32 bits");
    assert_eq!(s.st_ino.get(), 0x1_2345_6789);
    assert_eq!(
        (s.st_mode, s.st_nlink, s.st_uid, s.st_gid),
        (0o100644, 2, 1000, 100)
    );
    assert_eq!(s.pad3, [0xa5; 4], "the kernel never writes __pad3");
    assert_eq!(s.st_size.get(), 6 << 30);
    assert_eq!((s.st_blksize, s.st_blocks.get()), (4096, 24));
    assert_eq!(
        (s.st_atime, s.st_atime_nsec),
        (0x10, 11),
        "time_t is 32-bit"
    );
    assert_eq!((s.st_mtime, s.st_mtime_nsec), (1_700_000_000, 999_999_999));
    assert_eq!((s.st_ctime, s.st_ctime_nsec), (1_700_000_001, 5));
    // Byte-exact at the documented offsets.
    assert_eq!(&bytes[44..52], &(6i64 << 30).to_le_bytes());
    assert_eq!(&bytes[88..96], &0x1_2345_6789u64.to_le_bytes());

    // When fstat fails, the buffer is left alone.
    let mut compat2 = w.finish();
    let mut failed = done;
    failed.results[0] = -9;
    let seen = norm.write_back(&n.arena, &failed, &mut compat2).unwrap();
    assert_eq!(seen.results[0], -9);
    assert_eq!(&compat2[compat2.len() - 96..], &[0xa5; 96]);
}

#[test]
fn path_stat_calls_become_newfstatat() {
    for (nr, dirfd, flags) in [
        (nr32::STAT64, -100i64 as u64, 0),
        (nr32::LSTAT64, -100i64 as u64, 0x100),
    ] {
        let mut w = CompatWriter::new();
        let p = w.path(b"f");
        let st = w.zeroed(96, BUF_OUT);
        let n = one(CompatAtom::new(nr, &[buf(p), buf(st)]), &mut w);
        assert_eq!(n.atoms[0].nr, abi::nr::NEWFSTATAT);
        assert_eq!(
            &n.atoms[0].arg[..4],
            &[dirfd, abi::buf_arg(p, 0), abi::buf_arg(2, 0), flags]
        );
    }
    let mut w = CompatWriter::new();
    let p = w.path(b"f");
    let st = w.zeroed(96, BUF_OUT);
    let n = one(
        CompatAtom::new(nr32::FSTATAT64, &[Imm(7), buf(p), buf(st), Imm(0x1000)]),
        &mut w,
    );
    assert_eq!(
        &n.atoms[0].arg[..4],
        &[7, abi::buf_arg(p, 0), abi::buf_arg(2, 0), 0x1000]
    );
}

#[test]
fn siginfo_is_translated_into_the_native_layout() {
    // SI_QUEUE: pid, uid, sival_int move from offsets 12/16/20 to 16/20/24.
    let mut c = [0u8; 128];
    c[0..4].copy_from_slice(&10i32.to_le_bytes());
    c[8..12].copy_from_slice(&(-1i32).to_le_bytes());
    c[12..16].copy_from_slice(&1234i32.to_le_bytes());
    c[16..20].copy_from_slice(&1000u32.to_le_bytes());
    c[20..24].copy_from_slice(&(-7i32).to_le_bytes());
    c[24..28].copy_from_slice(&0x5555_5555u32.to_le_bytes()); // ignored
    let n = siginfo_to_native(&c).unwrap();
    assert_eq!(&n[0..4], &10i32.to_le_bytes());
    assert_eq!(&n[8..12], &(-1i32).to_le_bytes());
    assert_eq!(&n[12..16], &[0; 4]);
    assert_eq!(&n[16..20], &1234i32.to_le_bytes());
    assert_eq!(&n[20..24], &1000u32.to_le_bytes());
    assert_eq!(&n[24..32], &(-7i32 as u32 as u64).to_le_bytes());
    assert!(n[32..].iter().all(|&b| b == 0));

    // SI_SIGIO: the band is a long.
    c[8..12].copy_from_slice(&(-5i32).to_le_bytes());
    c[12..16].copy_from_slice(&(-3i32).to_le_bytes());
    c[16..20].copy_from_slice(&9i32.to_le_bytes());
    let n = siginfo_to_native(&c).unwrap();
    assert_eq!(&n[16..24], &(-3i64).to_le_bytes());
    assert_eq!(&n[24..28], &9i32.to_le_bytes());

    // SI_USER: pid and uid only.
    c[8..12].copy_from_slice(&0i32.to_le_bytes());
    let n = siginfo_to_native(&c).unwrap();
    assert_eq!(&n[16..20], &(-3i32).to_le_bytes());
    assert_eq!(&n[24..28], &[0; 4]);

    c[8..12].copy_from_slice(&1i32.to_le_bytes()); // e.g. SEGV_MAPERR
    assert_eq!(siginfo_to_native(&c), Err(1));

    // Through normalize: appended as an IN buffer.
    let mut w = CompatWriter::new();
    c[8..12].copy_from_slice(&(-1i32).to_le_bytes());
    let info = w.buffer(&c, BUF_IN);
    let n = one(
        CompatAtom::new(
            nr32::RT_TGSIGQUEUEINFO,
            &[Imm(1), Imm(2), Imm(10), buf(info)],
        ),
        &mut w,
    );
    assert_eq!(n.atoms[0].nr, abi::nr::RT_TGSIGQUEUEINFO);
    assert_eq!(n.atoms[0].arg[3], abi::buf_arg(1, 0));
    assert_eq!(n.bufs[1].flags, BUF_IN);
    assert_eq!(&n.arena[128..256], &siginfo_to_native(&c).unwrap());
}

#[test]
fn completion_results_are_what_eax_would_hold() {
    let mut w = CompatWriter::new();
    w.push(CompatAtom::new(nr32::LSEEK, &[Imm(3), Imm(0), Imm(2)]));
    w.push(CompatAtom::new(nr32::GETPID, &[]));
    let norm = normalize(&w.finish()).unwrap();
    let mut c = Completion {
        natoms: 2,
        atoms_run: 2,
        ran_mask: 0b11,
        last_atom: 1,
        status: 42,
        ..Default::default()
    };
    c.results[0] = 3 << 30; // past 2 GiB: negative in a 32-bit register
    c.results[1] = 42;
    let seen = norm.completion(&c);
    assert_eq!(seen.results[0], (3i64 << 30) as i32 as i64);
    assert!(seen.results[0] < 0);
    assert_eq!(seen.results[1], 42);
    assert_eq!(seen.status, 42);
}

#[test]
fn write_back_refuses_foreign_buffers() {
    let mut w = CompatWriter::new();
    w.zeroed(8, BUF_OUT);
    w.push(CompatAtom::new(nr32::GETPID, &[]));
    let mut compat = w.finish();
    let norm = normalize(&compat).unwrap();
    let done = Completion {
        natoms: 1,
        ..Default::default()
    };
    let arena = [0u8; 8];
    assert!(norm.write_back(&arena[..4], &done, &mut compat).is_err());
    assert!(norm.write_back(&arena, &done, &mut compat[..10]).is_err());
    let other = Completion {
        natoms: 2,
        ..Default::default()
    };
    let e = norm.write_back(&arena, &other, &mut compat).unwrap_err();
    assert!(matches!(e.kind, E::WriteBackMismatch(_)));
    assert!(norm.write_back(&arena, &done, &mut compat).is_ok());
}

// ---------------------------------------------------------------------------
// Refusals: each names the atom and the reason.

fn with_atoms(atoms: &[CompatAtom]) -> CompatWriter {
    let mut w = CompatWriter::new();
    w.zeroed(96, BUF_OUT);
    w.buffer(b"p\0", BUF_IN);
    for a in atoms {
        w.push(*a);
    }
    w
}

fn getpid() -> CompatAtom {
    CompatAtom::new(nr32::GETPID, &[])
}

#[test]
fn unknown_i386_numbers_are_refused() {
    for nr in [11u32, 0, 59, 108, 5, 9999] {
        let e = refuse(&with_atoms(&[getpid(), CompatAtom::new(nr, &[])]));
        assert_eq!(e.atom, Some(1));
        assert_eq!(e.kind, E::UnknownSyscall(nr));
    }
}

#[test]
fn raw_pointers_are_refused() {
    let mut raw = CompatAtom::new(nr32::FSTAT64, &[Imm(0), buf(0)]);
    raw.arg_kind[1] = abi::ARG_RAW;
    let e = refuse(&with_atoms(&[getpid(), raw]));
    assert_eq!((e.atom, e.syscall), (Some(1), Some("fstat64")));
    assert_eq!(
        e.kind,
        E::RawPointer {
            arg: ArgPos::Atom(1)
        }
    );

    // A non-zero immediate where a pointer goes is a 32-bit address.
    let a = CompatAtom::new(nr32::READ, &[Imm(0), Imm(0x0804_8000), Imm(4)]);
    let e = refuse(&with_atoms(&[a]));
    assert_eq!(
        e.kind,
        E::RawPointer {
            arg: ArgPos::Atom(1)
        }
    );
}

#[test]
fn truncated_and_oversized_buffers_are_refused() {
    let bytes = with_atoms(&[getpid()]).finish();
    for len in [0, 4, 31, 32, 80, bytes.len() - 1] {
        let e = normalize(&bytes[..len]).unwrap_err();
        assert!(matches!(e.kind, E::Truncated { .. }), "{len}: {e}");
        assert_eq!(e.atom, None);
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        normalize(&longer).unwrap_err().kind,
        E::TrailingBytes { .. }
    ));
}

#[test]
fn native_batches_and_bad_headers_are_refused() {
    let mut bytes = with_atoms(&[getpid()]).finish();
    bytes[..4].copy_from_slice(&abi::MAGIC.to_le_bytes());
    let e = normalize(&bytes).unwrap_err();
    assert_eq!(e.kind, E::BadMagic(abi::MAGIC));
    assert!(e.to_string().contains("native batch"));
    bytes[..4].copy_from_slice(&COMPAT_MAGIC.to_le_bytes());
    bytes[4] = 2;
    assert_eq!(normalize(&bytes).unwrap_err().kind, E::BadVersion(2));
    let empty = CompatWriter::new().finish();
    assert_eq!(normalize(&empty).unwrap_err().kind, E::NoAtoms);
}

#[test]
fn padding_and_unused_arguments_must_be_zero() {
    let mut bytes = with_atoms(&[getpid()]).finish();
    bytes[32 + 44] = 1; // the padding after one 44-byte atom
    assert_eq!(normalize(&bytes).unwrap_err().kind, E::PaddingNotZero);

    let mut a = CompatAtom::new(nr32::CLOSE, &[Imm(3)]);
    a.arg[4] = 1;
    let e = refuse(&with_atoms(&[a]));
    assert_eq!((e.atom, e.kind), (Some(0), E::UnusedArgNotZero(4)));

    let mut a = CompatAtom::new(nr32::CLOSE, &[Imm(3)]);
    a.nargs = 2;
    assert_eq!(
        refuse(&with_atoms(&[a])).kind,
        E::WrongArgCount {
            expected: 1,
            found: 2
        }
    );

    let mut a = CompatAtom::new(nr32::CLOSE, &[Imm(3)]);
    a.arg_kind[0] = 9;
    assert_eq!(
        refuse(&with_atoms(&[a])).kind,
        E::BadArgKind {
            arg: ArgPos::Atom(0),
            kind: 9
        }
    );
}

#[test]
fn buffers_and_results_must_exist() {
    let a = CompatAtom::new(nr32::FSTAT64, &[Imm(0), buf(7)]);
    assert_eq!(
        refuse(&with_atoms(&[a])).kind,
        E::BufIndexOutOfRange {
            arg: ArgPos::Atom(1),
            index: 7,
            nbufs: 2
        }
    );
    let a = CompatAtom::new(nr32::CLOSE, &[Res(0)]);
    assert!(normalize(&with_atoms(&[getpid(), getpid(), a]).finish()).is_ok());
    let a = CompatAtom::new(nr32::CLOSE, &[Res(2)]);
    let e = refuse(&with_atoms(&[getpid(), getpid(), a]));
    assert_eq!(
        (e.atom, e.kind),
        (
            Some(2),
            E::DoesNotFit {
                arg: ArgPos::Atom(0),
                value: 2,
                what: "the index of an earlier atom"
            }
        )
    );
    let a = CompatAtom::new(nr32::CLOSE, &[buf(1)]);
    assert_eq!(
        refuse(&with_atoms(&[a])).kind,
        E::BufferForValue {
            arg: ArgPos::Atom(0)
        }
    );
    let a = CompatAtom::new(nr32::FSTAT64, &[Imm(0), Res(0)]);
    assert_eq!(
        refuse(&with_atoms(&[getpid(), a])).kind,
        E::NotABuffer {
            arg: ArgPos::Atom(1)
        }
    );
}

#[test]
fn translated_buffers_are_checked() {
    // Too small for a stat64.
    let mut w = CompatWriter::new();
    let small = w.zeroed(95, BUF_OUT);
    w.push(CompatAtom::new(nr32::FSTAT64, &[Imm(0), buf(small)]));
    assert!(matches!(
        refuse(&w).kind,
        E::BadTranslatedBuffer {
            arg: ArgPos::Atom(1),
            ..
        }
    ));
    // Not OUT.
    let mut w = CompatWriter::new();
    let inp = w.zeroed(96, BUF_IN);
    w.push(CompatAtom::new(nr32::FSTAT64, &[Imm(0), buf(inp)]));
    assert!(matches!(refuse(&w).kind, E::BadTranslatedBuffer { .. }));
    // Shared with another argument: the stat64 bytes only exist after the run.
    let mut w = CompatWriter::new();
    let st = w.zeroed(96, BUF_IN | BUF_OUT);
    w.push(CompatAtom::new(nr32::FSTAT64, &[Imm(0), buf(st)]));
    w.push(CompatAtom::new(nr32::WRITE, &[Imm(1), buf(st), Imm(96)]));
    let e = refuse(&w);
    assert_eq!(
        (e.atom, e.kind),
        (Some(0), E::SharedTranslatedBuffer { buf: st })
    );
    // A socketcall array in a buffer an atom could write.
    let mut w = CompatWriter::new();
    let args = w.zeroed(24, BUF_IN | BUF_OUT);
    w.push(CompatAtom::new(nr32::SOCKETCALL, &[Imm(1), buf(args)]));
    assert!(matches!(refuse(&w).kind, E::BadTranslatedBuffer { .. }));
}

#[test]
fn socketcall_refusals_name_the_entry() {
    let mut w = CompatWriter::new();
    let args = w.zeroed(48, BUF_IN);
    w.push(CompatAtom::new(nr32::SOCKETCALL, &[Imm(19), buf(args)]));
    assert_eq!(refuse(&w).kind, E::UnsupportedSocketcall(19), "recvmmsg");

    let mut w = CompatWriter::new();
    let args = w.zeroed(48, BUF_IN);
    w.push(getpid());
    w.push(CompatAtom::new(nr32::SOCKETCALL, &[Res(0), buf(args)]));
    assert_eq!(
        refuse(&w).kind,
        E::NeedsImmediate {
            arg: ArgPos::Atom(0)
        }
    );

    let mut w = CompatWriter::new();
    let mut entries = Vec::new();
    for (k, v) in [(0u32, 3u32), (3, 0x1000), (0, 16)] {
        entries.extend_from_slice(SocketcallArg { kind: k, value: v }.as_bytes());
    }
    let args = w.buffer(&entries, BUF_IN);
    w.push(CompatAtom::new(nr32::SOCKETCALL, &[Imm(3), buf(args)]));
    let e = refuse(&w);
    assert_eq!((e.atom, e.syscall), (Some(0), Some("socketcall")));
    assert_eq!(
        e.kind,
        E::RawPointer {
            arg: ArgPos::Socketcall(1)
        }
    );
    assert!(e.to_string().contains("socketcall argument 1"), "{e}");
}

#[test]
fn untranslated_socket_options_are_refused() {
    let mut w = CompatWriter::new();
    let tv = w.zeroed(8, BUF_IN);
    // setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO_OLD, &tv32, 8)
    w.push(CompatAtom::new(
        nr32::SETSOCKOPT,
        &[Imm(3), Imm(1), Imm(20), buf(tv), Imm(8)],
    ));
    assert_eq!(
        refuse(&w).kind,
        E::UnsupportedSockopt {
            level: 1,
            optname: 20
        }
    );
    // SO_REUSEADDR has the same layout: accepted.
    let mut w = CompatWriter::new();
    let one_ = w.buffer(&1i32.to_le_bytes(), BUF_IN);
    w.push(CompatAtom::new(
        nr32::SETSOCKOPT,
        &[Imm(3), Imm(1), Imm(2), buf(one_), Imm(4)],
    ));
    assert!(normalize(&w.finish()).is_ok());
}

#[test]
fn llseek_results_and_unsupported_stops_are_refused() {
    let mut w = CompatWriter::new();
    let r = w.zeroed(8, BUF_OUT);
    let ll = CompatAtom::new(nr32::LLSEEK, &[Imm(3), Imm(0), Imm(0), buf(r), Imm(0)]);
    w.push(ll.with_flags(abi::STOP_ON_ZERO));
    let e = refuse(&w);
    assert_eq!(e.kind, E::UnsupportedStop(abi::STOP_ON_ZERO));

    let mut w = CompatWriter::new();
    let r = w.zeroed(8, BUF_OUT);
    w.push(CompatAtom::new(
        nr32::LLSEEK,
        &[Imm(3), Imm(0), Imm(0), buf(r), Imm(0)],
    ));
    w.push(CompatAtom::new(nr32::CLOSE, &[Res(0)]));
    let e = refuse(&w);
    assert_eq!(
        (e.atom, e.kind),
        (
            Some(1),
            E::ResultOfLlseek {
                arg: ArgPos::Atom(0)
            }
        )
    );

    // Split halves must be immediates.
    let mut w = CompatWriter::new();
    w.push(getpid());
    w.push(CompatAtom::new(
        nr32::FTRUNCATE64,
        &[Imm(3), Res(0), Imm(0)],
    ));
    assert_eq!(
        refuse(&w).kind,
        E::NeedsImmediate {
            arg: ArgPos::Atom(1)
        }
    );
}

#[test]
fn buffer_descriptors_must_lie_in_the_arena() {
    let mut bytes = with_atoms(&[getpid()]).finish();
    let desc_at = 32 + 48;
    bytes[desc_at + 4..desc_at + 8].copy_from_slice(&1000u32.to_le_bytes());
    assert_eq!(
        normalize(&bytes).unwrap_err().kind,
        E::BadBufDesc { buf: 0 }
    );
}

#[test]
fn too_many_buffers_with_the_appended_ones_are_refused() {
    let mut w = CompatWriter::new();
    for _ in 0..254 {
        w.zeroed(0, BUF_IN);
    }
    let a = w.zeroed(96, BUF_OUT);
    let b = w.zeroed(96, BUF_OUT);
    let _ = b;
    w.push(CompatAtom::new(nr32::FSTAT64, &[Imm(0), buf(a)]));
    assert_eq!(refuse(&w).kind, E::TooManyBufs(257));
}

/// An i386 control message: `cmsg_len`, level 1, `ty`, `data`.
fn compat_cmsg(ty: i32, data: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&((12 + data.len()) as u32).to_le_bytes());
    b.extend_from_slice(&1i32.to_le_bytes());
    b.extend_from_slice(&ty.to_le_bytes());
    b.extend_from_slice(data);
    b
}

#[test]
fn control_messages_convert_between_the_layouts() {
    // SCM_RIGHTS with two descriptors, then one with one: 4-byte aligned.
    let mut compat = compat_cmsg(1, &[3, 0, 0, 0, 4, 0, 0, 0]);
    compat.extend_from_slice(&compat_cmsg(1, &[5, 0, 0, 0]));
    let native = cmsgs_to_native(&compat).unwrap();
    // 16-byte headers, each message 8-byte aligned.
    assert_eq!(native.len(), 24 + 24);
    assert_eq!(u64::from_le_bytes(native[..8].try_into().unwrap()), 24);
    assert_eq!(&native[16..24], &[3, 0, 0, 0, 4, 0, 0, 0]);
    assert_eq!(u64::from_le_bytes(native[24..32].try_into().unwrap()), 20);
    assert_eq!(&native[40..44], &[5, 0, 0, 0]);
    // And back, whole and with room for the first only.
    assert_eq!(cmsgs_to_compat(&native, 64), (compat.clone(), false));
    assert_eq!(cmsgs_to_compat(&native, 30), (compat[..20].to_vec(), true));
    // What the kernel refuses: a length past the data or under the header,
    // and no message at all.
    let mut long = compat.clone();
    long[..4].copy_from_slice(&99u32.to_le_bytes());
    assert!(cmsgs_to_native(&long).is_err());
    let mut short = compat.clone();
    short[..4].copy_from_slice(&8u32.to_le_bytes());
    assert!(cmsgs_to_native(&short).is_err());
    assert!(cmsgs_to_native(&[0u8; 11]).is_err());
}

fn ran_one(result: i64) -> Completion {
    let mut done = Completion {
        natoms: 1,
        atoms_run: 1,
        ran_mask: 1,
        ..Default::default()
    };
    done.results[0] = result;
    done.status = result;
    done
}

#[test]
fn fstatfs_writes_the_32_bit_statfs_or_fails_with_eoverflow() {
    use syslets_abi::kernel::Statfs;
    let mut w = CompatWriter::new();
    let st = w.buffer(&[0xa5; 64], BUF_OUT);
    w.push(CompatAtom::new(nr32::FSTATFS, &[Imm(3), buf(st)]));
    let norm = normalize(&w.finish()).unwrap();
    let mut n = decode(&norm);
    assert_eq!(n.atoms[0].nr, abi::nr::FSTATFS);
    assert_eq!((n.bufs[1].offset, n.bufs[1].len), (64, 120));
    let mut native = Statfs {
        f_type: 0x0102_1994,
        f_bsize: 4096,
        f_blocks: 0xffff_fffe,
        f_bfree: 7,
        f_bavail: 6,
        f_files: u64::MAX,
        f_ffree: u64::MAX,
        f_fsid: [-3, 4],
        f_namelen: 255,
        f_frsize: 4096,
        f_flags: 0x20,
        f_spare: [9; 4],
    };
    n.arena[64..184].copy_from_slice(native.as_bytes());
    let mut compat = w.finish();
    let seen = norm.write_back(&n.arena, &ran_one(0), &mut compat).unwrap();
    assert_eq!(seen.results[0], 0);
    let got = Statfs32::read_from_bytes(&compat[compat.len() - 64..]).unwrap();
    assert_eq!(got.f_type, 0x0102_1994);
    assert_eq!(
        (got.f_bsize, got.f_blocks, got.f_bfree),
        (4096, 0xffff_fffe, 7)
    );
    assert_eq!((got.f_files, got.f_ffree), (u32::MAX, u32::MAX), "-1 fits");
    assert_eq!(
        (got.f_fsid, got.f_namelen, got.f_flags),
        ([-3, 4], 255, 0x20)
    );
    assert_eq!(got.f_spare, [0; 4], "the kernel zeroes the spare words");

    // A count over 32 bits: the i386 call fails and writes nothing.
    for wide in [0, 1, 2] {
        let mut over = native;
        match wide {
            0 => over.f_blocks = 1 << 32,
            1 => over.f_files = (1 << 32) + 5,
            _ => over.f_bsize = 1 << 32,
        }
        n.arena[64..184].copy_from_slice(over.as_bytes());
        let mut compat = w.finish();
        let seen = norm.write_back(&n.arena, &ran_one(0), &mut compat).unwrap();
        assert_eq!(seen.results[0], -75, "EOVERFLOW ({wide})");
        assert_eq!(seen.status, -75);
        assert_eq!(&compat[compat.len() - 64..], &[0xa5; 64]);
    }
    native.f_blocks = 1;
    n.arena[64..184].copy_from_slice(native.as_bytes());
    // A failed call leaves the buffer alone and keeps its errno.
    let mut compat = w.finish();
    let seen = norm
        .write_back(&n.arena, &ran_one(-9), &mut compat)
        .unwrap();
    assert_eq!(seen.results[0], -9);
    assert_eq!(&compat[compat.len() - 64..], &[0xa5; 64]);
}

#[test]
fn old_timespecs_are_widened_and_remain_is_written_back_on_eintr() {
    let ts = |sec: i32, nsec: i32| OldTimespec32 {
        tv_sec: sec,
        tv_nsec: nsec,
    };
    // utimensat(dirfd, path, times[2], flags): both widened, signed.
    let mut w = CompatWriter::new();
    let path = w.path(b"f");
    let mut times = Vec::new();
    times.extend_from_slice(ts(-2, (1 << 30) - 2).as_bytes());
    times.extend_from_slice(ts(1_000_000_000, 123).as_bytes());
    let t = w.buffer(&times, BUF_IN);
    let n = one(
        CompatAtom::new(
            nr32::UTIMENSAT,
            &[Imm(-100i32 as u32), buf(path), buf(t), Imm(0x100)],
        ),
        &mut w,
    );
    assert_eq!(n.atoms[0].nr, abi::nr::UTIMENSAT);
    assert_eq!(n.atoms[0].arg[2], abi::buf_arg(2, 0));
    assert_eq!(n.bufs[2].len, 32);
    let at = n.bufs[2].offset as usize;
    let native = &n.arena[at..at + 32];
    assert_eq!(&native[..8], &(-2i64).to_le_bytes());
    assert_eq!(&native[8..16], &((1i64 << 30) - 2).to_le_bytes());
    assert_eq!(&native[16..24], &1_000_000_000i64.to_le_bytes());
    assert_eq!(&native[24..], &123i64.to_le_bytes());
    // NULL times stay NULL (now).
    let mut w = CompatWriter::new();
    let path = w.path(b"f");
    let n = one(
        CompatAtom::new(
            nr32::UTIMENSAT,
            &[Imm(-100i32 as u32), buf(path), Imm(0), Imm(0)],
        ),
        &mut w,
    );
    assert_eq!(
        (n.atoms[0].arg_kind[2], n.atoms[0].arg[2]),
        (abi::ARG_IMM, 0)
    );
    // Times the call reads must not be in an OUT buffer (they are read up front).
    let mut w = CompatWriter::new();
    let path = w.path(b"f");
    let t = w.zeroed(16, BUF_IN | BUF_OUT);
    w.push(CompatAtom::new(
        nr32::UTIMENSAT,
        &[Imm(-100i32 as u32), buf(path), buf(t), Imm(0)],
    ));
    assert!(matches!(refuse(&w).kind, E::BadTranslatedBuffer { .. }));

    // clock_nanosleep(clock, flags, request, remain).
    let mut w = CompatWriter::new();
    let req = w.buffer(ts(1, 5).as_bytes(), BUF_IN);
    let rem = w.buffer(&[0xa5; 8], BUF_OUT);
    w.push(CompatAtom::new(
        nr32::CLOCK_NANOSLEEP,
        &[Imm(1), Imm(0), buf(req), buf(rem)],
    ));
    let norm = normalize(&w.finish()).unwrap();
    let mut n = decode(&norm);
    assert_eq!(n.atoms[0].nr, abi::nr::CLOCK_NANOSLEEP);
    assert_eq!(
        (n.bufs[2].len, n.bufs[3].len, n.bufs[3].flags),
        (16, 16, BUF_OUT)
    );
    let at = n.bufs[2].offset as usize;
    assert_eq!(&n.arena[at..at + 8], &1i64.to_le_bytes());
    assert_eq!(&n.arena[at + 8..at + 16], &5i64.to_le_bytes());
    let rem_at = n.bufs[3].offset as usize;
    n.arena[rem_at..rem_at + 8].copy_from_slice(&0x1_0000_0002i64.to_le_bytes());
    n.arena[rem_at + 8..rem_at + 16].copy_from_slice(&999i64.to_le_bytes());
    // Slept to the end: remain untouched.
    let mut compat = w.finish();
    norm.write_back(&n.arena, &ran_one(0), &mut compat).unwrap();
    assert_eq!(&compat[compat.len() - 8..], &[0xa5; 8]);
    // Interrupted: the time left, in 32 bits.
    let mut compat = w.finish();
    let seen = norm
        .write_back(&n.arena, &ran_one(-4), &mut compat)
        .unwrap();
    assert_eq!(seen.results[0], -4);
    let left = OldTimespec32::read_from_bytes(&compat[compat.len() - 8..]).unwrap();
    assert_eq!(left, ts(2, 999));
    // A NULL remain stays NULL.
    let mut w = CompatWriter::new();
    let req = w.buffer(ts(0, 1).as_bytes(), BUF_IN);
    let n = one(
        CompatAtom::new(nr32::CLOCK_NANOSLEEP, &[Imm(1), Imm(0), buf(req), Imm(0)]),
        &mut w,
    );
    assert_eq!(
        (n.atoms[0].arg_kind[3], n.atoms[0].arg[3]),
        (abi::ARG_IMM, 0)
    );
    assert_eq!(n.bufs.len(), 2);
}

#[test]
fn sendfile_widens_its_32_bit_offset_and_cuts_the_count_at_2_gib() {
    let sendfile = |off: Option<i32>, count: u32| {
        let mut w = CompatWriter::new();
        let arg = match off {
            Some(o) => buf(w.buffer(&o.to_le_bytes(), BUF_IN | BUF_OUT)),
            None => Imm(0),
        };
        w.push(CompatAtom::new(
            nr32::SENDFILE,
            &[Imm(1), Imm(0), arg, Imm(count)],
        ));
        w
    };
    let w = sendfile(Some(-7), 100);
    let norm = normalize(&w.finish()).unwrap();
    let mut n = decode(&norm);
    assert_eq!(n.atoms[0].nr, abi::nr::SENDFILE);
    assert_eq!(n.atoms[0].arg[2], abi::buf_arg(1, 0));
    assert_eq!(n.atoms[0].arg[3], 100);
    assert_eq!(n.bufs[1].flags, BUF_IN | BUF_OUT);
    let at = n.bufs[1].offset as usize;
    assert_eq!(
        &n.arena[at..at + 8],
        &(-7i64).to_le_bytes(),
        "sign-extended"
    );
    // Stored back whatever the call returned, in 32 bits.
    n.arena[at..at + 8].copy_from_slice(&1234i64.to_le_bytes());
    for r in [100, -22] {
        let mut compat = w.finish();
        let seen = norm.write_back(&n.arena, &ran_one(r), &mut compat).unwrap();
        assert_eq!(seen.results[0], r);
        assert_eq!(
            &compat[compat.len() - 8..compat.len() - 4],
            &1234i32.to_le_bytes()
        );
    }
    // Not run: left alone.
    let mut compat = w.finish();
    let none = Completion {
        natoms: 1,
        ..Default::default()
    };
    norm.write_back(&n.arena, &none, &mut compat).unwrap();
    assert_eq!(
        &compat[compat.len() - 8..compat.len() - 4],
        &(-7i32).to_le_bytes()
    );

    // MAX_NON_LFS: the count is cut so the offset ends at 2^31 - 1.
    let n = decode(&normalize(&sendfile(Some(i32::MAX - 10), 100).finish()).unwrap());
    assert_eq!(n.atoms[0].arg[3], 10);
    let n = decode(&normalize(&sendfile(Some(i32::MAX - 10), 10).finish()).unwrap());
    assert_eq!(n.atoms[0].arg[3], 10);
    let n = decode(&normalize(&sendfile(Some(i32::MAX), 0).finish()).unwrap());
    assert_eq!(n.atoms[0].arg[3], 0);
    assert!(matches!(
        refuse(&sendfile(Some(i32::MAX), 1)).kind,
        E::BadTranslatedBuffer { .. }
    ));
    // Without an offset: the file offset, no limit, any count.
    let n = decode(&normalize(&sendfile(None, u32::MAX).finish()).unwrap());
    assert_eq!(
        (n.atoms[0].arg_kind[2], n.atoms[0].arg[3]),
        (abi::ARG_IMM, u32::MAX as u64)
    );

    // The offset buffer: IN and OUT, used by nothing else; the count an immediate.
    let mut w = CompatWriter::new();
    let off = w.zeroed(4, BUF_OUT);
    w.push(CompatAtom::new(
        nr32::SENDFILE,
        &[Imm(1), Imm(0), buf(off), Imm(1)],
    ));
    assert!(matches!(refuse(&w).kind, E::BadTranslatedBuffer { .. }));
    let mut w = CompatWriter::new();
    let off = w.zeroed(4, BUF_IN | BUF_OUT);
    w.push(CompatAtom::new(
        nr32::SENDFILE,
        &[Imm(1), Imm(0), buf(off), Imm(1)],
    ));
    w.push(CompatAtom::new(
        nr32::SENDFILE,
        &[Imm(1), Imm(0), buf(off), Imm(1)],
    ));
    assert!(matches!(refuse(&w).kind, E::SharedTranslatedBuffer { .. }));
    let mut w = CompatWriter::new();
    let off = w.zeroed(4, BUF_IN | BUF_OUT);
    w.push(getpid());
    w.push(CompatAtom::new(
        nr32::SENDFILE,
        &[Imm(1), Imm(0), buf(off), Res(0)],
    ));
    assert!(matches!(refuse(&w).kind, E::NeedsImmediate { .. }));
}
