//! Property: whatever the buffer layout, the kernel writes only inside the
//! `OUT` regions a batch declared.
//!
//! Random chains of allowed calls that write memory (`read`, `pread64`,
//! `fstat`, `getsockopt` of options of the table, `recvfrom` with a source
//! address, `readv` and `preadv2` through iovec arrays of random elements,
//! `epoll_pwait` into a random number of 12-byte events, `recvmsg` with a
//! random address buffer, iovec elements and control buffer)
//! get random buffer sizes and lengths, `IN` canary buffers of
//! random bytes between and after their buffers, and sometimes a borrowed
//! region with guard bytes on both sides. Half of the batches are then
//! re-described as a foreign producer would: one buffer descriptor moved to a
//! random offset, so buffers overlap each other, the canaries or the arena's
//! end (a moved iovec array is read from other bytes; a moved element buffer
//! may overlap another element). Each batch is either refused by validation or run, and after the run
//! every arena byte outside the declared `OUT` regions, and every guard byte,
//! must be as it was; the completion must describe the chain that ran, and
//! no descriptor may be handed out (none of these calls returns one).
//!
//! Every case runs with this binary's guarded allocator on: the batch storage
//! (whose last section is the arena) ends where a canary page begins, and a
//! `PROT_NONE` page follows that, so a kernel write past the storage is seen
//! in the canary page instead of landing unseen in other heap memory.
//!
//! `SYSLETS_LAYOUT_CASES` sets the number of batches (default 400),
//! `SYSLETS_LAYOUT_SEED` the first seed.

use std::fs;
use std::net::UdpSocket;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use syslets::abi::sockopt::{self, Access, IPPROTO_UDP};
use syslets::abi::{self, BatchHeader, BufDesc};
use syslets::opcode::{
    EpollPwait, Fstat, Getsockopt, Lseek, Pread64, Preadv2, Read, Readv, Recvfrom, Recvmsg,
};
use syslets::{AtomRef, ByteLen, Chain, EncodedBatch, Policy, SockAddrOut};
use zerocopy::{FromBytes, IntoBytes};

#[path = "common/rng.rs"]
mod rng;
use rng::{setting, Rng};

#[path = "common/guarded_alloc.rs"]
mod guarded_alloc;
use guarded_alloc::{canary_intact, damaged_canaries, guarded, is_guarded, GuardedAlloc};

#[global_allocator]
static ALLOC: GuardedAlloc = GuardedAlloc;

/// A number from 0 to `n`.
fn upto(rng: &mut Rng, n: usize) -> usize {
    rng.below(n as u64 + 1) as usize
}

/// What the chains read from: a file of known bytes and a UDP socket with
/// datagrams queued.
struct Env {
    path: std::path::PathBuf,
    file: fs::File,
    rx: UdpSocket,
    tx: UdpSocket,
    /// An epoll instance watching `rx` (readable while datagrams are queued).
    epoll: OwnedFd,
}

