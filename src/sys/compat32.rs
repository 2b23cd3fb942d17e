//! The kernel's i386 system-call entry (`int 0x80`), for the atoms of a batch
//! run on behalf of a 32-bit producer ([`abi::BATCH_COMPAT32`]) whose outcome
//! depends on the calling ABI.
//!
//! ext4 (and the NFS client) choose the width of directory offsets by the ABI
//! of the call (`in_compat_syscall()`, unless the open file carries
//! `FMODE_32BITHASH`/`FMODE_64BITHASH`, which only nfsd sets): a 32-bit caller
//! gets 31-bit hash cookies and the end marker `0x7fffffff` from `getdents64`
//! and `lseek`, a 64-bit caller 63-bit cookies ending at `0x7fffffffffffffff`.
//! An `int 0x80` from a 64-bit thread enters the i386 table with
//! `in_compat_syscall()` true, so the kernel answers exactly as it answers a
//! 32-bit process — for every file system, not only ext4.
//!
//! The i386 entry takes 32-bit pointers: `getdents64` fills a buffer mapped
//! below 4 GiB (`MAP_32BIT`, one per thread, kept while small) that is copied
//! into the batch's buffer; `lseek` is issued as `_llseek`, whose `loff_t`
//! result goes to the same low buffer. [`available`] probes, once, whether the
//! kernel has the entry at all.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU8, Ordering};

use syslets_abi as abi;
use syslets_abi::nr;

/// i386 `getpid`, the probe's call.
const I386_GETPID: u32 = 20;
use syslets_abi::compat32::nr32::{GETDENTS64 as I386_GETDENTS64, LLSEEK as I386_LLSEEK};

/// Whether an atom calling `sig` in a batch with `flags` goes through the
/// i386 entry: the batch is a compat one, the call depends on the calling ABI
/// ([`Signature::via_i386`](abi::signature::Signature::via_i386)), and the
/// kernel has the entry.
#[inline]
pub(crate) fn routes(flags: u16, sig: &abi::signature::Signature) -> bool {
    flags & abi::BATCH_COMPAT32 != 0 && sig.via_i386.is_some() && available()
}

/// Whether `int 0x80` works here: the kernel was built with IA32 emulation,
/// it was not turned off at boot (`ia32_emulation=0`), and no seccomp filter of
/// the probing thread refuses i386 calls. Probed in a forked child, since
/// where the entry is missing the instruction raises `SIGSEGV`, which would
/// end this process; the verdict is kept for the process once a child could
/// be forked.
pub(crate) fn available() -> bool {
    const UNKNOWN: u8 = 0;
    const YES: u8 = 1;
    const NO: u8 = 2;
    static VERDICT: AtomicU8 = AtomicU8::new(UNKNOWN);
    match VERDICT.load(Ordering::Relaxed) {
        YES => true,
        NO => false,
        _ => match probe() {
            Some(yes) => {
                VERDICT.store(if yes { YES } else { NO }, Ordering::Relaxed);
                yes
            }
            // No child (a filter of this thread refuses fork, no pipe): "no"
            // for now, probed again next time.
            None => false,
        },
    }
}

/// Fork a child that makes an i386 `getpid` and reports over a pipe whether
/// it returned the child's pid; `None` when no child could be forked.
fn probe() -> Option<bool> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the two-element array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return None;
    }
    let [rd, wr] = fds;
    // SAFETY: fork(2) as a raw call (no atfork handlers run). The child only
    // makes raw system calls (getpid, write, _exit: async-signal-safe) on
    // memory it owns, then ends without unwinding or running destructors.
    let pid = unsafe { libc::syscall(libc::SYS_fork) };
    if pid == 0 {
        // SAFETY: i386 getpid takes no arguments and touches no memory; where
        // the entry is missing, the fault ends this child only.
        let r = unsafe { int80(I386_GETPID, [0; 5]) };
        // SAFETY: getpid takes no arguments; write reads one byte of a static;
        // _exit ends the child.
        unsafe {
            if r == libc::syscall(libc::SYS_getpid) {
                libc::write(wr, b"y".as_ptr().cast(), 1);
            }
            libc::_exit(0);
        }
    }
    // SAFETY: `wr` is our descriptor from pipe2, closed once.
    unsafe { libc::close(wr) };
    let mut verdict = None;
    if pid > 0 {
        let mut byte = 0u8;
        loop {
            // SAFETY: reads at most one byte into `byte`.
            let n = unsafe { libc::read(rd, (&raw mut byte).cast(), 1) };
            if n >= 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                // One byte: the call worked. End of file: the child died first.
                verdict = Some(n == 1);
                break;
            }
        }
        // Reap the child; a SIGCHLD handler of the process may have done so
        // already (ECHILD), which changes nothing: the verdict came over the pipe.
        // SAFETY: waits for our own child; no status pointer.
        while unsafe { libc::waitpid(pid as libc::pid_t, ptr::null_mut(), 0) } < 0
            && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
        {}
    }
    // SAFETY: `rd` is our descriptor from pipe2, closed once.
    unsafe { libc::close(rd) };
    verdict
}

