//! `ocfl ls`: the objects of the storage root, or the files of one version of an object.

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use anyhow::{Context, Result};
use ocfl_core::object::{ListedObject, ObjectSummary};
use serde_json::json;

use crate::args::{GlobalArgs, LsArgs};
use crate::open::{open_root, root_storage};

/// Lists objects (no id) or one version's files.
pub fn run(global: &GlobalArgs, args: &LsArgs) -> Result<ExitCode> {
    let storage = root_storage(global, "ls")?;
    let root = open_root(&storage)?;
    let mut out = BufWriter::new(io::stdout().lock());
    let Some(id) = &args.id else {
        let listed = root
            .list_objects()
            .with_context(|| crate::open::in_root(&storage.name()))?;
        let code = print_objects(global, listed, &mut out)?;
        out.flush().context("writing the listing")?;
        return Ok(code);
    };
    let object = crate::mutable_head::open(&storage, &root, id, &args.head, global.quiet)?;
    for file in object.files(args.version)? {
        if global.json {
            let line = json!({
                "path": file.path.as_str(),
                "digest": file.digest.as_str(),
                "content_path": file.content_path.as_str(),
            });
            writeln!(out, "{line}")
        } else if global.verbose {
            writeln!(out, "{}  {}", file.digest, file.path)
        } else {
            writeln!(out, "{}", file.path)
        }
        .context("writing the listing")?;
    }
    out.flush().context("writing the listing")?;
    Ok(ExitCode::SUCCESS)
}

/// Prints readable objects sorted by id; reports the others on stderr (exit status 1).
fn print_objects(
    global: &GlobalArgs,
    listed: Vec<ListedObject>,
    out: &mut impl Write,
) -> Result<ExitCode> {
    let mut objects: Vec<(String, ObjectSummary)> = Vec::new();
    let mut unreadable = 0usize;
    for entry in listed {
        match entry.summary {
            Ok(summary) => objects.push((entry.path, summary)),
            Err(err) => {
                unreadable += 1;
                eprintln!("ocfl: error: object at {}: {err}", entry.path);
            }
        }
    }
    objects.sort_by(|a, b| a.1.id.cmp(&b.1.id));
    for (path, summary) in &objects {
        if global.json {
            let line = json!({
                "id": summary.id,
                "head": summary.head.to_string(),
                "path": path,
            });
            writeln!(out, "{line}")
        } else if global.verbose {
            writeln!(out, "{}  {}  {path}", summary.id, summary.head)
        } else {
            writeln!(out, "{}", summary.id)
        }
        .context("writing the listing")?;
    }
    if unreadable > 0 {
        eprintln!(
            "ocfl: {unreadable} of {} objects could not be read",
            objects.len() + unreadable
        );
    } else if global.verbose {
        eprintln!("{} objects", objects.len());
    }
    Ok(if unreadable == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
