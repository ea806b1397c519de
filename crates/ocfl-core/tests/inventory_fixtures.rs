//! The official OCFL fixtures' inventories through `parse_inventory`, compared with
//! `fixtures/ocfl/EXPECTED.tsv`: good and warn objects have no inventory errors and carry
//! their named inventory-level warnings; bad objects whose defect lies in one inventory
//! document get one of their expected codes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ocfl_core::inventory::parse_inventory;
use ocfl_core::validate::{Code, Severity};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/ocfl")
}

struct Row {
    /// Relative to `fixtures/ocfl`, e.g. `1.1/bad-objects/E036_no_id`.
    path: String,
    category: String,
    fixture: String,
    /// expected_codes ∪ also_acceptable.
    acceptable: BTreeSet<Code>,
    expected: BTreeSet<Code>,
    /// What ocfl-py reported on this fixture.
    ocfl_py: BTreeSet<Code>,
}

fn codes(field: &str) -> BTreeSet<Code> {
    field
        .split(',')
        .filter_map(|c| Code::parse(c.trim()))
        .collect()
}

fn rows() -> Vec<Row> {
    let text = std::fs::read_to_string(fixtures().join("EXPECTED.tsv")).expect("EXPECTED.tsv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("column {name}"))
    };
    let (path, category, fixture, expected, also, ocfl_py) = (
        column("path"),
        column("category"),
        column("fixture"),
        column("expected_codes"),
        column("also_acceptable"),
        column("ocfl_py_observed"),
    );
    lines
        .filter(|line| !line.is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let expected = codes(fields[expected]);
            let mut acceptable = expected.clone();
            acceptable.extend(codes(fields[also]));
            Row {
                path: fields[path].to_owned(),
                category: fields[category].to_owned(),
                fixture: fields[fixture].to_owned(),
                acceptable,
                expected,
                ocfl_py: codes(fields[ocfl_py]),
            }
        })
        .collect()
}

/// Every `inventory.json` of a fixture object: the root one first, then the version ones.
fn inventories(object: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let root = object.join("inventory.json");
    if root.is_file() {
        found.push(root);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir(object)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path().join("inventory.json"))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    found.extend(versions);
    found
}

fn findings_of(path: &Path) -> Vec<ocfl_core::validate::Finding> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse_inventory(&bytes).findings
}

/// Warnings that a single inventory document shows.
const INVENTORY_WARNINGS: [Code; 6] = [
    Code::W001,
    Code::W004,
    Code::W005,
    Code::W007,
    Code::W008,
    Code::W009,
];

#[test]
fn good_and_warn_inventories_have_no_errors_and_their_named_warnings() {
    let mut checked = 0;
    for row in rows()
        .iter()
        .filter(|r| r.category == "good" || r.category == "warn")
    {
        let object = fixtures().join(&row.path);
        let paths = inventories(&object);
        assert!(!paths.is_empty(), "{}: no inventory", row.path);
        for path in &paths {
            let parsed = parse_inventory(&std::fs::read(path).unwrap_or_else(|e| panic!("{e}")));
            let errors: Vec<_> = parsed
                .findings
                .iter()
                .filter(|f| f.severity() == Severity::Error)
                .collect();
            assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
            assert!(parsed.inventory.is_some(), "{}", path.display());
            checked += 1;
        }
        // A warning may come from a version inventory (W004_versions_diff_digests: only
        // v1/inventory.json uses sha256).
        let found: BTreeSet<Code> = paths
            .iter()
            .flat_map(|p| findings_of(p))
            .map(|f| f.code)
            .collect();
        for code in row
            .expected
            .iter()
            .filter(|c| INVENTORY_WARNINGS.contains(c))
        {
            assert!(
                found.contains(code),
                "{}: expected {code}, got {found:?}",
                row.path
            );
        }
    }
    assert!(checked > 40, "only {checked} inventories checked");
}

