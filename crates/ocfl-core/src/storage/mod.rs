//! The storage seam: every byte the rules read or write goes through [`Storage`], so the
//! rules stay pure and other backends (object stores, fault-injecting test doubles) can be
//! plugged in. It is the workspace's one seam: staging, plan execution and the durable runs'
//! data use it too, which is why it has unflushed writes and renames with explicit, batched
//! flushes besides the durable [`Storage::write_atomic`].
//!
//! Paths are relative, `/`-separated and checked by [`check_storage_path`]: absolute paths
//! and `.`/`..` elements are refused before anything is opened, so no caller can reach
//! outside the storage's root through it. The empty string names the root itself.

mod directory;
mod local;
mod local_dir;
mod local_sync;

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

pub use directory::Directory;

/// The user-metadata name under which an object store's claim on a new version
/// (`vN/inventory.json`, written create-only) records the update that holds it: the update's
/// work path, whose last element is its run id (`docs/durability.md`, section 11.2).
pub const CLAIM_OWNER: &str = "ocfl-run";

/// The run named by a claim's owner ([`CLAIM_OWNER`]): the last element of its work path.
pub fn claim_run(owner: &str) -> &str {
    owner.rsplit('/').next().unwrap_or(owner)
}
pub use local::LocalStorage;

/// What kind of filesystem entry a listed name is. Links are reported, never followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link (E090: never allowed in OCFL hierarchies).
    Symlink,
    /// A device, socket, FIFO or anything else.
    Other,
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Entry {
    /// The entry's name (one path element).
    pub name: String,
    /// Its kind, without following links.
    pub kind: EntryKind,
}

/// Why a storage operation failed. Every variant names the path involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The path is absolute, has `.`/`..`/empty elements, or is not valid UTF-8.
    #[error("refusing path {0:?}: not a relative path inside the storage root")]
    InvalidPath(String),
    /// The path does not exist.
    #[error("{0}: not found")]
    NotFound(String),
    /// A conditional write ([`Storage::write_if`]) found its precondition false and wrote
    /// nothing.
    #[error("{0}: not written: the precondition does not hold (another writer got there)")]
    ConditionFailed(String),
    /// The storage cannot do this (e.g. conditional writes on a local directory).
    #[error("{path}: {op} is not supported by this storage")]
    Unsupported {
        /// The operation.
        op: &'static str,
        /// The path involved.
        path: String,
    },
    /// Any other I/O failure.
    #[error("{op} {}: {source}", shown(path))]
    Io {
        /// The operation that failed (`read`, `write`, ...).
        op: &'static str,
        /// The path involved, relative to the storage root.
        path: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// A path relative to the storage root as messages show it: `.` for the root itself.
fn shown(path: &str) -> &str {
    if path.is_empty() { "." } else { path }
}

impl StorageError {
    /// Wraps `source` for `op` on `path`, mapping "not found" to [`StorageError::NotFound`].
    pub fn io(op: &'static str, path: &str, source: io::Error) -> StorageError {
        if source.kind() == io::ErrorKind::NotFound {
            StorageError::NotFound(path.to_owned())
        } else {
            StorageError::Io {
                op,
                path: path.to_owned(),
                source,
            }
        }
    }

    /// Whether the error means the path does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, StorageError::NotFound(_))
    }
}

/// The version of a file's bytes as the storage names it (an object store's ETag): compared
/// only with the tag a read of the same path returned, never taken for a digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tag(pub String);

/// When a conditional write ([`Storage::write_if`]) may happen; the storage checks it
/// atomically with the write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// Only if nothing is at the path (create-only).
    Absent,
    /// Only if the file's current tag is this one.
    Matches(Tag),
}

/// What [`Storage::file_info`] tells of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// The file's tag, if the storage gives one.
    pub tag: Option<Tag>,
    /// The user metadata written with it by [`Storage::write_if`], by name.
    pub metadata: BTreeMap<String, String>,
}

/// A file being written through [`Storage::create`]. The bytes become the file only when
/// [`StorageWriter::finish`] returns: what a writer dropped without finishing leaves behind
/// depends on the backend (a local file keeps what was written so far, an object store
/// shows nothing), so callers write to a temporary name, or treat such a file as garbage.
pub trait StorageWriter: Write + Send {
    /// Completes the file: everything written so far is in it once this returns (closed,
    /// but not flushed to stable storage: see [`Storage::sync`]). An object store completes
    /// its upload here.
    fn finish(self: Box<Self>) -> Result<(), StorageError>;
}

/// Storage of files under one root: the one seam through which reading, validating,
/// staging and executing updates reach the bytes.
///
/// Nothing is flushed to stable storage unless a method says so: durability comes from
/// [`Storage::write_atomic`], or from [`Storage::sync`] and [`Storage::sync_tree`] after
/// the operations it should cover (see `docs/durability.md`).
pub trait Storage: Send + Sync {
    /// The entries of directory `dir`, sorted by name.
    fn list(&self, dir: &str) -> Result<Vec<Entry>, StorageError>;

