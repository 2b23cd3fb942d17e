//! [`Chain`]: collects atoms and the buffers they use, then encodes them into one
//! ABI buffer.

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use syslets_abi as abi;
use zerocopy::{FromBytes, Immutable, IntoBytes};

use crate::builder::inline_vec::InlineVec;
use crate::builder::opcode::{AtomSpec, Opcode};
use crate::error::{ErrorKind, ValidationError};
use crate::handles::{AtomRef, BufRef, ChainId, Iovecs, Mem, Msghdr, Out, SockAddr, SockAddrOut};

/// A raw pointer argument of an in-process chain, with the bytes it may reach.
/// The validator checks lengths against it just as against arena buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RawRegion {
    pub atom: u16,
    pub arg: u8,
    pub len: u64,
}

/// Atoms a [`Chain`] holds without allocating.
pub(crate) const INLINE_ATOMS: usize = 4;
/// Buffer descriptors a [`Chain`] holds without allocating.
pub(crate) const INLINE_BUFS: usize = 4;
/// Arena bytes a [`Chain`] holds without allocating.
pub(crate) const INLINE_ARENA: usize = 256;

/// A linear chain of atoms under construction.
///
/// ```
/// use syslets::{Chain, Policy, opcode::{Openat, Fstat, Close}, Stop};
/// let mut chain = Chain::new();
/// let path = chain.path("/proc/self/status");
/// let st = chain.output::<syslets::Stat>();
/// let open = chain.push(Openat::new(libc::AT_FDCWD, path).stop_on(Stop::NEGATIVE));
/// chain.push(Fstat::new(open, st));
/// chain.push(Close::new(open));
/// let mut batch = chain.prepare(&Policy::default())?;
/// let done = batch.run();
/// assert_eq!(done.atoms_run(), 3);
/// assert!(done.result(open).unwrap() >= 0);
/// # Ok::<(), syslets::ValidationError>(())
/// ```
#[derive(Debug, Default)]
pub struct Chain<'a> {
    // In place up to these sizes (the capacities `new` used to reserve), on
    // the heap beyond: a short chain is built without allocating.
    pub(crate) atoms: InlineVec<abi::Atom, INLINE_ATOMS>,
    pub(crate) bufs: InlineVec<abi::BufDesc, INLINE_BUFS>,
    pub(crate) arena: InlineVec<u8, INLINE_ARENA>,
    pub(crate) raw: Vec<RawRegion>,
    pub(crate) flags: u16,
    pub(crate) caller_data: u64,
    pub(crate) error: Option<ValidationError>,
    /// What this chain's [`AtomRef`]s carry.
    id: ChainId,
    _borrows: PhantomData<&'a mut [u8]>,
}

impl<'a> Chain<'a> {
    /// An empty chain.
    pub fn new() -> Self {
        Chain::default()
    }

    /// An empty chain with room for `atoms` atoms, `bufs` buffers and
    /// `arena` bytes of buffer contents, so that building it does not
    /// reallocate (64-atom chains otherwise grow their vectors several times).
    pub fn with_capacity(atoms: usize, bufs: usize, arena: usize) -> Self {
        Chain {
            atoms: InlineVec::with_capacity(atoms),
            bufs: InlineVec::with_capacity(bufs),
            arena: InlineVec::with_capacity(arena),
            ..Default::default()
        }
    }

    /// Number of atoms pushed so far.
    pub fn len(&self) -> usize {
        self.atoms.len()
    }

    /// Whether no atom was pushed yet.
    pub fn is_empty(&self) -> bool {
        self.atoms.is_empty()
    }

    /// Set the batch flags (`BATCH_ASYNC`, `BATCH_SYNC`, `BATCH_NO_COMPLETE`).
    pub fn set_flags(&mut self, flags: u16) -> &mut Self {
        self.flags = flags;
        self
    }

    /// Set the value echoed in the completion.
    pub fn set_caller_data(&mut self, data: u64) -> &mut Self {
        self.caller_data = data;
        self
    }

