//! The check after an update of an existing object: what the run wrote, read back from the
//! object, instead of a validation of every file of every version (docs/durability.md,
//! section 9, "The check after an update").
//!
//! The object was validated before the run wrote anything (`ocfl.build-stage`), and an
//! update changes nothing of it but this: it adds its version directory (one rename, or the
//! object-store protocol's writes below the version it claimed) and replaces the root
//! inventory, its sidecar and, on a specification upgrade, the declaration. Those are what
//! is checked here.

use std::collections::BTreeSet;

use ocfl_core::digest::Digest;
use ocfl_core::namaste::Declaration;
use ocfl_core::sidecar::{INVENTORY_FILE, sidecar_contents};
use ocfl_core::storage::{EntryKind, Storage, StorageError, join};
use ocfl_plan::plan::{Action, Plan};

/// The content files `plan` puts into the object, where they end up, with their digests:
/// copies land in the work area and move in with their version (rename protocol), uploads
/// land in place.
pub(crate) fn placed_content(plan: &Plan) -> Vec<(&Digest, String)> {
    let moved = plan.steps.iter().find_map(|s| match &s.action {
        Action::MoveIn { from, to, .. } => Some((from.as_str(), to.as_str())),
        _ => None,
    });
    plan.steps
        .iter()
        .filter_map(|step| match (&step.action, moved) {
            (Action::Copy { digest, path, .. }, Some((from, to))) => path
                .strip_prefix(from)
                .map(|rest| (digest, format!("{to}{rest}"))),
            (Action::Upload { digest, path }, _) => Some((digest, path.clone())),
            _ => None,
        })
        .collect()
}

/// Checks, on `fs`, what `plan` (an update of an existing object, whose root inventory the
/// caller has found to be the plan's, byte for byte) wrote: the root sidecar is the plan's;
/// the object root declares the plan's specification version and no other, and holds no
/// version after the plan's; the version directory holds exactly the plan's inventory
/// (`holds_inventory` compares a file with it), its sidecar and the content files the plan placed (each present;
/// the caller reads their bytes back when asked to), and no empty directory.
///
/// `superseded`: another writer has installed a later version since (object stores only):
/// the root's files are then that version's business, and only the version directory is
/// checked. Returns what is wrong, if anything.
pub(crate) fn check_written(
    fs: &dyn Storage,
    plan: &Plan,
    superseded: bool,
    holds_inventory: impl Fn(&str) -> Result<bool, crate::refusal::ActivityError>,
) -> Result<Option<String>, crate::refusal::ActivityError> {
    let version_dir = join(&plan.object_path, &plan.version.to_string());
    let sidecar = plan.sidecar_name();
    let expected_sidecar = sidecar_contents(&plan.inventory_digest);
    let sidecar_is_the_plans = |dir: &str| -> Result<Option<String>, StorageError> {
        let path = join(dir, &sidecar);
        match fs.read(&path) {
            Ok(bytes) if bytes == expected_sidecar.as_bytes() => Ok(None),
            Ok(_) => Ok(Some(format!("{path} is not the sidecar this update wrote"))),
            Err(e) if e.is_not_found() => Ok(Some(format!("{path} is missing"))),
            Err(e) => Err(e),
        }
    };
    if !superseded {
        if let Some(wrong) = sidecar_is_the_plans(&plan.object_path)? {
            return Ok(Some(wrong));
        }
        let declaration = Declaration::object(plan.spec_version).file_name();
        let root = fs.list(&plan.object_path)?;
        let declared: Vec<&str> = root
            .iter()
            .map(|e| e.name.as_str())
            .filter(|name| name.starts_with("0="))
            .collect();
        if declared != [declaration.as_str()] {
            return Ok(Some(format!(
                "{}: declares {declared:?} instead of {declaration} alone",
                plan.object_path
            )));
        }
        if let Some(later) = plan.version.next().ok().map(|v| v.to_string())
            && root.iter().any(|e| e.name == later)
        {
            return Ok(Some(format!(
                "{}: holds {later}, a version after the one this update wrote",
                plan.object_path
            )));
        }
    }
    let version_inventory = join(&version_dir, INVENTORY_FILE);
    match holds_inventory(&version_inventory) {
        Ok(true) => {}
        Ok(false) => {
            return Ok(Some(format!(
                "{version_inventory} is not the inventory this update wrote"
            )));
        }
        Err(error) if fs.kind_if_exists(&version_inventory)?.is_none() => {
            drop(error);
            return Ok(Some(format!("{version_inventory} is missing")));
        }
        Err(error) => return Err(error),
    }
    if let Some(wrong) = sidecar_is_the_plans(&version_dir)? {
        return Ok(Some(wrong));
    }
    let mut expected: BTreeSet<String> = placed_content(plan)
        .into_iter()
        .map(|(_, path)| path)
        .collect();
    expected.insert(version_inventory);
    expected.insert(join(&version_dir, &sidecar));
    let mut found = BTreeSet::new();
    let mut dirs = vec![version_dir];
    while let Some(dir) = dirs.pop() {
        let entries = fs.list(&dir)?;
        if entries.is_empty() {
            return Ok(Some(format!("{dir} is an empty directory")));
        }
        for entry in entries {
            let path = join(&dir, &entry.name);
            match entry.kind {
                EntryKind::File => {
                    found.insert(path);
                }
                EntryKind::Directory => dirs.push(path),
                _ => return Ok(Some(format!("{path} is neither a file nor a directory"))),
            }
        }
    }
    if let Some(stray) = found.difference(&expected).next() {
        return Ok(Some(format!("{stray} was not written by this update")));
    }
    if let Some(missing) = expected.difference(&found).next() {
        return Ok(Some(format!("{missing} is missing")));
    }
    Ok(None)
}
