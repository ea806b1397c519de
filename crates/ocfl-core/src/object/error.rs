//! Why reading or managing an object failed. Every variant names the object (by id or by
//! its path under the storage root) and, where one is involved, the file.

use std::io;
use std::path::PathBuf;

use crate::digest::Digest;
use crate::layout::LayoutError;
use crate::storage::StorageError;
use crate::validate::Code;

/// Why an object could not be read, exported or purged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ObjectError {
    /// The storage root has no `ocfl_layout.json`, so ids cannot be mapped to directories.
    #[error(
        "the storage root has no ocfl_layout.json, so object ids cannot be mapped to directories"
    )]
    NoLayout,
    /// The directory is not an OCFL storage root.
    #[error("not an OCFL storage root: {0}")]
    NotAStorageRoot(String),
    /// `ocfl_layout.json` or the layout's `config.json` is unreadable or invalid.
    #[error("reading the storage layout: {0}")]
    RootLayout(#[source] LayoutError),
    /// The root's layout cannot map this id.
    #[error("object {id:?}: {source}")]
    Layout {
        /// The object id.
        id: String,
        /// The layout's error.
        #[source]
        source: LayoutError,
    },
    /// Nothing is stored where the layout puts the id.
    #[error("object {id:?} not found: the layout puts it at {path}, which does not exist")]
    NotFound {
        /// The object id.
        id: String,
        /// Where the layout puts it.
        path: String,
    },
    /// The directory is not an OCFL object root (no `0=ocfl_object_*` declaration or no
    /// `inventory.json`).
    #[error("{path} is not an OCFL object: {reason}")]
    NotAnObject {
        /// The directory.
        path: String,
        /// What is missing.
        reason: String,
    },
    /// The storage root declares a specification version this crate does not know (a newer
    /// one).
    #[error("it declares {declaration}, a specification version this tool does not know")]
    UnsupportedRootSpec {
        /// The declaration file found.
        declaration: String,
    },
    /// The object declares a specification version this crate does not know (a newer one).
    #[error("{path}: declares {declaration}, a specification version this tool does not know")]
    UnsupportedSpec {
        /// The object directory.
        path: String,
        /// The declaration file found.
        declaration: String,
    },
    /// A symbolic link (or another non-directory) stands where the object has a directory;
    /// reading through it could reach outside the storage root.
    #[error("{path} is not a plain directory (a link?); refusing to read through it")]
    NotADirectory {
        /// The path, relative to the storage root.
        path: String,
    },
    /// The inventory's sidecar is missing or malformed.
    #[error("{path}: {reason}")]
    Sidecar {
        /// The sidecar file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// The inventory does not match its sidecar: corrupt or tampered.
    #[error(
        "{path}: the inventory does not match its sidecar (its digest is {actual}, {sidecar} says {expected}); the object is corrupt or was tampered with"
    )]
    TamperedInventory {
        /// The inventory file.
        path: String,
        /// The sidecar file.
        sidecar: String,
        /// The digest the sidecar records.
        expected: Digest,
        /// The inventory's actual digest.
        actual: Digest,
    },
    /// The inventory is not a valid OCFL inventory.
    #[error("{path}: invalid inventory: {code} {message}{}", more_suffix(*.more))]
    InvalidInventory {
        /// The inventory file.
        path: String,
        /// The first error's specification code.
        code: Code,
        /// The first error's message.
        message: String,
        /// How many more errors there are.
        more: usize,
    },
    /// The object at the id's path carries another id.
    #[error("{path} holds object {found:?}, not {id:?}")]
    IdMismatch {
        /// The id asked for.
        id: String,
        /// The object directory.
        path: String,
        /// The id in its inventory.
        found: String,
    },
    /// The object has no such version.
    #[error("object {id:?} has no version {version} (its versions are v1 to {head})")]
    UnknownVersion {
        /// The object id.
        id: String,
        /// The version asked for.
        version: String,
        /// The head version.
        head: String,
    },
    /// The version's state has no such logical path.
    #[error("object {id:?} version {version} has no file {path:?}")]
    NoSuchFile {
        /// The object id.
        id: String,
        /// The version.
        version: String,
        /// The logical path asked for.
        path: String,
    },
    /// The logical path is a directory of the version's state, not a file.
    #[error(
        "object {id:?} version {version}: {path:?} is a directory, not a file ({files} below it)",
        files = count_files(*.files)
    )]
    IsDirectory {
        /// The object id.
        id: String,
        /// The version.
        version: String,
        /// The logical path asked for.
        path: String,
        /// How many files are below it.
        files: usize,
    },
    /// The state names a digest the manifest does not hold (an invalid inventory).
    #[error("object {id:?}: digest {digest} of {path:?} is not in the manifest")]
    NotInManifest {
        /// The object id.
        id: String,
        /// The logical path.
        path: String,
        /// The digest.
        digest: Digest,
    },
    /// A content file's bytes do not have the digest the inventory records.
    #[error(
        "object {id:?}: {path} has {algorithm} digest {actual}, but the inventory records {expected}; the content is corrupt"
    )]
    DigestMismatch {
        /// The object id.
        id: String,
        /// The content file, relative to the storage root.
        path: String,
        /// The algorithm.
        algorithm: String,
        /// The recorded digest.
        expected: Digest,
        /// The digest of the bytes read.
        actual: Digest,
    },
    /// A rollback that cannot be done (why says which check refused it); nothing was written.
    #[error("object {id:?}: cannot roll back: {reason}; nothing was changed")]
    Rollback {
        /// The object id.
        id: String,
        /// Why.
        reason: String,
    },
    /// Reading from storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Writing the bytes out (to a caller's writer) failed.
    #[error("writing {path}: {source}")]
    Write {
        /// What was being written (a logical path or a destination file).
        path: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The export destination exists and is not an empty directory.
    #[error("export destination {} {reason}", .dest.display())]
    Destination {
        /// The destination directory.
        dest: PathBuf,
        /// What is wrong (`is not empty`, `is not a directory`...).
        reason: String,
    },
    /// A mutable HEAD (extension 0005) was asked for, and the object has none.
    #[error("object {id:?} has no mutable HEAD (extensions/0005-mutable-head/head/inventory.json)")]
    NoMutableHead {
        /// The object id.
        id: String,
    },
    /// The object's mutable HEAD does not belong to it.
    #[error("object {id:?}: its mutable HEAD cannot be used: {reason}")]
    MutableHeadMismatch {
        /// The object id.
        id: String,
        /// Why.
        reason: String,
    },
    /// Creating, writing or renaming files under the export destination failed.
    #[error("exporting to {}: {source}", .path.display())]
    Export {
        /// The file or directory involved.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

fn count_files(files: usize) -> String {
    if files == 1 {
        "1 file".to_owned()
    } else {
        format!("{files} files")
    }
}

fn more_suffix(more: usize) -> String {
    match more {
        0 => String::new(),
        1 => " (and 1 more error)".to_owned(),
        n => format!(" (and {n} more errors)"),
    }
}

impl ObjectError {
    /// Whether the error means the object (or its version or file) does not exist, as
    /// opposed to existing and being unreadable or corrupt.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            ObjectError::NotFound { .. }
                | ObjectError::UnknownVersion { .. }
                | ObjectError::NoSuchFile { .. }
                | ObjectError::IsDirectory { .. }
        )
    }
}
