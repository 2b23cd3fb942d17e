//! The `du` example's walks give the same totals as GNU `du -sb` (and the same
//! inode count as `du -s --inodes`) on a generated tree with hard links,
//! symlinks, empty files and directories, and a directory big enough to need
//! several `getdents64` reads and many 64-atom stat chains.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

#[allow(dead_code)]
#[path = "../examples/du.rs"]
mod du;
#[path = "common/rerun.rs"]
mod rerun;

use du::{
    open_dirs_per_walker, reserve_fds, walk_async, walk_sync, Common, DirTask, Options, Totals,
};

fn make_tree(root: &Path) {
    let _ = std::fs::remove_dir_all(root);
    let deep = root.join("a/b/c/d");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::create_dir_all(root.join("empty")).unwrap();
    let mut size = 1usize;
    for (i, dir) in ["a", "a/b", "a/b/c", "a/b/c/d"].iter().enumerate() {
        for j in 0..20 {
            size = (size * 7 + 13) % 9000;
            let p = root.join(dir).join(format!("f{i}_{j}"));
            std::fs::write(p, vec![b'x'; size]).unwrap();
        }
    }
    std::fs::write(root.join("zero"), b"").unwrap();
    // A directory of 1500 entries with long names: > 32 KiB of dirents.
    let big = root.join("big");
    std::fs::create_dir(&big).unwrap();
    for k in 0..1500 {
        let name = format!("entry-with-a-rather-long-name-to-fill-getdents-{k:05}");
        std::fs::write(big.join(name), vec![b'y'; k % 300]).unwrap();
    }
    // Hard links: across directories and within one; each inode counts once.
    let target = root.join("a/f0_3");
    std::fs::hard_link(&target, root.join("big/hardlink-to-f0_3")).unwrap();
    std::fs::hard_link(&target, root.join("a/same-dir-link")).unwrap();
    std::fs::hard_link(root.join("zero"), root.join("a/b/zero-link")).unwrap();
    // Symlinks: counted by their own size, never followed.
    symlink("f0_1", root.join("a/link-to-file")).unwrap();
    symlink("../a", root.join("big/link-to-dir")).unwrap();
    symlink("/does/not/exist/anywhere", root.join("dangling")).unwrap();
    symlink("x".repeat(200), root.join("a/b/long-target")).unwrap();
}

