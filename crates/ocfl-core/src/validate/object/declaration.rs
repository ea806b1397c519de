//! The object conformance declaration `0=ocfl_object_1.x` (E002-E007).

use super::ObjectFs;
use crate::SpecVersion;
use crate::namaste::{Declaration, DeclarationKind, is_namaste_name};
use crate::storage::{Entry, EntryKind};
use crate::validate::code::Code;
use crate::validate::report::ObjectReport;

/// Checks the declaration files among the object root's `entries` and returns the declared
/// specification version when one valid object declaration names it.
pub(super) fn check(
    object: &ObjectFs<'_>,
    entries: &[Entry],
    report: &mut ObjectReport,
) -> Option<SpecVersion> {
    let candidates: Vec<&Entry> = entries
        .iter()
        .filter(|e| is_namaste_name(&e.name) || e.name.starts_with("0="))
        .collect();
    match candidates.len() {
        0 => report.add(
            Code::E003,
            "object root has no declaration file 0=ocfl_object_1.x",
        ),
        1 => {}
        n => report.add(
            Code::E003,
            format!(
                "object root has {n} declaration files ({}); exactly one is allowed",
                names(&candidates)
            ),
        ),
    }
    let mut declared = None;
    for entry in candidates {
        if let Some(version) = check_one(object, entry, report) {
            declared.get_or_insert(version);
        }
    }
    declared
}

/// Checks one `N=...` file; returns its version when it is a valid object declaration.
fn check_one(
    object: &ObjectFs<'_>,
    entry: &Entry,
    report: &mut ObjectReport,
) -> Option<SpecVersion> {
    let name = &entry.name;
    let Some(declaration) = Declaration::parse_file_name(name) else {
        let (code, why) = if !name.starts_with("0=") {
            (Code::E005, "T must be 0")
        } else if name == "0=" {
            (Code::E004, "it does not have the form T=dvalue")
        } else {
            (
                Code::E006,
                "dvalue must be ocfl_object_ followed by a known OCFL version (1.0, 1.1)",
            )
        };
        report.add(code, format!("declaration file {name:?}: {why}"));
        return None;
    };
    if declaration.kind != DeclarationKind::Object {
        report.add(
            Code::E006,
            format!("{name}: is a storage root declaration, not ocfl_object_..."),
        );
        return None;
    }
    if entry.kind == EntryKind::Symlink {
        report.add(
            Code::E090,
            format!("{name}: symbolic links are not allowed in an object (not followed)"),
        );
    }
    if entry.kind != EntryKind::File {
        report.add(Code::E002, format!("{name}: is not a regular file"));
        return None;
    }
    match object.read(name) {
        Ok(bytes) if declaration.contents_match(&bytes) => {}
        Ok(_) => report.add(
            Code::E007,
            format!(
                "{name}: contents must be exactly {:?}",
                declaration.contents()
            ),
        ),
        Err(e) => report.add(Code::E007, format!("{name}: cannot be read: {e}")),
    }
    Some(declaration.version)
}

fn names(entries: &[&Entry]) -> String {
    entries
        .iter()
        .map(|e| e.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
