//! Recomputing content digests: every manifest digest (E092) and every fixity digest of an
//! algorithm we support (E093; unknown algorithms are ignored, E028), for the root inventory
//! and the prior inventories alike. Each file is read once, in one streaming pass computing
//! every algorithm it needs, by the content walk that finds it (files are hashed in
//! parallel).

use foldhash::{HashMap, HashMapExt};
use std::collections::BTreeSet;

use super::content::{ContentFiles, DigestFindings};
use super::inventory_file::InventoryFile;
use super::redundant::{supported_fixity, version_of};
use super::version_dirs::VersionDir;
use crate::digest::{Digest, DigestAlgorithm, MultiDigester};
use crate::inventory::Inventory;
use crate::storage::Directory;
use crate::validate::code::{Code, Finding};
use crate::validate::report::ObjectReport;

/// One digest an inventory claims for a content file.
#[derive(Debug, Clone, Copy)]
pub(super) struct Claim<'a> {
    algorithm: DigestAlgorithm,
    digest: &'a str,
    /// E092 for a manifest digest, E093 for a fixity digest.
    code: Code,
    /// The inventory making the claim.
    source: &'a str,
}

impl<'a> Claim<'a> {
    /// The manifest digest `digest` of `algorithm` that the inventory at `source` claims.
    pub(super) fn manifest(
        algorithm: DigestAlgorithm,
        digest: &'a str,
        source: &'a str,
    ) -> Claim<'a> {
        Claim {
            algorithm,
            digest,
            code: Code::E092,
            source,
        }
    }

    fn same_as(&self, other: &Claim<'_>) -> bool {
        self.algorithm == other.algorithm
            && self.code == other.code
            && self.digest.eq_ignore_ascii_case(other.digest)
    }
}

/// The digests to check, by content path.
pub(super) type Claims<'a> = HashMap<&'a str, Vec<Claim<'a>>>;

/// The parsed inventories with their locations: the root's first, so that a prior
/// inventory's claim identical to the root's is checked once and reported against the root.
/// Prior inventories dropped as redundant are not among them: their claims are all the root's.
pub(super) fn inventories<'a>(
    root: Option<&'a InventoryFile>,
    versions: &'a [VersionDir],
) -> Vec<(String, &'a Inventory)> {
    let mut inventories: Vec<(String, &Inventory)> = Vec::new();
    if let Some(file) = root
        && let Some(inventory) = &file.inventory
    {
        inventories.push((file.location(), inventory));
    }
    for version in versions.iter().rev() {
        if let Some(file) = &version.inventory
            && let Some(inventory) = &file.inventory
        {
            inventories.push((file.location(), inventory));
        }
    }
    inventories
}

