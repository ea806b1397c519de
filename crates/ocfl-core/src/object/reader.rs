//! [`Object`]: one object opened for reading — its root inventory, checked against its
//! sidecar before anything is believed — and what can be asked of it: versions, the files
//! of a version, where a logical path's bytes are stored.

use std::collections::HashSet;
use std::sync::Mutex;

use super::error::ObjectError;
use crate::digest::Digest;
use crate::inventory::{Inventory, Version, parse_inventory};
use crate::namaste::{Declaration, DeclarationKind};
use crate::path::{ContentPath, LogicalPath};
use crate::sidecar::{INVENTORY_FILE, parse_sidecar, sidecar_name};
use crate::storage::{Entry, EntryKind, Storage, join};
use crate::validate::Severity;
use crate::version_num::VersionNum;

/// An OCFL object opened for reading.
///
/// Opening reads the root `inventory.json` once and refuses it unless it matches its sidecar
/// and parses without errors; everything else is answered from that inventory. Content is
/// read only on request ([`Object::copy_file`], [`Object::export`]) and verified against the
/// inventory's digest as it streams.
pub struct Object<'a> {
    pub(super) storage: &'a dyn Storage,
    /// The object root, relative to the storage.
    pub(super) path: String,
    pub(super) inventory: Inventory,
    /// Directories inside the object already seen to be real directories (not links), so
    /// that reading many files checks each directory once.
    pub(super) checked_dirs: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for Object<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Object")
            .field("path", &self.path)
            .field("id", &self.inventory.id)
            .field("head", &self.inventory.head)
            .finish_non_exhaustive()
    }
}

/// One file of a version: its logical path, its digest and where its bytes are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileEntry<'o> {
    /// The logical path.
    pub path: &'o LogicalPath,
    /// The content digest (in the inventory's `digestAlgorithm`).
    pub digest: &'o Digest,
    /// The content path (relative to the object root) the bytes are read from: the first
    /// the manifest lists for the digest.
    pub content_path: &'o ContentPath,
}

impl<'a> Object<'a> {
    /// Opens the object whose root is `path` in `storage`.
    ///
    /// Refuses a directory without an object declaration or inventory, an object declaring
    /// an unknown specification version, an inventory that does not match its sidecar
    /// ([`ObjectError::TamperedInventory`]) and an inventory with any error.
    pub fn open(storage: &'a dyn Storage, path: &str) -> Result<Object<'a>, ObjectError> {
        check_object_dir(storage, path)?;
        let inventory = read_inventory(storage, path)?;
        Ok(Object::with_inventory(storage, path, inventory))
    }

    /// The object at `path` answered from `inventory` (already checked).
    pub(super) fn with_inventory(
        storage: &'a dyn Storage,
        path: &str,
        inventory: Inventory,
    ) -> Object<'a> {
        Object {
            storage,
            path: path.to_owned(),
            inventory,
            checked_dirs: Mutex::new(HashSet::new()),
        }
    }

    /// The object root, relative to the storage it was opened in.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The object id.
    pub fn id(&self) -> &str {
        &self.inventory.id
    }

    /// The root inventory.
    pub fn inventory(&self) -> &Inventory {
        &self.inventory
    }

    /// The head (latest) version.
    pub fn head(&self) -> VersionNum {
        self.inventory.head
    }

    /// The version `requested` (matched by number, so `v3` finds `v003`), or the head when
    /// `None`; returned with the object's own name for it.
    pub fn version(
        &self,
        requested: Option<VersionNum>,
    ) -> Result<(VersionNum, &Version), ObjectError> {
        let wanted = requested.unwrap_or(self.inventory.head);
        self.inventory
            .versions
            .iter()
            .find(|(num, _)| num.number() == wanted.number())
            .map(|(num, version)| (*num, version))
            .ok_or_else(|| ObjectError::UnknownVersion {
                id: self.inventory.id.clone(),
                version: wanted.to_string(),
                head: self.inventory.head.to_string(),
            })
    }

    /// The files of `version` (the head when `None`), sorted by logical path.
    pub fn files(&self, version: Option<VersionNum>) -> Result<Vec<FileEntry<'_>>, ObjectError> {
        let (_, state) = self.version(version)?;
        let mut files = Vec::new();
        for (digest, paths) in &state.state {
            for path in paths {
                files.push(self.entry(path, digest)?);
            }
        }
        files.sort_by(|a, b| a.path.cmp(b.path));
        Ok(files)
    }

    /// The file at logical path `path` in `version` (the head when `None`).
    pub fn file(
        &self,
        version: Option<VersionNum>,
        path: &str,
    ) -> Result<FileEntry<'_>, ObjectError> {
        let (num, state) = self.version(version)?;
        for (digest, paths) in &state.state {
            if let Some(found) = paths.iter().find(|p| p.as_str() == path) {
                return self.entry(found, digest);
            }
        }
        // A trailing slash is how users often name a directory; count the files below it.
        let prefix = format!("{}/", path.trim_end_matches('/'));
        let below = state
            .state
            .values()
            .flatten()
            .filter(|p| p.as_str().starts_with(&prefix))
            .count();
        if below > 0 {
            return Err(ObjectError::IsDirectory {
                id: self.inventory.id.clone(),
                version: num.to_string(),
                path: path.to_owned(),
                files: below,
            });
        }
        Err(ObjectError::NoSuchFile {
            id: self.inventory.id.clone(),
            version: num.to_string(),
            path: path.to_owned(),
        })
    }

    fn entry<'o>(
        &'o self,
        path: &'o LogicalPath,
        digest: &'o Digest,
    ) -> Result<FileEntry<'o>, ObjectError> {
        let content_path = self
            .inventory
            .manifest
            .get(digest)
            .and_then(|paths| paths.first())
            .ok_or_else(|| ObjectError::NotInManifest {
                id: self.inventory.id.clone(),
                path: path.to_string(),
                digest: digest.clone(),
            })?;
        Ok(FileEntry {
            path,
            digest,
            content_path,
        })
    }
}

