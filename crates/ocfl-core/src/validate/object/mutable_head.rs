//! Extension 0005, mutable HEAD (which Fedora 6 writes): an object may hold, in
//! `extensions/0005-mutable-head/`, a version `N+1` that is not yet in the object root. Its
//! rules, checked here:
//!
//! - the extension directory holds `root-inventory.json.ALG` (a copy of the root
//!   inventory's sidecar when the head was created, still equal to it: otherwise the root
//!   changed under the head, a version conflict), `revisions/` and `head/`, nothing else;
//! - `revisions/` holds markers `r1`..`rM`, each a file containing exactly its own name;
//! - `head/` is a valid version directory: `inventory.json` and its sidecar (parsed with the
//!   specification's codes), whose head is the root's head plus one, whose id, algorithm and
//!   earlier versions are the root inventory's, and whose manifest keeps every root entry;
//! - every content path the head adds is below `head/CONTENT/rK/` for a revision `rK` that
//!   has a marker; every file below `head/CONTENT/` is in the manifest and every such
//!   manifest path is a file; with fixity checking, each file's digest is recomputed.
//!
//! The extension defines no codes of its own: a defect a real version directory could have
//! gets that defect's code (E023, E058/E060 through the sidecar check, E066, E092), one only
//! the extension has gets E067 (the extensions directory holding what it should not). Every
//! message starts with the path below `extensions/0005-mutable-head`.

use std::collections::{BTreeMap, BTreeSet};

use super::inventory_file;
use super::{ObjectFs, fixity};
use crate::digest::DigestAlgorithm;
use crate::inventory::Inventory;
use crate::object::mutable_head::{
    EXTENSION_DIR, HEAD_DIR, REVISIONS_DIR, ROOT_SIDECAR_PREFIX, is_head_content_location,
};
use crate::sidecar::sidecar_name;
use crate::storage::{Directory, EntryKind};
use crate::validate::code::{Code, Finding};
use crate::validate::report::ObjectReport;

/// Checks the mutable HEAD of the object, when `extensions/0005-mutable-head` exists.
/// `root` is the parsed root inventory (`None` when it could not be read: then only the
/// head's own structure is checked).
pub(super) fn check(
    object: &ObjectFs<'_>,
    root: Option<&Inventory>,
    check_fixity: bool,
    report: &mut ObjectReport,
) {
    let extensions = match object.dir.open_dir("extensions") {
        Ok(dir) => dir,
        Err(e) if e.is_not_found() => return,
        Err(e) => {
            report.add(Code::E067, format!("extensions: cannot be opened: {e}"));
            return;
        }
    };
    let extension = match extensions.open_dir(EXTENSION_NAME) {
        Ok(dir) => dir,
        Err(e) if e.is_not_found() => return,
        Err(e) => {
            report.add(
                Code::E067,
                format!("{EXTENSION_DIR}: cannot be opened: {e}"),
            );
            return;
        }
    };
    let entries = match extension.list() {
        Ok(entries) => entries,
        Err(e) => {
            report.add(
                Code::E067,
                format!("{EXTENSION_DIR}: cannot be listed: {e}"),
            );
            return;
        }
    };
    let (mut has_head, mut has_revisions, mut has_root_sidecar) = (false, false, false);
    for entry in &entries {
        let name = entry.name.as_str();
        match (name, entry.kind) {
            (HEAD_DIR, EntryKind::Directory) => has_head = true,
            (REVISIONS_DIR, EntryKind::Directory) => has_revisions = true,
            (name, EntryKind::File) if name.starts_with(ROOT_SIDECAR_PREFIX) => {
                has_root_sidecar = true;
                check_root_sidecar(object, &*extension, name, report);
            }
            (name, EntryKind::Symlink) => report.add(
                Code::E090,
                format!("{EXTENSION_DIR}/{name}: symbolic links are not allowed in an object"),
            ),
            (name, _) => report.add(
                Code::E067,
                format!("{EXTENSION_DIR}/{name}: extension 0005 allows only root-inventory.json.ALG, revisions/ and head/ here"),
            ),
        }
    }
    let missing = [
        (
            has_root_sidecar,
            "root-inventory.json.ALG, the copy of the root inventory's sidecar",
        ),
        (
            has_revisions,
            "the revisions/ directory of revision markers",
        ),
        (has_head, "the head/ version directory"),
    ];
    for (present, what) in missing {
        if !present {
            report.add(
                Code::E067,
                format!("{EXTENSION_DIR}: extension 0005 requires {what}, which is missing"),
            );
        }
    }
    let revisions = if has_revisions {
        check_revisions(&*extension, report)
    } else {
        BTreeSet::new()
    };
    if has_head {
        check_head(&*extension, root, &revisions, check_fixity, report);
    }
}

