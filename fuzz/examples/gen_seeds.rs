//! Writes the seed corpus of the `chain_exec` target: `fuzz/corpus/chain_exec/`.
//!
//! `chain_exec` reads its input with `arbitrary`, whose byte format is not
//! meant to be written by hand, so the seeds are picked instead: random inputs
//! from a fixed-seed generator are decoded, checked with the target's own
//! `check` (so this doubles as a smoke test of the harness), and an input is
//! kept when its chain exercises a feature no kept input did (a syscall that
//! ran, a stop, a skip, a jump, a result used as a length, data read into
//! the arena, ...). Half the
//! inputs are kept ones with a few bytes changed, a tiny hill-climb.
//!
//! Inputs from directories named after TRIES (a corpus a fuzzing run grew,
//! e.g. `fuzz/work/chain_exec`) are candidates too, smallest first, before
//! the random ones: a distillation of what the fuzzer found.
//!
//! ```text
//! cargo run --manifest-path fuzz/Cargo.toml --release --example gen_seeds [TRIES [DIR...]]
//! ```
//! Without directories the output is deterministic for a given `arbitrary`
//! version.

use std::path::Path;

use arbitrary::{Arbitrary, Unstructured};
use syslets_fuzz::chain_exec::{check, features, ChainSpec};

fn main() {
    let tries: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("TRIES"))
        .unwrap_or(20_000);
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/chain_exec");
    std::fs::create_dir_all(&out).unwrap();
    for e in std::fs::read_dir(&out).unwrap() {
        let p = e.unwrap().path();
        if p.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("seed-")
        {
            std::fs::remove_file(p).unwrap();
        }
    }
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut seen = 0u128;
    let mut kept: Vec<Vec<u8>> = Vec::new();
    let mut candidates: Vec<Vec<u8>> = std::env::args()
        .skip(2)
        .flat_map(|dir| std::fs::read_dir(dir).expect("candidate directory"))
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    candidates.sort_by_key(|b| (b.len(), b.clone()));
    let from_dirs = candidates.len();
    for bytes in candidates {
        let Ok(spec) = ChainSpec::arbitrary_take_rest(Unstructured::new(&bytes)) else {
            continue;
        };
        check(&spec);
        let f = features(&spec);
        if f & !seen != 0 {
            seen |= f;
            std::fs::write(out.join(format!("seed-{:02}", kept.len())), &bytes).unwrap();
            kept.push(bytes);
        }
    }
    for _ in 0..tries {
        // Half fresh random inputs, half a kept one with a few bytes changed
        // (so features that need several cooperating atoms are reached).
        let bytes: Vec<u8> = if kept.is_empty() || next() % 2 == 0 {
            let len = 16 + (next() % 240) as usize;
            (0..len).map(|_| next() as u8).collect()
        } else {
            let mut b = kept[(next() % kept.len() as u64) as usize].clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() % b.len() as u64) as usize;
                b[at] = next() as u8;
            }
            b
        };
        let Ok(spec) = ChainSpec::arbitrary_take_rest(Unstructured::new(&bytes)) else {
            continue;
        };
        check(&spec);
        let f = features(&spec);
        if f & !seen != 0 {
            seen |= f;
            let name = format!("seed-{:02}", kept.len());
            std::fs::write(out.join(name), &bytes).unwrap();
            kept.push(bytes);
        }
    }
    println!(
        "checked {from_dirs} given and {tries} random chains; kept {} seeds covering features {seen:#x}",
        kept.len()
    );
}
