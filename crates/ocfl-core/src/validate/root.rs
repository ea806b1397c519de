//! Validation of a whole storage root: its declaration, `ocfl_layout.json`, `extensions/`,
//! the storage hierarchies, and every object found in them.

mod declaration;
mod extensions;
mod hierarchy;
mod layout_file;
mod placement;

use rayon::prelude::*;

use super::object::validate_listed_object;
use super::report::{ObjectReport, RootReport, ValidationOptions};
use crate::storage::{Directory, Entry, EntryKind, Storage};
use crate::validate::Code;

/// Validates the storage root at the root of `storage` and every object below it.
///
/// Objects are validated in parallel, each as soon as the walk of the hierarchies finds it,
/// and reported in path order. Findings about where an
/// object sits in the root (E081, E083) go into that object's report; findings about the
/// root itself, its extensions and its hierarchies go into [`RootReport::root`].
pub fn validate_storage_root(storage: &dyn Storage, options: &ValidationOptions) -> RootReport {
    let mut root = ObjectReport::new("");
    let listed = storage.open_dir("").and_then(|dir| Ok((dir.list()?, dir)));
    let (entries, root_dir) = match listed {
        Ok(listed) => listed,
        Err(err) => {
            root.add(
                Code::E069,
                format!("the storage root cannot be listed: {err}"),
            );
            return RootReport {
                root,
                objects: Vec::new(),
            };
        }
    };
    let root_version = declaration::check_root_declaration(storage, &entries, &mut root);
    let layout = layout_file::check_layout_file(storage, &entries, &mut root);

    let mut hierarchy_tops = Vec::new();
    for entry in &entries {
        match entry.kind {
            EntryKind::Directory if entry.name == extensions::EXTENSIONS_DIR => {
                extensions::check_extensions_dir(storage, &mut root);
            }
            EntryKind::Directory => hierarchy_tops.push(entry.name.as_str()),
            EntryKind::Symlink => root.add(
                Code::E090,
                format!(
                    "{} is a symbolic link; links are not allowed in a storage root",
                    entry.name
                ),
            ),
            // Other files in the root are allowed and must be ignored (E087).
            EntryKind::File | EntryKind::Other => {}
        }
    }
    let validate = |object: &hierarchy::ObjectRoot, dir: &dyn Directory, entries: Vec<Entry>| {
        let mut report = validate_listed_object(storage, &object.path, dir, entries, options);
        if let Some(root_version) = root_version {
            placement::check_object_versions(root_version, object, &mut report);
        }
        report
    };
    let walks: Vec<hierarchy::Hierarchy> = hierarchy_tops
        .par_iter()
        .map(|top| match root_dir.open_dir(top) {
            Ok(dir) => hierarchy::walk_hierarchy(&*dir, top, &validate),
            Err(err) => hierarchy::unlistable(top, &err),
        })
        .collect();
    let mut objects = Vec::new();
    for walk in walks {
        objects.extend(walk.objects);
        for finding in walk.findings {
            root.push(finding);
        }
    }
    objects.sort_by(|a, b| a.0.path.cmp(&b.0.path));
    let (objects, mut reports): (Vec<hierarchy::ObjectRoot>, Vec<ObjectReport>) =
        objects.into_iter().unzip();
    placement::check_hierarchy_depths(&objects, &mut root);
    placement::check_placement(layout.as_ref(), &mut reports);
    RootReport {
        root,
        objects: reports,
    }
}
