//! Policies and validated batches for C: `syslet_policy_*`, `syslet_validate`,
//! `syslet_validate_compat32`, `syslet_run`, `syslet_batch_*`.

use std::ffi::{c_int, c_void};
use std::ptr;

use syslets_compat::Normalized;
use syslets_rs::{abi, EncodedBatch, Policy, ValidatedBatch};

use crate::error::{Failure, SysletError, SYSLET_E_BUSY, SYSLET_OK};
use crate::unwind::no_unwind;

/// `SYSLET_POLICY_DEFAULT`: [`Policy::default`].
pub const SYSLET_POLICY_DEFAULT: c_int = 0;
/// `SYSLET_POLICY_EMPTY`: nothing allowed ([`Policy::empty`]).
pub const SYSLET_POLICY_EMPTY: c_int = 1;
/// `SYSLET_POLICY_READ_ONLY_FILES`: [`Policy::read_only_files`].
pub const SYSLET_POLICY_READ_ONLY_FILES: c_int = 2;
/// `SYSLET_POLICY_NETWORK_CLIENT`: [`Policy::network_client`].
pub const SYSLET_POLICY_NETWORK_CLIENT: c_int = 3;

/// `syslet_policy`: an opaque [`Policy`].
pub struct SysletPolicy(pub(crate) Policy);

/// `syslet_batch`: a validated batch, owned by C between calls (and by an
/// executor while it is in flight).
pub struct SysletBatch {
    /// `None` while in flight on an executor.
    pub(crate) batch: Option<ValidatedBatch<'static>>,
    /// How a 32-bit batch maps back (`syslet_validate_compat32`).
    compat: Option<Normalized>,
    /// Length of the bytes C validated (the layout `syslet_batch_copy_out` writes).
    len: usize,
}

/// The result of a C entry point's body.
pub(crate) type Outcome<T> = Result<T, Failure>;

/// Run `body` without unwinding; on failure report into `err` and return `fail`.
///
/// # Safety
///
/// `err` is NULL or a writable `struct syslet_error`.
pub(crate) unsafe fn entry<T>(
    err: *mut SysletError,
    fail: T,
    body: impl FnOnce() -> Outcome<T>,
) -> T {
    match no_unwind(Failure::panic(), body) {
        Ok(v) => v,
        Err(f) => {
            // SAFETY: forwarded from the caller.
            unsafe { f.report(err) };
            fail
        }
    }
}

/// `0` or the failure's `SYSLET_E_*` code, reported into `err`.
///
/// # Safety
///
/// As for [`entry`].
pub(crate) unsafe fn status(err: *mut SysletError, body: impl FnOnce() -> Outcome<()>) -> c_int {
    // SAFETY: forwarded from the caller.
    unsafe {
        entry(err, -1, || match body() {
            Ok(()) => Ok(SYSLET_OK),
            Err(f) => {
                let code = f.code();
                f.report(err);
                Ok(code)
            }
        })
    }
}

/// `syslet_policy *syslet_policy_new(int preset)`: a policy from a
/// `SYSLET_POLICY_*` preset; NULL for an unknown preset.
#[no_mangle]
pub extern "C" fn syslet_policy_new(preset: c_int) -> *mut SysletPolicy {
    let policy = no_unwind((), || {
        Ok(match preset {
            SYSLET_POLICY_DEFAULT => Some(Policy::default()),
            SYSLET_POLICY_EMPTY => Some(Policy::empty()),
            SYSLET_POLICY_READ_ONLY_FILES => Some(Policy::read_only_files()),
            SYSLET_POLICY_NETWORK_CLIENT => Some(Policy::network_client()),
            _ => None,
        })
    });
    match policy {
        Ok(Some(p)) => Box::into_raw(Box::new(SysletPolicy(p))),
        _ => ptr::null_mut(),
    }
}

/// Change `policy` in place with `f`.
///
/// # Safety
///
/// `policy` is NULL or from `syslet_policy_new`, not used by another thread.
unsafe fn edit(policy: *mut SysletPolicy, f: impl FnOnce(Policy) -> Policy) -> c_int {
    // SAFETY: the caller's contract.
    let Some(p) = (unsafe { policy.as_mut() }) else {
        return -1;
    };
    let edited = no_unwind((), || Ok(f(p.0.clone())));
    match edited {
        Ok(new) => {
            p.0 = new;
            0
        }
        Err(()) => -1,
    }
}

