//! The verdict rules of the official fixtures (`fixtures/ocfl/EXPECTED.tsv`), in one place:
//! `tests/fixtures.rs` includes this file as a module, and so does `cargo xtask conformance`
//! (`xtask/src/conformance.rs`, through `#[path]`).
//!
//! A `good` fixture must be valid with no warning; a `warn` fixture valid with every warning
//! its row names; a `bad` fixture invalid and, when its expectation is `clear`, reporting at
//! least one of `expected_codes` or `also_acceptable` (an `UNCLEAR` bad fixture only needs to
//! be invalid: validators disagree on its code).

// Each includer uses part of it.
#![allow(dead_code)]

use ocfl_core::validate::ObjectReport;

/// One row of `EXPECTED.tsv`, the columns the verdict needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub path: String,
    pub category: String,
    pub expected: Vec<String>,
    pub also_acceptable: Vec<String>,
    pub clear: bool,
}

/// The rows of `EXPECTED.tsv`, found by their column names; an error names what is wrong.
pub fn parse_expected(text: &str) -> Result<Vec<Row>, String> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().ok_or("empty file")?.split('\t').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| format!("no column {name}"))
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
                    .ok_or_else(|| format!("short row: {line}"))
            };
            let category = field(category)?;
            if !matches!(category, "good" | "warn" | "bad") {
                return Err(format!("unknown category {category}: {line}"));
            }
            Ok(Row {
                path: field(path)?.to_owned(),
                category: category.to_owned(),
                expected: codes(field(expected)?),
                also_acceptable: codes(field(also)?),
                clear: field(expectation)? == "clear",
            })
        })
        .collect()
}

impl Row {
    /// Whether `report` is the verdict this row expects.
    pub fn passes(&self, report: &ObjectReport) -> bool {
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

    /// The expectation in a few words (`warn W001,W004`, `bad E010|E046`).
    pub fn describe(&self) -> String {
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

/// Every code reported, errors then warnings, each once, sorted.
pub fn reported_codes(report: &ObjectReport) -> Vec<&'static str> {
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
    fn unknown_categories_and_short_rows_are_refused() {
        let header = "path\tcategory\texpected_codes\talso_acceptable\texpectation\n";
        assert!(parse_expected(&format!("{header}a\tgood\t-\t-\tclear\n")).is_ok());
        assert!(parse_expected(&format!("{header}a\tfine\t-\t-\tclear\n")).is_err());
        assert!(parse_expected(&format!("{header}a\tgood\t-\n")).is_err());
        assert!(parse_expected("path\tcategory\n").is_err());
    }
}
