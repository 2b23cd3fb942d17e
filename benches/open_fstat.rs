//! open+fstat+close of a cached file: three direct libc calls vs the same chain
//! through syslets, side by side in one process.
//!
//! ```text
//! cargo bench --bench open_fstat
//! ```
//!
//! Variants, interleaved round by round so that drift hits them alike:
//! * `direct`: `openat`, `fstat`, `close` through glibc.
//! * `prebuilt`: one validated batch, `run()` again and again.
//! * `full`: build the chain, encode, validate and run, every time.
//!
//! Prints the median time per operation of each and the median of the per-round
//! ratios against `direct`.

use std::ffi::CString;
use std::hint::black_box;
use std::time::Instant;

use syslets::opcode::{Close, Fstat, Openat};
use syslets::{Chain, Policy, Stat, Stop};

const ROUNDS: usize = 21;
const ITERS: usize = 20_000;

fn direct(path: &CString) -> i64 {
    // SAFETY: `path` is a valid NUL-terminated string and `st` a properly sized,
    // writable stat buffer that outlives the calls; the fd is closed before return.
    #[allow(unsafe_code)]
    unsafe {
        let fd = libc::openat(
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        );
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstat(fd, &mut st);
        libc::close(fd);
        st.st_size
    }
}

fn chain(path: &str, policy: &Policy) -> syslets::ValidatedBatch<'static> {
    let mut chain = Chain::new();
    let p = chain.path(path);
    let st = chain.output::<Stat>();
    let fd = chain.push(Openat::new(libc::AT_FDCWD, p).stop_on(Stop::NEGATIVE));
    chain.push(Fstat::new(fd, st));
    chain.push(Close::new(fd));
    chain.prepare(policy).expect("valid chain")
}

fn time(iters: usize, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed().as_nanos() as f64 / iters as f64
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let dir = std::env::temp_dir().join(format!("syslets-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("cached");
    std::fs::write(&file, vec![7u8; 4096]).unwrap();
    let path = file.to_str().unwrap().to_owned();
    let cpath = CString::new(path.clone()).unwrap();
    let policy = Policy::default();
    let mut prebuilt = chain(&path, &policy);
    assert_eq!(prebuilt.run().atoms_run(), 3);
    assert_eq!(direct(&cpath), 4096);

    let (mut d, mut p, mut f) = (vec![], vec![], vec![]);
    let (mut rp, mut rf) = (vec![], vec![]);
    for round in 0..ROUNDS {
        let td = time(ITERS, || {
            black_box(direct(black_box(&cpath)));
        });
        let tp = time(ITERS, || {
            black_box(prebuilt.run().status());
        });
        let tf = time(ITERS, || {
            let mut b = chain(black_box(&path), &policy);
            black_box(b.run().status());
        });
        if round == 0 {
            continue; // warm-up
        }
        d.push(td);
        p.push(tp);
        f.push(tf);
        rp.push(tp / td);
        rf.push(tf / td);
    }
    println!(
        "open+fstat+close of a cached 4 KiB file, {ITERS} ops x {} rounds (median)",
        ROUNDS - 1
    );
    println!("{:<34} {:>10} {:>8}", "variant", "ns/op", "ratio");
    println!(
        "{:<34} {:>10.0} {:>8.3}",
        "direct libc calls",
        median(&mut d),
        1.0
    );
    println!(
        "{:<34} {:>10.0} {:>8.3}",
        "prebuilt batch, run()",
        median(&mut p),
        median(&mut rp)
    );
    println!(
        "{:<34} {:>10.0} {:>8.3}",
        "build+encode+validate+run",
        median(&mut f),
        median(&mut rf)
    );
    std::fs::remove_dir_all(&dir).ok();
}