/// `int syslet_policy_allow(syslet_policy *, uint32_t nr)`: also allow system
/// call `nr`: 0, or -1 (policy unchanged) for a NULL policy or a number no
/// policy can allow (one the signature table does not know, or one on the
/// fixed denylist).
///
/// # Safety
///
/// `policy` is NULL or from `syslet_policy_new`, not used by another thread.
#[no_mangle]
pub unsafe extern "C" fn syslet_policy_allow(policy: *mut SysletPolicy, nr: u32) -> c_int {
    // SAFETY: forwarded from the caller.
    let Some(allowed) = unsafe { policy.as_ref() }.and_then(|p| p.0.clone().allow(nr).ok()) else {
        return -1;
    };
    // SAFETY: forwarded from the caller.
    unsafe { edit(policy, |_| allowed) }
}

/// `int syslet_policy_deny(syslet_policy *, uint32_t nr)`: no longer allow `nr`.
///
/// # Safety
///
/// As for [`syslet_policy_allow`].
#[no_mangle]
pub unsafe extern "C" fn syslet_policy_deny(policy: *mut SysletPolicy, nr: u32) -> c_int {
    // SAFETY: forwarded from the caller.
    unsafe { edit(policy, |p| p.deny(nr)) }
}

/// `void syslet_policy_free(syslet_policy *)` (NULL: nothing).
///
/// # Safety
///
/// `policy` is NULL or from `syslet_policy_new`, freed once.
#[no_mangle]
pub unsafe extern "C" fn syslet_policy_free(policy: *mut SysletPolicy) {
    if !policy.is_null() {
        // SAFETY: made by Box::into_raw in syslet_policy_new, freed once.
        drop(unsafe { Box::from_raw(policy) });
    }
}

/// The policy C passed: NULL is the default.
///
/// # Safety
///
/// `policy` is NULL or from `syslet_policy_new`.
pub(crate) unsafe fn policy_or_default(policy: *const SysletPolicy) -> Policy {
    // SAFETY: the caller's contract.
    unsafe { policy.as_ref() }.map_or_else(Policy::default, |p| p.0.clone())
}

/// `buf[..len]` from C (NULL with length 0 is empty).
///
/// # Safety
///
/// `buf` is readable for `len` bytes (or `len` is 0).
unsafe fn bytes<'a>(buf: *const c_void, len: usize) -> Outcome<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if buf.is_null() {
        return Err(Failure::argument("buf is NULL"));
    }
    // SAFETY: readable for `len` bytes (the C contract).
    Ok(unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), len) })
}

/// `syslet_batch *syslet_validate(const void *buf, size_t len, const
/// syslet_policy *policy, struct syslet_error *err)`: copy a native batch
/// (`syslet.h` layout) and validate it against `policy` (NULL: the default
/// policy). NULL with `err` filled when it is refused.
///
/// # Safety
///
/// `buf` readable for `len` bytes; `policy` NULL or from `syslet_policy_new`;
/// `err` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn syslet_validate(
    buf: *const c_void,
    len: usize,
    policy: *const SysletPolicy,
    err: *mut SysletError,
) -> *mut SysletBatch {
    // SAFETY: forwarded from the caller.
    unsafe { validate(buf, len, policy, err, false) }
}

/// `syslet_batch *syslet_validate_compat32(...)`: as [`syslet_validate`] for a
/// batch a 32-bit (i386) producer wrote per `syslet_compat.h`: translated to
/// the native layout first (`syslets_compat::normalize`). Its completion and
/// `syslet_batch_copy_out` give the i386 view back.
///
/// # Safety
///
/// As for [`syslet_validate`].
#[no_mangle]
pub unsafe extern "C" fn syslet_validate_compat32(
    buf: *const c_void,
    len: usize,
    policy: *const SysletPolicy,
    err: *mut SysletError,
) -> *mut SysletBatch {
    // SAFETY: forwarded from the caller.
    unsafe { validate(buf, len, policy, err, true) }
}

/// The body of both: a compat batch is normalised first.
///
/// # Safety
///
/// As for [`syslet_validate`].
unsafe fn validate(
    buf: *const c_void,
    len: usize,
    policy: *const SysletPolicy,
    err: *mut SysletError,
    compat32: bool,
) -> *mut SysletBatch {
    // SAFETY: forwarded from the caller.
    unsafe {
        entry(err, ptr::null_mut(), || {
            let bytes = bytes(buf, len)?;
            let policy = policy_or_default(policy);
            let compat = compat32
                .then(|| syslets_compat::normalize(bytes))
                .transpose()?;
            let native = compat.as_ref().map_or(bytes, Normalized::native_bytes);
            let batch = EncodedBatch::from_bytes(native).validate(&policy)?;
            Ok(Box::into_raw(Box::new(SysletBatch {
                batch: Some(batch),
                compat,
                len,
            })))
        })
    }
}

