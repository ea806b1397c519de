//! Opening the storage root and objects for the read and manage commands, with errors that
//! name the root.

use std::path::Path;

use anyhow::{Context, Result};
use ocfl_core::object::{Object, StorageRoot};
use ocfl_core::storage::LocalStorage;

use crate::args::GlobalArgs;

/// The storage at `--root`; `command` names what needs it in the usage error.
pub fn root_storage(global: &GlobalArgs, command: &str) -> Result<LocalStorage> {
    Ok(LocalStorage::new(global.require_root(command)?))
}

/// The storage root in `storage`, its declaration and layout read.
pub fn open_root(storage: &LocalStorage) -> Result<StorageRoot<'_>> {
    StorageRoot::open(storage).with_context(|| in_root(storage.root()))
}

/// Object `id` of `root`, its inventory checked against its sidecar.
pub fn open_object<'a>(
    storage: &LocalStorage,
    root: &StorageRoot<'a>,
    id: &str,
) -> Result<Object<'a>> {
    root.open_object(id)
        .with_context(|| in_root(storage.root()))
}

/// The context line every read error carries.
pub fn in_root(root: &Path) -> String {
    format!("storage root {}", root.display())
}
