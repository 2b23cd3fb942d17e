//! A request's chain: one atom — `pread64`/`pwrite64` on a seekable
//! descriptor, `read`/`write` on a stream or an `O_APPEND` file,
//! `fsync`/`fdatasync` for `aio_fsync` — with the ordering lane it belongs
//! to and the executor it goes to. The usual request reuses a spare batch
//! (`recycle`) instead of building and validating a new one.

use syslets_abi as abi;

use super::lanes::Lane;
use super::pools::Class;
use super::requests::Op;
use super::Engine;
use crate::aio::cb::RawBuf;
use crate::aio::sys::{self, FdKind};
use crate::builder::chain::Chain;
use crate::builder::opcode::{Fdatasync, Fsync, Pread64, Pwrite64, Read, Write};
use crate::confine::validate::ValidatedBatch;
use crate::errno::Errno;

impl Engine {
    /// The pool of a file request the probe covers, when it leaves the
    /// submitter: `File` if the `RWF_NOWAIT` probe runs first (`probed`), so
    /// that it reaches a worker only after a miss whose read the probe
    /// already started; `Copy` if it goes to a worker unprobed (inline
    /// completion off, or larger than the inline budget) and does all of its
    /// copying or I/O there. Kept apart because they want different pools: a
    /// worker that waits for pages already on their way one after another
    /// (docs/perf-aio.md, "Cold buffered"), against a few per CPU, so that
    /// large cached copies run on every CPU.
    fn worker_class(probed: bool) -> Class {
        if probed {
            Class::File
        } else {
            Class::Copy
        }
    }

    /// The request's chain, the ordered lane it belongs to, and whether it is
    /// positional. `kind` is None for a sync.
    #[expect(
        clippy::too_many_arguments,
        reason = "the request's fields, its kind and whether it may complete inline"
    )]
    pub(super) fn build(
        &self,
        id: u64,
        fd: i32,
        op: Op,
        buf: &RawBuf,
        offset: i64,
        kind: Option<FdKind>,
        inline: bool,
    ) -> Result<(Box<ValidatedBatch<'static>>, Option<Lane>, bool, Class), Errno> {
        // A direct request's chain (when the kernel queue did not take it)
        // does its own I/O on a worker, like any positional fd without probe.
        let kind = kind.map(|k| match k {
            FdKind::Direct => FdKind::Positional { probe: false },
            k => k,
        });
        let append = matches!((op, kind), (Op::Write, Some(FdKind::Positional { .. })))
            && sys::fd_flags(fd).is_ok_and(|f| f & libc::O_APPEND != 0);
        if let (Op::Read | Op::Write, Some(FdKind::Positional { probe }), false) =
            (op, kind, append)
        {
            // The usual request: a spare batch of its kind, re-aimed.
            let write = op == Op::Write;
            let probed = probe && inline && self.config.inline;
            let flags = if probed { 0 } else { abi::BATCH_ASYNC };
            let class = if probe {
                Engine::worker_class(probed)
            } else {
                Class::Direct
            };
            if let Some(mut batch) = self.spares.take(write) {
                if buf.aim(&mut batch, &self.policy, fd, offset, id, flags) {
                    return Ok((batch, None, true, class));
                }
            }
        }
        // One atom, no arena buffer (aio_buf is a raw region): no allocation
        // beyond the atom itself.
        let mut chain = Chain::with_capacity(1, 0, 0);
        chain.set_caller_data(id);
        let (lane, asynchronous, positional) = match (op, kind) {
            (Op::Sync { data_only }, _) => {
                if data_only {
                    chain.push(Fdatasync::new(fd));
                } else {
                    chain.push(Fsync::new(fd));
                }
                // A sync has no non-blocking form: straight to a worker.
                (None, true, false)
            }
            (Op::Read, Some(FdKind::Positional { probe })) => {
                let mem = buf.mem(&mut chain);
                chain.push(Pread64::new(fd, mem, offset));
                (None, !probe, true)
            }
            (Op::Write, Some(FdKind::Positional { probe })) => {
                let mem = buf.mem(&mut chain);
                if append {
                    // Appends go where the file ends, in submission order.
                    chain.push(Write::new(fd, mem));
                    (Some(Lane::Writes), !probe, false)
                } else {
                    chain.push(Pwrite64::new(fd, mem, offset));
                    (None, !probe, true)
                }
            }
            (Op::Read, _) => {
                let mem = buf.mem(&mut chain);
                chain.push(Read::new(fd, mem));
                let probe = matches!(kind, Some(FdKind::Stream { probe: true }));
                (Some(Lane::Reads), !probe, false)
            }
            (Op::Write, _) => {
                let mem = buf.mem(&mut chain);
                chain.push(Write::new(fd, mem));
                let probe = matches!(kind, Some(FdKind::Stream { probe: true }));
                (Some(Lane::Writes), !probe, false)
            }
        };
        let class = if lane.is_some() && !positional && matches!(kind, Some(FdKind::Stream { .. }))
        {
            Class::Stream
        } else if asynchronous {
            Class::Direct
        } else {
            Engine::worker_class(inline && self.config.inline)
        };
        if asynchronous || !inline || !self.config.inline {
            chain.set_flags(abi::BATCH_ASYNC);
        }
        let batch = chain.prepare(&self.policy).map_err(|_| Errno::EINVAL)?;
        Ok((Box::new(batch), lane, positional, class))
    }
}
