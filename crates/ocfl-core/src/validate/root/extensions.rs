//! The storage root's `extensions/` directory (E112, W016) and the registered names.

use crate::storage::{EntryKind, Storage, join};
use crate::validate::registered_extensions::REGISTERED_EXTENSIONS;
use crate::validate::{Code, ObjectReport};

/// The registered extensions that define an arrangement of objects under a storage root:
/// the only values `ocfl_layout.json` may name (E071). 0011 maps logical paths, not ids.
pub(super) const STORAGE_LAYOUT_EXTENSIONS: &[&str] = &[
    "0002-flat-direct-storage-layout",
    "0003-hash-and-id-n-tuple-storage-layout",
    "0004-hashed-n-tuple-storage-layout",
    "0006-flat-omit-prefix-storage-layout",
    "0007-n-tuple-omit-prefix-storage-layout",
    "0010-differential-n-tuple-omit-prefix-storage-layout",
    "0012-hash-and-no-prefix-id-n-tuple-storage-layout",
];

/// The name of the storage root's extensions directory.
pub(super) const EXTENSIONS_DIR: &str = "extensions";

/// Checks the entries of `extensions/`. The contents of each extension directory belong to
/// its extension and are not inspected, except that it must not be empty (E073).
pub(super) fn check_extensions_dir(storage: &dyn Storage, report: &mut ObjectReport) {
    let entries = match storage.list(EXTENSIONS_DIR) {
        Ok(entries) => entries,
        Err(err) => {
            report.add(
                Code::E112,
                format!("{EXTENSIONS_DIR}/ cannot be listed: {err}"),
            );
            return;
        }
    };
    if entries.is_empty() {
        report.add(
            Code::E073,
            format!("{EXTENSIONS_DIR}/ is an empty directory"),
        );
    }
    for entry in entries {
        let path = join(EXTENSIONS_DIR, &entry.name);
        match entry.kind {
            EntryKind::Directory => {
                if !REGISTERED_EXTENSIONS.contains(&entry.name.as_str()) {
                    report.add(
                        Code::W016,
                        format!(
                            "{path}: {:?} is not a registered extension name",
                            entry.name
                        ),
                    );
                }
                if storage.list(&path).is_ok_and(|inside| inside.is_empty()) {
                    report.add(Code::E073, format!("{path} is an empty directory"));
                }
            }
            EntryKind::Symlink => report.add(
                Code::E090,
                format!("{path} is a symbolic link; links are not allowed in a storage root"),
            ),
            EntryKind::File | EntryKind::Other => report.add(
                Code::E112,
                format!("{path} is a file; {EXTENSIONS_DIR}/ may hold only extension directories"),
            ),
        }
    }
}
