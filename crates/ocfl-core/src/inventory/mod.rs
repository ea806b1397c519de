//! Inventories: the types ([`Inventory`], [`Version`], [`User`]), parsing that reports the
//! specification's codes instead of generic JSON errors ([`parse_inventory`]), and
//! deterministic serialization ([`Inventory::to_json_bytes`]).
//!
//! Parsing checks everything that needs only the one document (structure, keys, digests,
//! paths, version sequence, dates); checks that need the object's files or other inventories
//! belong to [`validate`](crate::validate).

mod findings;
mod json;
mod lookup;
mod manifest;
mod one_version;
mod parse;
mod paths;
mod serialize;
mod sorted;
mod summary;
mod types;
mod versions;

#[cfg(test)]
mod test_inventories;
#[cfg(test)]
mod tests;

pub use lookup::{LookupError, PathAnswer, PathLookup, lookup_path};
pub use one_version::{FileRef, OneVersion, ReadError, VersionFiles, VersionInfo, read_version};
pub use parse::{ParsedInventory, parse_inventory};
pub use summary::{InventorySummary, read_summary};
pub use types::{Fixity, Inventory, Manifest, State, User, Version};
