//! One test per validation error class, each asserting the exact error.

use syslets::abi::{self, nr, Atom, BatchHeader, BufDesc};
use syslets::opcode::{Close, Fstat, Getpid, Openat, RawAtom, Read, Write};
use syslets::{AtomRef, ByteLen, Chain, EncodedBatch, ErrorKind, Policy, Stat, ValidationError};
use zerocopy::{FromBytes, IntoBytes};

/// A valid batch: openat(path) → fstat(RESULT 0, st) → close(RESULT 0).
fn valid_bytes() -> Vec<u8> {
    let mut chain = Chain::new();
    let path = chain.path("/proc/self/stat");
    let st = chain.output::<Stat>();
    let fd = chain.push(Openat::new(libc::AT_FDCWD, path));
    chain.push(Fstat::new(fd, st));
    chain.push(Close::new(fd));
    chain.encode().unwrap().as_bytes().to_vec()
}

fn header(b: &[u8]) -> BatchHeader {
    BatchHeader::read_from_prefix(b).unwrap().0
}

fn set_header(b: &mut [u8], f: impl FnOnce(&mut BatchHeader)) {
    let mut h = header(b);
    f(&mut h);
    b[..abi::HEADER_SIZE].copy_from_slice(h.as_bytes());
}

fn atom_range(i: usize) -> std::ops::Range<usize> {
    let start = abi::HEADER_SIZE + i * abi::ATOM_SIZE;
    start..start + abi::ATOM_SIZE
}

fn set_atom(b: &mut [u8], i: usize, f: impl FnOnce(&mut Atom)) {
    let mut a = Atom::read_from_bytes(&b[atom_range(i)]).unwrap();
    f(&mut a);
    b[atom_range(i)].copy_from_slice(a.as_bytes());
}

fn set_buf(b: &mut [u8], i: usize, f: impl FnOnce(&mut BufDesc)) {
    let natoms = header(b).natoms as usize;
    let start = abi::HEADER_SIZE + natoms * abi::ATOM_SIZE + i * abi::BUFDESC_SIZE;
    let range = start..start + abi::BUFDESC_SIZE;
    let mut d = BufDesc::read_from_bytes(&b[range.clone()]).unwrap();
    f(&mut d);
    b[range].copy_from_slice(d.as_bytes());
}

fn refuse(b: &[u8]) -> ValidationError {
    EncodedBatch::from_bytes(b)
        .validate(&Policy::default())
        .expect_err("batch must be refused")
}

/// The reference batch with atom `i` changed by `edit`, which must be refused.
fn refuse_edit(i: usize, edit: impl FnOnce(&mut Atom)) -> ValidationError {
    let mut b = valid_bytes();
    set_atom(&mut b, i, edit);
    refuse(&b)
}

fn refuse_chain(chain: Chain<'_>) -> ValidationError {
    chain
        .prepare(&Policy::default())
        .expect_err("chain must be refused")
}

fn atom_err(i: u16, name: &'static str, kind: ErrorKind) -> ValidationError {
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

#[test]
fn the_reference_batch_is_valid() {
    let b = valid_bytes();
    let batch = EncodedBatch::from_bytes(&b)
        .validate(&Policy::default())
        .unwrap();
    assert_eq!(batch.len(), 3);
}

#[test]
fn shorter_than_a_header() {
    let b = valid_bytes();
    assert_eq!(
        refuse(&b[..20]),
        batch_err(ErrorKind::Truncated {
            expected: 32,
            found: 20
        })
    );
}

#[test]
fn truncated_body() {
    let b = valid_bytes();
    let n = b.len();
    assert_eq!(
        refuse(&b[..n - 1]),
        batch_err(ErrorKind::Truncated {
            expected: n,
            found: n - 1
        })
    );
}

#[test]
fn trailing_bytes() {
    let mut b = valid_bytes();
    let n = b.len();
    b.extend_from_slice(&[0; 8]);
    assert_eq!(
        refuse(&b),
        batch_err(ErrorKind::TrailingBytes {
            expected: n,
            found: n + 8
        })
    );
}

#[test]
fn bad_magic() {
    let mut b = valid_bytes();
    set_header(&mut b, |h| h.magic = 0x1234_5678);
    assert_eq!(refuse(&b), batch_err(ErrorKind::BadMagic(0x1234_5678)));
}

#[test]
fn bad_version() {
    let mut b = valid_bytes();
    set_header(&mut b, |h| h.version = 2);
    assert_eq!(refuse(&b), batch_err(ErrorKind::BadVersion(2)));
}

#[test]
fn no_atoms() {
    let mut b = valid_bytes();
    set_header(&mut b, |h| h.natoms = 0);
    assert_eq!(refuse(&b), batch_err(ErrorKind::NoAtoms));
    assert_eq!(refuse_chain(Chain::new()), batch_err(ErrorKind::NoAtoms));
}

#[test]
fn too_many_atoms() {
    let mut b = valid_bytes();
    set_header(&mut b, |h| h.natoms = 65);
    assert_eq!(refuse(&b), batch_err(ErrorKind::TooManyAtoms(65)));

    let mut chain = Chain::new();
    for _ in 0..65 {
        chain.push(Getpid::new());
    }
    assert_eq!(refuse_chain(chain), batch_err(ErrorKind::TooManyAtoms(65)));
}

#[test]
#[cfg_attr(
    miri,
    ignore = "runs the chain: a syscall instruction, which Miri cannot execute"
)]
fn sixty_four_atoms_are_fine() {
    let mut chain = Chain::new();
    for _ in 0..64 {
        chain.push(Getpid::new());
    }
    let mut batch = chain.prepare(&Policy::default()).unwrap();
    assert_eq!(batch.run().atoms_run(), 64);
}

