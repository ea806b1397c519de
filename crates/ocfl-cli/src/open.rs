//! The storage root the command line names, and opening it and its objects for the read and
//! manage commands, with errors that name the root (worded the same in every command).

use std::path::Path;

use anyhow::{Context, Result};
use ocfl_core::location::{Location, S3Location};
use ocfl_core::object::{Object, StorageRoot};
use ocfl_core::storage::{LocalStorage, Storage};

use crate::args::{GlobalArgs, UsageError};

/// The commands that read a root without writing to it or running the engine: the ones this
/// build serves on an S3 root.
pub const READ_COMMANDS: [&str; 8] = [
    "validate", "ls", "log", "show", "diff", "cat", "export", "info",
];

/// The commands that write or run the engine that this build serves on an S3 root.
pub const WRITE_COMMANDS: [&str; 11] = [
    "init", "commit", "put", "revert", "rollback", "upgrade", "purge", "resume", "runs", "worker",
    "serve",
];

/// Refuses a root this build cannot serve for `command`, before the command does anything:
/// `main` calls it for every command, so an `s3://` root is refused alike by every command
/// that cannot use it, and nothing is created.
pub fn check_supported(global: &GlobalArgs, command: &str) -> Result<()> {
    match &global.root {
        Some(Location::S3(root))
            if !cfg!(feature = "s3")
                || !READ_COMMANDS.contains(&command) && !WRITE_COMMANDS.contains(&command) =>
        {
            Err(s3_unsupported(root, command))
        }
        _ => Ok(()),
    }
}

/// The one place that turns an S3 root away (exit status 1).
fn s3_unsupported(root: &S3Location, command: &str) -> anyhow::Error {
    if cfg!(feature = "s3") {
        anyhow::anyhow!(
            "storage root {root}: `ocfl {command}` does not support S3 storage roots yet (on \
             S3 this build runs {} and {}; use a local directory)",
            READ_COMMANDS.join(", "),
            WRITE_COMMANDS.join(", ")
        )
    } else {
        anyhow::anyhow!(
            "storage root {root}: this build has no S3 support (it was built without the `s3` \
             feature; use a local directory)"
        )
    }
}

/// The storage of `--root`, local or in a bucket; messages name it and its objects by the
/// storage's `display_path` (a filesystem path, or an `s3://` URL).
pub struct RootStorage {
    storage: Box<dyn Storage>,
}

impl RootStorage {
    /// The local directory `path` as a root.
    pub fn local(path: &Path) -> RootStorage {
        RootStorage {
            storage: Box::new(LocalStorage::new(path)),
        }
    }

    /// The storage, kept for as long as the process lives (`ocfl serve` reads it until the
    /// end).
    pub fn leak(self) -> &'static dyn Storage {
        Box::leak(self.storage)
    }

    /// The storage itself.
    pub fn storage(&self) -> &dyn Storage {
        self.storage.as_ref()
    }

    /// The root as messages show it: its path, or its `s3://` URL.
    pub fn name(&self) -> String {
        self.storage.display_path("")
    }

    /// Where `relative` (a storage path, e.g. an object's) is, as reports show it.
    pub fn display_path(&self, relative: &str) -> String {
        self.storage.display_path(relative)
    }
}

/// The storage at `--root`: a local directory, or (for the read commands) an S3 prefix;
/// `command` names what needs it in the usage error.
pub fn root_storage(global: &GlobalArgs, command: &str) -> Result<RootStorage> {
    match &global.root {
        Some(Location::S3(root)) => s3_storage(root, command),
        _ => Ok(RootStorage::local(local_root(global, command)?)),
    }
}

#[cfg(feature = "s3")]
fn s3_storage(root: &S3Location, _command: &str) -> Result<RootStorage> {
    let storage = ocfl_object_store::S3Builder::new(root.clone())
        .build()
        .with_context(|| format!("storage root {root}"))?;
    Ok(RootStorage {
        storage: Box::new(storage),
    })
}

#[cfg(not(feature = "s3"))]
fn s3_storage(root: &S3Location, command: &str) -> Result<RootStorage> {
    Err(s3_unsupported(root, command))
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
        Some(Location::S3(root)) => Err(s3_unsupported(root, why)),
    }
}

/// [`local_root`], checked to be an existing directory (with `ocfl-core`'s wording, the same
/// as when the root is opened), before anything is created beside it.
pub fn existing_root<'a>(global: &'a GlobalArgs, why: &str) -> Result<&'a Path> {
    let root = local_root(global, why)?;
    StorageRoot::check_directory(&LocalStorage::new(root)).with_context(|| in_local_root(root))?;
    Ok(root)
}

/// [`existing_root`], checked to be a storage root this tool can write to (a declaration of
/// a known version), with the errors every command that opens the root gives. The commands
/// that write or run the engine call it before anything is created beside the root.
pub fn declared_root<'a>(global: &'a GlobalArgs, why: &str) -> Result<&'a Path> {
    let root = local_root(global, why)?;
    StorageRoot::open(&LocalStorage::new(root)).with_context(|| in_local_root(root))?;
    Ok(root)
}

/// The storage root in `storage`, its declaration and layout read.
pub fn open_root(storage: &RootStorage) -> Result<StorageRoot<'_>> {
    StorageRoot::open(storage.storage()).with_context(|| in_root(&storage.name()))
}

/// Object `id` of `root`, its inventory checked against its sidecar.
pub fn open_object<'a>(
    storage: &RootStorage,
    root: &StorageRoot<'a>,
    id: &str,
) -> Result<Object<'a>> {
    root.open_object(id)
        .with_context(|| in_root(&storage.name()))
}

/// The context line every read error carries; `root` as [`RootStorage::name`] gives it.
pub fn in_root(root: &str) -> String {
    format!("storage root {root}")
}

/// [`in_root`] for a local root.
pub fn in_local_root(root: &Path) -> String {
    in_root(&root.display().to_string())
}

/// [`root_storage`], with a local root checked to be an existing directory first (as
/// [`existing_root`] checks it); an S3 root is checked when it is opened.
pub fn existing_root_storage(global: &GlobalArgs, why: &str) -> Result<RootStorage> {
    match &global.root {
        Some(Location::S3(_)) => root_storage(global, why),
        _ => Ok(RootStorage::local(existing_root(global, why)?)),
    }
}
