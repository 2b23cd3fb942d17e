//! Running a [`ValidatedBatch`] inline: every atom in the calling thread, one
//! after the other, with the v6 stop/skip semantics ([`ValidatedBatch::run`]).
//! The asynchronous executor, which hands the rest of a chain to a worker
//! when an atom may block, is [`crate::executor`]; it runs atoms with these
//! same methods.
#![allow(unsafe_code)]

use std::os::fd::{FromRawFd, OwnedFd};

use syslets_abi as abi;
use syslets_abi::signature::Fds;

use crate::batch::completion::Completion;
use crate::batch::plan::Check;
use crate::confine::validate::{Extra, ValidatedBatch};
use crate::handles::AtomRef;
use crate::sys::atfork;

impl ValidatedBatch<'_> {
    /// Run the whole chain inline, in the calling thread, and return its
    /// completion. May be called again: each run starts afresh (input buffers keep
    /// their bytes; output buffers are overwritten).
    ///
    /// Semantics (v6): after atom `i` runs, if one of its stop conditions holds for
    /// its return value the chain stops — unless it has `SKIP_TO_NEXT_ON_STOP`, in
    /// which case atom `i + 1` runs next. Otherwise atom `i`'s `NEXT` target runs
    /// next (by default `i + 1`). An atom whose `RESULT` argument names an atom that
    /// did not run (jumped over) is not issued and returns `-EINVAL`; one whose
    /// run-time length check fails returns `-EFAULT`.
    ///
    /// A batch validated before a `fork()` runs in the child like any other,
    /// except its signal atoms ([`Tgkill`](crate::opcode::Tgkill),
    /// [`RtTgsigqueueinfo`](crate::opcode::RtTgsigqueueinfo)): the policy fixed
    /// their thread group to the validating process, which in the child is the
    /// parent, so they are not issued and return `-ESRCH` (validate again in
    /// the child to signal the child). See [`crate::security`].
    pub fn run(&mut self) -> &Completion {
        self.reset();
        while !self.finished() {
            self.run_one();
        }
        self.completion()
    }

    /// Clear the completion and point at the first atom.
    pub(crate) fn reset(&mut self) {
        let n = self.len();
        let c = &mut self.storage.completion_mut().0;
        c.caller_data = self.header.caller_data;
        c.natoms = n as u16;
        (c.status, c.ran_mask, c.last_atom, c.atoms_run, c.flags) = (0, 0, 0, 0, 0);
        if n == 1 {
            // The usual one-atom chain: no memset call.
            c.results[0] = 0;
        } else {
            c.results[..n].fill(0);
        }
        self.cursor = 0;
        self.fds_taken = 0;
        self.fds_closed = 0;
        if let Some(extra) = &mut self.extra {
            extra.pair_fds.clear();
        }
    }

    /// Whether the chain has ended (ran off its end or stopped).
    pub(crate) fn finished(&self) -> bool {
        self.cursor as usize >= self.len()
    }

    /// Run the atom at the cursor and advance the cursor.
    #[inline]
    pub(crate) fn run_one(&mut self) {
        let i = self.cursor as usize;
        let ret = match self.prepare_current() {
            Err(ret) => ret,
            Ok(vals) => {
                let step = self.step(i);
                if step.compat_entry == 0 {
                    // SAFETY: `prepare_current` returned these values for the
                    // atom at the cursor: the validator passed this atom: its
                    // syscall is in the signature table and allowed by the
                    // policy; every pointer argument is either an arena pointer
                    // (base plus an offset whose buffer, checked against the
                    // arena's end, holds at least as many bytes as the
                    // signature's length argument, fixed size or NUL-terminated
                    // string implies — re-checked by `prepare_current` where an
                    // earlier atom could have changed the length), an iovec
                    // array (the batch's own `extra.iovecs_live`, whose every element
                    // validation checked against a buffer of the arena, set by
                    // `prepare_current` for this call), a msghdr (the batch's
                    // own `extra.msgs_live`, whose address, iovec array and
                    // control pointers are arena buffers validation checked,
                    // that array and the validated copy of a sendmsg's control
                    // data, set the same way), NULL where the
                    // signature allows it, or a raw pointer whose region a Rust
                    // borrow or an `unsafe` contract keeps valid for the length
                    // the validator checked. The arena is owned by
                    // `self.storage`, which `&mut self` keeps alive and unaliased
                    // for the call.
                    unsafe { crate::sys::syscall6(step.nr, &vals) }
                } else {
                    // SAFETY: the same arguments, under the same contract as
                    // above, issued through the i386 entry, which validation
                    // (`compat32::routes`) found the kernel has.
                    unsafe { crate::sys::compat32::issue(step.nr, &vals) }
                }
            }
        };
        self.record(i, ret);
    }

    /// The argument values of the atom at the cursor, ready for the kernel
    /// (arena offsets turned into pointers into `self.storage`), or `Err(ret)`
    /// with the `-errno` the atom returns without being issued (a `RESULT` of an
    /// atom that did not run, a run-time length check that failed).
    ///
    /// The pointers stay valid while `self` is neither moved nor dropped and its
    /// storage not otherwise borrowed; callers issue the call right away.
    ///
    /// A signal atom (`tgkill`, `rt_tgsigqueueinfo`) whose thread group, fixed
    /// to this process by the policy at validation, is no longer this process
    /// (the batch was validated before a `fork()` and runs in the child) is not
    /// issued and returns `-ESRCH`.
    ///
    /// Straight-line for the common atom (no result argument, no run-time
    /// check): it runs right after a syscall, when the branch predictors may
    /// have been flushed.
    #[inline(always)]
    pub(crate) fn prepare_current(&mut self) -> Result<[u64; abi::MAX_ARGS], i64> {
        let step = self.step(self.cursor as usize);
        let mut vals = step.vals;
        let mut fault = 0;
        if step.result_args != 0 {
            let c = &self.storage.completion().0;
            let mut left = step.result_args;
            while left != 0 {
                let a = left.trailing_zeros() as usize;
                left &= left - 1;
                // The validator made sure the index names an earlier atom.
                let t = vals[a] as usize;
                if c.ran_mask & (1 << t) != 0 {
                    vals[a] = c.results[t] as u64;
                } else {
                    vals[a] = 0;
                    fault = libc::EINVAL;
                }
            }
        }
        if step.nchecks != 0 {
            let arena = self.arena();
            let checks = &self.checks[step.first_check as usize..][..step.nchecks as usize];
            for check in checks {
                let ok = match *check {
                    Check::LenArg { len_arg, avail } => vals[len_arg as usize] <= avail,
                    Check::CStr { at, avail } => {
                        arena[at as usize..][..avail as usize].contains(&0)
                    }
                    Check::LenAt { at, avail } => {
                        let raw = arena[at as usize..][..4].try_into().expect("4 bytes");
                        u32::from_le_bytes(raw) <= avail
                    }
                    // Validated before a fork(), run in the child: the thread
                    // group the policy fixed is the parent's.
                    Check::Iovecs { .. } | Check::Msghdr { .. } => true,
                    Check::OwnProcess { arg } => {
                        if vals[arg as usize] != atfork::pid() as u64 {
                            fault = libc::ESRCH;
                        }
                        true
                    }
                };
                if !ok && fault == 0 {
                    fault = libc::EFAULT;
                }
            }
        }
        if fault != 0 {
            return Err(-(fault as i64));
        }
        let nchecks = step.nchecks;
        let mut left = step.arena_args;
        if left != 0 {
            let start = self.arena_start;
            let base = self.storage.bytes_mut()[start..].as_mut_ptr() as u64;
            while left != 0 {
                let a = left.trailing_zeros() as usize;
                left &= left - 1;
                vals[a] += base;
            }
        }
        if nchecks != 0 && self.extra.is_some() {
            self.resolve_iovecs(&mut vals);
        }
        Ok(vals)
    }

    /// Point the iovec array arguments of the atom at the cursor at their
    /// private copies, each element's arena offset made a pointer.
    #[cold]
    fn resolve_iovecs(&mut self, vals: &mut [u64; abi::MAX_ARGS]) {
        let step = *self.step(self.cursor as usize);
        let start = self.arena_start;
        let base = self.storage.bytes_mut()[start..].as_mut_ptr() as u64;
        let checks = &self.checks[step.first_check as usize..][..step.nchecks as usize];
        let Some(extra) = self.extra.as_mut() else {
            return;
        };
        let resolve = |extra: &mut Extra, first: u32, count: u16| {
            let (first, count) = (first as usize, count as usize);
            let plan = &extra.iovecs[first..][..count];
            let live = &mut extra.iovecs_live[first..][..count];
            for (l, p) in live.iter_mut().zip(plan) {
                *l = [base + p[0], p[1]];
            }
            live.as_mut_ptr() as u64
        };
        for check in checks {
            match *check {
                Check::Iovecs { arg, first, count } => {
                    vals[arg as usize] = resolve(extra, first, count);
                }
                Check::Msghdr { arg, msg } => {
                    let iov = {
                        let plan = &extra.msgs[msg as usize];
                        let (first, count) = (plan.iov_first, plan.iov_count);
                        resolve(extra, first, count)
                    };
                    let plan = &extra.msgs[msg as usize];
                    let control = match plan.control {
                        None => 0,
                        Some(at) if plan.recv => base + at as u64,
                        // The copy the policy checked, which only the kernel reads.
                        Some(_) => plan.send_control.as_ptr() as u64,
                    };
                    let live = abi::MsgHdr {
                        name: plan.name.map_or(0, |at| base + at as u64),
                        namelen: plan.namelen,
                        iov,
                        iovlen: plan.iov_count as u64,
                        control,
                        controllen: plan.controllen,
                        ..Default::default()
                    };
                    let slot = &mut extra.msgs_live[msg as usize];
                    *slot = live;
                    vals[arg as usize] = slot as *mut abi::MsgHdr as u64;
                }
                _ => {}
            }
        }
    }

    /// A close atom of this run released descriptor `fd`: the atom that
    /// returned that number no longer owns it. At most one atom of the run owns
    /// a number at a time (it can only be returned again after it was closed),
    /// whichever atom's result or value the close named.
    fn closed(&mut self, fd: u32) {
        if let Some(extra) = &mut self.extra {
            let pairs = extra.pair_fds.iter_mut();
            if let Some(p) = pairs.filter(|p| !p.released).find(|p| p.fd as u32 == fd) {
                p.released = true;
                return;
            }
        }
        let c = &self.storage.completion().0;
        // The latest atom before the cursor that ran, returns descriptors and
        // still owns one, whose result is `fd`.
        let before = 1u64.checked_shl(self.cursor as u32).map_or(!0, |b| b - 1);
        let mut owners = c.ran_mask & self.fd_atoms & !self.fds_closed & before;
        while owners != 0 {
            let k = 63 - owners.leading_zeros() as usize;
            owners &= !(1 << k);
            if c.results[k] == fd as i64 {
                self.fds_closed |= 1 << k;
                return;
            }
        }
    }

    /// If atom `i` is a close that was issued, release the number it closed.
    /// close() releases the descriptor even when it reports EINTR or EIO; only
    /// EBADF means nothing was closed. A close whose RESULT argument names an
    /// atom that did not run was not issued. The kernel reads the number as an
    /// `unsigned int`.
    #[inline(always)]
    fn track_close(&mut self, i: usize, ret: i64) {
        if self.close_atoms & (1 << i) == 0 || ret == -(libc::EBADF as i64) {
            return;
        }
        let step = self.step(i);
        let Fds::Closes { arg } = step.sig().fds else {
            unreachable!("close_atoms marks only closing calls")
        };
        let arg = arg as usize;
        let fd = if step.result_args & (1 << arg) == 0 {
            step.vals[arg]
        } else {
            let t = step.vals[arg] as usize;
            let c = &self.storage.completion().0;
            if c.ran_mask & (1 << t) == 0 {
                return;
            }
            c.results[t] as u64
        };
        self.closed(fd as u32);
    }

    /// Atom `i`, a [`Fds::Pair`] or [`Fds::Received`] call, returned `ret`
    /// (not an error): copy the descriptors it wrote out of the arena now,
    /// before a later atom can write there.
    #[cold]
    fn track_pair(&mut self, i: usize, ret: i64) {
        let step = self.step(i);
        let arg = match step.sig().fds {
            Fds::Pair { arg } if ret == 0 => arg,
            Fds::Pair { .. } => return,
            Fds::Received { .. } => return self.track_received(i),
            _ => unreachable!("pair_atoms marks only pair and receiving calls"),
        };
        // Validation refuses a raw pointer here: the value is an arena offset
        // of a buffer that holds at least the 8 bytes of the `int[2]`.
        debug_assert!(step.arena_args & (1 << arg) != 0);
        let at = step.vals[arg as usize] as usize;
        let sv: [u8; 8] = self.arena()[at..][..8].try_into().expect("8 bytes");
        let extra = self
            .extra
            .as_mut()
            .expect("a batch with pair atoms has extra");
        for half in sv.chunks_exact(4) {
            let fd = i32::from_le_bytes(half.try_into().expect("4 bytes"));
            extra.pair_fds.push(crate::confine::validate::PairFd {
                atom: i as u16,
                fd,
                released: false,
            });
        }
    }

    /// Atom `i`, a `recvmsg`, succeeded: write the kernel's `msg_namelen`,
    /// `msg_controllen` and `msg_flags` back into the batch's msghdr, and
    /// own every descriptor its `SCM_RIGHTS` messages carry, parsed from a
    /// copy of the control data taken now (before a later atom can write
    /// there). With `MSG_CTRUNC` the kernel installed only the descriptors
    /// whose room the buffer had (and closed the rest): those are the ones
    /// its truncated message lists.
    fn track_received(&mut self, i: usize) {
        let step = *self.step(i);
        let checks = &self.checks[step.first_check as usize..][..step.nchecks as usize];
        let msg = checks.iter().find_map(|c| match *c {
            Check::Msghdr { msg, .. } => Some(msg as usize),
            _ => None,
        });
        let msg = msg.expect("a recvmsg atom has its msghdr check");
        let extra = self.extra.as_ref().expect("a batch with msghdrs has extra");
        let (plan, live) = (&extra.msgs[msg], extra.msgs_live[msg]);
        let (hdr_at, control) = (plan.hdr_at as usize, plan.control);
        // The kernel never reports more than the buffer it was given.
        let len = live.controllen.min(plan.controllen) as usize;
        let arena = self.arena();
        let data: Vec<u8> = control.map_or(Vec::new(), |at| arena[at as usize..][..len].to_vec());
        let fds: Vec<i32> = crate::confine::validate::received_fds(&data).collect();
        let start = self.arena_start + hdr_at;
        let hdr = &mut self.storage.bytes_mut()[start..][..abi::MSGHDR_SIZE];
        hdr[8..12].copy_from_slice(&live.namelen.to_le_bytes());
        hdr[40..48].copy_from_slice(&(len as u64).to_le_bytes());
        hdr[48..52].copy_from_slice(&live.flags.to_le_bytes());
        let extra = self.extra.as_mut().expect("checked above");
        extra
            .pair_fds
            .extend(fds.into_iter().map(|fd| crate::confine::validate::PairFd {
                atom: i as u16,
                fd,
                released: false,
            }));
    }

    /// Record `ret` as the return value of atom `i` (the atom at the cursor)
    /// and move the cursor to the next atom to run.
    #[inline(always)]
    pub(crate) fn record(&mut self, i: usize, ret: i64) {
        self.track_close(i, ret);
        if self.pair_atoms & (1 << i) != 0 && ret >= 0 {
            self.track_pair(i, ret);
        }
        let step = *self.step(i);
        let end = self.len() as u16;
        let c = &mut self.storage.completion_mut().0;
        c.results[i] = ret;
        c.ran_mask |= 1 << i;
        c.atoms_run += 1;
        c.last_atom = i as u16;
        c.status = ret;
        self.cursor = if step.stop().holds(ret) {
            if step.skip != 0 {
                i as u16 + 1
            } else {
                c.flags |= abi::COMPLETION_STOPPED;
                end
            }
        } else {
            step.next as u16
        };
    }

    /// Descriptors that atoms of the last run opened (openat, openat2, socket,
    /// accept4, both ends of a pipe2, and those a recvmsg received in
    /// `SCM_RIGHTS` messages, in atom order) and no later close
    /// atom of the run closed. A close counts for
    /// the descriptor number it was issued with, whichever atom's result (or
    /// value) named it: after `open → close → socket` reused the number, a
    /// second close of the open's result closes the socket.
    ///
    /// A [`Socketpair`](crate::opcode::Socketpair) atom lists both of its
    /// descriptors, under its own [`AtomRef`], as the call wrote them (copied
    /// when it returned: a later atom that overwrites its buffer changes
    /// nothing here).
    pub fn unclosed_fds(&self) -> Vec<(AtomRef, i32)> {
        let c = &self.completion().0;
        let ran = |j: usize| c.ran_mask & (1 << j) != 0;
        let mut fds: Vec<(AtomRef, i32)> = (0..self.len())
            .filter(|&i| ran(i) && c.results[i] >= 0)
            .filter(|&i| (self.fds_taken | self.fds_closed) & (1 << i) == 0)
            .filter(|&i| self.step(i).sig().returns_fd())
            .map(|i| (AtomRef::from_index(i as u16), c.results[i] as i32))
            .collect();
        if let Some(extra) = self.extra.as_ref().filter(|x| !x.pair_fds.is_empty()) {
            let pairs = extra.pair_fds.iter().filter(|p| !p.released);
            fds.extend(pairs.map(|p| (AtomRef::from_index(p.atom), p.fd)));
            fds.sort_by_key(|&(atom, _)| atom.index());
        }
        fds
    }

    /// Take ownership of the descriptors [`unclosed_fds`](Self::unclosed_fds)
    /// lists, so that they are closed when dropped. Each is handed out once per run.
    pub fn take_fds(&mut self) -> Vec<(AtomRef, OwnedFd)> {
        let fds = self.unclosed_fds();
        for (atom, _) in &fds {
            self.fds_taken |= 1 << atom.index();
        }
        if let Some(extra) = &mut self.extra {
            for p in &mut extra.pair_fds {
                p.released = true;
            }
        }
        fds.into_iter()
            // SAFETY: the kernel returned `fd` as a new descriptor to an atom of
            // this run (as its result, written into a pair atom's `int[2]`, or
            // installed by a recvmsg and listed in its SCM_RIGHTS control data,
            // copied into `pair_fds` as the call returned); no later atom
            // closed it (every close atom that released a descriptor marked the
            // atom that had returned that number, in `fds_closed` or its
            // `PairFd`, and no other allowed call closes a number: dup3 changes
            // what one refers to but leaves it open), and
            // `fds_taken` makes sure it is handed out once, so this OwnedFd is
            // its only owner.
            .map(|(atom, fd)| (atom, unsafe { OwnedFd::from_raw_fd(fd) }))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;

    use crate::builder::opcode::{Getpid, Socketpair};
    use crate::{Chain, Policy};

    /// A close of one end of a pair releases that end only; a rerun starts
    /// with a fresh pair.
    #[test]
    fn a_close_releases_one_end_of_a_pair() {
        let mut chain = Chain::new();
        let sv = chain.output::<[i32; 2]>();
        chain.push(Socketpair::new(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            sv,
        ));
        chain.push(Getpid::new());
        let mut batch = chain.prepare(&Policy::default()).unwrap();
        batch.reset();
        batch.run_one();
        let [a, b] = batch.output(sv);
        assert_eq!(batch.unclosed_fds().len(), 2);
        // What track_close does for a close atom issued with `a` (the kernel
        // close itself is left out: `a` is this test's to close).
        batch.closed(a as u32);
        let left = batch.unclosed_fds();
        assert_eq!(left.iter().map(|&(_, fd)| fd).collect::<Vec<_>>(), [b]);
        batch.closed(a as u32);
        assert_eq!(batch.unclosed_fds(), left, "a number is released once");
        batch.run_one();
        let taken = batch.take_fds();
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].1.as_raw_fd(), b);
        // SAFETY: `a` is the pair's other end, which nothing else owns.
        drop(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(a) });
        drop(taken);
        batch.run();
        assert_eq!(batch.unclosed_fds().len(), 2, "a rerun owns its new pair");
        drop(batch.take_fds());
    }
}
