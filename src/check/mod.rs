//! Checks on the IR: validation (errors that refuse a policy, spec section 6).

mod groups;
pub mod lint;
mod validate;

pub use groups::GroupTable;
pub use validate::validate;
