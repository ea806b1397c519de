//! Recomputing content digests: every manifest digest (E092) and every fixity digest of an
//! algorithm we support (E093; unknown algorithms are ignored, E028), for the root inventory
//! and the prior inventories alike. Each file is read once, in one streaming pass computing
//! every algorithm it needs, and files are hashed in parallel.

use foldhash::{HashMap, HashMapExt};
use std::collections::BTreeSet;

use rayon::prelude::*;

use super::ObjectFs;
use super::content::ContentFiles;
use super::inventory_file::InventoryFile;
use super::version_dirs::VersionDir;
use crate::digest::{DigestAlgorithm, MultiDigester};
use crate::inventory::Inventory;
use crate::validate::code::{Code, Finding};
use crate::validate::report::{ObjectReport, ValidationOptions};

/// One digest an inventory claims for a content file.
#[derive(Debug, Clone, Copy)]
struct Claim<'a> {
    algorithm: DigestAlgorithm,
    digest: &'a str,
    /// E092 for a manifest digest, E093 for a fixity digest.
    code: Code,
    /// The inventory making the claim.
    source: &'a str,
}

impl Claim<'_> {
    fn same_as(&self, other: &Claim<'_>) -> bool {
        self.algorithm == other.algorithm
            && self.code == other.code
            && self.digest.eq_ignore_ascii_case(other.digest)
    }
}

/// Checks fixity paths exist (always) and recomputes digests (when `options.check_fixity`).
pub(super) fn check(
    object: &ObjectFs<'_>,
    root: Option<&InventoryFile>,
    versions: &[VersionDir],
    files: &ContentFiles,
    options: &ValidationOptions,
    report: &mut ObjectReport,
) {
    // Root first, so a prior inventory's claim identical to the root's is checked once and
    // reported against the root.
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

    let mut claims: HashMap<&str, Vec<Claim<'_>>> = HashMap::with_capacity(files.len());
    let mut missing_fixity: BTreeSet<(&str, &str)> = BTreeSet::new();
    for (location, inventory) in &inventories {
        for (digest, paths) in &inventory.manifest {
            for path in paths.iter().filter(|p| files.contains_key(p.as_str())) {
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
                    if files.contains_key(path.as_str()) {
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
                    } else {
                        missing_fixity.insert((path.as_str(), location));
                    }
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
    if !options.check_fixity {
        return;
    }
    let work: Vec<(&str, Vec<Claim<'_>>)> = claims.into_iter().collect();
    let mut findings: Vec<(&str, Vec<Finding>)> = work
        .par_iter()
        .map(|(path, claims)| (*path, verify_file(object, path, claims)))
        .filter(|(_, findings)| !findings.is_empty())
        .collect();
    // The work list is in hash order; report in path order.
    findings.sort_unstable_by(|a, b| a.0.cmp(b.0));
    for finding in findings.into_iter().flat_map(|(_, f)| f) {
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

/// Reads `path` once, computing every algorithm its claims need, and reports each claim the
/// bytes do not match.
fn verify_file(object: &ObjectFs<'_>, path: &str, claims: &[Claim<'_>]) -> Vec<Finding> {
    let digester = MultiDigester::new(claims.iter().map(|c| c.algorithm));
    let computed = object
        .storage
        .open(&object.path(path))
        .map_err(|e| e.to_string())
        .and_then(|mut reader| {
            digester
                .digest_reader(&mut reader)
                .map_err(|e| e.to_string())
        });
    let computed = match computed {
        Ok(computed) => computed,
        Err(e) => {
            return vec![Finding::new(
                Code::E092,
                format!("{path}: cannot be read to check its digest: {e}"),
            )];
        }
    };
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
