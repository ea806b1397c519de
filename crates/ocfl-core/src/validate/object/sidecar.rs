//! The inventory sidecar `inventory.json.<algorithm>` beside every inventory (E058-E061).

use super::inventory_file::is_sidecar_name;
use super::location;
use std::sync::OnceLock;

use crate::digest::{Digest, DigestAlgorithm};
use crate::sidecar::{INVENTORY_FILE, parse_sidecar, sidecar_name};
use crate::storage::{Directory, Entry, EntryKind};
use crate::validate::code::Code;
use crate::validate::report::ObjectReport;

/// Checks the sidecar of `dir/inventory.json` (`dir` is open as `files`), whose raw bytes are `inventory_bytes` and
/// whose `digestAlgorithm` is `algorithm` (`None` when the inventory could not be parsed:
/// then a single sidecar with a known algorithm name is checked with that algorithm).
/// Returns the names in `entries` accounted for as sidecars.
///
/// `digest` caches the bytes' digest: a version inventory byte-identical to the root one
/// shares the root's cache, so a large inventory is hashed once, not once per copy.
pub(super) fn check(
    files: &dyn Directory,
    dir: &str,
    entries: &[Entry],
    inventory_bytes: &[u8],
    digest: &OnceLock<(DigestAlgorithm, Digest)>,
    algorithm: Option<DigestAlgorithm>,
    report: &mut ObjectReport,
) -> Vec<String> {
    let inventory = location(dir, INVENTORY_FILE);
    for link in entries
        .iter()
        .filter(|e| e.kind == EntryKind::Symlink && is_sidecar_name(&e.name))
    {
        report.add(
            Code::E090,
            format!(
                "{}: symbolic links are not allowed in an object (not followed)",
                location(dir, &link.name)
            ),
        );
    }
    let candidates: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.kind == EntryKind::File && is_sidecar_name(&e.name))
        .collect();
    let Some(algorithm) = algorithm else {
        if let [only] = candidates.as_slice() {
            let suffix = &only.name[INVENTORY_FILE.len() + 1..];
            if let Some(algorithm) = DigestAlgorithm::from_name(suffix) {
                check_digest(
                    files,
                    dir,
                    &only.name,
                    inventory_bytes,
                    digest,
                    algorithm,
                    report,
                );
            }
        } else if candidates.is_empty() {
            report.add(Code::E058, format!("{inventory}: has no sidecar"));
        }
        return candidates.iter().map(|e| e.name.clone()).collect();
    };
    let expected = sidecar_name(algorithm);
    if candidates.iter().any(|e| e.name == expected) {
        check_digest(
            files,
            dir,
            &expected,
            inventory_bytes,
            digest,
            algorithm,
            report,
        );
        return vec![expected];
    }
    if candidates.is_empty() {
        report.add(
            Code::E058,
            format!("{inventory}: has no sidecar {}", location(dir, &expected)),
        );
    }
    for candidate in &candidates {
        report.add(
            Code::E059,
            format!(
                "{}: sidecar algorithm does not match the inventory's digestAlgorithm {algorithm} \
                 (expected {expected})",
                location(dir, &candidate.name)
            ),
        );
    }
    candidates.iter().map(|e| e.name.clone()).collect()
}

/// Checks that sidecar `dir/name` holds `algorithm`'s digest of the raw inventory bytes.
fn check_digest(
    files: &dyn Directory,
    dir: &str,
    name: &str,
    inventory_bytes: &[u8],
    digest: &OnceLock<(DigestAlgorithm, Digest)>,
    algorithm: DigestAlgorithm,
    report: &mut ObjectReport,
) {
    let path = location(dir, name);
    let bytes = match files.read_file(name) {
        Ok(bytes) => bytes,
        Err(e) => {
            report.add(Code::E061, format!("{path}: cannot be read: {e}"));
            return;
        }
    };
    match parse_sidecar(&bytes, algorithm) {
        Err(e) => report.add(Code::E061, format!("{path}: {e}")),
        Ok(recorded) => {
            let actual = match digest.get() {
                Some((cached, actual)) if *cached == algorithm => actual.clone(),
                _ => {
                    let actual = algorithm.digest_bytes(inventory_bytes);
                    // Only the first algorithm is cached; a second one (for a broken
                    // object) is simply recomputed.
                    let _ = digest.set((algorithm, actual.clone()));
                    actual
                }
            };
            if recorded != actual {
                report.add(
                    Code::E060,
                    format!(
                        "{path}: records {algorithm} {recorded} but {} has digest {actual}",
                        location(dir, INVENTORY_FILE)
                    ),
                );
            }
        }
    }
}
