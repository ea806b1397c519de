use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use ocfl_core::inventory::parse_inventory;
use ocfl_core::storage::LocalStorage;
use ocfl_core::validate::{ObjectReport, ValidationOptions, validate_object};
use ocfl_core::version_num::VersionNum;
use ocfl_plan::exec::{StepError, StepResult, apply, read_base};
use ocfl_plan::plan::{Outcome, PlanOptions, plan};
use ocfl_plan::stage::{Stage, StageOptions};

/// A tree of files: relative path -> bytes.
pub type Tree = BTreeMap<String, Vec<u8>>;

pub fn created(n: u32) -> chrono::DateTime<chrono::FixedOffset> {
    let text = format!("2025-01-{:02}T10:00:00Z", n.clamp(1, 28));
    chrono::DateTime::parse_from_rfc3339(&text).expect("valid timestamp")
}

/// Replaces the contents of `dir` with `tree`.
pub fn write_tree(dir: &Path, tree: &Tree) {
    if dir.exists() {
        fs::remove_dir_all(dir).expect("clear source");
    }
    fs::create_dir_all(dir).expect("mkdir source");
    for (path, bytes) in tree {
        let full = dir.join(path);
        if let Some(parent) = full.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        fs::write(full, bytes).expect("write");
    }
}

/// Every file and directory below `dir` (directories with a trailing `/` and no bytes).
pub fn read_tree(dir: &Path) -> Tree {
    let mut tree = Tree::new();
    if !dir.exists() {
        return tree;
    }
    for entry in walkdir::WalkDir::new(dir).min_depth(1) {
        let entry = entry.expect("walk");
        let relative = entry
            .path()
            .strip_prefix(dir)
            .expect("below dir")
            .to_str()
            .expect("utf-8")
            .to_owned();
        if entry.file_type().is_dir() {
            tree.insert(format!("{relative}/"), Vec::new());
        } else {
            tree.insert(relative, fs::read(entry.path()).expect("read"));
        }
    }
    tree
}

/// Stages `source`, plans against the object's current state, and applies the plan.
pub fn commit(
    root: &Path,
    source: &Path,
    options: &PlanOptions,
    stage_options: &StageOptions,
    when: u32,
) -> Result<Outcome, StepError> {
    let fs = LocalStorage::new(root);
    let stage = Stage::from_directory(source, stage_options).expect("stage");
    let base = read_base(&fs, &options.object_path).expect("read base");
    let outcome = plan(base.as_ref(), &stage, options, created(when)).expect("plan");
    if let Outcome::Update(plan) = &outcome {
        apply(plan, &fs, &stage)?;
    }
    Ok(outcome)
}

pub fn validate(root: &Path, object_path: &str) -> ObjectReport {
    validate_object(
        &LocalStorage::new(root),
        object_path,
        &ValidationOptions::default(),
    )
}

/// Asserts the object is valid, showing the findings if not.
pub fn assert_valid(root: &Path, object_path: &str) {
    let report = validate(root, object_path);
    assert!(report.is_valid(), "invalid object: {:#?}", report.errors);
}

/// The files of `version` of the object, read back through its root inventory.
pub fn reconstruct(root: &Path, object_path: &str, version: &str) -> Tree {
    let object = root.join(object_path);
    let bytes = fs::read(object.join("inventory.json")).expect("root inventory");
    let inventory = parse_inventory(&bytes)
        .inventory
        .expect("parsable inventory");
    let number = VersionNum::parse(version).expect("version name");
    let state = &inventory.versions[&number].state;
    let mut tree = Tree::new();
    for (digest, paths) in state {
        let content_path = &inventory.manifest[digest][0];
        let content = fs::read(object.join(content_path.as_str())).expect("content file");
        for path in paths {
            tree.insert(path.to_string(), content.clone());
        }
    }
    tree
}

pub fn head(root: &Path, object_path: &str) -> String {
    let bytes = fs::read(root.join(object_path).join("inventory.json")).expect("root inventory");
    let inventory = parse_inventory(&bytes)
        .inventory
        .expect("parsable inventory");
    inventory.head.to_string()
}

/// Whether every step result is a skip, or a check that writes nothing.
pub fn wrote_nothing(results: &[StepResult]) -> bool {
    results
        .iter()
        .all(|r| matches!(r, StepResult::Skipped(_) | StepResult::Done { bytes: 0 }))
}

/// The paths whose presence or bytes differ between two trees (for readable failures).
pub fn differences(a: &Tree, b: &Tree) -> Vec<String> {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| match (a.get(k), b.get(k)) {
            (Some(x), Some(y)) => format!("{k}: {} bytes vs {} bytes", x.len(), y.len()),
            (Some(_), None) => format!("{k}: only in the first"),
            _ => format!("{k}: only in the second"),
        })
        .collect()
}
