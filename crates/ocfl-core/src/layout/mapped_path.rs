//! Checks every layout applies to what it produces, so that no object id, however odd,
//! can yield a path that escapes the storage root or that common filesystems refuse.

use super::LayoutError;
use crate::object_id::ObjectId;
use crate::storage::check_storage_path;

/// The longest directory name most filesystems accept (ext4, APFS, NTFS count 255 bytes
/// or UTF-16 units; bytes is the stricter count).
pub(crate) const MAX_ELEMENT_BYTES: usize = 255;

/// An [`LayoutError::UnmappableId`] for `id` under `extension`.
pub(crate) fn unmappable(extension: &str, id: &str, reason: impl Into<String>) -> LayoutError {
    LayoutError::UnmappableId {
        extension: extension.to_owned(),
        id: id.to_owned(),
        reason: reason.into(),
    }
}

/// Refuses ids that are not object ids at all (empty, or holding control characters).
pub(crate) fn check_id(extension: &str, id: &str) -> Result<(), LayoutError> {
    ObjectId::new(id)
        .map(drop)
        .map_err(|e| unmappable(extension, id, e.to_string()))
}

/// Checks that `element`, taken from the id itself, can be one directory name: not empty,
/// `.` or `..`, without `/` or `\`, and not too long.
pub(crate) fn check_element(extension: &str, id: &str, element: &str) -> Result<(), LayoutError> {
    let reason = if element.is_empty() {
        "the directory name would be empty".to_owned()
    } else if element == "." || element == ".." {
        format!("the directory name would be {element:?}")
    } else if element.contains(['/', '\\']) {
        format!("the directory name {element:?} would contain a path separator")
    } else if element.len() > MAX_ELEMENT_BYTES {
        format!(
            "the directory name would be {} bytes long (at most {MAX_ELEMENT_BYTES})",
            element.len()
        )
    } else {
        return Ok(());
    };
    Err(unmappable(extension, id, reason))
}

/// Joins `elements` with `/` after a final check of the whole path, the invariant every
/// layout promises: the result is a valid relative storage path.
pub(crate) fn finish<'a>(
    extension: &str,
    id: &str,
    elements: impl IntoIterator<Item = &'a str>,
) -> Result<String, LayoutError> {
    let mut path = String::new();
    for element in elements {
        check_element(extension, id, element)?;
        if !path.is_empty() {
            path.push('/');
        }
        path.push_str(element);
    }
    if path.is_empty() {
        return Err(unmappable(extension, id, "the path would be empty"));
    }
    check_storage_path(&path).map_err(|e| unmappable(extension, id, e.to_string()))?;
    Ok(path)
}
