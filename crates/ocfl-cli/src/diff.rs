//! `ocfl diff`: what changed between two versions of an object.

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use anyhow::{Context, Result};
use ocfl_core::object::VersionDiff;
use serde_json::{Value, json};

use crate::args::{DiffArgs, GlobalArgs};
use crate::open::{open_object, open_root, root_storage};

/// Prints one line per change, in path order.
pub fn run(global: &GlobalArgs, args: &DiffArgs) -> Result<ExitCode> {
    let storage = root_storage(global, "diff")?;
    let root = open_root(&storage)?;
    let object = open_object(&storage, &root, &args.id)?;
    let diff = object.diff(args.from, args.to)?;
    let mut out = BufWriter::new(io::stdout().lock());
    for (_, text, line) in changes(&diff) {
        if global.json {
            writeln!(out, "{line}")
        } else {
            writeln!(out, "{text}")
        }
        .context("writing the differences")?;
    }
    out.flush().context("writing the differences")?;
    if !global.quiet {
        eprintln!(
            "{} to {}: {} added, {} removed, {} modified, {} renamed",
            object.version(Some(args.from))?.0,
            object.version(Some(args.to))?.0,
            diff.added.len(),
            diff.removed.len(),
            diff.modified.len(),
            diff.renamed.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Every change as (sort key, text line, JSON line), sorted by path.
fn changes(diff: &VersionDiff) -> Vec<(String, String, Value)> {
    let mut all = Vec::new();
    for added in &diff.added {
        all.push((
            added.path.to_string(),
            format!("A {}", added.path),
            json!({"change": "added", "path": added.path.as_str(), "digest": added.digest.as_str()}),
        ));
    }
    for removed in &diff.removed {
        all.push((
            removed.path.to_string(),
            format!("D {}", removed.path),
            json!({"change": "removed", "path": removed.path.as_str(), "digest": removed.digest.as_str()}),
        ));
    }
    for modified in &diff.modified {
        all.push((
            modified.path.to_string(),
            format!("M {}", modified.path),
            json!({
                "change": "modified",
                "path": modified.path.as_str(),
                "old_digest": modified.from.as_str(),
                "digest": modified.to.as_str(),
            }),
        ));
    }
    for renamed in &diff.renamed {
        all.push((
            renamed.from.to_string(),
            format!("R {} -> {}", renamed.from, renamed.to),
            json!({
                "change": "renamed",
                "path": renamed.to.as_str(),
                "old_path": renamed.from.as_str(),
                "digest": renamed.digest.as_str(),
            }),
        ));
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}
