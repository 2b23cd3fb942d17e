//! Target `decode_validate`: arbitrary bytes through
//! [`EncodedBatch::from_bytes`] and [`EncodedBatch::validate`].
//!
//! A batch decoded from arbitrary bytes is never run here (it could name any
//! path and write anywhere): this target only validates, and compares the
//! validator with an independent reading of the ABI, the [`oracle`]: the
//! validator must accept exactly what the ABI and the signature table allow,
//! with every pointer reaching only bytes of its own buffer inside the arena,
//! and a validated batch must show exactly the bytes it was made from.

use syslets::abi::signature::{self, ArgRule, ArgType, Dir, Len};
use syslets::abi::sockopt;
use syslets::abi::{self, Atom, BatchHeader, BufDesc};
use syslets::{EncodedBatch, Policy, ValidatedBatch};
use zerocopy::FromBytes;

/// The policy this target validates under: the default one minus the argument
/// rules the oracle does not model (socket families, signal targets, the
/// msghdr and control messages of `sendmsg`/`recvmsg`), so that
/// "validator and oracle agree both ways" stays exact. Those rules have their
/// own tests (`tests/policy.rs`, `tests/hostile.rs`).
pub fn fuzz_policy() -> Policy {
    Policy::default()
        .any_socket_family()
        .deny(abi::nr::TGKILL)
        .deny(abi::nr::RT_TGSIGQUEUEINFO)
        .deny(abi::nr::SENDMSG)
        .deny(abi::nr::RECVMSG)
}

