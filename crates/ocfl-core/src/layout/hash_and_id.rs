//! Extension 0003, hashed truncated n-tuple trees with object id encapsulating directory:
//! the id's digest cut into tuples, then the percent-encoded id as the object root.

use serde::{Deserialize, Serialize};

use super::LayoutError;
use super::config_file::digest_name;
use super::digest_tuples;
use super::mapped_path::{check_id, finish};
use crate::digest::{Digest, DigestAlgorithm};

/// Encoded ids longer than this are truncated and suffixed with the id's digest.
const MAX_ENCODED_ID: usize = 100;

/// The configuration of extension 0003 (keys as in its `config.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HashAndIdNTuple {
    /// The algorithm hashing the id (default `sha256`).
    #[serde(with = "digest_name")]
    pub digest_algorithm: DigestAlgorithm,
    /// Characters per tuple, 0 to 32 (default 3).
    pub tuple_size: usize,
    /// Number of tuples, 0 to 32 (default 3).
    pub number_of_tuples: usize,
}

impl Default for HashAndIdNTuple {
    fn default() -> HashAndIdNTuple {
        HashAndIdNTuple {
            digest_algorithm: DigestAlgorithm::Sha256,
            tuple_size: 3,
            number_of_tuples: 3,
        }
    }
}

impl HashAndIdNTuple {
    /// The registered extension name.
    pub const NAME: &'static str = "0003-hash-and-id-n-tuple-storage-layout";

    /// Checks the parameters against the extension's constraints.
    pub fn validate(&self) -> Result<(), LayoutError> {
        digest_tuples::check(
            Self::NAME,
            self.digest_algorithm,
            self.tuple_size,
            self.number_of_tuples,
        )
        .map(drop)
    }

    /// The object root path of `id`.
    pub fn map_object_id(&self, id: &str) -> Result<String, LayoutError> {
        self.validate()?;
        check_id(Self::NAME, id)?;
        map_hashed_id(
            Self::NAME,
            id,
            id,
            self.digest_algorithm,
            self.tuple_size,
            self.number_of_tuples,
        )
    }
}

/// The 0003 procedure applied to `hashed_id` (the whole id for 0003, the id without its
/// prefix for 0012); `id` is only used in error messages.
pub(crate) fn map_hashed_id(
    extension: &str,
    id: &str,
    hashed_id: &str,
    algorithm: DigestAlgorithm,
    tuple_size: usize,
    number_of_tuples: usize,
) -> Result<String, LayoutError> {
    let digest = algorithm.digest_bytes(hashed_id.as_bytes());
    let (tuples, _) = digest_tuples::split(digest.as_str(), tuple_size, number_of_tuples);
    let directory = encapsulation_directory(hashed_id, &digest);
    finish(
        extension,
        id,
        tuples.into_iter().chain([directory.as_str()]),
    )
}

/// The encapsulation directory name: every character but `A-Z a-z 0-9 - _` replaced by
/// the `%xx` lower-case hex of its UTF-8 bytes; over 100 characters, the first 100 then
/// `-` and the digest, so that long ids stay distinct yet fit a directory name.
pub(crate) fn encapsulation_directory(id: &str, digest: &Digest) -> String {
    let mut encoded = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
            encoded.push(char::from(byte));
        } else {
            encoded.push('%');
            encoded.push_str(&hex::encode([byte]));
        }
    }
    if encoded.len() > MAX_ENCODED_ID {
        // The encoding is ASCII, so any byte index is a character boundary.
        encoded.truncate(MAX_ENCODED_ID);
        encoded.push('-');
        encoded.push_str(digest.as_str());
    }
    encoded
}