/// The extension's name, its directory below `extensions/`.
const EXTENSION_NAME: &str = "0005-mutable-head";

/// `root-inventory.json.ALG` must be the root's sidecar as it is now.
fn check_root_sidecar(
    object: &ObjectFs<'_>,
    extension: &dyn Directory,
    name: &str,
    report: &mut ObjectReport,
) {
    let algorithm = &name[ROOT_SIDECAR_PREFIX.len()..];
    let Some(algorithm) = DigestAlgorithm::from_name(algorithm) else {
        report.add(
            Code::E067,
            format!("{EXTENSION_DIR}/{name}: not a digest algorithm's sidecar name"),
        );
        return;
    };
    let copy = extension.read_file(name);
    let current = object.read(&sidecar_name(algorithm));
    match (copy, current) {
        (Ok(copy), Ok(current)) if copy == current => {}
        (Ok(_), Ok(_)) => report.add(
            Code::E067,
            format!("{EXTENSION_DIR}/{name}: differs from the root's {}: the root inventory changed after the mutable HEAD was created (a version conflict)", sidecar_name(algorithm)),
        ),
        (Err(e), _) => report.add(Code::E067, format!("{EXTENSION_DIR}/{name}: cannot be read: {e}")),
        (_, Err(e)) => report.add(
            Code::E067,
            format!("{EXTENSION_DIR}/{name}: the root's {} cannot be read to compare: {e}", sidecar_name(algorithm)),
        ),
    }
}

/// The revision numbers with a well-formed marker; each marker is checked, and the numbers
/// must run from 1 without a gap.
fn check_revisions(extension: &dyn Directory, report: &mut ObjectReport) -> BTreeSet<u64> {
    let mut numbers = BTreeSet::new();
    let listed = extension
        .open_dir(REVISIONS_DIR)
        .and_then(|dir| Ok((dir.list()?, dir)));
    let (entries, dir) = match listed {
        Ok(listed) => listed,
        Err(e) => {
            report.add(
                Code::E067,
                format!("{EXTENSION_DIR}/{REVISIONS_DIR}: cannot be listed: {e}"),
            );
            return numbers;
        }
    };
    for entry in entries {
        let name = &entry.name;
        let path = format!("{EXTENSION_DIR}/{REVISIONS_DIR}/{name}");
        let Some(number) = revision_number(name) else {
            report.add(
                Code::E067,
                format!("{path}: not a revision marker name (rN)"),
            );
            continue;
        };
        if entry.kind != EntryKind::File {
            report.add(
                Code::E067,
                format!("{path}: a revision marker must be a file"),
            );
            continue;
        }
        match dir.read_file(name) {
            Ok(bytes) if bytes == name.as_bytes() => {
                numbers.insert(number);
            }
            Ok(_) => report.add(
                Code::E067,
                format!("{path}: a revision marker must contain only {name:?}, without whitespace"),
            ),
            Err(e) => report.add(Code::E067, format!("{path}: cannot be read: {e}")),
        }
    }
    if let Some(gap) = (1..).zip(&numbers).find(|(expected, n)| expected != *n) {
        report.add(
            Code::E067,
            format!(
                "{EXTENSION_DIR}/{REVISIONS_DIR}: revision r{} has no marker although r{} has",
                gap.0, gap.1
            ),
        );
    }
    if numbers.is_empty() {
        report.add(
            Code::E067,
            format!("{EXTENSION_DIR}/{REVISIONS_DIR}: has no revision marker (r1 at least)"),
        );
    }
    numbers
}

