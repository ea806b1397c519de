//! Giving a store's free space back to the file system.
//!
//! redb reuses the pages that purged rows leave free, so a store under a retention period
//! stops growing once purges keep up with new work; but the file never shrinks by itself.
//! [`compact`] moves the live pages to the front of the file and truncates it. redb can only
//! do that with no transaction open, so it runs on a closed store, under the store's lock.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use crate::error::OpenError;
use crate::lock::LockFile;
use crate::options::RedbOptions;

/// What [`compact`] did: the file's size before and after, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Compaction {
    /// The file's size before.
    pub bytes_before: u64,
    /// The file's size after.
    pub bytes_after: u64,
}

/// Compacts the store at `path`, which no process may have open (it takes the store's lock,
/// waiting `options.lock_wait` for it). The file's contents are unchanged; a crash during
/// compaction leaves it as before or as after (redb writes the compacted layout with its
/// usual commits).
pub fn compact(path: &Path, options: &RedbOptions) -> Result<Compaction, OpenError> {
    let _lock = LockFile::acquire(path, options.lock_wait)?;
    let size = || {
        std::fs::metadata(path)
            .map(|metadata| metadata.len())
            .map_err(|source| OpenError::Io {
                path: path.to_owned(),
                source,
            })
    };
    let bytes_before = size()?;
    let database = |detail: String| OpenError::Database {
        path: path.to_owned(),
        detail,
    };
    let compacted = catch_unwind(AssertUnwindSafe(|| -> Result<(), OpenError> {
        let mut db = crate::open::open_database(path, options)?;
        // Each call moves what it can; repeat until nothing moves.
        while db
            .compact()
            .map_err(|error| database(redb::Error::from(error).to_string()))?
        {}
        Ok(())
    }));
    match compacted {
        Ok(result) => result?,
        Err(_) => {
            return Err(OpenError::Corrupt {
                path: path.to_owned(),
                detail: "redb panicked while compacting".to_owned(),
            });
        }
    }
    Ok(Compaction {
        bytes_before,
        bytes_after: size()?,
    })
}
