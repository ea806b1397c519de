//! Reading a file's bytes out of an object, verifying its digest while streaming.
//!
//! Content paths come from the inventory, which only its sidecar vouches for: before a
//! content file is opened, every directory on its way is checked to be a plain directory
//! inside the object (the final element is opened without following links by the
//! storage), so a link planted in an object cannot make a read leave the storage root.

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::sync::Mutex;

use super::error::ObjectError;
use super::reader::{FileEntry, Object};
use crate::digest::{DigestAlgorithm, STREAM_BUFFER};
use crate::storage::{EntryKind, Storage, join};

impl Object<'_> {
    /// Streams the bytes of `file` into `out` and returns how many were written.
    ///
    /// The digest is computed as the bytes pass; [`ObjectError::DigestMismatch`] is returned
    /// after the last byte if it is not the inventory's. The bytes are written before they
    /// can be verified (the file may not fit in memory), so on that error the caller must
    /// treat what `out` received as corrupt.
    pub fn copy_file(&self, file: &FileEntry<'_>, out: &mut dyn Write) -> Result<u64, ObjectError> {
        let mut buffer = vec![0u8; STREAM_BUFFER];
        self.copy_verified(file, out, &mut buffer)
    }

    /// [`Object::copy_file`] with a caller's buffer, so that copying many files allocates
    /// one buffer.
    pub(super) fn copy_verified(
        &self,
        file: &FileEntry<'_>,
        out: &mut dyn Write,
        buffer: &mut [u8],
    ) -> Result<u64, ObjectError> {
        let content = ContentFiles {
            storage: self.storage,
            object_path: &self.path,
            id: &self.inventory.id,
            algorithm: self.inventory.digest_algorithm,
            checked_dirs: &self.checked_dirs,
        };
        content.copy_verified(file, out, buffer)
    }
}

/// Where an object's content files are read from, and what their digests are checked with.
pub(super) struct ContentFiles<'c> {
    pub(super) storage: &'c dyn Storage,
    /// The object root, relative to the storage.
    pub(super) object_path: &'c str,
    /// The object id, for messages.
    pub(super) id: &'c str,
    pub(super) algorithm: DigestAlgorithm,
    /// Directories inside the object already seen to be real directories (not links), so
    /// that reading many files checks each directory once.
    pub(super) checked_dirs: &'c Mutex<HashSet<String>>,
}

impl ContentFiles<'_> {
    /// Streams `file`'s bytes into `out` through `buffer`, verifying its digest.
    pub(super) fn copy_verified(
        &self,
        file: &FileEntry<'_>,
        out: &mut dyn Write,
        buffer: &mut [u8],
    ) -> Result<u64, ObjectError> {
        let stored = self.content_location(file)?;
        let mut reader = self.storage.open(&stored)?;
        let algorithm = self.algorithm;
        let mut hasher = algorithm.hasher();
        let mut total = 0u64;
        loop {
            let n = match reader.read(buffer) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(crate::storage::StorageError::io("read", &stored, e).into()),
            };
            let chunk = &buffer[..n];
            hasher.update(chunk);
            out.write_all(chunk).map_err(|source| ObjectError::Write {
                path: file.path.to_string(),
                source,
            })?;
            total += n as u64;
        }
        let actual = hasher.finalize();
        if actual != *file.digest {
            return Err(ObjectError::DigestMismatch {
                id: self.id.to_owned(),
                path: stored,
                algorithm: algorithm.name().to_owned(),
                expected: file.digest.clone(),
                actual,
            });
        }
        Ok(total)
    }

    /// The storage path of `file`'s content, after checking the directories leading to it.
    fn content_location(&self, file: &FileEntry<'_>) -> Result<String, ObjectError> {
        let content = file.content_path.as_str();
        let mut dir = String::new();
        let elements: Vec<&str> = file.content_path.elements().collect();
        for element in &elements[..elements.len().saturating_sub(1)] {
            dir = join(&dir, element);
            let seen = self
                .checked_dirs
                .lock()
                .map(|set| set.contains(&dir))
                .unwrap_or(false);
            if seen {
                continue;
            }
            let stored = join(self.object_path, &dir);
            match self.storage.kind(&stored) {
                Ok(EntryKind::Directory) => {
                    if let Ok(mut set) = self.checked_dirs.lock() {
                        set.insert(dir.clone());
                    }
                }
                Ok(_) => return Err(ObjectError::NotADirectory { path: stored }),
                Err(err) => return Err(err.into()),
            }
        }
        Ok(join(self.object_path, content))
    }
}
