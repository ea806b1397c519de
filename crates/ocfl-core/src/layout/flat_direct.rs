//! Extension 0002, flat direct storage layout: the object id itself is the object root,
//! a direct child of the storage root.

use serde::{Deserialize, Serialize};

use super::LayoutError;
use super::mapped_path::{check_id, finish};

/// The configuration of extension 0002, which has no parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlatDirect {}

impl FlatDirect {
    /// The registered extension name.
    pub const NAME: &'static str = "0002-flat-direct-storage-layout";

    /// Nothing to check: the extension has no parameters.
    pub fn validate(&self) -> Result<(), LayoutError> {
        Ok(())
    }

    /// The id unchanged, refused unless it is one valid directory name (not `.`/`..`, no
    /// `/`, at most 255 bytes): the extension's own examples show such ids producing
    /// paths that cannot work.
    pub fn map_object_id(&self, id: &str) -> Result<String, LayoutError> {
        check_id(Self::NAME, id)?;
        finish(Self::NAME, id, [id])
    }
}
