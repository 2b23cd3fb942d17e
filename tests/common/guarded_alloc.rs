//! A test-build global allocator that puts a canary page and then a
//! `PROT_NONE` page right after every allocation made inside [`guarded`].
//!
//! Each guarded allocation gets pages of its own in one address range
//! reserved up front; it ends exactly where its canary page begins (for
//! sizes that are a multiple of the alignment, as every batch storage is).
//! The canary page is writable and filled with [`CANARY`]: a kernel write
//! that runs past the allocation lands there (the kernel writes forward from
//! a pointer) and is seen by [`canary_intact`] or, for any guarded
//! allocation, by [`damaged_canaries`] when it is freed; one that jumps
//! further hits the inaccessible page and fails with `EFAULT`. Freed pages
//! are returned and made inaccessible, never reused, so a write through a
//! stale pointer faults too. Allocations outside `guarded`, and on other
//! threads, go to the system allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};

const PAGE: usize = 4096;
/// Address space reserved (not memory: `PROT_NONE`, `MAP_NORESERVE`).
const RESERVE: usize = 1 << 35;

/// The allocator; install it with `#[global_allocator]`.
pub struct GuardedAlloc;

/// The byte every canary page is filled with.
pub const CANARY: u8 = 0xa5;

static BASE: AtomicUsize = AtomicUsize::new(0);
static USED: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
    static DAMAGED: Cell<usize> = const { Cell::new(0) };
}

/// Runs `f` with this thread's allocations guarded.
pub fn guarded<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            ON.with(|on| on.set(self.0));
        }
    }
    let _restore = Restore(ON.with(|on| on.replace(true)));
    f()
}

/// Whether `addr` lies in the guarded range.
pub fn is_guarded(addr: usize) -> bool {
    let base = BASE.load(Ordering::Acquire);
    base != 0 && (base..base + RESERVE).contains(&addr)
}

/// Whether the canary page that starts at `end` (the page-aligned end of a
/// guarded allocation) holds only [`CANARY`] bytes.
pub fn canary_intact(end: *const u8) -> bool {
    assert!(is_guarded(end as usize) && end as usize % PAGE == 0);
    // SAFETY: a canary page stays readable while its allocation is live,
    // which the caller's pointer to the allocation's end implies.
    let page = unsafe { std::slice::from_raw_parts(end, PAGE) };
    page.iter().all(|&b| b == CANARY)
}

/// How many guarded allocations this thread freed with a written canary
/// page (per thread, so that tests running beside each other don't mix).
pub fn damaged_canaries() -> usize {
    DAMAGED.with(|d| d.get())
}

fn base() -> usize {
    let base = BASE.load(Ordering::Acquire);
    if base != 0 {
        return base;
    }
    // SAFETY: a fresh anonymous mapping the kernel places; it overlaps nothing.
    let got = unsafe {
        libc::mmap(
            ptr::null_mut(),
            RESERVE,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    assert_ne!(got, libc::MAP_FAILED, "reserving the guarded range");
    match BASE.compare_exchange(0, got as usize, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => got as usize,
        Err(winner) => {
            // SAFETY: our own mapping, which nothing has used.
            unsafe { libc::munmap(got, RESERVE) };
            winner
        }
    }
}

// SAFETY: guarded blocks are disjoint (the range is handed out by a bump
// counter and never reused), readable and writable for their whole size and
// aligned as asked (their end is page aligned and the size is rounded up to
// the alignment, which is at most a page); everything else is `System`'s.
unsafe impl GlobalAlloc for GuardedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !ON.with(|on| on.get()) || layout.align() > PAGE {
            // SAFETY: the caller's contract, passed on.
            return unsafe { System.alloc(layout) };
        }
        let size = layout.size().next_multiple_of(layout.align());
        let data = size.next_multiple_of(PAGE);
        let offset = USED.fetch_add(data + 2 * PAGE, Ordering::Relaxed);
        if offset + data + 2 * PAGE > RESERVE {
            // SAFETY: as above.
            return unsafe { System.alloc(layout) };
        }
        let start = base() + offset;
        // SAFETY: the data and canary pages of this block, which only it
        // uses; the page after them stays PROT_NONE.
        let rc = unsafe {
            libc::mprotect(
                start as *mut libc::c_void,
                data + PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
            )
        };
        if rc != 0 {
            return ptr::null_mut();
        }
        // SAFETY: the canary page just made writable.
        unsafe { ptr::write_bytes((start + data) as *mut u8, CANARY, PAGE) };
        (start + data - size) as *mut u8
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let addr = block as usize;
        if !is_guarded(addr) {
            // SAFETY: not ours, so `System` gave it out.
            return unsafe { System.dealloc(block, layout) };
        }
        let start = addr & !(PAGE - 1);
        let end = (addr + layout.size()).next_multiple_of(PAGE);
        if !canary_intact(end as *const u8) {
            DAMAGED.with(|d| d.set(d.get() + 1));
        }
        // SAFETY: this block's own data and canary pages; the caller no
        // longer uses them.
        unsafe {
            libc::madvise(
                start as *mut libc::c_void,
                end + PAGE - start,
                libc::MADV_DONTNEED,
            );
            libc::mprotect(
                start as *mut libc::c_void,
                end + PAGE - start,
                libc::PROT_NONE,
            );
        }
    }
}
