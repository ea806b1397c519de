//! `cargo xtask conformance [--fixtures DIR]`: validates every official fixture listed in
//! `EXPECTED.tsv`, prints one row per fixture and a closing `N passed, M failed` line, and
//! fails when any fixture does not get its expected verdict.
//!
//! Verdicts: a `good` fixture must be valid with no warning; a `warn` fixture valid with
//! every warning its name gives; a `bad` fixture invalid and, when its expectation is
//! `clear`, reporting at least one of `expected_codes` or `also_acceptable` (an `UNCLEAR`
//! bad fixture only needs to be invalid: validators disagree on its code).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use ocfl_core::storage::LocalStorage;
use ocfl_core::validate::{ObjectReport, ValidationOptions, validate_object};

pub fn run(args: &[String]) -> anyhow::Result<ExitCode> {
    let fixtures = match args {
        [] => Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/ocfl"),
        [flag, dir] if flag == "--fixtures" => PathBuf::from(dir),
        _ => bail!("usage: cargo xtask conformance [--fixtures DIR]"),
    };
    let table = fixtures.join("EXPECTED.tsv");
    let text =
        std::fs::read_to_string(&table).with_context(|| format!("reading {}", table.display()))?;
    let rows = parse_expected(&text).with_context(|| format!("parsing {}", table.display()))?;

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

/// One row of `EXPECTED.tsv`, the columns the verdict needs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    path: String,
    category: String,
    expected: Vec<String>,
    also_acceptable: Vec<String>,
    clear: bool,
}

fn parse_expected(text: &str) -> anyhow::Result<Vec<Row>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().context("empty file")?.split('\t').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .with_context(|| format!("no column {name}"))
    };
    let [path, category, expected, also, expectation] = [
        column("path")?,
        column("category")?,
        column("expected_codes")?,
        column("also_acceptable")?,
        column("expectation")?,
    ];
    let codes = |field: &str| -> Vec<String> {
        field
            .split(',')
            .filter(|c| !c.is_empty() && *c != "-")
            .map(str::to_owned)
            .collect()
    };
    lines
        .filter(|l| !l.is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let field = |i: usize| {
                fields
                    .get(i)
                    .copied()
                    .with_context(|| format!("short row: {line}"))
            };
            Ok(Row {
                path: field(path)?.to_owned(),
                category: field(category)?.to_owned(),
                expected: codes(field(expected)?),
                also_acceptable: codes(field(also)?),
                clear: field(expectation)? == "clear",
            })
        })
        .collect()
}

impl Row {
    fn passes(&self, report: &ObjectReport) -> bool {
        let reported = reported_codes(report);
        match self.category.as_str() {
            "good" => report.is_valid() && report.warnings.is_empty(),
            "warn" => {
                report.is_valid() && self.expected.iter().all(|c| reported.contains(&c.as_str()))
            }
            _ => {
                !report.is_valid()
                    && (!self.clear
                        || self
                            .expected
                            .iter()
                            .chain(&self.also_acceptable)
                            .any(|c| reported.contains(&c.as_str())))
            }
        }
    }

    fn describe(&self) -> String {
        match self.category.as_str() {
            "good" => "good".to_owned(),
            "warn" => format!("warn {}", self.expected.join(",")),
            _ if !self.clear => "bad (any code)".to_owned(),
            _ => {
                let codes: Vec<&str> = self
                    .expected
                    .iter()
                    .chain(&self.also_acceptable)
                    .map(String::as_str)
                    .collect();
                format!("bad {}", codes.join("|"))
            }
        }
    }
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

/// Every code reported, errors then warnings, each once, sorted.
fn reported_codes(report: &ObjectReport) -> Vec<&'static str> {
    let mut codes: Vec<&'static str> = report
        .errors
        .iter()
        .chain(&report.warnings)
        .map(|f| f.code.as_str())
        .collect();
    codes.sort_unstable();
    codes.dedup();
    codes
}

#[cfg(test)]
mod tests {
    use super::*;
    use ocfl_core::validate::Code;

    fn row(category: &str, expected: &[&str], also: &[&str], clear: bool) -> Row {
        Row {
            path: "x".into(),
            category: category.into(),
            expected: expected.iter().map(|s| s.to_string()).collect(),
            also_acceptable: also.iter().map(|s| s.to_string()).collect(),
            clear,
        }
    }

    fn report(codes: &[Code]) -> ObjectReport {
        let mut report = ObjectReport::new("x");
        for code in codes {
            report.add(*code, "test");
        }
        report
    }

    #[test]
    fn verdict_rules() {
        let good = row("good", &[], &[], true);
        assert!(good.passes(&report(&[])));
        assert!(!good.passes(&report(&[Code::W004])));
        assert!(!good.passes(&report(&[Code::E001])));

        let warn = row("warn", &["W001", "W004"], &[], true);
        assert!(warn.passes(&report(&[Code::W001, Code::W004, Code::W005])));
        assert!(!warn.passes(&report(&[Code::W001])));
        assert!(!warn.passes(&report(&[Code::W001, Code::W004, Code::E001])));

        let bad = row("bad", &["E010"], &["E046"], true);
        assert!(bad.passes(&report(&[Code::E046])));
        assert!(!bad.passes(&report(&[Code::E001])));
        assert!(!bad.passes(&report(&[Code::W010])));

        let unclear = row("bad", &["E010"], &[], false);
        assert!(unclear.passes(&report(&[Code::E001])));
        assert!(!unclear.passes(&report(&[])));
    }

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