#[test]
fn too_many_bufs() {
    let mut b = valid_bytes();
    set_header(&mut b, |h| h.nbufs = 257);
    assert_eq!(refuse(&b), batch_err(ErrorKind::TooManyBufs(257)));

    let mut chain = Chain::new();
    for _ in 0..257 {
        chain.output_bytes(1);
    }
    chain.push(Getpid::new());
    assert_eq!(refuse_chain(chain), batch_err(ErrorKind::TooManyBufs(257)));
}

#[test]
fn arena_too_large() {
    let mut b = valid_bytes();
    let big = abi::MAX_ARENA_LEN as u32 + 1;
    set_header(&mut b, |h| h.arena_len = big);
    assert_eq!(
        refuse(&b),
        batch_err(ErrorKind::ArenaTooLarge(big as usize))
    );

    let mut chain = Chain::new();
    chain.output_bytes(abi::MAX_ARENA_LEN + 1);
    chain.push(Getpid::new());
    assert_eq!(
        refuse_chain(chain),
        batch_err(ErrorKind::ArenaTooLarge(abi::MAX_ARENA_LEN + 1))
    );
}

#[test]
fn unknown_batch_flags() {
    let mut b = valid_bytes();
    set_header(&mut b, |h| h.flags = 0x10);
    assert_eq!(refuse(&b), batch_err(ErrorKind::BadBatchFlags(0x10)));
}

#[test]
fn async_and_sync_together() {
    let mut b = valid_bytes();
    set_header(&mut b, |h| h.flags = abi::BATCH_ASYNC | abi::BATCH_SYNC);
    assert_eq!(refuse(&b), batch_err(ErrorKind::ConflictingBatchFlags));
}

#[test]
fn header_reserved_not_zero() {
    let mut b = valid_bytes();
    set_header(&mut b, |h| h.reserved = 1);
    assert_eq!(
        refuse(&b),
        batch_err(ErrorKind::ReservedNotZero("header.reserved"))
    );
}

#[test]
fn atom_reserved_not_zero() {
    assert_eq!(
        refuse_edit(1, |a| a.reserved = 7),
        atom_err(1, "fstat", ErrorKind::ReservedNotZero("atom.reserved"))
    );
}

#[test]
fn buffer_descriptors() {
    type Mutation = fn(&mut BufDesc);
    let cases: [(Mutation, &str); 4] = [
        (|d| d.reserved = 1, "reserved field is not zero"),
        (|d| d.flags = 0, "flags must be IN, OUT or both"),
        (|d| d.flags = 0x4, "flags must be IN, OUT or both"),
        (|d| d.len += 1_000_000, "reaches past the end of the arena"),
    ];
    for (mutate, reason) in cases {
        let mut b = valid_bytes();
        set_buf(&mut b, 1, mutate);
        assert_eq!(
            refuse(&b),
            batch_err(ErrorKind::BadBufDesc { buf: 1, reason })
        );
    }
}

#[test]
fn interior_nul_in_a_path() {
    let mut chain = Chain::new();
    let path = chain.path("/tmp/a\0b");
    chain.push(Openat::new(libc::AT_FDCWD, path));
    assert_eq!(refuse_chain(chain), batch_err(ErrorKind::InteriorNul));
}