/// Reads `path/inventory.json`, checks it against its sidecar, then parses it, refusing any
/// error. The sidecar is checked before the parse errors are reported, so a tampered
/// inventory is called tampered even when the tampering also broke its structure.
pub(super) fn read_inventory(storage: &dyn Storage, path: &str) -> Result<Inventory, ObjectError> {
    read_inventory_except(storage, path, &|_| false)
}

/// [`read_inventory`], overlooking the parser's findings that `allowed` accepts.
pub(super) fn read_inventory_except(
    storage: &dyn Storage,
    path: &str,
    allowed: &dyn Fn(&crate::validate::Finding) -> bool,
) -> Result<Inventory, ObjectError> {
    let inventory_path = join(path, INVENTORY_FILE);
    let bytes = storage.read(&inventory_path)?;
    let parsed = parse_inventory(&bytes);
    let mut errors = parsed
        .findings
        .iter()
        .filter(|f| f.severity() == Severity::Error && !allowed(f));
    let first_error = errors.next();
    let more = errors.count();
    let invalid = |finding: &crate::validate::Finding| ObjectError::InvalidInventory {
        path: inventory_path.clone(),
        code: finding.code,
        message: finding.message.clone(),
        more,
    };
    let Some(inventory) = parsed.inventory else {
        return Err(match first_error {
            Some(finding) => invalid(finding),
            None => ObjectError::NotAnObject {
                path: path.to_owned(),
                reason: format!("{INVENTORY_FILE} cannot be read as an inventory"),
            },
        });
    };
    let algorithm = inventory.digest_algorithm;
    let sidecar = join(path, &sidecar_name(algorithm));
    let sidecar_bytes = match storage.read(&sidecar) {
        Ok(bytes) => bytes,
        Err(err) if err.is_not_found() => {
            return Err(ObjectError::Sidecar {
                path: sidecar,
                reason: "missing: the inventory cannot be checked without it".to_owned(),
            });
        }
        Err(err) => return Err(err.into()),
    };
    let expected = parse_sidecar(&sidecar_bytes, algorithm).map_err(|e| ObjectError::Sidecar {
        path: sidecar.clone(),
        reason: e.to_string(),
    })?;
    let actual = algorithm.digest_bytes(&bytes);
    if expected != actual {
        return Err(ObjectError::TamperedInventory {
            path: inventory_path,
            sidecar,
            expected,
            actual,
        });
    }
    if let Some(finding) = first_error {
        return Err(invalid(finding));
    }
    Ok(inventory)
}

/// Checks that `path` is an object directory reached through plain directories, with an
/// object declaration of a known version and an inventory; returns its entries.
pub(super) fn check_object_dir(
    storage: &dyn Storage,
    path: &str,
) -> Result<Vec<Entry>, ObjectError> {
    check_plain_dirs(storage, path)?;
    let entries = match storage.list(path) {
        Ok(entries) => entries,
        Err(err) if err.is_not_found() => {
            return Err(ObjectError::NotAnObject {
                path: path.to_owned(),
                reason: "no such directory".to_owned(),
            });
        }
        Err(err) => return Err(err.into()),
    };
    let mut declared = false;
    for entry in entries.iter().filter(|e| e.kind == EntryKind::File) {
        if !entry.name.starts_with("0=ocfl_object_") {
            continue;
        }
        match Declaration::parse_file_name(&entry.name) {
            Some(d) if d.kind == DeclarationKind::Object => declared = true,
            _ => {
                return Err(ObjectError::UnsupportedSpec {
                    path: path.to_owned(),
                    declaration: entry.name.clone(),
                });
            }
        }
    }
    if !declared {
        return Err(ObjectError::NotAnObject {
            path: path.to_owned(),
            reason: "it has no 0=ocfl_object_* declaration".to_owned(),
        });
    }
    if !entries
        .iter()
        .any(|e| e.kind == EntryKind::File && e.name == INVENTORY_FILE)
    {
        return Err(ObjectError::NotAnObject {
            path: path.to_owned(),
            reason: format!("it has no {INVENTORY_FILE}"),
        });
    }
    Ok(entries)
}

/// Checks that `path` and each directory above it (below the storage's root) is a plain
/// directory, not a link that would lead reads outside the storage root.
fn check_plain_dirs(storage: &dyn Storage, path: &str) -> Result<(), ObjectError> {
    let mut prefix = String::new();
    for element in path.split('/').filter(|e| !e.is_empty()) {
        prefix = join(&prefix, element);
        match storage.kind(&prefix) {
            Ok(EntryKind::Directory) => {}
            Ok(_) => return Err(ObjectError::NotADirectory { path: prefix }),
            Err(err) if err.is_not_found() => {
                return Err(ObjectError::NotAnObject {
                    path: path.to_owned(),
                    reason: "no such directory".to_owned(),
                });
            }
            Err(err) => return Err(err.into()),
        }
    }
    Ok(())
}
