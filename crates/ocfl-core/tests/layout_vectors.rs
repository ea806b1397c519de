//! Every worked example of the layout extension docs (`fixtures/extensions/VECTORS.tsv`)
//! mapped through [`Layout`] and compared with the documented object root path.

use std::path::Path;

use ocfl_core::layout::{EXTENSION_NAMES, Layout, LayoutError};

/// One TSV row, by column name.
struct Row<'a> {
    line: usize,
    extension: &'a str,
    doc_section: &'a str,
    id: &'a str,
    config_json: &'a str,
    documented_digest: &'a str,
    documented_path: &'a str,
    check: &'a str,
}

const COLUMNS: [&str; 8] = [
    "extension",
    "doc_section",
    "object_id_or_path",
    "config_json",
    "documented_digest",
    "documented_object_root_path",
    "check",
    "note",
];

/// The documented prefix of rows that show only the encapsulation directory.
const ENCAPSULATION_ONLY: &str = "(enc. dir) ";

fn read_vectors() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/extensions/VECTORS.tsv");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn parse(text: &str) -> Vec<Row<'_>> {
    let mut lines = text.lines().enumerate();
    let (_, header) = lines.next().expect("header line");
    assert_eq!(
        header.split('\t').collect::<Vec<_>>(),
        COLUMNS,
        "TSV header"
    );
    lines
        .filter(|(_, line)| !line.is_empty())
        .map(|(index, line)| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields.len(), COLUMNS.len(), "line {}: {line:?}", index + 1);
            Row {
                line: index + 1,
                extension: fields[0],
                doc_section: fields[1],
                id: fields[2],
                config_json: fields[3],
                documented_digest: fields[4],
                documented_path: fields[5],
                check: fields[6],
            }
        })
        .collect()
}

/// The path the row must produce: the documented one, except where the `check` column
/// flags a documentation error and gives the value the procedure really yields.
fn expected_path(row: &Row<'_>) -> String {
    if let Some(rest) = row.check.strip_prefix("MISMATCH") {
        // 0003 Example 3: the doc's table shows `object-id`, but its own procedure and its
        // Python `run_tests` (tupleSize 0) give `object-01`; VECTORS.tsv records the
        // correct value between backticks in the `check` column, and we assert that one.
        let correct = rest
            .split('`')
            .nth(1)
            .unwrap_or_else(|| panic!("line {}: no corrected value in {:?}", row.line, row.check));
        return correct.to_owned();
    }
    row.documented_path.to_owned()
}

#[test]
fn every_documented_example_maps_as_documented() {
    let text = read_vectors();
    let rows = parse(&text);
    let mut checked = 0;
    let mut refused = 0;
    let mut corrected = 0;
    let mut skipped: Vec<&str> = Vec::new();

    for row in &rows {
        let Some(name) = EXTENSION_NAMES
            .iter()
            .find(|name| name.starts_with(&format!("{}-", row.extension)))
        else {
            skipped.push(row.extension);
            continue;
        };
        let context = format!(
            "line {} ({} {}, id {:?})",
            row.line, row.extension, row.doc_section, row.id
        );
        let layout = Layout::from_config(name, Some(row.config_json.as_bytes()))
            .unwrap_or_else(|e| panic!("{context}: config {}: {e}", row.config_json));
        let mapped = layout.map_object_id(row.id);

        // The docs' "invalid on unix" examples print a path no filesystem accepts; the
        // layout must refuse those ids instead of producing it.
        if row.doc_section.contains("(invalid") {
            match mapped {
                Err(LayoutError::UnmappableId { .. }) => {}
                other => panic!("{context}: expected UnmappableId, got {other:?}"),
            }
            refused += 1;
            checked += 1;
            continue;
        }

        let mapped = mapped.unwrap_or_else(|e| panic!("{context}: {e}"));
        let expected = expected_path(row);
        if expected != row.documented_path {
            corrected += 1;
        }
        match expected.strip_prefix(ENCAPSULATION_ONLY) {
            Some(directory) => {
                let last = mapped.rsplit('/').next().unwrap_or_default();
                assert_eq!(last, directory, "{context}: full path {mapped}");
            }
            None => assert_eq!(mapped, expected, "{context}"),
        }

        // Where the doc shows the digest, the tuple directories must be cut from it.
        if row.documented_digest != "-" {
            let tuples = match mapped.rsplit_once('/') {
                Some((directories, _)) => directories.replace('/', ""),
                None => String::new(),
            };
            assert!(
                row.documented_digest.starts_with(&tuples),
                "{context}: tuples {tuples:?} are not a prefix of the documented digest {}",
                row.documented_digest
            );
        }
        checked += 1;
    }

    for extension in ["0010", "0011"] {
        let count = skipped.iter().filter(|e| **e == extension).count();
        println!(
            "note: skipped {count} VECTORS.tsv rows of extension {extension} (not implemented)"
        );
    }
    println!(
        "checked {checked} rows ({refused} refused as documented-invalid, {corrected} against the corrected value)"
    );
    assert!(checked > 0, "VECTORS.tsv yielded no checked rows");
    assert_eq!(checked + skipped.len(), rows.len());
    // Only the extensions this crate does not implement may be skipped.
    assert!(
        skipped.iter().all(|e| ["0010", "0011"].contains(e)),
        "unexpected skipped extensions: {skipped:?}"
    );
    assert_eq!(
        corrected, 1,
        "exactly one row is flagged as a documentation error"
    );
    for implemented in ["0002", "0003", "0004", "0006", "0007", "0012"] {
        assert!(
            rows.iter().any(|r| r.extension == implemented),
            "no VECTORS.tsv rows for {implemented}"
        );
    }
}