    /// The kind of the entry at `path` (links not followed); [`StorageError::NotFound`] if
    /// nothing is there.
    fn kind(&self, path: &str) -> Result<EntryKind, StorageError>;

    /// The kind of the entry at `path`, or `None` if nothing is there.
    fn kind_if_exists(&self, path: &str) -> Result<Option<EntryKind>, StorageError> {
        match self.kind(path) {
            Ok(kind) => Ok(Some(kind)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Opens the regular file at `path` for streaming.
    fn open(&self, path: &str) -> Result<Box<dyn Read + Send>, StorageError>;

    /// Opens the directory at `path` as a handle from which its entries are listed and
    /// opened by name (see [`Directory`]); walking a tree this way never follows a link below
    /// `path`.
    ///
    /// The provided implementation goes through [`Storage::list`], [`Storage::kind`] and
    /// [`Storage::open`] with joined paths; backends with directory handles override it.
    fn open_dir(&self, path: &str) -> Result<Box<dyn Directory + '_>, StorageError> {
        check_storage_path(path)?;
        // The root itself is opened as `list` would open it, without asking its kind.
        if !path.is_empty() && self.kind(path)? != EntryKind::Directory {
            return Err(directory::not_a_directory(path.to_owned()));
        }
        Ok(Box::new(directory::PathDirectory {
            storage: self,
            path: path.to_owned(),
        }))
    }

    /// The whole contents of the regular file at `path`.
    fn read(&self, path: &str) -> Result<Vec<u8>, StorageError> {
        let mut bytes = Vec::new();
        self.open(path)?
            .read_to_end(&mut bytes)
            .map_err(|e| StorageError::io("read", path, e))?;
        Ok(bytes)
    }

    /// Creates (or truncates) the file at `path`, whose parent directory must exist, for
    /// writing; the caller must [`StorageWriter::finish`] it. Not flushed.
    fn create(&self, path: &str) -> Result<Box<dyn StorageWriter>, StorageError>;

    /// [`Storage::create`] for a file expected to hold `size` bytes: a hint that lets a
    /// backend choose how to write it (an object store sends a file that fits its upload
    /// memory in one request instead of in parts). What a writer does with more bytes than
    /// `size` is the backend's; the default ignores the hint.
    fn create_sized(&self, path: &str, size: u64) -> Result<Box<dyn StorageWriter>, StorageError> {
        let _ = size;
        self.create(path)
    }

    /// Writes `bytes` to `path` so that readers see either the old file or the whole new
    /// one, and the new one survives a power cut once this returns. The parent directory
    /// must exist.
    fn write_atomic(&self, path: &str, bytes: &[u8]) -> Result<(), StorageError>;

    /// Creates directory `path` and any missing parents; an existing directory is fine.
    /// Not flushed: [`Storage::sync`] the parents that must keep the new entries. A no-op
    /// for stores without directories.
    fn create_dir(&self, path: &str) -> Result<(), StorageError>;

    /// Renames `from` to `to` atomically (replacing a file at `to`). Not flushed:
    /// [`Storage::sync`] both parents to make it durable. See also
    /// [`Storage::renames_atomically`].
    fn rename(&self, from: &str, to: &str) -> Result<(), StorageError>;

    /// Removes the file or the whole directory tree at `path`; nothing there is not an
    /// error. Not flushed.
    fn remove(&self, path: &str) -> Result<(), StorageError>;

    /// Removes the directory `path` only if it is empty, so that a directory some other
    /// writer has just put something into is never removed with it. Returns whether nothing
    /// is left at `path`: `true` once removed (or if nothing was there), `false` for a
    /// directory that is not empty. Not flushed.
    ///
    /// The provided implementation lists and then removes, which leaves a window between
    /// the two; backends with an atomic primitive (`rmdir(2)`) override it.
    fn remove_empty_dir(&self, path: &str) -> Result<bool, StorageError> {
        match self.list(path) {
            Ok(entries) if !entries.is_empty() => Ok(false),
            Ok(_) => self.remove(path).map(|()| true),
            Err(e) if e.is_not_found() => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// Makes each file's data, or each directory's entries, durable. Implementations may
    /// flush the paths in parallel: the order among them is not promised.
    fn sync(&self, paths: &[String]) -> Result<(), StorageError>;

    /// Makes `dir`, everything below it, and its entry in its parent durable: one batched
    /// flush for a whole version's content.
    fn sync_tree(&self, dir: &str) -> Result<(), StorageError>;

    /// Asks for the file at `path` to be written to stable storage soon, without waiting
    /// for it: a hint that makes a later flush of it shorter. Promises nothing, reports
    /// nothing; the flushes the caller relies on are still needed. The default does nothing.
    fn start_writeback(&self, path: &str) {
        let _ = path;
    }

    /// The identity of the running boot of the machine that holds this storage's unflushed
    /// writes: it changes exactly when they may have been lost (a power cut, a kernel
    /// crash), which a process crash does not do. A run that resumes under another boot id
    /// than the one its unflushed writes were made under must check them again
    /// (`docs/durability.md`, section 6). `None` when it cannot be known: then every
    /// unflushed write must be checked. The default says `None`.
    fn boot_id(&self) -> Option<String> {
        None
    }

    /// `path` as people should see it in messages and reports (a local store: the
    /// filesystem path; an object store: its URL). The default shows the storage path
    /// itself, `.` for the root.
    fn display_path(&self, path: &str) -> String {
        shown(path).to_owned()
    }

    /// The whole contents of the regular file at `path` and the tag of exactly those bytes,
    /// for a later [`Storage::write_if`] with [`Precondition::Matches`]. The default says
    /// [`StorageError::Unsupported`]: only stores with conditional writes give tags.
    fn read_tagged(&self, path: &str) -> Result<(Vec<u8>, Option<Tag>), StorageError> {
        Err(StorageError::Unsupported {
            op: "reading with a tag",
            path: path.to_owned(),
        })
    }

    /// Writes `bytes` to `path` in one durable, atomic write only if `precondition` holds,
    /// checked atomically with the write; otherwise [`StorageError::ConditionFailed`] and
    /// nothing is written. `metadata` (names of lower-case letters, digits and `-`) is
    /// stored with the file and returned by [`Storage::file_info`]. The object-store
    /// protocol's claim and commit point (`docs/durability.md`, section 11). The default says
    /// [`StorageError::Unsupported`].
    fn write_if(
        &self,
        path: &str,
        bytes: &[u8],
        precondition: &Precondition,
        metadata: &[(&str, &str)],
    ) -> Result<(), StorageError> {
        let _ = (bytes, precondition, metadata);
        Err(StorageError::Unsupported {
            op: "conditional writing",
            path: path.to_owned(),
        })
    }

    /// Makes `to` a byte-exact copy of the file at `from` (replacing a file at `to`), durable
    /// when this returns. An object store copies on the server, so no bytes pass through this
    /// process (`docs/durability.md`, 11.1.6). The default says
    /// [`StorageError::Unsupported`]: the local protocol renames instead.
    fn copy(&self, from: &str, to: &str) -> Result<(), StorageError> {
        let _ = to;
        Err(StorageError::Unsupported {
            op: "copying",
            path: from.to_owned(),
        })
    }

    /// The tag and user metadata of the file at `path`. The default says
    /// [`StorageError::Unsupported`].
    fn file_info(&self, path: &str) -> Result<FileInfo, StorageError> {
        Err(StorageError::Unsupported {
            op: "reading file metadata",
            path: path.to_owned(),
        })
    }

    /// The size in bytes of the regular file at `path` (a link is not followed). The
    /// default reads the file through; stores that know sizes say them at once.
    fn size(&self, path: &str) -> Result<u64, StorageError> {
        let mut reader = self.open(path)?;
        std::io::copy(&mut reader, &mut std::io::sink())
            .map_err(|e| StorageError::io("read", path, e))
    }

    /// Whether [`Storage::rename`] moves a file or a whole directory tree in one atomic
    /// step, as the local update protocol (`docs/durability.md`) relies on. Stores without
    /// atomic renames (object stores) say `false` and need a protocol of their own.
    fn renames_atomically(&self) -> bool {
        true
    }
}

/// The parent of a storage path (`""` for a top-level name and for the root).
pub fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(parent, _)| parent)
}

/// Checks that `path` is empty (the root) or a relative path of normal elements.
///
/// `/` is the only separator, in OCFL paths as on the POSIX filesystems this crate stores to,
/// so every other character is part of a name: `back\slash`, `c:`, `-x` and `%2F` each name
/// one entry of their directory, and a path of normal elements cannot leave the root
/// whatever they hold. (Other implementations write such names: ocfl-java stores logical
/// paths holding backslashes unchanged.)
pub fn check_storage_path(path: &str) -> Result<(), StorageError> {
    if path.is_empty() || crate::path::check_path(path).is_ok() {
        Ok(())
    } else {
        Err(StorageError::InvalidPath(path.to_owned()))
    }
}

/// Joins two storage paths (either may be the empty root).
pub fn join(base: &str, rest: &str) -> String {
    match (base.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_owned(),
        (_, true) => base.to_owned(),
        _ => format!("{base}/{rest}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_paths() {
        for ok in [
            "",
            "a",
            "a/b",
            "0=ocfl_1.1",
            "v1/content/backslash\\path\\file",
            "a\\..\\b",
            "..\\x",
            "c:/d",
            "-rf",
            "%2F..%2F",
        ] {
            assert!(check_storage_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "a/",
            "a/\\/..",
            "a\\/../..",
            ".",
        ] {
            assert!(check_storage_path(bad).is_err(), "{bad}");
        }
        assert_eq!(join("", "a"), "a");
        assert_eq!(join("a", ""), "a");
        assert_eq!(join("a", "b/c"), "a/b/c");
        assert_eq!(parent("a/b/c"), "a/b");
        assert_eq!(parent("a"), "");
        assert_eq!(parent(""), "");
    }
}
