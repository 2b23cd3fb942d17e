//! The one place that issues raw system calls.
#![allow(unsafe_code)]

/// Issue system call `nr` with six arguments and return the raw kernel result
/// (`-errno` on failure; `errno` is not touched).
///
/// # Safety
///
/// The arguments must be acceptable to the kernel for this call in the sense of
/// memory safety: every pointer argument must point to memory that is valid for
/// the access and the length the call implies, and the call must not change the
/// process in a way Rust code relies on (unmapping memory, closing fds owned by
/// Rust objects, …). The validator establishes this for every atom it passes.
#[inline(always)]
pub(crate) unsafe fn syscall6(nr: u32, a: &[u64; 6]) -> i64 {
    let ret: i64;
    // SAFETY: the x86_64 `syscall` instruction takes the number in rax and the
    // arguments in rdi, rsi, rdx, r10, r8, r9, returns in rax and clobbers rcx and
    // r11; nothing else is touched and the stack is not used. Memory effects are
    // the caller's contract above (the asm block is not marked `nomem`, so the
    // compiler assumes memory may be read and written).
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") nr as i64 => ret,
            in("rdi") a[0],
            in("rsi") a[1],
            in("rdx") a[2],
            in("r10") a[3],
            in("r8") a[4],
            in("r9") a[5],
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

// The kernel interfaces beside the atoms themselves: futex waits and wakes,
// the completion eventfd, the fork generation, the non-blocking probes, the
// i386 entry, thread times, signal masks, the seccomp install and the AIO
// shim's descriptor queries. Each submodule keeps its `unsafe` to the
// syscall itself.
pub(crate) mod atfork;
pub(crate) mod compat32;
pub(crate) mod eventfd;
pub(crate) mod fd;
pub(crate) mod futex;
pub(crate) mod kernel_aio;
pub(crate) mod nowait;
pub(crate) mod rusage;
pub(crate) mod seccomp;
pub(crate) mod signals;