/// Every manifest digest and every fixity digest of an algorithm we support, by path. Paths
/// that are not content files are never looked up: only files found by the content walk are
/// read (see [`super::content::walk`]).
pub(super) fn claims<'a>(inventories: &'a [(String, &'a Inventory)]) -> Claims<'a> {
    let mut claims = Claims::new();
    for (location, inventory) in inventories {
        for (digest, paths) in &inventory.manifest {
            for path in paths {
                add_claim(
                    &mut claims,
                    path.as_str(),
                    Claim {
                        algorithm: inventory.digest_algorithm,
                        digest: digest.as_str(),
                        code: Code::E092,
                        source: location,
                    },
                );
            }
        }
        for (name, digests) in inventory.fixity.iter().flatten() {
            let Some(algorithm) = DigestAlgorithm::from_name(name) else {
                continue;
            };
            for (digest, paths) in digests {
                for path in paths {
                    add_claim(
                        &mut claims,
                        path.as_str(),
                        Claim {
                            algorithm,
                            digest,
                            code: Code::E093,
                            source: location,
                        },
                    );
                }
            }
        }
    }
    claims
}

/// Reports fixity paths that are not content files (always), then the digests that did not
/// match (found by the content walk when `options.check_fixity`), in path order.
///
/// A prior inventory dropped as redundant (`reduced`) names, for the algorithms we support,
/// exactly the root's fixity paths in versions up to its own (see `redundant.rs`): its missing
/// ones are reported from the root's.
pub(super) fn check(
    inventories: &[(String, &Inventory)],
    root: Option<&InventoryFile>,
    versions: &[VersionDir],
    files: &ContentFiles,
    mut digests: DigestFindings,
    report: &mut ObjectReport,
) {
    let reduced: Vec<(String, u32)> = versions
        .iter()
        .filter_map(|v| {
            let file = v.inventory.as_ref().filter(|f| f.reduced)?;
            Some((file.location(), v.number.number()))
        })
        .collect();
    let mut missing_fixity: BTreeSet<(&str, &str)> = BTreeSet::new();
    for (location, inventory) in inventories {
        for ((_, path), _) in supported_fixity(inventory) {
            if !files.contains_key(path) {
                missing_fixity.insert((path, location));
            }
        }
    }
    if let Some(root) = root.and_then(|f| f.inventory.as_ref())
        && !reduced.is_empty()
    {
        for ((_, path), _) in supported_fixity(root) {
            if files.contains_key(path) {
                continue;
            }
            let version = version_of(path);
            for (location, up_to) in &reduced {
                if version.is_some_and(|v| v <= *up_to) {
                    missing_fixity.insert((path, location));
                }
            }
        }
    }
    for (path, location) in missing_fixity {
        report.add(
            Code::E093,
            format!("{location}: fixity names {path}, which is not a file in a content directory"),
        );
    }
    // The walk finds files in parallel; report in path order.
    digests.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    for finding in digests.into_iter().flat_map(|(_, f)| f) {
        report.push(finding);
    }
}

/// Adds `claim` for `path` unless an identical one is there already.
fn add_claim<'a>(claims: &mut HashMap<&'a str, Vec<Claim<'a>>>, path: &'a str, claim: Claim<'a>) {
    let list = claims.entry(path).or_default();
    if !list.iter().any(|c| c.same_as(&claim)) {
        list.push(claim);
    }
}

/// Reads file `name` of `dir` (content path `path`) once, computing every algorithm its
/// claims need, and reports each claim the bytes do not match.
///
/// The fast read ([`Directory::stream_file`]) may end at a short read; a mismatch is
/// therefore confirmed by reading the file again exactly before it is reported.
pub(super) fn verify_file(
    dir: &dyn Directory,
    name: &str,
    path: &str,
    claims: &[Claim<'_>],
) -> Vec<Finding> {
    let algorithms = || claims.iter().map(|c| c.algorithm);
    let mut digester = MultiDigester::new(algorithms());
    let streamed = dir
        .stream_file(name, &mut |chunk| digester.update(chunk))
        .map(|()| digester.finalize());
    if let Ok(computed) = &streamed
        && mismatches(path, claims, computed).is_empty()
    {
        return Vec::new();
    }
    let exact = dir
        .open_file(name)
        .map_err(|e| e.to_string())
        .and_then(|mut reader| {
            MultiDigester::new(algorithms())
                .digest_reader(&mut reader)
                .map_err(|e| e.to_string())
        });
    match exact {
        Ok(computed) => mismatches(path, claims, &computed),
        Err(e) => vec![unreadable(path, &e)],
    }
}

/// The finding for a content file at `path` that cannot be read to check its digests.
pub(super) fn unreadable(path: &str, why: &str) -> Finding {
    Finding::new(
        Code::E092,
        format!("{path}: cannot be read to check its digest: {why}"),
    )
}

/// Whether every one of `claims` is a digest of `algorithm` that `digest` matches.
pub(super) fn all_match(claims: &[Claim<'_>], algorithm: DigestAlgorithm, digest: &Digest) -> bool {
    claims
        .iter()
        .all(|claim| claim.algorithm == algorithm && digest.matches(claim.digest))
}

/// The claims that the `computed` digests of `path` do not match.
fn mismatches(
    path: &str,
    claims: &[Claim<'_>],
    computed: &[(DigestAlgorithm, Digest)],
) -> Vec<Finding> {
    claims
        .iter()
        .filter_map(|claim| {
            let (_, actual) = computed.iter().find(|(a, _)| *a == claim.algorithm)?;
            (!actual.matches(claim.digest)).then(|| {
                let block = if claim.code == Code::E092 {
                    "manifest"
                } else {
                    "fixity"
                };
                Finding::new(
                    claim.code,
                    format!(
                        "{path}: {} {block} gives {} {} but the file's digest is {actual}",
                        claim.source, claim.algorithm, claim.digest
                    ),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::storage::{Entry, StorageError};

    /// A directory of one file `f` whose fast read stops early, as a short read could.
    struct ShortReads(&'static [u8]);

    impl Directory for ShortReads {
        fn path(&self) -> &str {
            "v1/content"
        }
        fn list(&self) -> Result<Vec<Entry>, StorageError> {
            Ok(Vec::new())
        }
        fn open_dir(&self, name: &str) -> Result<Box<dyn Directory + '_>, StorageError> {
            Err(StorageError::NotFound(name.to_owned()))
        }
        fn open_file(&self, _: &str) -> Result<Box<dyn Read + Send>, StorageError> {
            Ok(Box::new(self.0))
        }
        fn stream_file(&self, _: &str, each: &mut dyn FnMut(&[u8])) -> Result<(), StorageError> {
            each(&self.0[..self.0.len() / 2]);
            Ok(())
        }
    }

    fn claim(digest: &str) -> Claim<'_> {
        Claim {
            algorithm: DigestAlgorithm::Sha512,
            digest,
            code: Code::E092,
            source: "inventory.json",
        }
    }

    #[test]
    fn a_mismatch_from_a_short_read_is_confirmed_before_it_is_reported() {
        let bytes: &'static [u8] = b"the whole file";
        let right = DigestAlgorithm::Sha512.digest_bytes(bytes);
        let dir = ShortReads(bytes);
        assert!(verify_file(&dir, "f", "v1/content/f", &[claim(right.as_str())]).is_empty());
        let wrong = DigestAlgorithm::Sha512.digest_bytes(b"other bytes");
        let findings = verify_file(&dir, "f", "v1/content/f", &[claim(wrong.as_str())]);
        assert_eq!(findings.len(), 1);
        assert!(
            findings[0].message.contains(right.as_str()),
            "{}",
            findings[0].message
        );
    }
}
