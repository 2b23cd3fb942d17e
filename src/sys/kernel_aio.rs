//! Linux native AIO ([io_submit(2)]) for `O_DIRECT` reads and writes: the
//! kernel queues such a request at the device and completes it without any
//! thread of ours waiting in a call — no hand-off to a worker per request.
//!
//! ```text
//! submit ─► io_submit(iocb: RWF_NOWAIT, IOCB_FLAG_RESFD) ─► the device
//!   (EAGAIN: the call would have blocked ─► a worker, as before)
//! device done ─► event in the ring the kernel maps into this process
//!             ─► the eventfd is signalled ─► the reaper reads the ring
//! ```
//!
//! Completions are read from the ring in user memory (`struct aio_ring`,
//! whose `head` the kernel lets user space advance: libaio does the same),
//! never with `io_getevents`, so the reaper takes them without a system call
//! and an idle reaper sleeps in `poll` on the eventfd. `RWF_NOWAIT` makes
//! `io_submit` refuse (`EAGAIN`) instead of blocking the submitter on a
//! file-system lock, an extent read or a full device queue; a request the
//! block layer refuses later completes with `-EAGAIN`, and goes to a worker
//! then.
//!
//! [io_submit(2)]: https://man7.org/linux/man-pages/man2/io_submit.2.html
#![allow(unsafe_code)]

use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use crate::errno::Errno;
use crate::sys::eventfd::EventFd;

/// `struct aio_ring`, the header of the completion ring the kernel maps at
/// the context's address (fs/aio.c); `struct io_event`s follow it.
#[repr(C)]
struct AioRing {
    id: u32,
    nr: u32,
    head: AtomicU32,
    tail: AtomicU32,
    magic: u32,
    compat_features: u32,
    incompat_features: u32,
    header_length: u32,
}

const AIO_RING_MAGIC: u32 = 0xa10a_10a1;

/// `struct io_event`.
#[repr(C)]
#[derive(Clone, Copy)]
struct IoEvent {
    data: u64,
    obj: u64,
    res: i64,
    res2: i64,
}

/// `struct iocb` (little-endian field order).
#[repr(C)]
struct Iocb {
    aio_data: u64,
    aio_key: u32,
    aio_rw_flags: i32,
    aio_lio_opcode: u16,
    aio_reqprio: i16,
    aio_fildes: u32,
    aio_buf: u64,
    aio_nbytes: u64,
    aio_offset: i64,
    aio_reserved2: u64,
    aio_flags: u32,
    aio_resfd: u32,
}

#[cfg(target_endian = "little")]
static_assertions::const_assert_eq!(size_of::<Iocb>(), 64);
static_assertions::const_assert_eq!(size_of::<IoEvent>(), 32);
static_assertions::const_assert_eq!(size_of::<AioRing>(), 32);

const IOCB_CMD_PREAD: u16 = 0;
const IOCB_CMD_PWRITE: u16 = 1;
const IOCB_FLAG_RESFD: u32 = 1;
const RWF_NOWAIT: i32 = 0x8;

/// A kernel AIO context, its eventfd, and the ring reader.
#[derive(Debug)]
pub(crate) struct KernelQueue {
    /// `aio_context_t`: the address of the mapped [`AioRing`].
    ctx: u64,
    nr: u32,
    event: EventFd,
    /// Held by the one thread reading the ring.
    reaping: AtomicBool,
    /// Requests submitted whose event was not read yet.
    in_flight: AtomicU32,
}

// SAFETY: `ctx` is the address of a mapping that lives until `Drop`
// (io_destroy) and is only reached through atomics (`head`, `tail`) and
// reads of events the kernel published before `tail`; reading the ring is
// serialised by `reaping`. Everything else is atomics and an fd.
unsafe impl Send for KernelQueue {}
// SAFETY: as above.
unsafe impl Sync for KernelQueue {}

/// Memory the kernel reads or writes on its own after `io_submit` returned.
///
/// # Safety
///
/// An implementor guarantees that `parts` names memory that stays valid,
/// and that nothing else reads or writes, until the outcome of every
/// request queued with it is published (after [`KernelQueue::reap`] handed
/// over its event).
pub(crate) unsafe trait DeviceBuffer {
    /// The address and the length in bytes.
    fn parts(&self) -> (u64, u64);
}

/// Why a request was not queued in the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The call would have blocked, or the context is full: try a worker.
    WouldBlock,
    /// The descriptor does not take kernel AIO (`EOPNOTSUPP`, `EINVAL`, …):
    /// use workers for it from now on.
    Unsupported(Errno),
}

