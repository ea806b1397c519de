//! Extension 0005, mutable HEAD: where an object keeps a version `N+1` that is not yet in its
//! root (Fedora 6 writes them). [`Object::open_mutable_head`] reads that version's state;
//! validation checks it (`validate::validate_object`); updates refuse such an object, since
//! a new root version would conflict with the mutable HEAD.

use super::error::ObjectError;
use super::reader::Object;
use crate::storage::{Storage, join};
use crate::validate::{Code, Finding};

/// The extension's directory, relative to the object root.
pub const EXTENSION_DIR: &str = "extensions/0005-mutable-head";
/// The mutable HEAD version directory, relative to [`EXTENSION_DIR`].
pub const HEAD_DIR: &str = "head";
/// The revision markers' directory, relative to [`EXTENSION_DIR`].
pub const REVISIONS_DIR: &str = "revisions";
/// The name of the copy of the root inventory's sidecar, before its algorithm.
pub const ROOT_SIDECAR_PREFIX: &str = "root-inventory.json.";

/// Whether the object at `object_path` has an active mutable HEAD: the extension says so
/// exactly when `extensions/0005-mutable-head/head/inventory.json` exists.
pub fn has_mutable_head(storage: &dyn Storage, object_path: &str) -> Result<bool, ObjectError> {
    let inventory = join(
        object_path,
        &format!("{EXTENSION_DIR}/{HEAD_DIR}/inventory.json"),
    );
    Ok(storage.kind_if_exists(&inventory)?.is_some())
}

/// Whether `finding` is the parser's E042 for a content path below the mutable HEAD's
/// version directory: such paths are where the extension puts the head's new content, so
/// the rule that content lives in a root version directory does not hold for them.
pub(crate) fn is_head_content_location(finding: &Finding) -> bool {
    finding.code == Code::E042
        && finding
            .message
            .starts_with(&format!("content path \"{EXTENSION_DIR}/{HEAD_DIR}/"))
}

impl<'a> Object<'a> {
    /// The object at `path` as its mutable HEAD shows it: the inventory is the one in
    /// `extensions/0005-mutable-head/head/` (checked against its sidecar like a root
    /// inventory), whose head is the mutable version; its content paths are relative to the
    /// object root, so files read as from any object. [`ObjectError::NoMutableHead`] when
    /// the object has none.
    pub fn open_mutable_head(
        storage: &'a dyn Storage,
        path: &str,
    ) -> Result<Object<'a>, ObjectError> {
        let object = Object::open(storage, path)?;
        if !has_mutable_head(storage, path)? {
            return Err(ObjectError::NoMutableHead {
                id: object.id().to_owned(),
            });
        }
        let head = join(path, &format!("{EXTENSION_DIR}/{HEAD_DIR}"));
        let inventory =
            super::reader::read_inventory_except(storage, &head, &is_head_content_location)?;
        if inventory.id != object.id() {
            return Err(ObjectError::MutableHeadMismatch {
                id: object.id().to_owned(),
                reason: format!("its inventory is of object {:?}", inventory.id),
            });
        }
        Ok(Object::with_inventory(storage, path, inventory))
    }
}
