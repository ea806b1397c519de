//! Validation of one OCFL object: the filesystem checks (declaration, object root entries,
//! version directories, sidecars, content files and their digests) and the checks across the
//! root inventory and the inventories kept in version directories. Single-document inventory
//! checks are [`crate::inventory::parse_inventory`]'s; their findings are passed on, tagged
//! with the inventory's location.
//!
//! Security invariant: inventories are untrusted. No path taken from an inventory is ever
//! opened; only files found by listing the object (regular files, reached without following
//! links) are read, and inventory paths are only looked up among them.

mod content;
mod declaration;
mod extensions;
mod fixity;
mod inventories;
mod inventory_file;
mod object_root;
mod sidecar;
mod version_dirs;

use super::code::Code;
use super::report::{ObjectReport, ValidationOptions};
use crate::SpecVersion;
use crate::storage::{Entry, Storage, StorageError, join};

/// Validates the object rooted at `path` in `storage`.
pub fn validate_object(
    storage: &dyn Storage,
    path: &str,
    options: &ValidationOptions,
) -> ObjectReport {
    let mut report = ObjectReport::new(path);
    let object = ObjectFs {
        storage,
        root: path,
    };
    let entries = match object.list("") {
        Ok(entries) => entries,
        Err(e) => {
            report.add(Code::E003, format!("object root cannot be listed: {e}"));
            return report;
        }
    };

    let declared = declaration::check(&object, &entries, &mut report);
    let root_inventory = inventory_file::load(&object, "", &entries, None, &mut report);
    if root_inventory.is_none() {
        report.add(Code::E063, "inventory.json: missing from the object root");
    }
    let root_file = root_inventory.as_ref();
    let root_parsed = root_file.and_then(|f| f.inventory.as_ref());
    let spec = declared
        .or(root_parsed.map(|i| i.spec_version))
        .unwrap_or(SpecVersion::LATEST);
    if let (Some(declared), Some(inventory)) = (declared, root_parsed)
        && inventory.spec_version != declared
    {
        report.add(
            Code::E038,
            format!(
                "inventory.json: type is the {} inventory but the object declares OCFL {declared}",
                inventory.spec_version
            ),
        );
    }

    let root = object_root::classify(&entries, root_file, spec, &mut report);
    if root.has_extensions {
        extensions::check(&object, &mut report);
    }
    version_dirs::check_sequence(&root.version_dirs, root_parsed, &mut report);
    let versions = version_dirs::check_each(&object, &root.version_dirs, root_file, &mut report);
    inventories::check(root_file, &versions, spec, &mut report);
    report.id = root_parsed
        .or_else(|| {
            versions
                .iter()
                .rev()
                .find_map(|v| v.inventory.as_ref()?.inventory.as_ref())
        })
        .map(|i| i.id.clone());

    let inventories = fixity::inventories(root_file, &versions);
    let claims = if options.check_fixity {
        fixity::claims(&inventories)
    } else {
        fixity::Claims::default()
    };
    let (files, digests) = content::walk(&object, &versions, &claims, &mut report);
    content::check_references(root_file, &versions, &files, &mut report);
    fixity::check(&inventories, &files, digests, &mut report);
    report
}

/// The object's files: storage paths relative to the object root.
struct ObjectFs<'a> {
    storage: &'a dyn Storage,
    root: &'a str,
}

impl ObjectFs<'_> {
    fn path(&self, relative: &str) -> String {
        join(self.root, relative)
    }

    fn list(&self, relative: &str) -> Result<Vec<Entry>, StorageError> {
        self.storage.list(&self.path(relative))
    }

    fn read(&self, relative: &str) -> Result<Vec<u8>, StorageError> {
        self.storage.read(&self.path(relative))
    }
}

/// `dir/name` for a path relative to the object root (`dir` may be the root, `""`).
fn location(dir: &str, name: &str) -> String {
    join(dir, name)
}
