//! `ocfl log`: an object's versions, newest first, or those that changed one file.

use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use ocfl_core::inventory::{Inventory, User, Version};
use ocfl_core::object::path_history;
use serde_json::{Value, json};

use crate::args::{GlobalArgs, LogArgs};
use crate::open::{open_object, open_root, root_storage};

/// Prints one line per version.
pub fn run(global: &GlobalArgs, args: &LogArgs) -> Result<ExitCode> {
    let storage = root_storage(global, "log")?;
    let root = open_root(&storage)?;
    let object = open_object(&storage, &root, &args.id)?;
    if let Some(path) = &args.path {
        return path_log(global, object.inventory(), &args.id, path);
    }
    let mut out = BufWriter::new(io::stdout().lock());
    for (num, version) in object.inventory().versions.iter().rev() {
        if global.json {
            let line = json!({
                "version": num.to_string(),
                "created": version.created,
                "user": user_json(version.user.as_ref()),
                "message": version.message,
            });
            writeln!(out, "{line}")
        } else {
            writeln!(out, "{}", log_line(&num.to_string(), version))
        }
        .context("writing the log")?;
    }
    out.flush().context("writing the log")?;
    Ok(ExitCode::SUCCESS)
}

/// The versions that changed `path`, newest first; an error if none ever held it.
fn path_log(global: &GlobalArgs, inventory: &Inventory, id: &str, path: &str) -> Result<ExitCode> {
    let history = path_history(inventory, path);
    if history.is_empty() {
        bail!(
            "object {id}: no version has a file at {path:?} (head is {})",
            inventory.head
        );
    }
    let mut out = BufWriter::new(io::stdout().lock());
    for change in history.iter().rev() {
        let Some(version) = inventory.versions.get(&change.version) else {
            continue;
        };
        if global.json {
            let line = json!({
                "version": change.version.to_string(),
                "created": version.created,
                "user": user_json(version.user.as_ref()),
                "message": version.message,
                "path": path,
                "change": change.change.as_str(),
                "digest": change.digest.map(|d| d.as_str()),
            });
            writeln!(out, "{line}")
        } else {
            let line = log_line(&change.version.to_string(), version);
            writeln!(out, "{:<8}  {line}", change.change.as_str())
        }
        .context("writing the log")?;
    }
    out.flush().context("writing the log")?;
    Ok(ExitCode::SUCCESS)
}

/// `{"name": ..., "address": ... or null}` or null.
pub fn user_json(user: Option<&User>) -> Value {
    user.map_or(
        Value::Null,
        |u| json!({"name": u.name, "address": u.address}),
    )
}

/// `Name <address>`, `Name`, or `-` when the version records no user.
pub fn user_text(user: Option<&User>) -> String {
    match user {
        Some(User {
            name,
            address: Some(address),
        }) => format!("{name} <{address}>"),
        Some(User {
            name,
            address: None,
        }) => name.clone(),
        None => "-".to_owned(),
    }
}

/// `v3  2018-03-03T03:03:03Z  Name <address>  message`.
fn log_line(num: &str, version: &Version) -> String {
    let mut line = format!(
        "{num}  {}  {}",
        version.created,
        user_text(version.user.as_ref())
    );
    if let Some(message) = &version.message {
        // A message may span lines; keep one version per line.
        line.push_str("  ");
        line.push_str(&message.replace('\n', " "));
    }
    line
}