    fn add_buf(&mut self, bytes: Option<&[u8]>, len: usize, flags: u32) -> BufRef {
        let index = self.bufs.len();
        let offset = self.arena.len();
        let end = offset.saturating_add(len);
        if index >= abi::MAX_BUFS || end > abi::MAX_ARENA_LEN {
            let kind = if index >= abi::MAX_BUFS {
                ErrorKind::TooManyBufs(index + 1)
            } else {
                ErrorKind::ArenaTooLarge(end)
            };
            self.error.get_or_insert(ValidationError::batch(kind));
            return BufRef {
                index: u16::MAX,
                offset: 0,
                len: 0,
            };
        }
        if let Some(b) = bytes {
            self.arena.extend_from_slice(b);
        }
        // Zeros up to `len` (a path's NUL), then up to the next 8-byte
        // boundary: every buffer stays 8-byte aligned within the arena.
        let padded = end.next_multiple_of(abi::BATCH_ALIGN);
        self.arena.extend_zeroed(padded - self.arena.len());
        self.bufs.push(abi::BufDesc {
            offset: offset as u32,
            len: len as u32,
            flags,
            reserved: 0,
        });
        BufRef {
            index: index as u16,
            offset: 0,
            len: len as u32,
        }
    }

    /// Copy a path (plus its NUL) into the arena, for openat, newfstatat, statx….
    /// A path holding a NUL byte makes [`Chain::encode`] fail.
    pub fn path(&mut self, path: impl AsRef<Path>) -> BufRef {
        let bytes = path.as_ref().as_os_str().as_bytes();
        if bytes.contains(&0) {
            self.error
                .get_or_insert(ValidationError::batch(ErrorKind::InteriorNul));
        }
        let buf = self.add_buf(Some(bytes), bytes.len() + 1, abi::BUF_IN);
        // add_buf zero-filled the terminator (zeros after the bytes).
        buf
    }

    /// Copy bytes the kernel will read (data to write or send) into the arena.
    pub fn input(&mut self, bytes: &[u8]) -> BufRef {
        self.add_buf(Some(bytes), bytes.len(), abi::BUF_IN)
    }

    /// Copy a value the kernel will read (an option value, a `siginfo_t`).
    pub fn input_value<T: IntoBytes + Immutable>(&mut self, value: &T) -> BufRef {
        self.input(value.as_bytes())
    }

    /// A zeroed buffer of `len` bytes the kernel will write (data read).
    pub fn output_bytes(&mut self, len: usize) -> BufRef {
        self.add_buf(None, len, abi::BUF_OUT)
    }

    /// A zeroed buffer the kernel both reads and writes, e.g. data read by one
    /// atom and written out by a later one.
    pub fn scratch(&mut self, len: usize) -> BufRef {
        self.add_buf(None, len, abi::BUF_IN | abi::BUF_OUT)
    }

    /// Room for one `T` written by the kernel.
    pub fn output<T: FromBytes + IntoBytes>(&mut self) -> Out<T> {
        let buf = self.add_buf(None, size_of::<T>(), abi::BUF_OUT);
        Out::new(buf)
    }

    /// Copy a socket address into the arena (IPv4 or IPv6).
    pub fn sockaddr(&mut self, addr: SocketAddr) -> SockAddr {
        let (bytes, len) = crate::builder::net::encode_sockaddr(addr);
        let buf = self.input(&bytes[..len]);
        SockAddr {
            buf,
            len: len as u32,
        }
    }

    /// An iovec array naming `bufs` (views of this chain's buffers, each
    /// whole), for [`Readv`](crate::opcode::Readv) and its kin. The kernel
    /// writes the buffers of a read (they must be `OUT` and must not overlap)
    /// and reads those of a write; the array itself is an `IN` buffer.
    ///
    /// ```
    /// use syslets::{Chain, Policy, opcode::{Openat, Readv}};
    /// let mut chain = Chain::new();
    /// let path = chain.path("/dev/zero");
    /// let (head, body) = (chain.output_bytes(8), chain.output_bytes(100));
    /// let iov = chain.iovecs(&[head, body]);
    /// let fd = chain.push(Openat::new(libc::AT_FDCWD, path));
    /// chain.push(Readv::new(fd, iov));
    /// let mut batch = chain.prepare(&Policy::default()).unwrap();
    /// assert_eq!(batch.run().results()[1], 108);
    /// # drop(batch.take_fds());
    /// ```
    pub fn iovecs(&mut self, bufs: &[BufRef]) -> Iovecs {
        let mut bytes = Vec::with_capacity(bufs.len() * abi::IOVEC_SIZE);
        for b in bufs {
            let iov = abi::IoVec {
                base: abi::buf_arg(b.index, b.offset),
                len: b.len as u64,
            };
            bytes.extend_from_slice(iov.as_bytes());
        }
        let array = self.add_buf(Some(&bytes), bytes.len(), abi::BUF_IN);
        Iovecs {
            array,
            count: bufs.len() as u32,
        }
    }

