//! Queries about a descriptor the AIO shim makes at submission: its file type
//! (`fstat(2)`), its status flags (`fcntl(F_GETFL)`) and whether it seeks
//! (`lseek(2)`).
#![allow(unsafe_code)]

use crate::errno::Errno;

/// The file type bits (`st_mode & S_IFMT`) of `fd` (`EBADF` when it is not open).
pub(crate) fn file_type(fd: i32) -> Result<libc::mode_t, Errno> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat writes one `struct stat` to the pointer, which points to
    // enough room on this stack frame.
    let rc = unsafe { libc::fstat(fd, st.as_mut_ptr()) };
    if rc < 0 {
        return Err(last_errno());
    }
    // SAFETY: fstat returned 0, so it filled the struct.
    Ok(unsafe { st.assume_init() }.st_mode & libc::S_IFMT)
}

/// The file status flags of `fd` (`fcntl(F_GETFL)`), `EBADF` when not open.
pub(crate) fn status_flags(fd: i32) -> Result<i32, Errno> {
    // SAFETY: F_GETFL takes no pointer.
    let rc = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if rc < 0 {
        Err(last_errno())
    } else {
        Ok(rc)
    }
}

/// Whether `fd` seeks (`lseek(fd, 0, SEEK_CUR)` succeeds; it moves nothing).
pub(crate) fn seekable(fd: i32) -> bool {
    // SAFETY: lseek takes no pointer.
    unsafe { libc::lseek(fd, 0, libc::SEEK_CUR) >= 0 }
}

fn last_errno() -> Errno {
    Errno::from_raw(
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO),
    )
}