impl SysletBatch {
    fn validated(&mut self) -> Outcome<&mut ValidatedBatch<'static>> {
        self.batch
            .as_mut()
            .ok_or_else(|| Failure::new(SYSLET_E_BUSY, "the batch is in flight on an executor"))
    }

    /// The last run's completion as the producer sees it (i386 results for a
    /// compat batch).
    fn completion(&mut self) -> Outcome<abi::Completion> {
        let native = *self.validated()?.completion().as_abi();
        Ok(match &self.compat {
            Some(norm) => norm.completion(&native),
            None => native,
        })
    }
}

/// The handle C passed.
///
/// # Safety
///
/// `b` is NULL or from `syslet_validate*`/`syslet_executor_reap`, not freed.
pub(crate) unsafe fn batch<'a>(b: *mut SysletBatch) -> Outcome<&'a mut SysletBatch> {
    // SAFETY: the caller's contract.
    unsafe { b.as_mut() }.ok_or_else(|| Failure::argument("batch is NULL"))
}

/// Write `c` to `out` (NULL: nothing).
///
/// # Safety
///
/// `out` is NULL or a writable `struct syslet_completion`.
unsafe fn store(out: *mut abi::Completion, c: abi::Completion) {
    if !out.is_null() {
        // SAFETY: writable (the C contract); `write_unaligned` because C may
        // hand any address.
        unsafe { out.write_unaligned(c) };
    }
}

/// `int syslet_run(syslet_batch *b, struct syslet_completion *out, struct
/// syslet_error *err)`: run the batch inline on this thread and copy its
/// completion to `out` (NULL: not copied). 0, or a `SYSLET_E_*` code.
///
/// # Safety
///
/// `b` from `syslet_validate*`, not in use by another thread; `out` NULL or
/// writable; `err` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn syslet_run(
    b: *mut SysletBatch,
    out: *mut abi::Completion,
    err: *mut SysletError,
) -> c_int {
    // SAFETY: forwarded from the caller.
    unsafe {
        status(err, || {
            let b = batch(b)?;
            b.validated()?.run();
            store(out, b.completion()?);
            Ok(())
        })
    }
}

/// `int syslet_batch_completion(syslet_batch *b, struct syslet_completion
/// *out, struct syslet_error *err)`: the completion of the last run (after
/// `syslet_run` or once reaped from an executor).
///
/// # Safety
///
/// As for [`syslet_run`]; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn syslet_batch_completion(
    b: *mut SysletBatch,
    out: *mut abi::Completion,
    err: *mut SysletError,
) -> c_int {
    // SAFETY: forwarded from the caller.
    unsafe {
        status(err, || {
            if out.is_null() {
                return Err(Failure::argument("out is NULL"));
            }
            store(out, batch(b)?.completion()?);
            Ok(())
        })
    }
}

/// `const void *syslet_batch_buffer(syslet_batch *b, uint16_t index, size_t
/// *len)`: buffer `index` of the native batch as the last run left it (what
/// the kernel wrote into an OUT buffer), valid until the batch is run,
/// submitted or freed; its length in `*len` (NULL: not stored). NULL for a bad
/// index or a batch in flight.
///
/// # Safety
///
/// `b` as for [`syslet_run`]; `len` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn syslet_batch_buffer(
    b: *mut SysletBatch,
    index: u16,
    len: *mut usize,
) -> *const c_void {
    // SAFETY: forwarded from the caller.
    unsafe {
        entry(ptr::null_mut(), ptr::null(), || {
            let bytes = batch(b)?
                .validated()?
                .buffer(index)
                .ok_or_else(|| Failure::argument("no such buffer"))?;
            if let Some(len) = len.as_mut() {
                *len = bytes.len();
            }
            Ok(bytes.as_ptr().cast())
        })
    }
}

