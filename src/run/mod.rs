//! Stage 4, running a validated batch on the calling thread: `inline` issues the
//! atoms one after the other, `probe` tries a may-block atom without blocking
//! before the executor hands the rest of the chain to a worker.

pub(crate) mod inline;
pub(crate) mod probe;
