//! The object-store update protocol (`docs/durability.md`, section 11) run by `ocfl-plan`'s
//! executor on a bucket: new objects and updates, two writers at once, interruptions after
//! every operation, abandoned runs, and paths that would leave the prefix.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

use ocfl_core::inventory::parse_inventory;
use ocfl_core::storage::{
    Entry, EntryKind, FileInfo, Precondition, Storage, StorageError, StorageWriter, Tag,
};
use ocfl_core::validate::{ValidationOptions, validate_object};
use ocfl_core::version_num::VersionNum;
use ocfl_object_store::ObjectStorage;
use ocfl_plan::exec::{self, apply, read_base};
use ocfl_plan::plan::{Outcome, Plan, PlanOptions, Protocol, plan};
use ocfl_plan::stage::{Stage, StageOptions};

use crate::support;

const OBJECT: &str = "ab/obj";
const ID: &str = "urn:example:obj";

type Tree = BTreeMap<String, Vec<u8>>;

fn tree(entries: &[(&str, &str)]) -> Tree {
    entries
        .iter()
        .map(|(path, bytes)| ((*path).to_owned(), bytes.as_bytes().to_vec()))
        .collect()
}

fn write_tree(dir: &Path, tree: &Tree) {
    if dir.exists() {
        std::fs::remove_dir_all(dir).expect("clear source");
    }
    for (path, bytes) in tree {
        let full = dir.join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, bytes).expect("write source");
    }
}

fn created(day: u32) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(&format!("2026-01-{day:02}T10:00:00Z")).expect("timestamp")
}

/// Stages `source` and plans the update of the object as the bucket holds it now, with the
/// protocol the store asks for.
fn plan_for(storage: &dyn Storage, source: &Path, run: &str, day: u32) -> (Plan, Stage) {
    let stage = Stage::from_directory(source, &StageOptions::default()).expect("stage");
    let base = read_base(storage, OBJECT).expect("read base");
    let mut options = PlanOptions::new(ID, OBJECT, format!("work/{run}"));
    options.protocol = Protocol::for_storage(storage);
    match plan(base.as_ref(), &stage, &options, created(day)).expect("plan") {
        Outcome::Update(plan) => (plan, stage),
        Outcome::NoChange { head } => panic!("no change at {head}"),
    }
}

fn assert_valid(storage: &dyn Storage) {
    let report = validate_object(storage, OBJECT, &ValidationOptions::default());
    assert!(report.is_valid(), "invalid object: {:#?}", report.errors);
}

/// The files of `version`, read back through the root inventory.
fn read_version(storage: &dyn Storage, version: &str) -> Tree {
    let bytes = storage
        .read(&format!("{OBJECT}/inventory.json"))
        .expect("root inventory");
    let inventory = parse_inventory(&bytes).inventory.expect("inventory");
    let state = &inventory.versions[&VersionNum::parse(version).expect("version")].state;
    let mut files = Tree::new();
    for (digest, paths) in state {
        let content = storage
            .read(&format!("{OBJECT}/{}", inventory.manifest[digest][0]))
            .expect("content");
        for path in paths {
            files.insert(path.to_string(), content.clone());
        }
    }
    files
}

/// Every content path the root inventory names (if there is one) is a key of the bucket.
fn assert_root_names_only_present_content(storage: &dyn Storage) {
    let Ok(bytes) = storage.read(&format!("{OBJECT}/inventory.json")) else {
        return;
    };
    let inventory = parse_inventory(&bytes).inventory.expect("inventory");
    for paths in inventory.manifest.values() {
        for path in paths {
            let key = format!("{OBJECT}/{path}");
            assert_eq!(
                storage.kind_if_exists(&key).expect("stat"),
                Some(EntryKind::File),
                "the root inventory names {key}, which is missing"
            );
        }
    }
}

fn keys_below(storage: &dyn Storage, dir: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = storage.list(&dir) else {
            continue;
        };
        for entry in entries {
            let path = format!("{dir}/{}", entry.name);
            match entry.kind {
                EntryKind::Directory => dirs.push(path),
                _ => keys.push(path),
            }
        }
    }
    keys.sort();
    keys
}

