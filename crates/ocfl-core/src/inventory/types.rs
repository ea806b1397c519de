//! The inventory data model, shared by OCFL 1.0 and 1.1.

use std::collections::BTreeMap;

use crate::SpecVersion;
use crate::digest::{Digest, DigestAlgorithm};
use crate::path::{ContentPath, LogicalPath};
use crate::version_num::VersionNum;

/// digest -> the content paths holding bytes with that digest.
pub type Manifest = BTreeMap<Digest, Vec<ContentPath>>;

/// digest -> the logical paths of a version that have that content.
pub type State = BTreeMap<Digest, Vec<LogicalPath>>;

/// fixity algorithm name -> digest -> content paths. Algorithm names are kept as written
/// (unknown algorithms must be ignored, not rejected: E028). Digests are as written, not
/// normalised, because an unknown algorithm's values need not be hex.
pub type Fixity = BTreeMap<String, BTreeMap<String, Vec<ContentPath>>>;

/// An OCFL inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inventory {
    /// The object identifier (`id`).
    pub id: String,
    /// The specification version named by the `type` URI.
    pub spec_version: SpecVersion,
    /// The content-addressing algorithm (`digestAlgorithm`).
    pub digest_algorithm: DigestAlgorithm,
    /// The most recent version (`head`).
    pub head: VersionNum,
    /// The content directory name (`contentDirectory`), if set explicitly.
    pub content_directory: Option<String>,
    /// The manifest.
    pub manifest: Manifest,
    /// The versions, ordered by number.
    pub versions: BTreeMap<VersionNum, Version>,
    /// The fixity block, if present.
    pub fixity: Option<Fixity>,
}

/// One version block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    /// When the version was created, RFC 3339 text as written.
    pub created: String,
    /// The version's state.
    pub state: State,
    /// The version message, if any.
    pub message: Option<String>,
    /// Who created the version, if recorded.
    pub user: Option<User>,
}

/// The `user` of a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user's name.
    pub name: String,
    /// A URI for the user (`mailto:` or a personal identifier), if given.
    pub address: Option<String>,
}

impl Inventory {
    /// The content directory in effect: `contentDirectory` or the default `content`.
    pub fn content_directory(&self) -> &str {
        self.content_directory.as_deref().unwrap_or("content")
    }
}
