use std::collections::BTreeMap;
use std::sync::Mutex;

use ocfl_core::storage::{
    Entry, EntryKind, FileInfo, LocalStorage, Storage, StorageError, StorageWriter, parent,
};
use ocfl_plan::exec::{self, SpooledStage, StepResult};
use ocfl_plan::plan::{Action, Outcome, Plan, PlanOptions, plan};
use ocfl_plan::stage::{Spool, Stage, StageOptions, spooled};

use crate::util::*;

const OBJECT: &str = "root/obj";
const WORK: &str = "root.ocfl-work/run";

/// Local storage that records which paths were looked at (`kind`, which `kind_if_exists`
/// calls), opened for reading and created as directories.
struct Watched {
    inner: LocalStorage,
    looked: Mutex<Vec<String>>,
    opened: Mutex<Vec<String>>,
    made_dirs: Mutex<Vec<String>>,
}

impl Watched {
    fn new(root: &std::path::Path) -> Watched {
        Watched {
            inner: LocalStorage::new(root),
            looked: Mutex::new(Vec::new()),
            opened: Mutex::new(Vec::new()),
            made_dirs: Mutex::new(Vec::new()),
        }
    }

    fn forget(&self) {
        for list in [&self.looked, &self.opened, &self.made_dirs] {
            list.lock().expect("lock").clear();
        }
    }

    fn looked_at(&self, path: &str) -> bool {
        let seen = |list: &Mutex<Vec<String>>| list.lock().expect("lock").iter().any(|p| p == path);
        seen(&self.looked) || seen(&self.opened)
    }

    /// How many times each directory was asked to be created.
    fn dirs_made(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for dir in self.made_dirs.lock().expect("lock").iter() {
            *counts.entry(dir.clone()).or_default() += 1;
        }
        counts
    }
}

impl Storage for Watched {
    fn list(&self, dir: &str) -> Result<Vec<Entry>, StorageError> {
        self.inner.list(dir)
    }
    fn kind(&self, path: &str) -> Result<EntryKind, StorageError> {
        self.looked.lock().expect("lock").push(path.to_owned());
        self.inner.kind(path)
    }
    fn size(&self, path: &str) -> Result<u64, StorageError> {
        self.inner.size(path)
    }
    fn open(&self, path: &str) -> Result<Box<dyn std::io::Read + Send>, StorageError> {
        self.opened.lock().expect("lock").push(path.to_owned());
        self.inner.open(path)
    }
    fn create(&self, path: &str) -> Result<Box<dyn StorageWriter>, StorageError> {
        self.inner.create(path)
    }
    fn write_atomic(&self, path: &str, bytes: &[u8]) -> Result<(), StorageError> {
        self.inner.write_atomic(path, bytes)
    }
    fn create_dir(&self, path: &str) -> Result<(), StorageError> {
        self.made_dirs.lock().expect("lock").push(path.to_owned());
        self.inner.create_dir(path)
    }
    fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        self.inner.rename(from, to)
    }
    fn remove(&self, path: &str) -> Result<(), StorageError> {
        self.inner.remove(path)
    }
    fn sync(&self, paths: &[String]) -> Result<(), StorageError> {
        self.inner.sync(paths)
    }
    fn sync_tree(&self, dir: &str) -> Result<(), StorageError> {
        self.inner.sync_tree(dir)
    }
    fn boot_id(&self) -> Option<String> {
        self.inner.boot_id()
    }
    fn file_info(&self, path: &str) -> Result<FileInfo, StorageError> {
        self.inner.file_info(path)
    }
}

/// Twelve files in three directories of the source.
fn source_tree() -> Tree {
    let mut tree = Tree::new();
    for i in 0..12 {
        tree.insert(
            format!("d{}/f{i}.txt", i % 3),
            format!("content {i}").into_bytes(),
        );
    }
    tree
}

fn new_object_plan(stage: &Stage) -> Plan {
    match plan(
        None,
        stage,
        &PlanOptions::new("urn:example:copies", OBJECT, WORK),
        created(1),
    )
    .expect("plan")
    {
        Outcome::Update(plan) => plan,
        Outcome::NoChange { .. } => panic!("a new object is a change"),
    }
}

/// The final paths of the plan's copies.
fn copy_paths(plan: &Plan) -> Vec<&str> {
    plan.steps
        .iter()
        .filter_map(|step| match &step.action {
            Action::Copy { path, .. } => Some(path.as_str()),
            _ => None,
        })
        .collect()
}