/// `int syslet_batch_copy_out(syslet_batch *b, void *buf, size_t len, struct
/// syslet_error *err)`: copy the arena as the last run left it back into the
/// caller's batch bytes `buf` (the same `len` that was validated), so that
/// the caller reads its OUT buffers where it laid them out. For a compat
/// batch this is the i386 layout (`struct stat` becomes `struct stat64`, the
/// `_llseek` offset lands in its `loff_t`).
///
/// # Safety
///
/// `b` as for [`syslet_run`]; `buf` writable for `len` bytes; `err` NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn syslet_batch_copy_out(
    b: *mut SysletBatch,
    buf: *mut c_void,
    len: usize,
    err: *mut SysletError,
) -> c_int {
    // SAFETY: forwarded from the caller.
    unsafe {
        status(err, || {
            let b = batch(b)?;
            if len != b.len {
                return Err(Failure::argument(
                    "len is not the length that was validated",
                ));
            }
            if buf.is_null() {
                return Err(Failure::argument("buf is NULL"));
            }
            // SAFETY: writable for `len` bytes (the C contract).
            let dst = std::slice::from_raw_parts_mut(buf.cast::<u8>(), len);
            let len = b.len;
            let compat = b.compat.take();
            let done = (|| {
                let batch = b.validated()?;
                match &compat {
                    Some(norm) => {
                        let native = *batch.completion().as_abi();
                        norm.write_back(batch.arena(), &native, dst)?;
                    }
                    None => {
                        let arena = batch.arena();
                        dst[len - arena.len()..].copy_from_slice(arena);
                    }
                }
                Ok(())
            })();
            b.compat = compat;
            done
        })
    }
}

/// `void syslet_batch_free(syslet_batch *)` (NULL: nothing). Descriptors the
/// chain opened and did not close stay open: they are the caller's (their
/// numbers are the atoms' results).
///
/// # Safety
///
/// `b` NULL or from `syslet_validate*`/`syslet_executor_reap`, not in flight,
/// freed once.
#[no_mangle]
pub unsafe extern "C" fn syslet_batch_free(b: *mut SysletBatch) {
    if !b.is_null() {
        // SAFETY: made by Box::into_raw in `handle`, freed once; dropping a
        // ValidatedBatch does not panic.
        drop(unsafe { Box::from_raw(b) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{SYSLET_E_COMPAT, SYSLET_E_INVALID};
    use std::ffi::CStr;
    use std::mem::MaybeUninit;
    use syslets_rs::opcode::{Close, Fstat, Openat};
    use syslets_rs::{Chain, Stat, Stop};

    fn valid_batch() -> Vec<u8> {
        let mut chain = Chain::new();
        let path = chain.path("/proc/self/stat");
        let st = chain.output::<Stat>();
        let fd = chain.push(Openat::new(libc::AT_FDCWD, path).stop_on(Stop::NEGATIVE));
        chain.push(Fstat::new(fd, st));
        chain.push(Close::new(fd));
        chain.encode().unwrap().as_bytes().to_vec()
    }

    /// Mutated batches through both entry points: each is a handle or a
    /// refusal with its code and a message, never a panic.
    #[test]
    fn mutated_batches_are_refused_with_a_message_or_validate() {
        let valid = valid_batch();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let (mut refused, mut accepted) = (0, 0);
        for round in 0..4000 {
            let mut bytes = valid.clone();
            for _ in 0..1 + next() % 4 {
                let at = (next() % bytes.len() as u64) as usize;
                bytes[at] = next() as u8;
            }
            if round % 7 == 0 {
                bytes.truncate((next() % bytes.len() as u64) as usize);
            }
            for compat in [false, true] {
                let mut err = MaybeUninit::<SysletError>::zeroed();
                // SAFETY: `bytes` is readable for its length; `err` writable.
                let b = unsafe {
                    validate(
                        bytes.as_ptr().cast(),
                        bytes.len(),
                        ptr::null(),
                        err.as_mut_ptr(),
                        compat,
                    )
                };
                if b.is_null() {
                    // SAFETY: zeroed, then filled by the refusal.
                    let err = unsafe { err.assume_init() };
                    let expected = if compat {
                        [SYSLET_E_COMPAT, SYSLET_E_INVALID]
                    } else {
                        [SYSLET_E_INVALID; 2]
                    };
                    assert!(
                        expected.contains(&err.code),
                        "round {round}: code {}",
                        err.code
                    );
                    // SAFETY: copy_str NUL-terminates the message.
                    let msg = unsafe { CStr::from_ptr(err.message.as_ptr()) };
                    assert!(!msg.to_bytes().is_empty(), "round {round}: no message");
                    refused += 1;
                } else {
                    accepted += 1;
                    // SAFETY: a handle from validate, freed once.
                    unsafe { syslet_batch_free(b) };
                }
            }
        }
        // The native batch is refused by the compat side (magic) and most
        // mutations by both: the test exercised refusals.
        assert!(refused > 4000, "refused {refused}, accepted {accepted}");
    }
}
