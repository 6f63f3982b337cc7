//! Checks on the IR: validation (errors that refuse a policy, spec section 6) and the group
//! expansion it produces. Warnings about valid policies are [`crate::lint`]'s, a layer above:
//! they read the compiled policy too.

mod groups;
mod validate;

pub use groups::GroupTable;
pub use validate::validate;
