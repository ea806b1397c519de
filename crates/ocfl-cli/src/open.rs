//! The storage root the command line names, and opening it and its objects for the read and
//! manage commands, with errors that name the root (worded the same in every command).

use std::path::Path;

use anyhow::{Context, Result};
use ocfl_core::location::{Location, S3Location};
use ocfl_core::object::{Object, StorageRoot};
use ocfl_core::storage::LocalStorage;

use crate::args::{GlobalArgs, UsageError};

/// Refuses a root this build cannot serve, before a command does anything: `main` calls it
/// for every command, so an `s3://` root is refused alike everywhere and nothing is created.
pub fn check_supported(global: &GlobalArgs) -> Result<()> {
    match &global.root {
        Some(Location::S3(root)) => Err(s3_unsupported(root)),
        _ => Ok(()),
    }
}

/// The one place that turns an S3 root away (exit status 1): S3 support replaces it.
fn s3_unsupported(root: &S3Location) -> anyhow::Error {
    anyhow::anyhow!(
        "storage root {root}: S3 storage roots are not supported by this build yet (use a \
         local directory)"
    )
}

/// The local storage root of `--root`, or a usage error that starts with `why` (what needed
/// it).
pub fn local_root<'a>(global: &'a GlobalArgs, why: &str) -> Result<&'a Path> {
    match &global.root {
        None => Err(UsageError(format!(
            "{why} needs a storage root: pass --root DIR or set OCFL_ROOT"
        ))
        .into()),
        Some(Location::Local(path)) => Ok(path),
        Some(Location::S3(root)) => Err(s3_unsupported(root)),
    }
}

/// [`local_root`], checked to be an existing directory (with `ocfl-core`'s wording, the same
/// as when the root is opened), before anything is created beside it.
pub fn existing_root<'a>(global: &'a GlobalArgs, why: &str) -> Result<&'a Path> {
    let root = local_root(global, why)?;
    StorageRoot::check_directory(&LocalStorage::new(root)).with_context(|| in_root(root))?;
    Ok(root)
}

/// [`existing_root`], checked to be a storage root this tool can write to (a declaration of
/// a known version), with the errors every command that opens the root gives. The commands
/// that write or run the engine call it before anything is created beside the root.
pub fn declared_root<'a>(global: &'a GlobalArgs, why: &str) -> Result<&'a Path> {
    let root = local_root(global, why)?;
    open_root(&LocalStorage::new(root))?;
    Ok(root)
}

/// The storage at `--root`; `command` names what needs it in the usage error.
pub fn root_storage(global: &GlobalArgs, command: &str) -> Result<LocalStorage> {
    Ok(LocalStorage::new(local_root(global, command)?))
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
