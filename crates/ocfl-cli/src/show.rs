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
    let object = crate::mutable_head::open(&storage, &root, &args.id, &args.head, global.quiet)?;
    let (num, version) = object.version(args.version)?;
    let files = object.files(Some(num))?;
    let is_head = num == object.head();
    let mut out = BufWriter::new(io::stdout().lock());
    if global.json {
        let files: Vec<_> = files
            .iter()
            .map(|f| {
                json!({
                    "path": f.path.as_str(),
                    "digest": f.digest.as_str(),
                    "content_path": f.content_path.as_str(),
                })
            })
            .collect();
        let line = json!({
            "id": object.id(),
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
            object.id(),
            version.created,
            user_text(version.user.as_ref()),
            version.message.as_deref().unwrap_or("-"),
            files.len(),
        );
        out.write_all(text.as_bytes())
            .context("writing the version")?;
        for file in &files {
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
