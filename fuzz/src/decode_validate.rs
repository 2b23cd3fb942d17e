//! Target `decode_validate`: arbitrary bytes through
//! [`EncodedBatch::from_bytes`] and [`EncodedBatch::validate`].
//!
//! A batch decoded from arbitrary bytes is never run here (it could name any
//! path and write anywhere): this target only validates, and checks what a
//! validated batch exposes against an independent reading of the ABI (the
//! [`oracle`](check_accepted)): everything the validator lets through must be
//! something the ABI and the signature table allow, with every pointer reaching
//! only bytes of its own buffer inside the arena.

use syslets::abi::signature::{self, ArgType, Dir, Len};
use syslets::abi::{self, Atom, BatchHeader, BufDesc};
use syslets::{EncodedBatch, Policy, ValidatedBatch};
use zerocopy::FromBytes;

/// The whole check for one input: never panics unless an invariant is broken.
pub fn check(data: &[u8]) {
    let policy = Policy::default();
    let first = EncodedBatch::from_bytes(data).validate(&policy);
    // Validation is a pure function of the bytes and the policy.
    let second = EncodedBatch::from_bytes(data).validate(&policy);
    match (&first, &second) {
        (Ok(_), Ok(_)) => {}
        (Err(a), Err(b)) => assert_eq!(a, b, "validation is not deterministic"),
        _ => panic!("validation is not deterministic"),
    }
    // A policy that allows nothing lets nothing through.
    assert!(
        EncodedBatch::from_bytes(data)
            .validate(&Policy::empty())
            .is_err(),
        "the empty policy accepted a batch"
    );
    match first {
        Ok(batch) => check_accepted(data, &policy, &batch),
        Err(e) => {
            // Errors render, and name an atom only when there is one.
            assert!(!e.to_string().is_empty());
            if let Some(atom) = e.atom {
                assert!((atom as usize) < abi::MAX_ATOMS);
            }
        }
    }
}

/// Where in the arena a pointer argument may reach: `start..start + avail`.
#[derive(Clone, Copy, Debug)]
struct Reach {
    start: u64,
    avail: u64,
}

/// The oracle: `batch` was accepted from `data` under `policy`; check that the
/// bytes really are a well-formed batch that the policy allows, that every
/// pointer argument stays inside its buffer, and that the validated batch
/// exposes exactly the bytes it was given.
pub fn check_accepted(data: &[u8], policy: &Policy, batch: &ValidatedBatch<'_>) {
    let (header, _) = BatchHeader::read_from_prefix(data).expect("accepted: has a header");
    assert_eq!(header.magic, abi::MAGIC);
    assert_eq!(header.version, abi::VERSION);
    assert_eq!(header.reserved, 0);
    assert_eq!(header.flags & !abi::BATCH_FLAGS_MASK, 0);
    assert_ne!(
        header.flags & (abi::BATCH_ASYNC | abi::BATCH_SYNC),
        abi::BATCH_ASYNC | abi::BATCH_SYNC
    );
    let natoms = header.natoms as usize;
    let nbufs = header.nbufs as usize;
    let arena_len = header.arena_len as usize;
    assert!((1..=abi::MAX_ATOMS).contains(&natoms));
    assert!(nbufs <= abi::MAX_BUFS);
    assert!(arena_len <= abi::MAX_ARENA_LEN);
    let atoms_end = abi::HEADER_SIZE + natoms * abi::ATOM_SIZE;
    let bufs_end = atoms_end + nbufs * abi::BUFDESC_SIZE;
    assert_eq!(data.len(), bufs_end + arena_len, "exact size");

    // What the validated batch exposes is the input, unchanged.
    assert_eq!(batch.len(), natoms);
    assert!(!batch.is_empty());
    assert_eq!(batch.flags(), header.flags);
    assert_eq!(batch.caller_data(), header.caller_data);
    let arena = &data[bufs_end..];
    assert_eq!(batch.arena(), arena, "arena bytes changed");
    let descs: Vec<BufDesc> = (0..nbufs)
        .map(|i| {
            let at = atoms_end + i * abi::BUFDESC_SIZE;
            BufDesc::read_from_bytes(&data[at..at + abi::BUFDESC_SIZE]).unwrap()
        })
        .collect();
    assert_eq!(batch.buf_descs(), &descs[..], "buffer descriptors changed");
    for (i, d) in descs.iter().enumerate() {
        assert_eq!(d.reserved, 0);
        assert!(d.flags != 0 && d.flags & !abi::BUF_FLAGS_MASK == 0);
        let end = d.offset as u64 + d.len as u64;
        assert!(end <= arena_len as u64, "buffer {i} reaches past the arena");
        assert_eq!(
            batch.buffer(i as u16),
            Some(&arena[d.offset as usize..end as usize])
        );
    }
    assert_eq!(batch.buffer(nbufs as u16), None);
    assert_eq!(
        *batch.completion().as_abi(),
        abi::Completion::default(),
        "a batch that never ran has an all-zero completion"
    );

    for i in 0..natoms {
        let at = abi::HEADER_SIZE + i * abi::ATOM_SIZE;
        let atom = Atom::read_from_bytes(&data[at..at + abi::ATOM_SIZE]).unwrap();
        check_atom(i, natoms, &atom, &descs, arena, policy, batch);
    }
}