#[test]
fn unknown_atom_flags() {
    assert_eq!(
        refuse_edit(0, |a| a.flags = 0x100),
        atom_err(0, "openat", ErrorKind::BadAtomFlags(0x100))
    );
}

#[test]
fn next_target_not_later() {
    for target in [1u8, 4] {
        assert_eq!(
            refuse_edit(1, |a| a.flags = abi::next_field(target)),
            atom_err(1, "fstat", ErrorKind::BadNextTarget(target))
        );
    }
    // natoms (3) means "end after this atom": valid.
    let mut b = valid_bytes();
    set_atom(&mut b, 1, |a| a.flags = abi::next_field(3));
    EncodedBatch::from_bytes(&b)
        .validate(&Policy::default())
        .unwrap();
}

#[test]
fn unknown_syscall() {
    let mut b = valid_bytes();
    set_atom(&mut b, 2, |a| a.nr = 59); // execve: never in the table
    let e = refuse(&b);
    assert_eq!(e.atom, Some(2));
    assert!(
        matches!(
            e.kind,
            ErrorKind::UnknownSyscall(59) | ErrorKind::SyscallDenied
        ),
        "{e}"
    );

    let e = refuse_edit(2, |a| a.nr = 100_000);
    assert_eq!(
        (e.atom, e.syscall, e.kind),
        (Some(2), None, ErrorKind::UnknownSyscall(100_000))
    );
}

#[test]
fn syscall_not_allowed_by_policy() {
    let b = valid_bytes();
    let e = EncodedBatch::from_bytes(&b)
        .validate(&Policy::default().deny(nr::FSTAT))
        .unwrap_err();
    assert_eq!(e, atom_err(1, "fstat", ErrorKind::SyscallNotAllowed));
}

#[test]
fn wrong_arg_count() {
    assert_eq!(
        refuse_edit(2, |a| a.nargs = 2),
        atom_err(
            2,
            "close",
            ErrorKind::WrongArgCount {
                expected: 1,
                found: 2
            }
        )
    );
}

#[test]
fn unknown_arg_kind() {
    assert_eq!(
        refuse_edit(2, |a| a.arg_kind[0] = 9),
        atom_err(2, "close", ErrorKind::BadArgKind { arg: 0, kind: 9 })
    );
}

#[test]
fn unused_arg_not_zero() {
    assert_eq!(
        refuse_edit(2, |a| a.arg[3] = 1),
        atom_err(2, "close", ErrorKind::UnusedArgNotZero(3))
    );
    assert_eq!(
        refuse_edit(2, |a| a.arg_kind[5] = abi::ARG_RESULT),
        atom_err(2, "close", ErrorKind::UnusedArgNotZero(5))
    );
}

#[test]
fn value_does_not_fit_its_type() {
    // An fd (int) with bits above 32.
    assert_eq!(
        refuse_edit(0, |a| a.arg[0] = 1 << 40),
        atom_err(
            0,
            "openat",
            ErrorKind::ArgOutOfRange {
                arg: 0,
                value: 1 << 40
            }
        )
    );
    // Open flags (unsigned int) above u32::MAX.
    assert_eq!(
        refuse_edit(0, |a| a.arg[2] = u32::MAX as u64 + 1),
        atom_err(
            0,
            "openat",
            ErrorKind::ArgOutOfRange {
                arg: 2,
                value: u32::MAX as u64 + 1
            }
        )
    );
    // AT_FDCWD (-100, sign-extended) fits.
    let mut b = valid_bytes();
    set_atom(&mut b, 0, |a| a.arg[0] = -100i64 as u64);
    EncodedBatch::from_bytes(&b)
        .validate(&Policy::default())
        .unwrap();
}

#[test]
fn result_naming_itself() {
    assert_eq!(
        refuse_edit(1, |a| a.arg[0] = 1),
        atom_err(1, "fstat", ErrorKind::ResultRefersToSelf(0))
    );
}

#[test]
fn result_naming_a_later_atom() {
    assert_eq!(
        refuse_edit(1, |a| a.arg[0] = 2),
        atom_err(
            1,
            "fstat",
            ErrorKind::ResultRefersForward { arg: 0, target: 2 }
        )
    );
}

