//! `ocfl export`: a version's files written into a new directory, or as a BagIt bag.

use std::process::ExitCode;

use anyhow::{Context, Result};
use serde_json::json;

use crate::args::{ExportArgs, GlobalArgs};
use crate::open::{open_root, root_storage};

/// Exports the version; nothing is left at DEST on failure.
pub fn run(global: &GlobalArgs, args: &ExportArgs) -> Result<ExitCode> {
    let storage = root_storage(global, "export")?;
    let root = open_root(&storage)?;
    let object = crate::mutable_head::open(&storage, &root, &args.id, &args.head, global.quiet)?;
    let exported = match args.bagit {
        true => object.export_bag(args.version, &args.dest),
        false => object.export_with(args.version, &args.dest, args.force),
    };
    let summary = exported.with_context(|| match args.force {
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
            "exported object {} version {} to {}{} ({} files, {} bytes)",
            object.id(),
            summary.version,
            args.dest.display(),
            if args.bagit { " as a BagIt bag" } else { "" },
            summary.files,
            summary.bytes
        );
    }
    Ok(ExitCode::SUCCESS)
}
