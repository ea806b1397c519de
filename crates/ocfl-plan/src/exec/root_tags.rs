//! What one process knows of objects' root inventories: the digest each had when it was read,
//! by the tag ([`Storage::file_info`](ocfl_core::storage::Storage::file_info)) it had just
//! before. No change of a file's bytes keeps its tag (`docs/durability.md`, section 6), so a
//! later look that finds the same tag knows the digest without reading a file of tens of
//! megabytes again: the pre-run check's read serves the first batch's `check-base`, and one
//! batch's read the next batch's renames.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use ocfl_core::digest::{Digest, DigestAlgorithm};
use ocfl_core::storage::Tag;

/// How many root inventories are remembered: one entry per object a process updated, beyond
/// which the oldest knowledge is dropped whole (a look then reads the file, as without it).
const KEPT: usize = 4096;

/// Root inventories' digests by path and tag, shared by the executors (batches of steps) and
/// the checks of one process. Only ever told a digest of bytes read after the tag was taken.
#[derive(Debug, Default)]
pub struct RootTags {
    seen: Mutex<HashMap<String, (Tag, DigestAlgorithm, Digest)>>,
}

impl RootTags {
    /// Nothing known yet.
    pub fn new() -> RootTags {
        RootTags::default()
    }

    /// Records that the file at `path`, whose tag was `tag` before it was read, read as bytes
    /// of digest `digest` (of `algorithm`). The tag must be taken before the read: a change
    /// during the read then gives another tag the next time, and the digest is never used
    /// for the changed file.
    pub fn record(&self, path: &str, tag: Tag, algorithm: DigestAlgorithm, digest: Digest) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.len() >= KEPT && !seen.contains_key(path) {
            seen.clear();
        }
        seen.insert(path.to_owned(), (tag, algorithm, digest));
    }

    /// The digest (of `algorithm`) of the file at `path` while its tag is `tag`, if known.
    pub fn digest(&self, path: &str, tag: &Tag, algorithm: DigestAlgorithm) -> Option<Digest> {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        match seen.get(path) {
            Some((known, a, digest)) if known == tag && *a == algorithm => Some(digest.clone()),
            _ => None,
        }
    }
}
