//! Directory handles on a bucket that spend requests only on listings.
//!
//! A path-based walk pays a HEAD and a LIST to learn that a name is a directory before it
//! lists it. Here a handle remembers its last listing: a subdirectory seen in it opens without
//! a request, and opening a directory by path is the LIST that the first `list` then returns.
//! Listings are never served twice, so a handle does not hide keys written after it listed.

use std::io::{self, Read};
use std::sync::Mutex;

use ocfl_core::storage::{
    Directory, Entry, EntryKind, Storage, StorageError, check_storage_path, join,
};

use crate::ObjectStorage;

pub(crate) struct ObjectDirectory<'a> {
    storage: &'a ObjectStorage,
    path: String,
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
        let listing = if path.is_empty() {
            None
        } else {
            match Storage::list(storage, path) {
                Ok(entries) => Some(entries),
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

impl Directory for ObjectDirectory<'_> {
    fn path(&self) -> &str {
        &self.path
    }

    fn list(&self) -> Result<Vec<Entry>, StorageError> {
        let entries = match Self::lock(&self.opened_with).take() {
            Some(entries) => entries,
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
            Some(EntryKind::Directory) => Ok(Box::new(ObjectDirectory {
                storage: self.storage,
                path,
                opened_with: Mutex::new(None),
                last_listing: Mutex::new(None),
            })),
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
