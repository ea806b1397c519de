//! Version directories: their sequence against the root inventory (E008-E010, E040, E046)
//! and what each one holds (E015, E016, W002, W010).

use foldhash::HashSet;

use super::ObjectFs;
use super::inventories::CrossCheck;
use super::inventory_file::{self, InventoryFile, Summary, is_accounted};
use super::object_root::VersionDirName;
use super::redundant::Redundancy;
use crate::SpecVersion;
use crate::inventory::Inventory;
use crate::storage::{CLAIM_OWNER, Entry, EntryKind, claim_run};
use crate::validate::code::{Code, Finding};
use crate::validate::report::ObjectReport;
use crate::version_num::VersionNum;

/// One version directory as found.
pub(super) struct VersionDir {
    /// The directory name (`v1`).
    pub name: String,
    /// Its version number.
    pub number: VersionNum,
    /// Its inventory, when present and readable.
    pub inventory: Option<InventoryFile>,
    /// The findings of comparing its inventory with the root's, made when it was loaded and
    /// reported with the other cross-inventory checks (see `inventories::check`).
    pub cross_findings: Vec<Finding>,
    /// The content directory's path relative to the object root (`v1/content`), when the
    /// version directory has one.
    pub content_dir: Option<String>,
    /// Whether the root inventory's manifest stores content in this version (unknown
    /// without a root inventory).
    pub adds_content: Option<bool>,
}

/// Checks the version directories against each other and against the root inventory.
pub(super) fn check_sequence(
    object: &ObjectFs<'_>,
    dirs: &[VersionDirName],
    root: Option<&Inventory>,
    report: &mut ObjectReport,
) {
    if dirs.is_empty() {
        report.add(Code::E008, "object root has no version directories");
        return;
    }
    let Some(root) = root else {
        // Without an inventory, the directories alone must still count 1, 2, 3...
        for (expected, dir) in (1u32..).zip(dirs) {
            if dir.number.number() != expected {
                let code = if expected == 1 {
                    Code::E009
                } else {
                    Code::E010
                };
                report.add(
                    code,
                    format!(
                        "{}: version directories must be numbered 1, 2, 3... without gaps",
                        dir.name
                    ),
                );
                break;
            }
        }
        return;
    };
    let dir_names: HashSet<&str> = dirs.iter().map(|d| d.name.as_str()).collect();
    for number in root.versions.keys() {
        let name = number.to_string();
        if !dir_names.contains(name.as_str()) {
            report.add(
                Code::E010,
                format!(
                    "{name}: listed in inventory.json but there is no version directory {name}"
                ),
            );
        }
    }
    let inventory_names: HashSet<String> = root.versions.keys().map(|v| v.to_string()).collect();
    for dir in dirs {
        if !inventory_names.contains(&dir.name) {
            report.add(
                Code::E046,
                format!(
                    "{}: version directory is not a version of inventory.json (head {}){}",
                    dir.name,
                    root.head,
                    claim(object, &dir.name)
                ),
            );
        }
    }
    if let Some(last) = dirs.last()
        && last.name != root.head.to_string()
    {
        report.add(
            Code::E040,
            format!(
                "inventory.json: head is {} but the highest version directory is {}",
                root.head, last.name
            ),
        );
    }
}

/// What a version directory's claim says of it, for the message of a version directory the
/// root inventory does not name: on an object store, the update that created
/// `vN/inventory.json` with a create-only write records itself in the key's metadata
/// (`docs/durability.md`, section 11.4): an update in progress, or one that died before it
/// committed. Nothing on a storage without metadata.
fn claim(object: &ObjectFs<'_>, version: &str) -> String {
    let path = object.path(&format!("{version}/inventory.json"));
    let Ok(info) = object.storage.file_info(&path) else {
        return String::new();
    };
    match info.metadata.get(CLAIM_OWNER) {
        Some(owner) => format!(
            "; claimed by update run {} ({owner}): an update in progress, or one that stopped \
             before it committed (resume or abandon that run; once it is known to be dead, \
             removing {version}/ releases the claim)",
            claim_run(owner)
        ),
        None => String::new(),
    }
}

