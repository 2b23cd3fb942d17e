//! Handles a chain hands out while it is built: atoms ([`AtomRef`]), the
//! buffers the batch owns ([`BufRef`], [`Out`], [`SockAddr`], [`SockAddrOut`])
//! and memory arguments ([`Mem`]). Builders take them as arguments; the
//! completion and the validated batch read results back through them.

use std::marker::PhantomData;

/// Names an atom of a chain; used to pass its result to later atoms
/// (`Fd::from(open)`) and to read its result from the completion.
///
/// An `AtomRef` that [`Chain::push`](crate::Chain::push) returned remembers
/// its chain: passing it to an atom of another chain is refused when that
/// chain is encoded ([`ErrorKind::ForeignAtomRef`](crate::ErrorKind::ForeignAtomRef)).
/// Comparison, ordering and hashing look at the index alone.
#[derive(Clone, Copy, Debug)]
pub struct AtomRef(pub(crate) u16, pub(crate) ChainId);

impl AtomRef {
    /// The atom's index in its chain.
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// Refer to atom `index` of a chain (for chains built by hand): such a
    /// reference names no chain and is accepted by any.
    pub const fn from_index(index: u16) -> Self {
        AtomRef(index, ChainId::ANY)
    }
}

impl PartialEq for AtomRef {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for AtomRef {}

impl PartialOrd for AtomRef {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for AtomRef {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}

impl std::hash::Hash for AtomRef {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

/// The identity of a [`Chain`](crate::Chain), unique in the process, that
/// its [`AtomRef`]s carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ChainId(u32);

impl ChainId {
    /// Names no chain: accepted by every chain.
    pub(crate) const ANY: ChainId = ChainId(0);

    /// Whether a reference carrying `self` may be used in chain `chain`.
    #[inline]
    pub(crate) fn fits(self, chain: ChainId) -> bool {
        self == ChainId::ANY || self == chain
    }
}

impl Default for ChainId {
    /// A fresh identity (never [`ChainId::ANY`]).
    fn default() -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(1);
        // Wrapping past u32::MAX chains skips ANY; identities are then
        // reused, which only weakens the check, never breaks a chain.
        loop {
            let id = NEXT.fetch_add(1, Ordering::Relaxed);
            if id != 0 {
                return ChainId(id);
            }
        }
    }
}

/// A view of a buffer in the batch's arena: `len` bytes from `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BufRef {
    pub(crate) index: u16,
    pub(crate) offset: u32,
    pub(crate) len: u32,
}

impl BufRef {
    /// Buffer index in the batch.
    pub const fn index(self) -> u16 {
        self.index
    }

    /// Length of this view in bytes.
    pub const fn len(self) -> u32 {
        self.len
    }

    /// Whether the view is empty.
    pub const fn is_empty(self) -> bool {
        self.len == 0
    }

    /// The part of this view from `start` on (clamped to its end).
    pub const fn skip(self, start: u32) -> Self {
        let start = if start > self.len { self.len } else { start };
        BufRef {
            index: self.index,
            offset: self.offset + start,
            len: self.len - start,
        }
    }

    /// The first `len` bytes of this view (clamped to its end).
    pub const fn take(self, len: u32) -> Self {
        let len = if len > self.len { self.len } else { len };
        BufRef {
            index: self.index,
            offset: self.offset,
            len,
        }
    }
}

/// A buffer that receives one `T` written by the kernel (a `stat`, a `statx`).
/// Read it back with [`ValidatedBatch::output`](crate::ValidatedBatch::output).
#[derive(Debug)]
pub struct Out<T> {
    pub(crate) buf: BufRef,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for Out<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Out<T> {}

impl<T> Out<T> {
    /// `buf`, sized for one `T` by the chain that made it.
    pub(crate) const fn new(buf: BufRef) -> Self {
        Out {
            buf,
            _type: PhantomData,
        }
    }

    /// The underlying buffer.
    pub const fn buf(self) -> BufRef {
        self.buf
    }
}

/// A socket address in the arena, with its length (for connect, bind, sendto).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockAddr {
    /// The `sockaddr_in`/`sockaddr_in6` bytes.
    pub buf: BufRef,
    /// Their length, as `socklen_t`.
    pub len: u32,
}

/// Room for a socket address written by the kernel (accept4, recvfrom), with
/// its value-result `socklen_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockAddrOut {
    /// 128 bytes of `sockaddr_storage`.
    pub addr: BufRef,
    /// The `socklen_t`, initialised to 128.
    pub len: BufRef,
}

/// An array of [`IoVec`](crate::abi::IoVec)s in the arena, each naming a
/// buffer of the same chain (for `readv`, `writev`, `preadv2`, `pwritev2`);
/// made by [`Chain::iovecs`](crate::Chain::iovecs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Iovecs {
    /// The array (an `IN` buffer).
    pub array: BufRef,
    /// How many elements it holds.
    pub count: u32,
}

/// A `struct msghdr` ([`MsgHdr`](crate::abi::MsgHdr)) in the arena, for
/// [`Sendmsg`](crate::opcode::Sendmsg) and [`Recvmsg`](crate::opcode::Recvmsg);
/// made by [`Chain::msghdr_send`](crate::Chain::msghdr_send) or
/// [`Chain::msghdr_recv`](crate::Chain::msghdr_recv).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Msghdr {
    /// The 56-byte header (`IN` for a send; `IN | OUT` for a receive, whose
    /// `msg_namelen`, `msg_controllen` and `msg_flags` the run writes back).
    pub hdr: BufRef,
}

impl Msghdr {
    /// The header as an output, to read back with
    /// [`ValidatedBatch::output`](crate::ValidatedBatch::output) after a
    /// receive: what the kernel reported in `namelen`, `controllen` and
    /// `flags` (`MSG_CTRUNC`, `MSG_TRUNC`).
    pub const fn out(self) -> Out<crate::abi::MsgHdr> {
        Out::new(self.hdr)
    }
}

/// Memory an atom's pointer argument refers to.
///
/// Raw memory comes only from [`Chain::borrow_mut`](crate::Chain::borrow_mut) (a borrow keeps it alive)
/// or the `unsafe` [`Chain::raw`](crate::Chain::raw): the kernel writes through it, so safe code
/// outside this crate cannot make a `Mem::Raw` from an arbitrary address.
///
/// ```compile_fail,E0639
/// let local = 0u64;
/// let mem = syslets::Mem::Raw { addr: &local as *const u64 as u64, len: 8 };
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mem {
    /// A buffer of the batch's own arena.
    Buf(BufRef),
    /// Memory outside the batch that a Rust borrow or an `unsafe` contract keeps
    /// alive; see [`Chain::borrow_mut`](crate::Chain::borrow_mut). Readable with a `..` pattern; made
    /// only by [`Chain::borrow_mut`](crate::Chain::borrow_mut) and [`Chain::raw`](crate::Chain::raw).
    #[non_exhaustive]
    Raw {
        /// Address.
        addr: u64,
        /// Bytes reachable from `addr`.
        len: u64,
    },
}

impl Mem {
    /// Bytes reachable through this memory.
    pub const fn len(self) -> u64 {
        match self {
            Mem::Buf(b) => b.len as u64,
            Mem::Raw { len, .. } => len,
        }
    }

    /// Whether no byte is reachable.
    pub const fn is_empty(self) -> bool {
        self.len() == 0
    }
}

impl From<BufRef> for Mem {
    fn from(b: BufRef) -> Mem {
        Mem::Buf(b)
    }
}

impl<T> From<Out<T>> for Mem {
    fn from(o: Out<T>) -> Mem {
        Mem::Buf(o.buf)
    }
}
