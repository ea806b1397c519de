//! The official OCFL fixtures (`fixtures/ocfl/EXPECTED.tsv`): every row gets its expected
//! verdict; each of the 16 `UNCLEAR` rows has a named test asserting the code we chose and
//! why; the empty-directory cases git cannot store are built at run time.

mod object_support;
#[path = "object_support/verdict.rs"]
mod verdict;

use std::fs;

use object_support::{codes, copy_fixture, fixtures, validate_dir, validate_fixture};
use ocfl_core::validate::{Code, ObjectReport};

/// Every row gets its verdict, by the rules of `object_support/verdict.rs`; every code a row
/// names is one of ours.
#[test]
fn every_fixture_gets_its_expected_verdict() {
    let table = fs::read_to_string(fixtures().join("EXPECTED.tsv")).expect("EXPECTED.tsv");
    let rows = verdict::parse_expected(&table).expect("well-formed EXPECTED.tsv");
    let mut failures = Vec::new();
    for row in &rows {
        for code in row.expected.iter().chain(&row.also_acceptable) {
            assert!(
                Code::parse(code).is_some(),
                "{}: unknown code {code}",
                row.path
            );
        }
        let report = validate_fixture(&row.path);
        if !row.passes(&report) {
            failures.push(format!("{} ({}): {report:#?}", row.path, row.describe()));
        }
    }
    assert_eq!(rows.len(), 156, "EXPECTED.tsv rows");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Asserts that fixture `relative` is invalid and reports every code in `expected`.
fn assert_reports(relative: &str, expected: &[Code]) -> ObjectReport {
    let report = validate_fixture(relative);
    assert!(!report.is_valid(), "{relative} must be invalid");
    let found = codes(&report);
    for code in expected {
        assert!(
            found.contains(code),
            "{relative}: expected {code}, got {found:?}"
        );
    }
    report
}

// The 16 UNCLEAR rows: the fixture name's code is disputed or validators disagree.

// A version directory named `1`. OCFL 1.0 has no specific code, and `1` is simply not an
// allowed entry of the object root: E001.
#[test]
fn unclear_1_0_e001_invalid_version_format() {
    assert_reports("1.0/bad-objects/E001_invalid_version_format", &[Code::E001]);
}

// 1.1 added E104 ("version directory names MUST be constructed by prepending v") for exactly
// this case, so a 1.1 object gets E104 rather than the generic E001.
#[test]
fn unclear_1_1_e001_invalid_version_format() {
    let report = assert_reports("1.1/bad-objects/E001_invalid_version_format", &[Code::E104]);
    assert!(!codes(&report).contains(&Code::E001));
}

// The inventory lists v1..v4 but directory v3 is absent: the directory sequence is not
// continuous (E010, as rocfl and ocfl-java say). We keep E046 for directories the inventory
// does not list.
#[test]
fn unclear_1_0_e010_missing_versions() {
    assert_reports("1.0/bad-objects/E010_missing_versions", &[Code::E010]);
}

#[test]
fn unclear_1_1_e010_missing_versions() {
    assert_reports("1.1/bad-objects/E010_missing_versions", &[Code::E010]);
}

// v01..v09 then v10: v10 does not start with v0 (E011) and breaks the convention set by v01
// (E013). The inventory parser reports both; W001 (zero padding) comes with them.
#[test]
fn unclear_1_0_e011_e013_invalid_padded_head_version() {
    assert_reports(
        "1.0/bad-objects/E011_E013_invalid_padded_head_version",
        &[Code::E011, Code::E013, Code::W001],
    );
}

#[test]
fn unclear_1_1_e011_e013_invalid_padded_head_version() {
    assert_reports(
        "1.1/bad-objects/E011_E013_invalid_padded_head_version",
        &[Code::E011, Code::E013, Code::W001],
    );
}

// Files sit directly in v1/, v2/, v3/: E015 (no files in a version directory but the
// inventory and sidecar). The manifest paths outside any content directory also give E042
// (from the parser) and E092 (no such content file).
#[test]
fn unclear_1_0_e015_content_not_in_content_dir() {
    assert_reports(
        "1.0/bad-objects/E015_content_not_in_content_dir",
        &[Code::E015, Code::E042, Code::E092],
    );
}

#[test]
fn unclear_1_1_e015_content_not_in_content_dir() {
    assert_reports(
        "1.1/bad-objects/E015_content_not_in_content_dir",
        &[Code::E015, Code::E042, Code::E092],
    );
}

// contentDirectory is `content-dir` in v1's inventory and `content` later. It was set in the
// first version, so E019 ("must be set in the first version") does not apply; it changed
// between versions: E020, as the spec text reads (and ocfl-py says).
#[test]
fn unclear_1_0_e019_inconsistent_content_dir() {
    let report = assert_reports(
        "1.0/bad-objects/E019_inconsistent_content_dir",
        &[Code::E020],
    );
    assert!(!codes(&report).contains(&Code::E019));
}

#[test]
fn unclear_1_1_e019_inconsistent_content_dir() {
    let report = assert_reports(
        "1.1/bad-objects/E019_inconsistent_content_dir",
        &[Code::E020],
    );
    assert!(!codes(&report).contains(&Code::E019));
}

// v2/inventory.json has head v3: an inventory's head must name the version directory
// holding it (E040, as rocfl says). Its version blocks match the root's, so no E066.
#[test]
fn unclear_1_0_e040_wrong_version_in_version_dir() {
    assert_reports(
        "1.0/bad-objects/E040_wrong_version_in_version_dir",
        &[Code::E040],
    );
}

#[test]
fn unclear_1_1_e040_wrong_version_in_version_dir() {
    assert_reports(
        "1.1/bad-objects/E040_wrong_version_in_version_dir",
        &[Code::E040],
    );
}

// The root inventory's head is v1 but a v2 directory exists: v2 is not a version of the
// root inventory (E046), the head is not the highest version directory (E040), and the root
// differs from the most recent version's inventory (E064).
#[test]
fn unclear_1_0_e046_root_not_most_recent() {
    assert_reports(
        "1.0/bad-objects/E046_root_not_most_recent",
        &[Code::E046, Code::E040, Code::E064],
    );
}

#[test]
fn unclear_1_1_e046_root_not_most_recent() {
    assert_reports(
        "1.1/bad-objects/E046_root_not_most_recent",
        &[Code::E046, Code::E040, Code::E064],
    );
}

// Fixity paths with `..`/empty elements (E099) and a leading `/` (E100) are malformed
// content paths, reported as such by the parser rather than as E057 (not in the manifest).
// The manifest's `v1/content/content/file-1.txt` does not exist either: E092.
#[test]
fn unclear_1_0_e100_e099_fixity_invalid_content_paths() {
    assert_reports(
        "1.0/bad-objects/E100_E099_fixity_invalid_content_paths",
        &[Code::E099, Code::E100, Code::E092],
    );
}

#[test]
fn unclear_1_1_e100_e099_fixity_invalid_content_paths() {
    assert_reports(
        "1.1/bad-objects/E100_E099_fixity_invalid_content_paths",
        &[Code::E099, Code::E100, Code::E092],
    );
}

// Empty directories cannot be stored in git, so these fixtures are made here.

#[test]
fn empty_directory_inside_content_is_e024() {
    let (_temp, object) = copy_fixture("1.1/good-objects/minimal_one_version_one_file");
    assert!(validate_dir(&object).is_valid(), "the copy starts valid");
    fs::create_dir_all(object.join("v1/content/empty/deeper")).expect("mkdir");
    let report = validate_dir(&object);
    assert!(!report.is_valid());
    let e024: Vec<&str> = report
        .errors
        .iter()
        .filter(|f| f.code == Code::E024)
        .map(|f| f.message.as_str())
        .collect();
    // Only the innermost directory is empty; `empty` holds `deeper`.
    assert_eq!(e024.len(), 1, "{report:#?}");
    assert!(e024[0].contains("v1/content/empty/deeper"), "{e024:?}");
}

#[test]
fn empty_content_directory_in_a_version_without_content_is_w003() {
    let (_temp, object) = copy_fixture("1.1/good-objects/minimal_no_content");
    assert!(
        codes(&validate_dir(&object)).is_empty(),
        "the copy starts clean"
    );
    fs::create_dir(object.join("v1/content")).expect("mkdir");
    let report = validate_dir(&object);
    assert!(report.is_valid(), "{report:#?}");
    assert_eq!(codes(&report), [Code::W003].into(), "{report:#?}");
}

#[test]
fn missing_content_directory_of_a_version_with_content_is_e016() {
    let (_temp, object) = copy_fixture("1.1/good-objects/minimal_one_version_one_file");
    fs::remove_dir_all(object.join("v1/content")).expect("rm");
    let report = validate_dir(&object);
    assert!(codes(&report).contains(&Code::E016), "{report:#?}");
    assert!(codes(&report).contains(&Code::E092), "{report:#?}");
}