fn v1() -> Tree {
    tree(&[
        ("a.txt", "alpha"),
        ("dir/b.txt", "bravo"),
        ("dup.txt", "alpha"),
    ])
}

fn v2() -> Tree {
    tree(&[
        ("a.txt", "alpha, edited"),
        ("dir/b.txt", "bravo"),
        ("c.txt", "charlie"),
    ])
}

#[test]
fn commits_a_new_object_and_an_update() {
    let Some(storage) = support::storage("commits_a_new_object_and_an_update", "root") else {
        return;
    };
    let source = tempfile::tempdir().expect("tempdir");
    write_tree(source.path(), &v1());
    let (first, stage) = plan_for(&storage, source.path(), "run-1", 1);
    assert_eq!(first.protocol(), Protocol::ObjectStore);
    apply(&first, &storage, &stage).expect("commit v1");
    assert_valid(&storage);
    assert_eq!(read_version(&storage, "v1"), v1());

    write_tree(source.path(), &v2());
    let (second, stage) = plan_for(&storage, source.path(), "run-2", 2);
    apply(&second, &storage, &stage).expect("commit v2");
    assert_valid(&storage);
    assert_eq!(read_version(&storage, "v1"), v1());
    assert_eq!(read_version(&storage, "v2"), v2());
    // Running the finished plan again changes nothing and says so.
    let again = apply(&second, &storage, &stage).expect("re-run");
    assert!(
        again.iter().all(|r| matches!(
            r,
            exec::StepResult::Skipped(_) | exec::StepResult::Done { bytes: 0 }
        )),
        "{again:?}"
    );
}

/// A batch of uploads run together on its first attempt sends one request per file (and one
/// look at the claim); run again (a redelivery, or after the commit), each upload first asks
/// whether its key is there, and finds it.
#[test]
fn a_first_attempt_uploads_with_one_request_per_file() {
    let Some(storage) = support::storage("a_first_attempt_uploads_with_one_request", "root") else {
        return;
    };
    let files: Tree = (0..20)
        .map(|i| {
            (
                format!("d{}/f{i}.txt", i % 3),
                format!("file {i}").into_bytes(),
            )
        })
        .collect();
    let source = tempfile::tempdir().expect("tempdir");
    write_tree(source.path(), &files);
    let (first, stage) = plan_for(&storage, source.path(), "run-1", 1);
    let is_upload = |step: &&ocfl_plan::plan::Step| {
        matches!(step.action, ocfl_plan::plan::Action::Upload { .. })
    };
    let uploads: Vec<_> = first.steps.iter().filter(is_upload).collect();
    assert_eq!(uploads.len(), files.len());
    let executor = exec::Executor::new(&first, &storage, &stage);
    for step in first.steps.iter().take_while(|s| !is_upload(s)) {
        executor.execute(step).expect("step before the uploads");
    }
    let batch = exec::Executor::new(&first, &storage, &stage).first_attempt(true);
    let before = storage.requests_sent();
    for step in &uploads {
        assert!(matches!(
            batch.execute(step).expect("upload"),
            exec::StepResult::Done { .. }
        ));
    }
    assert_eq!(storage.requests_sent() - before, files.len() as u64 + 1);

    // Again, not as a first attempt: every key is found in place, nothing is written.
    let again = exec::Executor::new(&first, &storage, &stage);
    for step in &uploads {
        assert_eq!(
            again.execute(step).expect("upload again"),
            exec::StepResult::Skipped(exec::Skip::InPlace)
        );
    }
    apply(&first, &storage, &stage).expect("the rest of the run");
    assert_valid(&storage);
    assert_eq!(read_version(&storage, "v1"), files);
}

