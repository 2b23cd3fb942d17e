mod api;
pub(crate) mod engine_port;
pub(crate) mod estimator;
mod options;
pub(crate) mod pool;
pub(crate) mod ring;
pub(crate) mod shared;

pub use api::*;
pub use options::{Backpressure, InlineCompletions, ShutdownMode, Ticket};