impl Env {
    fn new() -> Env {
        let path = std::env::temp_dir().join(format!(
            "syslets-layouts-{}-{:x}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        ));
        let data: Vec<u8> = (0..8192u32).map(|i| (i * 7 + 3) as u8).collect();
        fs::write(&path, data).unwrap();
        let file = fs::File::open(&path).unwrap();
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        // SAFETY: epoll_create1 takes a flag and returns a new descriptor,
        // which the OwnedFd then owns; epoll_ctl reads one epoll_event.
        let epoll = unsafe {
            let fd = libc::epoll_create1(libc::EPOLL_CLOEXEC);
            assert!(fd >= 0);
            let mut ev = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: 7,
            };
            let added = libc::epoll_ctl(fd, libc::EPOLL_CTL_ADD, rx.as_raw_fd(), &mut ev);
            assert_eq!(added, 0);
            OwnedFd::from_raw_fd(fd)
        };
        Env {
            path,
            file,
            rx,
            tx,
            epoll,
        }
    }

    /// Queue a few datagrams so that recvfrom atoms write data and addresses.
    fn refill(&self) {
        for n in [300usize, 17, 1] {
            self.tx
                .send_to(&vec![0x5au8; n], self.rx.local_addr().unwrap())
                .unwrap();
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Socket options of the table the UDP socket can be asked for.
fn readable_options() -> Vec<&'static sockopt::SockOpt> {
    sockopt::SOCKOPTS
        .iter()
        .filter(|o| o.allows(Access::Get))
        .filter(|o| {
            matches!(
                o.level,
                sockopt::SOL_SOCKET | sockopt::IPPROTO_IP | IPPROTO_UDP
            )
        })
        .collect()
}

/// An `IN` buffer of random bytes (0 to 40 of them) between two others.
fn canary(chain: &mut Chain<'_>, rng: &mut Rng) {
    let n = upto(rng, 40);
    let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8 | 1).collect();
    chain.input(&bytes);
}

/// A random chain; its borrowed region (if any) is `window`.
fn random_chain<'a>(
    env: &Env,
    rng: &mut Rng,
    opts: &[&sockopt::SockOpt],
    window: Option<&'a mut [u8]>,
) -> Chain<'a> {
    let (file, udp) = (env.file.as_raw_fd(), env.rx.as_raw_fd());
    let mut chain = Chain::new();
    let mut window = window;
    let natoms = 1 + upto(rng, 9);
    let mut last_read: Option<AtomRef> = None;
    for _ in 0..natoms {
        canary(&mut chain, rng);
        match rng.below(10) {
            0 | 1 => {
                let (buf, size) = match window.take() {
                    Some(w) if rng.below(2) == 0 => {
                        let n = w.len();
                        (chain.borrow_mut(w), n)
                    }
                    w => {
                        window = w;
                        let size = upto(rng, 200);
                        (chain.output_bytes(size).into(), size)
                    }
                };
                let len = match rng.below(3) {
                    0 => ByteLen::Whole,
                    1 => ByteLen::Bytes(upto(rng, size) as u64),
                    // A read's result may exceed this buffer: checked at run time.
                    _ => last_read.map_or(ByteLen::Whole, ByteLen::ResultOf),
                };
                let atom = if rng.below(2) == 0 {
                    chain.push(Read::new(file, buf).len(len))
                } else {
                    chain.push(Pread64::new(file, buf, rng.below(9000) as i64).len(len))
                };
                last_read = Some(atom);
            }
            2 => {
                let st = chain.output();
                chain.push(Fstat::new(file, st));
            }
            3 => {
                let opt = opts[rng.below(opts.len() as u64) as usize];
                let size = upto(rng, opt.size as usize + 8);
                let val = chain.output_bytes(size);
                let len = chain.socklen(upto(rng, size) as u32);
                chain.push(Getsockopt::new(udp, opt.level, opt.optname, val, len));
            }
            4 => {
                let size = upto(rng, 400);
                let data = chain.output_bytes(size);
                let addr_size = upto(rng, 32);
                let src = SockAddrOut {
                    addr: chain.output_bytes(addr_size),
                    len: chain.socklen(upto(rng, addr_size) as u32),
                };
                chain.push(
                    Recvfrom::new(udp, data)
                        .flags(libc::MSG_DONTWAIT as u32)
                        .src(Some(src)),
                );
            }
            7 => {
                // Room for 0 to 5 events, and sometimes a part of one.
                let size = upto(rng, 64);
                let events = chain.output_bytes(size);
                chain.push(EpollPwait::new(env.epoll.as_raw_fd(), events, 0));
            }
            5 | 6 => {
                // An iovec array of 0 to 5 OUT buffers of random sizes, each
                // element a random part of its buffer.
                let n = upto(rng, 5);
                let mut elements = Vec::new();
                for _ in 0..n {
                    canary(&mut chain, rng);
                    let size = upto(rng, 120);
                    let buf = chain.output_bytes(size);
                    elements.push(buf.take(upto(rng, size) as u32));
                }
                let iov = chain.iovecs(&elements);
                if rng.below(2) == 0 {
                    chain.push(Readv::new(file, iov));
                } else {
                    let at = rng.below(9000) as i64;
                    chain.push(Preadv2::new(file, iov, at));
                }
            }
            9 => {
                // A datagram into 0 to 3 OUT elements, with an address
                // buffer and a control buffer of random sizes (the kernel
                // writes both, and the run the header's out fields).
                let mut elements = Vec::new();
                for _ in 0..upto(rng, 3) {
                    canary(&mut chain, rng);
                    let size = upto(rng, 200);
                    elements.push(chain.output_bytes(size));
                }
                let iov = chain.iovecs(&elements);
                canary(&mut chain, rng);
                let name = (rng.below(2) == 0).then(|| chain.output_bytes(upto(rng, 32)));
                let control = (rng.below(2) == 0).then(|| chain.output_bytes(upto(rng, 64)));
                let hdr = chain.msghdr_recv(name, iov, control);
                let flags = (libc::MSG_DONTWAIT | libc::MSG_CMSG_CLOEXEC) as u32;
                chain.push(Recvmsg::new(udp, hdr).flags(flags));
            }
            _ => {
                chain.push(Lseek::new(file, rng.below(9000) as i64, libc::SEEK_SET));
            }
        }
    }
    canary(&mut chain, rng);
    chain
}