/// Lists every version directory, loads its inventory, and checks what it holds. The
/// content directory is the root inventory's (or, without one, the latest version
/// inventory's); differences between inventories are reported by the cross-inventory checks.
///
/// A prior inventory (one that is not a copy of the root's) is compared with the root's as
/// soon as it is loaded, and then dropped if it is redundant with it (see `redundant.rs`):
/// the parsed inventories alive at once are then the root's and the one being loaded, not
/// every version's. `spec` is the object's specification version.
pub(super) fn check_each(
    object: &ObjectFs<'_>,
    dirs: &[VersionDirName],
    root_file: Option<&InventoryFile>,
    spec: SpecVersion,
    report: &mut ObjectReport,
) -> Vec<VersionDir> {
    let root = root_file.and_then(|f| f.inventory.as_ref());
    let against_root = root.map(|r| (CrossCheck::new(r, spec), Redundancy::new(r)));
    // One version directory at a time, so that at most one prior inventory is parsed beside
    // the root's before it is reduced (a large one is still parsed while its sidecar digest is
    // computed on another thread, see `inventory_file::load`). Loading them in parallel held
    // several at once; it was faster only for one object of several large versions, and
    // slower for a root of many small objects, which the storage root walk already validates
    // in parallel (`cargo xtask bench validate --scale small`: 1.3-1.5x the time).
    let loaded: Vec<(VersionDir, Vec<Entry>, ObjectReport)> = dirs
        .iter()
        .map(|dir| {
            let mut findings = ObjectReport::default();
            let listed = object
                .dir
                .open_dir(&dir.name)
                .and_then(|handle| Ok((handle.list()?, handle)));
            let (entries, mut inventory) = match listed {
                Ok((entries, handle)) => {
                    let inventory = inventory_file::load(
                        &*handle,
                        &dir.name,
                        &entries,
                        root_file,
                        &mut findings,
                    );
                    (entries, inventory)
                }
                Err(e) => {
                    findings.add(Code::E015, format!("{}: cannot be listed: {e}", dir.name));
                    (Vec::new(), None)
                }
            };
            let mut cross_findings = Vec::new();
            match (&mut inventory, &against_root) {
                (None, _) => findings.add(
                    Code::W010,
                    format!("{}: version directory has no inventory.json", dir.name),
                ),
                (Some(file), Some((cross, redundancy))) => {
                    if let Some(prior) = &file.inventory {
                        cross_findings = cross.findings(&file.location(), prior);
                        if redundancy.holds(prior, dir.number.number()) {
                            file.inventory = None;
                            file.reduced = true;
                        }
                    }
                }
                (Some(_), None) => {}
            }
            let version = VersionDir {
                name: dir.name.clone(),
                number: dir.number,
                inventory,
                cross_findings,
                content_dir: None,
                adds_content: None,
            };
            (version, entries, findings)
        })
        .collect();
    let mut listed: Vec<(VersionDir, Vec<Entry>)> = Vec::with_capacity(loaded.len());
    for (version, entries, findings) in loaded {
        report.errors.extend(findings.errors);
        report.warnings.extend(findings.warnings);
        listed.push((version, entries));
    }

    let content_name = match root {
        Some(root) => root.content_directory(),
        None => listed
            .iter()
            .rev()
            .find_map(|(v, _)| v.inventory.as_ref()?.summary.as_ref())
            .map_or("content", Summary::content_directory),
    }
    .to_owned();
    let adding = root.map(|r| versions_adding_content(r, &content_name));

    listed
        .into_iter()
        .map(|(mut version, entries)| {
            check_entries(&mut version, &entries, &content_name, report);
            version.adds_content = adding.as_ref().map(|a| a.contains(version.name.as_str()));
            if version.adds_content == Some(true) && version.content_dir.is_none() {
                report.add(
                    Code::E016,
                    format!(
                        "{}: the version adds content but has no {content_name} directory",
                        version.name
                    ),
                );
            }
            version
        })
        .collect()
}

/// Sorts the entries of one version directory: inventory, sidecar, content directory, and
/// anything else (files are errors, other directories are ignored with a warning).
fn check_entries(
    version: &mut VersionDir,
    entries: &[Entry],
    content_name: &str,
    report: &mut ObjectReport,
) {
    let dir = &version.name;
    for entry in entries {
        let name = &entry.name;
        if is_accounted(name, version.inventory.as_ref()) {
            continue;
        }
        match entry.kind {
            EntryKind::Directory if name == content_name => {
                version.content_dir = Some(format!("{dir}/{name}"));
            }
            EntryKind::Directory => report.add(
                Code::W002,
                format!("{dir}/{name}: version directories should hold no directory but {content_name}"),
            ),
            EntryKind::Symlink => report.add(
                Code::E090,
                format!("{dir}/{name}: symbolic links are not allowed in an object"),
            ),
            EntryKind::File | EntryKind::Other => report.add(
                Code::E015,
                format!("{dir}/{name}: version directories may hold no file but the inventory and its sidecar"),
            ),
        }
    }
}

/// Names of the version directories in which `inventory`'s manifest stores content.
fn versions_adding_content<'a>(inventory: &'a Inventory, content_name: &str) -> HashSet<&'a str> {
    inventory
        .manifest
        .values()
        .flatten()
        .filter_map(|path| {
            let mut elements = path.elements();
            let version = elements.next()?;
            (elements.next()? == content_name).then_some(version)
        })
        .collect()
}
