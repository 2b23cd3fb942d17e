//! A fresh scratch directory per input, removed afterwards.

use std::fs::File;
use std::path::{Path, PathBuf};

/// Bytes in the file `b` every scratch directory starts with.
pub const B_LEN: usize = 5000;

/// A directory for one input's chain: `BASE/syslets-fuzz-PID`, holding
/// `b` and `d` when made, removed with everything in it when dropped.
pub struct Scratch {
    path: PathBuf,
}

impl Scratch {
    /// Make the directory (removing what a crashed earlier input left).
    pub fn new() -> Scratch {
        let base = scratch_base();
        let base = base.canonicalize().unwrap_or(base);
        let path = base.join(format!("syslets-fuzz-{}", std::process::id()));
        if path.exists() {
            std::fs::remove_dir_all(&path).expect("remove stale scratch directory");
        }
        std::fs::create_dir_all(&path).expect("create scratch directory");
        let scratch = Scratch { path };
        scratch.populate();
        scratch
    }

    /// What every chain finds: a file `b` of [`B_LEN`] non-zero bytes (so a
    /// read brings real data into the arena), an empty directory `d`.
    fn populate(&self) {
        let data: Vec<u8> = (0..B_LEN).map(|i| (i * 7) as u8 | 1).collect();
        std::fs::write(self.path.join("b"), data).expect("write scratch/b");
        std::fs::create_dir(self.path.join("d")).expect("create scratch/d");
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

    /// Put the directory back as [`new`](Self::new) made it, keeping the
    /// directory itself (and so descriptors of it).
    pub fn reset(&self) {
        self.clear();
        self.populate();
    }

    /// Remove everything inside the directory.
    fn clear(&self) {
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

/// Where the scratch directories go: `$SYSLETS_FUZZ_SCRATCH`, else `/dev/shm`
/// (tmpfs: fsync and large sparse files cost nothing), else the temp dir.
pub fn scratch_base() -> PathBuf {
    if let Some(p) = std::env::var_os("SYSLETS_FUZZ_SCRATCH") {
        return p.into();
    }
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}
