//! Storage-root layout extensions: how an object id maps to the object's path under the
//! storage root. Each extension is one module; [`Layout`] dispatches between them.

use crate::storage::{Storage, StorageError};

/// Why a layout could not be configured or could not map an id.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LayoutError {
    /// The extension name is not one this crate implements.
    #[error("unsupported storage layout extension {0:?}")]
    Unsupported(String),
    /// The extension's `config.json` is malformed or has invalid values.
    #[error("invalid config for {extension}: {reason}")]
    InvalidConfig {
        /// The extension name.
        extension: String,
        /// What is wrong.
        reason: String,
    },
    /// The id cannot be mapped by this layout (e.g. it contains characters the layout forbids).
    #[error("object id {id:?} cannot be mapped by {extension}: {reason}")]
    UnmappableId {
        /// The extension name.
        extension: String,
        /// The object id.
        id: String,
        /// Why not.
        reason: String,
    },
    /// `ocfl_layout.json` is malformed.
    #[error("invalid ocfl_layout.json: {0}")]
    InvalidLayoutFile(String),
    /// Reading or writing the layout files failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A configured storage layout.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Layout {}

impl Layout {
    /// The registered extension name, e.g. `0004-hashed-n-tuple-storage-layout`.
    pub fn name(&self) -> &'static str {
        match *self {}
    }

    /// The object root path (relative to the storage root) for `id`.
    pub fn map_object_id(&self, id: &str) -> Result<String, LayoutError> {
        let _ = id;
        match *self {}
    }

    /// The layout named `name`, configured by `config` (the bytes of its `config.json`),
    /// or with its defaults when `config` is `None`.
    pub fn from_config(name: &str, config: Option<&[u8]>) -> Result<Layout, LayoutError> {
        let _ = config;
        Err(LayoutError::Unsupported(name.to_owned()))
    }

    /// Reads `ocfl_layout.json` and the extension's config from a storage root; `None` when
    /// the root has no `ocfl_layout.json`.
    pub fn read_from_root(storage: &dyn Storage) -> Result<Option<Layout>, LayoutError> {
        let _ = storage;
        Ok(None)
    }
}
