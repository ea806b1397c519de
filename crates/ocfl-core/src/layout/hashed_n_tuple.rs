//! Extension 0004, hashed n-tuple storage layout: the id's digest, cut into tuples, then
//! the whole digest (or, with `shortObjectRoot`, the part not used by the tuples).

use serde::{Deserialize, Serialize};

use super::LayoutError;
use super::config_file::digest_name;
use super::digest_tuples;
use super::mapped_path::{check_id, finish};
use crate::digest::DigestAlgorithm;

/// The configuration of extension 0004 (keys as in its `config.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HashedNTuple {
    /// The algorithm hashing the id (default `sha256`).
    #[serde(with = "digest_name")]
    pub digest_algorithm: DigestAlgorithm,
    /// Characters per tuple, 0 to 32 (default 3).
    pub tuple_size: usize,
    /// Number of tuples, 0 to 32 (default 3).
    pub number_of_tuples: usize,
    /// Name the object root by the unused rest of the digest instead of all of it
    /// (default false).
    pub short_object_root: bool,
}

impl Default for HashedNTuple {
    fn default() -> HashedNTuple {
        HashedNTuple {
            digest_algorithm: DigestAlgorithm::Sha256,
            tuple_size: 3,
            number_of_tuples: 3,
            short_object_root: false,
        }
    }
}

impl HashedNTuple {
    /// The registered extension name.
    pub const NAME: &'static str = "0004-hashed-n-tuple-storage-layout";

    /// Checks the parameters against the extension's constraints.
    pub fn validate(&self) -> Result<(), LayoutError> {
        let hex_len = digest_tuples::check(
            Self::NAME,
            self.digest_algorithm,
            self.tuple_size,
            self.number_of_tuples,
        )?;
        if self.short_object_root && self.tuple_size * self.number_of_tuples == hex_len {
            return Err(LayoutError::InvalidConfig {
                extension: Self::NAME.to_owned(),
                reason: "shortObjectRoot must be false when the tuples use the whole digest"
                    .to_owned(),
            });
        }
        Ok(())
    }

    /// The object root path of `id`.
    pub fn map_object_id(&self, id: &str) -> Result<String, LayoutError> {
        self.validate()?;
        check_id(Self::NAME, id)?;
        let digest = self.digest_algorithm.digest_bytes(id.as_bytes());
        let (tuples, rest) =
            digest_tuples::split(digest.as_str(), self.tuple_size, self.number_of_tuples);
        let root = if self.short_object_root {
            rest
        } else {
            digest.as_str()
        };
        finish(Self::NAME, id, tuples.into_iter().chain([root]))
    }
}
