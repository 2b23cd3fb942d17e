//! Replace a file atomically, as one chain confined to its directory:
//! `openat(NAME.tmp, O_CREAT|O_EXCL)` → `write` → `fsync` → `close` →
//! `renameat2(NAME.tmp, NAME)`. A reader sees the old contents or the new
//! ones, never a half-written file; a crash before the rename leaves the old
//! file and a `NAME.tmp` behind.
//!
//! ```text
//! cargo run --example atomic_write -- DIR NAME TEXT
//! cargo run --example atomic_write                 # in a fresh temporary directory
//! ```

use std::os::fd::AsFd;
use std::process::ExitCode;

use syslets::opcode::{Close, Fsync, Openat, Renameat2, Write};
use syslets::{Chain, Policy, Stop};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (dir, name, text, own_dir) = match (args.next(), args.next(), args.next()) {
        (Some(d), Some(n), Some(t)) => (std::path::PathBuf::from(d), n, t, false),
        (None, ..) => {
            let d = std::env::temp_dir().join(format!("syslets-atomic-{}", std::process::id()));
            std::fs::create_dir_all(&d).expect("create a temporary directory");
            (
                d,
                "config".to_string(),
                "written atomically\n".to_string(),
                true,
            )
        }
        _ => {
            eprintln!("usage: atomic_write [DIR NAME TEXT]");
            return ExitCode::from(2);
        }
    };
    let dirfd = match std::fs::File::open(&dir) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
    };
    let d = dirfd.as_fd();
    // Every path is a single name in `dir`; nothing can lead out of it.
    let policy = Policy::default().confine_to(d);

    let mut chain = Chain::new();
    let tmp = chain.path(format!("{name}.tmp"));
    let dst = chain.path(&name);
    let data = chain.input(text.as_bytes());
    let create = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    let fd = chain.push(
        Openat::new(d, tmp)
            .flags(create as u32)
            .mode(0o644)
            .stop_on(Stop::NEGATIVE),
    );
    // Any failure stops the chain before the rename: the old file stays.
    chain.push(Write::new(fd, data).stop_on(Stop::NEGATIVE));
    chain.push(Fsync::new(fd).stop_on(Stop::NEGATIVE));
    chain.push(Close::new(fd).stop_on(Stop::NEGATIVE));
    chain.push(Renameat2::new(d, tmp, d, dst));

    let mut batch = match chain.prepare(&policy) {
        Ok(batch) => batch,
        Err(e) => {
            eprintln!("refused: {e}");
            return ExitCode::FAILURE;
        }
    };
    let results = batch.run().results().to_vec();
    // A stop before the close leaves the temporary file open: close it.
    drop(batch.take_fds());
    println!("openat, write, fsync, close, renameat2: {results:?}");
    let path = dir.join(&name);
    let replaced = results.len() == 5 && results[4] == 0;
    if replaced {
        println!("{}: {:?}", path.display(), std::fs::read_to_string(&path));
    }
    if own_dir {
        let _ = std::fs::remove_dir_all(&dir);
    }
    if replaced {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
