//! Rolling an object back: removing the versions after one of its versions.
//!
//! The protocol and its window are `docs/durability.md`, section 4b: the root inventory and
//! its sidecar are replaced by the kept version's own (each written to a staging directory
//! outside the object, flushed, renamed over and flushed), and only then are the later
//! version directories moved out to the staging directory, newest first, and removed.
//! Running the same rollback again after an interruption finishes it.

use std::io::Write;

use crate::digest::DigestAlgorithm;
use crate::inventory::parse_inventory;
use crate::sidecar::{INVENTORY_FILE, parse_sidecar, sidecar_name};
use crate::storage::{EntryKind, Storage, StorageError, join, parent};
use crate::validate::{ValidationOptions, validate_object};
use crate::version_num::VersionNum;

use super::error::ObjectError;
use super::root::{EXTENSIONS_DIR, StorageRoot};

/// Where a rollback prepares the files it renames into the object: in the storage root, so
/// on the object's filesystem, but outside the object, so that a temporary file left by a
/// crash never makes the object invalid (E001); readers ignore it (a whole-root validation
/// warns, W016, until the rollback is run again and removes it).
const STAGING_DIR: &str = "extensions/ocfl-rollback";

/// What [`rollback_object`] did, or with `dry_run` would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolledBack {
    /// Where the object is, relative to the storage root.
    pub path: String,
    /// The version that is the head afterwards.
    pub version: VersionNum,
    /// The version directories removed (or to remove), newest first.
    pub removed: Vec<VersionNum>,
    /// Whether anything was written or removed (false for a dry run, and for an object whose
    /// head already is `version` with nothing left to remove).
    pub changed: bool,
}

/// Removes the versions after `version` of object `id` in the storage root `storage`, or
/// with `dry_run` only says which. Refused ([`ObjectError::Rollback`]) for an object whose
/// structure is invalid (unless it is in the window of an interrupted rollback to `version`),
/// a version it does not have, or a version inventory that is missing, does not match its
/// sidecar, or has another digest algorithm or specification version than the head's.
pub fn rollback_object(
    storage: &dyn Storage,
    id: &str,
    version: VersionNum,
    dry_run: bool,
) -> Result<RolledBack, ObjectError> {
    let root = StorageRoot::open(storage)?;
    let path = root.object_path(id)?;
    let refuse = |reason: String| ObjectError::Rollback {
        id: id.to_owned(),
        reason,
    };
    // The mutable HEAD's inventory holds the root's versions: removing some would leave it
    // describing versions the object no longer has.
    if super::mutable_head::has_mutable_head(storage, &path)? {
        return Err(refuse(format!(
            "it has a mutable HEAD ({}, extension 0005) built on its current versions; commit or purge the mutable HEAD with the tool that made it first",
            super::mutable_head::EXTENSION_DIR
        )));
    }
    let versions = version_dirs(storage, &path)?;
    let Some((kept_name, _)) = versions
        .iter()
        .find(|(_, v)| v.number() == version.number())
    else {
        // Opening the object first says "not found" or "not an object" when that is the cause.
        let object = root.open_object(id)?;
        return Err(ObjectError::UnknownVersion {
            id: id.to_owned(),
            version: version.to_string(),
            head: object.head().to_string(),
        });
    };
    let kept_dir = join(&path, kept_name);
    let kept_inventory = storage
        .read(&join(&kept_dir, INVENTORY_FILE))
        .map_err(|e| refuse(format!("{kept_name} has no readable inventory: {e}")))?;
    let parsed = parse_inventory(&kept_inventory);
    let valid = !parsed.has_errors();
    let inventory = match (parsed.inventory, valid) {
        (Some(inventory), true) => inventory,
        _ => {
            return Err(refuse(format!(
                "{kept_name}/{INVENTORY_FILE} is not a valid inventory"
            )));
        }
    };
    let sidecar = sidecar_name(inventory.digest_algorithm);
    let kept_sidecar = storage
        .read(&join(&kept_dir, &sidecar))
        .map_err(|e| refuse(format!("{kept_name}/{sidecar}: {e}")))?;
    let recorded = parse_sidecar(&kept_sidecar, inventory.digest_algorithm)
        .map_err(|e| refuse(format!("{kept_name}/{sidecar}: {e}")))?;
    if inventory.digest_algorithm.digest_bytes(&kept_inventory) != recorded {
        return Err(refuse(format!(
            "{kept_name}/{INVENTORY_FILE} does not match its sidecar"
        )));
    }
    let root_inventory = join(&path, INVENTORY_FILE);
    let interrupted = storage.read(&root_inventory)? == kept_inventory;
    if !interrupted {
        let object = root.open_object(id)?;
        let head = object.inventory();
        if version.number() > head.head.number() {
            return Err(ObjectError::UnknownVersion {
                id: id.to_owned(),
                version: version.to_string(),
                head: head.head.to_string(),
            });
        }
        if head.digest_algorithm != inventory.digest_algorithm
            || head.spec_version != inventory.spec_version
        {
            return Err(refuse(format!(
                "{kept_name} has another digest algorithm or specification version than the head {}; rolling back across that change is not supported",
                head.head
            )));
        }
        let report = validate_object(
            storage,
            &path,
            &ValidationOptions {
                check_fixity: false,
            },
        );
        if let Some(first) = report.errors.first() {
            return Err(refuse(format!(
                "the object is invalid ({}: {}); run `ocfl validate {id}`",
                first.code.as_str(),
                first.message
            )));
        }
    }
    let mut removed: Vec<(String, VersionNum)> = versions
        .into_iter()
        .filter(|(_, v)| v.number() > version.number())
        .collect();
    removed.sort_by_key(|(_, v)| std::cmp::Reverse(v.number()));
    let sidecar_path = join(&path, &sidecar);
    let settled = interrupted
        && removed.is_empty()
        && storage.read(&sidecar_path).ok().as_deref() == Some(kept_sidecar.as_slice());
    let outcome = RolledBack {
        path: path.clone(),
        version: inventory.head,
        removed: removed.iter().map(|(_, v)| *v).collect(),
        changed: !dry_run && !settled,
    };
    let staging = join(
        STAGING_DIR,
        &DigestAlgorithm::Sha256
            .digest_bytes(path.as_bytes())
            .as_str()[..16],
    );
    if dry_run {
        return Ok(outcome);
    }
    if settled {
        // What an interrupted rollback left outside the object.
        tidy(storage, &staging)?;
        return Ok(outcome);
    }
    if !storage.renames_atomically() {
        // An object store (`docs/durability.md` 4b, "In a bucket"): each PUT is atomic and
        // durable on return, so the root inventory and sidecar are written in place; a later
        // version cannot leave the object in one step (moving it would copy every key and
        // still delete each one), so its keys are deleted, newest version first, only once
        // the root inventory no longer names it.
        storage.write_atomic(&root_inventory, &kept_inventory)?;
        storage.write_atomic(&sidecar_path, &kept_sidecar)?;
        for (name, _) in &removed {
            storage.remove(&join(&path, name))?;
        }
        return Ok(outcome);
    }
    install(storage, &staging, &root_inventory, &kept_inventory)?;
    install(storage, &staging, &sidecar_path, &kept_sidecar)?;
    // Each later version leaves the object by one rename, so that a reader never meets a
    // half-removed version (E092 for its missing content), and each rename is flushed before
    // the next: unflushed, a power cut may keep a later one without an earlier one, leaving
    // vH without v(H-1), whose content vH's inventory names. Then they go with the staging.
    for (name, _) in &removed {
        let moved = join(&staging, &format!("removed-{name}"));
        storage.remove(&moved)?;
        storage.rename(&join(&path, name), &moved)?;
        storage.sync(&[path.clone(), staging.clone()])?;
    }
    tidy(storage, &staging)?;
    Ok(outcome)
}

