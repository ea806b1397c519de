//! [`StorageRoot::find_file`]: one file of one version, found without building the object's
//! whole inventory (what `ocfl cat` needs).
//!
//! The root inventory is still read whole and checked against its sidecar (hashed on a
//! second thread while the lookup scans the text), so a tampered inventory is refused as
//! [`Object::open`](crate::object::Object::open) refuses it. What the lookup reads is checked to be well formed; the
//! rest of the document is not validated (that is `validate`'s work, and what makes the
//! lookup cheap). Whenever the lookup cannot answer (a defect in what it reads, a sidecar
//! that does not match, another id), the object is opened in full and its answer or error
//! is the one [`Object::open`](crate::object::Object::open) and [`Object::file`](crate::object::Object::file) give.

use std::collections::HashSet;
use std::io::Write;
use std::sync::Mutex;

use super::content::ContentFiles;
use super::error::ObjectError;
use super::reader::Object;
use super::reader::{FileEntry, check_object_dir};
use super::root::ObjectSummary;
use super::root::StorageRoot;
use crate::digest::{Digest, DigestAlgorithm, STREAM_BUFFER};
use crate::inventory::{
    OneVersion, PathAnswer, ReadError, lookup_path, read_summary, read_version,
};
use crate::path::{ContentPath, LogicalPath};
use crate::sidecar::{INVENTORY_FILE, parse_sidecar, sidecar_name};
use crate::storage::{Entry, EntryKind, Storage, join};
use crate::version_num::VersionNum;

/// One file of an object, found by [`StorageRoot::find_file`]; its bytes are read with
/// [`FoundFile::copy_to`], verified against its digest.
pub struct FoundFile<'a> {
    storage: &'a dyn Storage,
    object_path: String,
    id: String,
    head: VersionNum,
    version: VersionNum,
    algorithm: DigestAlgorithm,
    path: LogicalPath,
    digest: Digest,
    content_path: ContentPath,
    checked_dirs: Mutex<HashSet<String>>,
}

impl std::fmt::Debug for FoundFile<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FoundFile")
            .field("object_path", &self.object_path)
            .field("id", &self.id)
            .field("version", &self.version)
            .field("path", &self.path)
            .field("digest", &self.digest)
            .field("content_path", &self.content_path)
            .finish_non_exhaustive()
    }
}

impl FoundFile<'_> {
    /// The object id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The object root, relative to the storage.
    pub fn object_path(&self) -> &str {
        &self.object_path
    }

    /// The object's head version (of its root inventory).
    pub fn head(&self) -> VersionNum {
        self.head
    }

    /// The version the file was found in, as the inventory names it.
    pub fn version(&self) -> VersionNum {
        self.version
    }

    /// The logical path.
    pub fn path(&self) -> &LogicalPath {
        &self.path
    }

    /// The content digest, in the inventory's digest algorithm.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The digest algorithm of the object.
    pub fn digest_algorithm(&self) -> DigestAlgorithm {
        self.algorithm
    }

    /// Where the bytes are, relative to the object root.
    pub fn content_path(&self) -> &ContentPath {
        &self.content_path
    }

    /// Streams the bytes into `out` and returns how many were written; as
    /// [`Object::copy_file`](crate::object::Object::copy_file), [`ObjectError::DigestMismatch`] after the last byte when they
    /// are not the inventory's, and the caller must then treat what `out` received as
    /// corrupt.
    pub fn copy_to(&self, out: &mut dyn Write) -> Result<u64, ObjectError> {
        let content = ContentFiles {
            storage: self.storage,
            object_path: &self.object_path,
            id: &self.id,
            algorithm: self.algorithm,
            checked_dirs: &self.checked_dirs,
        };
        let file = FileEntry {
            path: &self.path,
            digest: &self.digest,
            content_path: &self.content_path,
        };
        let mut buffer = vec![0u8; STREAM_BUFFER];
        content.copy_verified(&file, out, &mut buffer)
    }
}

