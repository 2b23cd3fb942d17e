//! Stage 2, the batch: a chain encoded into one ABI buffer, the plan
//! validation decodes it into, and the completion a run fills in.

pub(crate) mod completion;
pub(crate) mod encode;
pub(crate) mod plan;
