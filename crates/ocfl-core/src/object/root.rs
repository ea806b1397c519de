//! [`StorageRoot`]: a storage root opened for reading objects — ids mapped to directories
//! through the root's layout, and every object found by walking its hierarchies.

use rayon::prelude::*;

use super::error::ObjectError;
use super::reader::Object;
use crate::SpecVersion;
use crate::layout::{Layout, LayoutRegistry};
use crate::namaste::{Declaration, DeclarationKind};
use crate::storage::{EntryKind, Storage, join};
use crate::version_num::VersionNum;

/// The name of the storage root's extensions directory, which is not an object hierarchy.
pub(super) const EXTENSIONS_DIR: &str = "extensions";

/// A storage root opened for reading: its declaration checked and its layout read.
#[derive(Clone)]
pub struct StorageRoot<'a> {
    storage: &'a dyn Storage,
    spec_version: SpecVersion,
    layout: Option<Layout>,
}

impl std::fmt::Debug for StorageRoot<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageRoot")
            .field("spec_version", &self.spec_version)
            .field("layout", &self.layout.as_ref().map(Layout::name))
            .finish_non_exhaustive()
    }
}

/// An object found by [`StorageRoot::list_objects`].
#[derive(Debug)]
pub struct ListedObject {
    /// The object root, relative to the storage root.
    pub path: String,
    /// Its id and head, or why its inventory could not be read.
    pub summary: Result<ObjectSummary, ObjectError>,
}

/// The id and head of a listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectSummary {
    /// The object id.
    pub id: String,
    /// The head version.
    pub head: VersionNum,
    /// The specification version of its inventory.
    pub spec_version: SpecVersion,
}

impl<'a> StorageRoot<'a> {
    /// Opens the storage root at the root of `storage`: it must hold a storage root
    /// declaration (`0=ocfl_1.x`) of a known version; its layout is read if it has one.
    pub fn open(storage: &'a dyn Storage) -> Result<StorageRoot<'a>, ObjectError> {
        StorageRoot::open_with_layouts(storage, &LayoutRegistry::new())
    }

    /// [`StorageRoot::open`] for a root whose layout may be one registered in `layouts`
    /// (an institution's own, see [`LayoutRegistry`]), as well as a built-in one.
    pub fn open_with_layouts(
        storage: &'a dyn Storage,
        layouts: &LayoutRegistry,
    ) -> Result<StorageRoot<'a>, ObjectError> {
        let entries = list_root(storage)?;
        let mut spec_version = None;
        for entry in entries.iter().filter(|e| e.kind == EntryKind::File) {
            let Some(dvalue) = entry.name.strip_prefix("0=ocfl_") else {
                continue;
            };
            if dvalue.starts_with("object_") {
                continue;
            }
            match Declaration::parse_file_name(&entry.name) {
                Some(d) if d.kind == DeclarationKind::StorageRoot => {
                    spec_version = Some(d.version);
                }
                _ => {
                    return Err(ObjectError::UnsupportedRootSpec {
                        declaration: entry.name.clone(),
                    });
                }
            }
        }
        let Some(spec_version) = spec_version else {
            return Err(ObjectError::NotAStorageRoot(
                "it has no 0=ocfl_1.x declaration".to_owned(),
            ));
        };
        let layout = layouts
            .read_from_root(storage)
            .map_err(ObjectError::RootLayout)?;
        Ok(StorageRoot {
            storage,
            spec_version,
            layout,
        })
    }

    /// Checks that the root of `storage` is a directory that can be listed, with the same
    /// errors [`StorageRoot::open`] gives (so every command words a missing root alike),
    /// without requiring a declaration: for callers that go on to validate it, or that open
    /// it later.
    pub fn check_directory(storage: &dyn Storage) -> Result<(), ObjectError> {
        list_root(storage).map(drop)
    }

    /// The specification version the root declares.
    pub fn spec_version(&self) -> SpecVersion {
        self.spec_version
    }

    /// The root's layout, if it has `ocfl_layout.json`.
    pub fn layout(&self) -> Option<&Layout> {
        self.layout.as_ref()
    }

    /// Where the layout puts object `id`, relative to the storage root.
    pub fn object_path(&self, id: &str) -> Result<String, ObjectError> {
        let layout = self.layout.as_ref().ok_or(ObjectError::NoLayout)?;
        layout
            .map_object_id(id)
            .map_err(|source| ObjectError::Layout {
                id: id.to_owned(),
                source,
            })
    }

