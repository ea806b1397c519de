//! Storage-root layout extensions: how an object id maps to the object's path under the
//! storage root. Each extension is one module implementing [`StorageLayout`]; [`Layout`]
//! holds a built-in one or an institution's own ([`Layout::custom`]), and a
//! [`LayoutRegistry`] opens roots whose `ocfl_layout.json` names a registered layout.
//!
//! Every mapping either fails with [`LayoutError::UnmappableId`] or yields a valid relative
//! storage path ([`check_storage_path`](crate::storage::check_storage_path)) whose
//! directory names are at most 255 bytes: ids a layout cannot map safely (`..` under 0002,
//! an id ending with its delimiter under 0006/0007...) are refused, never mangled.
//!
//! ```
//! use ocfl_core::layout::Layout;
//!
//! let layout = Layout::default_layout();
//! assert_eq!(layout.name(), "0004-hashed-n-tuple-storage-layout");
//! assert_eq!(
//!     layout.map_object_id("object-01").unwrap(),
//!     "3c0/ff4/240/3c0ff4240c1e116dba14c7627f2319b58aa3d77606d0d90dfc6161608ac987d4"
//! );
//! ```

mod config_file;
mod digest_tuples;
mod extension;
mod flat_direct;
mod flat_omit_prefix;
mod hash_and_id;
mod hash_and_no_prefix_id;
mod hashed_n_tuple;
mod mapped_path;
mod n_tuple_omit_prefix;
mod omit_prefix;
mod registry;
mod root_files;

pub use extension::StorageLayout;
pub use flat_direct::FlatDirect;
pub use flat_omit_prefix::FlatOmitPrefix;
pub use hash_and_id::HashAndIdNTuple;
pub use hash_and_no_prefix_id::HashAndNoPrefixIdNTuple;
pub use hashed_n_tuple::HashedNTuple;
pub use n_tuple_omit_prefix::{NTupleOmitPrefix, ZeroPadding};
pub use registry::{LayoutFactory, LayoutRegistry};
pub use root_files::{LAYOUT_FILE, config_path};

use std::sync::Arc;

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

/// A configured storage layout: one of the built-in extensions, or a layout of the
/// integrator's own.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Layout {
    /// 0002: the id is the object root.
    FlatDirect(FlatDirect),
    /// 0003: digest tuples, then the percent-encoded id.
    HashAndIdNTuple(HashAndIdNTuple),
    /// 0004: digest tuples, then the digest.
    HashedNTuple(HashedNTuple),
    /// 0006: the id without its prefix is the object root.
    FlatOmitPrefix(FlatOmitPrefix),
    /// 0007: tuples of the id without its prefix, then that id.
    NTupleOmitPrefix(NTupleOmitPrefix),
    /// 0012: 0003 applied to the id without its prefix.
    HashAndNoPrefixIdNTuple(HashAndNoPrefixIdNTuple),
    /// A layout that is not a built-in extension (an institution's own), opened through a
    /// [`LayoutRegistry`] or given to [`init`](crate::init) directly.
    Custom(Arc<dyn StorageLayout>),
}

/// Two layouts are equal when they are the same extension with the same configuration
/// (for a custom layout: the same name and `config.json`).
impl PartialEq for Layout {
    fn eq(&self, other: &Layout) -> bool {
        match (self, other) {
            (Layout::FlatDirect(a), Layout::FlatDirect(b)) => a == b,
            (Layout::HashAndIdNTuple(a), Layout::HashAndIdNTuple(b)) => a == b,
            (Layout::HashedNTuple(a), Layout::HashedNTuple(b)) => a == b,
            (Layout::FlatOmitPrefix(a), Layout::FlatOmitPrefix(b)) => a == b,
            (Layout::NTupleOmitPrefix(a), Layout::NTupleOmitPrefix(b)) => a == b,
            (Layout::HashAndNoPrefixIdNTuple(a), Layout::HashAndNoPrefixIdNTuple(b)) => a == b,
            (Layout::Custom(a), Layout::Custom(b)) => {
                Arc::ptr_eq(a, b) || (a.name() == b.name() && a.config_file() == b.config_file())
            }
            _ => false,
        }
    }
}

impl Eq for Layout {}

/// The registered names of the layout extensions this crate implements.
pub const EXTENSION_NAMES: [&str; 6] = [
    FlatDirect::NAME,
    HashAndIdNTuple::NAME,
    HashedNTuple::NAME,
    FlatOmitPrefix::NAME,
    NTupleOmitPrefix::NAME,
    HashAndNoPrefixIdNTuple::NAME,
];

impl Layout {
    /// A layout of the integrator's own: see [`StorageLayout`].
    pub fn custom(layout: impl StorageLayout + 'static) -> Layout {
        Layout::Custom(Arc::new(layout))
    }

    /// The layout, through the trait every layout implements.
    pub fn as_storage_layout(&self) -> &dyn StorageLayout {
        match self {
            Layout::FlatDirect(l) => l,
            Layout::HashAndIdNTuple(l) => l,
            Layout::HashedNTuple(l) => l,
            Layout::FlatOmitPrefix(l) => l,
            Layout::NTupleOmitPrefix(l) => l,
            Layout::HashAndNoPrefixIdNTuple(l) => l,
            Layout::Custom(l) => &**l,
        }
    }