fn gnu_du(args: &[&str], root: &Path) -> u64 {
    let out = Command::new("du")
        .args(args)
        .arg(root)
        .output()
        .expect("GNU du must be installed");
    assert!(out.status.success(), "du failed: {out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_whitespace().next().unwrap().parse().unwrap()
}

fn tree() -> PathBuf {
    let root = std::env::temp_dir().join(format!("syslets-du-test-{}", std::process::id()));
    make_tree(&root);
    root
}

#[test]
fn du_walks_match_gnu_du() {
    let root = tree();
    let bytes = gnu_du(&["-sb"], &root);
    let inodes = gnu_du(&["-s", "--inodes"], &root);
    let want = |t: Totals, how: &str| {
        assert_eq!(t.bytes, bytes, "{how}: total differs from du -sb");
        assert_eq!(
            t.files, inodes,
            "{how}: inode count differs from du --inodes"
        );
        assert_eq!(t.errors, 0, "{how}: errors");
    };
    want(walk_sync(&root, false).unwrap(), "plain walk");
    let base = Options {
        workers: 4,
        flags: 0,
        stat_flags: 0,
        spare_cpus: false,
        ..Options::default()
    };
    let t = walk_async(&root, base).unwrap();
    want(t, "inline mode");
    // The big directory alone needs 24 stat chains.
    assert!(t.inline_chains + t.queued_chains > 30);
    // Stat chains of 64 hold entries of several directories.
    let t = walk_async(
        &root,
        Options {
            chain_atoms: 7,
            ..base
        },
    )
    .unwrap();
    want(t, "chains of 7 stats");
    let t = walk_async(
        &root,
        Options {
            flags: syslets::abi::BATCH_ASYNC,
            stat_flags: syslets::abi::BATCH_ASYNC,
            ..base
        },
    )
    .unwrap();
    want(t, "every chain on workers");
    assert_eq!(t.inline_chains, 0);
    let t = walk_async(&root, Options::default()).unwrap();
    want(t, "du's default (auto: inline, spread to spare CPUs)");
    let t = walk_async(
        &root,
        Options {
            stat_flags: syslets::abi::BATCH_ASYNC,
            spare_cpus: false,
            ..base
        },
    )
    .unwrap();
    want(
        t,
        "mixed: stat chains on workers, directory reads inline first",
    );
    // 1500 entries of the big directory alone fill 24 chains of 64.
    assert!(t.queued_chains >= 24);
    let t = walk_async(
        &root,
        Options {
            flags: syslets::abi::BATCH_SYNC,
            stat_flags: syslets::abi::BATCH_SYNC,
            ..base
        },
    )
    .unwrap();
    want(t, "every chain inline");
    assert_eq!(t.queued_chains, 0);
    // Threshold 0, and the executor unable to tell a preempted call from one
    // that slept (getrusage fails): stats and getdents go to workers after two
    // runs, except re-probes, so chains are split between inline and worker
    // parts.
    syslets::fault::set(syslets::fault::Fault::Rusage, true);
    let t = walk_async(
        &root,
        Options {
            handoff_threshold: Some(Duration::ZERO),
            ..base
        },
    )
    .unwrap();
    syslets::fault::set(syslets::fault::Fault::Rusage, false);
    want(t, "hand-offs in the middle of chains");
    assert!(t.inline_chains > 0 && t.queued_chains > 0);
    // One worker only: many chains wait in the queue.
    let t = walk_async(
        &root,
        Options {
            workers: 1,
            flags: syslets::abi::BATCH_ASYNC,
            stat_flags: syslets::abi::BATCH_ASYNC,
            ..base
        },
    )
    .unwrap();
    want(t, "one worker");
    // The walker count: one (the old single-submitter walk, with the
    // spare-CPU rule), more than the CPUs (directories pass between walkers),
    // and several walkers whose chains all go to workers.
    let t = walk_async(
        &root,
        Options {
            walkers: 1,
            ..Options::default()
        },
    )
    .unwrap();
    want(t, "one walker");
    assert_eq!((t.walkers, t.shared_dirs), (1, 0));
    for walkers in [3, 5] {
        let t = walk_async(
            &root,
            Options {
                walkers,
                chain_atoms: 7,
                ..base
            },
        )
        .unwrap();
        want(t, &format!("{walkers} walkers"));
        assert_eq!(t.walkers, walkers);
    }
    let t = walk_async(
        &root,
        Options {
            walkers: 4,
            flags: syslets::abi::BATCH_ASYNC,
            stat_flags: syslets::abi::BATCH_ASYNC,
            ..base
        },
    )
    .unwrap();
    want(t, "4 walkers, every chain on workers");
    assert_eq!(t.inline_chains, 0);
    let t = walk_async(&root, Options::default()).unwrap();
    assert_eq!(
        t.walkers,
        std::thread::available_parallelism().unwrap().get() + 1,
        "default: one walker per CPU of the affinity mask, plus one"
    );
    std::fs::remove_dir_all(&root).unwrap();
}

/// Many small directories, walked by more walkers than CPUs: every
/// directory is counted once whichever walker reads it, and the hard links
/// between directories walked by different walkers count once.
#[test]
fn du_parallel_walkers_count_each_inode_once() {
    let root = std::env::temp_dir().join(format!("syslets-du-par-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let shared = root.join("shared-target");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(&shared, vec![b'z'; 4321]).unwrap();
    for i in 0..40 {
        for j in 0..5 {
            let d = root.join(format!("d{i}/e{j}"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("f"), vec![b'q'; i * 10 + j]).unwrap();
            std::fs::hard_link(&shared, d.join("link")).unwrap();
        }
    }
    let bytes = gnu_du(&["-sb"], &root);
    let inodes = gnu_du(&["-s", "--inodes"], &root);
    for walkers in [1, 2, 4, 8] {
        for round in 0..3 {
            let t = walk_async(
                &root,
                Options {
                    walkers,
                    chain_atoms: 3,
                    ..Options::default()
                },
            )
            .unwrap();
            let how = format!("{walkers} walkers, round {round}");
            assert_eq!((t.bytes, t.files, t.errors), (bytes, inodes, 0), "{how}");
        }
    }
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn du_of_a_single_file_and_a_symlink_root() {
    let dir = std::env::temp_dir().join(format!("syslets-du-file-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).unwrap();
    let file = dir.join("file");
    std::fs::write(&file, vec![0u8; 12345]).unwrap();
    let t = walk_async(&file, Options::default()).unwrap();
    assert_eq!((t.bytes, t.files), (12345, 1));
    assert_eq!(t.bytes, gnu_du(&["-sb"], &file));
    // A symlink given as the root is not followed (as du without -L/-H/-D).
    let link = dir.join("link");
    symlink(&dir, &link).unwrap();
    let t = walk_async(&link, Options::default()).unwrap();
    assert_eq!(t.files, 1);
    assert_eq!(t.bytes, gnu_du(&["-sb"], &link));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Wait until `n` walkers wait in `Common::take`.
fn hungry(c: &Common, n: usize) {
    while c.hungry.load(std::sync::atomic::Ordering::Relaxed) != n {
        std::thread::yield_now();
    }
}

/// The walkers' directory queue: a directory given goes to a waiting walker,
/// and the walk ends when the last walker finds the queue empty, not before.
#[test]
fn du_walkers_queue_hands_over_and_ends() {
    let task = |p: &str| DirTask {
        path: p.into(),
        buf_len: 1024,
    };
    let c = Common::new(2);
    c.give(task("root"));
    assert_eq!(c.take().unwrap().path, PathBuf::from("root"));
    std::thread::scope(|s| {
        // The other walker has nothing: it waits for a directory.
        let other = s.spawn(|| c.take().map(|t| t.path));
        hungry(&c, 1);
        c.give(task("given"));
        assert_eq!(other.join().unwrap(), Some(PathBuf::from("given")));
        // One walker waits: the walk is not over while the other may give.
        let other = s.spawn(|| c.take().is_none());
        hungry(&c, 1);
        assert!(!other.is_finished());
        // The last walker with nothing left ends it for both.
        assert!(c.take().is_none());
        assert!(other.join().unwrap());
    });
    assert!(c.take().is_none(), "an ended walk stays ended");
}

/// The size of this process's descriptor table (`FDSize` in /proc/self/status).
fn fd_table_size() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("FDSize:")).unwrap();
    line["FDSize:".len()..].trim().parse().unwrap()
}

/// The soft `RLIMIT_NOFILE` (`Max open files` in /proc/self/limits).
fn nofile_soft_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let soft = line["Max open files".len()..].split_whitespace().next();
    soft.unwrap().parse().unwrap_or(usize::MAX)
}

/// The walk grows the descriptor table before its walkers start (a growth
/// while other threads share the table waits for an RCU grace period, and
/// every thread opening a descriptor meanwhile sleeps): `reserve_fds(n)`
/// leaves a table of at least `n` entries (at most the soft limit) and no
/// descriptor open. Run in a fresh process ([`alone`]), whose table is still the initial 64 entries: in this one,
/// other tests' walks may have grown it already.
/// The environment variable that makes a re-run of this binary run a test's body.
const ALONE: &str = "SYSLETS_DU_ALONE";

/// Run `body` in a process of its own: this test binary again, test `name`
/// alone, with `ALONE=name`, which there runs `body`. Fails unless that run
/// passed and got to the end of `body`.
fn alone(name: &str, body: impl FnOnce()) {
    let done = format!("{name}: checks done");
    if std::env::var(ALONE).as_deref() == Ok(name) {
        body();
        println!("{done}");
        return;
    }
    rerun::rerun_as(name, ALONE, name, &done);
}

#[test]
fn du_reserve_fds_grows_the_descriptor_table_up_front() {
    alone("du_reserve_fds_grows_the_descriptor_table_up_front", || {
        let before = fd_table_size();
        let want = 1000.min(nofile_soft_limit());
        assert!(before < want, "the table already has {before} entries");
        reserve_fds(1000);
        let after = fd_table_size();
        assert!(after >= want, "table of {after} entries, {want} wanted");
        // The descriptor that grew it is closed again: no open one at or past `want - 1`.
        let open: Vec<usize> = std::fs::read_dir("/proc/self/fd")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .filter(|&fd| fd + 1 >= want)
            .collect();
        assert!(open.is_empty(), "left open: {open:?}");
    });
}

/// Under a low `RLIMIT_NOFILE` the walkers keep fewer directories open, so
/// that together they stay under it: a walk of 300 directories with a soft
/// limit of 70 counts what the plain walk counts, with nothing unreadable
/// (with 256 open per walker, `openat` failed with `EMFILE`: 88–94 entries
/// went missing in each of 3 runs). In a process of its own (the limit is
/// the process's).
#[test]
fn du_walkers_stay_under_the_descriptor_limit() {
    alone("du_walkers_stay_under_the_descriptor_limit", || {
        let root = std::env::temp_dir().join(format!("syslets-du-nofile-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for i in 0..300 {
            let dir = root.join(format!("d{}/e{i}", i % 10));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("f"), vec![b'z'; i]).unwrap();
        }
        let lim = libc::rlimit {
            rlim_cur: 70,
            rlim_max: libc::RLIM_INFINITY,
        };
        let mut old = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes one struct rlimit through the pointer, a live
        // local of that type.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut old) }, 0);
        let lim = libc::rlimit {
            rlim_max: old.rlim_max,
            ..lim
        };
        // SAFETY: setrlimit reads one struct rlimit through the pointer, a live
        // local; a soft limit under the hard one is always allowed (70 is under
        // any hard limit a test runs with).
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
        assert_eq!(open_dirs_per_walker(3), 2, "(70 - 64) / 3");
        let opts = Options {
            walkers: 3,
            ..Options::default()
        };
        let a = walk_async(&root, opts).unwrap();
        let s = walk_sync(&root, false).unwrap();
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(a.errors, 0, "unreadable entries: {a:?}");
        assert_eq!((a.bytes, a.files), (s.bytes, s.files));
    });
}
