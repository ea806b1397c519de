//! The root conformance declaration `0=ocfl_1.1` (E069, E075-E080).

use crate::SpecVersion;
use crate::namaste::{Declaration, DeclarationKind, is_namaste_name};
use crate::storage::{Entry, EntryKind, Storage};
use crate::validate::{Code, ObjectReport};

/// Checks the declarations among the root's `entries` and returns the declared version.
///
/// With two or more well-formed declarations (E076) the newest is returned, so that the
/// object checks that follow (E081) do not pile spurious errors on top of E076.
pub(super) fn check_root_declaration(
    storage: &dyn Storage,
    entries: &[Entry],
    report: &mut ObjectReport,
) -> Option<SpecVersion> {
    let mut declared = Vec::new();
    let mut object_declaration = None;
    for entry in entries {
        let name = entry.name.as_str();
        match Declaration::parse_file_name(name) {
            Some(declaration) if declaration.kind == DeclarationKind::StorageRoot => {
                check_contents(storage, entry, declaration, report);
                declared.push((name, declaration.version));
            }
            Some(_) => object_declaration = Some(name),
            None => check_malformed_name(name, report),
        }
    }
    match declared.as_slice() {
        [] => {
            let hint = object_declaration
                .map(|name| {
                    format!(
                        " ({name} is present: this directory is an OCFL object, not a storage root)"
                    )
                })
                .unwrap_or_default();
            report.add(
                Code::E069,
                format!("storage root has no conformance declaration 0=ocfl_1.x{hint}"),
            );
            None
        }
        [(_, version)] => Some(*version),
        several => {
            let names: Vec<&str> = several.iter().map(|(name, _)| *name).collect();
            report.add(
                Code::E076,
                format!(
                    "storage root has {} conformance declarations ({}), exactly one is allowed",
                    names.len(),
                    names.join(", ")
                ),
            );
            several.iter().map(|(_, version)| *version).max()
        }
    }
}

/// E075 for a declaration that is not a regular file, E080 for wrong contents.
fn check_contents(
    storage: &dyn Storage,
    entry: &Entry,
    declaration: Declaration,
    report: &mut ObjectReport,
) {
    if entry.kind != EntryKind::File {
        report.add(
            Code::E075,
            format!(
                "storage root declaration {} is not a regular file",
                entry.name
            ),
        );
        return;
    }
    match storage.read(&entry.name) {
        Ok(bytes) if declaration.contents_match(&bytes) => {}
        Ok(bytes) => report.add(
            Code::E080,
            format!(
                "storage root declaration {} must contain {:?}, found {:?}",
                entry.name,
                declaration.contents(),
                String::from_utf8_lossy(&bytes)
            ),
        ),
        Err(err) => report.add(
            Code::E080,
            format!(
                "storage root declaration {} cannot be read: {err}",
                entry.name
            ),
        ),
    }
}

/// Names that try to be a root declaration but break the `0=ocfl_<version>` pattern.
/// Anything else is an unrelated file, which validators must ignore (E087).
fn check_malformed_name(name: &str, report: &mut ObjectReport) {
    if let Some(dvalue) = name.strip_prefix("0=") {
        // Another NAMASTE type tag (`0=bagit_1.0`) is not ours; one that mentions OCFL is
        // a misspelt or unknown-version declaration.
        if dvalue.to_ascii_lowercase().contains("ocfl") && !dvalue.starts_with("ocfl_object_") {
            let what = match dvalue.strip_prefix("ocfl_") {
                Some(version) => format!("names OCFL version {version:?}, which is not 1.0 or 1.1"),
                None => "must be ocfl_ followed by the specification version".to_owned(),
            };
            report.add(
                Code::E079,
                format!("storage root declaration {name}: dvalue {dvalue:?} {what}"),
            );
        }
    } else if is_namaste_name(name) {
        if is_root_declaration_name(&format!("0={}", &name[2..])) {
            report.add(
                Code::E078,
                format!("storage root declaration {name}: the NAMASTE tag must be 0"),
            );
        }
    } else if SpecVersion::ALL
        .iter()
        .any(|version| name.ends_with(&format!("ocfl_{version}")))
    {
        report.add(
            Code::E077,
            format!("storage root declaration {name} must be named 0=ocfl_<version> (T=dvalue)"),
        );
    }
}

fn is_root_declaration_name(name: &str) -> bool {
    Declaration::parse_file_name(name).is_some_and(|d| d.kind == DeclarationKind::StorageRoot)
}