    /// The extension name, e.g. `0004-hashed-n-tuple-storage-layout`.
    pub fn name(&self) -> &str {
        self.as_storage_layout().name()
    }

    /// A one-sentence description, written as `description` in `ocfl_layout.json`.
    pub fn description(&self) -> &str {
        self.as_storage_layout().description()
    }

    /// The default layout for new storage roots: 0004 with its default parameters
    /// (sha256, three tuples of three characters, full digest as the object root).
    pub fn default_layout() -> Layout {
        Layout::HashedNTuple(HashedNTuple::default())
    }

    /// The object root path (relative to the storage root) for `id`. A custom layout's
    /// path is checked here ([`check_storage_path`](crate::storage::check_storage_path)), so
    /// none can name anything outside the storage root.
    pub fn map_object_id(&self, id: &str) -> Result<String, LayoutError> {
        let path = self.as_storage_layout().map_object_id(id)?;
        if let Layout::Custom(layout) = self
            && (path.is_empty() || crate::storage::check_storage_path(&path).is_err())
        {
            return Err(LayoutError::UnmappableId {
                extension: layout.name().to_owned(),
                id: id.to_owned(),
                reason: format!(
                    "the layout mapped it to {path:?}, which is not a path inside the storage root"
                ),
            });
        }
        Ok(path)
    }

    /// Checks the parameters against the extension's constraints (a layout built by hand
    /// may break them; one from [`Layout::from_config`] never does).
    pub fn validate(&self) -> Result<(), LayoutError> {
        self.as_storage_layout().validate()
    }

    /// The layout named `name`, configured by `config` (the bytes of its `config.json`),
    /// or with its defaults when `config` is `None`. Missing keys take their defaults;
    /// 0006, which has no default delimiter, needs a config.
    pub fn from_config(name: &str, config: Option<&[u8]>) -> Result<Layout, LayoutError> {
        fn load<T: serde::de::DeserializeOwned + Default>(
            name: &str,
            config: Option<&[u8]>,
        ) -> Result<T, LayoutError> {
            config.map_or_else(|| Ok(T::default()), |bytes| config_file::parse(name, bytes))
        }
        let layout = match name {
            FlatDirect::NAME => Layout::FlatDirect(load(name, config)?),
            HashAndIdNTuple::NAME => Layout::HashAndIdNTuple(load(name, config)?),
            HashedNTuple::NAME => Layout::HashedNTuple(load(name, config)?),
            FlatOmitPrefix::NAME => match config {
                Some(bytes) => Layout::FlatOmitPrefix(config_file::parse(name, bytes)?),
                None => {
                    return Err(LayoutError::InvalidConfig {
                        extension: name.to_owned(),
                        reason: "a config.json giving the delimiter is required".to_owned(),
                    });
                }
            },
            NTupleOmitPrefix::NAME => Layout::NTupleOmitPrefix(load(name, config)?),
            HashAndNoPrefixIdNTuple::NAME => Layout::HashAndNoPrefixIdNTuple(load(name, config)?),
            _ => return Err(LayoutError::Unsupported(name.to_owned())),
        };
        layout.validate()?;
        Ok(layout)
    }

    /// The extension's `config.json`: `extensionName` then every parameter (defaults
    /// included), pretty-printed, the same bytes for the same configuration (for a custom
    /// layout without a `config.json`, `extensionName` alone).
    pub fn config_json(&self) -> Vec<u8> {
        let name = self.name();
        match self {
            Layout::FlatDirect(l) => config_file::to_bytes(name, l),
            Layout::Custom(l) => l
                .config_file()
                .unwrap_or_else(|| config_file::to_bytes(name, &serde_json::Map::new())),
            other => other.as_storage_layout().config_file().unwrap_or_default(),
        }
    }

    /// The `config.json` that [`Layout::write_to_root`] writes, or `None` for an extension
    /// without parameters (0002), which gets no `config.json` at all (see
    /// [`StorageLayout`]'s implementation for [`FlatDirect`]).
    pub fn config_file(&self) -> Option<Vec<u8>> {
        self.as_storage_layout().config_file()
    }

    /// Reads `ocfl_layout.json` and the extension's config from a storage root; `None` when
    /// the root has no `ocfl_layout.json`. A missing `config.json` means the defaults.
    pub fn read_from_root(storage: &dyn Storage) -> Result<Option<Layout>, LayoutError> {
        root_files::read(storage, &LayoutRegistry::new())
    }

    /// Writes `ocfl_layout.json` and, for an extension with parameters,
    /// `extensions/<name>/config.json` ([`Layout::config_file`]), each atomically.
    pub fn write_to_root(&self, storage: &dyn Storage) -> Result<(), LayoutError> {
        root_files::write(self, storage)
    }
}

impl Default for Layout {
    fn default() -> Layout {
        Layout::default_layout()
    }
}
