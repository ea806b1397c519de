use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use ocfl_core::inventory::parse_inventory;
use ocfl_core::storage::{Entry, EntryKind, LocalStorage, Storage, StorageError, StorageWriter};
use ocfl_core::validate::{ObjectReport, ValidationOptions, validate_object};
use ocfl_core::version_num::VersionNum;
use ocfl_plan::exec::{StepError, StepResult, apply, read_base};
use ocfl_plan::plan::{Outcome, PlanOptions, plan};
use ocfl_plan::stage::{Stage, StageOptions};

/// A tree of files: relative path -> bytes.
pub type Tree = BTreeMap<String, Vec<u8>>;

pub fn created(n: u32) -> chrono::DateTime<chrono::FixedOffset> {
    let text = format!("2025-01-{:02}T10:00:00Z", n.clamp(1, 28));
    chrono::DateTime::parse_from_rfc3339(&text).expect("valid timestamp")
}

/// Replaces the contents of `dir` with `tree`.
pub fn write_tree(dir: &Path, tree: &Tree) {
    if dir.exists() {
        fs::remove_dir_all(dir).expect("clear source");
    }
    fs::create_dir_all(dir).expect("mkdir source");
    for (path, bytes) in tree {
        let full = dir.join(path);
        if let Some(parent) = full.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        fs::write(full, bytes).expect("write");
    }
}

/// Every file and directory below `dir` (directories with a trailing `/` and no bytes).
pub fn read_tree(dir: &Path) -> Tree {
    let mut tree = Tree::new();
    if !dir.exists() {
        return tree;
    }
    for entry in walkdir::WalkDir::new(dir).min_depth(1) {
        let entry = entry.expect("walk");
        let relative = entry
            .path()
            .strip_prefix(dir)
            .expect("below dir")
            .to_str()
            .expect("utf-8")
            .to_owned();
        if entry.file_type().is_dir() {
            tree.insert(format!("{relative}/"), Vec::new());
        } else {
            tree.insert(relative, fs::read(entry.path()).expect("read"));
        }
    }
    tree
}

/// Stages `source`, plans against the object's current state, and applies the plan.
pub fn commit(
    root: &Path,
    source: &Path,
    options: &PlanOptions,
    stage_options: &StageOptions,
    when: u32,
) -> Result<Outcome, StepError> {
    let fs = LocalStorage::new(root);
    let stage = Stage::from_directory(source, stage_options).expect("stage");
    let base = read_base(&fs, &options.object_path).expect("read base");
    let outcome = plan(base.as_ref(), &stage, options, created(when)).expect("plan");
    if let Outcome::Update(plan) = &outcome {
        apply(plan, &fs, &stage)?;
    }
    Ok(outcome)
}

pub fn validate(root: &Path, object_path: &str) -> ObjectReport {
    validate_object(
        &LocalStorage::new(root),
        object_path,
        &ValidationOptions::default(),
    )
}

/// Asserts the object is valid, showing the findings if not.
pub fn assert_valid(root: &Path, object_path: &str) {
    let report = validate(root, object_path);
    assert!(report.is_valid(), "invalid object: {:#?}", report.errors);
}

/// The files of `version` of the object, read back through its root inventory.
pub fn reconstruct(root: &Path, object_path: &str, version: &str) -> Tree {
    let object = root.join(object_path);
    let bytes = fs::read(object.join("inventory.json")).expect("root inventory");
    let inventory = parse_inventory(&bytes)
        .inventory
        .expect("parsable inventory");
    let number = VersionNum::parse(version).expect("version name");
    let state = &inventory.versions[&number].state;
    let mut tree = Tree::new();
    for (digest, paths) in state {
        let content_path = &inventory.manifest[digest][0];
        let content = fs::read(object.join(content_path.as_str())).expect("content file");
        for path in paths {
            tree.insert(path.to_string(), content.clone());
        }
    }
    tree
}

pub fn head(root: &Path, object_path: &str) -> String {
    let bytes = fs::read(root.join(object_path).join("inventory.json")).expect("root inventory");
    let inventory = parse_inventory(&bytes)
        .inventory
        .expect("parsable inventory");
    inventory.head.to_string()
}

/// Whether every step result is a skip, or a check that writes nothing.
pub fn wrote_nothing(results: &[StepResult]) -> bool {
    results
        .iter()
        .all(|r| matches!(r, StepResult::Skipped(_) | StepResult::Done { bytes: 0 }))
}

/// How a [`CrashingFs`] behaves at its crash point.
#[derive(Debug, Clone, Copy)]
pub enum CrashMode {
    /// The operation does not happen (the process is killed before it).
    Before,
    /// The operation happens (a created file receives half of its first write), then the
    /// process is killed.
    Partial,
    /// The power fails before the operation: every file written since its last flush loses
    /// its second half, as if only some of its blocks had reached the disk.
    PowerCut,
}

impl CrashMode {
    pub const ALL: [CrashMode; 3] = [CrashMode::Before, CrashMode::Partial, CrashMode::PowerCut];
}

/// A filesystem that dies at its `crash_at`-th mutating operation: that operation fails
/// (possibly leaving a partial effect) and so does every later one, like a killed process.
/// Flushes are only recorded (the simulated power cut decides what they protect), which also
/// keeps the test fast.
pub struct CrashingFs {
    inner: LocalStorage,
    crash_at: usize,
    mode: CrashMode,
    ops: AtomicUsize,
    /// Files written and not flushed since.
    unsynced: Mutex<BTreeSet<String>>,
    pub crashed_in: Mutex<Option<String>>,
}

impl CrashingFs {
    pub fn new(root: &Path, crash_at: usize, mode: CrashMode) -> CrashingFs {
        CrashingFs {
            inner: LocalStorage::new(root),
            crash_at,
            mode,
            ops: AtomicUsize::new(0),
            unsynced: Mutex::new(BTreeSet::new()),
            crashed_in: Mutex::new(None),
        }
    }

