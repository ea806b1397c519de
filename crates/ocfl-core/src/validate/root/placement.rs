//! Where objects sit in the root: the layout's mapping (E083), duplicate ids (E083),
//! declared versions (E081) and consistent hierarchies (W015).

use std::collections::BTreeMap;

use super::hierarchy::ObjectRoot;
use crate::SpecVersion;
use crate::layout::Layout;
use crate::validate::{Code, ObjectReport};

/// E081: an object may not declare a newer specification than its storage root.
pub(super) fn check_object_versions(
    root_version: SpecVersion,
    object: &ObjectRoot,
    report: &mut ObjectReport,
) {
    if let Some(newer) = object
        .declared_versions
        .iter()
        .filter(|v| **v > root_version)
        .max()
    {
        report.add(
            Code::E081,
            format!(
                "object {} declares OCFL {newer}, newer than its storage root's OCFL {root_version}",
                object.path
            ),
        );
    }
}

/// E083 for objects not at the path the root's layout maps their id to, and for ids used
/// by more than one object.
///
/// Why E083 ("a deterministic mapping from an object identifier to a unique storage path")
/// and not W014 or E071: `ocfl_layout.json` is the root's statement of that mapping. An
/// object elsewhere is unreachable through it, and a second object with the same id could
/// be created at the mapped path, so the id no longer maps to one unique path. W014 (one
/// layout pattern per root) is a SHOULD about consistency and cannot be told apart from
/// a misplaced object without guessing which pattern a path follows; E071 concerns the
/// name in `ocfl_layout.json`, which is fine here.
pub(super) fn check_placement(layout: Option<&Layout>, reports: &mut [ObjectReport]) {
    let mut paths_by_id: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for report in reports.iter() {
        if let Some(id) = &report.id {
            paths_by_id
                .entry(id.clone())
                .or_default()
                .push(report.path.clone());
        }
    }
    for report in reports.iter_mut() {
        let Some(id) = report.id.clone() else {
            continue;
        };
        if let Some(paths) = paths_by_id.get(&id).filter(|paths| paths.len() > 1) {
            report.add(Code::E083, duplicate_message(&id, &report.path, paths));
        }
        let Some(layout) = layout else {
            continue;
        };
        match layout.map_object_id(&id) {
            Ok(expected) if expected == report.path => {}
            Ok(expected) => report.add(
                Code::E083,
                format!(
                    "object {id:?} is at {} but the storage layout {} maps it to {expected}",
                    report.path,
                    layout.name()
                ),
            ),
            Err(err) => report.add(
                Code::E083,
                format!(
                    "object {id:?} at {} cannot be placed by the storage layout: {err}",
                    report.path
                ),
            ),
        }
    }
}

/// How many other paths a duplicate-id finding names: a root with thousands of copies of
/// one id must not produce a quadratic report.
const DUPLICATES_NAMED: usize = 3;

fn duplicate_message(id: &str, path: &str, paths: &[String]) -> String {
    let others: Vec<&str> = paths
        .iter()
        .map(String::as_str)
        .filter(|p| *p != path)
        .collect();
    let named = others[..others.len().min(DUPLICATES_NAMED)].join(", ");
    match others.len() {
        1 => format!("object id {id:?} is also the id of the object at {named}"),
        n if n <= DUPLICATES_NAMED => {
            format!("object id {id:?} is also the id of the objects at {named}")
        }
        n => format!("object id {id:?} is also the id of {n} other objects, e.g. at {named}"),
    }
}

/// W015: objects directly under the root and objects deeper in hierarchies, side by side.
///
/// W014 (one layout pattern per root) is not reported: with a declared layout, an object
/// off its pattern is already E083; without one, depths that vary are no evidence of a
/// second pattern (pairtree-like arrangements vary in depth by design), so any check
/// would be a guess.
pub(super) fn check_hierarchy_depths(objects: &[ObjectRoot], root: &mut ObjectReport) {
    let top_level = objects.iter().find(|o| !o.path.contains('/'));
    let nested = objects.iter().find(|o| o.path.contains('/'));
    if let (Some(top_level), Some(nested)) = (top_level, nested) {
        root.add(
            Code::W015,
            format!(
                "the root mixes top-level objects (e.g. {}) with objects in directory hierarchies (e.g. {})",
                top_level.path, nested.path
            ),
        );
    }
}
