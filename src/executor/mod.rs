mod api;
pub(crate) mod pool;
pub(crate) mod ring;

pub use api::*;
