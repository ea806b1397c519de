//! The storage root's objects as the console reads them: versions read and objects opened,
//! kept while their inventory is unchanged, and the index of the root's objects
//! ([`crate::listing`]).
//!
//! The object and version pages need one version's files and every version's metadata:
//! they read them with [`StorageRoot::read_version`], which keeps that version's paths and
//! digests compactly ([`OneVersion`], about half the inventory's text for a 100,000-file
//! version) instead of the whole model (about twice the text). The diff, the download and
//! the validation report open the whole object ([`Objects::open`]).
//!
//! Reading an inventory costs tens of MB and a second for 100,000 files, so what is read is
//! kept, keyed by the inventory sidecar (the inventory's digest): a request reads the
//! sidecar, a few dozen bytes, and reuses what was read while the digest is the same. At
//! most [`KEPT_VERSIONS`] versions and [`KEPT_OBJECTS`] objects are kept, which bounds the
//! memory this takes. Every object read, or found missing, is told to the listing's index.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use ocfl_core::inventory::OneVersion;
use ocfl_core::object::{Object, ObjectError, StorageRoot};
use ocfl_core::storage::{EntryKind, Storage};
use ocfl_core::version_num::VersionNum;
use ocfl_durable::UpdateService;

use crate::error::Failure;
use crate::listing::Listing;

/// How many opened objects are kept.
pub const KEPT_OBJECTS: usize = 2;

/// How many versions read are kept.
pub const KEPT_VERSIONS: usize = 2;

struct Kept {
    path: String,
    sidecar: Vec<u8>,
    object: Arc<Object<'static>>,
}

struct KeptVersion {
    path: String,
    sidecar: Vec<u8>,
    /// The number asked for (`None`: the head).
    asked: Option<u32>,
    version: Arc<OneVersion>,
}

/// The root and what is kept of it.
pub struct Objects {
    storage: &'static dyn Storage,
    root: StorageRoot<'static>,
    kept: Mutex<VecDeque<Kept>>,
    kept_versions: Mutex<VecDeque<KeptVersion>>,
    listing: Arc<Listing>,
}

impl Objects {
    /// The objects of the storage root in `storage`, whose index starts being built (see
    /// [`Listing::start`] for what `service` is for).
    pub fn new(
        storage: &'static dyn Storage,
        service: Option<Arc<UpdateService>>,
    ) -> Result<Objects, ObjectError> {
        let root = StorageRoot::open(storage)?;
        Ok(Objects {
            storage,
            listing: Listing::start(root.clone(), service),
            root,
            kept: Mutex::new(VecDeque::new()),
            kept_versions: Mutex::new(VecDeque::new()),
        })
    }

    /// Where object `id` is in the storage, by the root's layout.
    pub fn path_of(&self, id: &str) -> Result<String, Failure> {
        Ok(self.root.object_path(id)?)
    }

    /// The index of the root's objects.
    pub fn listing(&self) -> &Arc<Listing> {
        &self.listing
    }

    /// The storage the root is in.
    pub fn storage(&self) -> &'static dyn Storage {
        self.storage
    }

    /// Version `version` (the head when `None`) of object `id`, with every version's
    /// metadata; refused (404) unless the layout puts an object of that id in the root.
    /// Blocking: call it off the async threads.
    pub fn version(
        &self,
        id: &str,
        version: Option<VersionNum>,
    ) -> Result<Arc<OneVersion>, Failure> {
        let (path, sidecar) = self.located(id)?;
        let asked = version.map(VersionNum::number);
        {
            let kept = self.kept_versions.lock().map_err(poisoned)?;
            if let Some(found) = kept
                .iter()
                .find(|k| k.path == path && k.sidecar == sidecar && k.asked == asked)
                .filter(|k| k.version.id == id)
            {
                return Ok(found.version.clone());
            }
        }
        let read = Arc::new(self.root.read_version(id, version)?);
        self.listing.saw_head(&read.id, read.head, &path);
        let mut kept = self.kept_versions.lock().map_err(poisoned)?;
        kept.retain(|k| !(k.path == path && k.asked == asked));
        if kept.len() >= KEPT_VERSIONS {
            kept.pop_front();
        }
        kept.push_back(KeptVersion {
            path,
            sidecar,
            asked,
            version: read.clone(),
        });
        Ok(read)
    }

    /// Object `id`, refused (404) unless the layout puts an object of that id in the root.
    /// Blocking: call it off the async threads.
    pub fn open(&self, id: &str) -> Result<Arc<Object<'static>>, Failure> {
        let (path, sidecar) = self.located(id)?;
        {
            let kept = self.kept.lock().map_err(poisoned)?;
            if let Some(found) = kept
                .iter()
                .find(|k| k.path == path && k.sidecar == sidecar)
                .filter(|k| k.object.id() == id)
            {
                return Ok(found.object.clone());
            }
        }
        let object = Arc::new(self.root.open_object(id)?);
        self.listing.saw(&object);
        let mut kept = self.kept.lock().map_err(poisoned)?;
        kept.retain(|k| k.path != path);
        if kept.len() >= KEPT_OBJECTS {
            kept.pop_front();
        }
        kept.push_back(Kept {
            path,
            sidecar,
            object: object.clone(),
        });
        Ok(object)
    }

    /// Where object `id` is and the bytes of its inventory sidecar; 404 when it is not
    /// there (and the listing is told).
    fn located(&self, id: &str) -> Result<(String, Vec<u8>), Failure> {
        let path = self.root.object_path(id)?;
        let sidecar = self
            .sidecar(&path)
            .map_err(|failure| match failure.status {
                axum::http::StatusCode::NOT_FOUND => {
                    self.listing.gone(id);
                    Failure::not_found(format!("no object {id:?} in this storage root"))
                }
                _ => failure,
            })?;
        Ok((path, sidecar))
    }

    /// The bytes of the inventory sidecar of the object at `path`.
    fn sidecar(&self, path: &str) -> Result<Vec<u8>, Failure> {
        match self.storage.kind_if_exists(path) {
            Ok(Some(EntryKind::Directory)) => {}
            Ok(_) => return Err(Failure::not_found("no object there")),
            Err(error) => return Err(Failure::bad_request(error.to_string())),
        }
        let entries = self
            .storage
            .list(path)
            .map_err(|e| Failure::internal(e.to_string()))?;
        let name = entries
            .iter()
            .find(|e| e.kind == EntryKind::File && e.name.starts_with("inventory.json."))
            .map(|e| e.name.clone())
            .ok_or_else(|| Failure::not_found("no object there"))?;
        self.storage
            .read(&format!("{path}/{name}"))
            .map_err(|e| Failure::internal(e.to_string()))
    }
}

fn poisoned<T>(_: std::sync::PoisonError<T>) -> Failure {
    Failure::internal("a request panicked while holding the object cache")
}
