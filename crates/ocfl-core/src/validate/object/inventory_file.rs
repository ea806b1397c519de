//! Reading one inventory file (in the object root or a version directory): parse it, pass
//! on the parser's findings tagged with the file's location, and check its sidecar.

use super::{ObjectFs, location, sidecar};
use crate::inventory::{Inventory, parse_inventory};
use crate::sidecar::INVENTORY_FILE;
use crate::storage::{Entry, EntryKind};
use crate::validate::code::{Code, Finding};
use crate::validate::report::ObjectReport;

/// An inventory file as found in the object.
pub(super) struct InventoryFile {
    /// The directory holding it, relative to the object root (`""` for the root, `"v1"`).
    pub dir: String,
    /// Its raw bytes (kept for the root and head comparison, E064).
    pub bytes: Vec<u8>,
    /// The parsed inventory, when its structure could be recovered.
    pub inventory: Option<Inventory>,
    /// Names of the files in `dir` accounted for as this inventory's sidecar.
    pub sidecars: Vec<String>,
}

impl InventoryFile {
    /// `inventory.json` or `v1/inventory.json`.
    pub fn location(&self) -> String {
        location(&self.dir, INVENTORY_FILE)
    }
}

/// Loads `dir/inventory.json` when `entries` (the listing of `dir`) shows it as a regular
/// file. Returns `None` when it is absent or unreadable, after reporting why if it exists
/// but cannot be used; the caller reports the absence (E063 or W010).
pub(super) fn load(
    object: &ObjectFs<'_>,
    dir: &str,
    entries: &[Entry],
    report: &mut ObjectReport,
) -> Option<InventoryFile> {
    let path = location(dir, INVENTORY_FILE);
    let entry = entries.iter().find(|e| e.name == INVENTORY_FILE)?;
    if entry.kind != EntryKind::File {
        report.add(Code::E033, format!("{path}: is not a regular file"));
        return None;
    }
    let bytes = match object.read(&path) {
        Ok(bytes) => bytes,
        Err(e) => {
            report.add(Code::E033, format!("{path}: cannot be read: {e}"));
            return None;
        }
    };
    let parsed = parse_inventory(&bytes);
    for finding in parsed.findings {
        report.push(Finding::new(
            finding.code,
            format!("{path}: {}", finding.message),
        ));
    }
    let algorithm = parsed.inventory.as_ref().map(|i| i.digest_algorithm);
    let sidecars = sidecar::check(object, dir, entries, &bytes, algorithm, report);
    Some(InventoryFile {
        dir: dir.to_owned(),
        bytes,
        inventory: parsed.inventory,
        sidecars,
    })
}

/// Whether `name` looks like an inventory sidecar (`inventory.json.<anything>`).
pub(super) fn is_sidecar_name(name: &str) -> bool {
    name.strip_prefix(INVENTORY_FILE)
        .and_then(|rest| rest.strip_prefix('.'))
        .is_some_and(|algorithm| !algorithm.is_empty())
}

/// Whether `name` in a directory whose inventory is `inventory` is accounted for as the
/// inventory or its sidecar. When there is no inventory, every sidecar-like name counts:
/// the missing inventory is the finding, not its leftovers.
pub(super) fn is_accounted(name: &str, inventory: Option<&InventoryFile>) -> bool {
    name == INVENTORY_FILE
        || match inventory {
            Some(file) => file.sidecars.iter().any(|s| s == name),
            None => is_sidecar_name(name),
        }
}