impl<'a> StorageRoot<'a> {
    /// The file at logical path `path` in `version` (the head when `None`; matched by
    /// number) of object `id`, with the errors of [`StorageRoot::open_object`] and
    /// [`Object::file`](crate::object::Object::file). Reads the root inventory once, checked against its sidecar, but
    /// builds only what the answer needs, so it costs far less memory and time than
    /// opening the object on a large inventory.
    pub fn find_file(
        &self,
        id: &str,
        version: Option<VersionNum>,
        path: &str,
    ) -> Result<FoundFile<'a>, ObjectError> {
        let object_path = self.object_dir(id)?;
        let entries = check_object_dir(self.storage(), &object_path)?;
        if let Some(answer) = self.quick_find(&object_path, &entries, id, version, path) {
            return answer;
        }
        let object = self.open_object(id)?;
        let file = object.file(version, path)?;
        let (found_version, _) = object.version(version)?;
        Ok(FoundFile {
            storage: self.storage(),
            object_path: object.path().to_owned(),
            id: object.id().to_owned(),
            head: object.head(),
            version: found_version,
            algorithm: object.inventory().digest_algorithm,
            path: file.path.clone(),
            digest: file.digest.clone(),
            content_path: file.content_path.clone(),
            checked_dirs: Mutex::new(HashSet::new()),
        })
    }

    /// The lookup's answer, or `None` when the object must be opened in full to answer.
    fn quick_find(
        &self,
        object_path: &str,
        entries: &[Entry],
        id: &str,
        version: Option<VersionNum>,
        path: &str,
    ) -> Option<Result<FoundFile<'a>, ObjectError>> {
        let storage = self.storage();
        let (algorithm, lookup) = self.verified_read(object_path, entries, |bytes| {
            lookup_path(bytes, version, path).ok()
        })?;
        if lookup.digest_algorithm != algorithm || lookup.id != id {
            return None;
        }
        let found = match lookup.answer {
            PathAnswer::File {
                path,
                digest,
                content_path,
            } => FoundFile {
                storage,
                object_path: object_path.to_owned(),
                id: lookup.id,
                head: lookup.head,
                version: lookup.version,
                algorithm,
                path,
                digest,
                content_path,
                checked_dirs: Mutex::new(HashSet::new()),
            },
            PathAnswer::Directory { files } => {
                return Some(Err(ObjectError::IsDirectory {
                    id: lookup.id,
                    version: lookup.version.to_string(),
                    path: path.to_owned(),
                    files,
                }));
            }
            PathAnswer::Absent => {
                return Some(Err(ObjectError::NoSuchFile {
                    id: lookup.id,
                    version: lookup.version.to_string(),
                    path: path.to_owned(),
                }));
            }
            PathAnswer::NoSuchVersion => {
                return Some(Err(ObjectError::UnknownVersion {
                    id: lookup.id,
                    version: lookup.version.to_string(),
                    head: lookup.head.to_string(),
                }));
            }
        };
        Some(Ok(found))
    }
}

