//! The inventory an update starts from.

use ocfl_core::digest::Digest;
use ocfl_core::inventory::{Inventory, parse_inventory};

use super::Error;

/// An object's current root inventory and the digest of its exact bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    /// The parsed inventory.
    pub inventory: Inventory,
    /// The digest of the `inventory.json` bytes, by the inventory's own algorithm.
    pub digest: Digest,
}

impl Base {
    /// Parses the root inventory of the object at `object_path` (named in errors). An
    /// inventory with any error finding is refused: an update must not build on it.
    pub fn from_bytes(object_path: &str, bytes: &[u8]) -> Result<Base, Error> {
        let parsed = parse_inventory(bytes);
        let invalid = |reason: String| Error::InvalidBase {
            path: object_path.to_owned(),
            reason,
        };
        if let Some(finding) = parsed
            .findings
            .iter()
            .find(|f| f.severity() == ocfl_core::validate::Severity::Error)
        {
            return Err(invalid(format!("{}: {}", finding.code, finding.message)));
        }
        let inventory = parsed
            .inventory
            .ok_or_else(|| invalid("the inventory cannot be parsed".into()))?;
        let digest = inventory.digest_algorithm.digest_bytes(bytes);
        Ok(Base { inventory, digest })
    }
}
