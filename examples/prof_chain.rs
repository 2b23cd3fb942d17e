//! The open+fstat+close chain of `benches/open_fstat.rs`, built, encoded,
//! validated and run N times: a loop to count instructions with callgrind
//! (docs/perf-fastpath.md, "Profiling recipe").
//!
//! ```text
//! cargo run --release --example prof_chain -- 1000
//! ```

use std::process::ExitCode;

use syslets::opcode::{Close, Fstat, Openat};
use syslets::{Chain, Policy, Stat, Stop};

fn main() -> ExitCode {
    let Some(n) = std::env::args().nth(1).and_then(|a| a.parse::<u64>().ok()) else {
        eprintln!("usage: prof_chain ITERATIONS");
        return ExitCode::from(2);
    };
    // The benchmark's path shape (its length sets the arena size).
    let dir = std::env::temp_dir().join(format!("syslets-bench-{}", std::process::id()));
    let file = dir.join("cached");
    if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&file, [7u8; 4096]))
    {
        eprintln!("{}: {e}", file.display());
        return ExitCode::FAILURE;
    }
    println!("path: {}", file.display());

    let policy = Policy::default();
    let mut sizes = 0i64;
    for _ in 0..n {
        let mut chain = Chain::new();
        let path = chain.path(&file);
        let st = chain.output::<Stat>();
        let fd = chain.push(Openat::new(libc::AT_FDCWD, path).stop_on(Stop::NEGATIVE));
        chain.push(Fstat::new(fd, st));
        chain.push(Close::new(fd));
        let mut batch = chain.prepare(&policy).expect("the chain is valid");
        batch.run();
        sizes += batch.output(st).st_size;
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("{n} chains, {sizes} bytes in total");
    ExitCode::SUCCESS
}
