//! [`Directory`]: a directory opened once, whose entries are then reached by one-element
//! names. Walking a tree through handles resolves each path element once instead of once per
//! file below it, and a backend that holds real directory handles (`LocalStorage`) never
//! follows a link anywhere along the way, even when the tree changes during the walk.

use std::io::Read;

use super::{Entry, EntryKind, Storage, StorageError, check_storage_path, join};

/// An open directory of a [`Storage`] (see [`Storage::open_dir`]).
pub trait Directory: Send + Sync {
    /// The directory's path in its storage.
    fn path(&self) -> &str;

    /// The directory's entries, sorted by name.
    fn list(&self) -> Result<Vec<Entry>, StorageError>;

    /// Opens the subdirectory `name` (one path element). A symbolic link is refused, not
    /// followed.
    fn open_dir(&self, name: &str) -> Result<Box<dyn Directory + '_>, StorageError>;

    /// Opens the regular file `name` (one path element) for streaming, as
    /// [`Storage::open`] does. A symbolic link is refused, not followed.
    fn open_file(&self, name: &str) -> Result<Box<dyn Read + Send>, StorageError>;

    /// Feeds the contents of the regular file `name` (one path element) to `each`, chunk by
    /// chunk, in one pass.
    ///
    /// A backend may take a read(2) shorter than asked for as the end of the file, which
    /// saves a system call per small file: on local filesystems a regular file's read is
    /// short only at its end (or on an I/O error, which the next read would report). A
    /// caller that acts on the bytes not matching (a digest check) confirms the mismatch
    /// with [`Directory::open_file`], which reads exactly the size the file had when opened.
    fn stream_file(&self, name: &str, each: &mut dyn FnMut(&[u8])) -> Result<(), StorageError> {
        let mut file = self.open_file(name)?;
        let read = crate::digest::with_stream_buffer(|buffer| {
            loop {
                match file.read(buffer) {
                    Ok(0) => return Ok(()),
                    Ok(n) => each(&buffer[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        });
        read.map_err(|e| StorageError::io("read", &join(self.path(), name), e))
    }

    /// The whole contents of the regular file `name` (one path element), as
    /// [`Storage::read`] reads a file.
    fn read_file(&self, name: &str) -> Result<Vec<u8>, StorageError> {
        let mut bytes = Vec::new();
        self.open_file(name)?
            .read_to_end(&mut bytes)
            .map_err(|e| StorageError::io("read", &join(self.path(), name), e))?;
        Ok(bytes)
    }
}

/// Checks that `name` is one normal path element (not empty, `.`, `..`, nor holding a `/`).
pub(super) fn check_name(dir: &str, name: &str) -> Result<(), StorageError> {
    if !name.is_empty() && !name.contains('/') && check_storage_path(name).is_ok() {
        Ok(())
    } else {
        Err(StorageError::InvalidPath(join(dir, name)))
    }
}

/// The provided [`Storage::open_dir`]: a directory reached through the storage's path-based
/// methods, for backends without directory handles.
pub(super) struct PathDirectory<'a, S: Storage + ?Sized> {
    pub(super) storage: &'a S,
    pub(super) path: String,
}

impl<S: Storage + ?Sized> Directory for PathDirectory<'_, S> {
    fn path(&self) -> &str {
        &self.path
    }

    fn list(&self) -> Result<Vec<Entry>, StorageError> {
        self.storage.list(&self.path)
    }

    fn open_dir(&self, name: &str) -> Result<Box<dyn Directory + '_>, StorageError> {
        check_name(&self.path, name)?;
        let path = join(&self.path, name);
        match self.storage.kind(&path)? {
            EntryKind::Directory => Ok(Box::new(PathDirectory {
                storage: self.storage,
                path,
            })),
            _ => Err(not_a_directory(path)),
        }
    }

    fn open_file(&self, name: &str) -> Result<Box<dyn Read + Send>, StorageError> {
        check_name(&self.path, name)?;
        self.storage.open(&join(&self.path, name))
    }

    fn read_file(&self, name: &str) -> Result<Vec<u8>, StorageError> {
        check_name(&self.path, name)?;
        self.storage.read(&join(&self.path, name))
    }
}

/// The error for a path that is not a directory (or is a link to one).
pub(super) fn not_a_directory(path: String) -> StorageError {
    StorageError::Io {
        op: "open directory",
        path,
        source: std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
    }
}
