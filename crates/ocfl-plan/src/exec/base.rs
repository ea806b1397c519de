//! Reading the base of an update from the object.

use ocfl_core::digest::DigestAlgorithm;
use ocfl_core::namaste::Declaration;
use ocfl_core::sidecar::{INVENTORY_FILE, parse_sidecar, sidecar_name};
use ocfl_core::storage::{EntryKind, join};

use crate::plan::{self, Base};
use ocfl_core::storage::Storage;

/// Why the current state of an object could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BaseError {
    /// The inventory does not match its sidecar: corrupt or tampered, never updated.
    #[error(
        "{path}: the inventory does not match its sidecar {sidecar} (digest {found}, sidecar says {expected}); refusing to update a corrupt or tampered object, or one whose interrupted update must be resumed first"
    )]
    SidecarMismatch {
        /// The inventory.
        path: String,
        /// The sidecar.
        sidecar: String,
        /// The sidecar's digest.
        expected: String,
        /// The inventory's digest.
        found: String,
    },
    /// The sidecar is missing or malformed.
    #[error("{sidecar}: {reason}")]
    Sidecar {
        /// The sidecar.
        sidecar: String,
        /// What is wrong.
        reason: String,
    },
    /// Something exists at the object path but it has no inventory.
    #[error("{path}: exists but holds no inventory.json; not an OCFL object")]
    NotAnObject {
        /// The object path.
        path: String,
    },
    /// The object's conformance declaration does not match its inventory's specification
    /// version (the object declares a newer version, or has no declaration).
    #[error(
        "{path}: has no {declaration} declaration to match its inventory (it declares another, perhaps newer, specification version, or none); refusing to update it"
    )]
    Declaration {
        /// The object path.
        path: String,
        /// The declaration file expected.
        declaration: String,
    },
    /// The inventory or its sidecar is a symbolic link (or another non-file).
    #[error(
        "{path}: is not a regular file (a symbolic link?); refusing to read the object through it"
    )]
    NotAFile {
        /// The inventory or sidecar.
        path: String,
    },
    /// The inventory cannot serve as a base.
    #[error(transparent)]
    Invalid(#[from] plan::Error),
    /// Reading failed.
    #[error(transparent)]
    Storage(#[from] ocfl_core::storage::StorageError),
}

/// The current root inventory of the object at `object_path`, checked against its sidecar;
/// `None` when nothing exists there yet (the update creates the object).
pub fn read_base(fs: &dyn Storage, object_path: &str) -> Result<Option<Base>, BaseError> {
    let inventory_path = join(object_path, INVENTORY_FILE);
    match fs.kind_if_exists(&inventory_path)? {
        None => {
            return match fs.kind_if_exists(object_path)? {
                None => Ok(None),
                Some(_) => Err(BaseError::NotAnObject {
                    path: object_path.to_owned(),
                }),
            };
        }
        Some(EntryKind::File) => {}
        // A link is refused, not read: opening it fails (no links are followed), and an
        // I/O error would be retried as if it might go away.
        Some(_) => {
            return Err(BaseError::NotAFile {
                path: inventory_path,
            });
        }
    }
    let bytes = fs.read(&inventory_path)?;
    let base = Base::from_bytes(object_path, &bytes)?;
    check_sidecar(fs, object_path, &base, base.inventory.digest_algorithm)?;
    // An object whose declaration names a version we do not know is not ours to write.
    let declaration = Declaration::object(base.inventory.spec_version).file_name();
    if fs.kind_if_exists(&join(object_path, &declaration))? != Some(EntryKind::File) {
        return Err(BaseError::Declaration {
            path: object_path.to_owned(),
            declaration,
        });
    }
    Ok(Some(base))
}

fn check_sidecar(
    fs: &dyn Storage,
    object_path: &str,
    base: &Base,
    algorithm: DigestAlgorithm,
) -> Result<(), BaseError> {
    let sidecar = join(object_path, &sidecar_name(algorithm));
    if fs
        .kind_if_exists(&sidecar)?
        .is_some_and(|kind| kind != EntryKind::File)
    {
        return Err(BaseError::NotAFile { path: sidecar });
    }
    let bytes = match fs.read(&sidecar) {
        Ok(bytes) => bytes,
        Err(e) if e.is_not_found() => {
            return Err(BaseError::Sidecar {
                sidecar,
                reason: "missing".into(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    let expected = parse_sidecar(&bytes, algorithm).map_err(|e| BaseError::Sidecar {
        sidecar: sidecar.clone(),
        reason: e.to_string(),
    })?;
    if expected != base.digest {
        return Err(BaseError::SidecarMismatch {
            path: join(object_path, INVENTORY_FILE),
            sidecar,
            expected: expected.to_string(),
            found: base.digest.to_string(),
        });
    }
    Ok(())
}