    /// A `struct msghdr` for [`Sendmsg`](crate::opcode::Sendmsg): the data of
    /// `iov`, to `dest` (unconnected sockets), with the control messages in
    /// `control` (an `IN` buffer, such as [`rights`](Self::rights) makes).
    /// The header is an `IN` buffer.
    pub fn msghdr_send(
        &mut self,
        dest: Option<SockAddr>,
        iov: Iovecs,
        control: Option<BufRef>,
    ) -> Msghdr {
        let name = dest.map(|d| (d.buf, d.len));
        self.msghdr(name, iov, control, abi::BUF_IN)
    }

    /// A `struct msghdr` for [`Recvmsg`](crate::opcode::Recvmsg): data into
    /// the (`OUT`) buffers of `iov`, the sender's address into `name` (an
    /// `OUT` buffer, up to 128 bytes), control messages into `control` (an
    /// `OUT` buffer, such as [`control_out`](Self::control_out) makes). The
    /// header is an `IN | OUT` buffer: after the call it holds the kernel's
    /// `msg_namelen`, `msg_controllen` and `msg_flags` ([`Msghdr::out`]).
    pub fn msghdr_recv(
        &mut self,
        name: Option<BufRef>,
        iov: Iovecs,
        control: Option<BufRef>,
    ) -> Msghdr {
        let name = name.map(|n| (n, n.len));
        self.msghdr(name, iov, control, abi::BUF_IN | abi::BUF_OUT)
    }

    fn msghdr(
        &mut self,
        name: Option<(BufRef, u32)>,
        iov: Iovecs,
        control: Option<BufRef>,
        flags: u32,
    ) -> Msghdr {
        let word = |b: BufRef| abi::buf_arg(b.index, b.offset);
        let hdr = abi::MsgHdr {
            name: name.map_or(0, |(b, _)| word(b)),
            namelen: name.map_or(0, |(_, len)| len),
            iov: word(iov.array),
            iovlen: iov.count as u64,
            control: control.map_or(0, word),
            controllen: control.map_or(0, |c| c.len as u64),
            ..Default::default()
        };
        let hdr = self.add_buf(Some(hdr.as_bytes()), abi::MSGHDR_SIZE, flags);
        Msghdr { hdr }
    }

