//! `struct syslet_error`: what went wrong, for C — a code, the atom and its
//! system call when one atom is at fault, the OS errno, and the full message.

use std::ffi::{c_char, c_int};
use std::fmt::Display;

use syslets_compat::CompatError;
use syslets_rs::{ExecutorError, SubmitError, ValidationError};

/// Success.
pub const SYSLET_OK: c_int = 0;
/// The batch was refused by validation (nothing ran).
pub const SYSLET_E_INVALID: c_int = 1;
/// The 32-bit batch was refused by the compat translation (nothing ran).
pub const SYSLET_E_COMPAT: c_int = 2;
/// A bad argument to the C function itself (a NULL handle, a wrong length).
pub const SYSLET_E_ARGUMENT: c_int = 3;
/// The completion ring is full: reap, then submit again.
pub const SYSLET_E_RING_FULL: c_int = 4;
/// The executor was made before `fork()` and this is the child.
pub const SYSLET_E_FORKED: c_int = 5;
/// The kernel refused something; `os_errno` says what.
pub const SYSLET_E_OS: c_int = 6;
/// A bad executor option.
pub const SYSLET_E_CONFIG: c_int = 7;
/// The batch is in flight on an executor until it is reaped.
pub const SYSLET_E_BUSY: c_int = 8;
/// A panic inside the library (a bug): the call did nothing.
pub const SYSLET_E_PANIC: c_int = 9;

const SYSCALL_LEN: usize = 32;
const MESSAGE_LEN: usize = 224;

/// `struct syslet_error` (capi/include/syslets.h), filled by every function
/// that fails when the caller passed one.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SysletError {
    /// A `SYSLET_E_*` code.
    pub code: c_int,
    /// The offending atom's index, or -1.
    pub atom: c_int,
    /// The errno for `SYSLET_E_OS`, else 0.
    pub os_errno: c_int,
    /// Zero.
    pub reserved: c_int,
    /// The atom's system call name (NUL-terminated), or empty.
    pub syscall: [c_char; SYSCALL_LEN],
    /// The whole message (NUL-terminated, cut to fit).
    pub message: [c_char; MESSAGE_LEN],
}

// The layout `syslets.h` asserts.
const _: () = assert!(std::mem::size_of::<SysletError>() == 272);
const _: () = assert!(std::mem::offset_of!(SysletError, syscall) == 16);
const _: () = assert!(std::mem::offset_of!(SysletError, message) == 48);

/// An error on its way to C.
#[derive(Debug)]
pub(crate) struct Failure {
    code: c_int,
    atom: Option<u16>,
    syscall: Option<&'static str>,
    os_errno: c_int,
    message: String,
}

impl Failure {
    pub(crate) fn new(code: c_int, message: impl Display) -> Failure {
        Failure {
            code,
            atom: None,
            syscall: None,
            os_errno: 0,
            message: message.to_string(),
        }
    }

    pub(crate) fn argument(what: &str) -> Failure {
        Failure::new(SYSLET_E_ARGUMENT, what)
    }

    pub(crate) fn panic() -> Failure {
        Failure::new(SYSLET_E_PANIC, "internal error (a panic); nothing was done")
    }

    pub(crate) fn code(&self) -> c_int {
        self.code
    }

    /// Store into `err` (NULL: ignored).
    ///
    /// # Safety
    ///
    /// `err` is NULL or a writable `struct syslet_error`.
    pub(crate) unsafe fn report(&self, err: *mut SysletError) {
        let mut out = SysletError {
            code: self.code,
            atom: self.atom.map_or(-1, c_int::from),
            os_errno: self.os_errno,
            reserved: 0,
            syscall: [0; SYSCALL_LEN],
            message: [0; MESSAGE_LEN],
        };
        copy_str(&mut out.syscall, self.syscall.unwrap_or(""));
        copy_str(&mut out.message, &self.message);
        // SAFETY: a non-NULL `err` is writable (the C contract).
        if let Some(err) = unsafe { err.as_mut() } {
            *err = out;
        }
    }
}

