//! Extension 0006, flat omit prefix storage layout: the id without its prefix is the
//! object root, a direct child of the storage root.

use serde::{Deserialize, Serialize};

use super::LayoutError;
use super::mapped_path::{check_id, finish, unmappable};
use super::omit_prefix::prefix_end;

/// The configuration of extension 0006 (keys as in its `config.json`). It has no default:
/// `delimiter` must be given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FlatOmitPrefix {
    /// The case-insensitive delimiter ending the prefix (its right-most occurrence).
    pub delimiter: String,
}

impl FlatOmitPrefix {
    /// The registered extension name.
    pub const NAME: &'static str = "0006-flat-omit-prefix-storage-layout";

    /// Checks the parameters against the extension's constraints.
    pub fn validate(&self) -> Result<(), LayoutError> {
        if self.delimiter.is_empty() {
            return Err(LayoutError::InvalidConfig {
                extension: Self::NAME.to_owned(),
                reason: "delimiter must not be empty".to_owned(),
            });
        }
        Ok(())
    }

    /// The id after the right-most delimiter. Refused when the delimiter does not occur
    /// (the extension expects every id to carry a prefix and says nothing of ids without
    /// one), when nothing follows it, or when the rest is not one valid directory name.
    pub fn map_object_id(&self, id: &str) -> Result<String, LayoutError> {
        self.validate()?;
        check_id(Self::NAME, id)?;
        let end = prefix_end(id, &self.delimiter).ok_or_else(|| {
            unmappable(
                Self::NAME,
                id,
                format!("the delimiter {:?} does not occur", self.delimiter),
            )
        })?;
        let rest = id.get(end..).unwrap_or_default();
        if rest.is_empty() {
            return Err(unmappable(
                Self::NAME,
                id,
                format!("nothing follows the delimiter {:?}", self.delimiter),
            ));
        }
        finish(Self::NAME, id, [rest])
    }
}