impl StorageRoot<'_> {
    /// Version `version` (the head when `None`; matched by number) of object `id`: every
    /// version's metadata and that version's files ([`OneVersion`]), with the errors of
    /// [`StorageRoot::open_object`] and [`Object::version`](crate::object::Object::version).
    /// As [`StorageRoot::find_file`], the root inventory is read once and checked against
    /// its sidecar, and the object is opened in full only when the quick read cannot
    /// answer; either way only the one version's files are kept.
    pub fn read_version(
        &self,
        id: &str,
        version: Option<VersionNum>,
    ) -> Result<OneVersion, ObjectError> {
        let object_path = self.object_dir(id)?;
        let entries = check_object_dir(self.storage(), &object_path)?;
        let quick = self.verified_read(&object_path, &entries, |bytes| {
            match read_version(bytes, version) {
                Ok(one) => Some(Ok(one)),
                Err(ReadError::NoSuchVersion { id, version, head }) => {
                    Some(Err((id, version, head)))
                }
                Err(ReadError::Unusable(_)) => None,
            }
        });
        match quick {
            Some((algorithm, Ok(one))) if one.digest_algorithm == algorithm && one.id == id => {
                return Ok(one);
            }
            Some((_, Err((found, wanted, head)))) if found == id => {
                return Err(ObjectError::UnknownVersion {
                    id: found,
                    version: wanted.to_string(),
                    head: head.to_string(),
                });
            }
            _ => {}
        }
        let object = self.open_object(id)?;
        // Gives the error for a version the inventory lacks.
        object.version(version)?;
        OneVersion::from_inventory(object.inventory(), version).ok_or_else(|| {
            ObjectError::UnknownVersion {
                id: id.to_owned(),
                version: version.unwrap_or(object.head()).to_string(),
                head: object.head().to_string(),
            }
        })
    }

    /// The id, head and specification version of the object at `object_path` (relative to
    /// the root), read without building its inventory when the inventory matches its one
    /// sidecar and [`read_summary`] vouches for it; otherwise the object is opened in full,
    /// and its answer or error is [`Object::open`]'s.
    pub fn summarise_object(&self, object_path: &str) -> Result<ObjectSummary, ObjectError> {
        let entries = check_object_dir(self.storage(), object_path)?;
        match self.verified_read(object_path, &entries, read_summary) {
            Some((algorithm, summary)) if summary.digest_algorithm == algorithm => {
                Ok(ObjectSummary {
                    id: summary.id,
                    head: summary.head,
                    spec_version: summary.spec_version,
                })
            }
            _ => Object::open(self.storage(), object_path).map(|object| ObjectSummary {
                id: object.inventory().id.clone(),
                head: object.head(),
                spec_version: object.inventory().spec_version,
            }),
        }
    }

    /// [`summarise_object`](Self::summarise_object) of object `id`, found through the
    /// layout, with its path; its id is checked to be `id`, as
    /// [`open_object`](Self::open_object) checks it.
    pub fn summarise_object_id(&self, id: &str) -> Result<(String, ObjectSummary), ObjectError> {
        let path = self.object_dir(id)?;
        let summary = self.summarise_object(&path)?;
        if summary.id != id {
            return Err(ObjectError::IdMismatch {
                id: id.to_owned(),
                path,
                found: summary.id,
            });
        }
        Ok((path, summary))
    }

    /// `read` of the root inventory of the object at `object_path`, and the algorithm of
    /// its one sidecar; `None` when there is not exactly one sidecar, the inventory does not
    /// match it, or `read` gives nothing. The sidecar's name gives the algorithm, so that
    /// hashing starts before the document says which algorithm it uses (the caller checks
    /// it against the document); hashing costs about as much as scanning the text, so the
    /// two run side by side.
    fn verified_read<T: Send>(
        &self,
        object_path: &str,
        entries: &[Entry],
        read: impl FnOnce(&[u8]) -> Option<T> + Send,
    ) -> Option<(DigestAlgorithm, T)> {
        let storage = self.storage();
        let mut sidecars = [DigestAlgorithm::Sha512, DigestAlgorithm::Sha256]
            .into_iter()
            .filter(|algorithm| {
                let name = sidecar_name(*algorithm);
                entries
                    .iter()
                    .any(|e| e.kind == EntryKind::File && e.name == name)
            });
        let algorithm = sidecars.next()?;
        if sidecars.next().is_some() {
            return None;
        }
        let sidecar = storage
            .read(&join(object_path, &sidecar_name(algorithm)))
            .ok()?;
        let expected = parse_sidecar(&sidecar, algorithm).ok()?;
        let bytes = storage.read(&join(object_path, INVENTORY_FILE)).ok()?;
        let (actual, answer) = std::thread::scope(|scope| {
            let hashing = scope.spawn(|| algorithm.digest_bytes(&bytes));
            let answer = read(&bytes);
            (hashing.join(), answer)
        });
        match (actual, answer) {
            (Ok(actual), Some(answer)) if actual == expected => Some((algorithm, answer)),
            _ => None,
        }
    }
}