/// The whole check for one input: never panics unless an invariant is broken.
pub fn check(data: &[u8]) {
    let policy = fuzz_policy();
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
    // The validator and the oracle agree, both ways.
    match (first, oracle(data, &policy)) {
        (Ok(batch), Ok(())) => check_views(data, &batch),
        (Ok(_), Err(why)) => panic!("validation accepted a batch the ABI forbids: {why}"),
        (Err(e), Ok(())) => panic!("validation refused a batch the ABI allows: {e}"),
        (Err(e), Err(_)) => {
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

/// Return `Err(reason)` from the oracle unless the condition holds.
macro_rules! ensure {
    ($cond:expr, $($why:tt)+) => {
        if !$cond {
            return Err(format!($($why)+));
        }
    };
}

/// For a target that validates bytes itself (compat, policy): `batch` was
/// accepted from `data` under `policy`; panic unless the oracle agrees and
/// the batch shows exactly its bytes.
pub fn check_accepted(data: &[u8], policy: &Policy, batch: &ValidatedBatch<'_>) {
    if let Err(why) = oracle(data, policy) {
        panic!("validation accepted a batch the ABI forbids: {why}");
    }
    check_views(data, batch);
}

/// The oracle, written from the ABI and the signature table rather than from
/// the validator: `Ok` exactly when `data` is a well-formed batch that
/// `policy` allows, no argument is a raw pointer, and every pointer argument
/// reaches only bytes of its own buffer inside the arena, far enough for the
/// length the kernel will use (lengths that come from results are checked
/// at run time, not here).
pub fn oracle(data: &[u8], policy: &Policy) -> Result<(), String> {
    let Ok((header, _)) = BatchHeader::read_from_prefix(data) else {
        return Err("shorter than a header".into());
    };
    ensure!(header.magic == abi::MAGIC, "magic");
    ensure!(header.version == abi::VERSION, "version");
    ensure!(header.reserved == 0, "header.reserved");
    ensure!(header.flags & !abi::BATCH_FLAGS_MASK == 0, "batch flags");
    ensure!(
        header.flags & (abi::BATCH_ASYNC | abi::BATCH_SYNC) != abi::BATCH_ASYNC | abi::BATCH_SYNC,
        "ASYNC and SYNC"
    );
    let natoms = header.natoms as usize;
    let nbufs = header.nbufs as usize;
    let arena_len = header.arena_len as usize;
    ensure!((1..=abi::MAX_ATOMS).contains(&natoms), "natoms {natoms}");
    ensure!(nbufs <= abi::MAX_BUFS, "nbufs {nbufs}");
    ensure!(arena_len <= abi::MAX_ARENA_LEN, "arena_len {arena_len}");
    let atoms_end = abi::HEADER_SIZE + natoms * abi::ATOM_SIZE;
    let bufs_end = atoms_end + nbufs * abi::BUFDESC_SIZE;
    ensure!(
        data.len() == bufs_end + arena_len,
        "size {} != {}",
        data.len(),
        bufs_end + arena_len
    );
    let arena = &data[bufs_end..];
    let descs = descs(data, atoms_end, nbufs);
    for (i, d) in descs.iter().enumerate() {
        ensure!(d.reserved == 0, "buffer {i}: reserved");
        ensure!(
            d.flags != 0 && d.flags & !abi::BUF_FLAGS_MASK == 0,
            "buffer {i}: flags"
        );
        ensure!(
            d.offset as u64 + d.len as u64 <= arena_len as u64,
            "buffer {i} reaches past the arena"
        );
    }
    for i in 0..natoms {
        let at = abi::HEADER_SIZE + i * abi::ATOM_SIZE;
        let atom = Atom::read_from_bytes(&data[at..at + abi::ATOM_SIZE]).unwrap();
        atom_ok(i, natoms, &atom, &descs, arena, policy)
            .map_err(|why| format!("atom {i}: {why}"))?;
    }
    Ok(())
}

fn descs(data: &[u8], atoms_end: usize, nbufs: usize) -> Vec<BufDesc> {
    (0..nbufs)
        .map(|i| {
            let at = atoms_end + i * abi::BUFDESC_SIZE;
            BufDesc::read_from_bytes(&data[at..at + abi::BUFDESC_SIZE]).unwrap()
        })
        .collect()
}

fn atom_ok(
    i: usize,
    natoms: usize,
    atom: &Atom,
    descs: &[BufDesc],
    arena: &[u8],
    policy: &Policy,
) -> Result<(), String> {
    ensure!(atom.reserved == 0, "reserved");
    ensure!(
        atom.flags & !abi::ATOM_FLAGS_MASK == 0,
        "flags {:#x}",
        atom.flags
    );
    let next = ((atom.flags & abi::NEXT_MASK) >> abi::NEXT_SHIFT) as usize;
    ensure!(next == 0 || (next > i && next <= natoms), "NEXT {next}");
    let Some(sig) = signature::lookup(atom.nr) else {
        return Err(format!("unknown syscall {}", atom.nr));
    };
    ensure!(policy.allows(atom.nr), "{} not allowed", sig.name);
    ensure!(
        atom.nargs as usize == sig.args.len(),
        "nargs {}",
        atom.nargs
    );
    for a in sig.args.len()..abi::MAX_ARGS {
        ensure!(
            (atom.arg_kind[a], atom.arg[a]) == (abi::ARG_IMM, 0),
            "unused argument {a} not a zero immediate"
        );
    }

    // Each argument's kind and range, and for pointers the reach.
    let mut reach: [Option<Reach>; abi::MAX_ARGS] = [None; abi::MAX_ARGS];
    for (a, ty) in sig.args.iter().enumerate() {
        let (kind, value) = (atom.arg_kind[a], atom.arg[a]);
        ensure!(
            kind <= abi::ARG_BUF,
            "argument {a}: kind {kind} (no RAW from bytes)"
        );
        if kind == abi::ARG_RESULT {
            ensure!(
                value < i as u64,
                "argument {a}: RESULT {value} is not earlier"
            );
        }
        match ty {
            ArgType::Ptr(p) => match kind {
                abi::ARG_IMM => ensure!(
                    value == 0 && p.nullable,
                    "argument {a}: an immediate pointer"
                ),
                abi::ARG_BUF => {
                    let (index, offset) = abi::split_buf_arg(value);
                    let Some(d) = descs.get(index as usize) else {
                        return Err(format!("argument {a}: buffer {index} out of range"));
                    };
                    ensure!(offset <= d.len, "argument {a}: offset past the buffer");
                    let needs = match p.dir {
                        Dir::In => abi::BUF_IN,
                        Dir::Out => abi::BUF_OUT,
                        Dir::InOut => abi::BUF_IN | abi::BUF_OUT,
                    };
                    ensure!(d.flags & needs == needs, "argument {a}: direction");
                    reach[a] = Some(Reach {
                        start: d.offset as u64 + offset as u64,
                        avail: (d.len - offset) as u64,
                    });
                }
                _ => return Err(format!("argument {a}: a pointer given as a result")),
            },
            ArgType::Fd | ArgType::Int if kind == abi::ARG_IMM => {
                ensure!(
                    i32::try_from(value as i64).is_ok(),
                    "argument {a}: not an int"
                )
            }
            ArgType::UInt if kind == abi::ARG_IMM => {
                ensure!(value <= u32::MAX as u64, "argument {a}: not a u32")
            }
            _ => ensure!(
                kind == abi::ARG_IMM || kind == abi::ARG_RESULT,
                "argument {a}: a buffer where the syscall takes a value"
            ),
        }
    }

    // A socket option must be an entry of the socket-option table, whose
    // `optlen` unit (bytes, or elements of some size) scales the value's length.
    let (mut unit_arg, mut unit) = (usize::MAX, 1u64);
    if let ArgRule::SocketOption {
        access,
        level,
        value,
    } = sig.rule
    {
        let (l, n) = (level as usize, level as usize + 1);
        ensure!(
            atom.arg_kind[l] == abi::ARG_IMM && atom.arg_kind[n] == abi::ARG_IMM,
            "socket option level and name not immediates"
        );
        let Some(opt) = sockopt::lookup(access, atom.arg[l] as i32, atom.arg[n] as i32) else {
            return Err("socket option outside the table".into());
        };
        (unit_arg, unit) = (value as usize, opt.optlen.unit() as u64);
    }

    // Every length the kernel will use fits the memory; `extent[a]` is how
    // many bytes it may touch through pointer `a`.
    let mut extent = [0u64; abi::MAX_ARGS];
    for (a, ty) in sig.args.iter().enumerate() {
        let (ArgType::Ptr(p), Some(r)) = (ty, reach[a]) else {
            continue;
        };
        let unit = if a == unit_arg { unit } else { 1 };
        extent[a] = r.avail;
        let (len, unit) = match p.len {
            Len::Elems { count, size } => (Len::Arg(count), size as u64),
            len => (len, unit),
        };
        match len {
            Len::Fixed(n) => {
                ensure!(n as u64 <= r.avail, "argument {a}: {n} bytes");
                extent[a] = n as u64;
            }
            Len::Arg(j) => {
                let j = j as usize;
                if atom.arg_kind[j] == abi::ARG_IMM {
                    let n = atom.arg[j].saturating_mul(unit);
                    ensure!(n <= r.avail, "argument {a}: length {n}");
                    extent[a] = n;
                }
            }
            Len::CStr => {
                let s = &arena[r.start as usize..(r.start + r.avail) as usize];
                ensure!(s.contains(&0), "argument {a}: unterminated string");
            }
            Len::Elems { .. } => unreachable!("a length argument above"),
            Len::Iovecs { count, dir } => {
                // An immediate count; the whole array in its buffer and in no
                // OUT buffer; every element inside a buffer of the right
                // direction; written elements pairwise disjoint.
                let c = count as usize;
                ensure!(
                    atom.arg_kind[c] == abi::ARG_IMM,
                    "argument {a}: iovec count"
                );
                let n = atom.arg[c];
                ensure!(n <= abi::MAX_IOVECS as u64, "argument {a}: {n} iovecs");
                let bytes = n * abi::IOVEC_SIZE as u64;
                ensure!(bytes <= r.avail, "argument {a}: iovec array length");
                extent[a] = bytes;
                let (start, end) = (r.start, r.start + bytes);
                ensure!(
                    bytes == 0
                        || !descs.iter().any(|d| d.flags & abi::BUF_OUT != 0
                            && d.len > 0
                            && (d.offset as u64) < end
                            && start < d.offset as u64 + d.len as u64),
                    "argument {a}: iovec array in writable memory"
                );
                let needs = if dir == Dir::In {
                    abi::BUF_IN
                } else {
                    abi::BUF_OUT
                };
                let mut written: Vec<(u64, u64)> = Vec::new();
                for k in 0..n as usize {
                    let at = start as usize + k * abi::IOVEC_SIZE;
                    let base = u64::from_le_bytes(arena[at..at + 8].try_into().unwrap());
                    let len = u64::from_le_bytes(arena[at + 8..at + 16].try_into().unwrap());
                    let (index, offset) = abi::split_buf_arg(base);
                    let Some(d) = descs.get(index as usize) else {
                        return Err(format!("argument {a}: iovec {k}: no buffer {index}"));
                    };
                    ensure!(
                        offset as u64 + len <= d.len as u64 && offset <= d.len,
                        "argument {a}: iovec {k} past its buffer"
                    );
                    ensure!(
                        d.flags & needs == needs,
                        "argument {a}: iovec {k} direction"
                    );
                    let from = d.offset as u64 + offset as u64;
                    if dir != Dir::In && len > 0 {
                        ensure!(
                            written.iter().all(|&(s, e)| from + len <= s || e <= from),
                            "argument {a}: iovec {k} overlaps another written one"
                        );
                        written.push((from, from + len));
                    }
                }
            }
            // `fuzz_policy` denies both msghdr calls (`tests/msg_calls.rs`
            // covers them).
            Len::Msghdr { .. } => return Err(format!("argument {a}: a msghdr (not modelled)")),
            Len::ArgPtr(j) => {
                if let Some(l) = reach[j as usize] {
                    ensure!(l.avail >= 4, "argument {j}: socklen buffer");
                    let at = l.start as usize;
                    let n = u32::from_le_bytes(arena[at..at + 4].try_into().unwrap());
                    ensure!(n as u64 * unit <= r.avail, "argument {a}: socklen {n}");
                }
            }
        }
    }

    // No memory the kernel writes through one pointer is reached by another
    // pointer of the same call.
    let written = |a: usize| matches!(sig.args[a], ArgType::Ptr(p) if p.dir != Dir::In);
    for a in 0..sig.args.len() {
        for b in a + 1..sig.args.len() {
            let (Some(ra), Some(rb)) = (reach[a], reach[b]) else {
                continue;
            };
            let (ea, eb) = (extent[a], extent[b]);
            if ea == 0 || eb == 0 || !(written(a) || written(b)) {
                continue;
            }
            ensure!(
                ra.start + ea <= rb.start || rb.start + eb <= ra.start,
                "arguments {a} and {b} overlap"
            );
        }
    }
    Ok(())
}

/// The validated batch shows exactly the bytes it was made from, and a
/// completion that is all zero before any run.
pub fn check_views(data: &[u8], batch: &ValidatedBatch<'_>) {
    let (header, _) = BatchHeader::read_from_prefix(data).expect("a header");
    let natoms = header.natoms as usize;
    let nbufs = header.nbufs as usize;
    let atoms_end = abi::HEADER_SIZE + natoms * abi::ATOM_SIZE;
    let arena = &data[atoms_end + nbufs * abi::BUFDESC_SIZE..];
    assert_eq!(batch.len(), natoms);
    assert!(!batch.is_empty());
    assert_eq!(batch.flags(), header.flags);
    assert_eq!(batch.caller_data(), header.caller_data);
    assert_eq!(batch.arena(), arena, "arena bytes changed");
    let descs = descs(data, atoms_end, nbufs);
    assert_eq!(batch.buf_descs(), &descs[..], "buffer descriptors changed");
    for (i, d) in descs.iter().enumerate() {
        let range = d.offset as usize..(d.offset + d.len) as usize;
        assert_eq!(batch.buffer(i as u16), Some(&arena[range]));
    }
    assert_eq!(batch.buffer(nbufs as u16), None);
    for i in 0..natoms {
        let at = abi::HEADER_SIZE + i * abi::ATOM_SIZE;
        let atom = Atom::read_from_bytes(&data[at..at + abi::ATOM_SIZE]).unwrap();
        let name = signature::lookup(atom.nr).map(|s| s.name);
        assert_eq!(batch.syscall_name(i), name);
    }
    assert_eq!(batch.syscall_name(natoms), None);
    assert_eq!(
        *batch.completion().as_abi(),
        abi::Completion::default(),
        "a batch that never ran has an all-zero completion"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed seeds go through the whole check, and the oracle
    /// agrees with their names (valid-* valid, invalid-* not).
    #[test]
    fn the_seeds_pass_and_the_oracle_reads_them_right() {
        let _fds = crate::TEST_FDS.lock().unwrap_or_else(|e| e.into_inner());
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/decode_validate");
        let mut n = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            let data = std::fs::read(&path).unwrap();
            check(&data);
            let verdict = oracle(&data, &fuzz_policy());
            if name.starts_with("valid-") {
                assert_eq!(verdict, Ok(()), "{name}");
            } else if name.starts_with("invalid-") {
                assert!(verdict.is_err(), "{name}");
            }
            n += 1;
        }
        assert!(n >= 11);
    }
}