    /// Mutating operations seen so far.
    pub fn ops(&self) -> usize {
        self.ops.load(Ordering::SeqCst)
    }

    fn unsynced(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.unsynced.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts an operation: `Ok(true)` to run it normally, `Ok(false)` when it is the crash
    /// point in partial mode, `Err` when the process is (now) dead.
    fn tick(&self, what: &'static str, path: &str) -> Result<bool, StorageError> {
        let n = self.ops.fetch_add(1, Ordering::SeqCst);
        if n < self.crash_at {
            return Ok(true);
        }
        if n == self.crash_at {
            if let Ok(mut crashed) = self.crashed_in.lock() {
                *crashed = Some(format!("{what} {path}"));
            }
            match self.mode {
                CrashMode::Before => {}
                CrashMode::Partial => return Ok(false),
                CrashMode::PowerCut => self.tear_unsynced(),
            }
        }
        Err(dead(what, path))
    }

    fn tear_unsynced(&self) {
        for path in self.unsynced().iter() {
            let full = self.inner.root().join(path);
            if let Ok(meta) = fs::metadata(&full)
                && meta.is_file()
                && let Ok(file) = fs::OpenOptions::new().write(true).open(&full)
            {
                file.set_len(meta.len() / 2).expect("truncate");
            }
        }
    }
}

fn dead(what: &'static str, path: &str) -> StorageError {
    StorageError::io(what, path, io::Error::other("simulated crash"))
}

/// Writes half of the first buffer it is given, then fails.
struct TornWriter(Box<dyn StorageWriter>);

impl Write for TornWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_all(&buf[..buf.len() / 2])?;
        Err(io::Error::other("simulated crash"))
    }

    fn flush(&mut self) -> io::Result<()> {
        Err(io::Error::other("simulated crash"))
    }
}

impl StorageWriter for TornWriter {
    fn finish(self: Box<Self>) -> Result<(), StorageError> {
        Err(dead("finish", "a torn file"))
    }
}

fn is_below(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || path == dir
        || path.starts_with(dir) && path.as_bytes().get(dir.len()) == Some(&b'/')
}

impl Storage for CrashingFs {
    fn list(&self, dir: &str) -> Result<Vec<Entry>, StorageError> {
        self.inner.list(dir)
    }

    fn kind(&self, path: &str) -> Result<EntryKind, StorageError> {
        self.inner.kind(path)
    }

    fn open(&self, path: &str) -> Result<Box<dyn Read + Send>, StorageError> {
        self.inner.open(path)
    }

    fn create(&self, path: &str) -> Result<Box<dyn StorageWriter>, StorageError> {
        let run = self.tick("create", path)?;
        let file = self.inner.create(path)?;
        self.unsynced().insert(path.to_owned());
        if run {
            Ok(file)
        } else {
            Ok(Box::new(TornWriter(file)))
        }
    }

    fn write_atomic(&self, path: &str, bytes: &[u8]) -> Result<(), StorageError> {
        // Whole or not at all: a crash inside it leaves the old file.
        if self.tick("write", path)? {
            self.inner.write_atomic(path, bytes)
        } else {
            Err(dead("write", path))
        }
    }

    fn create_dir(&self, path: &str) -> Result<(), StorageError> {
        let run = self.tick("create directory", path)?;
        self.inner.create_dir(path)?;
        if run {
            Ok(())
        } else {
            Err(dead("create directory", path))
        }
    }

    fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        let run = self.tick("rename", from)?;
        self.inner.rename(from, to)?;
        let mut unsynced = self.unsynced();
        let moved: Vec<String> = unsynced
            .iter()
            .filter(|p| is_below(p, from))
            .cloned()
            .collect();
        for path in moved {
            unsynced.remove(&path);
            unsynced.insert(format!("{to}{}", &path[from.len()..]));
        }
        drop(unsynced);
        if run {
            Ok(())
        } else {
            Err(dead("rename", from))
        }
    }

    fn remove(&self, path: &str) -> Result<(), StorageError> {
        let run = self.tick("remove", path)?;
        self.inner.remove(path)?;
        self.unsynced().retain(|p| !is_below(p, path));
        if run {
            Ok(())
        } else {
            Err(dead("remove", path))
        }
    }

    fn remove_empty_dir(&self, path: &str) -> Result<bool, StorageError> {
        let run = self.tick("remove directory", path)?;
        let removed = self.inner.remove_empty_dir(path)?;
        if run {
            Ok(removed)
        } else {
            Err(dead("remove directory", path))
        }
    }

    fn sync(&self, paths: &[String]) -> Result<(), StorageError> {
        let first = paths.first().map_or("", String::as_str);
        let run = self.tick("sync", first)?;
        let mut unsynced = self.unsynced();
        for path in paths {
            unsynced.remove(path);
        }
        drop(unsynced);
        if run {
            Ok(())
        } else {
            Err(dead("sync", first))
        }
    }

    fn sync_tree(&self, dir: &str) -> Result<(), StorageError> {
        let run = self.tick("sync", dir)?;
        self.unsynced().retain(|p| !is_below(p, dir));
        if run { Ok(()) } else { Err(dead("sync", dir)) }
    }
}

/// The paths whose presence or bytes differ between two trees (for readable failures).
pub fn differences(a: &Tree, b: &Tree) -> Vec<String> {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| match (a.get(k), b.get(k)) {
            (Some(x), Some(y)) => format!("{k}: {} bytes vs {} bytes", x.len(), y.len()),
            (Some(_), None) => format!("{k}: only in the first"),
            _ => format!("{k}: only in the second"),
        })
        .collect()
}