#[test]
fn pointer_given_as_immediate_or_result() {
    assert_eq!(
        refuse_edit(1, |a| {
            a.arg_kind[1] = abi::ARG_IMM;
            a.arg[1] = 0x7fff_0000_0000;
        }),
        atom_err(
            1,
            "fstat",
            ErrorKind::NotABuffer {
                arg: 1,
                found: "immediate"
            }
        )
    );
    // NULL is not allowed for fstat's statbuf either.
    assert_eq!(
        refuse_edit(1, |a| {
            a.arg_kind[1] = abi::ARG_IMM;
            a.arg[1] = 0;
        }),
        atom_err(
            1,
            "fstat",
            ErrorKind::NotABuffer {
                arg: 1,
                found: "immediate"
            }
        )
    );
    // A returned value must never become a pointer.
    assert_eq!(
        refuse_edit(1, |a| {
            a.arg_kind[1] = abi::ARG_RESULT;
            a.arg[1] = 0;
        }),
        atom_err(
            1,
            "fstat",
            ErrorKind::NotABuffer {
                arg: 1,
                found: "result"
            }
        )
    );
}

#[test]
fn buffer_index_out_of_range() {
    assert_eq!(
        refuse_edit(1, |a| a.arg[1] = abi::buf_arg(2, 0)),
        atom_err(
            1,
            "fstat",
            ErrorKind::BufIndexOutOfRange {
                arg: 1,
                index: 2,
                nbufs: 2
            }
        )
    );
    // Bits above the 16-bit index are refused too.
    let e = refuse_edit(1, |a| a.arg[1] = 1 << 60 | abi::buf_arg(1, 0));
    assert!(
        matches!(e.kind, ErrorKind::BufIndexOutOfRange { arg: 1, .. }),
        "{e}"
    );
}

#[test]
fn buffer_offset_out_of_range() {
    assert_eq!(
        refuse_edit(1, |a| a.arg[1] = abi::buf_arg(1, 145)),
        atom_err(
            1,
            "fstat",
            ErrorKind::BufOffsetOutOfRange {
                arg: 1,
                offset: 145,
                len: 144
            }
        )
    );
}

#[test]
fn fixed_size_struct_does_not_fit() {
    // fstat into the stat buffer at offset 8: 136 bytes left, 144 needed.
    assert_eq!(
        refuse_edit(1, |a| a.arg[1] = abi::buf_arg(1, 8)),
        atom_err(
            1,
            "fstat",
            ErrorKind::LengthExceedsBuffer {
                arg: 1,
                len: 144,
                available: 136
            }
        )
    );
}

#[test]
fn length_argument_exceeds_buffer() {
    let mut chain = Chain::new();
    let buf = chain.output_bytes(16);
    chain.push(Read::new(0, buf).len(ByteLen::Bytes(17)));
    assert_eq!(
        refuse_chain(chain),
        atom_err(
            0,
            "read",
            ErrorKind::LengthExceedsBuffer {
                arg: 1,
                len: 17,
                available: 16
            }
        )
    );
    let mut chain = Chain::new();
    let buf = chain.output_bytes(16);
    chain.push(Read::new(0, buf.skip(10)).len(ByteLen::Bytes(7)));
    assert_eq!(
        refuse_chain(chain),
        atom_err(
            0,
            "read",
            ErrorKind::LengthExceedsBuffer {
                arg: 1,
                len: 7,
                available: 6
            }
        )
    );
}

#[test]
fn wrong_direction() {
    // The kernel would write into an IN-only buffer (the path).
    let e = refuse_edit(1, |a| a.arg[1] = abi::buf_arg(0, 0));
    assert_eq!(
        e,
        atom_err(1, "fstat", ErrorKind::WrongDirection { arg: 1, buf: 0 })
    );
    // And read from an OUT-only one.
    let mut chain = Chain::new();
    let out = chain.output_bytes(8);
    chain.push(Write::new(1, out));
    assert_eq!(
        refuse_chain(chain),
        atom_err(0, "write", ErrorKind::WrongDirection { arg: 1, buf: 0 })
    );
}

#[test]
fn unterminated_path() {
    let mut chain = Chain::new();
    let path = chain.input(b"/etc/passwd"); // no NUL
    chain.push(Openat::new(libc::AT_FDCWD, path));
    assert_eq!(
        refuse_chain(chain),
        atom_err(0, "openat", ErrorKind::UnterminatedString(1))
    );
}

#[test]
fn raw_pointer_in_foreign_bytes() {
    let mut storage = [0u8; 16];
    let mut chain = Chain::new();
    let mem = chain.borrow_mut(&mut storage);
    chain.push(Read::new(0, mem));
    let bytes = chain.encode().unwrap().as_bytes().to_vec();
    assert_eq!(
        refuse(&bytes),
        atom_err(0, "read", ErrorKind::RawPointerInForeignBatch(1))
    );
}

