//! The layout's files in a storage root: `ocfl_layout.json` (which extension) and
//! `extensions/<name>/config.json` (its parameters).

use serde::{Deserialize, Serialize};

use super::{Layout, LayoutError, LayoutRegistry};
use crate::storage::{Storage, StorageError};

/// The storage root's layout description file.
pub const LAYOUT_FILE: &str = "ocfl_layout.json";

/// The storage path of extension `name`'s `config.json`.
pub fn config_path(name: &str) -> String {
    format!("extensions/{name}/config.json")
}

/// `ocfl_layout.json` as read: both keys are required (E070). Owned strings, since JSON
/// escapes (`\u00e9`, `\"`) cannot be borrowed from the input.
#[derive(Deserialize)]
struct LayoutFile {
    extension: String,
    #[serde(rename = "description")]
    _description: String,
}

/// `ocfl_layout.json` as written.
#[derive(Serialize)]
struct LayoutFileOut<'a> {
    extension: &'a str,
    description: &'a str,
}

/// The file's bytes, or `None` when it does not exist.
fn read_optional(storage: &dyn Storage, path: &str) -> Result<Option<Vec<u8>>, StorageError> {
    match storage.read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

pub(super) fn read(
    storage: &dyn Storage,
    layouts: &LayoutRegistry,
) -> Result<Option<Layout>, LayoutError> {
    let Some(bytes) = read_optional(storage, LAYOUT_FILE)? else {
        return Ok(None);
    };
    let file: LayoutFile = serde_json::from_slice(&bytes)
        .map_err(|e| LayoutError::InvalidLayoutFile(e.to_string()))?;
    // Checked before the name is used in a path, so an odd name cannot point elsewhere.
    let name = file.extension.as_str();
    if !layouts.knows(name) {
        return Err(LayoutError::Unsupported(file.extension));
    }
    let config = read_optional(storage, &config_path(name))?;
    layouts.from_config(name, config.as_deref()).map(Some)
}

pub(super) fn write(layout: &Layout, storage: &dyn Storage) -> Result<(), LayoutError> {
    layout.validate()?;
    let name = layout.name();
    // The config goes first: an interruption then leaves either no ocfl_layout.json or
    // both files, never an ocfl_layout.json whose missing config would read as defaults.
    if let Some(config) = layout.config_file() {
        storage.create_dir(&format!("extensions/{name}"))?;
        // The directories' entries are durable before the files in them (which are, once
        // written).
        storage.sync(&["extensions".to_owned(), String::new()])?;
        storage.write_atomic(&config_path(name), &config)?;
    }
    let file = LayoutFileOut {
        extension: name,
        description: layout.description(),
    };
    let mut bytes = serde_json::to_vec_pretty(&file)
        .map_err(|e| LayoutError::InvalidLayoutFile(e.to_string()))?;
    bytes.push(b'\n');
    storage.write_atomic(LAYOUT_FILE, &bytes)?;
    Ok(())
}
