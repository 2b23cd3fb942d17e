//! Placeholder for the open+fstat benchmark (another issue).
fn main() {}
