//! Reading and managing objects in a storage root: what the `ocfl` read commands (`ls`,
//! `log`, `show`, `diff`, `cat`, `export`) and `purge` do, with no output formatting.
//!
//! - [`StorageRoot`]: a root opened for reading; ids mapped through its layout
//!   ([`StorageRoot::open_object`]) and every object listed ([`StorageRoot::list_objects`]);
//! - [`Object`]: one object, its root inventory checked against its sidecar (a tampered
//!   inventory is refused), its versions and files, bytes streamed with their digest verified
//!   ([`Object::copy_file`]), whole versions exported ([`Object::export`]);
//! - [`StorageRoot::find_file`]: one file of a version found without building the whole
//!   inventory (`ocfl cat`), the inventory still checked against its sidecar;
//! - [`diff_states`] / [`Object::diff`]: added, removed, modified and renamed files;
//! - [`mutable_head`]: extension 0005, a version kept outside the root until it is
//!   committed ([`Object::open_mutable_head`] reads its state);
//! - [`path_history`] / [`last_changed`]: the versions that changed a file, and the version
//!   that last changed each file of a version;
//! - [`purge_object`]: removing an object without leaving a half-deleted object or empty
//!   directories in the root.
//!
//! Inventories are untrusted until their sidecar matches; content paths are only followed
//! through plain directories, and content bytes are checked against the inventory digest.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use ocfl_core::object::Object;
//! use ocfl_core::storage::LocalStorage;
//!
//! let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/ocfl/1.1/good-objects");
//! let storage = LocalStorage::new(fixture);
//! let object = Object::open(&storage, "spec-ex-full")?;
//! assert_eq!(object.id(), "ark:/12345/bcd987");
//! let bar = object.file(None, "foo/bar.xml")?;
//! let mut bytes = Vec::new();
//! object.copy_file(&bar, &mut bytes)?; // fails if the bytes do not match the inventory
//! # Ok(())
//! # }
//! ```

mod content;
mod diff;
mod error;
mod export;
mod find;
mod history;
pub mod mutable_head;
mod purge;
mod reader;
mod rollback;
mod root;

pub use diff::{Modified, PathDigest, Renamed, VersionDiff, diff_states};
pub use error::ObjectError;
pub use export::ExportSummary;
pub use find::FoundFile;
pub use history::{PathChange, PathVersion, last_changed, path_history};
pub use purge::{PurgeOutcome, Purged, purge_object};
pub use reader::{FileEntry, Object};
pub use rollback::{RolledBack, rollback_object};
pub use root::{ListedObject, ObjectSummary, StorageRoot};
