//! `ocfl info`: what a storage root or one object is (specification, layout, digest
//! algorithms, sizes), as text or one `--json` line.

use std::collections::BTreeSet;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;
use ocfl_core::object::{Object, StorageRoot};
use ocfl_core::storage::{EntryKind, join};
use serde_json::{Value, json};

use crate::args::GlobalArgs;
use crate::open::{RootStorage, in_root, open_object, open_root, root_storage};
use crate::root_settings::RootSettings;

/// `ocfl info`.
#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The object id; omit for the storage root.
    pub id: Option<String>,
    /// Count the root's objects and the bytes of their content (reads every inventory and
    /// the size of every content file).
    #[arg(long, conflicts_with = "id")]
    pub count: bool,
}

/// Prints the root's or the object's information.
pub fn run(global: &GlobalArgs, args: &InfoArgs) -> Result<ExitCode> {
    let storage = root_storage(global, "info")?;
    let root = open_root(&storage)?;
    let info = match &args.id {
        Some(id) => object_info(&storage, &open_object(&storage, &root, id)?)?,
        None => root_info(&storage, &root, args.count)?,
    };
    if global.json {
        println!("{info}");
    } else {
        print_text(&info);
    }
    Ok(ExitCode::SUCCESS)
}

/// The root's line: declaration, layout, new objects' digest algorithm, and with `count`
/// its objects and their content bytes.
fn root_info(storage: &RootStorage, root: &StorageRoot<'_>, count: bool) -> Result<Value> {
    let settings = RootSettings::read_storage(storage.storage(), &storage.name())?;
    let layout_config = root
        .layout()
        .map(|layout| serde_json::from_slice::<Value>(&layout.config_json()))
        .transpose()
        .context("the layout's configuration")?;
    let (objects, bytes) = match count {
        true => {
            let (objects, bytes) = count_objects(storage, root)?;
            (Some(objects), Some(bytes))
        }
        false => (None, None),
    };
    Ok(json!({
        "root": storage.name(),
        "spec": root.spec_version().as_str(),
        "layout": root.layout().map(|layout| layout.name()),
        "layout_config": layout_config,
        "digest": settings.unwrap_or_default().digest_algorithm.name(),
        "objects": objects,
        "bytes": bytes,
    }))
}

/// The number of objects of the root and the bytes of every content file they hold; an
/// object that cannot be read fails the count, naming it.
fn count_objects(storage: &RootStorage, root: &StorageRoot<'_>) -> Result<(u64, u64)> {
    let listed = root
        .list_objects()
        .with_context(|| in_root(&storage.name()))?;
    let mut bytes = 0u64;
    for entry in &listed {
        let summary = entry
            .summary
            .as_ref()
            .map_err(|e| anyhow::anyhow!("object at {}: {e}", entry.path))?;
        let object = Object::open(storage.storage(), &entry.path)
            .with_context(|| format!("object {}", summary.id))?;
        for paths in object.inventory().manifest.values() {
            for path in paths {
                bytes += content_size(storage, &object, path.as_str())?;
            }
        }
    }
    Ok((listed.len() as u64, bytes))
}

fn content_size(storage: &RootStorage, object: &Object<'_>, content_path: &str) -> Result<u64> {
    storage
        .storage()
        .size(&join(object.path(), content_path))
        .with_context(|| format!("object {}: size of {content_path}", object.id()))
}

/// The object's line: where it is, its versions, the head state's files and bytes, its
/// algorithms and extensions.
fn object_info(storage: &RootStorage, object: &Object<'_>) -> Result<Value> {
    let inventory = object.inventory();
    let mut files = 0u64;
    let mut bytes = 0u64;
    for file in object.files(None)? {
        files += 1;
        bytes += content_size(storage, object, file.content_path.as_str())?;
    }
    let fixity: BTreeSet<&str> = inventory
        .fixity
        .iter()
        .flat_map(|fixity| fixity.keys().map(String::as_str))
        .collect();
    let extensions_dir = join(object.path(), "extensions");
    let extensions: Vec<String> = match storage.storage().kind_if_exists(&extensions_dir)? {
        Some(EntryKind::Directory) => {
            let mut names: Vec<String> = storage
                .storage()
                .list(&extensions_dir)
                .with_context(|| format!("object {}: listing extensions", object.id()))?
                .into_iter()
                .filter(|e| e.kind == EntryKind::Directory)
                .map(|e| e.name)
                .collect();
            names.sort();
            names
        }
        _ => Vec::new(),
    };
    Ok(json!({
        "id": object.id(),
        "path": storage.display_path(object.path()),
        "spec": inventory.spec_version.as_str(),
        "head": inventory.head.to_string(),
        "versions": inventory.versions.len(),
        "files": files,
        "bytes": bytes,
        "digest": inventory.digest_algorithm.name(),
        "fixity": fixity,
        "extensions": extensions,
    }))
}

/// `key: value` lines, in the JSON's order; lists joined by commas, nested objects as JSON.
fn print_text(info: &Value) {
    let Some(fields) = info.as_object() else {
        return;
    };
    for (key, value) in fields {
        let text = match value {
            Value::Null => continue,
            Value::String(text) => text.clone(),
            Value::Array(items) if items.is_empty() => "-".to_owned(),
            Value::Array(items) => items
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join(", "),
            other => other.to_string(),
        };
        println!("{key}: {text}");
    }
}
