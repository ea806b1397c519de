//! `ocfl-core`'s storage seam over the store, so that reading and validating work on a bucket
//! exactly as on a directory.

use std::io::{self, Read};

use ocfl_core::storage::{
    Directory, Entry, EntryKind, FileInfo, Precondition, Storage, StorageError, StorageWriter, Tag,
    check_storage_path,
};

use crate::directory::ObjectDirectory;
use crate::{Condition, ETag, Error, ObjectStorage, Upload};

/// Maps an object-store error for `op` on the storage path `path`.
pub(crate) fn storage_error(op: &'static str, path: &str, error: Error) -> StorageError {
    match error {
        Error::NotFound { .. } => StorageError::NotFound(path.to_owned()),
        Error::InvalidPath { .. } => StorageError::InvalidPath(path.to_owned()),
        Error::AlreadyExists { .. } | Error::PreconditionFailed { .. } => {
            StorageError::ConditionFailed(path.to_owned())
        }
        other => StorageError::io(op, path, io::Error::other(other)),
    }
}

/// Object-store semantics where they differ from a directory's: a PUT is atomic and durable
/// when it returns, so `write_atomic` is one PUT and `sync`/`sync_tree` have nothing to do;
/// `create` streams an upload that appears whole at `finish`; there are no directories, so
/// `create_dir` does nothing and a directory disappears with its last key; there is no
/// rename, so `rename` copies on the server and deletes (`renames_atomically` is `false`: the
/// bucket protocol of `docs/durability.md` section 11 never relies on it); paths are shown
/// as `s3://bucket/key`.
impl Storage for ObjectStorage {
    fn list(&self, dir: &str) -> Result<Vec<Entry>, StorageError> {
        ObjectStorage::list(self, dir).map_err(|e| storage_error("list", dir, e))
    }

    fn kind(&self, path: &str) -> Result<EntryKind, StorageError> {
        ObjectStorage::kind(self, path).map_err(|e| storage_error("stat", path, e))
    }

    fn size(&self, path: &str) -> Result<u64, StorageError> {
        self.head(path)
            .map(|info| info.size)
            .map_err(|e| storage_error("head", path, e))
    }

    fn open(&self, path: &str) -> Result<Box<dyn Read + Send>, StorageError> {
        self.open_storage_file(path)
    }