/// Validating an object opened by its path lists all its keys at once (one page here), not
/// each of its directories (12 here): requests are the keys read plus a few.
#[test]
fn validating_an_object_lists_its_tree_once() {
    let Some(storage) = support::storage("validating_an_object_lists_its_tree_once", "root") else {
        return;
    };
    let files: Tree = (0..24)
        .map(|i| {
            (
                format!("a{}/b{}/c{}/f{i}.txt", i % 2, i % 3, i % 4),
                format!("file {i}").into_bytes(),
            )
        })
        .collect();
    let source = tempfile::tempdir().expect("tempdir");
    write_tree(source.path(), &files);
    let (first, stage) = plan_for(&storage, source.path(), "run-1", 1);
    apply(&first, &storage, &stage).expect("commit");
    let keys = keys_below(&storage, OBJECT).len() as u64;
    let before = storage.requests_sent();
    assert_valid(&storage);
    let requests = storage.requests_sent() - before;
    // Every key read (content for its digests, the rest for their bytes), one listing, and
    // the root inventory's digest checked against its sidecar by a second read.
    assert!(
        requests <= keys + 3,
        "{requests} requests to validate an object of {keys} keys"
    );
}

/// rocfl writes the root sidecar as `sha512sum` does (two spaces): an update must recognise
/// the base's digest in it and replace it, not refuse it after the commit point.
#[test]
fn updates_an_object_whose_sidecar_has_another_tools_spacing() {
    let Some(storage) = support::storage(
        "updates_an_object_whose_sidecar_has_another_tools_spacing",
        "root",
    ) else {
        return;
    };
    let source = tempfile::tempdir().expect("tempdir");
    write_tree(source.path(), &v1());
    let (first, stage) = plan_for(&storage, source.path(), "run-1", 1);
    apply(&first, &storage, &stage).expect("commit v1");
    let sidecar = format!("{OBJECT}/inventory.json.sha512");
    let ours = String::from_utf8(storage.read(&sidecar).expect("sidecar")).expect("utf-8");
    let (digest, name) = ours.trim_end().split_once(' ').expect("digest and name");
    storage
        .write_atomic(&sidecar, format!("{digest}  {name}\n").as_bytes())
        .expect("rewrite the sidecar");
    assert_valid(&storage);

    write_tree(source.path(), &v2());
    let (second, stage) = plan_for(&storage, source.path(), "run-2", 2);
    apply(&second, &storage, &stage).expect("commit v2");
    assert_valid(&storage);
    assert_eq!(read_version(&storage, "v2"), v2());
}