    /// An `SCM_RIGHTS` control message carrying `fds`, for
    /// [`msghdr_send`](Self::msghdr_send) (an `IN` buffer of
    /// `CMSG_SPACE(4 * fds.len())` bytes). Sending it needs a policy that
    /// allows descriptor passing
    /// ([`Policy::allow_fd_passing`](crate::Policy::allow_fd_passing)); the
    /// numbers are read when the batch runs, so the descriptors must stay
    /// open until then.
    pub fn rights(&mut self, fds: &[std::os::fd::BorrowedFd<'_>]) -> BufRef {
        use std::os::fd::AsRawFd;
        let data = 4 * fds.len();
        let len = abi::CMSGHDR_SIZE + data;
        let mut bytes = Vec::with_capacity(len.next_multiple_of(8));
        bytes.extend_from_slice(&(len as u64).to_le_bytes());
        bytes.extend_from_slice(&abi::kernel::SOL_SOCKET.to_le_bytes());
        bytes.extend_from_slice(&abi::kernel::SCM_RIGHTS.to_le_bytes());
        for fd in fds {
            bytes.extend_from_slice(&fd.as_raw_fd().to_le_bytes());
        }
        bytes.resize(len.next_multiple_of(8), 0);
        self.input(&bytes)
    }

    /// Room for control messages carrying up to `fds` received descriptors
    /// (`CMSG_SPACE(4 * fds)` bytes, an `OUT` buffer), for
    /// [`msghdr_recv`](Self::msghdr_recv).
    pub fn control_out(&mut self, fds: usize) -> BufRef {
        self.output_bytes((abi::CMSGHDR_SIZE + 4 * fds).next_multiple_of(8))
    }

    /// Room for a socket address written by the kernel, with its `socklen_t`.
    pub fn sockaddr_out(&mut self) -> SockAddrOut {
        let addr = self.output_bytes(abi::kernel::SOCKADDR_STORAGE_SIZE);
        let len = self.socklen(abi::kernel::SOCKADDR_STORAGE_SIZE as u32);
        SockAddrOut { addr, len }
    }

    /// A value-result `socklen_t` (read, then written by the kernel), holding
    /// `len`: the `optlen` of getsockopt, the `addrlen` of accept4 and recvfrom.
    pub fn socklen(&mut self, len: u32) -> BufRef {
        self.add_buf(Some(&len.to_le_bytes()), 4, abi::BUF_IN | abi::BUF_OUT)
    }

    /// Let atoms read and write `slice` in place, without copying it into the
    /// arena. The chain (and every batch made from it) borrows the slice, so it
    /// stays alive and unaliased until the batch is dropped.
    pub fn borrow_mut(&mut self, slice: &'a mut [u8]) -> Mem {
        Mem::Raw {
            addr: slice.as_mut_ptr() as u64,
            len: slice.len() as u64,
        }
    }

    /// Let atoms use `len` bytes at `addr`, which the arena does not hold.
    ///
    /// # Safety
    ///
    /// `addr..addr + len` must stay valid for reads and writes, and not be
    /// accessed otherwise, until every batch made from this chain has been
    /// dropped or its completion reaped.
    #[allow(unsafe_code)]
    pub unsafe fn raw(&mut self, addr: *mut u8, len: usize) -> Mem {
        Mem::Raw {
            addr: addr as u64,
            len: len as u64,
        }
    }

    /// Append an atom; returns its reference for later atoms and the completion.
    ///
    /// More than [`syslets_abi::MAX_ATOMS`] atoms make [`Chain::encode`] fail.
    pub fn push(&mut self, op: impl Opcode) -> AtomRef {
        let index = self.atoms.len() as u16;
        let spec: AtomSpec = op.spec();
        if spec.has_raw() {
            for (arg, len) in spec.raw_regions() {
                self.raw.push(RawRegion {
                    atom: index,
                    arg,
                    len,
                });
            }
        }
        if let Some((arg, atom)) = spec.foreign_result(self.id) {
            let kind = ErrorKind::ForeignAtomRef {
                arg: Some(arg),
                atom,
            };
            let syscall = abi::signature::lookup(spec.atom.nr).map(|s| s.name);
            self.error
                .get_or_insert(ValidationError::atom(index as usize, syscall, kind));
        }
        self.atoms.push(spec.atom);
        AtomRef(index, self.id)
    }

    /// Make normal flow (no stop) after `from` continue at `to` instead of the
    /// linearly next atom: v6's `->next`, forward only. With
    /// [`Stop`](crate::Stop) flags and `skip_to_next_on_stop`, `from` then branches:
    /// a stop falls through to the next atom, success jumps to `to`.
    ///
    /// # Panics
    ///
    /// If `to` is not after `from` or `from` is not in this chain.
    pub fn jump(&mut self, from: AtomRef, to: AtomRef) -> &mut Self {
        assert!(
            to.0 > from.0 && to.0 <= u8::MAX as u16,
            "jump targets must be later atoms"
        );
        for atom in [from, to] {
            if !atom.1.fits(self.id) {
                let kind = ErrorKind::ForeignAtomRef {
                    arg: None,
                    atom: atom.0,
                };
                self.error
                    .get_or_insert(ValidationError::atom(from.index(), None, kind));
                return self;
            }
        }
        let atom = &mut self.atoms[from.index()];
        atom.flags = (atom.flags & !abi::NEXT_MASK) | abi::next_field(to.0 as u8);
        self
    }

    /// Make the chain end after `atom` on normal flow (v6's `->next == NULL`).
    /// Must be called after the last atom was pushed.
    pub fn end_after(&mut self, atom: AtomRef) -> &mut Self {
        let end = self.atoms.len() as u16;
        self.jump(atom, AtomRef(end, self.id))
    }
}
