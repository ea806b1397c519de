use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ocfl_core::init::{InitOptions, init_storage_root};
use ocfl_core::layout::Layout;
use ocfl_core::storage::{LocalStorage, Storage};
use ocfl_core::validate::{
    ObjectReport, RootReport, ValidationOptions, validate_object, validate_storage_root,
};
use ocfl_object_store::ObjectStorage;

use crate::support::{builder, endpoint, new_bucket, storage};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/ocfl")
}

/// Uploads every file below `dir` to the same relative keys of `s3`, eight at a time.
fn upload_tree(dir: &Path, s3: &ObjectStorage) -> usize {
    let files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|entry| entry.expect("walk"))
        .filter(|entry| entry.file_type().is_file())
        .map(|entry| entry.into_path())
        .collect();
    std::thread::scope(|scope| {
        for chunk in files.chunks(files.len().div_ceil(8).max(1)) {
            scope.spawn(move || {
                for file in chunk {
                    let relative = file.strip_prefix(dir).expect("below dir");
                    let key = relative.to_str().expect("UTF-8 fixture path");
                    s3.put(key, std::fs::read(file).expect("read fixture"))
                        .expect("upload fixture");
                }
            });
        }
    });
    files.len()
}

/// A report reduced to what must not depend on where the bytes are: validity, and every
/// finding's code and message.
fn findings(report: &ObjectReport) -> (bool, Vec<String>, Vec<String>) {
    let each = |findings: &[ocfl_core::validate::Finding]| {
        let mut all: Vec<String> = findings
            .iter()
            .map(|f| format!("{}: {}", f.code, f.message))
            .collect();
        all.sort();
        all
    };
    (
        report.is_valid(),
        each(&report.errors),
        each(&report.warnings),
    )
}

#[test]
fn every_official_fixture_validates_on_a_bucket_as_on_disk() {
    let Some(s3) = storage("fixtures_on_s3", "fixtures") else {
        return;
    };
    let uploaded = upload_tree(&fixtures(), &s3);
    assert!(uploaded > 1000, "{uploaded} fixture files");
    let table = std::fs::read_to_string(fixtures().join("EXPECTED.tsv")).expect("EXPECTED.tsv");
    let local = LocalStorage::new(fixtures());
    let options = ValidationOptions::default();
    let mut rows = 0;
    let mut differences = Vec::new();
    for line in table.lines().skip(1).filter(|l| !l.is_empty()) {
        rows += 1;
        let path = line.split('\t').nth(1).expect("path column");
        let on_disk = validate_object(&local, path, &options);
        let on_s3 = validate_object(&s3, path, &options);
        if findings(&on_disk) != findings(&on_s3) {
            differences.push(format!("{path}:\n  disk {on_disk:?}\n  s3   {on_s3:?}"));
        }
    }
    assert_eq!(rows, 156, "EXPECTED.tsv rows");
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// The object id of a fixture, or its name when its inventory has none.
fn fixture_id(dir: &Path) -> String {
    std::fs::read(dir.join("inventory.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|inventory| inventory["id"].as_str().map(str::to_owned))
        .unwrap_or_else(|| {
            dir.file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned()
        })
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.expect("walk");
        let target = to.join(entry.path().strip_prefix(from).expect("below"));
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn root_findings(report: &RootReport) -> BTreeMap<String, (bool, Vec<String>, Vec<String>)> {
    std::iter::once(&report.root)
        .chain(&report.objects)
        .map(|object| (object.path.clone(), findings(object)))
        .collect()
}

#[test]
fn a_storage_root_validates_on_a_bucket_as_on_disk() {
    let Some(s3) = storage("root_on_s3", "archive/root") else {
        return;
    };
    // A root holding good, warned-about and bad objects where the layout puts them, one
    // object outside its place, and a stray file in the hierarchy.
    let temp = tempfile::tempdir().expect("tempdir");
    let root = temp.path().join("root");
    let local = LocalStorage::new(&root);
    init_storage_root(&local, &InitOptions::default()).expect("init");
    let layout = Layout::default_layout();
    let mut objects = 0;
    for group in ["1.1/good-objects", "1.1/warn-objects", "1.0/bad-objects"] {
        for entry in std::fs::read_dir(fixtures().join(group)).expect("fixtures") {
            let dir = entry.expect("entry").path();
            let id = fixture_id(&dir);
            let Ok(placed) = layout.map_object_id(&id) else {
                continue;
            };
            if root.join(&placed).exists() {
                continue;
            }
            copy_dir(&dir, &root.join(placed));
            objects += 1;
        }
    }
    copy_dir(
        &fixtures().join("1.1/good-objects/spec-ex-full"),
        &root.join("misplaced/object"),
    );
    local
        .write_atomic("stray.txt", b"not part of OCFL")
        .expect("stray file");
    upload_tree(&root, &s3);

    let options = ValidationOptions::default();
    let on_disk = validate_storage_root(&local, &options);
    let on_s3 = validate_storage_root(&s3, &options);
    assert!(
        on_disk.objects.len() > objects / 2,
        "{} objects",
        on_disk.objects.len()
    );
    assert!(!on_disk.is_valid());
    assert_eq!(root_findings(&on_disk), root_findings(&on_s3));
}

#[test]
fn a_storage_root_created_on_a_bucket_is_valid() {
    let Some(endpoint) = endpoint("init_on_s3") else {
        return;
    };
    let bucket = new_bucket(&endpoint);
    let s3 = builder(&endpoint, &bucket, "new-root")
        .build()
        .expect("store");
    init_storage_root(&s3, &InitOptions::default()).expect("init on a bucket");
    let report = validate_storage_root(&s3, &ValidationOptions::default());
    assert!(report.is_valid(), "{report:?}");
    assert!(s3.read("0=ocfl_1.1").is_ok());
    let error = init_storage_root(&s3, &InitOptions::default()).expect_err("second init");
    assert!(error.to_string().contains("already"), "{error}");
}

/// Validating an object costs one listing per directory and one GET per file, with no
/// HEAD or existence check per directory opened.
#[test]
fn validating_an_object_lists_each_directory_once_and_reads_each_file_once() {
    let Some(s3) = storage("validation_requests", "fixtures") else {
        return;
    };
    let object = "1.1/good-objects/spec-ex-full";
    upload_tree(&fixtures().join(object), &s3);
    let (mut files, mut directories) = (0, 0);
    for entry in walkdir::WalkDir::new(fixtures().join(object)) {
        if entry.expect("walk").file_type().is_dir() {
            directories += 1;
        } else {
            files += 1;
        }
    }
    let before = s3.requests_sent();
    let report = validate_object(&s3, "", &ValidationOptions::default());
    let requests = s3.requests_sent() - before;
    assert!(report.is_valid(), "{report:?}");
    eprintln!("{object}: {files} files, {directories} directories, {requests} requests");
    assert!(
        requests <= files + directories,
        "{requests} requests for {files} files in {directories} directories"
    );
}