/// Two runs planned from the same state, with their own engine stores (so nothing but the
/// bucket coordinates them), commit at once: one version is installed, the other run is
/// refused naming the object, and the object is valid with the winner's content.
fn race(storage: &ObjectStorage, base: Option<&Tree>, day: u32) {
    let dir = tempfile::tempdir().expect("tempdir");
    if let Some(base) = base {
        write_tree(&dir.path().join("base"), base);
        let (plan, stage) = plan_for(storage, &dir.path().join("base"), "base", day);
        apply(&plan, storage, &stage).expect("base version");
    }
    let mut runs = Vec::new();
    for (name, contents) in [("left", "from the left"), ("right", "from the right")] {
        let source = dir.path().join(name);
        write_tree(&source, &tree(&[("a.txt", contents), ("same.txt", "same")]));
        runs.push((name, plan_for(storage, &source, name, day + 1)));
    }
    let barrier = Arc::new(Barrier::new(2));
    let results: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = runs
            .iter()
            .map(|(name, (plan, stage))| {
                let barrier = Arc::clone(&barrier);
                let storage = storage.clone();
                scope.spawn(move || {
                    barrier.wait();
                    (*name, apply(plan, &storage, stage))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let winners: Vec<_> = results.iter().filter(|(_, r)| r.is_ok()).collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    let (loser, refusal) = results
        .iter()
        .find_map(|(name, r)| r.as_ref().err().map(|e| (*name, e.to_string())))
        .expect("a loser");
    assert!(
        refusal.contains(ID) || refusal.contains(OBJECT),
        "the refusal of {loser} names the object: {refusal}"
    );
    assert_valid(storage);
    let head = if base.is_some() { "v2" } else { "v1" };
    let winner = winners[0].0;
    assert_eq!(
        read_version(storage, head)["a.txt"],
        format!("from the {winner}").into_bytes()
    );
}

#[test]
fn two_writers_of_a_new_object_install_one_version() {
    let Some(storage) = support::storage("two_writers_of_a_new_object", "root") else {
        return;
    };
    race(&storage, None, 1);
}

#[test]
fn two_writers_of_an_update_install_one_version() {
    let Some(storage) = support::storage("two_writers_of_an_update", "root") else {
        return;
    };
    race(&storage, Some(&v1()), 1);
}

#[test]
fn a_run_claimed_by_another_update_is_refused_before_writing() {
    let Some(storage) = support::storage("a_claimed_version_is_refused", "root") else {
        return;
    };
    let source = tempfile::tempdir().expect("tempdir");
    write_tree(source.path(), &v1());
    let (first, stage) = plan_for(&storage, source.path(), "first", 1);
    let (second, _) = plan_for(&storage, source.path(), "second", 1);
    // The first run claims v1 and stops.
    for step in &first.steps[..2] {
        exec::execute(&first, step, &storage, &stage).expect("step");
    }
    let error = apply(&second, &storage, &stage).expect_err("refused");
    assert_eq!(error.step, "claim");
    assert!(
        matches!(error.error, exec::Error::Claimed { .. }),
        "{error}"
    );
    assert!(error.to_string().contains(ID), "{error}");
    assert!(error.to_string().contains("work/first"), "{error}");
    assert_eq!(
        keys_below(&storage, OBJECT),
        vec![format!("{OBJECT}/v1/inventory.json")]
    );
    // The first run goes on undisturbed.
    apply(&first, &storage, &stage).expect("first run completes");
    assert_valid(&storage);
}

/// A store that dies at its `limit`-th write or delete: that one and every later one fail,
/// like a killed process.
struct Dying {
    inner: ObjectStorage,
    limit: usize,
    ops: AtomicUsize,
}

impl Dying {
    fn tick(&self, path: &str) -> Result<(), StorageError> {
        if self.ops.fetch_add(1, Ordering::SeqCst) >= self.limit {
            Err(StorageError::io(
                "write",
                path,
                std::io::Error::other("the process was killed"),
            ))
        } else {
            Ok(())
        }
    }
}

impl Storage for Dying {
    fn list(&self, dir: &str) -> Result<Vec<Entry>, StorageError> {
        Storage::list(&self.inner, dir)
    }
    fn kind(&self, path: &str) -> Result<EntryKind, StorageError> {
        Storage::kind(&self.inner, path)
    }
    fn open(&self, path: &str) -> Result<Box<dyn Read + Send>, StorageError> {
        Storage::open(&self.inner, path)
    }
    fn read(&self, path: &str) -> Result<Vec<u8>, StorageError> {
        Storage::read(&self.inner, path)
    }
    fn create(&self, path: &str) -> Result<Box<dyn StorageWriter>, StorageError> {
        self.tick(path)?;
        Storage::create(&self.inner, path)
    }
    fn write_atomic(&self, path: &str, bytes: &[u8]) -> Result<(), StorageError> {
        self.tick(path)?;
        self.inner.write_atomic(path, bytes)
    }
    fn create_dir(&self, path: &str) -> Result<(), StorageError> {
        self.inner.create_dir(path)
    }
    fn rename(&self, from: &str, to: &str) -> Result<(), StorageError> {
        self.tick(from)?;
        Storage::rename(&self.inner, from, to)
    }
    fn remove(&self, path: &str) -> Result<(), StorageError> {
        self.tick(path)?;
        Storage::remove(&self.inner, path)
    }
    fn sync(&self, paths: &[String]) -> Result<(), StorageError> {
        self.inner.sync(paths)
    }
    fn sync_tree(&self, dir: &str) -> Result<(), StorageError> {
        self.inner.sync_tree(dir)
    }
    fn display_path(&self, path: &str) -> String {
        self.inner.display_path(path)
    }
    fn renames_atomically(&self) -> bool {
        false
    }
    fn read_tagged(&self, path: &str) -> Result<(Vec<u8>, Option<Tag>), StorageError> {
        self.inner.read_tagged(path)
    }
    fn write_if(
        &self,
        path: &str,
        bytes: &[u8],
        precondition: &Precondition,
        metadata: &[(&str, &str)],
    ) -> Result<(), StorageError> {
        self.tick(path)?;
        self.inner.write_if(path, bytes, precondition, metadata)
    }
    fn file_info(&self, path: &str) -> Result<FileInfo, StorageError> {
        self.inner.file_info(path)
    }
}

/// Interrupted after each of its writes in turn, a new object's commit and an update's,
/// resumed by running the plan again: the object is valid and byte-exact, and no root
/// inventory seen after any interruption names missing content.
#[test]
fn resumes_after_an_interruption_at_every_write() {
    let Some(storage) = support::storage("resumes_after_every_write", "root") else {
        return;
    };
    let source = tempfile::tempdir().expect("tempdir");
    for (version, files, day) in [("v1", v1(), 1), ("v2", v2(), 2)] {
        write_tree(source.path(), &files);
        let mut limit = 0;
        loop {
            // Each round restarts from the version before: a fresh object prefix per round
            // would need a fresh plan, so the interrupted run is abandoned instead.
            let (plan, stage) =
                plan_for(&storage, source.path(), &format!("{version}-{limit}"), day);
            let dying = Dying {
                inner: storage.clone(),
                limit,
                ops: AtomicUsize::new(0),
            };
            let interrupted = apply(&plan, &dying, &stage);
            assert_root_names_only_present_content(&storage);
            if interrupted.is_ok() {
                assert_valid(&storage);
                assert_eq!(read_version(&storage, version), files);
                break;
            }
            apply(&plan, &storage, &stage).expect("resumed run completes");
            assert_valid(&storage);
            assert_eq!(read_version(&storage, version), files);
            // Undo the version to interrupt the next write of the same commit.
            exec::abandon(&plan, &storage).expect("abandon is a no-op once committed");
            roll_back(&storage, version);
            limit += 1;
        }
        assert!(limit > 4, "{version}: interrupted at only {limit} writes");
    }
}

/// Puts the object back as it was before `version` (test-only surgery on the bucket).
fn roll_back(storage: &ObjectStorage, version: &str) {
    if version == "v1" {
        storage.remove(OBJECT).expect("remove the object");
        return;
    }
    storage
        .remove(&format!("{OBJECT}/{version}"))
        .expect("remove the version");
    for name in ["inventory.json", "inventory.json.sha512"] {
        let bytes = storage
            .read(&format!("{OBJECT}/v1/{name}"))
            .expect("v1 file");
        storage
            .put(&format!("{OBJECT}/{name}"), bytes)
            .expect("restore root file");
    }
}

/// An abandoned run that had claimed the version and written some content leaves no key of
/// it behind; the object is as before.
#[test]
fn abandoning_removes_the_runs_keys() {
    let Some(storage) = support::storage("abandoning_removes_keys", "root") else {
        return;
    };
    let source = tempfile::tempdir().expect("tempdir");
    write_tree(source.path(), &v1());
    let (first, stage) = plan_for(&storage, source.path(), "new", 1);
    let commit = first
        .steps
        .iter()
        .position(|s| s.id == "commit")
        .expect("commit step");
    for step in &first.steps[..commit] {
        exec::execute(&first, step, &storage, &stage).expect("step");
    }
    assert!(keys_below(&storage, OBJECT).len() > 3);
    exec::abandon(&first, &storage).expect("abandon");
    assert_eq!(keys_below(&storage, OBJECT), Vec::<String>::new());

    apply(&first, &storage, &stage).expect("v1");
    let before = keys_below(&storage, OBJECT);
    write_tree(source.path(), &v2());
    let (second, stage) = plan_for(&storage, source.path(), "update", 2);
    let commit = second
        .steps
        .iter()
        .position(|s| s.id == "commit")
        .expect("commit step");
    for step in &second.steps[..commit] {
        exec::execute(&second, step, &storage, &stage).expect("step");
    }
    exec::abandon(&second, &storage).expect("abandon");
    assert_eq!(keys_below(&storage, OBJECT), before);
    assert_valid(&storage);
}

/// Object paths and logical paths that would map outside the prefix are refused before
/// anything is written.
#[test]
fn paths_outside_the_prefix_are_refused() {
    let Some(storage) = support::storage("paths_outside_the_prefix", "root") else {
        return;
    };
    let source = tempfile::tempdir().expect("tempdir");
    write_tree(source.path(), &v1());
    let stage = Stage::from_directory(source.path(), &StageOptions::default()).expect("stage");
    for object in ["../escape", "a/../../escape", "/etc"] {
        let mut options = PlanOptions::new(ID, object, "work/run");
        options.protocol = Protocol::ObjectStore;
        assert!(
            plan(None, &stage, &options, created(1)).is_err(),
            "{object} was planned"
        );
    }
    assert!(read_base(&storage, "../escape").is_err());
    assert_eq!(keys_below(&storage, ""), Vec::<String>::new());
}

/// A run that installed its version and was interrupted before it recorded that (say after
/// the root sidecar), while another writer installed a later version: run again, it sees its
/// own version installed (its claim, its inventory) and finishes without writing, instead
/// of failing because the object changed; the later version is left as it is.
#[test]
fn a_run_superseded_after_it_committed_finishes_as_done() {
    let Some(storage) = support::storage("a_superseded_run_finishes", "root") else {
        return;
    };
    let source = tempfile::tempdir().expect("tempdir");
    write_tree(source.path(), &v1());
    let (first, stage) = plan_for(&storage, source.path(), "v1", 1);
    apply(&first, &storage, &stage).expect("v1");
    write_tree(source.path(), &v2());
    let (second, second_stage) = plan_for(&storage, source.path(), "v2", 2);
    apply(&second, &storage, &second_stage).expect("v2");
    let v3 = tree(&[("a.txt", "alpha, third"), ("d.txt", "delta")]);
    write_tree(source.path(), &v3);
    let (third, stage) = plan_for(&storage, source.path(), "v3", 3);
    apply(&third, &storage, &stage).expect("v3");
    let before: Vec<(String, Vec<u8>)> = keys_below(&storage, OBJECT)
        .into_iter()
        .map(|key| {
            let bytes = storage.read(&key).expect("read");
            (key, bytes)
        })
        .collect();

    let again = apply(&second, &storage, &second_stage).expect("the superseded run finishes");
    assert!(
        again
            .iter()
            .all(|r| matches!(r, exec::StepResult::Skipped(_))),
        "{again:?}"
    );
    assert!(exec::superseded(&second, &storage).expect("superseded"));
    assert!(!exec::superseded(&third, &storage).expect("the head is not superseded"));
    exec::abandon(&second, &storage).expect("abandoning it changes nothing either");
    let after: Vec<(String, Vec<u8>)> = keys_below(&storage, OBJECT)
        .into_iter()
        .map(|key| {
            let bytes = storage.read(&key).expect("read");
            (key, bytes)
        })
        .collect();
    assert!(before == after, "the superseded run wrote to the object");
    assert_valid(&storage);
    assert_eq!(read_version(&storage, "v2"), v2());
    assert_eq!(read_version(&storage, "v3"), v3);

    // The same plan under another run's name holds no claim of v2: the object changed
    // under it, and it is refused.
    let mut stranger = second.clone();
    stranger.work_path = "work/stranger".into();
    assert!(!exec::superseded(&stranger, &storage).expect("not superseded"));
    let refused = apply(&stranger, &storage, &second_stage).expect_err("refused");
    assert!(
        matches!(refused.error, exec::Error::BaseChanged { .. }),
        "{refused}"
    );
}