/// Issue i386 system call `nr` through `int 0x80` with five 32-bit arguments
/// (`ebx`, `ecx`, `edx`, `esi`, `edi`); returns `eax`, sign-extended.
///
/// # Safety
///
/// As for [`syscall6`](super::syscall6), with every pointer argument a 32-bit
/// address, and [`available`] must have said yes (otherwise the instruction
/// raises `SIGSEGV`).
unsafe fn int80(nr: u32, a: [u32; 5]) -> i64 {
    let ret: u64;
    // SAFETY: `int 0x80` takes the i386 number in eax and the arguments in
    // ebx, ecx, edx, esi, edi, and returns in eax. rbx cannot be named as an
    // operand (LLVM reserves it), so its value is swapped in and back out
    // around the instruction. The kernel preserves every other register;
    // r8-r11 are declared clobbered for kernels before 4.17, which did not
    // preserve them on this entry. It does not touch the user stack. Memory
    // effects are the caller's contract.
    unsafe {
        core::arch::asm!(
            "xchg {b}, rbx",
            "int 0x80",
            "xchg {b}, rbx",
            b = inout(reg) a[0] as u64 => _,
            inlateout("rax") nr as u64 => ret,
            in("rcx") a[1] as u64,
            in("rdx") a[2] as u64,
            in("rsi") a[3] as u64,
            in("rdi") a[4] as u64,
            lateout("r8") _,
            lateout("r9") _,
            lateout("r10") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    ret as u32 as i32 as i64
}

/// Issue the atom `nr` (a call whose row has a `via_i386`) with its prepared arguments `a`
/// through the i386 entry, with the native call's result convention.
///
/// # Safety
///
/// The arguments must satisfy the contract of [`syscall6`](super::syscall6)
/// for the native call `nr`, and [`available`] must have said yes.
#[cold]
#[inline(never)]
pub(crate) unsafe fn issue(nr: u32, a: &[u64; abi::MAX_ARGS]) -> i64 {
    match nr {
        // SAFETY: the caller's contract: `a[1]` is NULL or valid for writes of
        // `a[2]` bytes.
        nr::GETDENTS64 => unsafe { getdents64(a[0], a[1], a[2]) },
        nr::LSEEK => lseek(a[0], a[1], a[2]),
        // SAFETY: the caller's contract for the native call.
        _ => unsafe { super::syscall6(nr, a) },
    }
}

/// `-ENOMEM`: no memory below 4 GiB for the low buffer.
const ENOMEM: i64 = -(libc::ENOMEM as i64);

/// `getdents64(fd, dirp, count)` through the i386 entry, into a low buffer
/// copied to `dirp`. The low buffer first gets `dirp`'s bytes: the kernel
/// leaves the padding after each name as it was, and writes nothing past the
/// `ret` bytes it returns, so copying those back leaves `dirp` exactly as a
/// direct call would — and nothing of an earlier call's entries (another
/// batch's) can reach it.
///
/// # Safety
///
/// `dirp` is NULL or valid for writes of `count as u32` bytes (the kernel reads
/// `count` as an `unsigned int`).
unsafe fn getdents64(fd: u64, dirp: u64, count: u64) -> i64 {
    let count = count as u32;
    if dirp == 0 {
        // SAFETY: a NULL buffer: the kernel faults on it (EFAULT) as it would
        // natively, touching nothing of ours.
        return unsafe { int80(I386_GETDENTS64, [fd as u32, 0, count, 0, 0]) };
    }
    with_low(count as usize, |low| {
        // SAFETY: `count` bytes: readable at `dirp` (the caller's contract),
        // writable in the low buffer; a private mapping of this module never
        // overlaps the batch's memory.
        unsafe { ptr::copy_nonoverlapping(dirp as *const u8, low.as_ptr(), count as usize) };
        // SAFETY: `low` is a mapping of ours below 4 GiB of at least `count`
        // bytes, used by nothing else during the call.
        let r = unsafe {
            int80(
                I386_GETDENTS64,
                [fd as u32, low.as_ptr() as u32, count, 0, 0],
            )
        };
        if r > 0 {
            let n = (r as usize).min(count as usize);
            // SAFETY: `n` ≤ `count` bytes: readable in the low buffer, writable
            // at `dirp` (the caller's contract); the two never overlap (the low
            // buffer is a private mapping of this module).
            unsafe { ptr::copy_nonoverlapping(low.as_ptr(), dirp as *mut u8, n) };
        }
        r
    })
    .unwrap_or(ENOMEM)
}

/// `lseek(fd, offset, whence)` as the i386 `_llseek`: the new offset or `-errno`.
fn lseek(fd: u64, offset: u64, whence: u64) -> i64 {
    with_low(8, |low| {
        let args = [
            fd as u32,
            (offset >> 32) as u32,
            offset as u32,
            low.as_ptr() as u32,
            whence as u32,
        ];
        // SAFETY: `_llseek` writes 8 bytes at `low`, a mapping of ours below
        // 4 GiB used by nothing else during the call; the rest are integers.
        let r = unsafe { int80(I386_LLSEEK, args) };
        if r == 0 {
            // SAFETY: the kernel stored the `loff_t` in the first 8 bytes.
            unsafe { ptr::read_unaligned(low.as_ptr().cast::<i64>()) }
        } else {
            r
        }
    })
    .unwrap_or(ENOMEM)
}

/// Bytes of the low buffer a thread keeps between calls (a `readdir` buffer
/// is usually 32 KiB); larger calls map a buffer of their own for the call.
const KEEP: usize = 64 << 10;

/// An anonymous mapping that lies wholly below 4 GiB.
struct LowMap {
    at: NonNull<u8>,
    len: usize,
}

impl LowMap {
    /// Map at least `len` bytes (`MAP_32BIT`: in the first 2 GiB).
    fn new(len: usize) -> Option<LowMap> {
        let len = len.max(1).next_multiple_of(4096);
        // SAFETY: a new private anonymous mapping at an address the kernel
        // picks: no existing memory is affected.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_32BIT,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return None;
        }
        let map = LowMap {
            at: NonNull::new(p.cast())?,
            len,
        };
        (p as usize + len <= 1 << 32).then_some(map)
    }
}

impl Drop for LowMap {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `new` made, which nothing else
        // refers to once its owner is dropped.
        unsafe { libc::munmap(self.at.as_ptr().cast(), self.len) };
    }
}