#[test]
fn raw_pointer_without_a_known_region() {
    let atom = Atom {
        nr: nr::READ,
        nargs: 3,
        arg_kind: [abi::ARG_IMM, abi::ARG_RAW, abi::ARG_IMM, 0, 0, 0],
        arg: [0, 0x1000, 8, 0, 0, 0],
        ..Default::default()
    };
    let mut chain = Chain::new();
    chain.push(RawAtom(atom));
    assert_eq!(
        refuse_chain(chain),
        atom_err(0, "read", ErrorKind::RawPointerInForeignBatch(1))
    );
}

#[test]
fn raw_region_lengths_are_checked() {
    let mut storage = [0u8; 16];
    let mut chain = Chain::new();
    let mem = chain.borrow_mut(&mut storage);
    chain.push(Read::new(0, mem).len(ByteLen::Bytes(17)));
    assert_eq!(
        refuse_chain(chain),
        atom_err(
            0,
            "read",
            ErrorKind::LengthExceedsBuffer {
                arg: 1,
                len: 17,
                available: 16
            }
        )
    );
}

#[test]
fn pointer_where_a_value_belongs() {
    assert_eq!(
        refuse_edit(2, |a| {
            a.arg_kind[0] = abi::ARG_BUF;
            a.arg[0] = abi::buf_arg(0, 0);
        }),
        atom_err(
            2,
            "close",
            ErrorKind::ArgRefused {
                arg: 0,
                reason: "a pointer where the syscall takes a value"
            }
        )
    );
}

#[test]
fn errors_name_the_atom_and_the_reason() {
    let mut b = valid_bytes();
    set_atom(&mut b, 1, |a| a.arg[1] = abi::buf_arg(5, 0));
    let text = refuse(&b).to_string();
    assert_eq!(
        text,
        "atom 1 (fstat): argument 1 refers to buffer 5, but the batch has 2 buffers"
    );
    let io: std::io::Error = refuse(&b).into();
    assert_eq!(io.kind(), std::io::ErrorKind::InvalidInput);
}

#[test]
#[should_panic(expected = "jump targets must be later atoms")]
fn backward_jumps_cannot_be_built() {
    let mut chain = Chain::new();
    let a = chain.push(Getpid::new());
    let b = chain.push(Getpid::new());
    chain.jump(b, a);
}

#[test]
fn atom_refs_round_trip() {
    assert_eq!(AtomRef::from_index(5).index(), 5);
}

#[test]
fn an_atom_ref_of_another_chain_is_refused_naming_the_atom() {
    let mut other = Chain::new();
    let p = other.path("/proc/self/stat");
    other.push(Getpid::new());
    let foreign_open = other.push(Openat::new(libc::AT_FDCWD, p));

    let mut chain = Chain::new();
    let p = chain.path("/proc/self/stat");
    let st = chain.output::<Stat>();
    chain.push(Openat::new(libc::AT_FDCWD, p));
    chain.push(Getpid::new());
    // Index 1 exists in this chain too (a getpid): it would validate, and
    // fstat would run on a pid. Refused instead, at the atom that used it.
    chain.push(Fstat::new(foreign_open, st));
    let e = chain.prepare(&Policy::default()).unwrap_err();
    assert_eq!(e.atom, Some(2));
    assert_eq!(e.syscall, Some("fstat"));
    assert_eq!(
        e.kind,
        ErrorKind::ForeignAtomRef {
            arg: Some(0),
            atom: 1
        }
    );
    assert!(e.to_string().contains("another chain"), "{e}");

    // As a length, and in a jump.
    let mut chain = Chain::new();
    let buf = chain.scratch(8);
    chain.push(Getpid::new());
    chain.push(Write::new(1, buf).len(ByteLen::ResultOf(foreign_open)));
    assert_eq!(
        chain.encode().unwrap_err().kind,
        ErrorKind::ForeignAtomRef {
            arg: Some(2),
            atom: 1
        }
    );
    let mut chain = Chain::new();
    let first2 = chain.push(Getpid::new());
    chain.push(Getpid::new());
    chain.push(Getpid::new());
    chain.jump(first2, AtomRef::from_index(2));
    assert!(chain.encode().is_ok(), "from_index names no chain");
    let mut chain = Chain::new();
    let a = chain.push(Getpid::new());
    chain.push(Getpid::new());
    chain.jump(a, foreign_open);
    assert_eq!(
        chain.encode().unwrap_err().kind,
        ErrorKind::ForeignAtomRef { arg: None, atom: 1 }
    );
    // The chain's own references still work, and compare by index.
    assert_eq!(foreign_open, AtomRef::from_index(1));
}
