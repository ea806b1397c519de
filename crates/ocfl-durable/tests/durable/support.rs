//! Shared fixtures: a storage root in a temp dir, sources, fast workers, and environments
//! whose storages fail, pause or "crash" at chosen operations (`ocfl_plan::fault`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use durable_core::{Event, MemoryBackend, Worker, WorkerOptions};
use ocfl_core::init::{InitOptions, init_storage_root};
use ocfl_core::inventory::parse_inventory;
use ocfl_core::layout::Layout;
use ocfl_core::storage::LocalStorage;
use ocfl_core::validate::{ValidationOptions, validate_object};
use ocfl_durable::{Environment, ServiceOptions, Tuning, UpdateService};
use ocfl_plan::fault::{Action, FaultStorage, Injector};

/// A storage root, a state directory and an in-memory engine store.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
    pub state: PathBuf,
    pub backend: Arc<MemoryBackend>,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("root");
        init_storage_root(&LocalStorage::new(&root), &InitOptions::default()).expect("init");
        Fixture {
            state: dir.path().join("state"),
            root,
            dir,
            backend: Arc::new(MemoryBackend::new()),
        }
    }

    /// A fixture whose storage root is a copy of `template`'s (with its objects), on a new
    /// engine store.
    pub fn copy_of(template: &Fixture) -> Fixture {
        let fx = Fixture::new();
        std::fs::remove_dir_all(&fx.root).expect("clear root");
        for entry in walkdir::WalkDir::new(&template.root) {
            let entry = entry.expect("walk");
            let to = fx.root.join(
                entry
                    .path()
                    .strip_prefix(&template.root)
                    .expect("below root"),
            );
            if entry.file_type().is_dir() {
                std::fs::create_dir_all(&to).expect("mkdir");
            } else {
                std::fs::copy(entry.path(), &to).expect("copy");
            }
        }
        fx
    }

    /// Writes a source directory `name` holding `files`.
    pub fn source(&self, name: &str, files: &[(&str, &[u8])]) -> PathBuf {
        let source = self.dir.path().join(name);
        if source.exists() {
            std::fs::remove_dir_all(&source).expect("clear source");
        }
        std::fs::create_dir_all(&source).expect("source dir");
        for (path, bytes) in files {
            let file = source.join(path);
            std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
            std::fs::write(file, bytes).expect("write source");
        }
        source
    }

    /// The environment on the real disk.
    pub fn env(&self) -> Environment {
        Environment::local(&self.root, &self.state).expect("environment")
    }

    /// The environment with both storages going through `faults`.
    pub fn env_with(&self, faults: &Arc<Injector>) -> Environment {
        let parent = self.root.parent().expect("parent");
        let storage = |dir: &Path| FaultStorage::new(LocalStorage::new(dir), faults.clone());
        self.env()
            .with_storage(Arc::new(storage(parent)))
            .with_state_storage(Arc::new(storage(&self.state)))
    }

    pub fn service(&self, tuning: Tuning) -> UpdateService {
        let options = ServiceOptions {
            tuning,
            wait_timeout: Some(Duration::from_secs(60)),
        };
        UpdateService::new(self.backend.clone(), &self.root, options).expect("service")
    }

    pub fn worker(&self, env: Environment) -> Worker {
        Worker::start(
            self.backend.clone(),
            ocfl_durable::registry(Arc::new(env)),
            worker_options(),
        )
    }

    /// The object's path below the storage root.
    pub fn object_path(&self, id: &str) -> String {
        Layout::read_from_root(&LocalStorage::new(&self.root))
            .expect("layout")
            .expect("a layout")
            .map_object_id(id)
            .expect("mapped")
    }

    /// Asserts that the object validates (fixity checked) and that its head version holds
    /// exactly the files of `source`, byte for byte. Returns the head version.
    pub fn assert_holds(&self, id: &str, source: &Path) -> String {
        let storage = LocalStorage::new(&self.root);
        let path = self.object_path(id);
        let report = validate_object(&storage, &path, &ValidationOptions::default());
        assert!(
            report.is_valid(),
            "object {id} is invalid: {:?}",
            report.errors
        );
        let object = self.root.join(&path);
        let bytes = std::fs::read(object.join("inventory.json")).expect("inventory");
        let inventory = parse_inventory(&bytes).inventory.expect("parsed");
        let state = &inventory.versions[&inventory.head].state;
        let mut expected = Vec::new();
        for entry in walkdir::WalkDir::new(source).min_depth(1) {
            let entry = entry.expect("walk");
            if entry.file_type().is_file() {
                let logical = entry
                    .path()
                    .strip_prefix(source)
                    .expect("below source")
                    .to_str()
                    .expect("utf-8")
                    .to_owned();
                expected.push((logical, std::fs::read(entry.path()).expect("source bytes")));
            }
        }
        let mut held = Vec::new();
        for (digest, logicals) in state {
            let content = &inventory.manifest[digest][0];
            let bytes = std::fs::read(object.join(content.as_str())).expect("content");
            for logical in logicals {
                held.push((logical.as_str().to_owned(), bytes.clone()));
            }
        }
        expected.sort();
        held.sort();
        assert_eq!(held.len(), expected.len(), "file count of {id}");
        assert!(
            held == expected,
            "object {id} does not hold the source's bytes"
        );
        inventory.head.to_string()
    }

    /// Whether anything of run `run` is left beside the root or in the state directory.
    pub fn leftovers(&self, run: &str) -> Vec<PathBuf> {
        let work = self.root.with_file_name(format!("root.ocfl-work/{run}"));
        let blobs = self.state.join("blobs").join(run);
        [work, blobs].into_iter().filter(|p| p.exists()).collect()
    }
}

pub fn worker_options() -> WorkerOptions {
    WorkerOptions {
        fetch_wait: Duration::from_millis(100),
        shutdown_grace: Duration::from_millis(5),
        error_backoff: Duration::from_millis(5),
        unregistered_retry_delay: Duration::from_millis(20),
        ..WorkerOptions::default()
    }
}

/// Small batches, quick retries.
pub fn tuning() -> Tuning {
    Tuning {
        batch_files: 2,
        copy_concurrency: 3,
        ..Tuning::default()
    }
    .retry(3, Duration::from_millis(5), Duration::from_millis(20))
}

/// The names of the activities a history scheduled, in order.
pub fn scheduled(history: &[Event]) -> Vec<String> {
    history
        .iter()
        .filter_map(|e| match e {
            Event::ActivityScheduled { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect()
}

/// The failures of activities in a history.
pub fn failures(history: &[Event]) -> Vec<String> {
    history
        .iter()
        .filter_map(|e| match e {
            Event::ActivityFailed { failure, .. } => Some(failure.message.clone()),
            _ => None,
        })
        .collect()
}

/// An injector that counts operations, never interferes, and skips the (slow) flushes: the
/// crash tests model killed processes, not power cuts.
pub fn counting() -> Arc<Injector> {
    Injector::with_rule(|_, _, _| Action::Proceed).skip_flushes()
}

/// Waits (polling: the condition is set by another thread) until `done()`; a test that
/// never gets there fails instead of hanging.
pub async fn until(what: &str, done: impl Fn() -> bool) {
    for _ in 0..15_000 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    panic!("gave up waiting for {what}");
}
