//! Checks across the root inventory and the inventories in version directories: E040 (a
//! version inventory's head), E064, E066, W011, E019/E020, E110 (E037 in 1.0) and E103.

use foldhash::HashMap;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

use super::inventory_file::{InventoryFile, Summary};
use super::version_dirs::VersionDir;
use crate::SpecVersion;
use crate::digest::Digest;
use crate::inventory::{Inventory, Version};
use crate::path::ContentPath;
use crate::validate::code::{Code, Finding};
use crate::validate::report::ObjectReport;
use crate::version_num::VersionNum;

/// Runs the cross-inventory checks that need every version directory: E040, E103,
/// E019/E020 and E064, then passes on the findings of each prior inventory's comparison with
/// the root inventory (made when it was loaded, see [`CrossCheck`]). `versions` are sorted by
/// version number.
pub(super) fn check(
    root: Option<&InventoryFile>,
    versions: &[VersionDir],
    report: &mut ObjectReport,
) {
    let root_summary = root.and_then(|f| f.summary.as_ref());
    // Inventories differing from the root's; copies of the root need only the head check.
    let mut parsed: Vec<(&VersionDir, &InventoryFile, &Summary)> = Vec::new();
    for version in versions {
        let Some(file) = &version.inventory else {
            continue;
        };
        let summary = if file.same_as_root {
            root_summary
        } else {
            file.summary.as_ref()
        };
        if let Some(summary) = summary {
            if !file.same_as_root {
                parsed.push((version, file, summary));
            }
            if summary.head.to_string() != version.name {
                report.add(
                    Code::E040,
                    format!(
                        "{}: head is {} but the inventory is in version directory {}",
                        file.location(),
                        summary.head,
                        version.name
                    ),
                );
            }
        }
    }
    check_spec_order(root, &parsed, report);
    check_content_directory(root, &parsed, report);

    if root.is_none() {
        return;
    }
    if let Some(head) = versions.last()
        && let Some(head_file) = &head.inventory
        && !head_file.same_as_root
    {
        report.add(
            Code::E064,
            format!(
                "inventory.json: differs from {} of the most recent version",
                head_file.location()
            ),
        );
    }
    for version in versions {
        for finding in &version.cross_findings {
            report.push(finding.clone());
        }
    }
}

/// E103: each version directory conforms to the same or a later specification version than
/// the one before it; the root inventory stands for the head version.
fn check_spec_order(
    root: Option<&InventoryFile>,
    parsed: &[(&VersionDir, &InventoryFile, &Summary)],
    report: &mut ObjectReport,
) {
    let root = root.and_then(|f| Some((f.location(), f.summary.as_ref()?.spec_version)));
    let sequence = parsed
        .iter()
        .map(|(_, file, summary)| (file.location(), summary.spec_version))
        .chain(root);
    let mut previous: Option<(String, SpecVersion)> = None;
    for (location, version) in sequence {
        if let Some((before, before_version)) = &previous
            && version < *before_version
        {
            report.add(
                Code::E103,
                format!(
                    "{location}: declares OCFL {version}, older than the {before_version} of {before}"
                ),
            );
        }
        previous = Some((location, version));
    }
}

/// E019/E020: `contentDirectory`, when set, is set from the first version and never changes.
fn check_content_directory(
    root: Option<&InventoryFile>,
    parsed: &[(&VersionDir, &InventoryFile, &Summary)],
    report: &mut ObjectReport,
) {
    let mut all = parsed
        .iter()
        .map(|(version, file, summary)| (version.number.number(), file.location(), *summary))
        .chain(root.and_then(|f| Some((u32::MAX, f.location(), f.summary.as_ref()?))));
    let Some((first_number, first_location, first)) = all.next() else {
        return;
    };
    for (_, location, summary) in all {
        if summary.content_directory() == first.content_directory() {
            continue;
        }
        let code = if first_number == 1 && first.content_directory.is_none() {
            Code::E019
        } else {
            Code::E020
        };
        report.add(
            code,
            format!(
                "{location}: contentDirectory is {:?} but {first_location} has {:?}",
                summary.content_directory(),
                first.content_directory()
            ),
        );
    }
}

/// Compares prior inventories with the root inventory as each is loaded (E110/E037, E066,
/// W011), so that a redundant one can be dropped at once.
pub(super) struct CrossCheck<'a> {
    root: &'a Inventory,
    /// The object's specification version (E110 in 1.1 is E037 in 1.0).
    spec: SpecVersion,
    /// Each root version's state inverted to logical path -> digest, built once (on first
    /// use) however many prior inventories hold that version.
    states: HashMap<VersionNum, OnceLock<BTreeMap<&'a str, &'a Digest>>>,
}

