//! Inventories: the types ([`Inventory`], [`Version`], [`User`]), parsing that reports the
//! specification's codes instead of generic JSON errors, and deterministic serialization.

mod types;

pub use types::{Fixity, Inventory, Manifest, State, User, Version};
