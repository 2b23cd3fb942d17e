//! N page-cached 4 KiB reads through `syslets::aio` (`aio_read`, then
//! `aio_suspend` until done, `aio_error`, `aio_return`), one at a time at
//! pseudo-random offsets of a 4 MiB file: a loop to count the instructions
//! of one request with callgrind (docs/perf-aio.md, "Profiling recipe").
//!
//! ```text
//! cargo run --release --example prof_aio -- 20000
//! ```

use std::os::fd::AsRawFd;
use std::process::ExitCode;

use syslets::aio;

const FILE_LEN: usize = 4 << 20;
const READ_LEN: usize = 4096;

fn main() -> ExitCode {
    let Some(n) = std::env::args().nth(1).and_then(|a| a.parse::<u64>().ok()) else {
        eprintln!("usage: prof_aio REQUESTS");
        return ExitCode::from(2);
    };
    let dir = std::env::temp_dir().join(format!("syslets-prof-aio-{}", std::process::id()));
    let path = dir.join("f4m");
    let data: Vec<u8> = (0..FILE_LEN).map(|i| (i % 251) as u8).collect();
    if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, &data)) {
        eprintln!("{}: {e}", path.display());
        return ExitCode::FAILURE;
    }
    let file = std::fs::File::open(&path).expect("just written");
    let _ = std::fs::remove_dir_all(&dir); // the open descriptor keeps the data

    let mut buf = vec![0u8; READ_LEN];
    let mut offset = 0usize;
    let mut total = 0isize;
    for _ in 0..n {
        offset = (offset * 1_103_515_245 + 12_345) % (FILE_LEN / READ_LEN);
        // SAFETY: an all-zero aiocb is a valid value of this plain C struct.
        let mut cb: libc::aiocb = unsafe { std::mem::zeroed() };
        cb.aio_sigevent = aio::sigevent_none();
        cb.aio_fildes = file.as_raw_fd();
        cb.aio_buf = buf.as_mut_ptr().cast();
        cb.aio_nbytes = READ_LEN;
        cb.aio_offset = (offset * READ_LEN) as i64;
        let cbp: *mut libc::aiocb = &mut cb;
        // SAFETY: `cb` and `buf` outlive the request: it is waited for and
        // returned before either is touched again.
        let result = unsafe {
            aio::aio_read(cbp).and_then(|()| {
                while aio::aio_error(cbp)? == libc::EINPROGRESS {
                    match aio::aio_suspend(&[cbp], None) {
                        Ok(()) | Err(syslets::Errno::EAGAIN) => {}
                        Err(e) if e.raw() == libc::EINTR => {}
                        Err(e) => return Err(e),
                    }
                }
                aio::aio_return(cbp)
            })
        };
        match result {
            Ok(got) => total += got,
            Err(e) => {
                eprintln!("aio_read: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!("{n} requests, {total} bytes");
    ExitCode::SUCCESS
}