fn check_atom(
    i: usize,
    natoms: usize,
    atom: &Atom,
    descs: &[BufDesc],
    arena: &[u8],
    policy: &Policy,
    batch: &ValidatedBatch<'_>,
) {
    assert_eq!(atom.reserved, 0);
    assert_eq!(atom.flags & !abi::ATOM_FLAGS_MASK, 0);
    let next = ((atom.flags & abi::NEXT_MASK) >> abi::NEXT_SHIFT) as usize;
    assert!(
        next == 0 || (next > i && next <= natoms),
        "atom {i}: NEXT {next}"
    );
    let sig = signature::lookup(atom.nr).expect("accepted: a known syscall");
    assert!(policy.allows(atom.nr), "atom {i}: not allowed");
    assert_eq!(batch.syscall_name(i), Some(sig.name));
    assert_eq!(atom.nargs as usize, sig.args.len());
    for a in sig.args.len()..abi::MAX_ARGS {
        assert_eq!((atom.arg_kind[a], atom.arg[a]), (abi::ARG_IMM, 0));
    }

    // First pass: each argument's kind, range, and for pointers the reach.
    let mut reach: [Option<Reach>; abi::MAX_ARGS] = [None; abi::MAX_ARGS];
    for (a, ty) in sig.args.iter().enumerate() {
        let (kind, value) = (atom.arg_kind[a], atom.arg[a]);
        assert_ne!(kind, abi::ARG_RAW, "atom {i}: raw pointer from bytes");
        assert!(kind <= abi::ARG_BUF, "atom {i}: kind {kind}");
        if kind == abi::ARG_RESULT {
            assert!(value < i as u64, "atom {i}: RESULT {value} not earlier");
        }
        match ty {
            ArgType::Ptr(p) => match kind {
                abi::ARG_IMM => assert!(value == 0 && p.nullable, "atom {i}: imm pointer"),
                abi::ARG_BUF => {
                    let (index, offset) = abi::split_buf_arg(value);
                    let d = descs
                        .get(index as usize)
                        .unwrap_or_else(|| panic!("atom {i}: buffer {index} out of range"));
                    assert!(offset <= d.len, "atom {i}: offset past buffer");
                    let needs = match p.dir {
                        Dir::In => abi::BUF_IN,
                        Dir::Out => abi::BUF_OUT,
                        Dir::InOut => abi::BUF_IN | abi::BUF_OUT,
                    };
                    assert_eq!(d.flags & needs, needs, "atom {i}: direction");
                    let r = Reach {
                        start: d.offset as u64 + offset as u64,
                        avail: (d.len - offset) as u64,
                    };
                    assert!(r.start + r.avail <= arena.len() as u64);
                    reach[a] = Some(r);
                }
                _ => panic!("atom {i}: arg {a} is a pointer but kind {kind}"),
            },
            ArgType::Fd | ArgType::Int if kind == abi::ARG_IMM => {
                assert!(i32::try_from(value as i64).is_ok(), "atom {i}: int range")
            }
            ArgType::UInt if kind == abi::ARG_IMM => {
                assert!(value <= u32::MAX as u64, "atom {i}: uint range")
            }
            _ => assert!(
                kind == abi::ARG_IMM || kind == abi::ARG_RESULT,
                "atom {i}: a value argument of kind {kind}"
            ),
        }
    }

    // Second pass: every length the kernel will use fits the memory.
    for (a, ty) in sig.args.iter().enumerate() {
        let (ArgType::Ptr(p), Some(r)) = (ty, reach[a]) else {
            continue;
        };
        match p.len {
            Len::Fixed(n) => assert!(n as u64 <= r.avail, "atom {i}: fixed length"),
            Len::Arg(j) => {
                let j = j as usize;
                // A RESULT length is checked at run time (the executor's Check).
                if atom.arg_kind[j] == abi::ARG_IMM {
                    assert!(atom.arg[j] <= r.avail, "atom {i}: length arg {j}");
                }
            }
            Len::CStr => {
                let s = &arena[r.start as usize..(r.start + r.avail) as usize];
                assert!(s.contains(&0), "atom {i}: unterminated string");
            }
            Len::ArgPtr(j) => {
                if let Some(l) = reach[j as usize] {
                    assert!(l.avail >= 4, "atom {i}: socklen buffer");
                    let at = l.start as usize;
                    let n = u32::from_le_bytes(arena[at..at + 4].try_into().unwrap());
                    assert!(n as u64 <= r.avail, "atom {i}: socklen {n}");
                }
            }
        }
    }
}
