//! The object's `extensions/` directory (E067, W013).

use super::ObjectFs;
use crate::storage::EntryKind;
use crate::validate::code::Code;
use crate::validate::registered_extensions::REGISTERED_EXTENSIONS;
use crate::validate::report::ObjectReport;

/// Checks the entries of `extensions/`: only directories, preferably registered names.
/// Extension contents are the extensions' business and are not looked into.
pub(super) fn check(object: &ObjectFs<'_>, report: &mut ObjectReport) {
    let entries = match object.list("extensions") {
        Ok(entries) => entries,
        Err(e) => {
            report.add(Code::E067, format!("extensions: cannot be listed: {e}"));
            return;
        }
    };
    for entry in entries {
        let name = &entry.name;
        match entry.kind {
            EntryKind::Directory if REGISTERED_EXTENSIONS.contains(&name.as_str()) => {}
            EntryKind::Directory => report.add(
                Code::W013,
                format!("extensions/{name}: not a registered extension name"),
            ),
            EntryKind::Symlink => report.add(
                Code::E090,
                format!("extensions/{name}: symbolic links are not allowed in an object"),
            ),
            EntryKind::File | EntryKind::Other => report.add(
                Code::E067,
                format!("extensions/{name}: only extension directories are allowed here"),
            ),
        }
    }
}
