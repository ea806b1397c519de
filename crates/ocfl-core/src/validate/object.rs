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
mod mutable_head;
mod object_root;
mod redundant;
mod sidecar;
mod version_dirs;

use super::code::Code;
use super::report::{ObjectReport, ValidationOptions};
use crate::SpecVersion;
use crate::digest::{Digest, DigestAlgorithm};
use crate::inventory::Inventory;
use crate::storage::{Directory, Entry, Storage, StorageError, join};
use inventory_file::InventoryFile;
use version_dirs::VersionDir;

/// Validates the object rooted at `path` in `storage`.
pub fn validate_object(
    storage: &dyn Storage,
    path: &str,
    options: &ValidationOptions,
) -> ObjectReport {
    validate_object_keeping_root(storage, path, options).0
}

/// The object's root inventory as validation read it: parsed, and the digest of its bytes
/// by its own `digestAlgorithm` (the one its sidecar records).
#[derive(Debug, Clone)]
pub struct RootInventory {
    /// The parsed inventory.
    pub inventory: Inventory,
    /// The digest of the `inventory.json` bytes.
    pub digest: Digest,
}

/// Validates the object rooted at `path` in `storage`, as [`validate_object`], and hands
/// back its root inventory, so that a caller about to use it need not read and parse it
/// again. The inventory comes back whenever it was parsed and its sidecar names its own
/// algorithm, even with findings: whether to use it is the caller's decision, made on the
/// report.
pub fn validate_object_keeping_root(
    storage: &dyn Storage,
    path: &str,
    options: &ValidationOptions,
) -> (ObjectReport, Option<RootInventory>) {
    let listed = storage
        .open_dir(path)
        .and_then(|dir| Ok((dir.list()?, dir)));
    match listed {
        Ok((entries, dir)) => validate_listed(storage, path, &*dir, entries, options, Early::Large),
        Err(e) => {
            let mut report = ObjectReport::new(path);
            report.add(Code::E003, format!("object root cannot be listed: {e}"));
            (report, None)
        }
    }
}

/// Validates the object rooted at `path`, already open as `dir` and listed as `entries`
/// (the storage-root walk has both in hand when it finds an object).
pub(in crate::validate) fn validate_listed_object(
    storage: &dyn Storage,
    path: &str,
    dir: &dyn Directory,
    entries: Vec<Entry>,
    options: &ValidationOptions,
) -> ObjectReport {
    validate_listed(storage, path, dir, entries, options, Early::Large).0
}

fn validate_listed(
    storage: &dyn Storage,
    path: &str,
    dir: &dyn Directory,
    entries: Vec<Entry>,
    options: &ValidationOptions,
    early: Early,
) -> (ObjectReport, Option<RootInventory>) {
    let mut report = ObjectReport::new(path);
    let object = ObjectFs {
        storage,
        root: path,
        dir,
    };

    let declared = declaration::check(&object, &entries, &mut report);
    let root_bytes = inventory_file::read(dir, "", &entries, &mut report);
    let early = root_bytes
        .as_deref()
        .and_then(|bytes| early_walk(options, &entries, bytes, early));
    // Both cores work from the first instant on a large object: the content walk (listing
    // and hashing, most of the work) beside the parse of the inventories, which is serial.
    let ((root_inventory, versions), early) = rayon::join(
        || {
            check_inventories(
                &object,
                &entries,
                root_bytes,
                declared,
                options,
                &mut report,
            )
        },
        || {
            early.map(|(algorithm, content)| {
                content::walk_early(&object, &entries, &content, algorithm)
            })
        },
    );
    let root_file = root_inventory.as_ref();
    let inventories = fixity::inventories(root_file, &versions);
    let claims = if options.check_fixity {
        fixity::claims(&inventories)
    } else {
        fixity::Claims::default()
    };
    let (files, digests) = content::walk(&object, &versions, &claims, early, &mut report);
    content::check_references(root_file, &versions, &files, &mut report);
    fixity::check(
        &inventories,
        root_file,
        &versions,
        &files,
        digests,
        &mut report,
    );
    drop(inventories);
    let root = root_inventory.and_then(|file| {
        let inventory = file.inventory?;
        let (algorithm, digest) = file.digest.into_inner()?;
        (algorithm == inventory.digest_algorithm).then_some(RootInventory { inventory, digest })
    });
    (report, root)
}