/// The guard works: a kernel write one byte past a guarded allocation shows
/// in its canary page, and one a page further fails with `EFAULT`.
#[test]
fn the_guarded_allocator_sees_a_kernel_write_past_an_allocation() {
    let env = Env::new();
    let fd = env.file.as_raw_fd();
    guarded(|| {
        let mut block = vec![0u64; 3];
        let bytes = block.as_mut_bytes();
        let end = bytes.as_mut_ptr_range().end;
        assert!(canary_intact(end));
        // SAFETY: the last byte of `block`, which this thread owns.
        assert_eq!(unsafe { libc::pread(fd, end.sub(1).cast(), 1, 0) }, 1);
        assert!(canary_intact(end), "the last byte is the allocation's");
        // SAFETY: the first byte of the canary page after `block`, which the
        // allocator keeps writable so that this write is seen, not lost.
        assert_eq!(unsafe { libc::pread(fd, end.cast(), 1, 0) }, 1);
        assert!(!canary_intact(end), "a write past the end shows");
        // SAFETY: the PROT_NONE page after the canary page; the kernel
        // refuses to write there (the point of the test).
        let far = unsafe { libc::pread(fd, end.add(4096).cast(), 1, 0) };
        assert_eq!(far, -1);
        assert_eq!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::EFAULT)
        );
        let damaged = damaged_canaries();
        drop(block);
        assert_eq!(damaged_canaries(), damaged + 1, "seen when freed too");
    });
}

/// Move one buffer descriptor of `bytes` to a random offset in the arena.
fn move_a_buffer(bytes: &mut [u8], rng: &mut Rng) {
    let h = BatchHeader::read_from_prefix(bytes).unwrap().0;
    if h.nbufs == 0 {
        return;
    }
    let descs = abi::HEADER_SIZE + h.natoms as usize * abi::ATOM_SIZE;
    let i = rng.below(h.nbufs as u64) as usize;
    let r = descs + i * abi::BUFDESC_SIZE..descs + (i + 1) * abi::BUFDESC_SIZE;
    let mut d = BufDesc::read_from_bytes(&bytes[r.clone()]).unwrap();
    let arena = bytes.len() - descs - h.nbufs as usize * abi::BUFDESC_SIZE;
    d.offset = upto(rng, arena) as u32;
    bytes[r].copy_from_slice(d.as_bytes());
}