/// Removes the staging directory and, if empty, the directories above it.
fn tidy(storage: &dyn Storage, staging: &str) -> Result<(), StorageError> {
    storage.remove(staging)?;
    if storage.remove_empty_dir(STAGING_DIR)? {
        // The extensions directory holds the layout's configuration, usually: kept then.
        storage.remove_empty_dir(EXTENSIONS_DIR)?;
    }
    Ok(())
}

/// Replaces `dest` by `bytes` durably: written in `staging`, flushed, renamed over, and both
/// directories flushed (a rename is durable once both are).
fn install(
    storage: &dyn Storage,
    staging: &str,
    dest: &str,
    bytes: &[u8],
) -> Result<(), StorageError> {
    storage.create_dir(staging)?;
    let name = dest.rsplit('/').next().unwrap_or(dest);
    let temp = join(staging, name);
    let mut writer = storage.create(&temp)?;
    writer
        .write_all(bytes)
        .and_then(|()| writer.flush())
        .map_err(|e| StorageError::io("write", &temp, e))?;
    writer.finish()?;
    storage.sync(std::slice::from_ref(&temp))?;
    storage.rename(&temp, dest)?;
    storage.sync(&[parent(dest).to_owned(), staging.to_owned()])
}

/// The object's version directories: (name, number).
fn version_dirs(
    storage: &dyn Storage,
    path: &str,
) -> Result<Vec<(String, VersionNum)>, ObjectError> {
    let entries = match storage.list(path) {
        Ok(entries) => entries,
        Err(err) if err.is_not_found() => {
            return Err(ObjectError::NotAnObject {
                path: path.to_owned(),
                reason: "no such directory".to_owned(),
            });
        }
        Err(err) => return Err(err.into()),
    };
    Ok(entries
        .into_iter()
        .filter(|e| e.kind == EntryKind::Directory)
        .filter_map(|e| VersionNum::parse(&e.name).ok().map(|v| (e.name, v)))
        .collect())
}