impl KernelQueue {
    /// A context for `capacity` requests in flight. Fails when the kernel has
    /// no AIO (`ENOSYS`, a seccomp filter), the system-wide limit
    /// (`/proc/sys/fs/aio-max-nr`) is reached, or the ring is not the layout
    /// this reader knows.
    pub(crate) fn new(capacity: u32) -> io::Result<KernelQueue> {
        if crate::fault::active(crate::fault::Fault::KernelAio) {
            return Err(io::Error::from_raw_os_error(libc::ENOSYS));
        }
        let event = EventFd::new()?;
        let mut ctx: u64 = 0;
        // SAFETY: io_setup writes the context (an address-sized integer) to
        // the pointer, which points to `ctx` on this stack frame.
        let rc = unsafe { libc::syscall(libc::SYS_io_setup, capacity, &mut ctx as *mut u64) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: io_setup succeeded: `ctx` is the address of the mapped ring
        // (page aligned, at least a header long); these fields are set up
        // before io_setup returns and never change.
        let (magic, incompat, header, nr) = unsafe {
            let r = ctx as *const AioRing;
            (
                (*r).magic,
                (*r).incompat_features,
                (*r).header_length,
                (*r).nr,
            )
        };
        if magic != AIO_RING_MAGIC
            || incompat != 0
            || header as usize != size_of::<AioRing>()
            || nr == 0
        {
            // SAFETY: io_destroy takes the context by value.
            unsafe { libc::syscall(libc::SYS_io_destroy, ctx) };
            return Err(io::Error::from_raw_os_error(libc::ENOSYS));
        }
        Ok(KernelQueue {
            ctx,
            nr,
            event,
            reaping: AtomicBool::new(false),
            in_flight: AtomicU32::new(0),
        })
    }

    fn ring(&self) -> &AioRing {
        // SAFETY: io_setup succeeded, so `ctx` is the address of the mapped
        // ring, page aligned, at least one header long, and mapped until
        // io_destroy in `Drop`. The kernel writes `head` and `tail` only with
        // plain stores of whole words (and `head` never: this library never
        // calls io_getevents); the other fields are set at setup.
        unsafe { &*(self.ctx as *const AioRing) }
    }

    /// Requests submitted and not reaped.
    pub(crate) fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Queue a read (or write) of `buf` at `offset` of `fd`; `data` comes
    /// back with its event. `RWF_NOWAIT`: if the kernel would have to block
    /// to queue it, it refuses instead.
    ///
    /// The kernel writes (reads) `buf` until the event is in the ring. That
    /// is within `buf`'s contract ([`DeviceBuffer`]: valid and unaliased
    /// until the request's outcome is published) because the engine
    /// publishes the outcome of a request it queued here only once
    /// [`reap`](Self::reap) has handed over its event, and never drops the
    /// queue with a request outstanding.
    pub(crate) fn submit(
        &self,
        fd: i32,
        write: bool,
        buf: &impl DeviceBuffer,
        offset: i64,
        data: u64,
    ) -> Result<(), Refused> {
        let (addr, len) = buf.parts();
        let mut iocb = Iocb {
            aio_data: data,
            aio_key: 0,
            aio_rw_flags: RWF_NOWAIT,
            aio_lio_opcode: if write {
                IOCB_CMD_PWRITE
            } else {
                IOCB_CMD_PREAD
            },
            aio_reqprio: 0,
            aio_fildes: fd as u32,
            aio_buf: addr,
            aio_nbytes: len,
            aio_offset: offset,
            aio_reserved2: 0,
            aio_flags: IOCB_FLAG_RESFD,
            aio_resfd: self.event.as_raw_fd() as u32,
        };
        let mut list = [&raw mut iocb];
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        // SAFETY: io_submit reads one pointer from `list` and the iocb it
        // points to (both on this stack frame, copied by the kernel during
        // the call); the kernel's later use of the buffer the iocb names is
        // covered by `buf`'s contract, as the doc comment argues.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_io_submit,
                self.ctx,
                1 as libc::c_long,
                list.as_mut_ptr(),
            )
        };
        if rc == 1 {
            return Ok(());
        }
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        let err = io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO);
        Err(match err {
            libc::EAGAIN | libc::EINTR => Refused::WouldBlock,
            e => Refused::Unsupported(Errno::from_raw(e)),
        })
    }

    /// Take every event in the ring and hand each to `each(data, res)`, where
    /// `res` is the byte count or `-errno`. Returns how many, or `None` when
    /// another thread is reading the ring now (it takes them).
    pub(crate) fn reap(&self, mut each: impl FnMut(u64, i64)) -> Option<usize> {
        if self.reaping.swap(true, Ordering::Acquire) {
            return None;
        }
        let r = self.ring();
        let mut n = 0;
        loop {
            let mut head = r.head.load(Ordering::Relaxed);
            let tail = r.tail.load(Ordering::Acquire);
            if head == tail {
                break;
            }
            while head != tail {
                // SAFETY: `head` < `nr` (the kernel keeps both indices below
                // `nr`; checked again here), so the event lies inside the
                // mapped ring right after the header; the kernel wrote it
                // before it released `tail` (acquired above), and does not
                // write it again until `head` moves past it.
                let ev = unsafe {
                    let events =
                        (self.ctx as *const u8).add(size_of::<AioRing>()) as *const IoEvent;
                    std::ptr::read_volatile(events.add((head % self.nr) as usize))
                };
                head = (head + 1) % self.nr;
                // Release the slot before handling the event: the handler
                // may submit again.
                r.head.store(head, Ordering::Release);
                self.in_flight.fetch_sub(1, Ordering::SeqCst);
                n += 1;
                each(ev.data, ev.res);
            }
        }
        self.reaping.store(false, Ordering::Release);
        Some(n)
    }

    /// Sleep until the eventfd says an event may be there (or `timeout`),
    /// then reset it. Reap after this, and before sleeping again.
    pub(crate) fn wait(&self, timeout: Duration) {
        let mut pfd = libc::pollfd {
            fd: self.event.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: poll reads and writes one pollfd on this stack frame.
        unsafe { libc::poll(&mut pfd, 1, ms) };
        self.event.drain();
    }

    /// Wake a thread sleeping in [`wait`](Self::wait).
    pub(crate) fn wake(&self) {
        self.event.signal();
    }
}

impl Drop for KernelQueue {
    fn drop(&mut self) {
        // Waits for any request still at the device, then unmaps the ring.
        // SAFETY: io_destroy takes the context by value.
        unsafe { libc::syscall(libc::SYS_io_destroy, self.ctx) };
    }
}
