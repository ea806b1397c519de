//! Purging an object: removing it, every version, from the storage root.
//!
//! Readers must never see half an object, and the root must stay valid (E073 forbids the
//! empty directories a removed object would leave in a layout's tuple hierarchy). So:
//!
//! 1. the object directory is renamed, in one step, into a work directory outside the
//!    storage root (by default `<root>.ocfl-work/`, as for updates: [`crate::location`] decides; see
//!    `docs/durability.md`). If the root is a mount point and the rename crosses
//!    filesystems, `<root>/extensions/ocfl-purge/` is used instead: on the root's
//!    filesystem and ignored by readers, at the price of a W016 warning while it exists;
//! 2. the layout directories that held only this object are removed, deepest first, each
//!    only if empty (`rmdir`), so a directory another writer has just used is kept;
//! 3. the moved-out copy is deleted.
//!
//! The work name is derived from the object's path, so purging the same id again after a
//! crash finds what the interrupted purge left (the moved copy, empty directories) and
//! finishes it.

use std::io;

use super::error::ObjectError;
use super::reader::Object;
use super::root::{EXTENSIONS_DIR, StorageRoot};
use crate::digest::DigestAlgorithm;
use crate::storage::{Entry, EntryKind, Storage, StorageError, StorageWriter, join, parent};

/// Where a purge moves objects when the work directory is on another filesystem.
const FALLBACK_DIR: &str = "extensions/ocfl-purge";

/// What [`purge_object`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurgeOutcome {
    /// The object was removed.
    Removed,
    /// The object was already gone from the root; what an interrupted purge of it had
    /// left (its moved-out copy, empty layout directories) was removed.
    FinishedInterrupted,
}

/// The result of a purge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purged {
    /// Where the object was, relative to the storage root.
    pub path: String,
    /// What was done.
    pub outcome: PurgeOutcome,
}

/// Purges object `id` from the storage root at `root` in `storage` (the empty string when
/// the storage is the root itself), using `work_dir` (a path in `storage` outside the root,
/// e.g. `<root>.ocfl-work`) to move it out before deleting it.
///
/// The object is found through the root's layout. A directory without an object
/// declaration is never removed, nor an object whose readable inventory carries another
/// id; an object whose inventory is damaged (tampered, invalid) can be purged.
pub fn purge_object(
    storage: &dyn Storage,
    root: &str,
    work_dir: &str,
    id: &str,
) -> Result<Purged, ObjectError> {
    let view = Subdir {
        inner: storage,
        base: root,
    };
    let path = StorageRoot::open(&view)?.object_path(id)?;
    let work_name = format!(
        "purge-{}",
        &DigestAlgorithm::Sha256
            .digest_bytes(path.as_bytes())
            .as_str()[..16]
    );
    if !storage.renames_atomically() {
        let outcome = purge_in_place(&view, &path, id)?;
        return Ok(Purged { path, outcome });
    }
    let fallback_dir = join(root, FALLBACK_DIR);
    let outcome = match view.kind(&path) {
        Ok(EntryKind::Directory) => {
            check_purgeable(&view, &path, id)?;
            let moved = move_out(
                storage,
                &join(root, &path),
                work_dir,
                &fallback_dir,
                &work_name,
            )?;
            prune_empty_parents(&view, &path)?;
            storage.remove(&moved.path)?;
            moved.tidy(storage);
            PurgeOutcome::Removed
        }
        Ok(_) => return Err(ObjectError::NotADirectory { path }),
        Err(err) if err.is_not_found() => {
            let mut cleaned = false;
            for dir in [work_dir, fallback_dir.as_str()] {
                let leftover = join(dir, &work_name);
                if remove_if_present(storage, &leftover)? {
                    cleaned = true;
                    let _ = storage.remove_empty_dir(dir);
                }
            }
            cleaned |= prune_empty_parents(&view, &path)? > 0;
            if !cleaned {
                return Err(ObjectError::NotFound {
                    id: id.to_owned(),
                    path,
                });
            }
            PurgeOutcome::FinishedInterrupted
        }
        Err(err) => return Err(err.into()),
    };
    Ok(Purged { path, outcome })
}