/// The root inventory of `bytes` and the version directories with their inventories, with
/// every check of them and of the object root that needs no content file.
fn check_inventories(
    object: &ObjectFs<'_>,
    entries: &[Entry],
    root_bytes: Option<Vec<u8>>,
    declared: Option<SpecVersion>,
    options: &ValidationOptions,
    report: &mut ObjectReport,
) -> (Option<InventoryFile>, Vec<VersionDir>) {
    let root_inventory = root_bytes
        .map(|bytes| inventory_file::load_read(object.dir, "", entries, bytes, None, report));
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

    let root = object_root::classify(entries, root_file, spec, report);
    if root.has_extensions {
        extensions::check(object, report);
        mutable_head::check(object, root_parsed, options.check_fixity, report);
    }
    version_dirs::check_sequence(object, &root.version_dirs, root_parsed, report);
    let versions = version_dirs::check_each(object, &root.version_dirs, root_file, spec, report);
    inventories::check(root_file, &versions, report);
    report.id = root_file
        .and_then(|f| f.summary.as_ref())
        .or_else(|| {
            versions
                .iter()
                .rev()
                .find_map(|v| v.inventory.as_ref()?.summary.as_ref())
        })
        .map(|s| s.id.clone());
    (root_inventory, versions)
}

/// When the content walk starts beside the parse of the inventories
/// ([`content::walk_early`]).
#[derive(Debug, Clone, Copy)]
enum Early {
    /// For a large root inventory, whose claims the sidecar's algorithm likely settles.
    Large,
    /// Whenever fixity is checked: the tests' proof that an early walk finds what the
    /// ordinary one does, on every kind of object.
    #[cfg(test)]
    Always,
}

/// Root inventories at least this large have the content walked while they are parsed; a
/// smaller one parses too quickly for that to pay.
const EARLY_WALK_FROM: usize = 1024 * 1024;

/// The algorithm to hash content with before the inventory is parsed, and the content
/// directory name to walk, when an early walk is worth it: fixity is checked, the inventory
/// is large, its sidecar names a manifest algorithm (the one the claims will almost surely
/// use), and its text names its content directory plainly or not at all. An inventory with
/// a fixity block (whose other algorithms would have every file read again) gets the
/// ordinary walk. None of this changes a finding, only when files are read: the parsed
/// inventory decides, and an early walk of the wrong directory is not used.
fn early_walk(
    options: &ValidationOptions,
    entries: &[Entry],
    bytes: &[u8],
    early: Early,
) -> Option<(DigestAlgorithm, String)> {
    if !options.check_fixity {
        return None;
    }
    let sidecar = inventory_file::sidecar_algorithm(entries);
    match early {
        Early::Large => {
            let algorithm = sidecar
                .filter(|a| matches!(a, DigestAlgorithm::Sha512 | DigestAlgorithm::Sha256))?;
            if bytes.len() < EARLY_WALK_FROM || memchr::memmem::find(bytes, b"\"fixity\"").is_some()
            {
                return None;
            }
            Some((algorithm, content_directory(bytes)?.to_owned()))
        }
        #[cfg(test)]
        Early::Always => Some((
            sidecar.unwrap_or(DigestAlgorithm::Sha512),
            content_directory(bytes).unwrap_or("content").to_owned(),
        )),
    }
}

/// The content directory an inventory's text names (`"contentDirectory": "name"`), or the
/// default when it names none; `None` when the text is not that simple (an escaped name).
/// A guess made before parsing, for [`early_walk`] only.
fn content_directory(bytes: &[u8]) -> Option<&str> {
    const KEY: &[u8] = b"\"contentDirectory\"";
    let Some(at) = memchr::memmem::find(bytes, KEY) else {
        return Some("content");
    };
    let rest = bytes.get(at + KEY.len()..)?.trim_ascii_start();
    let rest = rest
        .strip_prefix(b":")?
        .trim_ascii_start()
        .strip_prefix(b"\"")?;
    let end = memchr::memchr2(b'"', b'\\', rest)?;
    let name = std::str::from_utf8(rest.get(..end)?).ok()?;
    (rest.get(end) == Some(&b'"') && !name.is_empty()).then_some(name)
}

/// The object's files: storage paths relative to the object root, and the open object root
/// from which its entries are reached by name.
struct ObjectFs<'a> {
    storage: &'a dyn Storage,
    root: &'a str,
    dir: &'a dyn Directory,
}

impl ObjectFs<'_> {
    fn path(&self, relative: &str) -> String {
        join(self.root, relative)
    }

    /// Lists a directory of the object (`relative` is one element, or deeper).
    fn list(&self, relative: &str) -> Result<Vec<Entry>, StorageError> {
        if relative.is_empty() {
            self.dir.list()
        } else if relative.contains('/') {
            self.storage.list(&self.path(relative))
        } else {
            self.dir.open_dir(relative)?.list()
        }
    }

    /// Reads a file in the object root.
    fn read(&self, name: &str) -> Result<Vec<u8>, StorageError> {
        self.dir.read_file(name)
    }
}

