//! Arbitrary policies against arbitrary batches (validation only, never run).
//!
//! Invariants: validation never panics under any policy; a batch accepted
//! under a narrower policy is accepted under the wider one it was narrowed
//! from (denying a call, adding the read-only rule or restricting socket
//! families only ever removes batches); every atom of an accepted batch names
//! a call the policy allows; nothing is accepted under `Policy::empty()`.

use arbitrary::{Arbitrary, Unstructured};
use syslets::abi::{self, signature::Class, Atom, BatchHeader};
use syslets::{EncodedBatch, Policy};
use zerocopy::FromBytes;

/// One narrowing step.
#[derive(Arbitrary, Debug)]
enum Narrow {
    Deny(u16),
    DenyClass(u8),
    ReadOnly,
    Families(Vec<i32>),
}

const CLASSES: [Class; 9] = [
    Class::Fd,
    Class::FileRead,
    Class::FileWrite,
    Class::Socket,
    Class::NetClient,
    Class::NetServer,
    Class::NetIo,
    Class::Signal,
    Class::Info,
];

/// Apply `step`; `families` is the current family list (`None`: any), kept so
/// that a family step intersects (`socket_families` replaces the list).
fn narrow(p: Policy, step: &Narrow, families: &mut Option<Vec<i32>>) -> Policy {
    match step {
        Narrow::Deny(nr) => p.deny(*nr as u32 % 512),
        Narrow::DenyClass(c) => p.deny_class(CLASSES[*c as usize % CLASSES.len()]),
        Narrow::ReadOnly => p.read_only(),
        Narrow::Families(f) => {
            let next: Vec<i32> = match families.take() {
                None => f.clone(),
                Some(cur) => cur.into_iter().filter(|x| f.contains(x)).collect(),
            };
            let p = p.socket_families(&next);
            *families = Some(next);
            p
        }
    }
}

fn accepted(data: &[u8], p: &Policy) -> bool {
    EncodedBatch::from_bytes(data).validate(p).is_ok()
}

/// The whole check for one input: a few narrowing steps, then the batch bytes.
pub fn check(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let steps: Vec<Narrow> = match u.arbitrary() {
        Ok(s) => s,
        Err(_) => return,
    };
    let batch = u.take_rest();
    assert!(
        !accepted(batch, &Policy::empty()),
        "the empty policy accepted a batch"
    );
    let mut wide = Policy::default().any_socket_family();
    let mut wide_ok = accepted(batch, &wide);
    let mut families = None;
    for step in steps.iter().take(8) {
        let narrow = narrow(wide.clone(), step, &mut families);
        let narrow_ok = accepted(batch, &narrow);
        assert!(
            !narrow_ok || wide_ok,
            "narrowing by {step:?} accepted a batch the wider policy refused"
        );
        if narrow_ok {
            // Every atom names an allowed call.
            let h = BatchHeader::read_from_prefix(batch).expect("accepted").0;
            for i in 0..h.natoms as usize {
                let at = abi::HEADER_SIZE + i * abi::ATOM_SIZE;
                let atom =
                    Atom::read_from_bytes(&batch[at..at + abi::ATOM_SIZE]).expect("in range");
                assert!(
                    narrow.allows(atom.nr),
                    "atom {i} names a call the policy denies"
                );
            }
        }
        (wide, wide_ok) = (narrow, narrow_ok);
    }
}
