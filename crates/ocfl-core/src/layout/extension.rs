//! [`StorageLayout`]: what a layout is to the rest of the crate. The built-in extensions
//! implement it, and so can an institution's own layout, which then goes wherever a
//! [`Layout`](super::Layout) goes ([`Layout::custom`](super::Layout::custom)): initialising
//! a root, mapping ids when reading and updating it, checking object placement.

use std::fmt;

use super::config_file;
use super::{
    FlatDirect, FlatOmitPrefix, HashAndIdNTuple, HashAndNoPrefixIdNTuple, HashedNTuple,
    LayoutError, NTupleOmitPrefix,
};

/// A storage layout: how an object id maps to its object root below the storage root, and
/// how the layout describes itself in `ocfl_layout.json` and `extensions/NAME/config.json`.
///
/// Implementations must be deterministic (the same id always maps to the same path) and
/// must give a relative path of `/`-separated, non-empty elements without `.` or `..` (the
/// path is checked again before use: one that could leave the root is refused), or
/// [`LayoutError::UnmappableId`].
pub trait StorageLayout: fmt::Debug + Send + Sync {
    /// The extension name, as `ocfl_layout.json` records it: the directory name of its
    /// `extensions/NAME/config.json`, so one path element.
    fn name(&self) -> &str;

    /// A one-sentence description, written as `description` in `ocfl_layout.json`.
    fn description(&self) -> &str;

    /// The object root path (relative to the storage root) of `id`.
    fn map_object_id(&self, id: &str) -> Result<String, LayoutError>;

    /// Checks the layout's parameters (default: nothing to check).
    fn validate(&self) -> Result<(), LayoutError> {
        Ok(())
    }

    /// The bytes of `extensions/NAME/config.json`, or `None` for a layout without one
    /// (the default).
    fn config_file(&self) -> Option<Vec<u8>> {
        None
    }
}

/// Each built-in layout through the trait: its name, description and mapping, and a
/// `config.json` of every parameter (defaults included).
macro_rules! builtin {
    ($type:ty, $description:literal) => {
        impl StorageLayout for $type {
            fn name(&self) -> &str {
                <$type>::NAME
            }

            fn description(&self) -> &str {
                $description
            }

            fn map_object_id(&self, id: &str) -> Result<String, LayoutError> {
                <$type>::map_object_id(self, id)
            }

            fn validate(&self) -> Result<(), LayoutError> {
                <$type>::validate(self)
            }

            fn config_file(&self) -> Option<Vec<u8>> {
                Some(config_file::to_bytes(<$type>::NAME, self))
            }
        }
    };
}

builtin!(
    HashAndIdNTuple,
    "Object ids are hashed and the digest divided into n-tuple directories, which contain the object root named by the percent-encoded object id."
);
builtin!(
    HashedNTuple,
    "Object ids are hashed and the digest divided into n-tuple directories, which contain the object root named by the digest."
);
builtin!(
    FlatOmitPrefix,
    "Object ids without their prefix are used as the object root directories, direct children of the storage root."
);
builtin!(
    NTupleOmitPrefix,
    "Object ids without their prefix are divided into n-tuple directories, which contain the object root named by the id without its prefix."
);
builtin!(
    HashAndNoPrefixIdNTuple,
    "Object ids without their prefix are hashed and the digest divided into n-tuple directories, which contain the object root named by the percent-encoded id without its prefix."
);

/// 0002 has no parameters, so no `config.json` is written: the extension allows either
/// form, and ocfl-py 2.1 fails with an `AttributeError` on a `config.json` for a layout
/// without parameters, so a root written with one could not be opened there.
impl StorageLayout for FlatDirect {
    fn name(&self) -> &str {
        FlatDirect::NAME
    }

    fn description(&self) -> &str {
        "Object ids are used unchanged as the object root directories, direct children of the storage root."
    }

    fn map_object_id(&self, id: &str) -> Result<String, LayoutError> {
        FlatDirect::map_object_id(self, id)
    }
}