/// `dir/name` for a path relative to the object root (`dir` may be the root, `""`).
fn location(dir: &str, name: &str) -> String {
    join(dir, name)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::storage::LocalStorage;

    /// How each version directory's inventory of fixture object `relative` ends up after
    /// loading: (name, dropped as redundant, copy of the root's), and the findings so far
    /// (with those of comparing prior inventories with the root's).
    fn loaded(relative: &str) -> (Vec<(String, bool, bool)>, ObjectReport) {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/ocfl");
        let storage = LocalStorage::new(fixtures);
        let dir = storage.open_dir(relative).expect("fixture object");
        let entries = dir.list().expect("listing");
        let object = ObjectFs {
            storage: &storage,
            root: relative,
            dir: &*dir,
        };
        let mut report = ObjectReport::new(relative);
        let root_file = inventory_file::load(&*dir, "", &entries, None, &mut report);
        let root =
            object_root::classify(&entries, root_file.as_ref(), SpecVersion::V1_1, &mut report);
        let versions = version_dirs::check_each(
            &object,
            &root.version_dirs,
            root_file.as_ref(),
            SpecVersion::V1_1,
            &mut report,
        );
        for finding in versions.iter().flat_map(|v| &v.cross_findings) {
            report.push(finding.clone());
        }
        let outcome = versions
            .iter()
            .map(|v| {
                let file = v
                    .inventory
                    .as_ref()
                    .expect("every version has an inventory");
                (v.name.clone(), file.reduced, file.same_as_root)
            })
            .collect();
        (outcome, report)
    }

    fn outcome(list: &[(&str, bool, bool)]) -> Vec<(String, bool, bool)> {
        list.iter()
            .map(|(n, r, s)| ((*n).to_owned(), *r, *s))
            .collect()
    }

    /// Validates fixture object `relative` as `validate_object` does, with `early`.
    fn validate_fixture(relative: &str, early: Early) -> Option<ObjectReport> {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/ocfl");
        let storage = LocalStorage::new(fixtures);
        // Rows git cannot store (empty directories) are built by the fixture tests.
        let dir = storage.open_dir(relative).ok()?;
        let entries = dir.list().expect("listing");
        let options = ValidationOptions::default();
        Some(validate_listed(&storage, relative, &*dir, entries, &options, early).0)
    }

    #[test]
    fn the_content_directory_is_read_from_the_inventory_text() {
        fn named(text: &str) -> Option<&str> {
            content_directory(text.as_bytes())
        }
        assert_eq!(named(r#"{"id":"x","manifest":{}}"#), Some("content"));
        assert_eq!(
            named(r#"{"contentDirectory":"content","x":1}"#),
            Some("content")
        );
        assert_eq!(named(r#"{"contentDirectory" :  "stuff" }"#), Some("stuff"));
        assert_eq!(named(r#"{"contentDirectory":"st\"uff"}"#), None);
        assert_eq!(named(r#"{"contentDirectory":""}"#), None);
        assert_eq!(named(r#"{"a":["contentDirectory"]}"#), None);
    }

    /// Walking the content before the inventories are parsed, then settling the claims,
    /// gives every fixture exactly the report of the ordinary walk: the same findings, the
    /// same messages, in the same order.
    #[test]
    fn an_early_content_walk_changes_no_report_of_any_fixture() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/ocfl");
        let table = std::fs::read_to_string(fixtures.join("EXPECTED.tsv")).expect("table");
        let mut compared = 0;
        let mut with_content_findings = 0;
        for row in table.lines().skip(1) {
            let relative = row.split('\t').nth(1).expect("a path column");
            let Some(ordinary) = validate_fixture(relative, Early::Large) else {
                continue;
            };
            let early = validate_fixture(relative, Early::Always).expect("listed once");
            assert_eq!(early, ordinary, "{relative}");
            compared += 1;
            let content = [Code::E023, Code::E092, Code::E093, Code::E024, Code::W003];
            if content.iter().any(|code| ordinary.has(*code)) {
                with_content_findings += 1;
            }
        }
        assert!(compared >= 150, "{compared} fixtures compared");
        assert!(with_content_findings >= 10, "{with_content_findings}");
    }

    #[test]
    fn older_inventories_of_a_sound_object_are_dropped_once_checked() {
        // Three versions, fixity in md5 and sha1: v1 and v2 say nothing the root does not.
        let (versions, report) = loaded("1.1/good-objects/spec-ex-full");
        assert!(report.is_valid(), "{report:#?}");
        let expected = [
            ("v1", true, false),
            ("v2", true, false),
            ("v3", false, true),
        ];
        assert_eq!(versions, outcome(&expected));
    }

    #[test]
    fn an_older_inventory_that_differs_stays_parsed() {
        // The v1 inventory's state differs from the root's v1 (E066): not redundant.
        let (versions, report) = loaded("1.1/bad-objects/E066_E092_old_manifest_digest_incorrect");
        assert!(report.has(Code::E066), "{report:#?}");
        assert_eq!(versions[0], ("v1".to_owned(), false, false));
    }
}
