//! `ocfl export`: a version's files written into a new directory.

use std::process::ExitCode;

use anyhow::{Context, Result};
use serde_json::json;

use crate::args::{ExportArgs, GlobalArgs};
use crate::open::{open_object, open_root, root_storage};

/// Exports the version; nothing is left at DEST on failure.
pub fn run(global: &GlobalArgs, args: &ExportArgs) -> Result<ExitCode> {
    let storage = root_storage(global, "export")?;
    let root = open_root(&storage)?;
    let object = open_object(&storage, &root, &args.id)?;
    let summary = object
        .export_with(args.version, &args.dest, args.force)
        .with_context(|| match args.force {
            true => format!("exporting object {:?}", args.id),
            false => format!(
                "exporting object {:?} (--force writes into an existing directory)",
                args.id
            ),
        })?;
    if global.json {
        let line = json!({
            "id": object.id(),
            "version": summary.version.to_string(),
            "dest": args.dest.display().to_string(),
            "files": summary.files,
            "bytes": summary.bytes,
        });
        println!("{line}");
    }
    if !global.quiet {
        eprintln!(
            "exported object {} version {} to {} ({} files, {} bytes)",
            object.id(),
            summary.version,
            args.dest.display(),
            summary.files,
            summary.bytes
        );
    }
    Ok(ExitCode::SUCCESS)
}