/// Copy `s` into `dst` NUL-terminated, cut at a UTF-8 boundary to fit.
fn copy_str(dst: &mut [c_char], s: &str) {
    let mut n = s.len().min(dst.len() - 1);
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    for (d, &b) in dst.iter_mut().zip(&s.as_bytes()[..n]) {
        *d = b as c_char;
    }
    dst[n] = 0;
}

impl From<ValidationError> for Failure {
    fn from(e: ValidationError) -> Failure {
        Failure {
            atom: e.atom,
            syscall: e.syscall,
            ..Failure::new(SYSLET_E_INVALID, &e)
        }
    }
}

impl From<CompatError> for Failure {
    fn from(e: CompatError) -> Failure {
        Failure {
            atom: e.atom,
            syscall: e.syscall,
            ..Failure::new(SYSLET_E_COMPAT, &e)
        }
    }
}

impl From<ExecutorError> for Failure {
    fn from(e: ExecutorError) -> Failure {
        match &e {
            ExecutorError::Forked => Failure::new(SYSLET_E_FORKED, &e),
            ExecutorError::Config(_) => Failure::new(SYSLET_E_CONFIG, &e),
            ExecutorError::Io(io) => Failure {
                os_errno: io.raw_os_error().unwrap_or(0),
                ..Failure::new(SYSLET_E_OS, &e)
            },
            _ => Failure::new(SYSLET_E_OS, &e),
        }
    }
}

impl From<&SubmitError> for Failure {
    fn from(e: &SubmitError) -> Failure {
        match e {
            SubmitError::RingFull(_) => Failure::new(SYSLET_E_RING_FULL, e),
            SubmitError::Forked(_) => Failure::new(SYSLET_E_FORKED, e),
        }
    }
}

/// `const char *syslet_strerror(int code)`: a static description of a
/// `SYSLET_E_*` code (never NULL).
#[no_mangle]
pub extern "C" fn syslet_strerror(code: c_int) -> *const c_char {
    let s: &'static std::ffi::CStr = match code {
        SYSLET_OK => c"success",
        SYSLET_E_INVALID => c"batch refused by validation",
        SYSLET_E_COMPAT => c"32-bit batch refused by the compat translation",
        SYSLET_E_ARGUMENT => c"bad argument",
        SYSLET_E_RING_FULL => c"completion ring full; reap first",
        SYSLET_E_FORKED => c"executor was created before fork()",
        SYSLET_E_OS => c"the kernel refused a call",
        SYSLET_E_CONFIG => c"bad executor option",
        SYSLET_E_BUSY => c"batch is in flight on an executor",
        SYSLET_E_PANIC => c"internal error",
        _ => c"unknown error code",
    };
    s.as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_cut_at_a_character_boundary_and_terminated() {
        let mut dst = [1 as c_char; 4];
        copy_str(&mut dst, "aé€");
        // "a" (1) + "é" (2) fit in 3 bytes; "€" does not.
        assert_eq!(dst.map(|c| c as u8), [b'a', 0xc3, 0xa9, 0]);
        copy_str(&mut dst, "");
        assert_eq!(dst[0], 0);
    }

    #[test]
    fn a_validation_error_names_the_atom_and_the_call() {
        let f = Failure::from(ValidationError {
            atom: Some(2),
            syscall: Some("fstat"),
            kind: syslets_rs::ErrorKind::SyscallNotAllowed,
        });
        let mut e = std::mem::MaybeUninit::<SysletError>::uninit();
        // SAFETY: `e` is writable.
        unsafe { f.report(e.as_mut_ptr()) };
        // SAFETY: report wrote all of it.
        let e = unsafe { e.assume_init() };
        assert_eq!((e.code, e.atom), (SYSLET_E_INVALID, 2));
        // SAFETY: both strings are NUL-terminated by copy_str.
        let name = unsafe { std::ffi::CStr::from_ptr(e.syscall.as_ptr()) };
        assert_eq!(name.to_str(), Ok("fstat"));
        // SAFETY: as above.
        let msg = unsafe { std::ffi::CStr::from_ptr(e.message.as_ptr()) };
        assert!(
            msg.to_str().unwrap().starts_with("atom 2 (fstat): "),
            "{msg:?}"
        );
    }
}
