//! Why a store could not be opened.

use std::path::PathBuf;

/// An error from opening a store. Every way a file can be unusable has its own variant; none
/// of them is a panic.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Another process holds the store (its pid is read from the lock file beside it, when
    /// that process had written it).
    #[error("{} is in use by {}", path.display(), holder(*pid))]
    InUse {
        /// The store file.
        path: PathBuf,
        /// The process holding it, if known.
        pid: Option<u32>,
    },
    /// The file (or its lock file) could not be read or written.
    #[error("cannot open {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The file is damaged: truncated, overwritten or with bytes changed since they were
    /// written (redb's checksums or this crate's decoding caught it).
    #[error("{} is corrupt: {detail}", path.display())]
    Corrupt {
        /// The store file.
        path: PathBuf,
        /// What was found.
        detail: String,
    },
    /// The file is a store of a schema version this build does not know.
    #[error(
        "{} has schema version {found}; this build reads version {supported}",
        path.display()
    )]
    UnsupportedSchema {
        /// The store file.
        path: PathBuf,
        /// The version recorded in the file.
        found: u64,
        /// The version this build reads and writes.
        supported: u64,
    },
    /// The file is a redb database but not one this crate wrote (it has tables and no schema
    /// version).
    #[error("{} is not a durable-redb store: {detail}", path.display())]
    NotAStore {
        /// The file.
        path: PathBuf,
        /// What is missing.
        detail: String,
    },
    /// redb refused for another reason (for example a file written by a newer redb).
    #[error("cannot open {}: {detail}", path.display())]
    Database {
        /// The store file.
        path: PathBuf,
        /// redb's error.
        detail: String,
    },
}

fn holder(pid: Option<u32>) -> String {
    match pid {
        Some(pid) => format!("pid {pid}"),
        None => "another process".to_owned(),
    }
}