thread_local! {
    /// This thread's low buffer of [`KEEP`] bytes, mapped on first use.
    static LOW: RefCell<Option<LowMap>> = const { RefCell::new(None) };
}

/// Run `f` with a low buffer of at least `len` bytes; `None` when no memory
/// below 4 GiB could be mapped.
fn with_low<R>(len: usize, f: impl FnOnce(NonNull<u8>) -> R) -> Option<R> {
    if len <= KEEP {
        let kept = LOW.try_with(|low| {
            let mut low = low.try_borrow_mut().ok()?;
            if low.is_none() {
                *low = Some(LowMap::new(KEEP)?);
            }
            low.as_ref().map(|m| m.at)
        });
        if let Ok(Some(at)) = kept {
            return Some(f(at));
        }
    }
    // Larger than what is kept (or the thread is exiting): a mapping for this call.
    let map = LowMap::new(len)?;
    Some(f(map.at))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The calls [`issue`] routes, with the i386 call it issues each as.
    const ROUTES: &[(u32, u32)] = &[(nr::LSEEK, I386_LLSEEK), (nr::GETDENTS64, I386_GETDENTS64)];

    #[test]
    fn every_row_issued_through_the_i386_entry_has_a_route() {
        let rows: Vec<(u32, u32)> = abi::signature::SIGNATURES
            .iter()
            .filter_map(|sig| Some((sig.nr, sig.via_i386?)))
            .collect();
        assert_eq!(rows, ROUTES, "a row's via_i386 needs its arm in `issue`");
    }

    #[test]
    fn low_buffers_lie_below_4_gib() {
        for len in [0, 8, KEEP, KEEP + 1, 3 << 20] {
            let at = with_low(len, |p| p.as_ptr() as usize).expect("low memory");
            assert!(at + len <= 1 << 32, "{len} bytes at {at:#x}");
        }
    }

    #[test]
    fn lseek_through_the_i386_entry_reports_the_full_offset() {
        if !available() {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true");
            assert!(
                !ci,
                "CI runs on kernels with IA32 emulation: int 0x80 must work"
            );
            eprintln!("SKIPPED: this kernel has no i386 entry (no IA32 emulation)");
            return;
        }
        let f = std::fs::File::open("/proc/self/exe").unwrap();
        use std::os::fd::AsRawFd;
        let fd = f.as_raw_fd() as u64;
        // Past 4 GiB on a regular file: both halves of the offset arrive.
        assert_eq!(lseek(fd, 5 << 30, libc::SEEK_SET as u64), 5 << 30);
        assert_eq!(lseek(fd, 0, libc::SEEK_CUR as u64), 5 << 30);
        assert_eq!(lseek(fd, 0, 7), -(libc::EINVAL as i64));
        assert_eq!(lseek(u32::MAX as u64, 0, 0), -(libc::EBADF as i64));
    }
}
