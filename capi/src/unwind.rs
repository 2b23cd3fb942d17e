//! No unwinding out of the C ABI: a panic that reached an `extern "C"`
//! function would abort the whole program, so every entry point runs its body
//! through [`no_unwind`], which turns a panic into an error value (for the
//! AIO functions the errno glibc reports for a call it could not serve; for
//! the chain API `SYSLET_E_PANIC`).

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Run `body`; a panic in it becomes `Err(on_panic)`.
///
/// The panic message is still printed by the panic hook. The payload is
/// leaked, not dropped: a payload whose destructor panicked in turn would
/// unwind out of here.
pub(crate) fn no_unwind<T, E>(on_panic: E, body: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(r) => r,
        Err(payload) => {
            std::mem::forget(payload);
            Err(on_panic)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syslets_rs::Errno;

    #[test]
    fn a_panic_becomes_the_given_error_and_results_pass_through() {
        let r: Result<i32, Errno> = no_unwind(Errno::EAGAIN, || panic!("inside a C entry point"));
        assert_eq!(r, Err(Errno::EAGAIN));
        // The overflow the C timeout used to hit, as a panic in the body.
        let huge = std::time::Duration::MAX;
        let r = no_unwind(Errno::EINVAL, || {
            let _ = std::hint::black_box(std::time::Instant::now()) + huge;
            Ok(())
        });
        assert_eq!(r, Err(Errno::EINVAL));
        assert_eq!(no_unwind(Errno::EINVAL, || Ok(7)), Ok(7));
        assert_eq!(
            no_unwind(Errno::EINVAL, || Err::<(), _>(Errno::EBADF)),
            Err(Errno::EBADF)
        );
    }
}