/// Codes that parse_inventory reports (others belong to the object validator).
const PARSER_CODES: &[Code] = &[
    Code::E008,
    Code::E009,
    Code::E010,
    Code::E011,
    Code::E012,
    Code::E013,
    Code::E017,
    Code::E018,
    Code::E025,
    Code::E033,
    Code::E036,
    Code::E037,
    Code::E038,
    Code::E040,
    Code::E041,
    Code::E042,
    Code::E045,
    Code::E046,
    Code::E047,
    Code::E048,
    Code::E049,
    Code::E050,
    Code::E051,
    Code::E052,
    Code::E053,
    Code::E054,
    Code::E056,
    Code::E057,
    Code::E092,
    Code::E094,
    Code::E095,
    Code::E096,
    Code::E097,
    Code::E098,
    Code::E099,
    Code::E100,
    Code::E101,
    Code::E102,
    Code::E104,
    Code::E105,
    Code::E106,
    Code::E107,
    Code::E108,
    Code::E111,
];

/// Bad fixtures named with a parser code whose defect is only visible with the filesystem
/// or by comparing inventories: each inventory in them is consistent on its own.
const NOT_VISIBLE_IN_ONE_DOCUMENT: &[(&str, &str)] = &[
    ("E010_missing_versions", "version directory v3 is absent"),
    ("E037_inconsistent_id", "the id differs between inventories"),
    (
        "E040_wrong_version_in_version_dir",
        "v2/inventory.json claims v3",
    ),
    (
        "E046_root_not_most_recent",
        "a v2 directory is not in the inventory",
    ),
    (
        "E066_E092_old_manifest_digest_incorrect",
        "a digest does not match the file",
    ),
    (
        "E092_E093_content_path_does_not_exist",
        "a content file is missing",
    ),
    (
        "E092_algorithm_change_incorrect_digest",
        "a digest does not match the file",
    ),
    (
        "E092_content_file_digest_mismatch",
        "a digest does not match the file",
    ),
];

#[test]
fn bad_inventories_report_an_expected_code() {
    let mut checked = 0;
    for row in rows().iter().filter(|r| r.category == "bad") {
        let ours: BTreeSet<Code> = row
            .acceptable
            .iter()
            .copied()
            .filter(|c| PARSER_CODES.contains(c))
            .collect();
        if ours.is_empty()
            || NOT_VISIBLE_IN_ONE_DOCUMENT
                .iter()
                .any(|(name, _)| *name == row.fixture)
        {
            continue;
        }
        let object = fixtures().join(&row.path);
        let found: BTreeSet<Code> = inventories(&object)
            .iter()
            .flat_map(|p| findings_of(p))
            .map(|f| f.code)
            .collect();
        assert!(
            !found.is_disjoint(&ours),
            "{}: expected one of {ours:?}, found {found:?}",
            row.path
        );
        checked += 1;
    }
    assert!(checked > 40, "only {checked} bad fixtures checked");
}

/// Inventory-level codes must never appear on an inventory whose only defects are elsewhere:
/// fixtures named only with filesystem codes (E058 no sidecar, E023 extra file, ...) have a
/// root inventory with no errors, so a check that fires wrongly shows up here. Fixtures where
/// ocfl-py also found an inventory-level defect are left out (E019_inconsistent_content_dir:
/// the root manifest names `v1/content-dir/...` while the content directory is `content`,
/// an E042 that ocfl-py reports too).
#[test]
fn bad_fixtures_with_only_filesystem_defects_have_clean_root_inventories() {
    let mut checked = 0;
    for row in rows().iter().filter(|r| r.category == "bad") {
        if row
            .acceptable
            .iter()
            .chain(&row.ocfl_py)
            .any(|c| PARSER_CODES.contains(c) && c.severity() == Severity::Error)
        {
            continue;
        }
        let root = fixtures().join(&row.path).join("inventory.json");
        if !root.is_file() {
            continue;
        }
        let errors: Vec<_> = findings_of(&root)
            .into_iter()
            .filter(|f| f.severity() == Severity::Error)
            .collect();
        assert!(errors.is_empty(), "{}: {errors:#?}", row.path);
        checked += 1;
    }
    assert!(checked > 10, "only {checked} fixtures checked");
}