/// Runs every step in one batch, declared a first attempt or not.
fn run_batch(plan: &Plan, fs: &dyn Storage, source: &dyn exec::ContentSource, first: bool) {
    let executor = exec::Executor::new(plan, fs, source).first_attempt(first);
    for step in &plan.steps {
        executor.execute(step).expect("step");
    }
}

#[test]
fn a_first_attempt_makes_each_directory_once_and_looks_at_no_final_path() {
    // A million-file commit paid a failing look at each final path, a look at the object for
    // each copy, and a `mkdir` per file of directories made already.
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("src");
    write_tree(&source, &source_tree());
    let stage = Stage::from_directory(&source, &StageOptions::default()).expect("stage");
    let plan = new_object_plan(&stage);
    let fs = Watched::new(dir.path());
    run_batch(&plan, &fs, &stage, true);
    assert_valid(dir.path(), OBJECT);
    assert_eq!(reconstruct(dir.path(), OBJECT, "v1"), source_tree());
    let made = fs.dirs_made();
    for path in copy_paths(&plan) {
        assert!(!fs.looked_at(path), "{path} was looked at before its copy");
        assert_eq!(made.get(parent(path)), Some(&1), "{made:?}");
    }
    let installed = format!("{OBJECT}/v1");
    let looks = fs
        .looked
        .lock()
        .expect("lock")
        .iter()
        .filter(|p| **p == installed)
        .count();
    assert!(looks < 12, "{installed} looked at {looks} times");
}

#[test]
fn a_batch_that_may_have_run_before_checks_what_is_in_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("src");
    write_tree(&source, &source_tree());
    let stage = Stage::from_directory(&source, &StageOptions::default()).expect("stage");
    let plan = new_object_plan(&stage);
    let fs = Watched::new(dir.path());
    let executor = exec::Executor::new(&plan, &fs, &stage);
    let mut copies = 0;
    for step in &plan.steps {
        if matches!(step.action, Action::Copy { .. }) {
            executor.execute(step).expect("copy");
            copies += 1;
        }
    }
    fs.forget();
    // The copies again, as a redelivered batch: each finds its file whole and keeps it.
    let again = exec::Executor::new(&plan, &fs, &stage);
    for step in &plan.steps {
        if matches!(step.action, Action::Copy { .. }) {
            assert_eq!(
                again.execute(step).expect("copy"),
                StepResult::Skipped(exec::Skip::InPlace)
            );
        }
    }
    assert_eq!(copies, 12);
    for path in copy_paths(&plan) {
        assert!(fs.looked_at(path), "{path} was not checked");
    }
}

#[test]
fn a_first_attempt_replaces_what_a_failed_batch_left_at_a_final_path() {
    // A batch retried after a failure is a first attempt too: a torn file its predecessor
    // left is replaced whole by the rename, unread.
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("src");
    write_tree(&source, &source_tree());
    let stage = Stage::from_directory(&source, &StageOptions::default()).expect("stage");
    let plan = new_object_plan(&stage);
    let fs = LocalStorage::new(dir.path());
    let torn = copy_paths(&plan)[0];
    fs.create_dir(parent(torn)).expect("dir");
    fs.write_atomic(torn, b"cont").expect("a torn copy");
    run_batch(&plan, &fs, &stage, true);
    assert_valid(dir.path(), OBJECT);
    assert_eq!(reconstruct(dir.path(), OBJECT, "v1"), source_tree());
}

#[test]
fn a_spooled_file_is_renamed_into_the_version_without_a_look_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("src");
    write_tree(&source, &source_tree());
    let fs = Watched::new(dir.path());
    let spool = Spool::new(&fs, WORK).expect("a spool on Linux");
    let stage =
        Stage::from_directory_with(&source, &StageOptions::default(), Some(&spool), &|_, _| {})
            .expect("stage");
    let plan = new_object_plan(&stage);
    fs.forget();
    run_batch(&plan, &fs, &SpooledStage::new(&stage, WORK), true);
    assert_valid(dir.path(), OBJECT);
    assert_eq!(reconstruct(dir.path(), OBJECT, "v1"), source_tree());
    for file in stage.files().values() {
        let name = spooled(WORK, &file.digest, &file.source).expect("spooled name");
        assert!(!fs.looked_at(&name), "{name} was looked at");
        assert!(
            !fs.opened
                .lock()
                .expect("lock")
                .iter()
                .any(|p| p.ends_with(".txt")),
            "a source or content file was read"
        );
    }
}
