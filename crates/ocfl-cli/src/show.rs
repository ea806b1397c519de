//! `ocfl show`: one version's metadata and files.

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde_json::json;

use crate::args::{GlobalArgs, ShowArgs};
use crate::log::{user_json, user_text};
use crate::open::{open_root, root_storage};

/// Prints the version's metadata, then its files.
pub fn run(global: &GlobalArgs, args: &ShowArgs) -> Result<ExitCode> {
    let storage = root_storage(global, "show")?;
    let root = open_root(&storage)?;
    let read = crate::mutable_head::read_version(
        &storage,
        &root,
        &args.id,
        &args.head,
        args.version,
        global.quiet,
    )?;
    let num = read.files.version();
    let version = read
        .info()
        .with_context(|| format!("object {}: version {num}", args.id))?;
    let files = &read.files;
    let is_head = num == read.head;
    let mut out = BufWriter::new(io::stdout().lock());
    if global.json {
        let files: Vec<_> = files
            .iter()
            .map(|f| {
                json!({
                    "path": f.path,
                    "digest": f.digest,
                    "content_path": f.content_path,
                })
            })
            .collect();
        let line = json!({
            "id": read.id,
            "version": num.to_string(),
            "head": is_head,
            "created": version.created,
            "user": user_json(version.user.as_ref()),
            "message": version.message,
            "files": files,
        });
        writeln!(out, "{line}").context("writing the version")?;
    } else {
        let head = if is_head { " (head)" } else { "" };
        let text = format!(
            "object   {}\nversion  {num}{head}\ncreated  {}\nuser     {}\nmessage  {}\nfiles    {}\n",
            read.id,
            version.created,
            user_text(version.user.as_ref()),
            version.message.as_deref().unwrap_or("-"),
            files.len(),
        );
        out.write_all(text.as_bytes())
            .context("writing the version")?;
        for file in files.iter() {
            if global.verbose {
                writeln!(out, "  {}  {}", file.digest, file.path)
            } else {
                writeln!(out, "  {}", file.path)
            }
            .context("writing the version")?;
        }
    }
    out.flush().context("writing the version")?;
    Ok(ExitCode::SUCCESS)
}
