//! The content files: walking every version's content directory (E024, E089, E090, W003) and
//! matching what is found against the manifests (E023 unreferenced files, E092 missing ones).

use foldhash::{HashMap, HashMapExt, HashSet};

use super::ObjectFs;
use super::inventory_file::InventoryFile;
use super::version_dirs::VersionDir;
use crate::inventory::Inventory;
use crate::storage::EntryKind;
use crate::validate::code::Code;
use crate::validate::report::ObjectReport;

/// The regular files found in content directories: content path (relative to the object
/// root) -> number of the version directory holding it. These are the only content files
/// validation ever opens. A hash map: it is probed once per manifest path and paths share long
/// prefixes, which makes ordered-map comparisons costly; reports sort what they print.
pub(super) type ContentFiles = HashMap<String, u32>;

/// Lists every version's content directory recursively, never following links.
pub(super) fn walk(
    object: &ObjectFs<'_>,
    versions: &[VersionDir],
    report: &mut ObjectReport,
) -> ContentFiles {
    let mut files = ContentFiles::new();
    for version in versions {
        let Some(content_dir) = &version.content_dir else {
            continue;
        };
        let number = version.number.number();
        let found_before = files.len();
        let mut pending = vec![content_dir.clone()];
        while let Some(dir) = pending.pop() {
            let entries = match object.list(&dir) {
                Ok(entries) => entries,
                Err(e) => {
                    report.add(Code::E023, format!("{dir}: cannot be listed: {e}"));
                    continue;
                }
            };
            if entries.is_empty() && dir != *content_dir {
                report.add(
                    Code::E024,
                    format!("{dir}: empty directory inside a content directory"),
                );
            }
            for entry in entries {
                let path = format!("{dir}/{}", entry.name);
                match entry.kind {
                    EntryKind::File => {
                        files.insert(path, number);
                    }
                    EntryKind::Directory => pending.push(path),
                    EntryKind::Symlink => report.add(
                        Code::E090,
                        format!(
                            "{path}: symbolic links are not allowed in an object (not followed)"
                        ),
                    ),
                    EntryKind::Other => report.add(
                        Code::E089,
                        format!("{path}: not a regular file or directory (device, socket or FIFO)"),
                    ),
                }
            }
        }
        // A content directory holding files the manifest does not name is E023's business;
        // W003 is for one that holds nothing at all.
        if files.len() == found_before && version.adds_content == Some(false) {
            report.add(
                Code::W003,
                format!("{content_dir}: the version adds no content, so it should have no content directory"),
            );
        }
    }
    files
}

/// Checks that every content file is in the manifests and every manifest path is a content
/// file. A version directory's inventory covers the content of its own and earlier versions;
/// problems the root inventory already shows are not repeated for each prior inventory.
pub(super) fn check_references(
    root: Option<&InventoryFile>,
    versions: &[VersionDir],
    files: &ContentFiles,
    report: &mut ObjectReport,
) {
    let root_inventory = root.and_then(|f| f.inventory.as_ref());
    let root_paths = root_inventory.map(manifest_paths);
    if let Some(inventory) = root_inventory {
        check_one("inventory.json", inventory, u32::MAX, files, None, report);
    }
    for version in versions {
        let Some(file) = &version.inventory else {
            continue;
        };
        let Some(inventory) = &file.inventory else {
            continue;
        };
        check_one(
            &file.location(),
            inventory,
            version.number.number(),
            files,
            root_paths.as_ref(),
            report,
        );
    }
}

/// Checks one inventory against the content files of versions up to `up_to`. `root_paths`
/// (the root manifest's paths, when checking a prior inventory) suppresses what the root's
/// own check already reported: missing files it names, and files it does not name.
fn check_one(
    location: &str,
    inventory: &Inventory,
    up_to: u32,
    files: &ContentFiles,
    root_paths: Option<&HashSet<&str>>,
    report: &mut ObjectReport,
) {
    let in_root = |path: &str| root_paths.is_some_and(|r| r.contains(path));
    let paths = manifest_paths(inventory);
    let mut missing: Vec<&str> = paths
        .iter()
        .copied()
        .filter(|p| !files.contains_key(*p) && !in_root(p))
        .collect();
    missing.sort_unstable();
    for path in missing {
        report.add(
            Code::E092,
            format!(
                "{location}: manifest names {path}, which is not a file in a content directory"
            ),
        );
    }
    let mut unreferenced: Vec<&str> = files
        .iter()
        .filter(|(path, version)| {
            **version <= up_to
                && !paths.contains(path.as_str())
                && (root_paths.is_none() || in_root(path))
        })
        .map(|(path, _)| path.as_str())
        .collect();
    unreferenced.sort_unstable();
    for path in unreferenced {
        report.add(
            Code::E023,
            format!("{path}: content file is not in the manifest of {location}"),
        );
    }
}

fn manifest_paths(inventory: &Inventory) -> HashSet<&str> {
    inventory
        .manifest
        .values()
        .flatten()
        .map(|p| p.as_str())
        .collect()
}
