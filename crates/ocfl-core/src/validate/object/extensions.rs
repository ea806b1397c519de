//! The object's `extensions/` directory (E067, W013).

use super::ObjectFs;
use crate::storage::EntryKind;
use crate::validate::code::Code;
use crate::validate::report::ObjectReport;

/// The extension names registered in the OCFL extensions repository
/// (https://ocfl.github.io/extensions/), as of its January 2026 state.
pub(super) const REGISTERED_EXTENSIONS: &[&str] = &[
    "0001-digest-algorithms",
    "0002-flat-direct-storage-layout",
    "0003-hash-and-id-n-tuple-storage-layout",
    "0004-hashed-n-tuple-storage-layout",
    "0005-mutable-head",
    "0006-flat-omit-prefix-storage-layout",
    "0007-n-tuple-omit-prefix-storage-layout",
    "0008-schema-registry",
    "0009-digest-algorithms",
    "0010-differential-n-tuple-omit-prefix-storage-layout",
    "0011-direct-clean-path-layout",
    "0012-hash-and-no-prefix-id-n-tuple-storage-layout",
];

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
