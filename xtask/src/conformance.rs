//! `cargo xtask conformance [--fixtures DIR]`: validates every official fixture listed in
//! `EXPECTED.tsv`, prints one row per fixture and a closing `N passed, M failed` line, and
//! fails when any fixture does not get its expected verdict.
//!
//! The verdict rules are `crates/ocfl-core/tests/object_support/verdict.rs`, which the
//! fixture test of `ocfl-core` shares.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use ocfl_core::storage::LocalStorage;
use ocfl_core::validate::{ObjectReport, ValidationOptions, validate_object};

#[path = "../../crates/ocfl-core/tests/object_support/verdict.rs"]
mod verdict;

use verdict::{parse_expected, reported_codes};

pub fn run(fixtures: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let fixtures = fixtures.unwrap_or_else(|| crate::workspace_root().join("fixtures/ocfl"));
    let table = fixtures.join("EXPECTED.tsv");
    let text =
        std::fs::read_to_string(&table).with_context(|| format!("reading {}", table.display()))?;
    let rows = parse_expected(&text)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("parsing {}", table.display()))?;

    let (mut passed, mut failed) = (0, 0);
    println!(
        "{:<62} {:<26} {:<40} verdict",
        "fixture", "expected", "reported"
    );
    for row in &rows {
        let report = validate_fixture(&fixtures.join(&row.path))?;
        let ok = row.passes(&report);
        if ok {
            passed += 1;
        } else {
            failed += 1;
        }
        println!(
            "{:<62} {:<26} {:<40} {}",
            row.path,
            row.describe(),
            reported_codes(&report).join(","),
            if ok { "pass" } else { "FAIL" }
        );
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn validate_fixture(dir: &Path) -> anyhow::Result<ObjectReport> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("bad fixture path {}", dir.display()))?;
    let parent = dir.parent().context("fixture has no parent directory")?;
    let storage = LocalStorage::new(parent);
    Ok(validate_object(
        &storage,
        name,
        &ValidationOptions::default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_repository_table() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/ocfl/EXPECTED.tsv");
        let text = std::fs::read_to_string(path).expect("EXPECTED.tsv is in the repository");
        let rows = parse_expected(&text).expect("well-formed");
        assert_eq!(rows.len(), 156);
        assert_eq!(rows.iter().filter(|r| !r.clear).count(), 16);
        let w001 = rows
            .iter()
            .find(|r| {
                r.path
                    .ends_with("1.0/warn-objects/W001_W004_W005_zero_padded_versions")
            })
            .expect("listed");
        assert_eq!(w001.expected, ["W001", "W004", "W005"]);
    }
}
