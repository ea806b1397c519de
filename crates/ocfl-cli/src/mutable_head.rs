//! `--mutable-head` of the read commands: objects with a mutable HEAD (extension 0005, which
//! Fedora 6 writes) read through it instead of through their root inventory.

use anyhow::{Context, Result, anyhow};
use clap::Args;
use ocfl_core::inventory::OneVersion;
use ocfl_core::object::mutable_head::has_mutable_head;
use ocfl_core::object::{Object, ObjectError, StorageRoot};
use ocfl_core::version_num::VersionNum;

use crate::open::{RootStorage, in_root, open_object};

/// The flag, flattened into `ls`, `show`, `cat` and `export`.
#[derive(Debug, Args)]
pub struct MutableHeadArg {
    /// Read the object's mutable HEAD (extension 0005, as Fedora 6 writes it): its
    /// uncommitted version becomes the head, and --version can name it or any earlier one.
    #[arg(long)]
    pub mutable_head: bool,
}

/// Object `id` as `--mutable-head` asks: through its mutable HEAD, or (without the flag)
/// through its root inventory, with a note on stderr when a mutable HEAD holds a newer
/// version than the one shown.
pub fn open<'a>(
    storage: &'a RootStorage,
    root: &StorageRoot<'a>,
    id: &str,
    arg: &MutableHeadArg,
    quiet: bool,
) -> Result<Object<'a>> {
    let object = open_object(storage, root, id)?;
    if arg.mutable_head {
        return Object::open_mutable_head(storage.storage(), object.path())
            .with_context(|| in_root(&storage.name()));
    }
    // Only a note: a failure to look is not worth failing a read that works.
    if !quiet && has_mutable_head(storage.storage(), object.path()).unwrap_or(false) {
        eprintln!(
            "note: object {id} has a mutable HEAD (extension 0005) after {}; --mutable-head reads it",
            object.head()
        );
    }
    Ok(object)
}

/// Version `version` (the head when `None`) of object `id` as `--mutable-head` asks, with
/// every version's metadata; without the flag it is read from the root inventory without
/// building the whole model ([`StorageRoot::read_version`]), with [`open`]'s note. Errors
/// are worded as [`open`] and [`Object::version`] word them: the object's own problems
/// name the root, a missing version does not.
pub fn read_version(
    storage: &RootStorage,
    root: &StorageRoot<'_>,
    id: &str,
    arg: &MutableHeadArg,
    version: Option<VersionNum>,
    quiet: bool,
) -> Result<OneVersion> {
    if arg.mutable_head {
        let object = open(storage, root, id, arg, quiet)?;
        let (num, _) = object.version(version)?;
        return OneVersion::from_inventory(object.inventory(), Some(num))
            .with_context(|| format!("object {id}: version {num}"));
    }
    let read = match root.read_version(id, version) {
        Ok(read) => read,
        Err(err @ ObjectError::UnknownVersion { .. }) => return Err(err.into()),
        Err(err) => return Err(anyhow!(err).context(in_root(&storage.name()))),
    };
    // Only a note: a failure to look is not worth failing a read that works.
    let has = root
        .object_path(id)
        .ok()
        .is_some_and(|path| has_mutable_head(storage.storage(), &path).unwrap_or(false));
    if !quiet && has {
        eprintln!(
            "note: object {id} has a mutable HEAD (extension 0005) after {}; --mutable-head reads it",
            read.head
        );
    }
    Ok(read)
}
