//! The storage root's objects as the console reads them: opened objects kept while their
//! inventory is unchanged, and the index of the root's objects ([`crate::listing`]).
//!
//! Opening an object parses its whole inventory (tens of MB for 100,000 files), so a page of
//! a big object would cost a parse per request. An opened object is kept, keyed by its
//! inventory sidecar (the inventory's digest): a request reads the sidecar, a few dozen
//! bytes, and reuses the parsed inventory while the digest is the same. At most
//! [`KEPT_OBJECTS`] are kept, which bounds the memory this takes.
//! Every object opened, or found missing, is told to the listing's index.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use ocfl_core::object::{Object, ObjectError, StorageRoot};
use ocfl_core::storage::{EntryKind, Storage};
use ocfl_durable::UpdateService;

use crate::error::Failure;
use crate::listing::Listing;

/// How many opened objects are kept.
pub const KEPT_OBJECTS: usize = 2;

struct Kept {
    path: String,
    sidecar: Vec<u8>,
    object: Arc<Object<'static>>,
}

/// The root and what is kept of it.
pub struct Objects {
    storage: &'static dyn Storage,
    root: StorageRoot<'static>,
    kept: Mutex<VecDeque<Kept>>,
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
            listing: Listing::start(storage, root.clone(), service),
            root,
            kept: Mutex::new(VecDeque::new()),
        })
    }

    /// The index of the root's objects.
    pub fn listing(&self) -> &Arc<Listing> {
        &self.listing
    }

    /// The storage the root is in.
    pub fn storage(&self) -> &'static dyn Storage {
        self.storage
    }

    /// Object `id`, refused (404) unless the layout puts an object of that id in the root.
    /// Blocking: call it off the async threads.
    pub fn open(&self, id: &str) -> Result<Arc<Object<'static>>, Failure> {
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
