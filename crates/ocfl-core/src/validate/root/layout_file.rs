//! `ocfl_layout.json` (E070, E071) and the layout it declares.

use serde_json::Value;

use super::extensions::STORAGE_LAYOUT_EXTENSIONS;
use crate::layout::{LAYOUT_FILE, Layout, LayoutError, config_path};
use crate::storage::{Entry, EntryKind, Storage};
use crate::validate::registered_extensions::REGISTERED_EXTENSIONS;
use crate::validate::{Code, ObjectReport};

/// Checks `ocfl_layout.json` if the root has one and returns the layout it declares, when
/// that layout is well-formed and one this crate can map ids with. A root without the file
/// is valid: the specification makes it optional, and then no placement can be checked.
pub(super) fn check_layout_file(
    storage: &dyn Storage,
    entries: &[Entry],
    report: &mut ObjectReport,
) -> Option<Layout> {
    let entry = entries.iter().find(|e| e.name == LAYOUT_FILE)?;
    if entry.kind != EntryKind::File {
        report.add(Code::E070, format!("{LAYOUT_FILE} is not a regular file"));
        return None;
    }
    let bytes = match storage.read(LAYOUT_FILE) {
        Ok(bytes) => bytes,
        Err(err) => {
            report.add(Code::E070, format!("{LAYOUT_FILE} cannot be read: {err}"));
            return None;
        }
    };
    let extension = extension_name(&bytes, report)?;
    if !STORAGE_LAYOUT_EXTENSIONS.contains(&extension.as_str()) {
        let why = if REGISTERED_EXTENSIONS.contains(&extension.as_str()) {
            "is a registered extension but does not define a storage layout"
        } else {
            "is not a registered storage layout extension name"
        };
        report.add(
            Code::E071,
            format!("{LAYOUT_FILE}: extension {extension:?} {why}"),
        );
        return None;
    }
    configured_layout(storage, &extension, report)
}

/// The `extension` value of a well-formed `ocfl_layout.json`; E070 otherwise.
fn extension_name(bytes: &[u8], report: &mut ObjectReport) -> Option<String> {
    let json: Value = match serde_json::from_slice(bytes) {
        Ok(json) => json,
        Err(err) => {
            report.add(
                Code::E070,
                format!("{LAYOUT_FILE} is not UTF-8 JSON: {err}"),
            );
            return None;
        }
    };
    let Some(object) = json.as_object() else {
        report.add(Code::E070, format!("{LAYOUT_FILE} is not a JSON object"));
        return None;
    };
    let mut problems = Vec::new();
    for key in ["extension", "description"] {
        match object.get(key) {
            None => problems.push(format!("missing key {key:?}")),
            Some(Value::String(_)) => {}
            Some(_) => problems.push(format!("{key:?} is not a string")),
        }
    }
    if !problems.is_empty() {
        report.add(
            Code::E070,
            format!("{LAYOUT_FILE}: {}", problems.join(", ")),
        );
    }
    object
        .get("extension")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The layout configured by `extensions/<name>/config.json` (or its defaults without one).
fn configured_layout(
    storage: &dyn Storage,
    extension: &str,
    report: &mut ObjectReport,
) -> Option<Layout> {
    // `extension` is a registered name (checked by the caller), so this path stays inside
    // `extensions/`.
    let config_path = config_path(extension);
    let config = match storage.read(&config_path) {
        Ok(bytes) => Some(bytes),
        Err(err) if err.is_not_found() => None,
        Err(err) => {
            report.add(Code::E083, format!("{config_path} cannot be read: {err}"));
            return None;
        }
    };
    match Layout::from_config(extension, config.as_deref()) {
        Ok(layout) => Some(layout),
        // A registered layout this crate does not implement (0010, 0012): the root may be
        // perfectly valid, we just cannot check where its objects are.
        Err(LayoutError::Unsupported(_)) => None,
        // Without a usable configuration the declared layout maps no id to any path, so
        // the root has no deterministic id-to-path mapping (E083).
        Err(err) => {
            report.add(
                Code::E083,
                format!("{config_path}: the declared layout cannot be configured: {err}"),
            );
            None
        }
    }
}
