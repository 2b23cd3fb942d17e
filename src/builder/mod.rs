//! Stage 1, building: the typed builders and the [`Chain`](crate::Chain) they are
//! pushed onto.

pub(crate) mod chain;
pub(crate) mod inline_vec;
pub mod net;
pub mod opcode;
