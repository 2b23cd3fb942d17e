//! Pure checks of the ABI crate, cheap enough for Miri (`cargo +nightly miri
//! test -p syslets-abi`, see docs/hardening.md): byte views of every struct,
//! argument packing, and the signature table's direct index.

use syslets_abi::signature::{self, SIGNATURES};
use syslets_abi::{self as abi, Atom, BatchHeader, BufDesc, Completion, RingEntry, RingHeader};
use zerocopy::{FromBytes, IntoBytes};

/// Every struct reads back from its bytes, in place (aligned) and copied
/// out of an unaligned position.
fn round_trip<T: FromBytes + IntoBytes + zerocopy::Immutable + PartialEq + core::fmt::Debug>(
    value: T,
) {
    let bytes = value.as_bytes();
    assert_eq!(T::read_from_bytes(bytes).unwrap(), value);
    let mut shifted = vec![0u8; bytes.len() + 1];
    shifted[1..].copy_from_slice(bytes);
    assert_eq!(T::read_from_bytes(&shifted[1..]).unwrap(), value);
    assert!(T::read_from_bytes(&shifted).is_err(), "size is checked");
}

#[test]
fn every_struct_round_trips_through_its_bytes() {
    round_trip(BatchHeader {
        magic: abi::MAGIC,
        version: abi::VERSION,
        natoms: 3,
        nbufs: 2,
        flags: abi::BATCH_NO_COMPLETE,
        arena_len: 0x1234_5678,
        caller_data: u64::MAX - 1,
        reserved: 0,
    });
    round_trip(Atom {
        flags: abi::STOP_ON_NEGATIVE | abi::next_field(7),
        nr: abi::nr::OPENAT2,
        arg_kind: [0, 1, 2, 3, 0, 1],
        nargs: 6,
        arg: [1, 2, 3, 4, 5, u64::MAX],
        private: 0xdead_beef,
        reserved: 0,
    });
    round_trip(BufDesc {
        offset: 8,
        len: 4096,
        flags: abi::BUF_IN | abi::BUF_OUT,
        reserved: 0,
    });
    let mut c = Completion::default();
    c.results[63] = -1;
    c.ran_mask = 1 << 63;
    round_trip(c);
    round_trip(RingHeader {
        kernel_head: 1,
        user_tail: 2,
        elements: 4,
        wait_group: 5,
    });
    round_trip(RingEntry {
        ticket: 9,
        caller_data: 8,
        status: -4,
        last_atom: 3,
        atoms_run: 2,
        flags: abi::COMPLETION_STOPPED as u32,
    });
}

#[test]
fn a_batch_buffer_views_as_its_sections() {
    // header | 2 atoms | 1 buf | 8 bytes of arena, in u64 words (aligned).
    let len = abi::HEADER_SIZE + 2 * abi::ATOM_SIZE + abi::BUFDESC_SIZE + 8;
    let mut words = vec![0u64; len / 8];
    let bytes = words.as_mut_bytes();
    bytes[abi::HEADER_SIZE + abi::ATOM_SIZE + 4] = 39; // atom 1: nr = getpid
    let atoms_end = abi::HEADER_SIZE + 2 * abi::ATOM_SIZE;
    let atoms = <[Atom]>::ref_from_bytes(&bytes[abi::HEADER_SIZE..atoms_end]).unwrap();
    assert_eq!(atoms.len(), 2);
    assert_eq!(atoms[1].nr, abi::nr::GETPID);
    let bufs =
        <[BufDesc]>::ref_from_bytes(&bytes[atoms_end..atoms_end + abi::BUFDESC_SIZE]).unwrap();
    assert_eq!(bufs, &[BufDesc::default()]);
    // An atom slice one byte off its alignment is refused, not misread.
    assert!(<[Atom]>::ref_from_bytes(&bytes[1..1 + abi::ATOM_SIZE]).is_err());
}

#[test]
fn buffer_arguments_pack_and_unpack() {
    for (index, offset) in [(0u16, 0u32), (1, 8), (255, u32::MAX), (u16::MAX, 7)] {
        let arg = abi::buf_arg(index, offset);
        assert_eq!(abi::split_buf_arg(arg), (index as u64, offset));
    }
    assert_eq!(
        abi::split_buf_arg(u64::MAX),
        (u32::MAX as u64, u32::MAX),
        "bits 48..64 show up in the index, where the validator refuses them"
    );
    for target in [0u8, 1, 63, 64, 255] {
        let f = abi::next_field(target);
        assert_eq!(f & !abi::NEXT_MASK, 0);
        assert_eq!((f & abi::NEXT_MASK) >> abi::NEXT_SHIFT, target as u32);
    }
}

#[test]
fn the_direct_index_agrees_with_the_table() {
    for nr in 0..1024u32 {
        let by_scan = SIGNATURES.iter().find(|s| s.nr == nr);
        assert_eq!(signature::lookup(nr), by_scan, "nr {nr}");
    }
    for nr in [u32::MAX, 1 << 31, 512, 511] {
        assert_eq!(
            signature::lookup(nr),
            SIGNATURES.iter().find(|s| s.nr == nr)
        );
    }
    for sig in SIGNATURES {
        assert_eq!(signature::by_name(sig.name), Some(sig));
        assert_eq!(
            signature::returns_fd(sig.nr),
            sig.fds == signature::Fds::Returns,
            "{}",
            sig.name
        );
    }
    // A few rows whose answer is known, by their numbers.
    for (nr, returns) in [
        (abi::nr::OPENAT, true),
        (abi::nr::SOCKET, true),
        (abi::nr::ACCEPT4, true),
        (abi::nr::READ, false),
        (abi::nr::CLOSE, false),
    ] {
        assert_eq!(signature::returns_fd(nr), returns, "nr {nr}");
    }
    assert!(!signature::returns_fd(59), "not in the table");
    assert_eq!(signature::by_name("execve"), None);
}
