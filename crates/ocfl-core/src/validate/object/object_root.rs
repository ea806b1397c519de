//! What may sit in the object root (E001, E090, E104, E105): the declaration, the inventory
//! and its sidecar, version directories, `logs/` and `extensions/`.

use super::inventory_file::{InventoryFile, is_accounted};
use crate::SpecVersion;
use crate::namaste::is_namaste_name;
use crate::storage::{Entry, EntryKind};
use crate::validate::code::Code;
use crate::validate::report::ObjectReport;
use crate::version_num::VersionNum;

/// The parts of the object root that later checks walk into.
pub(super) struct ObjectRoot {
    /// The version directories, sorted by version number.
    pub version_dirs: Vec<VersionDirName>,
    /// Whether an `extensions` directory is present.
    pub has_extensions: bool,
}

/// A directory of the object root whose name is a version number.
#[derive(Debug, Clone)]
pub(super) struct VersionDirName {
    /// The directory name as found (`v1`, `v0001`).
    pub name: String,
    /// Its number and padding.
    pub number: VersionNum,
}

/// Classifies the object root's `entries`, reporting anything that does not belong.
pub(super) fn classify(
    entries: &[Entry],
    inventory: Option<&InventoryFile>,
    spec: SpecVersion,
    report: &mut ObjectReport,
) -> ObjectRoot {
    let mut root = ObjectRoot {
        version_dirs: Vec::new(),
        has_extensions: false,
    };
    for entry in entries {
        let name = entry.name.as_str();
        if is_namaste_name(name) || name.starts_with("0=") || is_accounted(name, inventory) {
            // The declaration and the inventory files are checked on their own.
            continue;
        }
        match entry.kind {
            EntryKind::Symlink => {
                report.add(
                    Code::E090,
                    format!("{name}: symbolic links are not allowed in an object"),
                );
                continue;
            }
            EntryKind::Directory => {}
            EntryKind::File | EntryKind::Other => {
                report.add(
                    Code::E001,
                    format!("{name}: unexpected file in the object root"),
                );
                continue;
            }
        }
        if name == "logs" {
            continue;
        }
        if name == "extensions" {
            root.has_extensions = true;
            continue;
        }
        match VersionNum::parse(name) {
            Ok(number) => root.version_dirs.push(VersionDirName {
                name: name.to_owned(),
                number,
            }),
            Err(_) => {
                let (code, why) = misnamed_version(name, spec);
                report.add(
                    code,
                    format!("{name}: unexpected directory in the object root{why}"),
                );
            }
        }
    }
    root.version_dirs.sort_by_key(|v| v.number);
    root
}

/// The code for an unexpected directory: 1.1 has specific codes for a version directory
/// named without its `v` (E104) or numbered zero (E105); 1.0 only has E001.
fn misnamed_version(name: &str, spec: SpecVersion) -> (Code, &'static str) {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if spec >= SpecVersion::V1_1 {
        if digits(name) {
            return (
                Code::E104,
                " (a version directory name must be v followed by the version number)",
            );
        }
        if name
            .strip_prefix('v')
            .is_some_and(|d| digits(d) && d.bytes().all(|b| b == b'0'))
        {
            return (Code::E105, " (version numbers start at 1)");
        }
    }
    (Code::E001, "")
}
