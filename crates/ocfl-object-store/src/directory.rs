//! Directory handles on a bucket that spend requests only on listings.
//!
//! A path-based walk pays a HEAD and a LIST to learn that a name is a directory before it
//! lists it. Here a handle remembers its last listing: a subdirectory seen in it opens without
//! a request, and opening a directory by path is the listing that the first `list` then
//! returns.
//!
//! A walk of a tree (validating an object) would still cost one LIST per directory. So the
//! first listing of a directory that no ancestor listed lists every key below it at once, in
//! pages of 1,000 keys (up to [`TREE_LIMIT`] keys; beyond that, this directory alone), and the
//! subdirectories opened from it take their first listing from that snapshot: a 20,000-file
//! object costs a few dozen LISTs instead of a thousand. Each handle is served from a listing
//! once; its later listings go to the server, so a handle does not hide keys written after it
//! listed.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::sync::{Arc, Mutex};

use ocfl_core::storage::{
    Directory, Entry, EntryKind, Storage, StorageError, check_storage_path, join,
};

use crate::ObjectStorage;

/// The most keys one listing of a whole tree fetches (10 pages) before it gives up for a
/// listing of the directory alone.
pub(crate) const TREE_LIMIT: usize = 10_000;

/// Directory path -> its entries, from one listing of every key below some directory.
type Snapshot = Arc<BTreeMap<String, Vec<Entry>>>;

pub(crate) struct ObjectDirectory<'a> {
    storage: &'a ObjectStorage,
    path: String,
    /// A listing of the tree this directory is in, taken when an ancestor (or this handle)
    /// was first listed: subdirectories opened from here take their first listing from it.
    snapshot: Mutex<Option<Snapshot>>,
    /// The listing made when the handle was opened, handed to the first `list`.
    opened_with: Mutex<Option<Vec<Entry>>>,
    /// The most recent listing, to open subdirectories without asking the server.
    last_listing: Mutex<Option<Vec<Entry>>>,
}

fn not_a_directory(path: String) -> StorageError {
    StorageError::io(
        "open directory",
        &path,
        io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
    )
}

impl<'a> ObjectDirectory<'a> {
    /// Opens `path` with one listing (none for the root). A path with no key below it is
    /// not found, or not a directory when it is a key.
    pub(crate) fn open(
        storage: &'a ObjectStorage,
        path: &str,
    ) -> Result<ObjectDirectory<'a>, StorageError> {
        check_storage_path(path)?;
        let (listing, snapshot) = if path.is_empty() {
            (None, None)
        } else {
            match list_first(storage, path) {
                Ok((entries, snapshot)) => (Some(entries), snapshot),
                Err(error) if error.is_not_found() => {
                    return match Storage::kind(storage, path) {
                        Ok(_) => Err(not_a_directory(path.to_owned())),
                        Err(error) => Err(error),
                    };
                }
                Err(error) => return Err(error),
            }
        };
        Ok(ObjectDirectory {
            storage,
            snapshot: Mutex::new(snapshot),
            last_listing: Mutex::new(listing.clone()),
            opened_with: Mutex::new(listing),
            path: path.to_owned(),
        })
    }

    fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        mutex
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn child(&self, name: &str) -> Result<String, StorageError> {
        if !name.is_empty() && !name.contains('/') && check_storage_path(name).is_ok() {
            Ok(join(&self.path, name))
        } else {
            Err(StorageError::InvalidPath(join(&self.path, name)))
        }
    }
}

/// The first listing of `path`: the whole tree below it when it has at most [`TREE_LIMIT`]
/// keys (then also returned, for the subdirectories), else the directory alone. The root of
/// the bucket's prefix is listed alone: a storage root's keys are the sum of its objects'.
fn list_first(
    storage: &ObjectStorage,
    path: &str,
) -> Result<(Vec<Entry>, Option<Snapshot>), StorageError> {
    if !path.is_empty() {
        let tree = storage
            .list_tree(path, TREE_LIMIT)
            .map_err(|e| crate::storage::storage_error("list", path, e))?;
        if let Some(mut tree) = tree {
            let entries = tree.remove(path).ok_or_else(|| {
                crate::storage::storage_error(
                    "list",
                    path,
                    crate::Error::NotFound {
                        url: storage.url(path),
                    },
                )
            })?;
            if !entries.is_empty() {
                return Ok((entries, Some(Arc::new(tree))));
            }
        }
    }
    Ok((Storage::list(storage, path)?, None))
}

impl Directory for ObjectDirectory<'_> {
    fn path(&self) -> &str {
        &self.path
    }

    fn list(&self) -> Result<Vec<Entry>, StorageError> {
        let served = Self::lock(&self.opened_with).take();
        let entries = match served {
            Some(entries) => entries,
            // Not listed before, and no ancestor listed the tree: list it.
            None if Self::lock(&self.snapshot).is_none()
                && Self::lock(&self.last_listing).is_none() =>
            {
                let (entries, snapshot) = list_first(self.storage, &self.path)?;
                *Self::lock(&self.snapshot) = snapshot;
                entries
            }
            None => Storage::list(self.storage, &self.path)?,
        };
        *Self::lock(&self.last_listing) = Some(entries.clone());
        Ok(entries)
    }

    fn open_dir(&self, name: &str) -> Result<Box<dyn Directory + '_>, StorageError> {
        let path = self.child(name)?;
        let seen = Self::lock(&self.last_listing)
            .as_ref()
            .and_then(|entries| entries.iter().find(|entry| entry.name == name))
            .map(|entry| entry.kind);
        match seen {
            Some(EntryKind::Directory) => {
                let snapshot = Self::lock(&self.snapshot).clone();
                let first = snapshot.as_ref().and_then(|tree| tree.get(&path)).cloned();
                Ok(Box::new(ObjectDirectory {
                    storage: self.storage,
                    path,
                    // Without a snapshot, the first `list` lists the tree below.
                    snapshot: Mutex::new(snapshot),
                    opened_with: Mutex::new(first),
                    last_listing: Mutex::new(None),
                }))
            }
            Some(_) => Err(not_a_directory(path)),
            None => Ok(Box::new(ObjectDirectory::open(self.storage, &path)?)),
        }
    }

    fn open_file(&self, name: &str) -> Result<Box<dyn Read + Send>, StorageError> {
        let path = self.child(name)?;
        self.storage.open_storage_file(&path)
    }

    fn read_file(&self, name: &str) -> Result<Vec<u8>, StorageError> {
        let path = self.child(name)?;
        Storage::read(self.storage, &path)
    }
}