/// Arena bytes that lie in no `OUT` buffer.
fn not_written(descs: &[BufDesc], arena_len: usize) -> Vec<bool> {
    let mut fixed = vec![true; arena_len];
    for d in descs.iter().filter(|d| d.flags & abi::BUF_OUT != 0) {
        let end = (d.offset as usize + d.len as usize).min(arena_len);
        for b in &mut fixed[(d.offset as usize).min(end)..end] {
            *b = false;
        }
    }
    fixed
}

#[test]
fn kernel_writes_stay_inside_declared_out_regions() {
    let env = Env::new();
    let opts = readable_options();
    assert!(opts.len() > 40);
    let policy = Policy::default();
    let cases = setting("SYSLETS_LAYOUT_CASES", 400);
    let seed = setting("SYSLETS_LAYOUT_SEED", 0x5eed);
    let (mut ran, mut refused, mut foreign) = (0, 0, 0);
    const GUARD: usize = 32;
    for case in 0..cases {
        let mut rng = Rng(seed + case);
        env.refill();
        // A borrowed region with guard bytes on both sides.
        let mut outside = [0xc3u8; GUARD + 64 + GUARD];
        let (front, rest) = outside.split_at_mut(GUARD);
        let (window, back) = rest.split_at_mut(64);
        let with_window = rng.below(3) == 0;
        let chain = guarded(|| random_chain(&env, &mut rng, &opts, with_window.then_some(window)));
        let natoms = chain.len();
        let moved = rng.below(2) == 0;
        let validated = guarded(|| {
            if moved {
                foreign += 1;
                let mut bytes = chain.encode().unwrap().as_bytes().to_vec();
                move_a_buffer(&mut bytes, &mut rng);
                // Foreign bytes: no borrowed region comes along.
                let encoded = EncodedBatch::from_bytes(&bytes);
                match encoded.validate(&policy) {
                    Ok(b) => Some(b),
                    Err(e) => {
                        assert!(!e.to_string().is_empty());
                        None
                    }
                }
            } else {
                let b = chain.prepare(&policy);
                Some(b.unwrap_or_else(|e| panic!("case {case}: typed chain refused: {e}")))
            }
        });
        let Some(mut batch) = validated else {
            refused += 1;
            continue;
        };
        let storage_end = batch.arena().as_ptr_range().end;
        assert!(
            is_guarded(storage_end as usize) && canary_intact(storage_end),
            "case {case}: the batch storage ends at a canary page"
        );
        let before = batch.arena().to_vec();
        let fixed = not_written(batch.buf_descs(), before.len());
        let done = guarded(|| batch.run());
        assert!(
            canary_intact(storage_end),
            "case {case}: a kernel write ran past the batch storage; results {:?}",
            done.results()
        );
        ran += 1;
        assert_eq!(done.results().len(), natoms, "case {case}");
        assert!(done.atoms_run() <= natoms, "case {case}");
        let after = batch.arena();
        for (i, (&was, &is)) in before.iter().zip(after).enumerate() {
            assert!(
                !fixed[i] || was == is,
                "case {case}: arena byte {i} outside every OUT buffer changed \
                 ({was:#x} -> {is:#x}); results {:?}",
                batch.completion().results()
            );
        }
        assert!(
            batch.unclosed_fds().is_empty(),
            "case {case}: no atom returns a descriptor"
        );
        drop(batch);
        assert!(
            front.iter().chain(back.iter()).all(|&b| b == 0xc3),
            "case {case}: guard bytes"
        );
    }
    eprintln!("{ran} ran, {refused} refused, {foreign} foreign of {cases}");
    assert_eq!(
        damaged_canaries(),
        0,
        "guarded allocations freed with written canaries"
    );
    assert!(ran * 4 > cases, "{ran} of {cases} batches ran");
    assert!(
        foreign > 0 && refused > 0,
        "{foreign} foreign, {refused} refused"
    );
}