    fn open_dir(&self, path: &str) -> Result<Box<dyn Directory + '_>, StorageError> {
        Ok(Box::new(ObjectDirectory::open(self, path)?))
    }

    fn read(&self, path: &str) -> Result<Vec<u8>, StorageError> {
        ObjectStorage::read(self, path).map_err(|e| storage_error("read", path, e))
    }

    fn write_atomic(&self, path: &str, bytes: &[u8]) -> Result<(), StorageError> {
        self.put(path, bytes.to_vec())
            .map(|_| ())
            .map_err(|e| storage_error("write", path, e))
    }

    fn create_dir(&self, path: &str) -> Result<(), StorageError> {
        check_storage_path(path)
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        ObjectStorage::rename(self, from, to).map_err(|e| storage_error("rename", from, e))
    }

    fn remove(&self, path: &str) -> Result<(), StorageError> {
        ObjectStorage::remove(self, path).map_err(|e| storage_error("remove", path, e))
    }

    /// A directory that has no key below it does not exist, which is what removing it would
    /// achieve: one with keys below it is left alone.
    fn remove_empty_dir(&self, path: &str) -> Result<bool, StorageError> {
        match ObjectStorage::list(self, path) {
            Ok(entries) => Ok(entries.is_empty()),
            Err(error) if error.is_not_found() => Ok(true),
            Err(error) => Err(storage_error("remove directory", path, error)),
        }
    }

    fn create(&self, path: &str) -> Result<Box<dyn StorageWriter>, StorageError> {
        let upload =
            ObjectStorage::create(self, path).map_err(|e| storage_error("create", path, e))?;
        Ok(Box::new(upload))
    }

    fn create_sized(&self, path: &str, size: u64) -> Result<Box<dyn StorageWriter>, StorageError> {
        let upload = ObjectStorage::create_sized(self, path, size)
            .map_err(|e| storage_error("create", path, e))?;
        Ok(Box::new(upload))
    }

    /// A PUT is durable when it returns (`docs/durability.md`, 11.1.2): nothing to flush.
    fn sync(&self, paths: &[String]) -> Result<(), StorageError> {
        paths.iter().try_for_each(|path| check_storage_path(path))
    }

    /// As [`Storage::sync`]: nothing to flush.
    fn sync_tree(&self, dir: &str) -> Result<(), StorageError> {
        check_storage_path(dir)
    }

    fn display_path(&self, path: &str) -> String {
        self.url(path)
    }

    fn read_tagged(&self, path: &str) -> Result<(Vec<u8>, Option<Tag>), StorageError> {
        let (bytes, e_tag) = self
            .read_with_e_tag(path)
            .map_err(|e| storage_error("read", path, e))?;
        Ok((bytes, e_tag.map(|ETag(tag)| Tag(tag))))
    }

    /// One PUT with `If-None-Match: *` or `If-Match`; a 412 (or 409) is
    /// [`StorageError::ConditionFailed`].
    fn write_if(
        &self,
        path: &str,
        bytes: &[u8],
        precondition: &Precondition,
        metadata: &[(&str, &str)],
    ) -> Result<(), StorageError> {
        let condition = match precondition {
            Precondition::Absent => Condition::IfAbsent,
            Precondition::Matches(Tag(tag)) => Condition::IfMatch(ETag(tag.clone())),
        };
        match self.put_with(path, bytes.to_vec(), condition, metadata) {
            Ok(_) => Ok(()),
            // `If-Match` on a key that is gone: the precondition does not hold either.
            Err(Error::NotFound { .. }) if matches!(precondition, Precondition::Matches(_)) => {
                Err(StorageError::ConditionFailed(path.to_owned()))
            }
            Err(error) => Err(storage_error("write", path, error)),
        }
    }

    /// One server-side copy (`CopyObject`); a missing source is [`StorageError::NotFound`].
    fn copy(&self, from: &str, to: &str) -> Result<(), StorageError> {
        ObjectStorage::copy(self, from, to).map_err(|e| storage_error("copy", from, e))
    }

    fn file_info(&self, path: &str) -> Result<FileInfo, StorageError> {
        let info = self
            .head(path)
            .map_err(|e| storage_error("stat", path, e))?;
        Ok(FileInfo {
            tag: info.e_tag.map(|ETag(tag)| Tag(tag)),
            metadata: info.metadata,
        })
    }

    /// `rename` copies then deletes: never atomic.
    fn renames_atomically(&self) -> bool {
        false
    }
}

impl StorageWriter for Upload {
    /// A "not found" from finishing an upload is not a missing file: the server lost the
    /// multipart upload (`NoSuchUpload`, e.g. aborted by a lifecycle rule). It is reported as a
    /// failed write naming the key, which a retry makes again from the start.
    fn finish(self: Box<Self>) -> Result<(), StorageError> {
        let path = self.path().to_owned();
        Upload::finish(*self).map(|_| ()).map_err(|e| match e {
            Error::NotFound { .. } => StorageError::Io {
                op: "write",
                path: path.clone(),
                source: io::Error::other(e),
            },
            other => storage_error("write", &path, other),
        })
    }
}

impl ObjectStorage {
    pub(crate) fn open_storage_file(
        &self,
        path: &str,
    ) -> Result<Box<dyn Read + Send>, StorageError> {
        let reader = ObjectStorage::open(self, path).map_err(|e| storage_error("open", path, e))?;
        Ok(Box::new(reader))
    }
}
