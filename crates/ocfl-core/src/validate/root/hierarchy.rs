//! The storage hierarchies: the directories below the root that lead to object roots
//! (E072, E073, E084, E085, E090).

use rayon::prelude::*;

use crate::SpecVersion;
use crate::namaste::{Declaration, DeclarationKind};
use crate::storage::{Directory, Entry, EntryKind, StorageError, join};
use crate::validate::{Code, Finding, ObjectReport};

/// An object root found in a hierarchy: a directory holding a `0=ocfl_object_*` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ObjectRoot {
    /// Path relative to the storage root.
    pub path: String,
    /// The known versions its declarations name (E081 compares them to the root's).
    pub declared_versions: Vec<SpecVersion>,
}

/// What walking one hierarchy found: object roots in path order with their reports, and
/// hierarchy findings.
#[derive(Debug, Default)]
pub(super) struct Hierarchy {
    pub objects: Vec<(ObjectRoot, ObjectReport)>,
    pub findings: Vec<Finding>,
}

/// Validates an object the walk found: its root, the open directory and its entries.
pub(super) type ValidateObject<'a> =
    dyn Fn(&ObjectRoot, &dyn Directory, Vec<Entry>) -> ObjectReport + Sync + 'a;

impl Hierarchy {
    fn finding(code: Code, message: String) -> Hierarchy {
        Hierarchy {
            objects: Vec::new(),
            findings: vec![Finding::new(code, message)],
        }
    }

    fn append(&mut self, mut other: Hierarchy) {
        self.objects.append(&mut other.objects);
        self.findings.append(&mut other.findings);
    }
}

/// Walks the hierarchy rooted at directory `dir` (open as `handle`), validating each object
/// root the moment it is found, so that object validation starts with the walk and does not
/// list an object root a second time. Object roots are not walked into: the object validator
/// covers everything inside them. Sibling directories are walked in parallel, each opened
/// from its parent's handle (never through a link); results keep the listing's order.
pub(super) fn walk_hierarchy(
    handle: &dyn Directory,
    dir: &str,
    validate: &ValidateObject<'_>,
) -> Hierarchy {
    let entries = match handle.list() {
        Ok(entries) => entries,
        Err(err) => return unlistable(dir, &err),
    };
    if entries.is_empty() {
        return Hierarchy::finding(Code::E073, format!("{dir} is an empty directory"));
    }
    if let Some(object) = object_root(dir, &entries) {
        let report = validate(&object, handle, entries);
        return Hierarchy {
            objects: vec![(object, report)],
            findings: Vec::new(),
        };
    }

    let subdirs: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.kind == EntryKind::Directory)
        .collect();
    let mut found = Hierarchy::default();
    for entry in &entries {
        let path = join(dir, &entry.name);
        let finding = match entry.kind {
            EntryKind::Directory => continue,
            EntryKind::Symlink => Finding::new(
                Code::E090,
                format!("{path} is a symbolic link; links are not allowed in storage hierarchies"),
            ),
            EntryKind::File | EntryKind::Other if subdirs.is_empty() => Finding::new(
                Code::E072,
                format!(
                    "{path} is a file outside any OCFL object ({dir} has no object declaration)"
                ),
            ),
            EntryKind::File | EntryKind::Other => Finding::new(
                Code::E084,
                format!("{path} is a file in the intermediate directory {dir}"),
            ),
        };
        found.findings.push(finding);
    }
    if subdirs.is_empty() {
        found.findings.push(Finding::new(
            Code::E085,
            format!("{dir} ends a storage hierarchy without an OCFL object root"),
        ));
    }
    let below: Vec<Hierarchy> = subdirs
        .par_iter()
        .map(|entry| {
            let path = join(dir, &entry.name);
            match handle.open_dir(&entry.name) {
                Ok(child) => walk_hierarchy(&*child, &path, validate),
                Err(err) => unlistable(&path, &err),
            }
        })
        .collect();
    for hierarchy in below {
        found.append(hierarchy);
    }
    found
}

/// E085 for a directory that cannot be opened or listed.
pub(super) fn unlistable(dir: &str, err: &StorageError) -> Hierarchy {
    Hierarchy::finding(
        Code::E085,
        format!("{dir} cannot be listed, so it cannot be shown to end in object roots: {err}"),
    )
}

/// The object root at `dir`, if its entries include an object declaration file.
fn object_root(dir: &str, entries: &[Entry]) -> Option<ObjectRoot> {
    let declarations: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.kind == EntryKind::File && e.name.starts_with("0=ocfl_object_"))
        .collect();
    if declarations.is_empty() {
        return None;
    }
    let declared_versions = declarations
        .iter()
        .filter_map(|e| Declaration::parse_file_name(&e.name))
        .filter(|d| d.kind == DeclarationKind::Object)
        .map(|d| d.version)
        .collect();
    Some(ObjectRoot {
        path: dir.to_owned(),
        declared_versions,
    })
}
