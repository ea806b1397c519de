//! Reading, diffing, exporting and purging objects in storage roots built by each test
//! (`init_storage_root` + copies of the good fixture objects where the layout puts them).

use std::fs;
use std::path::{Path, PathBuf};

use ocfl_core::init::{InitOptions, init_storage_root};
use ocfl_core::inventory::OneVersion;
use ocfl_core::layout::Layout;
use ocfl_core::object::{Object, ObjectError, PurgeOutcome, StorageRoot, purge_object};
use ocfl_core::storage::{Entry, EntryKind, LocalStorage, Storage, StorageError, StorageWriter};
use ocfl_core::validate::{ValidationOptions, validate_storage_root};
use ocfl_core::version_num::VersionNum;
use serde_json::Value;
use tempfile::TempDir;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/ocfl/1.1/good-objects")
        .join(name)
}

/// A fixture's root inventory read as plain JSON, independently of the inventory parser.
fn fixture_inventory(name: &str) -> Value {
    let bytes = fs::read(fixture(name).join("inventory.json")).expect("read inventory");
    serde_json::from_slice(&bytes).expect("inventory JSON")
}

fn fixture_id(name: &str) -> String {
    fixture_inventory(name)["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create directory");
    for entry in fs::read_dir(from).expect("read fixture") {
        let entry = entry.expect("fixture entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy fixture file");
        }
    }
}

/// A temporary directory holding a storage root `root/` with the default layout.
struct TestRoot {
    dir: TempDir,
}

