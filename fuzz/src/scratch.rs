//! A fresh scratch directory per input, removed afterwards.

use std::fs::File;
use std::path::{Path, PathBuf};

/// A directory for one input's chain: `BASE/syslets-fuzz-PID/s`, empty when
/// made, removed with everything in it when dropped.
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    /// Make the directory (removing what a crashed earlier input left).
    pub fn new() -> Scratch {
        let base = crate::chain_exec::scratch_base();
        let base = base.canonicalize().unwrap_or(base);
        let path = base
            .join(format!("syslets-fuzz-{}", std::process::id()))
            .join("s");
        if path.exists() {
            std::fs::remove_dir_all(&path).expect("remove stale scratch directory");
        }
        std::fs::create_dir_all(&path).expect("create scratch directory");
        Scratch { path }
    }

    /// The directory's absolute path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A descriptor of the directory (`O_RDONLY | O_CLOEXEC`), the `dirfd` of
    /// the chain's `*at` calls.
    pub fn open_dir(&self) -> File {
        File::open(&self.path).expect("open scratch directory")
    }

    /// Remove everything inside the directory, keeping the directory (and so
    /// descriptors of it) as they are.
    pub fn clear(&self) {
        for e in std::fs::read_dir(&self.path).expect("read scratch directory") {
            let e = e.expect("scratch entry");
            if e.file_type().expect("file type").is_dir() {
                std::fs::remove_dir_all(e.path()).expect("remove scratch subdirectory");
            } else {
                std::fs::remove_file(e.path()).expect("remove scratch file");
            }
        }
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch::new()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
