//! `cat` on POSIX AIO (`syslets::aio`): reads a file in 64 KiB pieces with up
//! to 16 reads in flight at once (they run concurrently on one descriptor),
//! and writes each piece to stdout with `aio_write` while later pieces are
//! still being read. On a pipe or terminal the library keeps the writes in
//! submission order (`write`, one at a time); on a regular file each write
//! goes to its `aio_offset` (`pwrite64`, concurrently).
//!
//! ```text
//! cargo run --example aio_cat -- FILE > copy
//! ```

use std::io::Write as _;
use std::os::fd::AsRawFd;
use std::time::Duration;

use syslets::aio::{self, Aio};
use syslets::Errno;

const PIECE: usize = 64 * 1024;
const DEPTH: usize = 16;

fn zeroed_cb() -> libc::aiocb {
    // SAFETY: an all-zero aiocb is a valid value of this plain C struct.
    let mut cb: libc::aiocb = unsafe { std::mem::zeroed() };
    cb.aio_sigevent = aio::sigevent_none();
    cb
}

/// Wait until `cb` is done; its return value.
///
/// # Safety
///
/// `cb` points to an aiocb with a request of this library.
unsafe fn wait(cb: *mut libc::aiocb) -> Result<isize, Errno> {
    loop {
        // SAFETY: the caller's contract.
        match unsafe { aio::aio_error(cb) }? {
            libc::EINPROGRESS => {
                // SAFETY: the caller's contract.
                match unsafe { aio::aio_suspend(&[cb], Some(Duration::from_secs(1))) } {
                    Ok(()) | Err(Errno::EAGAIN) => {}
                    Err(e) if e.raw() == libc::EINTR => {}
                    Err(e) => return Err(e),
                }
            }
            0 => break,
            e => return Err(Errno::from_raw(e)),
        }
    }
    // SAFETY: the caller's contract.
    unsafe { aio::aio_return(cb) }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: aio_cat FILE")?;
    let file = std::fs::File::open(&path)?;
    let len = file.metadata()?.len() as usize;
    let pieces = len.div_ceil(PIECE);
    let ctx = Aio::new();
    let stdout = std::io::stdout();
    stdout.lock().flush()?;
    let out = stdout.as_raw_fd();

    // Slot i % DEPTH holds piece i: its buffer, its read and its write.
    let mut bufs = vec![vec![0u8; PIECE]; DEPTH];
    let mut reads: Vec<libc::aiocb> = (0..DEPTH).map(|_| zeroed_cb()).collect();
    let mut writes: Vec<libc::aiocb> = (0..DEPTH).map(|_| zeroed_cb()).collect();
    let mut writing = [false; DEPTH];

    let submit_read = |i: usize, reads: &mut [libc::aiocb], bufs: &mut [Vec<u8>]| {
        let s = i % DEPTH;
        let cb = &mut reads[s];
        cb.aio_fildes = file.as_raw_fd();
        cb.aio_buf = bufs[s].as_mut_ptr().cast();
        cb.aio_nbytes = PIECE;
        cb.aio_offset = (i * PIECE) as i64;
        // SAFETY: the aiocb and buffer of slot `s` are not touched again
        // until this read is waited for below.
        unsafe { ctx.read(cb) }
    };
    for i in 0..pieces.min(DEPTH) {
        submit_read(i, &mut reads, &mut bufs)?;
    }
    for i in 0..pieces {
        let s = i % DEPTH;
        // SAFETY: slot `s` has the read of piece `i` in flight.
        let n = unsafe { wait(&mut reads[s]) }? as usize;
        let w = &mut writes[s];
        w.aio_fildes = out;
        w.aio_buf = bufs[s].as_mut_ptr().cast();
        w.aio_nbytes = n;
        w.aio_offset = (i * PIECE) as i64;
        // SAFETY: the buffer is not reused before this write is waited for.
        unsafe { ctx.write(w) }?;
        writing[s] = true;
        let next = i + DEPTH;
        if next < pieces {
            // The slot's buffer is busy until its write is done.
            // SAFETY: slot `s` has this write in flight.
            let written = unsafe { wait(&mut writes[s]) }? as usize;
            writing[s] = false;
            if written != n {
                return Err("short write".into());
            }
            submit_read(next, &mut reads, &mut bufs)?;
        }
    }
    for (s, busy) in writing.iter().enumerate() {
        if *busy {
            // SAFETY: slot `s` has a write in flight.
            unsafe { wait(&mut writes[s]) }?;
        }
    }
    Ok(())
}
