//! Helpers shared by the object validation tests: the in-repository fixtures, copies of them
//! to modify, and validation of a directory.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use ocfl_core::digest::DigestAlgorithm;
use ocfl_core::sidecar::{sidecar_contents, sidecar_name};
use ocfl_core::storage::{Entry, EntryKind, LocalStorage, Storage, StorageError, StorageWriter};
use ocfl_core::validate::{Code, ObjectReport, ValidationOptions, validate_object};

/// The official fixtures copied into the repository.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/ocfl")
}

/// Validates the object directory `dir` (storage rooted at its parent).
pub fn validate_dir(dir: &Path) -> ObjectReport {
    validate_dir_with(dir, &ValidationOptions::default())
}

/// Validates `dir` with `options`.
pub fn validate_dir_with(dir: &Path, options: &ValidationOptions) -> ObjectReport {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("object directory has a UTF-8 name");
    let parent = dir.parent().expect("object directory has a parent");
    validate_object(&LocalStorage::new(parent), name, options)
}

/// Validates the fixture at `relative` (e.g. `1.1/bad-objects/E001_extra_file_in_root`).
pub fn validate_fixture(relative: &str) -> ObjectReport {
    validate_dir(&fixtures().join(relative))
}

/// Every code a report holds, errors and warnings.
pub fn codes(report: &ObjectReport) -> BTreeSet<Code> {
    report
        .errors
        .iter()
        .chain(&report.warnings)
        .map(|f| f.code)
        .collect()
}

/// A copy of fixture `relative` at `<tempdir>/obj`, to be modified by a test.
pub fn copy_fixture(relative: &str) -> (tempfile::TempDir, PathBuf) {
    let temp = tempfile::tempdir().expect("tempdir");
    let object = temp.path().join("obj");
    copy_dir(&fixtures().join(relative), &object);
    (temp, object)
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create directory");
    for entry in fs::read_dir(from).expect("read fixture directory") {
        let entry = entry.expect("directory entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

/// Writes `inventory` as `dir/inventory.json` with a correct sha512 sidecar.
pub fn write_inventory(dir: &Path, inventory: &str) {
    fs::write(dir.join("inventory.json"), inventory).expect("write inventory");
    let digest = DigestAlgorithm::Sha512.digest_bytes(inventory.as_bytes());
    fs::write(
        dir.join(sidecar_name(DigestAlgorithm::Sha512)),
        sidecar_contents(&digest),
    )
    .expect("write sidecar");
}

/// What validation asked a [`Watched`] storage for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    List,
    Open,
}

/// Local storage that shows `watch` every listing and open validation makes, before it is
/// made (so a test may record it or hold it back), and panics on any write: validation
/// never writes.
pub struct Watched<F> {
    pub inner: LocalStorage,
    pub watch: F,
}

impl<F: Fn(Access, &str) + Send + Sync> Storage for Watched<F> {
    fn list(&self, dir: &str) -> Result<Vec<Entry>, StorageError> {
        (self.watch)(Access::List, dir);
        self.inner.list(dir)
    }
    fn kind(&self, path: &str) -> Result<EntryKind, StorageError> {
        self.inner.kind(path)
    }
    fn open(&self, path: &str) -> Result<Box<dyn Read + Send>, StorageError> {
        (self.watch)(Access::Open, path);
        self.inner.open(path)
    }
    fn create(&self, path: &str) -> Result<Box<dyn StorageWriter>, StorageError> {
        panic!("validation created {path}")
    }
    fn write_atomic(&self, path: &str, _: &[u8]) -> Result<(), StorageError> {
        panic!("validation wrote {path}")
    }
    fn create_dir(&self, path: &str) -> Result<(), StorageError> {
        panic!("validation created {path}")
    }
    fn rename(&self, from: &str, _: &str) -> Result<(), StorageError> {
        panic!("validation renamed {from}")
    }
    fn remove(&self, path: &str) -> Result<(), StorageError> {
        panic!("validation removed {path}")
    }
    fn sync(&self, paths: &[String]) -> Result<(), StorageError> {
        panic!("validation flushed {paths:?}")
    }
    fn sync_tree(&self, dir: &str) -> Result<(), StorageError> {
        panic!("validation flushed {dir}")
    }
}
