//! Printing validation reports: human lines or the JSON-lines contract in the README
//! on stdout, the summary on stderr.

use std::io::{self, Write};

use ocfl_core::validate::{Finding, ObjectReport};
use serde::Serialize;

/// How reports are printed.
#[derive(Debug, Clone, Copy)]
pub struct ReportPrinter {
    /// One JSON object per line instead of text.
    pub json: bool,
    /// Text mode: print only invalid reports.
    pub quiet: bool,
}

/// The JSON line for one validated object (or for the storage root's own findings).
#[derive(Debug, Serialize)]
struct JsonReport<'a> {
    path: &'a str,
    id: Option<&'a str>,
    valid: bool,
    errors: Vec<JsonFinding<'a>>,
    warnings: Vec<JsonFinding<'a>>,
}

#[derive(Debug, Serialize)]
struct JsonFinding<'a> {
    code: &'static str,
    message: &'a str,
}

fn json_findings(findings: &[Finding]) -> Vec<JsonFinding<'_>> {
    findings
        .iter()
        .map(|f| JsonFinding {
            code: f.code.as_str(),
            message: &f.message,
        })
        .collect()
}

impl ReportPrinter {
    /// Prints `report` as the result for `path` (`label` names what it is in text mode,
    /// e.g. "storage root"; the JSON line has no such field).
    pub fn print(
        &self,
        out: &mut impl Write,
        label: Option<&str>,
        path: &str,
        report: &ObjectReport,
    ) -> io::Result<()> {
        if self.json {
            let line = JsonReport {
                path,
                id: report.id.as_deref(),
                valid: report.is_valid(),
                errors: json_findings(&report.errors),
                warnings: json_findings(&report.warnings),
            };
            serde_json::to_writer(&mut *out, &line)?;
            return writeln!(out);
        }
        if self.quiet && report.is_valid() {
            return Ok(());
        }
        let status = if report.is_valid() {
            "valid"
        } else {
            "INVALID"
        };
        let label = label.map(|l| format!("{l} ")).unwrap_or_default();
        let id = report
            .id
            .as_deref()
            .map(|id| format!(" (id {id})"))
            .unwrap_or_default();
        writeln!(out, "{status:<7} {label}{path}{id}")?;
        for finding in report.errors.iter().chain(&report.warnings) {
            writeln!(out, "  {} {}", finding.code, finding.message)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ocfl_core::validate::Code;

    fn printed(printer: ReportPrinter, report: &ObjectReport) -> String {
        let mut out = Vec::new();
        printer
            .print(&mut out, None, "objects/a", report)
            .expect("print to memory");
        String::from_utf8(out).expect("utf-8")
    }

    fn sample() -> ObjectReport {
        let mut report = ObjectReport::new("a");
        report.id = Some("ark:/1".to_owned());
        report.add(Code::E040, "wrong \"head\"");
        report.add(Code::W004, "weak digest");
        report
    }

    #[test]
    fn json_line_has_exactly_the_contract_fields() {
        let line = printed(
            ReportPrinter {
                json: true,
                quiet: false,
            },
            &sample(),
        );
        assert!(line.ends_with('\n') && line.lines().count() == 1);
        let value: serde_json::Value = serde_json::from_str(&line).expect("json");
        assert_eq!(
            value,
            serde_json::json!({
                "path": "objects/a",
                "id": "ark:/1",
                "valid": false,
                "errors": [{"code": "E040", "message": "wrong \"head\""}],
                "warnings": [{"code": "W004", "message": "weak digest"}],
            })
        );
    }

    #[test]
    fn text_lists_findings_under_the_status_line() {
        let text = printed(
            ReportPrinter {
                json: false,
                quiet: false,
            },
            &sample(),
        );
        assert_eq!(
            text,
            "INVALID objects/a (id ark:/1)\n  E040 wrong \"head\"\n  W004 weak digest\n"
        );
        let quiet = ReportPrinter {
            json: false,
            quiet: true,
        };
        assert_eq!(printed(quiet, &ObjectReport::new("a")), "");
    }
}
