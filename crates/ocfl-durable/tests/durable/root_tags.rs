//! The pre-run check's read of the object's root inventory serves the install's checks of
//! it while its tag stays the same (`docs/durability.md`, section 6).

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ocfl_core::storage::{
    Directory, Entry, EntryKind, FileInfo, LocalStorage, Precondition, Storage, StorageError,
    StorageWriter, Tag,
};
use ocfl_durable::{CommitRequest, Edit};

use crate::support::{Fixture, tuning};

const ID: &str = "ark:/12345/tags";

/// A local storage that records the path of every file read.
struct CountingReads {
    inner: LocalStorage,
    read: Mutex<Vec<String>>,
}

impl CountingReads {
    fn reads_of(&self, path: &str) -> usize {
        let read = self.read.lock().expect("lock");
        read.iter().filter(|p| *p == path).count()
    }

    fn saw(&self, path: &str) {
        self.read.lock().expect("lock").push(path.to_owned());
    }
}

impl Storage for CountingReads {
    fn list(&self, dir: &str) -> Result<Vec<Entry>, StorageError> {
        self.inner.list(dir)
    }
    fn kind(&self, path: &str) -> Result<EntryKind, StorageError> {
        self.inner.kind(path)
    }
    fn open(&self, path: &str) -> Result<Box<dyn Read + Send>, StorageError> {
        self.saw(path);
        self.inner.open(path)
    }
    fn open_dir(&self, path: &str) -> Result<Box<dyn Directory + '_>, StorageError> {
        self.inner.open_dir(path)
    }
    fn read(&self, path: &str) -> Result<Vec<u8>, StorageError> {
        self.saw(path);
        self.inner.read(path)
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
        self.inner.rename(from, to)
    }
    fn remove(&self, path: &str) -> Result<(), StorageError> {
        self.inner.remove(path)
    }
    fn remove_empty_dir(&self, path: &str) -> Result<bool, StorageError> {
        self.inner.remove_empty_dir(path)
    }
    fn sync(&self, paths: &[String]) -> Result<(), StorageError> {
        self.inner.sync(paths)
    }
    fn sync_tree(&self, dir: &str) -> Result<(), StorageError> {
        self.inner.sync_tree(dir)
    }
    fn start_writeback(&self, path: &str) {
        self.inner.start_writeback(path);
    }
    fn display_path(&self, path: &str) -> String {
        self.inner.display_path(path)
    }
    fn renames_atomically(&self) -> bool {
        self.inner.renames_atomically()
    }
    fn boot_id(&self) -> Option<String> {
        self.inner.boot_id()
    }
    fn read_tagged(&self, path: &str) -> Result<(Vec<u8>, Option<Tag>), StorageError> {
        self.saw(path);
        self.inner.read_tagged(path)
    }
    fn write_if(
        &self,
        path: &str,
        bytes: &[u8],
        precondition: &Precondition,
        metadata: &[(&str, &str)],
    ) -> Result<(), StorageError> {
        self.inner.write_if(path, bytes, precondition, metadata)
    }
    fn copy(&self, from: &str, to: &str) -> Result<(), StorageError> {
        self.inner.copy(from, to)
    }
    fn file_info(&self, path: &str) -> Result<FileInfo, StorageError> {
        self.inner.file_info(path)
    }
    fn size(&self, path: &str) -> Result<u64, StorageError> {
        self.inner.size(path)
    }
}

/// A file-level commit to an object whose root inventory has settled (so has a tag) reads
/// that inventory through the run's storage twice: for the sidecar's install (the new
/// inventory, just renamed there) and for the check after the run. `check-base` and the
/// renames before the inventory's install take its digest from the pre-run check's read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_install_does_not_hash_a_root_inventory_the_pre_run_check_read() {
    let fx = Fixture::new();
    let service = fx.service(tuning());
    let v1 = fx.source("v1", &[("a.txt", b"a1"), ("b.txt", b"b")]);
    let worker = fx.worker(fx.env());
    service
        .commit(&CommitRequest::new(ID, &v1))
        .await
        .expect("v1");
    worker.shutdown().await;
    // A local file has a tag once its change time is 2 s in the past.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let parent = fx.root.parent().expect("parent").to_path_buf();
    let counting = Arc::new(CountingReads {
        inner: LocalStorage::new(&parent),
        read: Mutex::new(Vec::new()),
    });
    let env = fx.env().with_storage(counting.clone());
    let worker = fx.worker(env);
    let added = fx.source("added", &[("c.txt", b"c")]);
    let edits = vec![
        Edit::Add {
            source: added.join("c.txt"),
            dest: "c.txt".into(),
        },
        Edit::Remove {
            path: "b.txt".into(),
        },
    ];
    let outcome = service
        .commit(&CommitRequest::edit(ID, edits))
        .await
        .expect("v2");
    assert_eq!(outcome.version, "v2");
    worker.shutdown().await;
    let root_name = fx.root.file_name().expect("name").to_string_lossy();
    let inventory = format!("{root_name}/{}/inventory.json", fx.object_path(ID));
    assert_eq!(counting.reads_of(&inventory), 2, "{inventory}");
}
