//! Creating a storage root: the conformance declaration `0=ocfl_<version>` and, when a
//! layout is chosen, `ocfl_layout.json` with the extension's `config.json` (for an extension with
//! parameters).
//!
//! ```
//! use ocfl_core::init::{InitOptions, init_storage_root};
//! use ocfl_core::layout::Layout;
//! use ocfl_core::storage::LocalStorage;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let storage = LocalStorage::new(dir.path().join("root"));
//! init_storage_root(&storage, &InitOptions::default()).unwrap();
//! assert_eq!(Layout::read_from_root(&storage).unwrap(), Some(Layout::default_layout()));
//! ```

use crate::SpecVersion;
use crate::layout::{Layout, LayoutError};
use crate::namaste::{Declaration, DeclarationKind};
use crate::storage::{Storage, StorageError};

/// How to create a storage root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitOptions {
    /// The specification version the root declares.
    pub spec_version: SpecVersion,
    /// The storage layout, or `None` for a root without `ocfl_layout.json`.
    pub layout: Option<Layout>,
}

impl Default for InitOptions {
    /// OCFL 1.1 with layout 0004 and its default parameters.
    fn default() -> InitOptions {
        InitOptions {
            spec_version: SpecVersion::LATEST,
            layout: Some(Layout::default_layout()),
        }
    }
}

/// Why a storage root could not be created. Paths are relative to the storage's root, the
/// empty string being the root itself.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InitError {
    /// The directory already holds a storage root declaration.
    #[error("already an OCFL storage root: it holds {declaration}")]
    AlreadyStorageRoot {
        /// The declaration file found, e.g. `0=ocfl_1.1`.
        declaration: String,
    },
    /// The directory is not empty; a storage root is only created in an empty one.
    #[error(
        "refusing to create a storage root in a non-empty directory: it holds {entries} entries, first {first_entry:?}"
    )]
    NotEmpty {
        /// The first entry found, by name.
        first_entry: String,
        /// How many entries the directory holds.
        entries: usize,
    },
    /// The layout is invalid or its files could not be written.
    #[error("writing the storage layout: {0}")]
    Layout(#[from] LayoutError),
    /// Listing the directory or writing the declaration failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Creates a storage root at the root of `storage`, which must be empty or not exist.
///
/// The layout files are written before the declaration, so an interrupted run never
/// leaves a directory that claims to be a storage root without its layout. (Such a
/// leftover directory is refused as non-empty on the next run and must be removed.)
pub fn init_storage_root(storage: &dyn Storage, options: &InitOptions) -> Result<(), InitError> {
    if let Some(layout) = &options.layout {
        // Refuse a hand-built invalid layout before touching the disk.
        layout.validate()?;
    }
    match storage.list("") {
        Ok(entries) => {
            let declaration = entries.iter().find(|e| {
                Declaration::parse_file_name(&e.name)
                    .is_some_and(|d| d.kind == DeclarationKind::StorageRoot)
            });
            if let Some(found) = declaration {
                return Err(InitError::AlreadyStorageRoot {
                    declaration: found.name.clone(),
                });
            }
            if let Some(first) = entries.first() {
                return Err(InitError::NotEmpty {
                    first_entry: first.name.clone(),
                    entries: entries.len(),
                });
            }
        }
        Err(e) if e.is_not_found() => {
            storage.create_dir("")?;
            // The new root's entry in its parent is durable before anything goes into it.
            storage.sync_tree("")?;
        }
        Err(e) => return Err(e.into()),
    }
    if let Some(layout) = &options.layout {
        layout.write_to_root(storage)?;
    }
    let declaration = Declaration::storage_root(options.spec_version);
    storage.write_atomic(&declaration.file_name(), declaration.contents().as_bytes())?;
    Ok(())
}