/// `N` of a revision name `rN` (a positive number without leading zeros).
fn revision_number(name: &str) -> Option<u64> {
    let digits = name.strip_prefix('r')?;
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn check_head(
    extension: &dyn Directory,
    root: Option<&Inventory>,
    revisions: &BTreeSet<u64>,
    check_fixity: bool,
    report: &mut ObjectReport,
) {
    let head_path = format!("{EXTENSION_DIR}/{HEAD_DIR}");
    let listed = extension
        .open_dir(HEAD_DIR)
        .and_then(|dir| Ok((dir.list()?, dir)));
    let (entries, head_dir) = match listed {
        Ok(listed) => listed,
        Err(e) => {
            report.add(Code::E067, format!("{head_path}: cannot be listed: {e}"));
            return;
        }
    };
    // The parser's E042 for the head's own content paths is no defect here (see
    // `is_head_content_location`); every other finding is passed on.
    let mut parsed = ObjectReport::new(report.path.clone());
    let loaded = inventory_file::load(&*head_dir, &head_path, &entries, None, &mut parsed);
    let location_prefix = format!("{head_path}/inventory.json: ");
    for finding in parsed.errors.into_iter().chain(parsed.warnings) {
        let message = finding.message.strip_prefix(&location_prefix).unwrap_or("");
        let bare = Finding::new(finding.code, message);
        if !is_head_content_location(&bare) {
            report.push(finding);
        }
    }
    let Some(file) = loaded else {
        report.add(
            Code::E067,
            format!("{head_path}/inventory.json: missing: an active mutable HEAD has an inventory"),
        );
        return;
    };
    let Some(head) = file.inventory.as_ref() else {
        return;
    };
    let content_name = head.content_directory.as_deref().unwrap_or("content");
    let content_prefix = format!("{head_path}/{content_name}/");
    for entry in &entries {
        let name = entry.name.as_str();
        let accounted = name == "inventory.json"
            || file.sidecars.iter().any(|s| s == name)
            || (name == content_name && entry.kind == EntryKind::Directory);
        if !accounted {
            report.add(
                Code::E015,
                format!("{head_path}/{name}: not allowed in a version directory"),
            );
        }
    }
    if let Some(root) = root {
        check_against_root(&head_path, head, root, report);
    }
    // Content paths the head adds: below head/CONTENT/rK/ for a revision with a marker.
    let root_paths: BTreeSet<&str> = root
        .map(|r| r.manifest.values().flatten().map(|p| p.as_str()).collect())
        .unwrap_or_default();
    let mut expected: BTreeMap<&str, &crate::digest::Digest> = BTreeMap::new();
    for (digest, paths) in &head.manifest {
        for path in paths {
            let path = path.as_str();
            if root_paths.contains(path) {
                continue;
            }
            let Some(below) = path.strip_prefix(&content_prefix) else {
                if root.is_some() {
                    report.add(
                        Code::E067,
                        format!("{head_path}/inventory.json: manifest path {path:?} is neither in the root inventory nor below {content_prefix}rN/"),
                    );
                }
                continue;
            };
            let revision = below.split('/').next().and_then(revision_number);
            match revision {
                Some(n) if revisions.contains(&n) => {}
                _ => report.add(
                    Code::E067,
                    format!("{head_path}/inventory.json: manifest path {path:?} is not below the content directory of a revision with a marker"),
                ),
            }
            expected.insert(path, digest);
        }
    }
    // What is on disk below head/CONTENT, found by listing (never by inventory paths).
    let mut found = BTreeSet::new();
    if entries
        .iter()
        .any(|e| e.name == content_name && e.kind == EntryKind::Directory)
    {
        match head_dir.open_dir(content_name) {
            Ok(content) => walk(
                &*content,
                &content_prefix[..content_prefix.len() - 1],
                &expected,
                head.digest_algorithm,
                check_fixity,
                &mut found,
                report,
            ),
            Err(e) => report.add(
                Code::E023,
                format!("{content_prefix}: cannot be listed: {e}"),
            ),
        }
    }
    for path in expected.keys() {
        if !found.contains(*path) {
            report.add(
                Code::E092,
                format!("{path}: in the mutable HEAD's manifest but not a file in the object"),
            );
        }
    }
}

/// The head's inventory against the root's: same id and algorithm, head one further, the
/// root's versions unchanged, the root's manifest entries kept.
fn check_against_root(
    head_path: &str,
    head: &Inventory,
    root: &Inventory,
    report: &mut ObjectReport,
) {
    let at = format!("{head_path}/inventory.json");
    if head.id != root.id {
        report.add(
            Code::E067,
            format!(
                "{at}: id {:?} is not the root inventory's {:?}",
                head.id, root.id
            ),
        );
    }
    if head.digest_algorithm != root.digest_algorithm {
        report.add(
            Code::E067,
            format!(
                "{at}: digestAlgorithm {} is not the root inventory's {}",
                head.digest_algorithm, root.digest_algorithm
            ),
        );
    }
    if head.head.number() != root.head.number() + 1 {
        report.add(
            Code::E067,
            format!(
                "{at}: head {} is not the version after the root's head {} (a version conflict, or a stale mutable HEAD)",
                head.head, root.head
            ),
        );
    }
    for (number, version) in &root.versions {
        match head
            .versions
            .iter()
            .find(|(n, _)| n.number() == number.number())
        {
            Some((_, v)) if v == version => {}
            Some(_) => report.add(
                Code::E066,
                format!("{at}: version {number} differs from the root inventory's"),
            ),
            None => report.add(
                Code::E066,
                format!("{at}: version {number} of the root inventory is missing"),
            ),
        }
    }
    for (digest, paths) in &root.manifest {
        let kept = head.manifest.get(digest);
        for path in paths {
            if !kept.is_some_and(|k| k.contains(path)) {
                report.add(
                    Code::E066,
                    format!("{at}: the root manifest's {path} ({digest}) is missing"),
                );
            }
        }
    }
}

/// Lists `dir` (at object path `path`) recursively without following links: every file
/// must be in `expected`; its digest is checked when `check_fixity`.
fn walk(
    dir: &dyn Directory,
    path: &str,
    expected: &BTreeMap<&str, &crate::digest::Digest>,
    algorithm: DigestAlgorithm,
    check_fixity: bool,
    found: &mut BTreeSet<String>,
    report: &mut ObjectReport,
) {
    let entries = match dir.list() {
        Ok(entries) => entries,
        Err(e) => {
            report.add(Code::E023, format!("{path}: cannot be listed: {e}"));
            return;
        }
    };
    for entry in entries {
        let child = format!("{path}/{}", entry.name);
        match entry.kind {
            EntryKind::Directory => match dir.open_dir(&entry.name) {
                Ok(sub) => walk(
                    &*sub,
                    &child,
                    expected,
                    algorithm,
                    check_fixity,
                    found,
                    report,
                ),
                Err(e) => report.add(Code::E023, format!("{child}: cannot be listed: {e}")),
            },
            EntryKind::File => {
                let Some(digest) = expected.get(child.as_str()) else {
                    report.add(
                        Code::E023,
                        format!("{child}: a file in the mutable HEAD's content that its manifest does not name"),
                    );
                    continue;
                };
                if check_fixity {
                    let source = format!("{EXTENSION_DIR}/{HEAD_DIR}/inventory.json");
                    let claim = fixity::Claim::manifest(algorithm, digest.as_str(), &source);
                    for finding in fixity::verify_file(dir, &entry.name, &child, &[claim]) {
                        report.push(finding);
                    }
                }
                found.insert(child);
            }
            EntryKind::Symlink => report.add(
                Code::E090,
                format!("{child}: symbolic links are not allowed in an object"),
            ),
            EntryKind::Other => report.add(
                Code::E090,
                format!("{child}: not a regular file or directory"),
            ),
        }
    }
}