impl<'a> CrossCheck<'a> {
    pub(super) fn new(root: &'a Inventory, spec: SpecVersion) -> CrossCheck<'a> {
        CrossCheck {
            root,
            spec,
            states: root
                .versions
                .keys()
                .map(|number| (*number, OnceLock::new()))
                .collect(),
        }
    }

    /// The findings of comparing `prior` (at `location`) with the root inventory: another id,
    /// a version the root lacks or whose state differs, a version with other metadata.
    pub(super) fn findings(&self, location: &str, prior: &Inventory) -> Vec<Finding> {
        let root = self.root;
        let mut findings = Vec::new();
        if prior.id != root.id {
            let code = if self.spec >= SpecVersion::V1_1 {
                Code::E110
            } else {
                Code::E037
            };
            findings.push(Finding::new(
                code,
                format!(
                    "{location}: id {:?} differs from inventory.json's {:?}",
                    prior.id, root.id
                ),
            ));
        }
        for (number, version) in &prior.versions {
            let Some(root_version) = root.versions.get(number) else {
                findings.push(Finding::new(
                    Code::E066,
                    format!("{location}: version {number} is not in inventory.json"),
                ));
                continue;
            };
            if let Some(difference) = self.difference(prior, *number, version) {
                findings.push(Finding::new(
                    Code::E066,
                    format!(
                        "{location}: version {number} differs from inventory.json: {difference}"
                    ),
                ));
            }
            let metadata = metadata_differences(version, root_version);
            if !metadata.is_empty() {
                findings.push(Finding::new(
                    Code::W011,
                    format!(
                        "{location}: version {number} has a different {} than inventory.json",
                        metadata.join(", ")
                    ),
                ));
            }
        }
        findings
    }

    /// How `prior`'s block for version `number` differs in logical state from the root's, if
    /// it does. With the same digest algorithm the digests are compared; otherwise each
    /// logical path's content paths (digests of different algorithms cannot be compared).
    fn difference(
        &self,
        prior: &Inventory,
        number: VersionNum,
        version: &Version,
    ) -> Option<String> {
        let root = self.root;
        let root_version = root.versions.get(&number)?;
        if prior.digest_algorithm == root.digest_algorithm {
            // A sound object's prior state is the root's: one ordered walk of both maps shows
            // it (equal maps give equal inversions). Only a difference needs the states by
            // logical path, to name the first one; inverting a million-file state is a
            // million ordered-map inserts in random order, superlinear in the files.
            if version.state == root_version.state {
                return None;
            }
            let root_state = self
                .states
                .get(&number)?
                .get_or_init(|| invert(root_version));
            let prior_state = invert(version);
            return first_difference(&prior_state, root_state, |a, b| a == b, |d| d.to_string());
        }
        let prior_paths = content_paths(prior, version);
        let root_paths = content_paths(root, root_version);
        // The root manifest may store the same bytes again in later versions, so the prior
        // inventory's content paths need only be among the root's.
        first_difference(
            &prior_paths,
            &root_paths,
            |p, r| p.iter().all(|c| r.contains(c)),
            |paths| {
                let paths: Vec<&str> = paths.iter().map(|c| c.as_str()).collect();
                format!("content {}", paths.join(", "))
            },
        )
    }
}

/// logical path -> digest.
fn invert(version: &Version) -> BTreeMap<&str, &Digest> {
    version
        .state
        .iter()
        .flat_map(|(digest, paths)| paths.iter().map(move |p| (p.as_str(), digest)))
        .collect()
}

/// logical path -> the content paths the inventory's manifest gives for its digest.
fn content_paths<'a>(
    inventory: &'a Inventory,
    version: &'a Version,
) -> BTreeMap<&'a str, BTreeSet<&'a ContentPath>> {
    version
        .state
        .iter()
        .flat_map(|(digest, paths)| {
            let stored: BTreeSet<&ContentPath> = inventory
                .manifest
                .get(digest)
                .into_iter()
                .flatten()
                .collect();
            paths.iter().map(move |p| (p.as_str(), stored.clone()))
        })
        .collect()
}

/// The first logical path present in only one of the maps, or whose values disagree.
fn first_difference<V>(
    prior: &BTreeMap<&str, V>,
    root: &BTreeMap<&str, V>,
    same: impl Fn(&V, &V) -> bool,
    show: impl Fn(&V) -> String,
) -> Option<String> {
    for (path, value) in prior {
        match root.get(path) {
            None => return Some(format!("logical path {path:?} is not in inventory.json's")),
            Some(root_value) if !same(value, root_value) => {
                return Some(format!(
                    "logical path {path:?} has {} here but {} in inventory.json",
                    show(value),
                    show(root_value)
                ));
            }
            Some(_) => {}
        }
    }
    root.keys()
        .find(|path| !prior.contains_key(*path))
        .map(|path| format!("logical path {path:?} is missing"))
}

/// W011: which of created, message and user differ.
fn metadata_differences(prior: &Version, root: &Version) -> Vec<&'static str> {
    let mut differ = Vec::new();
    if prior.created != root.created {
        differ.push("created");
    }
    if prior.message != root.message {
        differ.push("message");
    }
    if prior.user != root.user {
        differ.push("user");
    }
    differ
}