/// Purges on a store without atomic renames (an object store, `docs/durability.md` 11),
/// where moving the object out would copy every key and still delete each one inside the
/// root. The keys are deleted in place, in an order that keeps what readers see honest and
/// lets the same purge again finish an interrupted one: the root inventory and its sidecar
/// first (no reader then finds an inventory naming content that is gone), then everything
/// else but the declaration, the declaration last (while it is there, the purge finds an
/// object to finish). A store without directories leaves no empty layout directories.
fn purge_in_place(view: &dyn Storage, path: &str, id: &str) -> Result<PurgeOutcome, ObjectError> {
    let entries = match view.kind(path) {
        Ok(EntryKind::Directory) => view.list(path)?,
        Ok(_) => {
            return Err(ObjectError::NotADirectory {
                path: path.to_owned(),
            });
        }
        Err(err) if err.is_not_found() => {
            return Err(ObjectError::NotFound {
                id: id.to_owned(),
                path: path.to_owned(),
            });
        }
        Err(err) => return Err(err.into()),
    };
    let is_inventory = |name: &str| name == INVENTORY || name.starts_with(&format!("{INVENTORY}."));
    let is_declaration = |name: &str| name.starts_with("0=ocfl_object_");
    if entries.iter().any(|e| e.name == INVENTORY) {
        check_purgeable(view, path, id)?;
    } else if !entries.iter().any(|e| is_declaration(&e.name)) {
        // An interrupted purge of this object leaves its declaration to the end.
        return Err(ObjectError::NotAnObject {
            path: path.to_owned(),
            reason: "it has no 0=ocfl_object_* declaration; refusing to remove it".to_owned(),
        });
    }
    let (inventories, rest): (Vec<&Entry>, Vec<&Entry>) =
        entries.iter().partition(|e| is_inventory(&e.name));
    let (declarations, rest): (Vec<&Entry>, Vec<&Entry>) =
        rest.into_iter().partition(|e| is_declaration(&e.name));
    // The inventory before its sidecar: the sidecar alone is what a reader refuses.
    let mut inventories = inventories;
    inventories.sort_by_key(|e| e.name != INVENTORY);
    for entry in inventories.into_iter().chain(rest).chain(declarations) {
        view.remove(&join(path, &entry.name))?;
    }
    Ok(PurgeOutcome::Removed)
}

/// The root inventory's name.
const INVENTORY: &str = "inventory.json";

/// Refuses to remove anything but an object declared as such and, when its inventory can
/// be read, carrying `id`.
fn check_purgeable(view: &dyn Storage, path: &str, id: &str) -> Result<(), ObjectError> {
    let declared = view
        .list(path)?
        .iter()
        .any(|e: &Entry| e.kind == EntryKind::File && e.name.starts_with("0=ocfl_object_"));
    if !declared {
        return Err(ObjectError::NotAnObject {
            path: path.to_owned(),
            reason: "it has no 0=ocfl_object_* declaration; refusing to remove it".to_owned(),
        });
    }
    match Object::open(view, path) {
        Ok(object) if object.id() != id => Err(ObjectError::IdMismatch {
            id: id.to_owned(),
            path: path.to_owned(),
            found: object.id().to_owned(),
        }),
        Err(
            err @ (ObjectError::UnsupportedSpec { .. }
            | ObjectError::NotADirectory { .. }
            | ObjectError::Storage(_)),
        ) => Err(err),
        // Readable with the right id, or damaged: it is the object the layout puts here.
        _ => Ok(()),
    }
}

/// Where the object was moved, and which directories the move created.
struct Moved {
    path: String,
    created_dirs: Vec<String>,
}

impl Moved {
    /// Removes the directories the move created, if they are empty again (best effort:
    /// they are outside the hierarchies, or in `extensions/` where they only warn).
    fn tidy(&self, storage: &dyn Storage) {
        for dir in self.created_dirs.iter().rev() {
            let _ = storage.remove_empty_dir(dir);
        }
    }
}

fn move_out(
    storage: &dyn Storage,
    object: &str,
    work_dir: &str,
    fallback_dir: &str,
    work_name: &str,
) -> Result<Moved, ObjectError> {
    let mut created_dirs = ensure_dir(storage, work_dir)?;
    let target = join(work_dir, work_name);
    remove_if_present(storage, &target)?;
    match storage.rename(object, &target) {
        Ok(()) => {
            sync_rename(storage, object, &target)?;
            return Ok(Moved {
                path: target,
                created_dirs,
            });
        }
        Err(err) if crosses_devices(&err) => {}
        Err(err) => {
            Moved {
                path: target,
                created_dirs,
            }
            .tidy(storage);
            return Err(err.into());
        }
    }
    Moved {
        path: target,
        created_dirs,
    }
    .tidy(storage);
    created_dirs = ensure_dir(storage, fallback_dir)?;
    let target = join(fallback_dir, work_name);
    remove_if_present(storage, &target)?;
    storage.rename(object, &target)?;
    sync_rename(storage, object, &target)?;
    Ok(Moved {
        path: target,
        created_dirs,
    })
}

