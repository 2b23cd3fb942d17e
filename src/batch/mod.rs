//! Stage 2, the batch: a chain encoded into one ABI buffer, the errors that
//! reject one, and the completion a run fills in.

pub(crate) mod completion;
pub(crate) mod encode;
pub(crate) mod error;
pub(crate) mod plan;