impl TestRoot {
    fn new() -> TestRoot {
        let dir = tempfile::tempdir().expect("tempdir");
        init_storage_root(
            &LocalStorage::new(dir.path().join("root")),
            &InitOptions::default(),
        )
        .expect("init root");
        TestRoot { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    fn storage(&self) -> LocalStorage {
        LocalStorage::new(self.path())
    }

    /// Copies fixture `name` to where the layout puts its id; returns (id, object dir).
    fn add(&self, name: &str) -> (String, PathBuf) {
        let id = fixture_id(name);
        let relative = Layout::default_layout().map_object_id(&id).expect("map id");
        let dir = self.path().join(relative);
        copy_dir(&fixture(name), &dir);
        (id, dir)
    }

    fn is_valid(&self) -> bool {
        let report = validate_storage_root(&self.storage(), &ValidationOptions::default());
        report.is_valid()
    }
}

fn v(name: &str) -> VersionNum {
    VersionNum::parse(name).expect("version name")
}

/// The logical paths of a version in the fixture's inventory, sorted.
fn fixture_paths(name: &str, version: &str) -> Vec<String> {
    let inventory = fixture_inventory(name);
    let mut paths: Vec<String> = inventory["versions"][version]["state"]
        .as_object()
        .expect("state")
        .values()
        .flat_map(|paths| paths.as_array().expect("paths").iter())
        .map(|p| p.as_str().expect("path").to_owned())
        .collect();
    paths.sort();
    paths
}

#[test]
fn opens_an_object_by_id_and_lists_its_versions_and_files() {
    let root = TestRoot::new();
    let (id, _) = root.add("spec-ex-full");
    let storage = root.storage();
    let storage_root = StorageRoot::open(&storage).expect("open root");
    let object = storage_root.open_object(&id).expect("open object");
    assert_eq!(object.id(), id);
    let inventory = fixture_inventory("spec-ex-full");
    assert_eq!(object.head().to_string(), inventory["head"]);
    let versions: Vec<String> = object
        .inventory()
        .versions
        .keys()
        .map(ToString::to_string)
        .collect();
    let expected: Vec<&String> = inventory["versions"]
        .as_object()
        .expect("versions")
        .keys()
        .collect();
    assert_eq!(versions.iter().collect::<Vec<_>>(), expected);

    for version in ["v1", "v2", "v3"] {
        let files = object.files(Some(v(version))).expect("files");
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, fixture_paths("spec-ex-full", version), "{version}");
        for file in &files {
            let listed = &inventory["manifest"][file.digest.as_str()];
            assert!(
                listed
                    .as_array()
                    .expect("manifest entry")
                    .iter()
                    .any(|p| p == file.content_path.as_str()),
                "{} -> {}",
                file.path,
                file.content_path
            );
        }
    }
    assert_eq!(
        object.files(None).expect("head files"),
        object.files(Some(v("v3"))).expect("v3 files")
    );
}

#[test]
fn versions_match_by_number_and_unknown_ones_are_named() {
    let storage = LocalStorage::new(fixture("spec-ex-full").parent().expect("parent"));
    let object = Object::open(&storage, "spec-ex-full").expect("open");
    let (num, version) = object.version(Some(v("v0002"))).expect("v2 in padded form");
    assert_eq!(num.to_string(), "v2", "the object's own name");
    assert_eq!(
        version.user.as_ref().map(|u| u.name.as_str()),
        fixture_inventory("spec-ex-full")["versions"]["v2"]["user"]["name"].as_str()
    );
    let err = object.version(Some(v("v9"))).expect_err("no v9");
    assert!(matches!(err, ObjectError::UnknownVersion { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("v9") && message.contains("v3"),
        "{message}"
    );
}

#[test]
fn files_are_read_with_their_digest_verified() {
    let storage = LocalStorage::new(fixture("spec-ex-full").parent().expect("parent"));
    let object = Object::open(&storage, "spec-ex-full").expect("open");
    for (version, path, content) in [
        ("v1", "foo/bar.xml", "v1/content/foo/bar.xml"),
        ("v3", "foo/bar.xml", "v2/content/foo/bar.xml"),
        ("v3", "image.tiff", "v1/content/image.tiff"),
        ("v3", "empty2.txt", "v1/content/empty.txt"),
    ] {
        let file = object.file(Some(v(version)), path).expect("file");
        let mut bytes = Vec::new();
        let written = object.copy_file(&file, &mut bytes).expect("copy");
        let expected = fs::read(fixture("spec-ex-full").join(content)).expect("fixture bytes");
        assert_eq!(bytes, expected, "{version} {path}");
        assert_eq!(written, expected.len() as u64);
    }
}

#[test]
fn missing_paths_and_directories_are_not_files() {
    let storage = LocalStorage::new(fixture("spec-ex-full").parent().expect("parent"));
    let object = Object::open(&storage, "spec-ex-full").expect("open");
    let missing = object.file(None, "empty.txt").expect_err("deleted in v3");
    assert!(
        matches!(missing, ObjectError::NoSuchFile { .. }),
        "{missing}"
    );
    assert!(missing.to_string().contains("empty.txt"));
    assert!(object.file(Some(v("v1")), "empty.txt").is_ok());
    let dir = object.file(None, "foo").expect_err("a directory");
    assert!(
        matches!(dir, ObjectError::IsDirectory { files: 1, .. }),
        "{dir}"
    );
}

#[test]
fn corrupt_content_is_detected_while_streaming() {
    let root = TestRoot::new();
    let (id, dir) = root.add("spec-ex-full");
    let tiff = dir.join("v1/content/image.tiff");
    let mut bytes = fs::read(&tiff).expect("read");
    bytes[0] ^= 0xff;
    fs::write(&tiff, &bytes).expect("corrupt");
    let storage = root.storage();
    let storage_root = StorageRoot::open(&storage).expect("root");
    let object = storage_root.open_object(&id).expect("inventory is fine");
    let file = object.file(None, "image.tiff").expect("file");
    let mut out = Vec::new();
    let err = object.copy_file(&file, &mut out).expect_err("corrupt");
    assert!(matches!(err, ObjectError::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains("v1/content/image.tiff"), "{err}");
    assert!(err.to_string().contains(&id), "{err}");
}

#[test]
fn a_tampered_inventory_is_refused() {
    let root = TestRoot::new();
    let (id, dir) = root.add("spec-ex-full");
    let inventory = dir.join("inventory.json");
    let text = fs::read_to_string(&inventory).expect("read");
    fs::write(&inventory, text.replace("Initial import", "Initial imp0rt")).expect("tamper");
    let storage = root.storage();
    let storage_root = StorageRoot::open(&storage).expect("root");
    let err = storage_root.open_object(&id).expect_err("tampered");
    assert!(
        matches!(err, ObjectError::TamperedInventory { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("inventory.json"), "{err}");

    fs::remove_file(dir.join("inventory.json.sha512")).expect("remove sidecar");
    let err = storage_root.open_object(&id).expect_err("no sidecar");
    assert!(matches!(err, ObjectError::Sidecar { .. }), "{err}");
}

#[test]
fn an_invalid_inventory_with_a_matching_sidecar_is_refused() {
    let root = TestRoot::new();
    let (id, dir) = root.add("spec-ex-full");
    let inventory = dir.join("inventory.json");
    let text = fs::read_to_string(&inventory).expect("read");
    // head names a version that is not the highest: E040.
    let broken = text.replace("\"head\": \"v3\"", "\"head\": \"v2\"");
    assert_ne!(broken, text, "the fixture spells head this way");
    fs::write(&inventory, &broken).expect("write");
    let digest = ocfl_core::digest::DigestAlgorithm::Sha512.digest_bytes(broken.as_bytes());
    fs::write(
        dir.join("inventory.json.sha512"),
        ocfl_core::sidecar::sidecar_contents(&digest),
    )
    .expect("sidecar");
    let storage = root.storage();
    let err = StorageRoot::open(&storage)
        .expect("root")
        .open_object(&id)
        .expect_err("invalid");
    assert!(
        matches!(&err, ObjectError::InvalidInventory { code, .. } if code.as_str() == "E040"),
        "{err}"
    );
}

#[test]
fn unknown_ids_misplaced_objects_and_non_roots() {
    let root = TestRoot::new();
    let (id, dir) = root.add("spec-ex-full");
    let storage = root.storage();
    let storage_root = StorageRoot::open(&storage).expect("root");
    let err = storage_root
        .open_object("ark:/no/such")
        .expect_err("unknown");
    assert!(matches!(err, ObjectError::NotFound { .. }) && err.is_not_found());
    assert!(err.to_string().contains("ark:/no/such"), "{err}");

    // Another object's files where the layout puts `other`.
    let other = "info:other-object";
    let other_dir = root
        .path()
        .join(Layout::default_layout().map_object_id(other).expect("map"));
    copy_dir(&dir, &other_dir);
    let err = storage_root.open_object(other).expect_err("wrong id");
    assert!(
        matches!(&err, ObjectError::IdMismatch { found, .. } if *found == id),
        "{err}"
    );

    let plain = tempfile::tempdir().expect("tempdir");
    let plain_storage = LocalStorage::new(plain.path());
    let err = StorageRoot::open(&plain_storage).expect_err("not a root");
    assert!(matches!(err, ObjectError::NotAStorageRoot(_)), "{err}");

    fs::remove_file(root.path().join("ocfl_layout.json")).expect("drop layout");
    let err = StorageRoot::open(&storage)
        .expect("still a root")
        .open_object(&id)
        .expect_err("no layout");
    assert!(matches!(err, ObjectError::NoLayout), "{err}");
}

#[test]
fn a_link_inside_an_object_is_not_followed() {
    let root = TestRoot::new();
    let (id, dir) = root.add("spec-ex-full");
    // The same bytes, but reached through a link to a directory outside the root.
    let outside = root.dir.path().join("outside");
    fs::rename(dir.join("v2/content"), &outside).expect("move content out");
    std::os::unix::fs::symlink(&outside, dir.join("v2/content")).expect("symlink");
    let storage = root.storage();
    let storage_root = StorageRoot::open(&storage).expect("root");
    let object = storage_root.open_object(&id).expect("inventory is fine");
    let file = object.file(None, "foo/bar.xml").expect("file");
    let err = object.copy_file(&file, &mut Vec::new()).expect_err("link");
    assert!(matches!(err, ObjectError::NotADirectory { .. }), "{err}");
}

#[test]
fn diff_reports_each_kind_of_change() {
    let storage = LocalStorage::new(fixture("spec-ex-full").parent().expect("parent"));
    let object = Object::open(&storage, "spec-ex-full").expect("open");
    // v1 -> v2: "Fix bar.xml, remove image.tiff, add empty2.txt".
    let diff = object.diff(v("v1"), v("v2")).expect("diff");
    let names = |list: &[ocfl_core::object::PathDigest]| -> Vec<String> {
        list.iter().map(|p| p.path.to_string()).collect()
    };
    assert_eq!(names(&diff.added), ["empty2.txt"]);
    assert_eq!(names(&diff.removed), ["image.tiff"]);
    assert_eq!(diff.modified.len(), 1);
    assert_eq!(diff.modified[0].path.as_str(), "foo/bar.xml");
    assert!(diff.renamed.is_empty());
    // v2 -> v3: "Reinstate image.tiff, delete empty.txt".
    let diff = object.diff(v("v2"), v("v3")).expect("diff");
    assert_eq!(names(&diff.added), ["image.tiff"]);
    assert_eq!(names(&diff.removed), ["empty.txt"]);
    assert!(diff.modified.is_empty() && diff.renamed.is_empty());
    assert!(object.diff(v("v3"), v("v3")).expect("same").is_empty());
    assert!(object.diff(v("v1"), v("v7")).is_err());
}

/// Every file under `dir`, as (relative path, bytes), sorted.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let relative = path.strip_prefix(base).expect("inside");
                out.push((
                    relative.to_string_lossy().into_owned(),
                    fs::read(&path).expect("read"),
                ));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn export_writes_a_version_and_refuses_a_non_empty_destination() {
    let storage = LocalStorage::new(fixture("spec-ex-full").parent().expect("parent"));
    let object = Object::open(&storage, "spec-ex-full").expect("open");
    let out = tempfile::tempdir().expect("tempdir");

    let v1 = out.path().join("v1");
    let summary = object.export(Some(v("v1")), &v1).expect("export v1");
    // v1's state is exactly what v1/content holds.
    let expected = tree(&fixture("spec-ex-full").join("v1/content"));
    assert_eq!(tree(&v1), expected);
    assert_eq!(summary.files, expected.len() as u64);
    assert_eq!(
        summary.bytes,
        expected.iter().map(|(_, b)| b.len() as u64).sum::<u64>()
    );

    // An existing empty directory is filled; the head is the default.
    let head = out.path().join("head");
    fs::create_dir(&head).expect("mkdir");
    let summary = object.export(None, &head).expect("export head");
    assert_eq!(summary.version.to_string(), "v3");
    let names: Vec<String> = tree(&head).into_iter().map(|(p, _)| p).collect();
    assert_eq!(names, fixture_paths("spec-ex-full", "v3"));

    let err = object.export(None, &v1).expect_err("not empty");
    assert!(matches!(err, ObjectError::Destination { .. }), "{err}");
    assert_eq!(tree(&v1), expected, "untouched");
    let orphan = out.path().join("no/such/parent");
    let err = object.export(None, &orphan).expect_err("no parent");
    assert!(err.to_string().contains("parent directory"), "{err}");
    assert_eq!(
        fs::read_dir(out.path()).expect("list").count(),
        2,
        "no staging directory left"
    );
}

#[test]
fn a_failed_export_leaves_nothing() {
    let root = TestRoot::new();
    let (id, dir) = root.add("spec-ex-full");
    fs::write(dir.join("v2/content/foo/bar.xml"), "not the original").expect("corrupt");
    let storage = root.storage();
    let storage_root = StorageRoot::open(&storage).expect("root");
    let object = storage_root.open_object(&id).expect("open");
    let out = tempfile::tempdir().expect("tempdir");
    let dest = out.path().join("export");
    let err = object.export(None, &dest).expect_err("corrupt content");
    assert!(matches!(err, ObjectError::DigestMismatch { .. }), "{err}");
    assert_eq!(
        fs::read_dir(out.path()).expect("list").count(),
        0,
        "neither the destination nor a staging directory"
    );
    // v1 does not use the corrupt file.
    object.export(Some(v("v1")), &dest).expect("v1 is fine");
}

#[test]
fn list_objects_walks_the_root_and_reports_unreadable_objects() {
    let root = TestRoot::new();
    let (full_id, _) = root.add("spec-ex-full");
    let (other_id, _) = root.add("updates_all_actions");
    let (broken_id, broken_dir) = root.add("minimal_one_version_one_file");
    fs::remove_file(broken_dir.join("inventory.json.sha512")).expect("break it");
    let storage = root.storage();
    let listed = StorageRoot::open(&storage)
        .expect("root")
        .list_objects()
        .expect("list");
    assert_eq!(listed.len(), 3);
    let mut ids: Vec<&str> = listed
        .iter()
        .filter_map(|l| l.summary.as_ref().ok())
        .map(|s| s.id.as_str())
        .collect();
    ids.sort_unstable();
    let mut expected = vec![full_id.as_str(), other_id.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected);
    let broken: Vec<&str> = listed
        .iter()
        .filter(|l| l.summary.is_err())
        .map(|l| l.path.as_str())
        .collect();
    let broken_path = Layout::default_layout()
        .map_object_id(&broken_id)
        .expect("map");
    assert_eq!(broken, [broken_path.as_str()]);
}

#[test]
fn purge_removes_the_object_and_its_empty_layout_directories() {
    let root = TestRoot::new();
    let (id, dir) = root.add("spec-ex-full");
    let (other_id, _) = root.add("updates_all_actions");
    assert!(root.is_valid());
    let parent = LocalStorage::new(root.dir.path());
    let purged = purge_object(&parent, "root", "root.ocfl-work", &id).expect("purge");
    assert_eq!(purged.outcome, PurgeOutcome::Removed);
    assert!(!dir.exists());
    let top = purged.path.split('/').next().expect("top directory");
    assert!(!root.path().join(top).exists(), "empty tuple dirs pruned");
    assert!(
        !root.dir.path().join("root.ocfl-work").exists(),
        "work directory removed"
    );
    assert!(root.is_valid(), "no empty directories left");
    let storage = root.storage();
    let storage_root = StorageRoot::open(&storage).expect("root");
    assert!(
        storage_root.open_object(&other_id).is_ok(),
        "other object kept"
    );
    assert!(
        storage_root
            .open_object(&id)
            .expect_err("gone")
            .is_not_found()
    );

    let again = purge_object(&parent, "root", "root.ocfl-work", &id).expect_err("gone");
    assert!(matches!(again, ObjectError::NotFound { .. }), "{again}");
}

#[test]
fn purge_keeps_directories_still_in_use() {
    let root = TestRoot::new();
    let (id, dir) = root.add("spec-ex-full");
    let neighbour = dir.parent().expect("tuple dir").join("neighbour");
    copy_dir(&fixture("updates_all_actions"), &neighbour);
    let parent = LocalStorage::new(root.dir.path());
    purge_object(&parent, "root", "root.ocfl-work", &id).expect("purge");
    assert!(!dir.exists());
    assert!(neighbour.join("inventory.json").is_file(), "neighbour kept");
}

#[test]
fn purge_finishes_an_interrupted_purge() {
    let root = TestRoot::new();
    let (id, dir) = root.add("spec-ex-full");
    // What a crash right after the object was moved out leaves: empty layout directories.
    fs::remove_dir_all(&dir).expect("object moved away");
    assert!(!root.is_valid(), "empty directories make the root invalid");
    let parent = LocalStorage::new(root.dir.path());
    let purged = purge_object(&parent, "root", "root.ocfl-work", &id).expect("finish");
    assert_eq!(purged.outcome, PurgeOutcome::FinishedInterrupted);
    assert!(root.is_valid());
}

#[test]
fn purge_refuses_what_is_not_that_object() {
    let root = TestRoot::new();
    let (id, dir) = root.add("spec-ex-full");
    let parent = LocalStorage::new(root.dir.path());

    // Another object's (`id`'s) files where the layout puts `other`.
    let other = "info:other-object";
    let other_dir = root
        .path()
        .join(Layout::default_layout().map_object_id(other).expect("map"));
    copy_dir(&dir, &other_dir);
    let err = purge_object(&parent, "root", "root.ocfl-work", other).expect_err("wrong id");
    assert!(
        matches!(&err, ObjectError::IdMismatch { found, .. } if *found == id),
        "{err}"
    );
    assert!(other_dir.join("inventory.json").is_file(), "kept");

    // A directory without an object declaration.
    fs::remove_file(other_dir.join("0=ocfl_object_1.1")).expect("undeclare");
    let err = purge_object(&parent, "root", "root.ocfl-work", other).expect_err("not an object");
    assert!(matches!(err, ObjectError::NotAnObject { .. }), "{err}");
    assert!(other_dir.join("inventory.json").is_file(), "kept");
}

#[test]
fn a_damaged_object_can_be_purged() {
    let root = TestRoot::new();
    let (id, dir) = root.add("spec-ex-full");
    fs::write(dir.join("inventory.json"), "{}").expect("damage");
    let parent = LocalStorage::new(root.dir.path());
    let purged = purge_object(&parent, "root", "root.ocfl-work", &id).expect("purge");
    assert_eq!(purged.outcome, PurgeOutcome::Removed);
    assert!(!dir.exists());
    assert!(root.is_valid());
}

/// Local storage whose renames into a work directory fail as if it were on another
/// filesystem, or whose removals there fail (a crash between moving the object out and
/// deleting it).
struct Faulty {
    inner: LocalStorage,
    cross_device: bool,
    fail_work_removal: std::sync::atomic::AtomicBool,
    /// Every path flushed, in order.
    synced: std::sync::Mutex<Vec<String>>,
}

impl Faulty {
    fn new(dir: &Path) -> Faulty {
        Faulty {
            inner: LocalStorage::new(dir),
            cross_device: false,
            fail_work_removal: std::sync::atomic::AtomicBool::new(false),
            synced: std::sync::Mutex::new(Vec::new()),
        }
    }
}

impl Storage for Faulty {
    fn list(&self, dir: &str) -> Result<Vec<Entry>, StorageError> {
        self.inner.list(dir)
    }
    fn kind(&self, path: &str) -> Result<EntryKind, StorageError> {
        self.inner.kind(path)
    }
    fn open(&self, path: &str) -> Result<Box<dyn std::io::Read + Send>, StorageError> {
        self.inner.open(path)
    }
    fn create(&self, path: &str) -> Result<Box<dyn StorageWriter>, StorageError> {
        self.inner.create(path)
    }
    fn write_atomic(&self, path: &str, bytes: &[u8]) -> Result<(), StorageError> {
        self.inner.write_atomic(path, bytes)
    }
    fn create_dir(&self, path: &str) -> Result<(), StorageError> {
        self.inner.create_dir(path)
    }
    fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        if self.cross_device && to.starts_with("root.ocfl-work/") {
            return Err(StorageError::io(
                "rename",
                from,
                std::io::Error::from(std::io::ErrorKind::CrossesDevices),
            ));
        }
        self.inner.rename(from, to)
    }
    fn remove(&self, path: &str) -> Result<(), StorageError> {
        // Only the deletion of a moved copy fails, not the check for a stale one.
        let moved_copy = (path.starts_with("root.ocfl-work/") || path.contains("/ocfl-purge/"))
            && self.inner.kind(path).is_ok();
        if moved_copy
            && self
                .fail_work_removal
                .load(std::sync::atomic::Ordering::SeqCst)
        {
            return Err(StorageError::io(
                "remove",
                path,
                std::io::Error::other("injected failure"),
            ));
        }
        self.inner.remove(path)
    }
    fn remove_empty_dir(&self, path: &str) -> Result<bool, StorageError> {
        self.inner.remove_empty_dir(path)
    }
    fn sync(&self, paths: &[String]) -> Result<(), StorageError> {
        self.synced.lock().expect("lock").extend_from_slice(paths);
        self.inner.sync(paths)
    }
    fn sync_tree(&self, dir: &str) -> Result<(), StorageError> {
        self.inner.sync_tree(dir)
    }
}

#[test]
fn a_purge_interrupted_before_deleting_the_moved_copy_is_finished_by_the_next() {
    let root = TestRoot::new();
    let (id, dir) = root.add("spec-ex-full");
    let faulty = Faulty::new(root.dir.path());
    faulty
        .fail_work_removal
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let err = purge_object(&faulty, "root", "root.ocfl-work", &id).expect_err("injected");
    assert!(err.to_string().contains("injected failure"), "{err}");
    assert!(!dir.exists(), "the object left the root in one rename");
    assert!(root.is_valid(), "and its empty directories were pruned");
    let work = root.dir.path().join("root.ocfl-work");
    assert_eq!(fs::read_dir(&work).expect("leftover").count(), 1);

    faulty
        .fail_work_removal
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let purged = purge_object(&faulty, "root", "root.ocfl-work", &id).expect("finish");
    assert_eq!(purged.outcome, PurgeOutcome::FinishedInterrupted);
    assert!(!work.exists(), "leftover and work directory removed");
}

#[test]
fn purge_falls_back_to_the_extensions_directory_across_filesystems() {
    let root = TestRoot::new();
    let (id, dir) = root.add("spec-ex-full");
    let mut faulty = Faulty::new(root.dir.path());
    faulty.cross_device = true;
    let purged = purge_object(&faulty, "root", "root.ocfl-work", &id).expect("purge");
    assert_eq!(purged.outcome, PurgeOutcome::Removed);
    assert!(!dir.exists());
    assert!(!root.dir.path().join("root.ocfl-work").exists());
    assert!(!root.path().join("extensions/ocfl-purge").exists());
    assert!(
        root.path().join("extensions").is_dir(),
        "the layout's extension directory is kept"
    );
    let report = validate_storage_root(&root.storage(), &ValidationOptions::default());
    assert!(
        report.is_valid() && report.root.warnings.is_empty(),
        "{report:?}"
    );

    // Interrupted there, it is finished there too.
    let (id, dir) = root.add("spec-ex-full");
    faulty
        .fail_work_removal
        .store(true, std::sync::atomic::Ordering::SeqCst);
    purge_object(&faulty, "root", "root.ocfl-work", &id).expect_err("injected");
    assert!(!dir.exists());
    assert!(root.path().join("extensions/ocfl-purge").is_dir());
    faulty
        .fail_work_removal
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let purged = purge_object(&faulty, "root", "root.ocfl-work", &id).expect("finish");
    assert_eq!(purged.outcome, PurgeOutcome::FinishedInterrupted);
    assert!(!root.path().join("extensions/ocfl-purge").exists());
}

/// An object as ocfl-java writes one whose logical paths hold backslashes (kept unchanged in
/// content paths: `/` is the only separator in OCFL), with colons, a leading dash and `%2F`
/// beside them: the root validates and every file reads back by its logical path.
#[test]
fn names_with_backslashes_colons_and_dashes_validate_and_read() {
    use ocfl_core::digest::DigestAlgorithm;

    let root = TestRoot::new();
    let id = "info:ocfl-java-names";
    let relative = Layout::default_layout().map_object_id(id).expect("map id");
    let object = root.path().join(&relative);
    let files: [(&str, &[u8]); 4] = [
        ("backslash\\path\\file", b"backslashes"),
        ("c:colon", b"colon"),
        ("-leading-dash", b"dash"),
        ("percent%2Fslash", b"percent"),
    ];
    let mut manifest = serde_json::Map::new();
    let mut state = serde_json::Map::new();
    for (path, bytes) in files {
        let content = object.join("v1/content").join(path);
        fs::create_dir_all(content.parent().expect("parent")).expect("mkdir");
        fs::write(&content, bytes).expect("write content");
        let digest = DigestAlgorithm::Sha512.digest_bytes(bytes).to_string();
        manifest.insert(
            digest.clone(),
            serde_json::json!([format!("v1/content/{path}")]),
        );
        state.insert(digest, serde_json::json!([path]));
    }
    let inventory = serde_json::json!({
        "id": id,
        "type": "https://ocfl.io/1.1/spec/#inventory",
        "digestAlgorithm": "sha512",
        "head": "v1",
        "contentDirectory": "content",
        "manifest": manifest,
        "versions": {"v1": {
            "created": "2024-01-01T00:00:00Z",
            "message": "written as ocfl-java writes it",
            "user": {"name": "ocfl-java", "address": "mailto:ocfl-java@example.org"},
            "state": state,
        }},
    });
    let text = serde_json::to_string_pretty(&inventory).expect("JSON");
    let sidecar = format!(
        "{}  inventory.json\n",
        DigestAlgorithm::Sha512.digest_bytes(text.as_bytes())
    );
    for dir in [object.clone(), object.join("v1")] {
        fs::write(dir.join("inventory.json"), &text).expect("write inventory");
        fs::write(dir.join("inventory.json.sha512"), &sidecar).expect("write sidecar");
    }
    fs::write(object.join("0=ocfl_object_1.1"), "ocfl_object_1.1\n").expect("declaration");

    let report = validate_storage_root(&root.storage(), &ValidationOptions::default());
    assert!(report.is_valid(), "{report:?}");
    let storage = root.storage();
    let storage_root = StorageRoot::open(&storage).expect("open root");
    let opened = storage_root.open_object(id).expect("open object");
    for (path, bytes) in files {
        let file = opened.file(None, path).expect("file by logical path");
        let mut read = Vec::new();
        opened.copy_file(&file, &mut read).expect("read");
        assert_eq!(read, bytes, "{path}");
    }
}

#[test]
fn a_purge_flushes_the_move_out_of_the_root() {
    let root = TestRoot::new();
    let (id, _) = root.add("spec-ex-full");
    let faulty = Faulty::new(root.dir.path());
    let purged = purge_object(&faulty, "root", "root.ocfl-work", &id).expect("purge");
    let synced = faulty.synced.into_inner().expect("lock");
    let object_parent = format!("root/{}", purged.path.rsplit_once('/').expect("tuple").0);
    // The new work directory's entry, then both sides of the rename.
    for dir in ["", "root.ocfl-work", object_parent.as_str()] {
        assert!(synced.iter().any(|s| s == dir), "{dir:?} not in {synced:?}");
    }
}

/// Rewrites an object's root inventory with `edit` and a matching sidecar.
fn rewrite_inventory(dir: &Path, edit: impl Fn(&str) -> String) {
    let inventory = dir.join("inventory.json");
    let text = fs::read_to_string(&inventory).expect("read");
    let changed = edit(&text);
    assert_ne!(changed, text, "the edit applies");
    fs::write(&inventory, &changed).expect("write");
    let digest = ocfl_core::digest::DigestAlgorithm::Sha512.digest_bytes(changed.as_bytes());
    fs::write(
        dir.join("inventory.json.sha512"),
        ocfl_core::sidecar::sidecar_contents(&digest),
    )
    .expect("sidecar");
}

#[test]
fn find_file_answers_as_open_object_does_for_every_good_fixture() {
    let fixtures = fs::read_dir(fixture("spec-ex-full").parent().expect("parent"))
        .expect("fixtures")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned());
    let mut compared = 0;
    for name in fixtures {
        let root = TestRoot::new();
        let (id, _) = root.add(&name);
        let storage = root.storage();
        let storage_root = StorageRoot::open(&storage).expect("root");
        let object = storage_root.open_object(&id).expect("open");
        let mut asked: Vec<Option<VersionNum>> = vec![None, Some(v("v9"))];
        asked.extend(object.inventory().versions.keys().copied().map(Some));
        for version in asked {
            let mut paths: Vec<String> = match object.version(version) {
                Ok((_, state)) => state
                    .state
                    .values()
                    .flatten()
                    .map(|p| p.to_string())
                    .collect(),
                Err(_) => vec!["a".to_owned()],
            };
            let dirs: Vec<String> = paths
                .iter()
                .filter_map(|p| p.rsplit_once('/').map(|(d, _)| d.to_owned()))
                .collect();
            paths.extend(dirs);
            paths.extend(["no/such/file", "foo/"].map(String::from));
            for path in &paths {
                let expected = object.file(version, path);
                let found = storage_root.find_file(&id, version, path);
                match (expected, found) {
                    (Ok(file), Ok(found)) => {
                        assert_eq!(found.digest(), file.digest, "{name} {path}");
                        assert_eq!(found.content_path(), file.content_path, "{name} {path}");
                        assert_eq!(found.path(), file.path, "{name} {path}");
                        assert_eq!(found.version(), object.version(version).expect("version").0);
                        assert_eq!(found.head(), object.head());
                        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
                        found.copy_to(&mut ours).expect("copy");
                        object.copy_file(&file, &mut theirs).expect("copy");
                        assert_eq!(ours, theirs, "{name} {path}");
                    }
                    (Err(expected), Err(found)) => {
                        assert_eq!(found.to_string(), expected.to_string(), "{name} {path}");
                    }
                    (expected, found) => panic!("{name} {path}: {expected:?} but {found:?}"),
                }
                compared += 1;
            }
        }
    }
    assert!(compared > 50, "{compared}");
}

#[test]
fn find_file_checks_the_sidecar_and_what_it_reads_but_not_the_rest() {
    let root = TestRoot::new();
    let (id, dir) = root.add("spec-ex-full");
    let storage = root.storage();
    let storage_root = StorageRoot::open(&storage).expect("root");

    // A defect in a part the lookup does not read: `cat` answers, `open_object` refuses.
    rewrite_inventory(&dir, |text| {
        text.replacen(
            "\"created\": \"2018-01-01T01:01:01Z\"",
            "\"created\": \"yesterday\"",
            1,
        )
    });
    let err = storage_root.open_object(&id).expect_err("E049");
    assert!(
        matches!(&err, ObjectError::InvalidInventory { code, .. } if code.as_str() == "E049"),
        "{err}"
    );
    let found = storage_root
        .find_file(&id, None, "foo/bar.xml")
        .expect("answered");
    let mut bytes = Vec::new();
    found.copy_to(&mut bytes).expect("copy");
    assert_eq!(
        bytes,
        fs::read(dir.join("v2/content/foo/bar.xml")).expect("fixture")
    );

    // A defect in what it reads: the full parse reports it.
    let root = TestRoot::new();
    let (id, dir) = root.add("spec-ex-full");
    let storage = root.storage();
    let storage_root = StorageRoot::open(&storage).expect("root");
    rewrite_inventory(&dir, |text| {
        text.replace("\"head\": \"v3\"", "\"head\": \"v2\"")
    });
    let err = storage_root
        .find_file(&id, None, "foo/bar.xml")
        .expect_err("E040");
    assert!(
        matches!(&err, ObjectError::InvalidInventory { code, .. } if code.as_str() == "E040"),
        "{err}"
    );

    // Tampering and a missing sidecar are refused as `open_object` refuses them.
    let inventory = dir.join("inventory.json");
    let text = fs::read_to_string(&inventory).expect("read");
    fs::write(
        &inventory,
        text.replace("\"head\": \"v2\"", "\"head\": \"v3\""),
    )
    .expect("tamper");
    let err = storage_root
        .find_file(&id, None, "foo/bar.xml")
        .expect_err("tampered");
    assert!(
        matches!(err, ObjectError::TamperedInventory { .. }),
        "{err}"
    );
    fs::remove_file(dir.join("inventory.json.sha512")).expect("remove sidecar");
    let err = storage_root
        .find_file(&id, None, "foo/bar.xml")
        .expect_err("no sidecar");
    assert!(matches!(err, ObjectError::Sidecar { .. }), "{err}");
}

#[test]
fn read_version_answers_as_open_object_does_for_every_good_fixture() {
    let fixtures = fs::read_dir(fixture("spec-ex-full").parent().expect("parent"))
        .expect("fixtures")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned());
    let mut compared = 0;
    for name in fixtures {
        let root = TestRoot::new();
        let (id, _) = root.add(&name);
        let storage = root.storage();
        let storage_root = StorageRoot::open(&storage).expect("root");
        let object = storage_root.open_object(&id).expect("open");
        let mut asked: Vec<Option<VersionNum>> = vec![None, Some(v("v9"))];
        asked.extend(object.inventory().versions.keys().copied().map(Some));
        for version in asked {
            let read = storage_root.read_version(&id, version);
            match (object.version(version), read) {
                (Ok((num, _)), Ok(read)) => {
                    assert_eq!(read.files.version(), num, "{name}");
                    let expected: Vec<(String, String, String)> = object
                        .files(version)
                        .expect("files")
                        .iter()
                        .map(|f| {
                            (
                                f.path.to_string(),
                                f.digest.to_string(),
                                f.content_path.to_string(),
                            )
                        })
                        .collect();
                    let found: Vec<(String, String, String)> = read
                        .files
                        .iter()
                        .map(|f| {
                            (
                                f.path.to_owned(),
                                f.digest.to_owned(),
                                f.content_path.to_owned(),
                            )
                        })
                        .collect();
                    assert_eq!(found, expected, "{name} {num}");
                    assert_eq!(
                        Some(read),
                        OneVersion::from_inventory(object.inventory(), version),
                        "{name}"
                    );
                }
                (Err(expected), Err(found)) => {
                    assert_eq!(found.to_string(), expected.to_string(), "{name}");
                }
                (expected, found) => panic!("{name}: {expected:?} but {found:?}"),
            }
            compared += 1;
        }
    }
    assert!(compared > 10, "{compared}");
}

#[test]
fn read_version_checks_the_sidecar_and_sends_defects_to_the_full_parse() {
    let root = TestRoot::new();
    let (id, dir) = root.add("spec-ex-full");
    let storage = root.storage();
    let storage_root = StorageRoot::open(&storage).expect("root");
    let before = storage_root.read_version(&id, None).expect("read");
    assert_eq!(before.head.to_string(), "v3");
    rewrite_inventory(&dir, |text| {
        text.replace("\"head\": \"v3\"", "\"head\": \"v2\"")
    });
    let err = storage_root.read_version(&id, None).expect_err("E040");
    assert!(
        matches!(&err, ObjectError::InvalidInventory { code, .. } if code.as_str() == "E040"),
        "{err}"
    );
    let inventory = dir.join("inventory.json");
    let text = fs::read_to_string(&inventory).expect("read");
    fs::write(
        &inventory,
        text.replace("\"head\": \"v2\"", "\"head\": \"v3\""),
    )
    .expect("tamper");
    let err = storage_root.read_version(&id, None).expect_err("tampered");
    assert!(
        matches!(err, ObjectError::TamperedInventory { .. }),
        "{err}"
    );
    fs::remove_file(dir.join("inventory.json.sha512")).expect("remove sidecar");
    let err = storage_root
        .read_version(&id, None)
        .expect_err("no sidecar");
    assert!(matches!(err, ObjectError::Sidecar { .. }), "{err}");
}

#[test]
fn summarise_object_answers_as_open_object_does_for_every_good_fixture() {
    let fixtures = fs::read_dir(fixture("spec-ex-full").parent().expect("parent"))
        .expect("fixtures")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned());
    let mut compared = 0;
    for name in fixtures {
        let root = TestRoot::new();
        let (id, _) = root.add(&name);
        let storage = root.storage();
        let storage_root = StorageRoot::open(&storage).expect("root");
        let object = storage_root.open_object(&id).expect("open");
        let (path, summary) = storage_root.summarise_object_id(&id).expect("summary");
        assert_eq!(path, object.path(), "{name}");
        assert_eq!(summary.id, id, "{name}");
        assert_eq!(summary.head, object.head(), "{name}");
        assert_eq!(
            summary.spec_version,
            object.inventory().spec_version,
            "{name}"
        );
        let listed = storage_root.list_object_summaries().expect("list");
        let expected = storage_root.list_objects().expect("list");
        assert_eq!(listed.len(), expected.len(), "{name}");
        for (ours, theirs) in listed.iter().zip(&expected) {
            assert_eq!(ours.path, theirs.path, "{name}");
            assert_eq!(
                ours.summary.as_ref().ok(),
                theirs.summary.as_ref().ok(),
                "{name}"
            );
        }
        compared += 1;
    }
    assert!(compared > 5, "{compared}");
}

#[test]
fn summaries_check_the_sidecar_and_send_object_wide_defects_to_the_full_parse() {
    let root = TestRoot::new();
    let (id, dir) = root.add("spec-ex-full");
    let storage = root.storage();
    let storage_root = StorageRoot::open(&storage).expect("root");
    let other = storage_root
        .summarise_object_id("no-such-object")
        .expect_err("absent");
    assert!(other.is_not_found(), "{other}");

    // A defect the summary does not read (a version's date): the object is summarised, where
    // `open_object` and `list_objects` refuse it, so the index builds no inventory.
    rewrite_inventory(&dir, |text| {
        text.replacen(
            "\"created\": \"2018-01-01T01:01:01Z\"",
            "\"created\": \"yesterday\"",
            1,
        )
    });
    storage_root.open_object(&id).expect_err("E049");
    let (_, summary) = storage_root.summarise_object_id(&id).expect("summary");
    assert_eq!(summary.head.to_string(), "v3");
    let listed = storage_root.list_object_summaries().expect("list");
    assert!(
        matches!(&listed[..], [one] if one.summary.is_ok()),
        "{listed:?}"
    );
    let full = storage_root.list_objects().expect("list");
    assert!(
        matches!(&full[..], [one] if one.summary.is_err()),
        "{full:?}"
    );

    // A defect in what it reads: the full parse reports it.
    rewrite_inventory(&dir, |text| {
        text.replace("\"yesterday\"", "\"2018-01-01T01:01:01Z\"")
            .replace("\"head\": \"v3\"", "\"head\": \"v2\"")
    });
    let err = storage_root.summarise_object_id(&id).expect_err("E040");
    assert!(
        matches!(&err, ObjectError::InvalidInventory { code, .. } if code.as_str() == "E040"),
        "{err}"
    );
    let listed = storage_root.list_object_summaries().expect("list");
    assert!(
        matches!(&listed[..], [one] if one.summary.is_err()),
        "{listed:?}"
    );

    // Tampering and a missing sidecar are refused as `open_object` refuses them.
    let inventory = dir.join("inventory.json");
    let text = fs::read_to_string(&inventory).expect("read");
    fs::write(
        &inventory,
        text.replace("\"head\": \"v2\"", "\"head\": \"v3\""),
    )
    .expect("tamper");
    let err = storage_root.summarise_object_id(&id).expect_err("tampered");
    assert!(
        matches!(err, ObjectError::TamperedInventory { .. }),
        "{err}"
    );
    fs::remove_file(dir.join("inventory.json.sha512")).expect("remove sidecar");
    let err = storage_root
        .summarise_object_id(&id)
        .expect_err("no sidecar");
    assert!(matches!(err, ObjectError::Sidecar { .. }), "{err}");
}
