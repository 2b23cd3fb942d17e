//! openat + fstat + close of one path as a single chain.
//!
//! ```text
//! cargo run --example open_fstat -- /etc/hostname
//! cargo run --example open_fstat -- /no/such/file   # stops at the open: ENOENT
//! ```

use std::process::ExitCode;

use syslets::opcode::{Close, Fstat, Openat};
use syslets::{Chain, Policy, Stat, Stop};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

fn main() -> ExitCode {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: open_fstat PATH");
        return ExitCode::from(2);
    };
    let fds_before = open_fds();

    let mut chain = Chain::new();
    let p = chain.path(&path);
    let st = chain.output::<Stat>();
    let open = chain.push(Openat::new(libc::AT_FDCWD, p).stop_on(Stop::NEGATIVE));
    let fstat = chain.push(Fstat::new(open, st));
    let close = chain.push(Close::new(open));

    let mut batch = match chain.prepare(&Policy::default()) {
        Ok(batch) => batch,
        Err(e) => {
            eprintln!("refused: {e}");
            return ExitCode::FAILURE;
        }
    };
    let done = *batch.run();

    let names = ["openat", "fstat", "close"];
    for (atom, name) in [open, fstat, close].into_iter().zip(names) {
        match done.outcome(atom) {
            Some(Ok(v)) => println!("atom {} {name:<7} -> {v}", atom.index()),
            Some(Err(e)) => println!("atom {} {name:<7} -> {e}", atom.index()),
            None => println!("atom {} {name:<7} -> (not run)", atom.index()),
        }
    }
    if done.stopped() {
        println!(
            "chain stopped at atom {} after {} atom(s)",
            done.last_atom(),
            done.atoms_run()
        );
    }
    if done.outcome(fstat) == Some(Ok(0)) {
        let s = batch.output(st);
        println!(
            "{}: {} bytes, mode {:o}, inode {}, {} link(s), uid {} gid {}",
            path.to_string_lossy(),
            s.st_size,
            s.st_mode,
            s.st_ino,
            s.st_nlink,
            s.st_uid,
            s.st_gid
        );
    }
    let leaked = batch.unclosed_fds();
    println!(
        "open descriptors: {} before, {} after; unclosed by the chain: {}",
        fds_before,
        open_fds(),
        leaked.len()
    );
    if done.stopped() || leaked.is_empty() && open_fds() != fds_before {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