    /// Opens object `id`: found through the layout, its inventory checked (see
    /// [`Object::open`]), and its id checked to be `id`.
    pub fn open_object(&self, id: &str) -> Result<Object<'a>, ObjectError> {
        let path = self.object_dir(id)?;
        let object = Object::open(self.storage, &path)?;
        if object.id() != id {
            return Err(ObjectError::IdMismatch {
                id: id.to_owned(),
                path,
                found: object.id().to_owned(),
            });
        }
        Ok(object)
    }

    /// Where object `id` is, checked to be a directory.
    pub(super) fn object_dir(&self, id: &str) -> Result<String, ObjectError> {
        let path = self.object_path(id)?;
        match self.storage.kind(&path) {
            Ok(EntryKind::Directory) => Ok(path),
            Ok(_) => Err(ObjectError::NotADirectory { path }),
            Err(err) if err.is_not_found() => Err(ObjectError::NotFound {
                id: id.to_owned(),
                path,
            }),
            Err(err) => Err(err.into()),
        }
    }

    /// The storage the root is in.
    pub(super) fn storage(&self) -> &'a dyn Storage {
        self.storage
    }

    /// Every object under the root, in path order, with its id and head (or why its
    /// inventory could not be read). The hierarchies are walked like the root validator
    /// walks them: directories are entered until one holds an object declaration; the
    /// `extensions` directory and files are skipped, and links are never followed.
    /// Inventories are read in parallel.
    pub fn list_objects(&self) -> Result<Vec<ListedObject>, ObjectError> {
        self.list_with(|path| {
            Object::open(self.storage, path).map(|object| ObjectSummary {
                id: object.inventory.id.clone(),
                head: object.inventory.head,
                spec_version: object.inventory.spec_version,
            })
        })
    }

    /// [`list_objects`](Self::list_objects) with each object read by
    /// [`summarise_object`](Self::summarise_object): without building the inventories of
    /// objects whose inventory the quick read vouches for, so that a root of large objects is
    /// listed in far less memory. An inventory with a defect the quick read does not look
    /// for (in the manifest or a state) is listed, where `list_objects` gives its error.
    pub fn list_object_summaries(&self) -> Result<Vec<ListedObject>, ObjectError> {
        self.list_with(|path| self.summarise_object(path))
    }

    fn list_with(
        &self,
        read: impl Fn(&str) -> Result<ObjectSummary, ObjectError> + Sync,
    ) -> Result<Vec<ListedObject>, ObjectError> {
        let entries = self.storage.list("")?;
        let tops: Vec<String> = entries
            .into_iter()
            .filter(|e| e.kind == EntryKind::Directory && e.name != EXTENSIONS_DIR)
            .map(|e| e.name)
            .collect();
        let mut found: Vec<Found> = tops
            .par_iter()
            .flat_map_iter(|top| find_object_roots(self.storage, top))
            .collect();
        found.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(found
            .into_par_iter()
            .map(|found| {
                let summary = found.listing_error.map_or_else(|| read(&found.path), Err);
                ListedObject {
                    path: found.path,
                    summary,
                }
            })
            .collect())
    }
}

/// An object root found by walking, or a directory that could not be listed.
struct Found {
    path: String,
    listing_error: Option<ObjectError>,
}

fn find_object_roots(storage: &dyn Storage, dir: &str) -> Vec<Found> {
    let entries = match storage.list(dir) {
        Ok(entries) => entries,
        Err(err) => {
            return vec![Found {
                path: dir.to_owned(),
                listing_error: Some(err.into()),
            }];
        }
    };
    let is_object = entries
        .iter()
        .any(|e| e.kind == EntryKind::File && e.name.starts_with("0=ocfl_object_"));
    if is_object {
        return vec![Found {
            path: dir.to_owned(),
            listing_error: None,
        }];
    }
    entries
        .iter()
        .filter(|e| e.kind == EntryKind::Directory)
        .flat_map(|e| find_object_roots(storage, &join(dir, &e.name)))
        .collect()
}

fn list_root(storage: &dyn Storage) -> Result<Vec<crate::storage::Entry>, ObjectError> {
    match storage.list("") {
        Ok(entries) => Ok(entries),
        Err(err) if err.is_not_found() => Err(ObjectError::NotAStorageRoot(
            "the directory does not exist".to_owned(),
        )),
        Err(err) => Err(err.into()),
    }
}
