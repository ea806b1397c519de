//! Defects seen only through an older version's inventory are still reported now that the
//! validator drops such an inventory once it has found it redundant with the root's: an
//! inventory that is not redundant stays parsed, and one that is has its findings made from
//! the root's.

mod object_support;

use std::fs;
use std::path::Path;

use object_support::{copy_fixture, validate_dir, write_inventory};
use ocfl_core::validate::{Code, ObjectReport};

/// Three versions, md5 and sha1 fixity for every content file.
const FULL: &str = "1.1/good-objects/spec-ex-full";

/// Rewrites `dir/inventory.json` (and its sidecar) with `edit` applied to its text.
fn edit_inventory(dir: &Path, edit: impl Fn(&str) -> String) {
    let text = fs::read_to_string(dir.join("inventory.json")).expect("read inventory");
    let edited = edit(&text);
    assert_ne!(edited, text, "the edit changes the inventory");
    write_inventory(dir, &edited);
}

/// The messages of the findings with `code`.
fn messages(report: &ObjectReport, code: Code) -> Vec<&str> {
    report
        .errors
        .iter()
        .chain(&report.warnings)
        .filter(|f| f.code == code)
        .map(|f| f.message.as_str())
        .collect()
}

#[test]
fn the_fixture_is_valid() {
    let (_temp, object) = copy_fixture(FULL);
    let report = validate_dir(&object);
    assert!(report.is_valid(), "{report:#?}");
}

#[test]
fn a_missing_file_only_an_older_manifest_names_is_reported_against_it() {
    let (_temp, object) = copy_fixture(FULL);
    let ghost = "ab".repeat(64);
    edit_inventory(&object.join("v2"), |text| {
        text.replacen(
            "\"manifest\": {",
            &format!("\"manifest\": {{\n    \"{ghost}\": [\"v2/content/ghost.txt\"],"),
            1,
        )
    });
    let report = validate_dir(&object);
    assert_eq!(
        messages(&report, Code::E092),
        [
            "v2/inventory.json: manifest names v2/content/ghost.txt, which is not a file in a content directory"
        ],
        "{report:#?}"
    );
}

#[test]
fn a_wrong_fixity_digest_in_an_older_inventory_is_reported_against_it() {
    let (_temp, object) = copy_fixture(FULL);
    let wrong = "0".repeat(32);
    edit_inventory(&object.join("v1"), |text| {
        text.replace("c289c8ccd4bab6e385f5afdd89b5bda2", &wrong)
    });
    let report = validate_dir(&object);
    assert_eq!(
        messages(&report, Code::E093),
        [format!(
            "v1/content/image.tiff: v1/inventory.json fixity gives md5 {wrong} but the file's digest is c289c8ccd4bab6e385f5afdd89b5bda2"
        )],
        "{report:#?}"
    );
}

#[test]
fn a_missing_file_is_reported_against_every_inventory_whose_fixity_names_it() {
    // The older inventories are redundant with the root's: their missing fixity paths are
    // reported from the root's fixity, for their own versions only.
    let (_temp, object) = copy_fixture(FULL);
    fs::remove_file(object.join("v2/content/foo/bar.xml")).expect("remove");
    let report = validate_dir(&object);
    let missing = |location: &str| {
        format!(
            "{location}: fixity names v2/content/foo/bar.xml, which is not a file in a content directory"
        )
    };
    assert_eq!(
        messages(&report, Code::E093),
        [missing("inventory.json"), missing("v2/inventory.json")],
        "{report:#?}"
    );
    assert_eq!(
        messages(&report, Code::E092),
        [
            "inventory.json: manifest names v2/content/foo/bar.xml, which is not a file in a content directory"
        ],
        "{report:#?}"
    );
}