/// Creates `dir` and its missing parents; returns the ones it created, outermost first.
fn ensure_dir(storage: &dyn Storage, dir: &str) -> Result<Vec<String>, ObjectError> {
    let mut missing = Vec::new();
    let mut current = dir;
    while !current.is_empty() {
        match storage.kind(current) {
            Ok(_) => break,
            Err(err) if err.is_not_found() => missing.push(current.to_owned()),
            Err(err) => return Err(err.into()),
        }
        current = parent(current);
    }
    storage.create_dir(dir)?;
    missing.reverse();
    // The new directories' entries are durable before anything is moved into them.
    let parents: Vec<String> = missing.iter().map(|d| parent(d).to_owned()).collect();
    if !parents.is_empty() {
        storage.sync(&parents)?;
    }
    Ok(missing)
}

/// Makes the rename of `from` to `to` durable: both directories' entries flushed.
fn sync_rename(storage: &dyn Storage, from: &str, to: &str) -> Result<(), ObjectError> {
    storage.sync(&[parent(to).to_owned(), parent(from).to_owned()])?;
    Ok(())
}

fn crosses_devices(err: &StorageError) -> bool {
    matches!(err, StorageError::Io { source, .. }
        if source.kind() == io::ErrorKind::CrossesDevices)
}

/// Removes what is at `path`; whether there was anything.
fn remove_if_present(storage: &dyn Storage, path: &str) -> Result<bool, ObjectError> {
    if storage.kind_if_exists(path)?.is_none() {
        return Ok(false);
    }
    storage.remove(path)?;
    Ok(true)
}

/// Removes the now-empty directories above `path` (deepest first, below the root), stopping
/// at the first that is not empty. Returns how many were removed.
fn prune_empty_parents(root: &dyn Storage, path: &str) -> Result<usize, ObjectError> {
    let mut removed = 0;
    let mut current = path;
    while let Some((parent, _)) = current.rsplit_once('/') {
        current = parent;
        if current == EXTENSIONS_DIR {
            break;
        }
        if root.kind_if_exists(current)?.is_none() {
            continue;
        }
        if !root.remove_empty_dir(current)? {
            break;
        }
        removed += 1;
    }
    Ok(removed)
}

/// The storage root seen as its own storage, when `inner` also holds the work directory.
struct Subdir<'a> {
    inner: &'a dyn Storage,
    base: &'a str,
}

impl Storage for Subdir<'_> {
    fn list(&self, dir: &str) -> Result<Vec<Entry>, StorageError> {
        self.inner.list(&join(self.base, dir))
    }

    fn kind(&self, path: &str) -> Result<EntryKind, StorageError> {
        self.inner.kind(&join(self.base, path))
    }

    fn open(&self, path: &str) -> Result<Box<dyn io::Read + Send>, StorageError> {
        self.inner.open(&join(self.base, path))
    }

    fn create(&self, path: &str) -> Result<Box<dyn StorageWriter>, StorageError> {
        self.inner.create(&join(self.base, path))
    }

    fn write_atomic(&self, path: &str, bytes: &[u8]) -> Result<(), StorageError> {
        self.inner.write_atomic(&join(self.base, path), bytes)
    }

    fn create_dir(&self, path: &str) -> Result<(), StorageError> {
        self.inner.create_dir(&join(self.base, path))
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        self.inner
            .rename(&join(self.base, from), &join(self.base, to))
    }

    fn remove(&self, path: &str) -> Result<(), StorageError> {
        self.inner.remove(&join(self.base, path))
    }

    fn remove_empty_dir(&self, path: &str) -> Result<bool, StorageError> {
        self.inner.remove_empty_dir(&join(self.base, path))
    }

    fn sync(&self, paths: &[String]) -> Result<(), StorageError> {
        let paths: Vec<String> = paths.iter().map(|p| join(self.base, p)).collect();
        self.inner.sync(&paths)
    }

    fn sync_tree(&self, dir: &str) -> Result<(), StorageError> {
        self.inner.sync_tree(&join(self.base, dir))
    }

    fn start_writeback(&self, path: &str) {
        self.inner.start_writeback(&join(self.base, path));
    }

    fn display_path(&self, path: &str) -> String {
        self.inner.display_path(&join(self.base, path))
    }

    fn renames_atomically(&self) -> bool {
        self.inner.renames_atomically()
    }

    fn boot_id(&self) -> Option<String> {
        self.inner.boot_id()
    }
}
